"""``ledgerflow tokens``: personal access and service-account tokens, on the backend store."""

from __future__ import annotations

from typing import Any

import click

from ledgerflow.cli.server import account_store_options
from ledgerflow.cli.users import cli_actor, store_services
from ledgerflow.security.auth.identity import ALL_SCOPES, Identity


def _operator() -> Identity:
    # Whoever can open the database directly acts as an administrator.
    return Identity(None, cli_actor(), "user", True, ALL_SCOPES, frozenset(), "cli")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens (shown once; stored only as hashes)."""


@tokens.command("create")
@account_store_options
@click.option("--username", required=True, help="Owner of the token (a user or service account).")
@click.option("--name", required=True, help="What the token is for, e.g. 'ci-nightly'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=("read",),
    show_default=True,
    type=click.Choice(sorted(ALL_SCOPES)),
)
@click.option("--expires-in-days", default=30.0, show_default=True, type=float)
def create(username: str, name: str, scopes: tuple[str, ...], expires_in_days: float, **store: Any) -> None:
    """Create a token and print it once."""
    with store_services(store) as services:
        made = services.auth.create_token(_operator(), name, list(scopes), expires_in_days, username)
    click.echo(
        f"Token {made['token']['token_id']} for '{username}' (save it now; it is not shown again):", err=True
    )
    click.echo(made["secret"])


@tokens.command("list")
@account_store_options
@click.option("--username", default=None, help="Only this user's tokens.")
def list_tokens(username: str | None, **store: Any) -> None:
    """List tokens (never their secrets)."""
    with store_services(store) as services:
        rows = services.auth.list_tokens(_operator(), everyone=True)
    for row in rows:
        if username and row["username"] != username:
            continue
        state = "revoked" if "revoked_time" in row else "active"
        click.echo(f"{row['token_id']}\t{row['username']}\t{row['name']}\t{','.join(row['scopes'])}\t{state}")


@tokens.command("revoke")
@account_store_options
@click.argument("token_id")
def revoke(token_id: str, **store: Any) -> None:
    """Revoke a token; every server replica refuses it within seconds."""
    with store_services(store) as services:
        services.auth.revoke_token(_operator(), token_id)
    click.echo(f"Revoked {token_id}.")
