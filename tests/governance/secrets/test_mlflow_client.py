"""The stock MLflow 3.x client against a live server: its log_param / log_params (log-batch)
/ set_tag calls meet the same secret policy as every other caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer

from .samples import AWS_KEY_ID, GITHUB_TOKEN, JWT, URL_PASSWORD, URL_WITH_PASSWORD

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.compat


@pytest.fixture
def tracking_for(
    make_live_server: Callable[[ServerConfig], LiveServer],
    server_config: ServerConfig,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Callable[[str], Any]]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

    def start(policy: str) -> Any:
        server = make_live_server(replace(server_config, secret_policy=policy))
        mlflow.set_tracking_uri(server.url)
        return mlflow.MlflowClient(tracking_uri=server.url)

    try:
        yield start
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri("")


def test_block_policy_fails_the_clients_call_without_echoing_the_secret(
    tracking_for: Callable[[str], Any],
) -> None:
    from mlflow.exceptions import MlflowException

    client = tracking_for("block")
    mlflow.set_experiment("secrets-block")
    with mlflow.start_run() as run:
        with pytest.raises(MlflowException) as refused:
            mlflow.log_param("aws_key", AWS_KEY_ID)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert AWS_KEY_ID not in str(refused.value) and "aws_access_key_id" in str(refused.value)
        with pytest.raises(MlflowException):
            mlflow.log_params({"lr": "0.1", "db": URL_WITH_PASSWORD})
        mlflow.log_params({"lr": "0.1", "seed": "7"})
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1", "seed": "7"}


def test_redact_policy_keeps_the_run_going_and_the_secret_out(tracking_for: Callable[[str], Any]) -> None:
    client = tracking_for("redact")
    mlflow.set_experiment("secrets-redact")
    with mlflow.start_run() as run:
        mlflow.log_param("token", GITHUB_TOKEN)
        mlflow.log_params({"db": URL_WITH_PASSWORD, "lr": "0.1"})
        mlflow.set_tag("session", JWT)
        mlflow.log_metric("loss", 0.25)
    data = client.get_run(run.info.run_id).data
    assert data.params["token"] == "[REDACTED:github_token]"
    assert URL_PASSWORD not in data.params["db"] and data.params["lr"] == "0.1"
    assert data.tags["session"] == "[REDACTED:jwt]"
    assert data.metrics == {"loss": 0.25}
