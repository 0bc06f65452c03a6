"""``ledgerflow audit``: verify the tamper-evident audit trail, export it, sign checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ledgerflow.errors import require_extra

_STORE = click.option(
    "--backend-store-uri",
    envvar="LEDGERFLOW_BACKEND_STORE_URI",
    default="sqlite:///ledgerflow.db",
    show_default=True,
)


@click.group()
def audit() -> None:
    """Inspect the audit trail: verify its hash chain, export it, sign checkpoints."""


@audit.command()
@_STORE
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Trust only these public keys (files printed by 'ledgerflow audit public-key'), not the "
    "keys stored in the database. Repeat for several server keys.",
)
def verify(backend_store_uri: str, public_keys: tuple[str, ...]) -> None:
    """Recompute the hash chain and check every checkpoint signature; exit 1 on tampering."""
    require_extra("sqlalchemy", "server", "Audit verification")
    from ledgerflow.security.audit.signing import key_id_of, load_public_key, public_key_text
    from ledgerflow.security.audit.verify import verify as run_verify
    from ledgerflow.store.database import Database

    trusted = None
    if public_keys:
        trusted = {}
        for path in public_keys:
            text = public_key_text(load_public_key(Path(path).read_text()))
            trusted[key_id_of(text)] = text
    db = Database(backend_store_uri)
    try:
        with db.read() as conn:
            report = run_verify(conn, trusted)
    finally:
        db.dispose()
    if not report.ok:
        for problem in report.problems:
            click.echo(f"FAILED: {problem}")
        click.echo(f"({report.records} records verified before the first problem)", err=True)
        sys.exit(1)
    source = "the given public keys" if public_keys else "keys stored in the database"
    click.echo(
        f"OK: {report.records} records, {report.checkpoints} checkpoints verified (signatures against {source})"
    )


@audit.command()
@_STORE
@click.option("--since", help="Start time: milliseconds since the epoch or an ISO-8601 date (UTC).")
@click.option("--until", help="End time (exclusive), same forms as --since.")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout)."
)
def export(
    backend_store_uri: str, since: str | None, until: str | None, fmt: str, output: str | None
) -> None:
    """Write audit records, oldest first, one JSON object per line (for SIEM ingestion)."""
    require_extra("sqlalchemy", "server", "Audit export")
    from ledgerflow.security.audit.export import Filters, jsonl_lines, parse_time
    from ledgerflow.store.database import Database

    filters = Filters(since_ms=parse_time(since, "since"), until_ms=parse_time(until, "until"))
    db = Database(backend_store_uri)
    try:
        with db.read() as conn:
            if output:
                with open(output, "w", encoding="utf-8") as sink:
                    count = sum(sink.write(line) > 0 for line in jsonl_lines(conn, filters))
                click.echo(f"Exported {count} records to {output}.", err=True)
            else:
                for line in jsonl_lines(conn, filters):
                    click.echo(line, nl=False)
    finally:
        db.dispose()


@audit.command()
@_STORE
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The server's audit signing key file.",
)
def checkpoint(backend_store_uri: str, signing_key: str) -> None:
    """Sign a checkpoint at the current end of the log now."""
    require_extra("sqlalchemy", "server", "Audit checkpoints")
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.security.audit.signing import load_or_create
    from ledgerflow.store.database import Database

    db = Database(backend_store_uri)
    try:
        log = AuditLog(db, load_or_create(signing_key))
        log.install()
        seq = log.checkpoint_now()
    finally:
        db.dispose()
    click.echo("The audit log is empty." if seq is None else f"Checkpoint at {seq}.")


@audit.command("public-key")
@click.option("--signing-key", required=True, type=click.Path(exists=True, dir_okay=False))
def public_key(signing_key: str) -> None:
    """Print the key id and the PEM public key of a signing key file (for --public-key)."""
    require_extra("cryptography", "server", "Audit keys")
    from ledgerflow.security.audit.signing import load_or_create

    signer = load_or_create(signing_key)
    click.echo(f"# key id {signer.key_id}", err=True)
    click.echo(signer.public_pem(), nl=False)
