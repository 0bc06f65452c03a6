"""``ledgerflow.evaluate``: evaluate a model on a dataset and log the result on its version.

The model is loaded and run here, on the client; the server only stores the numbers (and logs
them on an evaluation run), so a server never deserialises a model to evaluate it. Because the
gates trust those numbers, a server with authentication records them only from an evaluator
(a role an administrator grants, typically to the CI account that runs this) or an admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.errors import InvalidParameter, PermissionDenied, RestError
from ledgerflow.governance.evaluation import data as datasets
from ledgerflow.governance.evaluation.fairness import FairnessOptions, evaluate_fairness
from ledgerflow.governance.evaluation.metrics import (
    CLASSIFICATION,
    as_labels,
    classification_metrics,
    infer_task,
    regression_metrics,
)
from ledgerflow.governance.evaluation.robustness import RobustnessOptions, evaluate_robustness

_LF = "/2.0/ledgerflow"


@dataclass
class EvaluationResult:
    task: str
    metrics: dict[str, float]
    fairness: dict[str, float]
    fairness_status: dict[str, str]
    robustness: dict[str, float]
    dataset_name: str
    dataset_digest: str
    row_count: int
    report: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    version: str | None = None
    evaluation_id: str | None = None
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "evaluation_id": self.evaluation_id,
            "run_id": self.run_id,
            "task": self.task,
            "dataset_name": self.dataset_name,
            "dataset_digest": self.dataset_digest,
            "row_count": self.row_count,
            "metrics": self.metrics,
            "fairness": self.fairness,
            "fairness_status": self.fairness_status,
            "robustness": self.robustness,
            "report": self.report,
        }


def resolve_version(client: Any, model_uri: str) -> tuple[str, str] | None:
    """(name, version) of a ``models:/<name>/<version|latest|stage>`` or ``@alias`` URI."""
    from ledgerflow.models.uri import _latest_version, _parse_models_uri

    if not model_uri.startswith("models:"):
        return None
    name, suffix, alias = _parse_models_uri(model_uri)
    call = client.transport.call
    if alias is not None:
        found = call("GET", "/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias})
        return name, str(found["model_version"]["version"])
    if suffix is None:
        return None  # a logged model id, not a registry version
    if suffix.isdigit():
        return name, suffix
    stage = None if suffix.lower() == "latest" else suffix
    return name, _latest_version(client, name, stage)


def _probabilities(
    model: Any, features: pd.DataFrame
) -> tuple[np.ndarray[Any, Any] | None, list[Any] | None]:
    raw = model.get_raw_model() if hasattr(model, "get_raw_model") else model
    predict_proba = getattr(raw, "predict_proba", None)
    classes = getattr(raw, "classes_", None)
    if predict_proba is None or classes is None:
        return None, None
    try:
        return np.asarray(predict_proba(features)), list(classes)
    except Exception:  # a model whose probabilities need other input: metrics without them
        return None, None


def compute(
    model: Any,
    frame: pd.DataFrame,
    target: str,
    *,
    dataset_name: str = "dataframe",
    sensitive: list[str] | None = None,
    task: str | None = None,
    fairness: FairnessOptions | None = None,
    robustness: RobustnessOptions | None = None,
) -> EvaluationResult:
    """Every number of an evaluation, without logging anything."""
    features, truth = datasets.split_target(frame, target)
    sensitive = list(sensitive or [])
    datasets.require_columns(frame, sensitive, "Sensitive")
    model_features = _model_input(model, features)
    task = infer_task(truth, task)
    try:
        predicted = as_labels(model.predict(model_features), model_features.index)
    except InvalidParameter:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise InvalidParameter(
            f"The model could not predict on this data: {str(error).splitlines()[0]}"
        ) from None
    if task == CLASSIFICATION:
        probabilities, classes = _probabilities(model, model_features)
        metrics = classification_metrics(truth, predicted, probabilities, classes)
    else:
        metrics = regression_metrics(truth, predicted)
    report: dict[str, Any] = {
        "target": target,
        "sensitive_features": sensitive,
        "model_inputs": [str(c) for c in model_features.columns],
    }
    fairness_metrics: dict[str, float] = {}
    status: dict[str, str] = {}
    if sensitive:
        result = evaluate_fairness(frame, truth, predicted, sensitive, task, fairness)
        fairness_metrics, status = result["metrics"], result["status"]
        report["fairness"] = result["features"]
    robustness_metrics: dict[str, float] = {}
    if robustness is not None:
        outcome = evaluate_robustness(model, model_features, truth, predicted, task, robustness)
        robustness_metrics = outcome["metrics"]
        report["robustness"] = outcome["report"]
    return EvaluationResult(
        task=task,
        metrics=metrics,
        fairness=fairness_metrics,
        fairness_status=status,
        robustness=robustness_metrics,
        dataset_name=dataset_name,
        dataset_digest=datasets.digest(frame),
        row_count=int(frame.shape[0]),
        report=report,
    )


def _declared_inputs(model: Any) -> list[str] | None:
    """The columns the model says it takes (its signature, else sklearn's fitted names)."""
    signature = getattr(model, "signature", None)
    inputs = getattr(signature, "inputs", None) if signature is not None else None
    names = getattr(inputs, "input_names", None)
    if callable(names):
        found = [str(n) for n in names() if n is not None]
        if found:
            return found
    raw = model.get_raw_model() if hasattr(model, "get_raw_model") else model
    fitted = getattr(raw, "feature_names_in_", None)
    return [str(n) for n in fitted] if fitted is not None else None


def _model_input(model: Any, features: pd.DataFrame) -> pd.DataFrame:
    """The evaluation columns the model is given: exactly its declared inputs when it has
    them (sensitive and other evaluation-only columns stay out), else every column."""
    declared = _declared_inputs(model)
    if declared is None:
        return features
    missing = [c for c in declared if c not in features.columns]
    if missing:
        raise InvalidParameter(f"The data lacks the model's input column(s) {missing}.")
    return features[declared]


def log_evaluation(client: Any, name: str, version: str, result: EvaluationResult) -> EvaluationResult:
    body = result.to_json()
    body.update(name=name, version=version)
    for key in ("evaluation_id", "run_id"):
        body.pop(key)
    try:
        stored = client.transport.call("POST", f"{_LF}/evaluations/create", body)["evaluation"]
    except RestError as error:
        if error.error_code != "PERMISSION_DENIED":
            raise
        # The server's answer is deliberately bare; say here what the caller is missing.
        raise PermissionDenied(
            f"Recording an evaluation of model '{name}' needs the evaluator role on it (an "
            "administrator grants it, e.g. to a CI service account: ledgerflow grants create "
            f"registered-model '{name}' user:<ci account> evaluator), or an administrator. "
            "Evaluate with --no-log to compute the numbers without recording them."
        ) from None
    result.name, result.version = name, version
    result.evaluation_id, result.run_id = stored["evaluation_id"], stored.get("run_id")
    return result


def evaluate(
    model: Any,
    data: Any,
    target: str,
    *,
    sensitive: list[str] | str | None = None,
    robustness: str | None = "default",
    task: str | None = None,
    positive_label: Any = None,
    min_group_size: int = 30,
    n_boot: int = 200,
    seed: int = 0,
    attack: str = "hsj",
    epsilon: float = 0.1,
    max_rows: int = 20,
    budget_seconds: float = 60.0,
    swap_fraction: float = 0.1,
    missing_fraction: float = 0.1,
    name: str | None = None,
    version: str | int | None = None,
    log: bool = True,
    set_reference: bool = False,
    tracking_uri: str | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` (a model URI or a loaded model) on ``data`` (a CSV or parquet path,
    ``runs:/<run_id>/datasets/<name>``, or a DataFrame) and, when the model is a registry
    version (``models:/name/1``, ``models:/name@alias``, or ``name``/``version`` given), log
    the result on that version. ``robustness``: ``"default"``, ``"attacks"`` or None
    (``swap_fraction`` and ``missing_fraction`` size the categorical-swap and missing-value
    tests of the default tier). With
    ``set_reference`` the evaluation data (the model's input columns) also becomes the version's
    drift-monitoring reference profile."""
    from ledgerflow.client.client import Client

    client = Client(tracking_uri)
    if isinstance(sensitive, str):
        sensitive = [s.strip() for s in sensitive.split(",") if s.strip()]
    frame, dataset_name = datasets.load(data, client)
    target_version = (name, str(version)) if name and version is not None else None
    if isinstance(model, str):
        if target_version is None:
            target_version = resolve_version(client, model)
        import ledgerflow.pyfunc

        model = ledgerflow.pyfunc.load_model(model, tracking_uri=client.tracking_uri)
    robustness_options = None
    if robustness not in (None, "none"):
        robustness_options = RobustnessOptions(
            tier=str(robustness),
            seed=seed,
            attack=attack,
            epsilon=epsilon,
            max_rows=max_rows,
            budget_seconds=budget_seconds,
            swap_fraction=swap_fraction,
            missing_fraction=missing_fraction,
        )
    result = compute(
        model,
        frame,
        target,
        dataset_name=dataset_name,
        sensitive=sensitive,
        task=task,
        fairness=FairnessOptions(
            min_group_size=min_group_size, positive_label=positive_label, n_boot=n_boot, seed=seed
        ),
        robustness=robustness_options,
    )
    if set_reference and target_version is None:
        raise InvalidParameter(
            "set_reference needs a registry version (models:/<name>/<version>, or name and version)."
        )
    if log and target_version is not None:
        log_evaluation(client, target_version[0], target_version[1], result)
    if set_reference and target_version is not None:
        from ledgerflow.governance.monitoring.client import set_reference as store_reference

        # The model's inputs only: production batches (a scoring server's requests) carry those.
        store_reference(
            target_version[0],
            target_version[1],
            frame[result.report["model_inputs"]],
            source="evaluation",
            tracking_uri=client.tracking_uri,
        )
    return result
