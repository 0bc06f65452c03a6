"""Evaluations, reference profiles and drift windows on every backend (SQLite, PostgreSQL,
MariaDB): stored, numbered, listed, and removed with their model version."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ledgerflow.governance.monitoring.client import batch_body
from ledgerflow.governance.monitoring.profile import build_profile
from ledgerflow.store.governance.monitoring_schema import (
    governance_drift_windows,
    governance_evaluations,
    governance_reference_profiles,
)
from tests.conftest import Api
from tests.store.registry_support import create_model, create_version

_LF = "/api/2.0/ledgerflow"


def _post(api: Api, path: str, body: dict[str, Any]) -> Any:
    response = api.client.post(f"{_LF}/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _get(api: Api, path: str, params: dict[str, Any]) -> Any:
    response = api.client.get(f"{_LF}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _frame(seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, 2000),
            "c": rng.choice(["a", "b"], 2000, p=[0.5 + shift / 2, 0.5 - shift / 2]),
        }
    )


def test_monitoring_tables_round_trip(api: Api) -> None:
    create_model(api, "m")
    create_version(api, "m")
    evaluation = _post(
        api,
        "evaluations/create",
        {
            "name": "m",
            "version": "1",
            "task": "classification",
            "row_count": 10,
            "metrics": {"accuracy": 0.9},
            "fairness": {"demographic_parity_ratio.sex": 0.85},
            "fairness_status": {"sex": "ok"},
            "dataset_digest": "ab" * 32,
            "report": {"k": [1, 2]},
        },
    )["evaluation"]
    listed = _get(api, "evaluations/list", {"name": "m", "version": "1", "with_report": "true"})[
        "evaluations"
    ]
    assert [e["evaluation_id"] for e in listed] == [evaluation["evaluation_id"]]
    assert listed[0]["report"] == {"k": [1, 2]} and listed[0]["fairness"] == {
        "demographic_parity_ratio.sex": 0.85
    }

    reference = _post(
        api,
        "monitoring/reference/set",
        {"name": "m", "version": "1", "profile": build_profile(_frame(1, 0.0))},
    )["reference"]
    assert reference["next_window"] == 0
    windows = [
        _post(api, "monitoring/log-batch", {"name": "m", "version": "1", **batch_body(_frame(s, shift))})[
            "window"
        ]
        for s, shift in ((2, 0.0), (3, 0.4))
    ]
    assert [w["window"] for w in windows] == [0, 1] and [w["alert"] for w in windows] == [False, True]
    stored = _get(api, "monitoring/windows", {"name": "m", "version": "1"})["windows"]
    assert [(w["window"], w["alert"]) for w in stored] == [(0, False), (1, True)]
    assert stored[1]["results"]["drifted_features"] == ["x", "c"]
    again = _get(api, "monitoring/reference/get", {"name": "m", "version": "1", "with_profile": "true"})[
        "reference"
    ]
    assert again["next_window"] == 2 and again["profile"]["row_count"] == 2000

    # Deleting the version removes its monitoring rows with it.
    deleted = api.client.request(
        "DELETE", "/api/2.0/mlflow/model-versions/delete", json={"name": "m", "version": "1"}
    )
    assert deleted.status_code == 200
    db = api.client.app.state.services.db  # type: ignore[attr-defined]
    with db.read() as conn:
        for table in (governance_evaluations, governance_reference_profiles, governance_drift_windows):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0, table.name
    create_version(api, "m")
    missing = api.client.get(f"{_LF}/monitoring/reference/get", params={"name": "m", "version": "2"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
