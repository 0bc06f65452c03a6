"""The seed tutorial's flow: an iris RandomForest tracked, logged as a model, read back.

Usage: seed_flow.py EXPERIMENT_NAME WORKDIR
With a 3.x client the model is logged with ``serialization_format="cloudpickle"`` (3.x
defaults to skops, which refuses RandomForest's tree type); a 2.22 client runs the seed's
``mlflow.sklearn.log_model(clf, "model")`` unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from _lib import MLFLOW3, emit, file_infos, metric_dict, run_dict
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split


def main() -> None:
    experiment_name, workdir = sys.argv[1], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    experiment = mlflow.set_experiment(experiment_name)
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    with mlflow.start_run() as run:
        clf = RandomForestClassifier(n_estimators=10, random_state=0)
        clf.fit(X_train, y_train)
        acc = clf.score(X_test, y_test)
        mlflow.log_param("model_type", "RandomForest")
        mlflow.log_metric("accuracy", acc)
        notes = workdir / "notes.txt"
        notes.write_text("trained on iris\n")
        mlflow.log_artifact(str(notes))
        if MLFLOW3:
            info = mlflow.sklearn.log_model(clf, name="model", serialization_format="cloudpickle")
        else:
            info = mlflow.sklearn.log_model(clf, "model")
    run_id = run.info.run_id
    client = MlflowClient()
    result = {
        "experiment_id": experiment.experiment_id,
        "experiment_name": experiment.name,
        "run_id": run_id,
        "accuracy": acc,
        "run": run_dict(client.get_run(run_id)),
        "search": [run_dict(r) for r in mlflow.search_runs([experiment.experiment_id], output_format="list")],
        "history": [metric_dict(m) for m in client.get_metric_history(run_id, "accuracy")],
        "artifacts_root": file_infos(client.list_artifacts(run_id)),
        "artifacts_model": file_infos(client.list_artifacts(run_id, "model")),
    }
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="notes.txt", dst_path=str(workdir / "dl")
    )
    result["notes_content"] = Path(downloaded).read_text()
    model_dir = Path(
        mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(workdir / "m"))
    )
    result["model_files"] = sorted(p.name for p in model_dir.iterdir())
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    result["predictions"] = [int(v) for v in loaded.predict(X_test[:10])]
    result["expected_predictions"] = [int(v) for v in clf.predict(X_test[:10])]
    if MLFLOW3:
        result["model_id"] = info.model_id
        logged = mlflow.get_logged_model(info.model_id)
        result["logged_model"] = {
            "name": logged.name,
            "status": str(logged.status),
            "source_run_id": logged.source_run_id,
            "experiment_id": logged.experiment_id,
            "artifact_location": logged.artifact_location,
            "params": dict(logged.params),
            "metrics": [metric_dict(m) for m in (logged.metrics or [])],
        }
        by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
        result["predictions_by_model_id"] = [int(v) for v in by_id.predict(X_test[:10])]
    emit(result)


if __name__ == "__main__":
    main()
