"""``ledgerflow runs``: list, describe, delete, restore and export runs through the tracking URI."""

from __future__ import annotations

import json
from datetime import datetime

import click

from ledgerflow.cli.experiments import (
    VIEW_CHOICE,
    check_output,
    export_format,
    export_options,
    print_table,
    reading_client,
    tracking_uri_option,
    write_runs_export,
)
from ledgerflow.client.client import Client
from ledgerflow.errors import InvalidParameter


def _date(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def runs() -> None:
    """Manage runs on the tracking server."""


@runs.command("list")
@click.option("--experiment-id", "-x", required=True, envvar="LEDGERFLOW_EXPERIMENT_ID")
@click.option("--view", "-v", type=VIEW_CHOICE, default="active_only", show_default=True)
@tracking_uri_option
def list_runs(experiment_id: str, view: str, tracking_uri: str | None) -> None:
    """List an experiment's runs (active ones unless --view says otherwise): Date, Name, ID.

    An experiment that does not exist is an error (exit 4), not an empty table."""
    client = reading_client(tracking_uri)
    client.get_experiment(experiment_id)  # search_runs answers a missing experiment with nothing
    found = client.search_all_runs([experiment_id], run_view_type=view)
    rows = [(_date(r.info.start_time), r.info.run_name, r.info.run_id) for r in found]
    print_table(("Date", "Name", "ID"), rows)


@runs.command()
@click.option("--run-id", required=True)
@tracking_uri_option
def describe(run_id: str, tracking_uri: str | None) -> None:
    """Print a run as indented JSON (info, and data as key-to-value maps); deleted runs too."""
    from ledgerflow.client.export import run_document

    click.echo(json.dumps(run_document(reading_client(tracking_uri).get_run(run_id)), indent=2))


@runs.command()
@click.option("--run-id", required=True)
@tracking_uri_option
def delete(run_id: str, tracking_uri: str | None) -> None:
    """Mark a run deleted; `ledgerflow runs restore` brings it back."""
    Client(tracking_uri).delete_run(run_id)
    click.echo(f"Run with ID {run_id} has been deleted.")


@runs.command()
@click.option("--run-id", required=True)
@tracking_uri_option
def restore(run_id: str, tracking_uri: str | None) -> None:
    """Restore a deleted run (restoring an active run changes nothing, as in MLflow)."""
    Client(tracking_uri).restore_run(run_id)
    click.echo(f"Run with ID {run_id} has been restored.")


@runs.command()
@click.option("--run-id", "run_ids", multiple=True, help="A run to export (repeatable).")
@click.option("--experiment-id", "-x", default=None, help="Export every run of this experiment.")
@export_options(default_format="json")
@click.option("--view", "-v", type=VIEW_CHOICE, default="active_only", show_default=True)
@tracking_uri_option
def export(
    run_ids: tuple[str, ...],
    experiment_id: str | None,
    fmt: str | None,
    output: str | None,
    view: str,
    tracking_uri: str | None,
) -> None:
    """Export runs: JSON (with every metric's history) or CSV (search_runs columns)."""
    if bool(run_ids) == bool(experiment_id):
        raise InvalidParameter("Pass --run-id (one or more) or --experiment-id, not both.")
    fmt = export_format(fmt, output, "json")
    check_output(output)
    client = reading_client(tracking_uri)
    if experiment_id:
        client.get_experiment(experiment_id)  # not found (exit 4) rather than an empty export
        selected = client.search_all_runs([experiment_id], run_view_type=view)
    else:
        selected = [client.get_run(run_id) for run_id in run_ids]
    write_runs_export(selected, fmt, output, client=client)
    if output is not None:
        click.echo(f"Exported {len(selected)} run(s) as {fmt.upper()} to file: {output}.")
