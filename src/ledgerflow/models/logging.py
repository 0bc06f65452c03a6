"""``log_model``: a model saved by a flavor becomes a logged model, in MLflow 3's order.

The sequence is the one the 3.x client follows (wire spec §2 steps 10-23): read the run,
create the logged model (PENDING) with the run's params, link it as a run output, copy the
run's metrics onto it, save the directory with the model's id and artifact URI in MLmodel,
upload each file to the model's ``artifact_uri``, and finalize READY (UPLOAD_FAILED when any
step after creation fails). Optional registration follows (steps 24-25).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import RestError
from ledgerflow.models.mlmodel import Model
from ledgerflow.models.signature import ModelSignature

if TYPE_CHECKING:
    from ledgerflow.client.client import Client


@dataclass
class ModelInfo:
    model_id: str
    name: str
    model_uri: str
    artifact_uri: str
    run_id: str | None
    signature: ModelSignature | None
    flavors: dict[str, Any]
    registered_model_version: str | None = None

    @property
    def artifact_path(self) -> str:
        return self.name


def _api(client: Client, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return client.transport.call(method, "/2.0/mlflow" + path, body)


def _copy_metrics(client: Client, run_id: str, model_id: str, metric_keys: list[str], step: int) -> None:
    """Link the run's points at *step* to the model, as MLflow 3's ``log_model`` does: the
    points logged at that step against no model, with their datasets (the model then shows
    the metrics of the step it was trained at, not the run's whole history)."""
    batch = []
    for key in metric_keys:
        for metric in client.get_metric_history(run_id, key):
            if metric.step != step or metric.model_id is not None:
                continue
            point: dict[str, Any] = {
                "key": metric.key,
                "value": "NaN" if metric.value != metric.value else metric.value,
                "timestamp": metric.timestamp,
                "step": metric.step,
                "model_id": model_id,
            }
            if metric.dataset_name is not None:
                point["dataset_name"] = metric.dataset_name
                point["dataset_digest"] = metric.dataset_digest
            batch.append(point)
    for start in range(0, len(batch), 1000):
        _api(client, "POST", "/runs/log-batch", {"run_id": run_id, "metrics": batch[start : start + 1000]})


def _register(client: Client, name: str, model_id: str, run_id: str | None) -> str:
    try:
        _api(client, "POST", "/registered-models/create", {"name": name})
    except RestError as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    body: dict[str, Any] = {"name": name, "source": f"models:/{model_id}", "model_id": model_id}
    if run_id:
        body["run_id"] = run_id
    version = _api(client, "POST", "/model-versions/create", body)["model_version"]
    return str(version["version"])


def log_model(
    name: str,
    save: Callable[[Path, Model], Model],
    *,
    run_id: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    client: Client | None = None,
) -> ModelInfo:
    """Create a logged model, save it with *save(path, mlmodel)* and upload it. *step* is
    the run's step the model belongs to (MLflow's ``step``): its output record and the metrics
    linked to it."""
    from ledgerflow.client import fluent
    from ledgerflow.client.artifacts import upload
    from ledgerflow.models.uri import store_for_location

    context = fluent._context()
    client = client or context.client()
    if run_id is None:
        active = fluent.active_run()
        run_id = active.info.run_id if active is not None else None
    run_params: dict[str, str] = {}
    metric_keys: list[str] = []
    if run_id is not None:
        run = client.get_run(run_id)
        experiment_id = run.info.experiment_id
        run_params = dict(run.data.params)
        metric_keys = sorted(run.data.metrics)
    else:
        experiment_id = context.resolve_experiment_id(None)
    body: dict[str, Any] = {
        "experiment_id": experiment_id,
        "name": name,
        "params": [{"key": k, "value": str(v)} for k, v in {**run_params, **(params or {})}.items()],
        "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
    }
    if run_id is not None:
        body["source_run_id"] = run_id
    if model_type is not None:
        body["model_type"] = model_type
    info = _api(client, "POST", "/logged-models", body)["model"]["info"]
    model_id, artifact_uri = str(info["model_id"]), str(info["artifact_uri"])
    try:
        if run_id is not None:
            _api(
                client,
                "POST",
                "/runs/outputs",
                {"run_id": run_id, "models": [{"model_id": model_id, "step": step}]},
            )
            _copy_metrics(client, run_id, model_id, metric_keys, step)
        mlmodel = Model(artifact_path=artifact_uri, model_id=model_id, model_uuid=model_id, run_id=run_id)
        with tempfile.TemporaryDirectory(prefix="ledgerflow-log-model-") as tmp:
            saved = save(Path(tmp) / "model", mlmodel)
            upload(store_for_location(client.transport, artifact_uri), Path(tmp) / "model", None)
    except BaseException:
        with contextlib.suppress(Exception):
            _api(
                client,
                "PATCH",
                f"/logged-models/{model_id}",
                {"model_id": model_id, "status": "LOGGED_MODEL_UPLOAD_FAILED"},
            )
        raise
    _api(
        client, "PATCH", f"/logged-models/{model_id}", {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    )
    version = None
    if registered_model_name:
        version = _register(client, registered_model_name, model_id, run_id)
        entry = json.dumps([{"name": registered_model_name, "version": version}])
        _api(
            client,
            "PATCH",
            f"/logged-models/{model_id}/tags",
            {"tags": [{"key": "mlflow.modelVersions", "value": entry}]},
        )
    return ModelInfo(
        model_id=model_id,
        name=name,
        model_uri=f"models:/{model_id}",
        artifact_uri=artifact_uri,
        run_id=run_id,
        signature=saved.signature,
        flavors=saved.flavors,
        registered_model_version=version,
    )
