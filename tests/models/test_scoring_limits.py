"""Hostile and broken requests to the scoring server and ``ledgerflow models predict``:
JSON nested past the depth limit, bodies over the size limit (refused before being read),
model errors that name their cause, and an unwritable output path checked before scoring."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.models.scoring.app import create_scoring_app
from tests.cli.conftest import invoke
from tests.listening import MODEL_LINE, announced_port

ROOT = Path(__file__).resolve().parents[2]
DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
JUST_TOO_DEEP = b'{"inputs": ' + b"[" * 64 + b"1" + b"]" * 64 + b"}"


@pytest.fixture
def tensor_model(tmp_path: Path) -> Path:
    """A LogisticRegression on two features, saved with a float64 tensor signature."""
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    path = tmp_path / "tensor-model"
    ledgerflow.sklearn.save_model(
        LogisticRegression().fit(features, [0, 1, 0, 1]), path, input_example=features[:2]
    )
    return path


@pytest.fixture
def unsigned_model(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "unsigned-model"
    ledgerflow.sklearn.save_model(LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0]], [0, 1]), path)
    return path


def _scorer(model: Path, **limits: Any) -> TestClient:
    app = create_scoring_app(ledgerflow.pyfunc.load_model(str(model)), **limits)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("body", [DEEP, JUST_TOO_DEEP], ids=["100000-deep", "65-deep"])
def test_deeply_nested_json_is_a_400_with_error_json(tensor_model: Path, body: bytes) -> None:
    response = _scorer(tensor_model).post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert "Recursion" not in response.text


def test_nesting_within_the_limit_still_scores(tensor_model: Path) -> None:
    response = _scorer(tensor_model).post("/invocations", json={"inputs": [[0.1, 0.8]]})
    assert response.status_code == 200 and response.json() == {"predictions": [0]}


def test_declared_oversized_body_is_413(tensor_model: Path) -> None:
    body = json.dumps({"inputs": [[0.1, 0.8]] * 200}).encode()
    response = _scorer(tensor_model, max_request_bytes=1000).post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "1000 bytes" in response.json()["message"]


def test_body_under_the_limit_scores(tensor_model: Path) -> None:
    scorer = _scorer(tensor_model, max_request_bytes=1000)
    assert scorer.post("/invocations", json={"inputs": [[0.1, 0.8]]}).status_code == 200


def test_integer_inputs_for_a_float_tensor_score(tensor_model: Path) -> None:
    scorer = _scorer(tensor_model)
    for key in ("inputs", "instances"):
        response = scorer.post("/invocations", json={key: [[1, 2], [0, 3]]})
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 2


def test_lossy_cast_to_the_tensor_type_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0, 1], [1, 0]], dtype=np.int64)
    path = tmp_path / "int-model"
    ledgerflow.sklearn.save_model(LogisticRegression().fit(features, [0, 1]), path, input_example=features)
    scorer = _scorer(path)
    assert scorer.post("/invocations", json={"inputs": [[1, 0]]}).status_code == 200
    refused = scorer.post("/invocations", json={"inputs": [[1.5, 0]]})
    assert refused.status_code == 400
    assert "does not match expected dtype int64" in refused.json()["message"]


def test_model_error_names_its_cause_without_a_traceback(unsigned_model: Path) -> None:
    response = _scorer(unsigned_model).post("/invocations", json={"inputs": [[1.0, 2.0, 3.0]]})
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith("Encountered an unexpected error while evaluating the model.")
    assert "ValueError: X has 3 features, but LogisticRegression is expecting 2" in message
    assert "Traceback" not in message and ".py" not in message


# -- a live server: limits hold before the body is read ------------------------------------------


@pytest.fixture
def live_scorer(tensor_model: Path, tmp_path: Path) -> Iterator[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEDGERFLOW_"))}
    command = [str(ROOT / ".venv/bin/ledgerflow"), "models", "serve", "-m", str(tensor_model)]
    command += ["-p", "0", "--max-request-bytes", "4096"]
    log = tmp_path / "scorer.log"
    with log.open("w") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        port = announced_port(process, log, MODEL_LINE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "scoring server did not start"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def _response_head(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_live_declared_300mb_body_is_refused_unread(live_scorer: int) -> None:
    with socket.create_connection(("127.0.0.1", live_scorer)) as sock:
        # Only the headers are sent: the answer must come without the 300 MB ever arriving.
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"inputs": ['
        )
        head = _response_head(sock)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"REQUEST_LIMIT_EXCEEDED" in head or b"application/json" in head


def test_live_streamed_body_is_refused_once_past_the_limit(live_scorer: int) -> None:
    with socket.create_connection(("127.0.0.1", live_scorer)) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"[0.1, 0.8]," * 100
        # 3 chunks pass the 4 KiB limit; the body is never finished (no terminating chunk).
        for _ in range(5):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        head = _response_head(sock)
    assert head.startswith(b"HTTP/1.1 413"), head


# -- ledgerflow models predict --------------------------------------------------------------------


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in stderr
    return lines[0]


def test_predict_on_deep_json_is_one_line(tensor_model: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(DEEP)
    result = invoke(["models", "predict", "-m", str(tensor_model), "-i", str(deep)])
    assert result.exit_code == 2
    assert "valid JSON" in _one_error_line(result.stderr)


def test_predict_checks_the_output_path_before_scoring(tensor_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"inputs": [[0.1, 0.8]]}))
    # A model URI that cannot load: the output check must answer first.
    args = ["models", "predict", "-m", str(tmp_path / "no-model"), "-i", str(source)]
    result = invoke([*args, "-o", str(tmp_path / "nonexistent" / "dir" / "out.json")])
    assert result.exit_code == 2
    assert "does not exist" in _one_error_line(result.stderr)
    assert not (tmp_path / "nonexistent").exists()
    directory = invoke([*args, "-o", str(tmp_path)])
    assert directory.exit_code == 2 and "is a directory" in _one_error_line(directory.stderr)


def test_predict_writes_to_a_good_output_path(tensor_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"inputs": [[1, 2]]}))
    out = tmp_path / "out.json"
    result = invoke(["models", "predict", "-m", str(tensor_model), "-i", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text()) == {"predictions": [0]}


def test_predict_model_error_is_one_line_with_its_cause(unsigned_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"inputs": [[1.0, 2.0, 3.0]]}))
    result = invoke(["models", "predict", "-m", str(unsigned_model), "-i", str(source)])
    assert result.exit_code == 2
    assert "X has 3 features" in _one_error_line(result.stderr)
