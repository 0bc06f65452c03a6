"""The demo training job: iris with a random forest, logged to a tracking server.

It logs the ``model_type`` param and ``accuracy`` metric of the seed example, plus metrics
over steps (the forest grown tree by tree, so the charts have a curve), a confusion-matrix
PNG, a text report and the model itself in MLflow's format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

EXPERIMENT_NAME = "iris-demo"


def run_demo(tracking_uri: str, experiment_name: str = EXPERIMENT_NAME) -> dict[str, Any]:
    """Train and log one run; returns its ids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report
    from sklearn.model_selection import train_test_split

    import ledgerflow
    import ledgerflow.sklearn

    ledgerflow.set_tracking_uri(tracking_uri)
    experiment = ledgerflow.set_experiment(experiment_name)
    iris = load_iris(as_frame=True)
    features, target = iris.data, iris.target
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.3, random_state=42)

    with ledgerflow.start_run(run_name="random-forest") as run:
        ledgerflow.log_param("model_type", "RandomForest")
        ledgerflow.log_params({"n_estimators": 50, "max_depth": 4, "random_state": 42})
        model = RandomForestClassifier(n_estimators=1, max_depth=4, random_state=42, warm_start=True)
        for trees in range(1, 51):
            model.n_estimators = trees
            model.fit(x_train, y_train)
            ledgerflow.log_metrics(
                {
                    "train_accuracy": accuracy_score(y_train, model.predict(x_train)),
                    "test_accuracy": accuracy_score(y_test, model.predict(x_test)),
                },
                step=trees,
            )
        predictions = model.predict(x_test)
        accuracy = accuracy_score(y_test, predictions)
        ledgerflow.log_metric("accuracy", accuracy)

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            figure, axes = plt.subplots(figsize=(5, 4))
            ConfusionMatrixDisplay.from_predictions(
                y_test, predictions, display_labels=list(iris.target_names), ax=axes, colorbar=False
            )
            axes.set_title(f"Iris random forest (accuracy {accuracy:.3f})")
            figure.tight_layout()
            figure.savefig(out / "confusion_matrix.png", dpi=100)
            plt.close(figure)
            report = classification_report(y_test, predictions, target_names=list(iris.target_names))
            (out / "classification_report.txt").write_text(report)
            ledgerflow.log_artifact(str(out / "confusion_matrix.png"))
            ledgerflow.log_artifact(str(out / "classification_report.txt"))
        model_info = ledgerflow.sklearn.log_model(model, name="model", input_example=x_test.head(5))
        run_id = run.info.run_id
    return {
        "experiment_id": experiment.experiment_id,
        "run_id": run_id,
        "accuracy": accuracy,
        "model_id": model_info.model_id,
    }
