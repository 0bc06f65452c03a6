"""``ledgerflow db``: schema migrations."""

from __future__ import annotations

import click

from ledgerflow.cli.main import remember_store_uri
from ledgerflow.errors import require_extra


@click.group()
def db() -> None:
    """Manage the backend store's schema."""


@db.command()
@click.option(
    "--backend-store-uri",
    envvar="LEDGERFLOW_BACKEND_STORE_URI",
    callback=remember_store_uri,
    default="sqlite:///ledgerflow.db",
    show_default=True,
)
def upgrade(backend_store_uri: str) -> None:
    """Upgrade the schema to the version this Ledgerflow needs. Back up the database first."""
    require_extra("sqlalchemy", "server", "Database migrations")
    from ledgerflow.store.database import create_db_engine
    from ledgerflow.store.migrations import current_revision, head_revision
    from ledgerflow.store.migrations import upgrade as run_upgrade

    engine = create_db_engine(backend_store_uri)
    try:
        before = current_revision(engine)
        run_upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"Schema already at {after} (head {head_revision()}).")
    else:
        click.echo(f"Upgraded schema from {before or 'empty'} to {after}.")
