"""The stock MLflow clients (3.x and 2.22 lines) against a live Ledgerflow server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.compat.conftest import ClientVenv, RunScript

pytestmark = pytest.mark.compat


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


MODEL_FILES = {"MLmodel", "conda.yaml", "model.pkl", "python_env.yaml", "requirements.txt"}


def test_seed_flow(any_venv: ClientVenv, run_against_ours: RunScript, tmp_path: Any) -> None:
    result = run_against_ours(any_venv, "seed_flow.py", unique("iris-seed"), str(tmp_path / "work"))
    run_id, experiment_id = result["run_id"], result["experiment_id"]
    run = result["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["lifecycle_stage"] == "active"
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert run["info"]["user_id"] == "compat-user"
    assert run["info"]["end_time"] >= run["info"]["start_time"] > 0
    assert run["params"] == {"model_type": "RandomForest"}
    assert run["metrics"] == {"accuracy": result["accuracy"]}
    assert run["tags"]["mlflow.runName"] == run["info"]["run_name"] != ""
    assert run["tags"]["mlflow.user"] == "compat-user"
    assert run["tags"]["mlflow.source.type"] == "LOCAL"

    assert [r["info"]["run_id"] for r in result["search"]] == [run_id]
    assert result["search"][0] == run
    assert [(m["key"], m["value"], m["step"]) for m in result["history"]] == [
        ("accuracy", result["accuracy"], 0)
    ]
    assert {"path": "notes.txt", "is_dir": False, "file_size": 16} in result["artifacts_root"]
    assert {f["path"] for f in result["artifacts_model"]} >= {f"model/{name}" for name in MODEL_FILES}
    assert result["notes_content"] == "trained on iris\n"
    assert set(result["model_files"]) >= MODEL_FILES
    assert result["predictions"] == result["expected_predictions"]

    if any_venv.is_mlflow3:
        model_id = result["model_id"]
        logged = result["logged_model"]
        assert logged["status"] == "READY"
        assert logged["name"] == "model"
        assert logged["source_run_id"] == run_id
        assert logged["artifact_location"] == f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"
        assert logged["params"] == {"model_type": "RandomForest"}
        # log_model copies the run's metrics onto the model through log-batch with model_id.
        assert [(m["key"], m["value"], m.get("model_id")) for m in logged["metrics"]] == [
            ("accuracy", result["accuracy"], model_id)
        ]
        assert run["model_outputs"] == [{"model_id": model_id, "step": 0}]
        assert result["predictions_by_model_id"] == result["expected_predictions"]
    else:
        assert {"path": "model", "is_dir": True, "file_size": None} in result["artifacts_root"]


def test_legacy_client_records_logged_model(
    mlflow222_venv: ClientVenv, run_against_ours: RunScript, tmp_path: Any
) -> None:
    # 2.x clients record each logged model through runs/log-model; the server keeps them in
    # the run's mlflow.log-model.history tag (a JSON list), which 2.x UIs and tools read.
    result = run_against_ours(mlflow222_venv, "seed_flow.py", unique("iris-legacy"), str(tmp_path / "work"))
    history = json.loads(result["run"]["tags"]["mlflow.log-model.history"])
    assert [(h["run_id"], h["artifact_path"]) for h in history] == [(result["run_id"], "model")]
    assert history[0]["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"


def test_extra_client_calls(any_venv: ClientVenv, run_against_ours: RunScript) -> None:
    result = run_against_ours(any_venv, "extras.py", unique("extras"))
    ids = result["ids"]
    parent, child, batch = result["parent"], result["child"], result["batch"]

    assert child["tags"]["mlflow.parentRunId"] == ids["parent"]
    assert child["metrics"] == {"c": 1.0}
    assert parent["params"] == {"a": "1", "b": "x"}
    assert parent["metrics"] == {
        "m1": 0.1,
        "m2": 0.2,
        "loss": 0.2,
        "weird_nan": "NaN",
        "weird_inf": 1.7976931348623157e308,
    }
    assert parent["tags"]["k"] == "v" and parent["tags"]["team"] == "vision"
    assert "temporary" not in parent["tags"]
    assert [(m["step"], m["value"]) for m in result["loss_history"]] == [
        (step, 1.0 / (step + 1)) for step in range(5)
    ]

    [dataset] = parent["dataset_inputs"]
    assert dataset["name"] == "tiny"
    assert dataset["source_type"] == "code"
    assert dataset["tags"] == {"mlflow.data.context": "training"}
    assert json.loads(dataset["profile"]) == {"num_rows": 3, "num_elements": 9}
    assert [c["name"] for c in json.loads(dataset["schema"])["mlflow_colspec"]] == ["x1", "x2", "target"]

    assert batch["info"]["status"] == "KILLED"
    assert batch["params"] == {"p1": "v1", "p2": "v2"}
    assert batch["tags"]["t1"] == "v1"
    assert batch["metrics"] == {"x": 24.5}
    assert result["x_history_len"] == 50
    assert result["param_overwrite"] == "INVALID_PARAMETER_VALUE"

    everyone = ["batch", "child", "parent"]
    assert result["active_before"] == everyone
    assert result["after_delete"] == {
        "active": ["batch", "parent"],
        "deleted": ["child"],
        "all": everyone,
        "child_stage": "deleted",
    }
    assert result["after_restore"] == everyone
    assert result["searches"] == {
        "children": ["child"],
        "loss_lt_1": ["parent"],
        "param_a": ["parent"],
        "tag_like": ["parent"],
        "run_name": ["batch"],
        "status_killed": ["batch"],
        # Runs without the metric sort last; ties fall back to start_time DESC.
        "by_x_desc": ["batch", "child", "parent"],
        "by_name": ["batch", "child", "parent"],
    }
    assert result["bad_filter"] == "INVALID_PARAMETER_VALUE"
    assert result["unknown_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert result["pages"] == [["batch", "child"], ["parent"], False]
    assert result["config_json"] == {"lr": 0.1}
    assert result["notes_text"] == "hello"


def test_failed_model_upload_marks_model_and_run(any_venv: ClientVenv, run_against_ours: RunScript) -> None:
    result = run_against_ours(any_venv, "failure.py", unique("failures"))
    run = result["run"]
    assert run["info"]["status"] == "FAILED"
    assert run["info"]["end_time"] >= run["info"]["start_time"]
    assert run["metrics"] == {"accuracy": 0.5}
    if any_venv.is_mlflow3:
        assert result["raised"] == "MlflowException"
        assert result["logged_models"] == [
            {"name": "model", "status": "FAILED", "source_run_id": run["info"]["run_id"]}
        ]
    else:
        assert result["raised"] == "Unsaveable"
