"""Asynchronous logging never drops a point: flaky servers, restarts, exit, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from ledgerflow.client.async_logging import AsyncFlushError
from ledgerflow.config import ServerConfig
from ledgerflow.errors import RestError
from ledgerflow.server.app import create_app
from tests.client.conftest import ThreadServer
from tests.listening import loopback_socket, refusing_port

RUN_ID = "a" * 32


class FlakyTrackingServer:
    """Just enough of the tracking API for a fluent run, on a real socket. The first
    ``failures`` log-batch requests get 503; every metric point accepted is recorded."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batch_requests = 0
        self.refused = 0
        self.points: list[tuple[str, float, int]] = []
        self.params: dict[str, str] = {}
        self.status = "RUNNING"
        self._lock = threading.Lock()

    def _run(self) -> dict[str, Any]:
        return {
            "info": {
                "run_id": RUN_ID,
                "run_uuid": RUN_ID,
                "experiment_id": "0",
                "status": self.status,
                "artifact_uri": f"mlflow-artifacts:/0/{RUN_ID}/artifacts",
                "lifecycle_stage": "active",
            },
            "data": {},
        }

    def _handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.endswith("/runs/create"):
            return 200, {"run": self._run()}
        if path.endswith("/runs/get"):
            return 200, {"run": self._run()}
        if path.endswith("/runs/update"):
            self.status = body.get("status", self.status)
            return 200, {}
        if path.endswith("/runs/log-batch"):
            with self._lock:
                self.batch_requests += 1
                if self.failures > 0:
                    self.failures -= 1
                    self.refused += 1
                    return 503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"}
                for metric in body.get("metrics", []):
                    self.points.append((metric["key"], float(metric["value"]), int(metric["step"])))
                for param in body.get("params", []):
                    self.params[param["key"]] = param["value"]
            return 200, {}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        status, payload = self._handle(scope["path"], json.loads(raw) if raw else {})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


@pytest.fixture(autouse=True)
def _fast_http_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Few, quick transport retries, so the async logger's own backoff is what carries on.
    monkeypatch.setenv("LEDGERFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("LEDGERFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")


def test_every_point_arrives_despite_503s(serve: Callable[..., ThreadServer]) -> None:
    flaky = FlakyTrackingServer(failures=6)
    ledgerflow.set_tracking_uri(serve(flaky).url)
    with ledgerflow.start_run(async_logging=True):
        for step in range(500):
            ledgerflow.log_metric("loss", 1.0 / (step + 1), step=step)
        ledgerflow.log_params({"lr": 0.1, "depth": 3})
    assert sorted(p[2] for p in flaky.points) == list(range(500))
    assert flaky.params == {"lr": "0.1", "depth": "3"}
    assert flaky.refused == 6
    # Points were coalesced: far fewer requests than calls.
    assert flaky.batch_requests < 100
    assert flaky.status == "FINISHED"


@pytest.mark.parametrize("variable", ["LEDGERFLOW_ASYNC_LOGGING", "MLFLOW_ENABLE_ASYNC_LOGGING"])
def test_env_var_turns_async_on(
    variable: str, monkeypatch: pytest.MonkeyPatch, serve: Callable[..., ThreadServer]
) -> None:
    flaky = FlakyTrackingServer(failures=10_000)
    ledgerflow.set_tracking_uri(serve(flaky).url)
    run = ledgerflow.start_run()
    # Synchronously the refusal surfaces at once...
    with pytest.raises(RestError):
        ledgerflow.log_metrics({"sync": 1.0})
    # ...while with the variable set the call returns and the point waits in the queue.
    monkeypatch.setenv(variable, "true")
    ledgerflow.log_metrics({"queued": 1.0})
    assert ledgerflow.get_run(run.info.run_id) is not None
    flaky.failures = 0
    ledgerflow.end_run()
    assert [p[0] for p in flaky.points] == ["queued"]


def test_synchronous_argument_overrides_the_run_setting(serve: Callable[..., ThreadServer]) -> None:
    flaky = FlakyTrackingServer(failures=10_000)
    ledgerflow.set_tracking_uri(serve(flaky).url)
    ledgerflow.start_run(async_logging=True)
    with pytest.raises(RestError):
        ledgerflow.log_metric("forced", 1.0, synchronous=True)
    ledgerflow.log_metric("queued", 1.0)
    flaky.failures = 0
    ledgerflow.end_run()
    assert [p[0] for p in flaky.points] == ["queued"]


def test_points_survive_a_server_restart(tmp_path: Path, serve: Callable[..., ThreadServer]) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'restart.db'}", artifacts_destination=str(tmp_path / "art")
    )
    # Held for the whole test, so the restarted server finds its port still free.
    with refusing_port(shared=True) as port:
        first = serve(create_app(config), loopback_socket(port))
        ledgerflow.set_tracking_uri(first.url)
        run = ledgerflow.start_run(async_logging=True)
        for step in range(100):
            ledgerflow.log_metric("acc", step / 100, step=step)
        ledgerflow.flush_async_logging()
        first.stop()
        # Logged while nothing listens on the port.
        for step in range(100, 300):
            ledgerflow.log_metric("acc", step / 300, step=step)
        time.sleep(0.5)
        serve(create_app(config), loopback_socket(port))
        ledgerflow.end_run()
    client = ledgerflow.Client(f"http://127.0.0.1:{port}")
    history = client.get_metric_history(run.info.run_id, "acc")
    assert sorted(m.step for m in history) == list(range(300))
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    client.close()


def test_a_refused_point_is_reported_and_the_rest_still_arrive(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    ledgerflow.start_run(async_logging=True)
    run_id = ledgerflow.active_run().info.run_id  # type: ignore[union-attr]
    ledgerflow.log_param("lr", "0.1", synchronous=True)
    ledgerflow.log_metric("m", 1.0, step=0)
    ledgerflow.log_param("lr", "0.2")  # refused: params are immutable
    ledgerflow.log_metric("m", 2.0, step=1)
    with pytest.raises(AsyncFlushError) as caught:
        ledgerflow.end_run()
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(caught.value.errors) == 1
    run = ledgerflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"}
    client = ledgerflow.Client(tracking_uri)
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0, 2.0]
    client.close()


def test_block_that_raises_flushes_then_fails(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with pytest.raises(RuntimeError), ledgerflow.start_run(async_logging=True) as run:
        for step in range(50):
            ledgerflow.log_metric("x", step, step=step)
        raise RuntimeError("training crashed")
    got = ledgerflow.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    client = ledgerflow.Client(tracking_uri)
    assert len(client.get_metric_history(run.info.run_id, "x")) == 50
    client.close()


def test_queued_points_are_flushed_at_interpreter_exit(tmp_path: Path, tracking_uri: str) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import ledgerflow
            ledgerflow.set_tracking_uri({tracking_uri!r})
            run = ledgerflow.start_run(async_logging=True)
            for step in range(300):
                ledgerflow.log_metric("y", step, step=step)
            print(run.info.run_id, flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    run_id = done.stdout.strip()
    client = ledgerflow.Client(tracking_uri)
    assert len(client.get_metric_history(run_id, "y")) == 300
    assert client.get_run(run_id).info.status == "FINISHED"
    client.close()
