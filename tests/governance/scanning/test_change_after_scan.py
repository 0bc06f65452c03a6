"""Acceptance check 3 for logged models: ``load_model`` and the scoring server raise before
anything is unpickled when a model file changed after its scan, whichever way it changed
(through the API: rescanned; behind the server's back: refused by size or by the hash of the
file before it is sent, or caught by the client's comparison with the scanned digests)."""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import ledgerflow
import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.governance.scanning.unpickler import UnsafeModel
from tests.governance.scanning import payloads as p

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(autouse=True)
def fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_ALLOW_GLOBALS"):
        monkeypatch.delenv(name, raising=False)
    reset_fluent_state()
    yield
    reset_fluent_state()


def _marker_payload(marker: Path, size: int | None = None) -> bytes:
    """A pickle that copies a file to ``marker`` when loaded, padded to ``size`` bytes with a
    trailing string argument nobody reads."""

    class Touch:
        def __init__(self, padding: str) -> None:
            self.padding = padding

        def __reduce__(self) -> tuple[Any, ...]:
            return (shutil.copyfile, (__file__, str(marker)))

    data = pickle.dumps(Touch(""), protocol=4)
    if size is None or len(data) >= size:
        return data
    # Same opcodes plus a longer marker path component would change what runs; pad after STOP
    # instead: pickle.load stops at STOP, and the file keeps exactly ``size`` bytes.
    return data + b"\x00" * (size - len(data))


def _log(tracking_uri: str, experiment: str) -> Any:
    ledgerflow.set_tracking_uri(tracking_uri)
    ledgerflow.set_experiment(experiment)
    with ledgerflow.start_run():
        return ledgerflow.sklearn.log_model(p.forest(), name="model")


def _model_file(live: Any, info: Any) -> Path:
    rest = info.artifact_uri.split("mlflow-artifacts:", 1)[1].strip("/")
    return Path(live.config.artifacts_destination) / rest / "model.pkl"


def test_clean_logged_model_loads_and_its_scan_is_on_the_api(live_server: Any) -> None:
    info = _log(live_server.url, "change-clean")
    assert info.model_uri.startswith("models:/m-")
    scan = httpx.get(
        live_server.url + "/api/2.0/ledgerflow/logged-models/scan", params={"model_id": info.model_id}
    ).json()["scan"]
    assert scan["status"] == "clean" and scan["model_id"] == info.model_id
    assert {"MLmodel", "model.pkl"} <= {item["path"] for item in scan["files"]}
    model = ledgerflow.pyfunc.load_model(info.model_uri)
    assert model.predict(np.zeros((2, 4))).shape == (2,)


def test_file_replaced_through_the_api_is_rescanned_and_refused(live_server: Any, tmp_path: Path) -> None:
    info = _log(live_server.url, "change-api")
    marker = tmp_path / "pwned"
    rest = info.artifact_uri.split("mlflow-artifacts:", 1)[1].strip("/")
    put = httpx.put(f"{live_server.url}{PROXY}/{rest}/model.pkl", content=_marker_payload(marker))
    assert put.status_code == 200
    with pytest.raises(UnsafeModel, match="scan of its files is 'findings'"):
        ledgerflow.pyfunc.load_model(info.model_uri)
    assert not marker.exists()


def test_file_swapped_in_the_store_is_refused_before_unpickling(live_server: Any, tmp_path: Path) -> None:
    """Another size: the server sees the change, rescans and refuses the download."""
    info = _log(live_server.url, "change-store")
    marker = tmp_path / "pwned"
    _model_file(live_server, info).write_bytes(_marker_payload(marker))
    with pytest.raises(UnsafeModel, match="findings"):
        ledgerflow.pyfunc.load_model(info.model_uri)
    with pytest.raises(UnsafeModel):
        ledgerflow.pyfunc.load_model(f"runs:/{info.run_id}/model")
    assert not marker.exists()


def test_same_size_swap_is_refused_before_the_body(
    live_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same size: only the bytes tell. The model file is small enough to hash before the
    headers, so the server answers 403 naming the change (never a 200 with a cut body) on
    the direct URL, to our loader and to the stock mlflow loader; no traceback is logged."""
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    info = _log(live_server.url, "change-same-size")
    marker = tmp_path / "pwned"
    path = _model_file(live_server, info)
    swapped = bytearray(path.read_bytes())
    swapped[len(swapped) // 2] ^= 1  # one byte
    path.write_bytes(bytes(swapped))
    rest = info.artifact_uri.split("mlflow-artifacts:", 1)[1].strip("/")
    caplog.set_level(logging.WARNING)
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    try:
        direct = httpx.get(f"{live_server.url}{PROXY}/{rest}/model.pkl")
        assert direct.status_code == 403, direct.status_code
        assert direct.json()["error_code"] == "PERMISSION_DENIED"
        assert "changed after it was scanned" in direct.json()["message"], direct.text
        with pytest.raises(UnsafeModel, match="changed after it was scanned"):
            ledgerflow.pyfunc.load_model(info.model_uri)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mlflow.set_tracking_uri(live_server.url)
        (tmp_path / "stock").mkdir()
        with pytest.raises(MlflowException) as stock:
            mlflow.pyfunc.load_model(info.model_uri, dst_path=str(tmp_path / "stock"))
        assert "IncompleteRead" not in str(stock.value)
        assert "403" in str(stock.value) or "Failed to download" in str(stock.value), stock.value
    finally:
        server_log.removeHandler(caplog.handler)
    assert not marker.exists()
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]
    records = httpx.get(
        live_server.url + "/api/2.0/ledgerflow/audit/records",
        params={"action": "scans.file_changed_after_scan"},
    ).json()
    assert records.get("records"), records


def test_local_store_client_compares_the_scanned_digests(tmp_path: Path) -> None:
    """No server between the client and the files (a local store): the client itself finds
    that the files differ from the ones scanned, before unpickling."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    info = _log(store, "change-local")
    model = ledgerflow.pyfunc.load_model(info.model_uri)
    assert model.predict(np.zeros((1, 4))).shape == (1,)
    marker = tmp_path / "pwned"
    files = [path for path in tmp_path.rglob("model.pkl") if info.model_id in str(path)]
    assert len(files) == 1, files
    swapped = _marker_payload(marker, files[0].stat().st_size)
    files[0].write_bytes(swapped)
    assert hashlib.sha256(swapped).hexdigest() != ""
    with pytest.raises(UnsafeModel, match="differ from the files that were scanned"):
        ledgerflow.pyfunc.load_model(info.model_uri)
    assert not marker.exists()


def test_scoring_server_refuses_to_start_on_a_changed_file(live_server: Any, tmp_path: Path) -> None:
    info = _log(live_server.url, "change-serve")
    marker = tmp_path / "pwned"
    _model_file(live_server, info).write_bytes(_marker_payload(marker))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ledgerflow"),
            "models",
            "serve",
            "-m",
            info.model_uri,
            "--tracking-uri",
            live_server.url,
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != 0, done.stdout
    assert "Refusing to load" in done.stderr and "findings" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no traceback
    assert not marker.exists()
