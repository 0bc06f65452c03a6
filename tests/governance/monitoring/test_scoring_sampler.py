"""Sampled scoring-server requests become drift-monitoring windows (``ledgerflow models
serve --monitor-sample-rate``), without ever delaying or failing a prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from ledgerflow.client.client import Client
from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.monitoring import client as monitoring
from ledgerflow.governance.monitoring.sampler import RequestSampler, SamplerSettings, client_sender
from ledgerflow.models.flavors.sklearn import save_model
from ledgerflow.models.pyfunc_model import load_model
from ledgerflow.models.scoring.app import create_scoring_app
from tests.cli.conftest import invoke
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    frame = _frame(200, 0)
    save_model(LogisticRegression().fit(frame, (frame["a"] > 0).astype(int)), str(tmp_path / "model"))
    return tmp_path / "model"


def _score(app: Any, frame: pd.DataFrame) -> None:
    with TestClient(app) as http:
        answer = http.post("/invocations", json={"dataframe_split": frame.to_dict(orient="split")})
        assert answer.status_code == 200, answer.text


def test_scored_rows_are_sent_as_windows(live_server: LiveServer, model_dir: Path) -> None:
    client = Client(live_server.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "s"})
    client.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": "s", "source": SOURCE})
    monitoring.set_reference("s", 1, _frame(2000, 1), tracking_uri=live_server.url)

    sampler = RequestSampler(
        SamplerSettings(rate=1.0, batch_rows=100), client_sender("s", "1", live_server.url)
    )
    app = create_scoring_app(load_model(str(model_dir)), observe=sampler.offer)
    for seed in range(3):
        _score(app, _frame(50, 10 + seed))
    sampler.close()
    windows = monitoring.windows("s", 1, tracking_uri=live_server.url)
    assert [(w["source"], w["row_count"]) for w in windows] == [
        ("scoring-server", 100),
        ("scoring-server", 50),
    ]
    assert sampler.sent == 2 and sampler.dropped == 0

    half = RequestSampler(
        SamplerSettings(rate=0.5, batch_rows=10_000, seed=3), client_sender("s", "1", live_server.url)
    )
    app = create_scoring_app(load_model(str(model_dir)), observe=half.offer)
    _score(app, _frame(400, 20))
    half.close()
    sampled = monitoring.windows("s", 1, tracking_uri=live_server.url)[-1]["row_count"]
    assert 150 < sampled < 250


def test_an_unreachable_tracking_server_never_fails_scoring(model_dir: Path) -> None:
    sampler = RequestSampler(
        SamplerSettings(rate=1.0, batch_rows=10), client_sender("s", "1", "http://127.0.0.1:9")
    )
    app = create_scoring_app(load_model(str(model_dir)), observe=sampler.offer)
    _score(app, _frame(20, 1))
    sampler.close()
    assert sampler.sent == 0 and sampler.dropped == 1


def test_bad_sampler_settings_and_cli_without_a_version(model_dir: Path) -> None:
    with pytest.raises(InvalidParameter, match="sample rate"):
        SamplerSettings(rate=1.5)
    answer = invoke(["models", "serve", "-m", str(model_dir), "--port", "0", "--monitor-sample-rate", "0.1"])
    assert answer.exit_code != 0
    assert "--monitor-sample-rate needs a models:/<name>/<version> URI" in answer.stderr
