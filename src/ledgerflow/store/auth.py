"""SQL for users, groups, API tokens, login attempts and UI sessions (one aggregate: auth).

Functions take a connection from ``Database.read()`` / ``run_write`` and return plain rows or
dicts; policy (who may do what, lockout rules) lives in ``ledgerflow.security.auth``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledgerflow.errors import ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.store.schema import (
    api_tokens,
    login_attempts,
    ui_sessions,
    user_group_members,
    user_groups,
    users,
)


def user_by_name(conn: Connection, username: str) -> Row[Any] | None:
    return conn.execute(sa.select(users).where(users.c.username == username)).first()


def user_by_id(conn: Connection, user_id: str) -> Row[Any] | None:
    return conn.execute(sa.select(users).where(users.c.user_id == user_id)).first()


def admin_exists(conn: Connection) -> bool:
    query = sa.select(users.c.user_id).where(users.c.is_admin.is_(True), users.c.disabled_time.is_(None))
    return conn.execute(query.limit(1)).first() is not None


def insert_user(
    conn: Connection, username: str, kind: str, password_hash: str | None, is_admin: bool, now: int
) -> str:
    if user_by_name(conn, username) is not None:
        raise ResourceAlreadyExists(f"User '{username}' already exists.")
    user_id = uuid.uuid4().hex
    conn.execute(
        users.insert().values(
            user_id=user_id,
            username=username,
            kind=kind,
            password_hash=password_hash,
            is_admin=is_admin,
            creation_time=now,
            last_update_time=now,
            disabled_time=None,
        )
    )
    return user_id


def list_users(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(sa.select(users).order_by(users.c.username)))


def set_disabled(conn: Connection, username: str, now: int, disabled: bool) -> str:
    row = user_by_name(conn, username)
    if row is None:
        raise ResourceDoesNotExist(f"User '{username}' does not exist.")
    conn.execute(
        users.update()
        .where(users.c.user_id == row.user_id)
        .values(disabled_time=now if disabled else None, last_update_time=now)
    )
    if disabled:
        conn.execute(
            ui_sessions.update()
            .where(ui_sessions.c.user_id == row.user_id, ui_sessions.c.revoked_time.is_(None))
            .values(revoked_time=now)
        )
    return str(row.user_id)


def set_admin(conn: Connection, username: str, is_admin: bool, now: int) -> None:
    row = user_by_name(conn, username)
    if row is None or row.disabled_time is not None:
        raise ResourceDoesNotExist(f"User '{username}' does not exist.")
    conn.execute(
        users.update().where(users.c.user_id == row.user_id).values(is_admin=is_admin, last_update_time=now)
    )


def set_password_hash(conn: Connection, user_id: str, password_hash: str, now: int) -> None:
    conn.execute(
        users.update()
        .where(users.c.user_id == user_id)
        .values(password_hash=password_hash, last_update_time=now)
    )


def groups_of(conn: Connection, user_id: str) -> frozenset[str]:
    query = (
        sa.select(user_groups.c.name)
        .join(user_group_members, user_group_members.c.group_id == user_groups.c.group_id)
        .where(user_group_members.c.user_id == user_id)
    )
    return frozenset(str(name) for name in conn.execute(query).scalars())


# -- tokens -----------------------------------------------------------------------------------


def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(api_tokens.insert().values(**values))


def token_by_hash(conn: Connection, hashed: str) -> Row[Any] | None:
    query = (
        sa.select(
            api_tokens,
            users.c.username,
            users.c.kind.label("owner_kind"),
            users.c.is_admin,
            users.c.disabled_time,
        )
        .join(users, users.c.user_id == api_tokens.c.owner_id)
        .where(api_tokens.c.token_hash == hashed)
    )
    return conn.execute(query).first()


def token_by_id(conn: Connection, token_id: str) -> Row[Any] | None:
    return conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()


def list_tokens(conn: Connection, owner_id: str | None) -> list[Row[Any]]:
    query = sa.select(api_tokens, users.c.username).join(users, users.c.user_id == api_tokens.c.owner_id)
    if owner_id is not None:
        query = query.where(api_tokens.c.owner_id == owner_id)
    return list(conn.execute(query.order_by(api_tokens.c.creation_time, api_tokens.c.token_id)))


def revoke_token(conn: Connection, token_id: str, now: int) -> None:
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_time.is_(None))
        .values(revoked_time=now)
    )


def touch_token(conn: Connection, token_id: str, now: int) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.token_id == token_id).values(last_used_time=now))


# -- login attempts ---------------------------------------------------------------------------


def attempts_of(conn: Connection, subject: str, *, for_update: bool = False) -> Row[Any] | None:
    query = sa.select(login_attempts).where(login_attempts.c.subject == subject)
    if for_update and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return conn.execute(query).first()


def save_attempts(
    conn: Connection,
    subject: str,
    failures: int,
    first: int,
    last: int,
    locked_until: int | None,
    exists: bool,
) -> None:
    values = {"failures": failures, "first_failure_time": first, "last_failure_time": last}
    values["locked_until"] = locked_until  # type: ignore[assignment]
    if exists:
        conn.execute(login_attempts.update().where(login_attempts.c.subject == subject).values(**values))
    else:
        conn.execute(login_attempts.insert().values(subject=subject, **values))


def clear_attempts(conn: Connection, subject: str) -> None:
    conn.execute(login_attempts.delete().where(login_attempts.c.subject == subject))


# -- sessions ---------------------------------------------------------------------------------


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(ui_sessions.insert().values(**values))


def session_by_hash(conn: Connection, hashed: str) -> Row[Any] | None:
    query = (
        sa.select(ui_sessions, users.c.username, users.c.kind, users.c.is_admin, users.c.disabled_time)
        .join(users, users.c.user_id == ui_sessions.c.user_id)
        .where(ui_sessions.c.session_hash == hashed)
    )
    return conn.execute(query).first()


def revoke_session(conn: Connection, hashed: str, now: int) -> None:
    conn.execute(
        ui_sessions.update()
        .where(ui_sessions.c.session_hash == hashed, ui_sessions.c.revoked_time.is_(None))
        .values(revoked_time=now)
    )
