"""SQL for authorization: groups, their members, and per-resource grants.

Functions take a connection from ``Database.read()`` / ``run_write``; who may call them is
decided in ``ledgerflow.security.authz``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledgerflow.errors import ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.store.schema import (
    experiments,
    logged_models,
    registered_models,
    resource_grants,
    runs,
    user_group_members,
    user_groups,
    users,
)

# -- groups -----------------------------------------------------------------------------------


def group_by_name(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(sa.select(user_groups).where(user_groups.c.name == name)).first()


def require_group(conn: Connection, name: str) -> Row[Any]:
    row = group_by_name(conn, name)
    if row is None:
        raise ResourceDoesNotExist(f"Group '{name}' does not exist.")
    return row


def require_user(conn: Connection, username: str) -> Row[Any]:
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise ResourceDoesNotExist(f"User '{username}' does not exist.")
    return row


def insert_group(conn: Connection, name: str, now: int) -> str:
    if group_by_name(conn, name) is not None:
        raise ResourceAlreadyExists(f"Group '{name}' already exists.")
    group_id = uuid.uuid4().hex
    conn.execute(user_groups.insert().values(group_id=group_id, name=name, creation_time=now))
    return group_id


def delete_group(conn: Connection, name: str) -> None:
    row = require_group(conn, name)
    # Explicit deletes rather than ON DELETE CASCADE: SQLite enforces it only with a pragma.
    conn.execute(
        resource_grants.delete().where(
            resource_grants.c.principal_type == "group", resource_grants.c.principal_id == row.group_id
        )
    )
    conn.execute(user_group_members.delete().where(user_group_members.c.group_id == row.group_id))
    conn.execute(user_groups.delete().where(user_groups.c.group_id == row.group_id))


def list_groups(conn: Connection) -> list[tuple[str, int, list[str]]]:
    members: dict[str, list[str]] = {}
    query = sa.select(user_group_members.c.group_id, users.c.username).join(
        users, users.c.user_id == user_group_members.c.user_id
    )
    for group_id, username in conn.execute(query.order_by(users.c.username)):
        members.setdefault(str(group_id), []).append(str(username))
    rows = conn.execute(sa.select(user_groups).order_by(user_groups.c.name))
    return [(str(r.name), int(r.creation_time), members.get(str(r.group_id), [])) for r in rows]


def add_member(conn: Connection, group: str, username: str) -> None:
    group_id = require_group(conn, group).group_id
    user_id = require_user(conn, username).user_id
    exists = conn.execute(
        sa.select(user_group_members.c.user_id).where(
            user_group_members.c.group_id == group_id, user_group_members.c.user_id == user_id
        )
    ).first()
    if exists is None:
        conn.execute(user_group_members.insert().values(group_id=group_id, user_id=user_id))


def remove_member(conn: Connection, group: str, username: str) -> None:
    group_id = require_group(conn, group).group_id
    user_id = require_user(conn, username).user_id
    conn.execute(
        user_group_members.delete().where(
            user_group_members.c.group_id == group_id, user_group_members.c.user_id == user_id
        )
    )


# -- grants -----------------------------------------------------------------------------------


def held_by(conn: Connection, user_id: str) -> list[tuple[str, int, str]]:
    """(resource type, resource id, role) of every grant that reaches the user: to them, to a
    group they are in, or to everyone."""
    member_of = sa.select(user_group_members.c.group_id).where(user_group_members.c.user_id == user_id)
    g = resource_grants.c
    query = sa.select(g.resource_type, g.resource_id, g.role).where(
        sa.or_(
            sa.and_(g.principal_type == "user", g.principal_id == user_id),
            sa.and_(g.principal_type == "group", g.principal_id.in_(member_of)),
            g.principal_type == "all",
        )
    )
    return [(str(t), int(i), str(r)) for t, i, r in conn.execute(query)]


def put_grant(
    conn: Connection,
    resource_type: str,
    resource_id: int,
    principal_type: str,
    principal_id: str,
    role: str,
    actor: str | None,
    now: int,
) -> None:
    g = resource_grants.c
    key = (
        g.resource_type == resource_type,
        g.resource_id == resource_id,
        g.principal_type == principal_type,
        g.principal_id == principal_id,
    )
    found = conn.execute(sa.select(g.role).where(*key)).first()
    if found is None:
        conn.execute(
            resource_grants.insert().values(
                resource_type=resource_type,
                resource_id=resource_id,
                principal_type=principal_type,
                principal_id=principal_id,
                role=role,
                created_by=actor,
                creation_time=now,
            )
        )
    else:
        conn.execute(
            resource_grants.update().where(*key).values(role=role, created_by=actor, creation_time=now)
        )


def delete_grant(
    conn: Connection, resource_type: str, resource_id: int, principal_type: str, principal_id: str
) -> bool:
    g = resource_grants.c
    result = conn.execute(
        resource_grants.delete().where(
            g.resource_type == resource_type,
            g.resource_id == resource_id,
            g.principal_type == principal_type,
            g.principal_id == principal_id,
        )
    )
    return bool(result.rowcount)


def clear_resource(conn: Connection, resource_type: str, resource_id: int) -> None:
    """Drop whatever grants a reused id still carries (SQLite may hand out a purged id again)."""
    g = resource_grants.c
    conn.execute(
        resource_grants.delete().where(g.resource_type == resource_type, g.resource_id == resource_id)
    )


def list_grants(conn: Connection, resource_type: str | None, resource_id: int | None) -> list[dict[str, Any]]:
    g = resource_grants.c
    query = (
        sa.select(
            g.resource_type,
            g.resource_id,
            g.principal_type,
            g.role,
            g.created_by,
            g.creation_time,
            sa.func.coalesce(users.c.username, user_groups.c.name, g.principal_id).label("principal"),
        )
        .outerjoin(users, sa.and_(g.principal_type == "user", users.c.user_id == g.principal_id))
        .outerjoin(
            user_groups, sa.and_(g.principal_type == "group", user_groups.c.group_id == g.principal_id)
        )
    )
    if resource_type is not None:
        query = query.where(g.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(g.resource_id == resource_id)
    query = query.order_by(g.resource_type, g.resource_id, g.principal_type, "principal")
    return [
        {
            "resource_type": str(r.resource_type),
            "resource_id": str(r.resource_id),
            "principal_type": str(r.principal_type),
            "principal": str(r.principal),
            "role": str(r.role),
            "created_by": r.created_by or "",
            "creation_time": int(r.creation_time),
        }
        for r in conn.execute(query)
    ]


# -- resource lookups -------------------------------------------------------------------------


def experiment_of_run(conn: Connection, run_id: str) -> int | None:
    value = conn.execute(sa.select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)).scalar()
    return None if value is None else int(value)


def experiments_of_runs(conn: Connection, run_ids: list[str]) -> dict[str, int]:
    query = sa.select(runs.c.run_uuid, runs.c.experiment_id).where(runs.c.run_uuid.in_(run_ids))
    return {str(run_id): int(eid) for run_id, eid in conn.execute(query)}


def experiment_of_logged_model(conn: Connection, model_id: str) -> int | None:
    value = conn.execute(
        sa.select(logged_models.c.experiment_id).where(logged_models.c.model_id == model_id)
    ).scalar()
    return None if value is None else int(value)


def experiment_by_name(conn: Connection, name: str) -> int | None:
    value = conn.execute(sa.select(experiments.c.experiment_id).where(experiments.c.name == name)).scalar()
    return None if value is None else int(value)


def experiment_exists(conn: Connection, experiment_id: int) -> bool:
    query = sa.select(experiments.c.experiment_id).where(experiments.c.experiment_id == experiment_id)
    return conn.execute(query).first() is not None


def model_by_name(conn: Connection, name: str) -> int | None:
    value = conn.execute(
        sa.select(registered_models.c.registered_model_id).where(registered_models.c.name == name)
    ).scalar()
    return None if value is None else int(value)


def direct_grants(conn: Connection, user_id: str) -> list[tuple[str, str, str]]:
    """A user's own grants (not through groups or everyone): (resource type, experiment id or
    registered model name, role), as MLflow's user record lists them."""
    g = resource_grants.c
    query = (
        sa.select(g.resource_type, g.resource_id, g.role, registered_models.c.name)
        .outerjoin(
            registered_models,
            sa.and_(
                g.resource_type == "registered_model",
                registered_models.c.registered_model_id == g.resource_id,
            ),
        )
        .where(g.principal_type == "user", g.principal_id == user_id)
        .order_by(g.resource_type, g.resource_id)
    )
    found: list[tuple[str, str, str]] = []
    for row in conn.execute(query):
        if row.resource_type == "registered_model":
            if row.name is not None:
                found.append((str(row.resource_type), str(row.name), str(row.role)))
        else:
            found.append((str(row.resource_type), str(row.resource_id), str(row.role)))
    return found
