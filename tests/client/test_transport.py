"""Transports: tracking URI resolution, retries, error mapping, local stores."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import ledgerflow
from ledgerflow.client.transport import (
    KEEPALIVE_EXPIRY_SECONDS,
    HttpTransport,
    LocalTransport,
    make_transport,
)
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter, RestError
from tests.client.conftest import ThreadServer
from tests.listening import refusing_port


class Scripted:
    """Answers each request with the next (status, body) from a script; records paths."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, str]] = []
        self.client_ports: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.seen.append((scope["method"], scope["path"], scope["query_string"].decode()))
        self.client_ports.append(scope["client"][1])
        status, body = self.answers.pop(0) if self.answers else (200, {})
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": raw})
        del message


def _transport(url: str) -> HttpTransport:
    return HttpTransport(url, max_retries=3, backoff_factor=0.001)


def test_idempotent_call_retries_transient_statuses(serve: Callable[..., ThreadServer]) -> None:
    app = Scripted(
        [(503, {}), (429, {}), (502, b"bad gateway"), (200, {"experiment": {"experiment_id": "0"}})]
    )
    transport = _transport(serve(app).url)
    assert transport.call("GET", "/2.0/mlflow/experiments/get", {"experiment_id": "0"})["experiment"] == {
        "experiment_id": "0"
    }
    assert len(app.seen) == 4
    assert app.seen[0] == ("GET", "/api/2.0/mlflow/experiments/get", "experiment_id=0")
    transport.close()


def test_create_is_not_retried_after_a_500_but_is_after_a_503(serve: Callable[..., ThreadServer]) -> None:
    app = Scripted([(500, {"error_code": "INTERNAL_ERROR", "message": "boom"})])
    transport = _transport(serve(app).url)
    with pytest.raises(RestError) as caught:
        transport.call("POST", "/2.0/mlflow/runs/create", {"experiment_id": "0"})
    assert caught.value.error_code == "INTERNAL_ERROR" and len(app.seen) == 1
    app.answers = [(503, {}), (200, {"run": {}})]
    app.seen.clear()
    assert transport.call("POST", "/2.0/mlflow/runs/create", {"experiment_id": "0"}) == {"run": {}}
    assert len(app.seen) == 2
    transport.close()


def test_idle_connection_is_dropped_before_the_server_closes_it(serve: Callable[..., ThreadServer]) -> None:
    # A request sent on a kept-alive connection at the moment the server closes it fails with
    # a reset (and a create is not retried), so the client must give idle connections up first.
    assert uvicorn.Config(Scripted([])).timeout_keep_alive > KEEPALIVE_EXPIRY_SECONDS
    app = Scripted([])
    transport = _transport(serve(app).url)
    for _ in range(2):
        transport.call("POST", "/2.0/mlflow/experiments/create", {"name": "x"})
    time.sleep(KEEPALIVE_EXPIRY_SECONDS + 0.5)
    transport.call("POST", "/2.0/mlflow/experiments/create", {"name": "y"})
    first, reused, after_idle = app.client_ports
    assert reused == first  # still pooled while busy
    assert after_idle != first  # a fresh connection after the idle spell
    transport.close()


