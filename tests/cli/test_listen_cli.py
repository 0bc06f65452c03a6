"""``ledgerflow listen`` as a real process: it receives the real server's signed deliveries (a
registry event and a drift.alert), refuses forged, stale and unsigned ones with 401 and says
so, drops a repeated delivery id, and ends on --once / --timeout / SIGTERM with its codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from ledgerflow.cli.webhook_listener import expected_signature
from ledgerflow.client.client import Client
from ledgerflow.config import ServerConfig
from ledgerflow.governance.monitoring import client as monitoring
from tests.cli.conftest import CliResult
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE
from tests.listening import LISTENER_LINE
from tests.webhooks.support import hook_config, wait_for

CLI = [sys.executable, "-m", "ledgerflow.cli"]
SECRET = "listen-test-secret"
N = 2000


@dataclass
class Listening:
    process: subprocess.Popen[str]
    url: str
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout().splitlines() if line.strip()]


@pytest.fixture
def start_listener(tmp_path: Path) -> Iterator[Callable[..., Listening]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, secret: str | None = SECRET) -> Listening:
        index = len(started)
        out, err = tmp_path / f"listen{index}.out", tmp_path / f"listen{index}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "MLFLOW_"))}
        if secret is not None:
            env["LEDGERFLOW_WEBHOOK_SECRET"] = secret
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [*CLI, "listen", "--port", "0", *args], stdout=stdout, stderr=stderr, env=env, text=True
            )
        started.append(process)
        wait_for(
            lambda: "Listening on" in err.read_text(encoding="utf-8") or process.poll() is not None,
            timeout=60,
            what="the listener",
        )
        # The port it bound, from its line; none when it exited without listening.
        announced = LISTENER_LINE.search(err.read_text(encoding="utf-8"))
        return Listening(process, f"http://127.0.0.1:{announced.group(1)}" if announced else "", out, err)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def server(make_live_server: Callable[[ServerConfig], LiveServer], server_config: ServerConfig) -> LiveServer:
    return make_live_server(hook_config(server_config))


def _subscribe(server: LiveServer, url: str, events: list[str], secret: str = SECRET) -> str:
    hook = Client(server.url).transport.call(
        "POST", "/2.0/mlflow/webhooks", {"name": "listen", "url": url, "events": events, "secret": secret}
    )["webhook"]
    return str(hook["webhook_id"])


def _frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"age": rng.normal(40 + 10 * shift, 10, N), "income": rng.normal(5 + 3 * shift, 1, N)}
    )


def _drift_alert(server: LiveServer, name: str) -> None:
    client = Client(server.url)
    client.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": name, "source": SOURCE})
    monitoring.set_reference(
        name, 1, _frame(1), settings={"alert": {"share_drifted": 0.5, "consecutive_windows": 1}},
        tracking_uri=server.url,
    )  # fmt: skip
    loud = monitoring.log_batch(name, 1, _frame(2, shift=1.0), window_time=1_000, tracking_uri=server.url)
    assert loud["alert"], loud


def _signed(
    body: bytes, *, secret: str = SECRET, age: int = 0, delivery_id: str = "forged-1"
) -> dict[str, str]:
    timestamp = str(int(time.time()) - age)
    return {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": expected_signature(secret, delivery_id, timestamp, body),
    }


def test_real_deliveries_are_printed_and_forgeries_refused(
    server: LiveServer, start_listener: Callable[..., Listening]
) -> None:
    listener = start_listener("--output", "jsonl")
    assert listener.process.poll() is None, listener.stderr()
    assert (
        f"Listening on {listener.url} (signatures checked with $LEDGERFLOW_WEBHOOK_SECRET"
        in listener.stderr()
    )
    _subscribe(server, listener.url + "/hooks", ["registered_model.created", "drift.alert"])

    Client(server.url).transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "churn"})
    [created] = wait_for(listener.lines, what="the registered_model.created delivery")
    assert created["event"] == "registered_model.created" and created["data"]["name"] == "churn"
    assert len(created["delivery_id"]) > 8 and created["timestamp"]

    _drift_alert(server, "churn")
    lines = wait_for(lambda: listener.lines() if len(listener.lines()) == 2 else None, what="the drift.alert")
    alert = lines[1]
    assert (alert["event"], alert["entity"], alert["action"]) == ("drift.alert", "drift", "alert")
    assert alert["data"]["name"] == "churn" and alert["data"]["version"] == "1"
    assert sorted(alert["data"]["drifted_features"]) == ["age", "income"]

    body = json.dumps({"entity": "drift", "action": "alert", "data": {"name": "churn"}}).encode()
    refusals = {
        "bad signature": _signed(body, secret="not-the-secret"),
        "s old": _signed(body, age=3600),
        "no X-MLflow-Signature": {k: v for k, v in _signed(body).items() if k != "X-MLflow-Signature"},
    }
    for reason, headers in refusals.items():
        answer = httpx.post(listener.url + "/hooks", content=body, headers=headers, timeout=10)
        assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED", reason
        assert reason in answer.json()["message"]
    tampered = httpx.post(
        listener.url, content=body.replace(b"churn", b"fraud"), headers=_signed(body), timeout=10
    )
    assert tampered.status_code == 401
    assert httpx.get(listener.url, timeout=10).status_code == 405
    report = listener.stderr()
    assert report.count("Rejected delivery forged-1 from 127.0.0.1: bad signature") == 2, report
    assert "(HTTP 401)" in report and "Rejected delivery (no id)" in report

    genuine = _signed(body, delivery_id="genuine-1")
    for _ in range(2):  # a retry of an acknowledged delivery is acknowledged, printed once
        assert httpx.post(listener.url, content=body, headers=genuine, timeout=10).status_code == 200
    assert [line["delivery_id"] for line in listener.lines()][2:] == ["genuine-1"]
    assert len(listener.lines()) == 3  # nothing refused was printed

    # The server's "test" call: accepted with the right secret, 401 with another.
    client = Client(server.url).transport
    right = _subscribe(server, listener.url, ["model_version.created"])
    wrong = _subscribe(server, listener.url, ["model_version.created"], secret="another-secret")
    assert client.call("POST", f"/2.0/mlflow/webhooks/{right}/test", {})["result"]["success"] is True
    refused = client.call("POST", f"/2.0/mlflow/webhooks/{wrong}/test", {})["result"]
    assert refused["success"] is False and refused["response_status"] == 401
    assert listener.lines()[-1]["event"] == "model_version.created"

    listener.process.send_signal(signal.SIGTERM)
    assert listener.process.wait(timeout=30) == 0


def test_once_waits_for_the_matching_event(
    server: LiveServer, start_listener: Callable[..., Listening]
) -> None:
    listener = start_listener("--once", "--event", "drift.*", "--timeout", "120")
    hook_id = _subscribe(server, listener.url, ["registered_model.created", "drift.alert"])
    Client(server.url).transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "churn"})
    time.sleep(1.0)
    assert listener.process.poll() is None  # a delivery of another event does not end it
    _drift_alert(server, "churn")
    assert listener.process.wait(timeout=60) == 0, listener.stderr()
    [line] = listener.stdout().splitlines()
    stamp, event, delivery_id, data = line.split(" ", 3)
    assert event == "drift.alert" and stamp.startswith("20") and delivery_id
    assert json.loads(data)["name"] == "churn"
    log = Client(server.url).transport.call("GET", f"/2.0/mlflow/webhooks/{hook_id}/deliveries", {})
    outcome = {d["event"]["entity"]: (d["status"], d.get("last_response_status")) for d in log["deliveries"]}
    assert outcome == {"REGISTERED_MODEL": ("SUCCEEDED", 200), "DRIFT": ("SUCCEEDED", 200)}, log


def test_timeout_usage_and_port_errors(
    start_listener: Callable[..., Listening], cli: Callable[[list[str]], CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    quiet = start_listener("--once", "--timeout", "1")
    assert quiet.process.wait(timeout=60) == 124
    assert quiet.stderr().splitlines()[-1] == "Error: no matching event within 1 s."

    monkeypatch.delenv("LEDGERFLOW_WEBHOOK_SECRET", raising=False)
    unset = cli(["listen", "--once"])
    assert unset.exit_code == 2 and "Set LEDGERFLOW_WEBHOOK_SECRET" in unset.stderr
    assert unset.stderr.count("\n") == 1
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = cli(["listen", "--secret-env", "HOOK_SECRET", "--port", str(port)])
    assert busy.exit_code == 1 and f"Could not listen on 127.0.0.1:{port}" in busy.stderr
    bad_host = cli(["listen", "--secret-env", "HOOK_SECRET", "--host", "999.1.1.1"])
    assert bad_host.exit_code == 2 and "not a valid IP address" in bad_host.stderr
