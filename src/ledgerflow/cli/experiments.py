"""``ledgerflow experiments``: list, describe, create, delete, restore and export experiments.

Every command goes through the tracking URI (``--tracking-uri``, else
``LEDGERFLOW_TRACKING_URI``, else ``MLFLOW_TRACKING_URI``), like MLflow's CLI.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ledgerflow.client.client import Client, resolve_tracking_uri
from ledgerflow.client.entities import Experiment, Run
from ledgerflow.client.store_uri import require_existing_store
from ledgerflow.errors import InvalidParameter, LedgerflowError, ResourceDoesNotExist

F = TypeVar("F", bound=Callable[..., Any])
# Exports longer than this show a progress bar on stderr.
LONG_EXPORT = 100
EXPORT_FORMATS = ("csv", "json")


def tracking_uri_option(func: F) -> F:
    return click.option(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help="Tracking server or local store (default: $LEDGERFLOW_TRACKING_URI, then $MLFLOW_TRACKING_URI).",
    )(func)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def reading_client(tracking_uri: str | None) -> Client:
    """A client for a command that only reads: a local store that does not exist is an error
    ("No Ledgerflow store at ...") instead of being created empty."""
    uri = resolve_tracking_uri(tracking_uri)
    require_existing_store(uri)
    return Client(uri)


def export_format(fmt: str | None, output: str | None, default: str) -> str:
    """--format, else what the output file's extension says, else *default*."""
    if fmt:
        return fmt.lower()
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    return suffix if suffix in EXPORT_FORMATS else default


def check_output(path: str | None) -> None:
    """Refuse an output file whose folder is missing, before any work is done."""
    if path is None:
        return
    parent = Path(path).expanduser().absolute().parent
    if not parent.is_dir():
        raise InvalidParameter(f"Cannot write {path}: the folder {parent} does not exist.")


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    check_output(path)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield handle


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long exports; silent for short ones."""
    if total <= LONG_EXPORT:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def export_options(default_format: str) -> Callable[[F], F]:
    """``--format/-f`` and ``--output/-o``, as every export command takes them."""

    def decorate(func: F) -> F:
        func = click.option(
            "--output",
            "-o",
            "output",
            default=None,
            type=click.Path(dir_okay=False),
            help="File to write (default: stdout).",
        )(func)
        return click.option(
            "--format",
            "-f",
            "fmt",
            type=click.Choice(EXPORT_FORMATS, case_sensitive=False),
            default=None,
            help=f"csv or json [default: from the --output extension, else {default_format}].",
        )(func)

    return decorate


def write_runs_export(runs: list[Run], fmt: str, output: str | None, client: Client | None = None) -> None:
    """Write *runs* as CSV or JSON to *output* (stdout when None), with a progress bar when long.
    JSON carries every metric's history when a *client* is given to fetch it."""
    from ledgerflow.client.export import write_runs_csv, write_runs_json

    with progress(len(runs), f"Exporting {len(runs)} runs") as step, output_stream(output) as out:
        if fmt == "csv":
            write_runs_csv(runs, out, on_item=step)
        else:
            write_runs_json(runs, out, client=client, on_item=step)


VIEW_CHOICE = click.Choice(["active_only", "deleted_only", "all"], case_sensitive=False)


@click.group()
def experiments() -> None:
    """Manage experiments on the tracking server."""


