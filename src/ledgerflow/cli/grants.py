"""``ledgerflow grants``: roles on experiments and registered models, directly on the store.

Roles: viewer (read), editor (read, edit), promoter (read, promote), approver (read, approve
promotion requests), evaluator (read, record the evaluation results gates count; granted only by
an administrator, never to ``all``), manager (everything else on the resource, including
granting). A principal is ``user:<name>``, ``group:<name>`` or ``all``.
"""

from __future__ import annotations

from typing import Any

import click

from ledgerflow.cli.server import account_store_options
from ledgerflow.cli.users import store_services
from ledgerflow.errors import InvalidParameter

_TYPES = click.Choice(["experiment", "registered-model"])


def split_principal(text: str) -> tuple[str, str]:
    if text.strip().lower() == "all":
        return "all", "*"
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("user", "group") or not name:
        raise InvalidParameter("A principal is 'user:<name>', 'group:<name>' or 'all'.")
    return kind, name


@click.group()
def grants() -> None:
    """Grant and revoke roles on experiments (by id or name) and registered models (by name)."""


@grants.command("create")
@account_store_options
@click.argument("resource_type", type=_TYPES)
@click.argument("resource")
@click.argument("principal")
@click.argument("role")
def create(resource_type: str, resource: str, principal: str, role: str, **store: Any) -> None:
    """Give PRINCIPAL the ROLE on RESOURCE (replacing any role it held there)."""
    kind, name = split_principal(principal)
    with store_services(store) as services:
        grant = services.authz.grant(resource_type, resource, kind, name, role, actor=None)
    click.echo(f"Granted {grant['role']} on {resource_type} {resource} to {principal}.")


@grants.command("delete")
@account_store_options
@click.argument("resource_type", type=_TYPES)
@click.argument("resource")
@click.argument("principal")
def delete(resource_type: str, resource: str, principal: str, **store: Any) -> None:
    """Revoke PRINCIPAL's role on RESOURCE."""
    kind, name = split_principal(principal)
    with store_services(store) as services:
        removed = services.authz.revoke(resource_type, resource, kind, name, actor=None)
    click.echo(f"Revoked {principal} on {resource_type} {resource}." if removed else "No such grant.")


@grants.command("list")
@account_store_options
@click.option("--type", "resource_type", type=_TYPES, default=None)
@click.option("--resource", default=None, help="An experiment id or name, or a model name.")
def list_grants(resource_type: str | None, resource: str | None, **store: Any) -> None:
    """List grants: resource type, id, principal, role."""
    with store_services(store) as services:
        rows = services.authz.list_grants(resource_type, resource, actor=None)
    for row in rows:
        principal = "all" if row["principal_type"] == "all" else f"{row['principal_type']}:{row['principal']}"
        click.echo(f"{row['resource_type']}\t{row['resource_id']}\t{principal}\t{row['role']}")
