"""Signing fixtures: a fitted sklearn model logged and registered on a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.config import ServerConfig
from ledgerflow.tracking.services import Services


@pytest.fixture(autouse=True)
def clean_fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_REQUIRE_SIGNATURE"):
        monkeypatch.delenv(name, raising=False)
    reset_fluent_state()
    yield
    reset_fluent_state()


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


@dataclass
class Registered:
    url: str
    services: Services
    name: str
    version: str
    run_id: str
    artifact_dir: Path  # where the server keeps the version's files


def version_dir(services: Services, name: str, version: str) -> Path:
    location = services.registry.versions.download_uri(name, version)
    repo, prefix = services.artifacts.roots.resolve(location)
    return Path(repo.root) / prefix


@pytest.fixture
def register(
    make_live_server: Callable[[ServerConfig], Any], server_config: ServerConfig, classifier: Any, iris: Any
) -> Callable[..., Registered]:
    """``register(name, **config overrides)``: a live server, a run that logs the iris model
    (with a dataset input and an accuracy metric) and registers it as ``name``."""
    servers: dict[tuple[tuple[str, Any], ...], Any] = {}

    def make(name: str = "iris-lr", **overrides: Any) -> Registered:
        import dataclasses

        import ledgerflow
        import ledgerflow.data
        import ledgerflow.sklearn

        key = tuple(sorted(overrides.items()))
        if key not in servers:
            servers[key] = make_live_server(dataclasses.replace(server_config, **overrides))
        server = servers[key]
        ledgerflow.set_tracking_uri(server.url)
        ledgerflow.set_experiment("signing")
        with ledgerflow.start_run() as run:
            ledgerflow.log_input(ledgerflow.data.from_pandas(iris[0], name="iris-train"), context="training")
            ledgerflow.log_metric("accuracy", 0.97)
            ledgerflow.set_tag("task", "classification")
            ledgerflow.set_tag("mlflow.source.git.commit", "0123456789abcdef0123456789abcdef01234567")
            info = ledgerflow.sklearn.log_model(
                classifier, name="model", input_example=iris[0].head(3), registered_model_name=name
            )
        services: Services = server.app.state.services
        version = str(info.registered_model_version)
        return Registered(
            server.url, services, name, version, run.info.run_id, version_dir(services, name, version)
        )

    return make
