"""governance.md check 14 (service): production windows become metric history on the
monitoring run, a drift rule fires an HMAC-signed ``drift.alert`` webhook to a loopback
receiver, and the CLI and bad requests behave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ledgerflow.client.client import Client
from ledgerflow.config import ServerConfig
from ledgerflow.errors import RestError
from ledgerflow.governance.monitoring import client as monitoring
from tests.cli.conftest import invoke
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE
from tests.webhooks.support import (
    Receiver,
    expected_signature,
    hook_config,
    receiver_fixture,
    wait_for,
)

receiver = pytest.fixture(receiver_fixture)
N = 3000


def _frame(seed: int, shift: float = 0.0, probabilities: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, N),
            "income": rng.lognormal(10, 0.5, N),
            "region": rng.choice(["north", "south", "east"], N, p=list(probabilities)),
        }
    )


@pytest.fixture
def server(make_live_server: object, server_config: ServerConfig) -> Iterator[LiveServer]:
    live = make_live_server(hook_config(server_config))  # type: ignore[operator]
    client = Client(live.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "churn"})
    client.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": "churn", "source": SOURCE})
    yield live


def test_windows_become_metric_history_and_an_alert_is_delivered(
    server: LiveServer, receiver: Receiver
) -> None:
    api = server.app.state.services
    hook = Client(server.url).transport.call(
        "POST",
        "/2.0/mlflow/webhooks",
        {"name": "drift", "url": receiver.url + "/drift", "events": ["drift.alert"], "secret": "s3cret"},
    )["webhook"]
    reference = monitoring.set_reference(
        "churn",
        1,
        _frame(1),
        settings={"alert": {"share_drifted": 0.5, "consecutive_windows": 1}},
        tracking_uri=server.url,
    )
    assert reference["features"] == {"age": "numeric", "income": "numeric", "region": "categorical"}
    run_id = reference["monitoring_run_id"]

    quiet = monitoring.log_batch("churn", 1, _frame(2), window_time=1_000, tracking_uri=server.url)
    assert quiet["window"] == 0 and quiet["drifted_features"] == [] and not quiet["alert"]
    shifted = _frame(3, shift=0.3, probabilities=(0.2, 0.3, 0.5))
    loud = monitoring.log_batch("churn", 1, shifted, window_time=2_000, tracking_uri=server.url)
    assert loud["window"] == 1 and loud["alert"]
    assert set(loud["drifted_features"]) == {"age", "region"}

    client = Client(server.url)
    history = client.get_metric_history(run_id, "drift.wasserstein_normed.age")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1_000), (1, 2_000)]
    assert history[0].value < 0.1 <= history[1].value
    share = client.get_metric_history(run_id, "drift.share_drifted")
    assert [m.value for m in share] == [0.0, pytest.approx(2 / 3)]
    assert [m.value for m in client.get_metric_history(run_id, "drift.psi.region")][1] >= 0.1

    (request,) = wait_for(lambda: receiver.requests("/drift"), what="the drift.alert delivery")
    body = request.json()
    assert (body["entity"], body["action"]) == ("drift", "alert")
    assert body["data"]["name"] == "churn" and body["data"]["window"] == 1
    assert set(body["data"]["drifted_features"]) == {"age", "region"}
    headers = request.headers
    assert headers["x-mlflow-signature"] == expected_signature(
        "s3cret", headers["x-mlflow-delivery-id"], headers["x-mlflow-timestamp"], request.body
    )
    version = client.transport.call(
        "GET", "/2.0/mlflow/model-versions/get", {"name": "churn", "version": "1"}
    )
    tags = {t["key"]: t["value"] for t in version["model_version"].get("tags", [])}
    assert tags["monitoring.status"] == "degraded"
    assert hook["webhook_id"]
    assert len(api.monitoring.drift.list_windows("churn", "1", None)["windows"]) == 2
    audit = client.transport.call("GET", "/2.0/ledgerflow/audit/records", {"resource": "churn/1"})["records"]
    batches = {r["request_id"] for r in audit if r["action"] == "monitoring.log_monitoring_batch"}
    assert len(batches) == 2  # the alerting batch has a second part: its queued webhook delivery
    assert [r["action"] for r in audit].count("monitoring.set_reference_profile") == 1


def test_consecutive_window_rule_waits_for_the_second_window(server: LiveServer) -> None:
    monitoring.set_reference(
        "churn", 1, _frame(1), settings={"alert": {"consecutive_windows": 2}}, tracking_uri=server.url
    )
    shifted = _frame(5, shift=0.5, probabilities=(0.2, 0.3, 0.5))
    first = monitoring.log_batch("churn", 1, shifted, tracking_uri=server.url)
    second = monitoring.log_batch("churn", 1, shifted, tracking_uri=server.url)
    assert first["share_drifted"] >= 0.3 and not first["alert"]
    assert second["alert"]


def test_bad_monitoring_requests_are_refused(server: LiveServer) -> None:
    client = Client(server.url)
    call = client.transport.call
    with pytest.raises(RestError) as no_reference:
        monitoring.log_batch("churn", 1, _frame(2), tracking_uri=server.url)
    assert no_reference.value.error_code == "RESOURCE_DOES_NOT_EXIST" and "no reference profile" in str(
        no_reference.value
    )
    for body in (
        {"profile": {"format": 1, "row_count": 3, "features": {}}},
        {"profile": "nope"},
        {"profile": None},
    ):
        with pytest.raises(RestError) as refused:
            call(
                "POST", "/2.0/ledgerflow/monitoring/reference/set", {"name": "churn", "version": "1", **body}
            )
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    monitoring.set_reference("churn", 1, _frame(1), tracking_uri=server.url)
    for columns in (
        {},
        {"age": [1.0, 2.0], "income": [1.0]},
        {"age": ["x"], "income": [1.0], "region": ["a"]},
    ):
        with pytest.raises(RestError) as refused:
            call(
                "POST",
                "/2.0/ledgerflow/monitoring/log-batch",
                {"name": "churn", "version": "1", "columns": columns},
            )
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE" and refused.value.http_status == 400
    windows = call("GET", "/2.0/ledgerflow/monitoring/windows", {"name": "churn", "version": "1"})
    assert windows["windows"] == []  # nothing half-written


def test_cli_sets_a_reference_and_logs_batches(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/store.db"
    client = Client(store)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "m"})
    client.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": "m", "source": SOURCE})
    client.close()
    train, batch = tmp_path / "train.csv", tmp_path / "batch.csv"
    _frame(1).assign(y=1).to_csv(train, index=False)
    _frame(9, shift=0.3, probabilities=(0.2, 0.3, 0.5)).to_csv(batch, index=False)
    made = invoke(
        [
            "monitor",
            "set-reference",
            "-n",
            "m",
            "-v",
            "1",
            "--data",
            str(train),
            "--exclude",
            "y",
            "--source",
            "training",
            "--tracking-uri",
            store,
        ]
    )
    assert made.exit_code == 0, made.stderr
    assert "age (numeric)" in made.stdout and "y (" not in made.stdout
    logged = invoke(
        ["monitor", "log-batch", "-n", "m", "-v", "1", "--data", str(batch), "--tracking-uri", store]
    )
    assert logged.exit_code == 0, logged.stderr
    assert "Window 0: 2/3 features drifted" in logged.stdout and "ALERT" in logged.stdout
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    failed = invoke(
        ["monitor", "log-batch", "-n", "m", "-v", "1", "--data", str(empty), "--tracking-uri", store]
    )
    assert failed.exit_code != 0 and failed.stderr.startswith("Error:") and "is empty" in failed.stderr
