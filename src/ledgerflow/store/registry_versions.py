"""SQL for model versions and their tags. Versions come back in MLflow's wire shape.

Rendering a page never runs a query per version: rows come with their model's name from one
join, then tags and aliases are loaded for the whole page in chunks of keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_models,
)

# (registered_model_id, version) pairs per IN list: 2 bound parameters each, far below
# SQLite's limit however large the page.
_CHUNK = 1000
VersionKey = tuple[int, int]

_mv = model_versions.c
# Rendered by position (to_wire unpacks them in this order): a page holds up to 200,000 rows.
VERSION_COLUMNS = (
    _mv.registered_model_id,
    _mv.version,
    registered_models.c.name,
    _mv.creation_time,
    _mv.last_updated_time,
    _mv.user_id,
    _mv.current_stage,
    _mv.description,
    _mv.source,
    _mv.run_id,
    _mv.status,
    _mv.status_message,
    _mv.run_link,
)


# Built once: constructing the 13-column join took a third of a small search's time.
# SQLAlchemy statements are immutable (``where`` returns a new one), so sharing it is safe.
_SELECT_VERSIONS: sa.Select[Any] = sa.select(*VERSION_COLUMNS).join_from(
    model_versions,
    registered_models,
    model_versions.c.registered_model_id == registered_models.c.registered_model_id,
)


def select_versions() -> sa.Select[Any]:
    """Version rows with their model's name: the base of every version read."""
    return _SELECT_VERSIONS


def to_wire(row: Any, tags: Sequence[tuple[str, str]], aliases: Sequence[str] | None) -> dict[str, Any]:
    """A version row (of :data:`VERSION_COLUMNS`) with its (key, value) tags and aliases."""
    (
        _id,
        number,
        name,
        created,
        updated,
        user_id,
        stage,
        description,
        source,
        run_id,
        status,
        message,
        link,
    ) = row
    version: dict[str, Any] = {
        "name": name,
        "version": str(number),
        "creation_timestamp": created,
        "last_updated_timestamp": updated,
    }
    if user_id is not None:
        version["user_id"] = user_id
    version["current_stage"] = stage
    version["description"] = description if description is not None else ""
    version["source"] = source
    if run_id is not None:
        version["run_id"] = run_id
    version["status"] = status
    if message is not None:
        version["status_message"] = message
    if tags:
        version["tags"] = [{"key": key, "value": value} for key, value in tags]
    version["run_link"] = link if link is not None else ""
    if aliases:
        version["aliases"] = list(aliases)
    return version


def _chunks(keys: Sequence[VersionKey]) -> Iterable[list[VersionKey]]:
    for start in range(0, len(keys), _CHUNK):
        yield list(keys[start : start + _CHUNK])


def _by_key(statement: sa.Select[Any], table: sa.Table) -> sa.Select[Any]:
    """``statement`` restricted to the version keys bound as ``keys`` (with their model ids
    as ``ids``). SQLite plans a row-value IN list alone as a full table scan; the plain IN on
    the key's first column lets every backend walk the primary key instead (10k versions:
    5.4 ms -> 0.3 ms)."""
    return statement.where(
        table.c.registered_model_id.in_(sa.bindparam("ids", expanding=True)),
        sa.tuple_(table.c.registered_model_id, table.c.version).in_(sa.bindparam("keys", expanding=True)),
    )


# Built once with bound key lists: building the IN lists per call took about two thirds of a
# small search page's time (SQLAlchemy's expression construction, not the query).
_TAGS_BY_KEY = _by_key(sa.select(model_version_tags), model_version_tags).order_by(model_version_tags.c.key)
_ALIASES_BY_KEY = _by_key(sa.select(registered_model_aliases), registered_model_aliases).order_by(
    registered_model_aliases.c.alias
)
_VERSIONS_BY_KEY = _by_key(_SELECT_VERSIONS, model_versions)
_TAG, _ALIAS = 0, 1
_tag, _alias = model_version_tags.c, registered_model_aliases.c
# Tags and aliases of the keyed versions in one round trip: (model id, version, kind, key or
# alias, value), each kind in its own order.
_EXTRAS_BY_KEY = sa.union_all(
    _by_key(
        sa.select(
            _tag.registered_model_id,
            _tag.version,
            sa.literal_column(str(_TAG)).label("kind"),
            _tag.key.label("entry"),
            _tag.value.label("value"),
        ),
        model_version_tags,
    ),
    _by_key(
        sa.select(
            _alias.registered_model_id,
            _alias.version,
            sa.literal_column(str(_ALIAS)),
            _alias.alias,
            _alias.alias,
        ),
        registered_model_aliases,
    ),
).order_by(sa.literal_column("kind"), sa.literal_column("entry"))


def _key_params(keys: list[VersionKey]) -> dict[str, Any]:
    return {"ids": sorted({model_id for model_id, _version in keys}), "keys": keys}


