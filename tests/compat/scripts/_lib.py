"""Helpers shared by the compat client scripts.

These scripts run inside the stock-MLflow venvs (never inside the Ledgerflow venv), so they
import only mlflow and its dependencies. Each prints exactly one result line prefixed with
``COMPAT-RESULT `` holding JSON; everything else on stdout/stderr is client noise.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import mlflow

PREFIX = "COMPAT-RESULT "
MLFLOW3 = mlflow.__version__.startswith("3.")


def jsonable(value: Any) -> Any:
    """Make a value strict-JSON-safe; non-finite floats become their MLflow wire spelling."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return value


def emit(result: dict[str, Any]) -> None:
    result = {"client_version": mlflow.__version__, **result}
    sys.stdout.write(PREFIX + json.dumps(jsonable(result), sort_keys=True, allow_nan=False) + "\n")
    sys.stdout.flush()


def run_info(info: Any) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }


def run_dict(run: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "info": run_info(run.info),
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
    }
    inputs = getattr(run, "inputs", None)
    if inputs is not None:
        out["dataset_inputs"] = [
            {
                "tags": {t.key: t.value for t in di.tags},
                "name": di.dataset.name,
                "digest": di.dataset.digest,
                "source_type": di.dataset.source_type,
                "source": di.dataset.source,
                "schema": di.dataset.schema,
                "profile": di.dataset.profile,
            }
            for di in inputs.dataset_inputs
        ]
        model_inputs = getattr(inputs, "model_inputs", None)
        if model_inputs:
            out["model_inputs"] = [m.model_id for m in model_inputs]
    outputs = getattr(run, "outputs", None)
    if outputs is not None and getattr(outputs, "model_outputs", None):
        out["model_outputs"] = [{"model_id": m.model_id, "step": m.step} for m in outputs.model_outputs]
    return out


def metric_dict(metric: Any) -> dict[str, Any]:
    out = {"key": metric.key, "value": metric.value, "timestamp": metric.timestamp, "step": metric.step}
    for extra in ("model_id", "dataset_name", "dataset_digest", "run_id"):
        value = getattr(metric, extra, None)
        if value is not None:
            out[extra] = value
    return out


def file_infos(infos: Any) -> list[dict[str, Any]]:
    return sorted(
        ({"path": f.path, "is_dir": f.is_dir, "file_size": f.file_size} for f in infos),
        key=lambda f: f["path"],
    )


def error_code(error: BaseException) -> str:
    return str(getattr(error, "error_code", type(error).__name__))
