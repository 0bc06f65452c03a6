"""``ledgerflow users``: create the first admin and manage users, directly on the backend store.

Like ``gc``, these work on the database (not through a server): whoever can run them can
already read the database. Passwords come from a hidden prompt or ``--password-stdin``, never
from the command line, where other users could read them in the process list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from ledgerflow.cli.server import account_store_options, build_config
from ledgerflow.errors import require_extra


@contextmanager
def store_services(store: dict[str, Any]) -> Iterator[Any]:
    require_extra("sqlalchemy", "server", "User management")
    from ledgerflow.security.audit import context as audit_context
    from ledgerflow.tracking.services import build_services

    services = build_services(build_config(**store))
    # Events the command causes without naming an actor are the OS user's, from "local".
    command = audit_context.AuditContext(
        request_id=audit_context.new_request_id(),
        actor=cli_actor(),
        source_address=audit_context.LOCAL_SOURCE,
    )
    try:
        with audit_context.bind(command):
            yield services
    finally:
        services.close()


def read_password(password_stdin: bool, prompt: Callable[..., Any] = click.prompt) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not _is_terminal(sys.stdin):
        # A hidden prompt needs a terminal: without one getpass warns, echoes, then aborts.
        raise click.UsageError(
            "Standard input is not a terminal, so the password cannot be prompted for; "
            "pipe it in with --password-stdin"
        )
    return str(prompt("Password", hide_input=True, confirmation_prompt=True))


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, OSError, ValueError):  # closed, or replaced by a test harness
        return False


def cli_actor() -> str:
    from ledgerflow.security.audit.context import local_actor

    return local_actor()


@click.group()
def users() -> None:
    """Create and manage server users (admins, people, service accounts)."""


@users.command("create-admin")
@account_store_options
@click.option("--username", default="admin", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(username: str, password_stdin: bool, **store: Any) -> None:
    """Create an administrator (the first one a new server needs)."""
    password = read_password(password_stdin)
    with store_services(store) as services:
        services.auth.create_user(username, password, is_admin=True, actor=cli_actor())
    click.echo(f"Created administrator '{username}'.")


@users.command("create")
@account_store_options
@click.argument("username")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an administrator.")
@click.option("--service", "service", is_flag=True, help="A service account (tokens only, no password).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(username: str, is_admin: bool, service: bool, password_stdin: bool, **store: Any) -> None:
    """Create a user, or with --service a service account for CI."""
    password = None if service else read_password(password_stdin)
    with store_services(store) as services:
        services.auth.create_user(
            username, password, is_admin=is_admin, kind="service" if service else "user", actor=cli_actor()
        )
    click.echo(f"Created {'service account' if service else 'user'} '{username}'.")


@users.command("list")
@account_store_options
def list_users(**store: Any) -> None:
    """List users: name, kind, admin, state."""
    with store_services(store) as services:
        rows = services.auth.list_users()
    for row in rows:
        state = "disabled" if "disabled_time" in row else "active"
        admin = "admin" if row["is_admin"] else "-"
        click.echo(f"{row['username']}\t{row['kind']}\t{admin}\t{state}")


@users.command("disable")
@account_store_options
@click.argument("username")
def disable(username: str, **store: Any) -> None:
    """Disable a user: its password, sessions and tokens stop working on every replica."""
    with store_services(store) as services:
        services.auth.set_disabled(username, True, actor=cli_actor())
    click.echo(f"Disabled '{username}'.")
