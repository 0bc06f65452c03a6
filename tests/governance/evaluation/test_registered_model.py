"""``ledgerflow evaluate -m models:/<name>@<alias>`` on a model logged and registered on a live
server: the alias resolves to its version, the evaluation run lands in the source run's
experiment, and the version's facts carry the numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import ledgerflow
import ledgerflow.sklearn
from ledgerflow.client.client import Client
from tests.cli.conftest import invoke
from tests.conftest import LiveServer


@pytest.fixture(autouse=True)
def clean_fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for variable in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)
    yield
    ledgerflow.end_run()


def _data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"x0": rng.normal(size=300), "x1": rng.normal(size=300), "sex": rng.choice(["f", "m"], 300)}
    )
    frame["y"] = (frame["x0"] > 0).astype(int)
    return frame


def test_evaluate_a_registered_model_by_alias(live_server: LiveServer, tmp_path: Path) -> None:
    train = _data(0)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(train[["x0", "x1"]], train["y"])
    ledgerflow.set_tracking_uri(live_server.url)
    experiment_id = ledgerflow.set_experiment("credit-models").experiment_id
    with ledgerflow.start_run():
        ledgerflow.sklearn.log_model(model, name="model", registered_model_name="credit")
    client = Client(live_server.url)
    client.transport.call(
        "POST",
        "/2.0/mlflow/registered-models/alias",
        {"name": "credit", "alias": "candidate", "version": "1"},
    )
    holdout = tmp_path / "holdout.csv"
    _data(1).to_csv(holdout, index=False)

    answer = invoke(
        [
            "evaluate",
            "-m",
            "models:/credit@candidate",
            "--data",
            str(holdout),
            "--target",
            "y",
            "--sensitive",
            "sex",
            "--n-boot",
            "0",
            "--json",
            "--tracking-uri",
            live_server.url,
        ]
    )
    assert answer.exit_code == 0, answer.stderr
    result: dict[str, Any] = json.loads(answer.stdout)
    assert (result["name"], result["version"]) == ("credit", "1")
    assert result["metrics"]["roc_auc"] > 0.9 and "demographic_parity_ratio.sex" in result["fairness"]
    run = client.get_run(result["run_id"])
    assert run.info.experiment_id == str(experiment_id)
    facts = live_server.app.state.services.facts.collect("credit", 1)["evaluation"]
    assert facts["evaluation_id"] == result["evaluation_id"]
    assert facts["metrics"]["roc_auc"] == pytest.approx(result["metrics"]["roc_auc"])
