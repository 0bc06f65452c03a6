"""Write a fitted scikit-learn model as an MLflow model directory.

The layout is MLflow's (``MLmodel`` with ``python_function`` and ``sklearn`` flavors, a
cloudpickled estimator, environment files and an input example), so both Ledgerflow and a
stock ``mlflow.pyfunc.load_model`` can load it. The full MLmodel support arrives with the
registry work; this is the slice the demo needs.
"""

from __future__ import annotations

import datetime
import json
import platform
import uuid
from pathlib import Path
from typing import Any


def _pip_pins(packages: list[str]) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def save_sklearn_model(model: Any, path: Path, input_example: Any | None = None) -> Path:
    """Save ``model`` under ``path`` (created) and return it."""
    import cloudpickle
    import sklearn
    import yaml

    path.mkdir(parents=True, exist_ok=False)
    with open(path / "model.pkl", "wb") as handle:
        cloudpickle.dump(model, handle)
    python_version = platform.python_version()
    requirements = _pip_pins(["mlflow", "cloudpickle", "numpy", "pandas", "scikit-learn", "scipy"])
    if not any(r.startswith("mlflow==") for r in requirements):
        requirements.insert(0, "mlflow")
    (path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (path / "python_env.yaml").write_text(
        yaml.safe_dump(
            {
                "python": python_version,
                "build_dependencies": ["pip", "setuptools", "wheel"],
                "dependencies": ["-r requirements.txt"],
            },
            sort_keys=False,
        )
    )
    (path / "conda.yaml").write_text(
        yaml.safe_dump(
            {
                "channels": ["conda-forge"],
                "dependencies": [f"python={python_version}", "pip", {"pip": requirements}],
                "name": "ledgerflow-env",
            },
            sort_keys=False,
        )
    )
    mlmodel: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "python_version": python_version,
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.pkl",
                "serialization_format": "cloudpickle",
                "sklearn_version": sklearn.__version__,
            },
        },
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    if input_example is not None:
        columns = list(input_example.columns)
        (path / "input_example.json").write_text(
            json.dumps({"columns": columns, "data": input_example.values.tolist()})
        )
        mlmodel["saved_input_example_info"] = {
            "artifact_path": "input_example.json",
            "type": "dataframe",
            "pandas_orient": "split",
        }
        inputs = [{"type": "double", "name": c, "required": True} for c in columns]
        mlmodel["signature"] = {
            "inputs": json.dumps(inputs),
            "outputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]),
            "params": None,
        }
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    return path
