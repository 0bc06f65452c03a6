"""SQL for registered models, their tags and aliases, and the alias history.

Models come back in MLflow's wire shape with ``latest_versions`` (the highest version per
stage), ``tags`` and ``aliases``; a page of models is rendered in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store import registry_versions as versions
from ledgerflow.store.schema import (
    model_version_tags,
    model_versions,
    registered_model_alias_history,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

_CHUNK = 500


def to_wire(
    row: Any,
    tags: Sequence[dict[str, str]],
    aliases: Sequence[dict[str, str]],
    latest: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """A model row with its tags (``{key, value}``), aliases (``{alias, version}``) and
    latest versions, all in wire shape."""
    model: dict[str, Any] = {
        "name": row.name,
        "creation_timestamp": row.creation_time,
        "last_updated_timestamp": row.last_updated_time,
    }
    if row.user_id is not None:
        model["user_id"] = row.user_id
    if row.description is not None:
        model["description"] = row.description
    if latest:
        model["latest_versions"] = list(latest)
    if tags:
        model["tags"] = list(tags)
    if aliases:
        model["aliases"] = list(aliases)
    if row.deployment_job_id is not None:
        model["deployment_job_id"] = row.deployment_job_id
    return model


_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
_TAG, _ALIAS = 0, 1
_tag, _alias = registered_model_tags.c, registered_model_aliases.c
# Built once with a bound id list (building the statements per page cost more than running
# them); tags and aliases come back in one round trip, each kind in its own order.
_MODELS_BY_ID = sa.select(registered_models).where(registered_models.c.registered_model_id.in_(_IDS))
_EXTRAS_BY_ID = sa.union_all(
    sa.select(
        _tag.registered_model_id,
        sa.literal_column(str(_TAG)).label("kind"),
        _tag.key.label("entry"),
        _tag.value.label("value"),
    ).where(_tag.registered_model_id.in_(_IDS)),
    sa.select(
        _alias.registered_model_id,
        sa.literal_column(str(_ALIAS)),
        _alias.alias,
        sa.cast(_alias.version, sa.String(20)),
    ).where(_alias.registered_model_id.in_(_IDS)),
).order_by(sa.literal_column("kind"), sa.literal_column("entry"))


def load(conn: Connection, model_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Registered models in the order of ``model_ids``; unknown ids are skipped."""
    wanted = list(dict.fromkeys(model_ids))
    rows: dict[int, Any] = {}
    tags: dict[int, list[dict[str, str]]] = {}
    aliases: dict[int, list[dict[str, str]]] = {}
    latest: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = {"ids": wanted[start : start + _CHUNK]}
        for row in conn.execute(_MODELS_BY_ID, chunk):
            rows[row.registered_model_id] = row
        for model_id, kind, entry, value in conn.execute(_EXTRAS_BY_ID, chunk):
            if kind == _TAG:
                tags.setdefault(model_id, []).append({"key": entry, "value": value})
            else:
                aliases.setdefault(model_id, []).append({"alias": entry, "version": value})
        # MLflow leaves aliases out of latest_versions (BC-35); GetModelVersion has them.
        latest.update(versions.latest_versions(conn, chunk["ids"]))
    return [
        to_wire(rows[i], tags.get(i, []), aliases.get(i, []), latest.get(i, [])) for i in wanted if i in rows
    ]


def find_row(conn: Connection, name: str) -> Any:
    return conn.execute(sa.select(registered_models).where(registered_models.c.name == name)).first()


