"""The failure path: logging a model that cannot be saved.

Usage: failure.py EXPERIMENT_NAME
A 3.x client creates the logged model first; when saving fails (skops, 3.x's default format,
rejects RandomForest's tree type) it PATCHes the logged model to LOGGED_MODEL_UPLOAD_FAILED,
and leaving the ``with start_run()`` block by an exception marks the run FAILED. A 2.22 client
has no logged models, so only the run status is checked there.
"""

from __future__ import annotations

import sys

import mlflow
import mlflow.sklearn
from _lib import MLFLOW3, emit, run_dict
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier


class Unsaveable(Exception):
    pass


def main() -> None:
    experiment_id = mlflow.set_experiment(sys.argv[1]).experiment_id
    X, y = load_iris(return_X_y=True)
    clf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    raised = None
    try:
        with mlflow.start_run() as run:
            mlflow.log_metric("accuracy", 0.5)
            if MLFLOW3:
                mlflow.sklearn.log_model(clf, name="model")
            else:
                raise Unsaveable("simulated training crash")
    except Exception as error:
        raised = type(error).__name__
    client = MlflowClient()
    result = {"raised": raised, "run": run_dict(client.get_run(run.info.run_id))}
    if MLFLOW3:
        models = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
        result["logged_models"] = [
            {"name": m.name, "status": str(m.status), "source_run_id": m.source_run_id} for m in models
        ]
    emit(result)


if __name__ == "__main__":
    main()
