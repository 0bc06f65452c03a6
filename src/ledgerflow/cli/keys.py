"""``ledgerflow keys``: the trust store of model-signing keys, on the backend store.

``add`` trusts a public key (PEM), ``list`` shows every key with its window and state,
``revoke`` makes everything a key signed invalid, ``rotate`` adds a successor and ends the
old key's window. Each change is an audit record (actor ``cli:<user>``).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from ledgerflow.cli.server import store_options
from ledgerflow.cli.users import store_services


def _audited(action: str) -> Any:
    from ledgerflow.security.audit.context import bind, local_command

    return bind(local_command(action, resource_type="signing_key"))


def _read_pem(path: str) -> str:
    from ledgerflow.errors import InvalidParameter

    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidParameter(f"Cannot read the public key file '{path}': {error}") from None


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(text: str | None) -> int | None:
    from ledgerflow.errors import InvalidParameter

    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"'{text}' is not an ISO 8601 date or time.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


@click.group()
def keys() -> None:
    """Trust, list, revoke and rotate model-signing public keys (ECDSA P-256)."""


@keys.command("add")
@store_options
@click.option("--public-key", "public_key", required=True, type=click.Path(dir_okay=False), help="PEM file.")
@click.option("--label", default=None, help="What the key is for, e.g. 'ci-release'.")
@click.option("--not-before", default=None, help="ISO 8601 start of validity (default: now).")
@click.option("--not-after", default=None, help="ISO 8601 end of validity (default: none).")
def add(
    public_key: str, label: str | None, not_before: str | None, not_after: str | None, **store: Any
) -> None:
    """Trust a public key; prints its key id."""
    with store_services(store) as services, _audited("keys.add"):
        key = services.signing.trust.add(
            _read_pem(public_key), label, not_before=_ms(not_before), not_after=_ms(not_after)
        )
    click.echo(key.key_id)


@keys.command("list")
@store_options
def list_keys(**store: Any) -> None:
    """Key id, label, state, validity window and successor, one key a line."""
    with store_services(store) as services:
        found = services.signing.trust.list()
    for key in found:
        click.echo(
            f"{key.key_id}\t{key.label}\t{key.status}\t{_when(key.not_before)}\t{_when(key.not_after)}"
            f"\t{key.rotated_to or '-'}"
        )


@keys.command("revoke")
@store_options
@click.argument("key_id")
@click.option("--reason", default=None)
def revoke(key_id: str, reason: str | None, **store: Any) -> None:
    """Revoke a key: every signature and attestation it made becomes invalid."""
    with store_services(store) as services, _audited("keys.revoke"):
        services.signing.trust.revoke(key_id, reason)
    click.echo(f"Revoked {key_id}", err=True)


@keys.command("rotate")
@store_options
@click.argument("key_id")
@click.option(
    "--public-key", "public_key", required=True, type=click.Path(dir_okay=False), help="New PEM file."
)
@click.option("--label", default=None)
def rotate(key_id: str, public_key: str, label: str | None, **store: Any) -> None:
    """Trust the successor of KEY_ID and end KEY_ID's window now; prints the new key id."""
    with store_services(store) as services, _audited("keys.rotate"):
        new = services.signing.trust.rotate(key_id, _read_pem(public_key), label)
    click.echo(new.key_id)