def test_error_json_keeps_the_server_code(serve: Callable[..., ThreadServer]) -> None:
    app = Scripted([(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No run"}), (418, b"teapot")])
    transport = _transport(serve(app).url)
    with pytest.raises(RestError) as caught:
        transport.call("GET", "/2.0/mlflow/runs/get", {"run_id": "x"})
    assert (caught.value.error_code, caught.value.message, caught.value.http_status) == (
        "RESOURCE_DOES_NOT_EXIST",
        "No run",
        404,
    )
    with pytest.raises(RestError, match="failed with code 418: teapot"):
        transport.call("GET", "/2.0/mlflow/runs/get", {"run_id": "x"})
    transport.close()


def test_get_repeats_list_fields_and_spells_booleans(serve: Callable[..., ThreadServer]) -> None:
    app = Scripted([(200, {})])
    transport = _transport(serve(app).url)
    transport.call("GET", "/2.0/mlflow/x", {"ids": ["1", "2"], "flag": False, "none": None})
    assert app.seen[0][2] == "ids=1&ids=2&flag=false"
    transport.close()


def test_unreachable_server_is_one_clear_error() -> None:
    with refusing_port() as port:
        transport = _transport(f"http://127.0.0.1:{port}")
        with pytest.raises(RestError, match="Could not reach the tracking server") as caught:
            transport.call("GET", "/2.0/mlflow/experiments/get", {"experiment_id": "0"})
    assert caught.value.http_status == 503
    transport.close()


def test_tracking_uri_from_env_ledgerflow_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "mlflow-side"))
    assert ledgerflow.get_tracking_uri() == str(tmp_path / "mlflow-side")
    monkeypatch.setenv("LEDGERFLOW_TRACKING_URI", str(tmp_path / "ours"))
    assert ledgerflow.get_tracking_uri() == str(tmp_path / "ours")
    ledgerflow.set_tracking_uri(tmp_path / "explicit")
    assert ledgerflow.get_tracking_uri() == str(tmp_path / "explicit")


def test_plain_path_is_a_local_store_without_server(tmp_path: Path) -> None:
    ledgerflow.set_tracking_uri(tmp_path / "store")
    ledgerflow.set_experiment("local")
    with ledgerflow.start_run() as run:
        ledgerflow.log_metric("m", 3.0)
        ledgerflow.log_text("t", "a/b.txt")
    assert (tmp_path / "store" / "ledgerflow.db").is_file()
    assert list((tmp_path / "store" / "artifacts").rglob("b.txt"))
    # A second, independent client over the same folder sees the same data.
    client = ledgerflow.Client(str(tmp_path / "store"))
    assert client.get_run(run.info.run_id).data.metrics == {"m": 3.0}
    assert isinstance(client.transport, LocalTransport)
    client.close()


def test_sqlite_uri_keeps_artifacts_beside_the_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'db' / 'x.db'}"
    (tmp_path / "db").mkdir()
    client = ledgerflow.Client(uri)
    run = client.create_run("0")
    client.log_text(run.info.run_id, "hi", "n.txt")
    assert list((tmp_path / "db" / "ledgerflow-artifacts").rglob("n.txt"))
    client.close()


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Unsupported tracking URI"):
        make_transport("databricks://profile")


# Run in a fresh interpreter where the server-side packages cannot be imported at all.
WITHOUT_SERVER_EXTRA = """
import sys
for name in ("sqlalchemy", "starlette", "uvicorn", "orjson", "alembic", "boto3"):
    sys.modules[name] = None
import ledgerflow
ledgerflow.set_tracking_uri(sys.argv[1])
"""


def _light_client(code: str, uri: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER_EXTRA + textwrap.dedent(code), uri],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_light_client_logs_to_a_server_without_the_server_extra(
    make_live_server: Callable[[ServerConfig], Any], tmp_path: Path
) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 's.db'}", artifacts_destination=str(tmp_path / "a")
    )
    url = str(make_live_server(config).url)
    done = _light_client(
        """
        with ledgerflow.start_run() as run:
            ledgerflow.log_metric("m", 1.5)
            ledgerflow.log_text("t", "x/y.txt")
        print(run.info.run_id)
        """,
        url,
    )
    assert done.returncode == 0, done.stderr
    client = ledgerflow.Client(url)
    run_id = done.stdout.strip()
    assert client.get_run(run_id).data.metrics == {"m": 1.5}
    assert [f.path for f in client.list_artifacts(run_id, "x")] == ["x/y.txt"]
    client.close()


def test_local_store_without_the_server_extra_says_what_to_install(tmp_path: Path) -> None:
    done = _light_client(
        """
        from ledgerflow.errors import MissingExtra
        try:
            ledgerflow.start_run()
        except MissingExtra as error:
            print(error)
        """,
        str(tmp_path / "store"),
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'ledgerflow[server]'" in done.stdout


def test_client_follows_set_tracking_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # MlflowClient() uses mlflow.get_tracking_uri(): a URI set on the fluent API comes first.
    monkeypatch.setenv("LEDGERFLOW_TRACKING_URI", str(tmp_path / "from-env"))
    monkeypatch.chdir(tmp_path)
    ledgerflow.set_tracking_uri(str(tmp_path / "chosen"))
    client = ledgerflow.Client()
    experiment_id = client.create_experiment("follows")
    assert (tmp_path / "chosen" / "ledgerflow.db").exists()
    assert not (tmp_path / "from-env").exists()
    assert not (tmp_path / "ledgerflow.db").exists()
    assert client.get_experiment(experiment_id).name == "follows"
