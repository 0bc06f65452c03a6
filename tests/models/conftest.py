"""Model fixtures: a fitted classifier on iris, clean fluent state, a saved model dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.client.fluent import reset_fluent_state


@pytest.fixture(autouse=True)
def clean_fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_ARTIFACTS_DESTINATION"):
        monkeypatch.delenv(name, raising=False)
    reset_fluent_state()
    yield
    reset_fluent_state()


@pytest.fixture(autouse=True)
def trust_test_model_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pickles load through the scanner's allow-list: the custom PythonModel classes these
    # tests define are trusted explicitly, as a user would trust their own model's module.
    modules = ("tests.models.test_format", "tests.models.test_interop", "tests.models.test_scoring")
    monkeypatch.setenv("LEDGERFLOW_ALLOW_GLOBALS", ",".join(f"{module}:*" for module in modules))


@pytest.fixture(scope="session")
def iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    features, target = load_iris(return_X_y=True, as_frame=True)
    features.columns = ["sl", "sw", "pl", "pw"]
    return features, target


@pytest.fixture(scope="session")
def classifier(iris: tuple[Any, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    features, target = iris
    return LogisticRegression(max_iter=500).fit(features, target)


@pytest.fixture
def model_dir(tmp_path: Path, classifier: Any, iris: tuple[Any, Any]) -> Path:
    import ledgerflow.sklearn

    path = tmp_path / "model"
    ledgerflow.sklearn.save_model(classifier, path, input_example=iris[0].head(3))
    return path
