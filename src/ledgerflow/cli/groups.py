"""``ledgerflow groups``: user groups, directly on the backend store (like ``users``)."""

from __future__ import annotations

from typing import Any

import click

from ledgerflow.cli.server import account_store_options
from ledgerflow.cli.users import cli_actor, store_services


@click.group()
def groups() -> None:
    """Create groups and manage their members (grants to a group reach all its members)."""


@groups.command("create")
@account_store_options
@click.argument("name")
def create(name: str, **store: Any) -> None:
    """Create a group."""
    with store_services(store) as services:
        services.authz.create_group(name, actor=cli_actor())
    click.echo(f"Created group '{name}'.")


@groups.command("delete")
@account_store_options
@click.argument("name")
def delete(name: str, **store: Any) -> None:
    """Delete a group, its memberships and its grants."""
    with store_services(store) as services:
        services.authz.delete_group(name, actor=cli_actor())
    click.echo(f"Deleted group '{name}'.")


@groups.command("list")
@account_store_options
def list_groups(**store: Any) -> None:
    """List groups and their members."""
    with store_services(store) as services:
        rows = services.authz.list_groups()
    for row in rows:
        click.echo(f"{row['name']}\t{','.join(row['members'])}")


@groups.command("add-member")
@account_store_options
@click.argument("group")
@click.argument("username")
def add_member(group: str, username: str, **store: Any) -> None:
    """Add a user to a group."""
    with store_services(store) as services:
        services.authz.set_member(group, username, True, actor=cli_actor())
    click.echo(f"Added '{username}' to '{group}'.")


@groups.command("remove-member")
@account_store_options
@click.argument("group")
@click.argument("username")
def remove_member(group: str, username: str, **store: Any) -> None:
    """Remove a user from a group."""
    with store_services(store) as services:
        services.authz.set_member(group, username, False, actor=cli_actor())
    click.echo(f"Removed '{username}' from '{group}'.")
