"""``ledgerflow evaluate`` and ``ledgerflow monitor``: evaluation and drift monitoring of
model versions through the tracking URI."""

from __future__ import annotations

import json
from typing import Any

import click

from ledgerflow.cli.experiments import tracking_uri_option


def _print_numbers(title: str, values: dict[str, Any]) -> None:
    if values:
        click.echo(title)
        for key in sorted(values):
            click.echo(f"  {key}\t{values[key]:.6g}")


@click.command()
@click.option(
    "--model-uri", "-m", required=True, help="models:/<name>/<version>, models:/<name>@<alias>, a path."
)
@click.option("--data", required=True, help="CSV or parquet file, or runs:/<run_id>/datasets/<name>.")
@click.option("--target", required=True, help="The label column.")
@click.option("--sensitive", default=None, help="Comma-separated sensitive columns, e.g. sex,age_band.")
@click.option(
    "--robustness", type=click.Choice(["default", "attacks", "none"]), default="default", show_default=True
)
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None)
@click.option("--positive-label", default=None, help="The selected outcome for fairness (binary: 1).")
@click.option("--min-group-size", type=int, default=30, show_default=True)
@click.option("--n-boot", type=int, default=200, show_default=True, help="Bootstrap resamples (0: none).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--attack", type=click.Choice(["hsj", "boundary"]), default="hsj", show_default=True)
@click.option("--epsilon", type=float, default=0.1, show_default=True)
@click.option("--max-rows", type=int, default=20, show_default=True)
@click.option("--budget-seconds", type=float, default=60.0, show_default=True)
@click.option(
    "--swap-fraction", type=float, default=0.1, show_default=True, help="Categorical values swapped."
)
@click.option("--missing-fraction", type=float, default=0.1, show_default=True, help="Values set missing.")
@click.option("--name", "-n", default=None, help="Log onto this registered model (with --version).")
@click.option("--version", "-v", default=None)
@click.option("--no-log", is_flag=True, help="Compute and print only.")
@click.option(
    "--set-reference", is_flag=True, help="Also make this data the version's drift reference profile."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@tracking_uri_option
def evaluate(
    model_uri: str, data: str, target: str, sensitive: str | None, robustness: str, **kw: Any
) -> None:
    """Evaluate a model on a dataset and log the result on its model version."""
    from ledgerflow.governance.evaluation.runner import evaluate as run

    as_json = kw.pop("as_json")
    result = run(
        model_uri,
        data,
        target,
        sensitive=sensitive,
        robustness=None if robustness == "none" else robustness,
        task=kw["task"],
        positive_label=kw["positive_label"],
        min_group_size=kw["min_group_size"],
        n_boot=kw["n_boot"],
        seed=kw["seed"],
        attack=kw["attack"],
        epsilon=kw["epsilon"],
        max_rows=kw["max_rows"],
        budget_seconds=kw["budget_seconds"],
        swap_fraction=kw["swap_fraction"],
        missing_fraction=kw["missing_fraction"],
        name=kw["name"],
        version=kw["version"],
        log=not kw["no_log"],
        set_reference=kw["set_reference"],
        tracking_uri=kw["tracking_uri"],
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
        return
    click.echo(f"{result.task} on {result.row_count} rows (dataset sha256 {result.dataset_digest[:12]})")
    _print_numbers("metrics:", result.metrics)
    _print_numbers("fairness:", result.fairness)
    for feature, status in sorted(result.fairness_status.items()):
        if status != "ok":
            click.echo(f"  {feature}: {status}")
    _print_numbers("robustness:", result.robustness)
    if kw["set_reference"]:
        click.echo("Reference profile set from the model's input columns of this data")
    if result.evaluation_id:
        click.echo(
            f"Logged evaluation {result.evaluation_id} on {result.name} version {result.version} (run {result.run_id})"
        )


@click.group()
def monitor() -> None:
    """Drift monitoring: reference profiles and production batches of a model version."""


def _version_options(func: Any) -> Any:
    func = click.option("--version", "-v", required=True)(func)
    return click.option("--name", "-n", required=True, help="Registered model name.")(func)


@monitor.command("set-reference")
@_version_options
@click.option("--data", required=True, help="Training or evaluation data (CSV, parquet, logged dataset).")
@click.option("--exclude", default=None, help="Comma-separated columns to leave out (e.g. the target).")
@click.option("--source", default="evaluation", show_default=True, help="training | evaluation | ...")
@click.option(
    "--settings", default=None, help='JSON thresholds/alert rule, e.g. {"alert": {"share_drifted": 0.5}}.'
)
@tracking_uri_option
def set_reference(
    name: str,
    version: str,
    data: str,
    exclude: str | None,
    source: str,
    settings: str | None,
    tracking_uri: str | None,
) -> None:
    """Store the reference profile production batches are compared with."""
    from ledgerflow.errors import InvalidParameter
    from ledgerflow.governance.monitoring.client import set_reference as run

    parsed = None
    if settings:
        try:
            parsed = json.loads(settings)
        except ValueError:
            raise InvalidParameter("--settings is not valid JSON.") from None
    columns = [c.strip() for c in exclude.split(",")] if exclude else None
    reference = run(
        name, version, data, exclude=columns, source=source, settings=parsed, tracking_uri=tracking_uri
    )
    kinds = ", ".join(f"{k} ({v})" for k, v in reference["features"].items())
    click.echo(f"Reference profile of {name} version {version}: {reference['row_count']} rows; {kinds}")
    click.echo(f"Monitoring run: {reference['monitoring_run_id']}")


@monitor.command("log-batch")
@_version_options
@click.option("--data", required=True, help="The batch (CSV or parquet).")
@click.option("--window-time", type=int, default=None, help="The window's time in ms (default: now).")
@click.option("--json", "as_json", is_flag=True)
@tracking_uri_option
def log_batch(
    name: str, version: str, data: str, window_time: int | None, as_json: bool, tracking_uri: str | None
) -> None:
    """Compare one production batch with the reference; prints the drifted features."""
    from ledgerflow.governance.monitoring.client import log_batch as run

    window = run(name, version, data, window_time=window_time, tracking_uri=tracking_uri)
    if as_json:
        click.echo(json.dumps(window, indent=2))
        return
    click.echo(
        f"Window {window['window']}: {len(window['drifted_features'])}/{len(window['features'])} features drifted "
        f"(share {window['share_drifted']:.2f}){'; ALERT' if window['alert'] else ''}"
    )
    for feature in window["features"]:
        if feature["drifted"]:
            flagged = ", ".join(k for k, v in feature["flags"].items() if v != "ok")
            click.echo(f"  {feature['feature']}: {feature['severity']} ({flagged})")