@experiments.command("list")
@click.option("--view", "-v", type=VIEW_CHOICE, default="active_only", show_default=True)
@tracking_uri_option
def list_experiments(view: str, tracking_uri: str | None) -> None:
    """List experiments as a table of ID, name and artifact location."""
    client = reading_client(tracking_uri)
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(view_type=view, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    rows = [(e.experiment_id, e.name, e.artifact_location) for e in found]
    print_table(("Experiment Id", "Name", "Artifact Location"), rows)


def _find(client: Client, experiment_id: str | None, name: str | None) -> Any:
    if (experiment_id is None) == (name is None):
        raise InvalidParameter("Pass exactly one of --experiment-id and --experiment-name.")
    if experiment_id is not None:
        return client.get_experiment(experiment_id)
    assert name is not None
    found = client.get_experiment_by_name(name)
    if found is None:
        raise ResourceDoesNotExist(f"Could not find experiment with name '{name}'")
    return found


@experiments.command()
@click.option("--experiment-id", "-x", default=None)
@click.option("--experiment-name", "-n", default=None)
@tracking_uri_option
def describe(experiment_id: str | None, experiment_name: str | None, tracking_uri: str | None) -> None:
    """Print an experiment as indented JSON (deleted experiments too)."""
    experiment = _find(reading_client(tracking_uri), experiment_id, experiment_name)
    click.echo(json.dumps(experiment.to_dict(), indent=2))


@experiments.command()
@click.option("--experiment-name", "-n", required=True)
@click.option("--artifact-location", "-l", default=None)
@tracking_uri_option
def create(experiment_name: str, artifact_location: str | None, tracking_uri: str | None) -> None:
    """Create an experiment."""
    experiment_id = Client(tracking_uri).create_experiment(experiment_name, artifact_location)
    click.echo(f"Created experiment '{experiment_name}' with id {experiment_id}")


@experiments.command()
@click.option("--experiment-id", "-x", required=True)
@tracking_uri_option
def delete(experiment_id: str, tracking_uri: str | None) -> None:
    """Mark an experiment (and its runs) deleted; `ledgerflow experiments restore` brings it back.
    One already deleted is an error (exit 4), as MLflow's API answers."""
    client = Client(tracking_uri)
    try:
        client.delete_experiment(experiment_id)
    except LedgerflowError as error:
        _explain_stage(client, experiment_id, error, "deleted")
        raise
    click.echo(f"Experiment with ID {experiment_id} has been deleted.")


def _explain_stage(client: Client, experiment_id: str, error: LedgerflowError, stage: str) -> None:
    """The API answers deleting a deleted experiment, or restoring an active one, with
    MLflow's "No Experiment with id=N exists"; when the experiment is there in *stage*, say
    what is really the matter (still exit 4, the code the API gave)."""
    if error.error_code != "RESOURCE_DOES_NOT_EXIST":
        return
    try:
        found = client.get_experiment(experiment_id).lifecycle_stage
    except LedgerflowError:
        return
    if found == stage:
        raise ResourceDoesNotExist(
            f"Experiment with ID {experiment_id} is already deleted."
            if stage == "deleted"
            else f"Experiment with ID {experiment_id} is not deleted (it is active): nothing to restore."
        ) from None


@experiments.command()
@click.option("--experiment-id", "-x", required=True)
@tracking_uri_option
def restore(experiment_id: str, tracking_uri: str | None) -> None:
    """Restore a deleted experiment and its runs; one that is not deleted is an error (exit 4),
    as MLflow's API answers (RESOURCE_DOES_NOT_EXIST)."""
    client = Client(tracking_uri)
    try:
        client.restore_experiment(experiment_id)
    except LedgerflowError as error:
        _explain_stage(client, experiment_id, error, "active")
        raise
    click.echo(f"Experiment with ID {experiment_id} has been restored.")


@experiments.command()
@click.option("--experiment-id", "-x", required=True)
@export_options(default_format="csv")
@click.option("--view", "-v", type=VIEW_CHOICE, default="active_only", show_default=True)
@tracking_uri_option
def export(
    experiment_id: str, fmt: str | None, output: str | None, view: str, tracking_uri: str | None
) -> None:
    """Export an experiment's runs: CSV with the search_runs columns, or JSON."""
    fmt = export_format(fmt, output, "csv")
    check_output(output)
    client = reading_client(tracking_uri)
    client.get_experiment(experiment_id)
    write_runs_export(client.search_all_runs([experiment_id], run_view_type=view), fmt, output)
    if output is not None:
        click.echo(
            f"Experiment with ID {experiment_id} has been exported as a {fmt.upper()} to file: {output}."
        )
