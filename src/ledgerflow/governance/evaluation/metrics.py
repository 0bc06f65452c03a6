"""The standard metrics of a task, from labels and predictions (and probabilities when the
model gives them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as sk

from ledgerflow.errors import InvalidParameter

CLASSIFICATION = "classification"
REGRESSION = "regression"
_MAX_CLASSES = 100


def infer_task(labels: pd.Series, task: str | None) -> str:
    if task is not None:
        if task not in (CLASSIFICATION, REGRESSION):
            raise InvalidParameter(f"Invalid task '{task}': use classification or regression.")
        return task
    if pd.api.types.is_float_dtype(labels) and labels.nunique() > _MAX_CLASSES:
        return REGRESSION
    if pd.api.types.is_float_dtype(labels) and not np.all(np.mod(labels.to_numpy(), 1) == 0):
        return REGRESSION
    return CLASSIFICATION


def as_labels(predictions: Any, index: pd.Index) -> pd.Series:
    """A model's output as one prediction per row (the first column of a frame)."""
    if isinstance(predictions, pd.DataFrame):
        predictions = predictions.iloc[:, 0]
    values = np.asarray(predictions)
    if values.ndim > 1:
        values = values[:, 0] if values.shape[1] == 1 else values.argmax(axis=1)
    if values.shape[0] != len(index):
        raise InvalidParameter(f"The model returned {values.shape[0]} predictions for {len(index)} rows.")
    return pd.Series(values, index=index)


def classification_metrics(
    y_true: pd.Series,
    y_pred: pd.Series,
    probabilities: np.ndarray[Any, Any] | None,
    classes: list[Any] | None,
) -> dict[str, float]:
    out = {
        "accuracy": float(sk.accuracy_score(y_true, y_pred)),
        "precision_macro": float(sk.precision_score(y_true, y_pred, average="macro", zero_division=0)),
        "recall_macro": float(sk.recall_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_macro": float(sk.f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    if probabilities is not None and classes is not None and y_true.nunique() >= 2:
        labels = list(classes)
        if set(y_true.unique()) <= set(labels):
            if len(labels) == 2:
                out["roc_auc"] = float(sk.roc_auc_score(y_true, probabilities[:, 1], labels=labels))
            else:
                out["roc_auc"] = float(
                    sk.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro", labels=labels)
                )
            out["log_loss"] = float(sk.log_loss(y_true, probabilities, labels=labels))
    return out


def regression_metrics(y_true: pd.Series, y_pred: pd.Series) -> dict[str, float]:
    try:
        truth = y_true.to_numpy(dtype=np.float64)
        predicted = y_pred.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameter("Regression needs a numeric target and numeric predictions.") from None
    return {
        "rmse": math.sqrt(float(sk.mean_squared_error(truth, predicted))),
        "mae": float(sk.mean_absolute_error(truth, predicted)),
        "r2": float(sk.r2_score(truth, predicted)),
    }