def _owned_by(table: sa.Table, page: sa.Subquery) -> Any:
    """Rows of ``table`` for the versions of a search page, joined to the page's own key
    query (an IN list of thousands of pairs costs more to compile than the query takes)."""
    return sa.select(table).join(
        page,
        sa.and_(table.c.registered_model_id == page.c.registered_model_id, table.c.version == page.c.version),
    )


def _rows(
    conn: Connection,
    keyed: sa.Select[Any],
    table: sa.Table,
    order: Any,
    keys: Sequence[VersionKey],
    page: sa.Subquery | None,
) -> Iterable[Any]:
    if page is not None:
        yield from conn.execute(_owned_by(table, page).order_by(order))
        return
    for chunk in _chunks(keys):
        yield from conn.execute(keyed, _key_params(chunk))


def tags_for(
    conn: Connection, keys: Sequence[VersionKey], page: sa.Subquery | None = None
) -> dict[VersionKey, list[tuple[str, str]]]:
    found: dict[VersionKey, list[tuple[str, str]]] = {}
    rows = _rows(conn, _TAGS_BY_KEY, model_version_tags, model_version_tags.c.key, keys, page)
    for model_id, number, key, value in rows:
        found.setdefault((model_id, number), []).append((key, value))
    return found


def aliases_for(
    conn: Connection, keys: Sequence[VersionKey], page: sa.Subquery | None = None
) -> dict[VersionKey, list[str]]:
    found: dict[VersionKey, list[str]] = {}
    rows = _rows(
        conn, _ALIASES_BY_KEY, registered_model_aliases, registered_model_aliases.c.alias, keys, page
    )
    for model_id, alias, number in rows:
        found.setdefault((model_id, number), []).append(alias)
    return found


def _extras_for(
    conn: Connection, keys: Sequence[VersionKey]
) -> tuple[dict[VersionKey, list[tuple[str, str]]], dict[VersionKey, list[str]]]:
    tags: dict[VersionKey, list[tuple[str, str]]] = {}
    aliases: dict[VersionKey, list[str]] = {}
    for chunk in _chunks(keys):
        for model_id, number, kind, entry, value in conn.execute(_EXTRAS_BY_KEY, _key_params(chunk)):
            if kind == _TAG:
                tags.setdefault((model_id, number), []).append((entry, value))
            else:
                aliases.setdefault((model_id, number), []).append(entry)
    return tags, aliases


def render(
    conn: Connection, rows: Sequence[Any], *, with_aliases: bool = True, page: sa.Subquery | None = None
) -> list[dict[str, Any]]:
    """Wire dicts for version rows (from :func:`select_versions`), in their order.

    ``page`` is the query that selected ``rows`` (as a subquery of their keys), so a search
    page loads its tags and aliases in one query each.
    """
    keys = list(dict.fromkeys((row[0], row[1]) for row in rows))
    if not keys:
        return []
    if page is None and with_aliases:
        tags, aliases = _extras_for(conn, keys)
    else:
        tags = tags_for(conn, keys, page)
        aliases = aliases_for(conn, keys, page) if with_aliases else {}
    empty: list[Any] = []
    return [
        to_wire(row, tags.get((row[0], row[1]), empty), aliases.get((row[0], row[1]), empty)) for row in rows
    ]


def load_by_key(
    conn: Connection, keys: Sequence[VersionKey], *, with_aliases: bool = True
) -> dict[VersionKey, dict[str, Any]]:
    """Wire dicts of the versions named by ``keys`` (unknown keys are left out)."""
    rows: list[Any] = []
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows.extend(conn.execute(_VERSIONS_BY_KEY, _key_params(chunk)))
    rendered = render(conn, rows, with_aliases=with_aliases)
    return {(row[0], row[1]): item for row, item in zip(rows, rendered, strict=True)}


def load(conn: Connection, keys: Sequence[VersionKey], *, with_aliases: bool = True) -> list[dict[str, Any]]:
    """Versions in the order of ``keys``; unknown keys are skipped."""
    found = load_by_key(conn, keys, with_aliases=with_aliases)
    return [found[key] for key in keys if key in found]


def find_row(conn: Connection, model_id: int, version: int) -> Any:
    return conn.execute(
        sa.select(model_versions).where(
            model_versions.c.registered_model_id == model_id, model_versions.c.version == version
        )
    ).first()


def next_version(conn: Connection, model_id: int, now: int) -> int:
    """Take the model's next version number; the UPDATE also locks the model row, so
    concurrent creates on one model get distinct numbers."""
    conn.execute(
        sa.update(registered_models)
        .where(registered_models.c.registered_model_id == model_id)
        .values(max_version=registered_models.c.max_version + 1, last_updated_time=now)
    )
    number = conn.execute(
        sa.select(registered_models.c.max_version).where(registered_models.c.registered_model_id == model_id)
    ).scalar_one()
    return int(number)


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(model_versions).values(**values))


