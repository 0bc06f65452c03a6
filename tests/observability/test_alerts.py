"""Alerts as signed webhooks to a loopback receiver: a run set to FAILED (``run.failed``) and
metric threshold rules (``metric.threshold``, once per run), rules managed by API and CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.store.schema import audit_log
from tests.webhooks.support import (
    Receiver,
    create_hook,
    expected_signature,
    hook_config,
    receiver_fixture,
    wait_for,
)

RULES = "/api/2.0/ledgerflow/alert-rules"
SECRET = "alert-hmac-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiver_fixture()


@pytest.fixture
def client(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> TestClient:
    # A long check interval: the tests trigger the watcher themselves, deterministically.
    return make_client(hook_config(server_config, alert_check_seconds=3600.0))


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _run(client: TestClient, experiment_id: str) -> str:
    created = _post(client, "/api/2.0/mlflow/runs/create", {"experiment_id": experiment_id})
    return str(created["run"]["info"]["run_id"])


def _metric(client: TestClient, run_id: str, key: str, value: float, step: int = 0) -> None:
    _post(
        client,
        "/api/2.0/mlflow/runs/log-metric",
        {"run_id": run_id, "key": key, "value": value, "timestamp": 1, "step": step},
    )


def _signed_bodies(receiver: Receiver, event: str, count: int) -> list[dict[str, Any]]:
    def arrived() -> list[Any] | None:
        entity, action = event.split(".")
        found = [
            r for r in receiver.requests() if (r.json()["entity"], r.json()["action"]) == (entity, action)
        ]
        return found if len(found) >= count else None

    requests = wait_for(arrived, what=f"{count} {event} deliveries")
    for request in requests:
        headers = request.headers
        assert headers["x-mlflow-signature"] == expected_signature(
            SECRET, headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], request.body
        )
    return [r.json() for r in requests]


def test_a_failed_run_fires_a_signed_run_failed_webhook_once(client: TestClient, receiver: Receiver) -> None:
    create_hook(client, receiver.url, ["run.failed"], secret=SECRET)
    experiment = _post(client, "/api/2.0/mlflow/experiments/create", {"name": "alerts"})["experiment_id"]
    failing, finishing = _run(client, experiment), _run(client, experiment)
    _post(client, "/api/2.0/mlflow/runs/update", {"run_id": finishing, "status": "FINISHED"})
    _post(client, "/api/2.0/mlflow/runs/update", {"run_id": failing, "status": "FAILED", "end_time": 42})
    # Setting FAILED again is not a new failure.
    _post(client, "/api/2.0/mlflow/runs/update", {"run_id": failing, "status": "FAILED"})
    [body] = _signed_bodies(receiver, "run.failed", 1)
    assert body["data"]["run_id"] == failing and body["data"]["experiment_id"] == experiment
    assert body["data"]["status"] == "FAILED" and body["data"]["end_time"] == 42
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.db.read() as conn:
        queued = conn.execute(
            sa.text("SELECT count(*) FROM webhook_deliveries WHERE event = 'run.failed'")
        ).scalar()
    assert queued == 1


def test_threshold_rules_fire_once_per_run_and_only_across_the_threshold(
    client: TestClient, receiver: Receiver
) -> None:
    create_hook(client, receiver.url, ["metric.threshold"], secret=SECRET)
    services = client.app.state.services  # type: ignore[attr-defined]
    experiment = _post(client, "/api/2.0/mlflow/experiments/create", {"name": "thresholds"})["experiment_id"]
    other = _post(client, "/api/2.0/mlflow/experiments/create", {"name": "elsewhere"})["experiment_id"]
    rule = _post(
        client,
        f"{RULES}/create",
        {"experiment_id": experiment, "metric_key": "val_loss", "comparison": ">", "threshold": 1.5},
    )["alert_rule"]
    assert (rule["comparison"], rule["threshold"], rule["status"]) == (">", 1.5, "ACTIVE")
    hot, cool, elsewhere = _run(client, experiment), _run(client, experiment), _run(client, other)
    _metric(client, hot, "val_loss", 0.9)
    _metric(client, hot, "val_loss", 2.5, step=1)  # the latest value crosses
    _metric(client, cool, "val_loss", 1.5)  # equal is not above
    _metric(client, elsewhere, "val_loss", 9.0)  # another experiment
    assert services.alerts.watcher.check_now() == 1
    _metric(client, hot, "val_loss", 3.5, step=2)
    assert services.alerts.watcher.check_now() == 0, "a rule fires once per run"
    [body] = _signed_bodies(receiver, "metric.threshold", 1)
    assert body["data"] == {
        "rule_id": rule["rule_id"], "experiment_id": experiment, "run_id": hot, "metric_key": "val_loss",
        "comparison": ">", "threshold": 1.5, "value": 2.5,
    }  # fmt: skip
    with services.db.read() as conn:
        actions = [row.action for row in conn.execute(sa.select(audit_log.c.action))]
    assert "alerts.metric_threshold" in actions and "alerts.create_alert_rule" in actions


def test_the_background_watcher_fires_without_being_asked(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, receiver: Receiver
) -> None:
    client = make_client(hook_config(server_config, alert_check_seconds=0.2))
    create_hook(client, receiver.url, ["metric.threshold"], secret=SECRET)
    experiment = _post(client, "/api/2.0/mlflow/experiments/create", {"name": "bg"})["experiment_id"]
    _post(
        client,
        f"{RULES}/create",
        {"experiment_id": experiment, "metric_key": "acc", "comparison": "<", "threshold": 0.5},
    )
    run_id = _run(client, experiment)
    _metric(client, run_id, "acc", 0.2)
    [body] = _signed_bodies(receiver, "metric.threshold", 1)
    assert body["data"]["run_id"] == run_id and body["data"]["value"] == 0.2


def test_rule_api_validates_lists_and_deletes(client: TestClient) -> None:
    experiment = _post(client, "/api/2.0/mlflow/experiments/create", {"name": "rules"})["experiment_id"]
    for bad, word in (
        ({"experiment_id": experiment, "metric_key": "m", "comparison": "!=", "threshold": 1}, "comparison"),
        ({"experiment_id": experiment, "metric_key": "m", "comparison": ">"}, "threshold"),
        ({"experiment_id": experiment, "comparison": ">", "threshold": 1}, "metric_key"),
        ({"metric_key": "m", "comparison": ">", "threshold": 1}, "experiment_id"),
    ):
        answer = client.post(f"{RULES}/create", json=bad)
        assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", (
            answer.text
        )
        assert word in answer.json()["message"]
    missing = client.post(
        f"{RULES}/create", json={"experiment_id": "999", "metric_key": "m", "comparison": ">", "threshold": 1}
    )
    assert missing.status_code == 404
    rule = _post(
        client,
        f"{RULES}/create",
        {"experiment_id": int(experiment), "metric_key": "m", "comparison": "<=", "threshold": -2},
    )["alert_rule"]
    listed = client.get(f"{RULES}/list", params={"experiment_id": experiment}).json()["alert_rules"]
    assert [r["rule_id"] for r in listed] == [rule["rule_id"]]
    assert client.get(f"{RULES}/list", params={"experiment_id": "0"}).json()["alert_rules"] == []
    # Named with the wrong experiment, a rule is not found.
    assert (
        client.post(f"{RULES}/delete", json={"experiment_id": "0", "rule_id": rule["rule_id"]}).status_code
        == 404
    )
    _post(client, f"{RULES}/delete", {"experiment_id": experiment, "rule_id": rule["rule_id"]})
    gone = client.get(f"{RULES}/get", params={"experiment_id": experiment, "rule_id": rule["rule_id"]})
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_alert_rules_cli_on_the_store(server_config: ServerConfig, tmp_path: Path) -> None:
    from ledgerflow.tracking.services import build_services
    from tests.cli.conftest import invoke

    store = ["--backend-store-uri", server_config.backend_store_uri, "--artifacts-destination", str(tmp_path / "a"),
             "--audit-signing-key", str(tmp_path / "audit.key")]  # fmt: skip
    created = invoke(["alerts", "create", *store, "0", "loss", ">=", "3"])
    assert created.exit_code == 0, created.stderr
    rule_id = created.stdout.strip()
    listed = invoke(["alerts", "list", *store])
    assert listed.exit_code == 0 and listed.stdout.strip().split("\t") == [
        rule_id,
        "0",
        "loss",
        ">=",
        "3",
        "ACTIVE",
    ]
    bad = invoke(["alerts", "create", *store, "nope", "loss", ">", "1"])
    assert bad.exit_code == 2 and "Experiment ID must be a valid integer" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert invoke(["alerts", "delete", *store, "no-such-rule"]).exit_code == 4
    deleted = invoke(["alerts", "delete", *store, rule_id])
    assert deleted.exit_code == 0, deleted.stderr
    services = build_services(replace(server_config, audit_signing_key_path=str(tmp_path / "audit.key")))
    try:
        assert services.alerts.rules.list(None) == []
    finally:
        services.close()
