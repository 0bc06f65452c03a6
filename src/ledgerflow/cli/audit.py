"""``ledgerflow audit``: verify the tamper-evident audit trail, export it, sign checkpoints
and anchors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ledgerflow.cli.main import remember_store_uri
from ledgerflow.errors import require_extra

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_STORE = click.option(
    "--backend-store-uri",
    envvar="LEDGERFLOW_BACKEND_STORE_URI",
    callback=remember_store_uri,
    default="sqlite:///ledgerflow.db",
    show_default=True,
)


@contextmanager
def _existing_store(backend_store_uri: str) -> Iterator[Connection]:
    """A read transaction on a store that must already exist: a mistyped SQLite path is refused
    with one line instead of creating an empty database there, driver errors are one line too."""
    from ledgerflow.client.store_uri import require_existing_backend_store
    from ledgerflow.store.connection_errors import store_errors
    from ledgerflow.store.database import Database

    require_existing_backend_store(backend_store_uri)
    with store_errors(backend_store_uri):
        db = Database(backend_store_uri)
        try:
            with db.read() as conn:
                yield conn
        finally:
            db.dispose()


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
@click.option(
    "--anchor",
    "anchor_path",
    type=click.Path(exists=True, dir_okay=False),
    help="An anchor saved by 'ledgerflow audit anchor': fail unless its record is still in the log, "
    "unchanged (catches a wiped or rebuilt log).",
)
def verify(backend_store_uri: str, public_keys: tuple[str, ...], anchor_path: str | None) -> None:
    """Recompute the hash chain, check that every scheduled checkpoint exists and its signature;
    exit 1 on tampering."""
    require_extra("sqlalchemy", "server", "Audit verification")
    from ledgerflow.security.audit.anchor import load_anchor
    from ledgerflow.security.audit.signing import key_id_of, load_public_key, public_key_text
    from ledgerflow.security.audit.verify import verify as run_verify

    trusted = None
    if public_keys:
        trusted = {}
        for path in public_keys:
            text = public_key_text(load_public_key(Path(path).read_text()))
            trusted[key_id_of(text)] = text
    anchor = load_anchor(anchor_path) if anchor_path else None
    with _existing_store(backend_store_uri) as conn:
        report = run_verify(conn, trusted, anchor)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"FAILED: {problem}")
        click.echo(f"({report.trusted})", err=True)
        sys.exit(1)
    source = "the given public keys" if public_keys else "keys stored in the database"
    anchored = f"; anchor at {anchor.seq} present" if anchor else ""
    click.echo(
        f"OK: {report.records} records, {report.checkpoints} checkpoints verified "
        f"(signatures against {source}{anchored})"
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

    filters = Filters(since_ms=parse_time(since, "since"), until_ms=parse_time(until, "until"))
    with _existing_store(backend_store_uri) as conn:
        if output:
            with open(output, "w", encoding="utf-8") as sink:
                count = sum(sink.write(line) > 0 for line in jsonl_lines(conn, filters))
            click.echo(f"Exported {count} records to {output}.", err=True)
        else:
            for line in jsonl_lines(conn, filters):
                click.echo(line, nl=False)


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
    import sqlalchemy as sa

    from ledgerflow.client.store_uri import require_existing_backend_store
    from ledgerflow.security.audit.log import AuditLog
    from ledgerflow.security.audit.signing import load_or_create
    from ledgerflow.store.database import Database
    from ledgerflow.store.schema import audit_keys

    require_existing_backend_store(backend_store_uri)
    db = Database(backend_store_uri)
    try:
        signer = load_or_create(signing_key)
        # Interval 1: the only record this command may append (a new key's registration) is
        # checkpointed at once, and the store's schedule (a multiple of 1) is unchanged. A key
        # already registered declares nothing: the schedule is the servers' to declare.
        log = AuditLog(db, signer, checkpoint_interval=1)
        with db.read() as conn:
            known = conn.execute(sa.select(audit_keys.c.key_id).where(audit_keys.c.key_id == signer.key_id))
            registered = known.first() is not None
        if not registered:
            log.install()
        seq = log.checkpoint_now()
    finally:
        db.dispose()
    click.echo("The audit log is empty." if seq is None else f"Checkpoint at {seq}.")


@audit.command()
@_STORE
@click.option(
    "--signing-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The server's audit signing key file (signs the anchor).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout)."
)
def anchor(backend_store_uri: str, signing_key: str, output: str | None) -> None:
    """Sign the log's last record as an anchor to keep outside the database (for --anchor)."""
    require_extra("sqlalchemy", "server", "Audit anchors")
    from ledgerflow.security.audit.anchor import create_anchor
    from ledgerflow.security.audit.signing import load_or_create

    with _existing_store(backend_store_uri) as conn:
        made = create_anchor(conn, load_or_create(signing_key))
    text = json.dumps(made, sort_keys=True, indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(
            f"Anchored record {made['seq']} in {output}; keep it where the database's writers cannot write.",
            err=True,
        )
    else:
        click.echo(text, nl=False)


@audit.command("public-key")
@click.option("--signing-key", required=True, type=click.Path(exists=True, dir_okay=False))
def public_key(signing_key: str) -> None:
    """Print the key id and the PEM public key of a signing key file (for --public-key)."""
    require_extra("cryptography", "server", "Audit keys")
    from ledgerflow.security.audit.signing import load_or_create

    signer = load_or_create(signing_key)
    click.echo(f"# key id {signer.key_id}", err=True)
    click.echo(signer.public_pem(), nl=False)