def update(conn: Connection, model_id: int, version: int, **values: Any) -> None:
    conn.execute(
        sa.update(model_versions)
        .where(model_versions.c.registered_model_id == model_id, model_versions.c.version == version)
        .values(**values)
    )


def delete(conn: Connection, model_id: int, version: int) -> None:
    """Delete a version with its tags and aliases (the caller records alias history first)."""
    for table in (model_version_tags, registered_model_aliases, model_versions):
        conn.execute(
            sa.delete(table).where(table.c.registered_model_id == model_id, table.c.version == version)
        )


def versions_in_stage(conn: Connection, model_id: int, stage: str) -> list[int]:
    query = sa.select(model_versions.c.version).where(
        model_versions.c.registered_model_id == model_id, model_versions.c.current_stage == stage
    )
    return [int(v) for v in conn.execute(query).scalars()]


def set_tag(conn: Connection, model_id: int, version: int, key: str, value: str) -> None:
    where = (
        model_version_tags.c.registered_model_id == model_id,
        model_version_tags.c.version == version,
        model_version_tags.c.key == key,
    )
    if conn.execute(sa.update(model_version_tags).where(*where).values(value=value)).rowcount:
        return
    conn.execute(
        sa.insert(model_version_tags).values(
            registered_model_id=model_id, version=version, key=key, value=value
        )
    )


def delete_tag(conn: Connection, model_id: int, version: int, key: str) -> None:
    conn.execute(
        sa.delete(model_version_tags).where(
            model_version_tags.c.registered_model_id == model_id,
            model_version_tags.c.version == version,
            model_version_tags.c.key == key,
        )
    )


# (registered_model_id, version, first) of the highest version per stage of each model bound
# as ``ids``; ``first`` (the stage's lowest version) orders the stages.
_LATEST = (
    sa.select(
        _mv.registered_model_id,
        sa.func.max(_mv.version).label("version"),
        sa.func.min(_mv.version).label("first"),
    )
    .where(_mv.registered_model_id.in_(sa.bindparam("ids", expanding=True)))
    .group_by(_mv.registered_model_id, _mv.current_stage)
    .subquery("latest")
)
# The latest version rows with their tags (one row per tag, a tag-less version once), so a
# page of models needs one query for them, with no list of version keys to bind.
_LATEST_WITH_TAGS = (
    _SELECT_VERSIONS.add_columns(_LATEST.c.first, _tag.key, _tag.value)
    .join(
        _LATEST,
        sa.and_(_mv.registered_model_id == _LATEST.c.registered_model_id, _mv.version == _LATEST.c.version),
    )
    .outerjoin(
        model_version_tags,
        sa.and_(_tag.registered_model_id == _mv.registered_model_id, _tag.version == _mv.version),
    )
    .order_by(_tag.key)
)
_WIDTH = len(VERSION_COLUMNS)


def latest_versions(conn: Connection, model_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Each model's ``latest_versions`` in wire shape (without aliases, as MLflow has them),
    stages in the order of :func:`latest_per_stage`; one query per 500 models."""
    found: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    ids = list(dict.fromkeys(model_ids))
    for start in range(0, len(ids), 500):
        rows: dict[VersionKey, Any] = {}
        tags: dict[VersionKey, list[tuple[str, str]]] = {}
        for row in conn.execute(_LATEST_WITH_TAGS, {"ids": ids[start : start + 500]}):
            key = (row[0], row[1])
            rows.setdefault(key, row)
            if row[_WIDTH + 1] is not None:
                tags.setdefault(key, []).append((row[_WIDTH + 1], row[_WIDTH + 2]))
        empty: list[tuple[str, str]] = []
        for key, row in rows.items():
            version = to_wire(row[:_WIDTH], tags.get(key, empty), None)
            found.setdefault(key[0], []).append((int(row[_WIDTH]), version))
    return {
        model_id: [v for _first, v in sorted(pairs, key=lambda p: p[0])] for model_id, pairs in found.items()
    }


def latest_per_stage(conn: Connection, model_ids: Sequence[int]) -> dict[int, list[VersionKey]]:
    """For each model, the highest version in each stage, stages in the order they first
    appear going up the versions (the order MLflow's ``latest_versions`` has)."""
    found: dict[int, list[tuple[int, int]]] = {}
    ids = list(model_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            sa.select(
                model_versions.c.registered_model_id,
                sa.func.min(model_versions.c.version).label("first"),
                sa.func.max(model_versions.c.version).label("last"),
            )
            .where(model_versions.c.registered_model_id.in_(chunk))
            .group_by(model_versions.c.registered_model_id, model_versions.c.current_stage)
        )
        for row in conn.execute(query):
            found.setdefault(row.registered_model_id, []).append((int(row.first), int(row.last)))
    return {
        model_id: [(model_id, last) for _first, last in sorted(pairs)] for model_id, pairs in found.items()
    }
