"""Params, metrics, tags and inputs through the fluent API and the low-level client."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from ledgerflow.client.entities import Metric, Param, RunTag
from ledgerflow.config import ServerConfig
from ledgerflow.errors import RestError
from ledgerflow.server.app import create_app
from tests.client.conftest import ThreadServer


class CountingApp:
    """The real app, counting the API paths it is asked for (and the body sizes of batches)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[str] = []
        self.batches: list[dict[str, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        self.calls.append(path)
        if not path.endswith("/runs/log-batch"):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.loads(b"".join(chunks))
        self.batches.append({k: len(body.get(k, [])) for k in ("metrics", "params", "tags")})
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def counted(tmp_path: Path, serve: Callable[..., ThreadServer]) -> CountingApp:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'count.db'}", artifacts_destination=str(tmp_path / "a")
    )
    app = CountingApp(create_app(config))
    ledgerflow.set_tracking_uri(serve(app).url)
    return app


def test_log_metrics_params_tags_make_one_batch_each(counted: CountingApp) -> None:
    with ledgerflow.start_run() as run:
        counted.batches.clear()
        ledgerflow.log_metrics({"a": 1, "b": 2})
        ledgerflow.log_params({"p": 1, "q": "x"})
        ledgerflow.set_tags({"t": "v"})
        assert counted.batches == [
            {"metrics": 2, "params": 0, "tags": 0},
            {"metrics": 0, "params": 2, "tags": 0},
            {"metrics": 0, "params": 0, "tags": 1},
        ]
    data = ledgerflow.get_run(run.info.run_id).data
    assert data.metrics == {"a": 1.0, "b": 2.0}
    assert data.params == {"p": "1", "q": "x"}
    assert data.tags["t"] == "v"


def test_large_batches_are_split_within_the_limits(counted: CountingApp) -> None:
    with ledgerflow.start_run() as run:
        counted.batches.clear()
        ledgerflow.log_metrics({f"m{i}": i for i in range(2500)})
        assert [b["metrics"] for b in counted.batches] == [1000, 1000, 500]
        counted.batches.clear()
        ledgerflow.log_params({f"p{i}": i for i in range(250)})
        assert [b["params"] for b in counted.batches] == [100, 100, 50]
        counted.batches.clear()
        ledgerflow.set_tags({f"t{i}": i for i in range(150)})
        assert [b["tags"] for b in counted.batches] == [100, 50]
    data = ledgerflow.get_run(run.info.run_id).data
    assert len(data.metrics) == 2500 and len(data.params) == 250
    assert data.tags["t149"] == "149"


def test_mixed_client_batch_keeps_the_entity_total_within_1000(tracking_uri: str) -> None:
    client = ledgerflow.Client(tracking_uri)
    run = client.create_run("0")
    metrics = [Metric(f"m{i}", float(i), 1, 0) for i in range(1000)]
    params = [Param(f"p{i}", "v") for i in range(100)]
    tags = [RunTag(f"t{i}", "v") for i in range(100)]
    client.log_batch(run.info.run_id, metrics, params, tags)
    data = client.get_run(run.info.run_id).data
    user_tags = [k for k in data.tags if not k.startswith("mlflow.")]
    assert (len(data.metrics), len(data.params), len(user_tags)) == (1000, 100, 100)
    client.close()


def test_metric_history_with_steps_timestamps_and_nan(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with ledgerflow.start_run() as run:
        ledgerflow.log_metric("loss", 0.5, step=1, timestamp=1_700_000_000_000)
        ledgerflow.log_metric("loss", 0.25, step=2, timestamp=1_700_000_001_000)
        ledgerflow.log_metric("odd", float("nan"))
        ledgerflow.log_metrics({"big": float("inf")}, step=3)
    client = ledgerflow.Client(tracking_uri)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (1, 1_700_000_000_000, 0.5),
        (2, 1_700_000_001_000, 0.25),
    ]
    metrics = ledgerflow.get_run(run.info.run_id).data.metrics
    assert metrics["loss"] == 0.25
    assert math.isnan(metrics["odd"])
    assert metrics["big"] >= 1.7976931348623157e308
    client.close()


def test_changing_a_param_is_an_error_with_the_server_code(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with ledgerflow.start_run():
        ledgerflow.log_param("lr", 0.1)
        ledgerflow.log_param("lr", 0.1)
        with pytest.raises(RestError) as caught:
            ledgerflow.log_param("lr", 0.2)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in caught.value.message


def test_log_input_with_a_pandas_dataset_and_a_dict(tracking_uri: str) -> None:
    import pandas as pd

    ledgerflow.set_tracking_uri(tracking_uri)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    dataset = ledgerflow.data.from_pandas(frame, source="/data/train.csv", name="train")
    with ledgerflow.start_run() as run:
        ledgerflow.log_input(dataset, context="training")
        ledgerflow.log_input({"name": "eval", "digest": "abc123", "source": {"uri": "s3://b/e"}})
    inputs = ledgerflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {d.name: d for d in inputs}
    assert set(by_name) == {"train", "eval"}
    train = by_name["train"]
    assert train.digest == dataset.digest and len(train.digest) == 8
    assert train.tags == {"mlflow.data.context": "training"}
    assert json.loads(train.source) == {"uri": "/data/train.csv"}
    assert json.loads(train.profile or "{}") == {"num_rows": 3, "num_elements": 6}
    columns = json.loads(train.schema or "{}")["mlflow_colspec"]
    assert [(c["name"], c["type"]) for c in columns] == [("x", "double"), ("y", "long")]
    assert json.loads(by_name["eval"].source) == {"uri": "s3://b/e"}


def test_dataset_digest_follows_the_data() -> None:
    import pandas as pd

    a = ledgerflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}))
    b = ledgerflow.data.from_pandas(pd.DataFrame({"x": [1, 3]}))
    assert a.digest != b.digest
    assert a.digest == ledgerflow.data.from_pandas(pd.DataFrame({"x": [1, 2]})).digest