def insert(
    conn: Connection,
    *,
    name: str,
    now: int,
    description: str | None,
    deployment_job_id: str | None,
) -> int:
    result = conn.execute(
        sa.insert(registered_models).values(
            name=name,
            creation_time=now,
            last_updated_time=now,
            description=description,
            deployment_job_id=deployment_job_id,
            max_version=0,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def update(conn: Connection, model_id: int, **values: Any) -> None:
    conn.execute(
        sa.update(registered_models)
        .where(registered_models.c.registered_model_id == model_id)
        .values(**values)
    )


def touch_versions(conn: Connection, model_id: int, now: int) -> None:
    conn.execute(
        sa.update(model_versions)
        .where(model_versions.c.registered_model_id == model_id)
        .values(last_updated_time=now)
    )


def delete(conn: Connection, model_id: int) -> None:
    """Delete a model with every version, tag and alias (children first: no reliance on
    each backend's cascade support)."""
    for table in (
        registered_model_aliases,
        model_version_tags,
        model_versions,
        registered_model_tags,
        registered_models,
    ):
        conn.execute(sa.delete(table).where(table.c.registered_model_id == model_id))


def set_tag(conn: Connection, model_id: int, key: str, value: str) -> None:
    where = (registered_model_tags.c.registered_model_id == model_id, registered_model_tags.c.key == key)
    if conn.execute(sa.update(registered_model_tags).where(*where).values(value=value)).rowcount:
        return
    conn.execute(sa.insert(registered_model_tags).values(registered_model_id=model_id, key=key, value=value))


def delete_tag(conn: Connection, model_id: int, key: str) -> None:
    conn.execute(
        sa.delete(registered_model_tags).where(
            registered_model_tags.c.registered_model_id == model_id, registered_model_tags.c.key == key
        )
    )


# -- aliases -------------------------------------------------------------------------------


def alias_version(conn: Connection, model_id: int, alias: str) -> int | None:
    value = conn.execute(
        sa.select(registered_model_aliases.c.version).where(
            registered_model_aliases.c.registered_model_id == model_id,
            registered_model_aliases.c.alias == alias,
        )
    ).scalar()
    return None if value is None else int(value)


def aliases_of_version(conn: Connection, model_id: int, version: int) -> list[str]:
    query = sa.select(registered_model_aliases.c.alias).where(
        registered_model_aliases.c.registered_model_id == model_id,
        registered_model_aliases.c.version == version,
    )
    return [str(a) for a in conn.execute(query).scalars()]


def put_alias(conn: Connection, model_id: int, alias: str, version: int) -> None:
    where = (
        registered_model_aliases.c.registered_model_id == model_id,
        registered_model_aliases.c.alias == alias,
    )
    if conn.execute(sa.update(registered_model_aliases).where(*where).values(version=version)).rowcount:
        return
    conn.execute(
        sa.insert(registered_model_aliases).values(registered_model_id=model_id, alias=alias, version=version)
    )


def remove_alias(conn: Connection, model_id: int, alias: str) -> None:
    conn.execute(
        sa.delete(registered_model_aliases).where(
            registered_model_aliases.c.registered_model_id == model_id,
            registered_model_aliases.c.alias == alias,
        )
    )


def open_history(conn: Connection, model_id: int, name: str, alias: str, version: int, now: int) -> None:
    conn.execute(
        sa.insert(registered_model_alias_history).values(
            registered_model_id=model_id, name=name, alias=alias, version=version, set_at=now, unset_at=None
        )
    )


def close_history(conn: Connection, model_id: int, now: int, aliases: Sequence[str] | None = None) -> None:
    """End the open history rows of a model (all of them, or those of ``aliases``)."""
    history = registered_model_alias_history
    query = sa.update(history).where(history.c.registered_model_id == model_id, history.c.unset_at.is_(None))
    if aliases is not None:
        if not aliases:
            return
        query = query.where(history.c.alias.in_(list(aliases)))
    conn.execute(query.values(unset_at=now))


def open_history_rows(conn: Connection, model_id: int) -> list[Any]:
    history = registered_model_alias_history
    query = sa.select(history).where(history.c.registered_model_id == model_id, history.c.unset_at.is_(None))
    return list(conn.execute(query))


def history_at(conn: Connection, name: str, alias: str, at: int) -> int | None:
    """The version alias ``alias`` of the model then named ``name`` pointed at, at time ``at``."""
    history = registered_model_alias_history
    query = (
        sa.select(history.c.version)
        .where(
            history.c.name == name,
            history.c.alias == alias,
            history.c.set_at <= at,
            sa.or_(history.c.unset_at.is_(None), history.c.unset_at > at),
        )
        .order_by(history.c.set_at.desc(), history.c.id.desc())
        .limit(1)
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)
