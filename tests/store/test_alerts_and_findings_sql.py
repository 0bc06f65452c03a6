"""The SQL of secret findings, the secrets fact source, the metric alert watcher and the
/metrics business gauges, on every backend (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ledgerflow.config import ServerConfig
from ledgerflow.observability.business import query_snapshot
from ledgerflow.tracking.metrics import MetricPoint
from ledgerflow.tracking.services import build_services


def test_findings_facts_watcher_and_gauges(db_uri: str, tmp_path: Path) -> None:
    config = ServerConfig(backend_store_uri=db_uri, artifacts_destination=str(tmp_path / "a"))
    services = build_services(replace(config, secret_policy="warn", alert_check_seconds=0))
    fired: list[dict[str, object]] = []
    services.registry.events.subscribe(
        lambda event: fired.append(event.data) if event.name == "metric.threshold" else None
    )
    try:
        experiment = services.experiments.create("sql", None, [])
        run = services.runs.create(
            experiment_id=experiment, user_id="u", run_name=None, start_time=1, tags=[]
        )
        run_id = run["info"]["run_id"]
        token = "gh" + "p_" + "R7c2Lq9XzT4mWb8NfK1sVd6HyJ3pGa0EuQ5o"
        services.runs.log_param(run_id, "token", token)
        services.registry.models.create("m", [], None, None)
        services.registry.versions.create(
            "m",
            f"runs:/{run_id}/model",
            run_id=run_id,
            tags=[],
            run_link=None,
            description=None,
            model_id=None,
        )
        assert services.facts.collect("m", 1)["secrets"] == {"findings": 1, "kinds": ["github_token"]}

        rule = services.alerts.rules.create(experiment, "loss", ">=", 2.0)
        services.runs.log_metric(run_id, MetricPoint("loss", 2.0, 1, 0))
        assert services.alerts.watcher.check_now() == 1
        assert services.alerts.watcher.check_now() == 0
        assert [event["rule_id"] for event in fired] == [rule["rule_id"]]

        services.runs.update(run_id, status="FAILED", end_time=2, run_name=None)
        snapshot = query_snapshot(services.db)
        assert snapshot["ledgerflow_runs"]["FAILED"] == 1.0
        assert snapshot["ledgerflow_registered_models"] == {"": 1.0}
        assert snapshot["ledgerflow_model_versions"]["None"] == 1.0
        assert snapshot["ledgerflow_secret_findings"]["warned"] == 1.0
        assert snapshot["ledgerflow_drift_alerts"] == {"": 0.0}
    finally:
        services.close()
