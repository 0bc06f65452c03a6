"""``ledgerflow alerts``: metric threshold alert rules, directly on the store.

A rule fires a ``metric.threshold`` webhook (once per run) when a run of the experiment has
a latest value of the metric crossing the threshold; subscribe a webhook to that event (and
to ``run.failed`` for failed runs) to receive them.
"""

from __future__ import annotations

from typing import Any

import click

from ledgerflow.cli.server import store_options
from ledgerflow.cli.users import store_services


@click.group()
def alerts() -> None:
    """Create, list and delete metric alert rules."""


@alerts.command("create")
@store_options
@click.argument("experiment_id")
@click.argument("metric_key")
@click.argument("comparison", type=click.Choice([">", ">=", "<", "<="]))
@click.argument("threshold", type=float)
def create(experiment_id: str, metric_key: str, comparison: str, threshold: float, **store: Any) -> None:
    """Alert when a run of EXPERIMENT_ID logs METRIC_KEY COMPARISON THRESHOLD (e.g. val_loss '>' 2)."""
    with store_services(store) as services:
        rule = services.alerts.rules.create(experiment_id, metric_key, comparison, threshold)
    click.echo(rule["rule_id"])


@alerts.command("list")
@store_options
@click.option("--experiment-id", default=None, help="Only this experiment's rules.")
def list_rules(experiment_id: str | None, **store: Any) -> None:
    """List rules: id, experiment, metric, comparison, threshold, status."""
    with store_services(store) as services:
        rules = services.alerts.rules.list(experiment_id)
    for rule in rules:
        click.echo(
            f"{rule['rule_id']}\t{rule['experiment_id']}\t{rule['metric_key']}\t"
            f"{rule['comparison']}\t{rule['threshold']:g}\t{rule['status']}"
        )


@alerts.command("delete")
@store_options
@click.argument("rule_id")
def delete(rule_id: str, **store: Any) -> None:
    """Delete the rule RULE_ID."""
    with store_services(store) as services:
        services.alerts.rules.delete(rule_id)
    click.echo(f"Deleted alert rule {rule_id}.")
