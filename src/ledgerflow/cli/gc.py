"""``ledgerflow gc``: permanently purge deleted runs and experiments and their artifacts."""

from __future__ import annotations

import sys
from typing import Any

import click

from ledgerflow.cli.server import build_config, maintenance_store_options
from ledgerflow.client.store_uri import require_existing_backend_store
from ledgerflow.errors import require_extra


@click.command()
@maintenance_store_options
@click.option(
    "--older-than", default=None, help="Only purge what was deleted longer ago than this (e.g. 30d, 1d2h)."
)
@click.option("--run-ids", default=None, help="Comma-separated run ids to purge (each must be deleted).")
@click.option(
    "--experiment-ids", default=None, help="Comma-separated experiment ids to purge with their runs."
)
def gc(older_than: str | None, run_ids: str | None, experiment_ids: str | None, **store: object) -> None:
    """Permanently delete runs and experiments in the `deleted` stage, with their artifacts.

    Works directly on the backend store and artifact destination given (not through a
    tracking server), like `mlflow gc`.
    """
    require_extra("sqlalchemy", "server", "Garbage collection")
    from ledgerflow.security.audit import context as audit_context
    from ledgerflow.tracking.gc import GarbageCollector
    from ledgerflow.tracking.services import build_services

    config = build_config(**store)  # type: ignore[arg-type]
    # Purging from a store that is not there would create an empty one and report success.
    require_existing_backend_store(config.backend_store_uri)
    services = build_services(config)
    progress = _ProgressBar()
    try:
        collector = GarbageCollector(services, on_progress=click.echo, on_step=progress.step)
        # Permanent deletions are audited like API writes, as the OS user.
        with audit_context.bind(audit_context.local_command("gc.purge")):
            report = collector.collect(
                older_than=older_than,
                run_ids=_split(run_ids),
                experiment_ids=_split(experiment_ids),
            )
    finally:
        progress.close()
        services.close()
    click.echo(
        f"Purged {len(report.purged_runs)} run(s) and {len(report.purged_experiments)} experiment(s).",
        err=True,
    )
    if report.failed_locations:
        raise click.ClickException(
            f"{len(report.failed_locations)} artifact location(s) could not be deleted; their runs and "
            "experiments were kept so that gc can be run again."
        )


class _ProgressBar:
    """A progress bar on stderr, shown only when there is enough to purge to need one."""

    MIN_ITEMS = 20

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def step(self, done: int, total: int) -> None:
        if total < self.MIN_ITEMS:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Purging", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]
