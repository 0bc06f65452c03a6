"""Per-file scans at upload and the download gate, through the artifact proxy of a live
server: data passes untouched, model files are judged by content, blocked files are refused
(403, audited), never-scanned files are scanned on first download, a file swapped behind the
server's back is caught (a 403 before the body when it can be told before, a connection cut
short of its Content-Length otherwise), overrides let a file through, writes below a
registered version are refused."""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.governance.scanning import payloads as p

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
FILES_SCAN = "/api/2.0/ledgerflow/artifacts/scan"
AUDIT = "/api/2.0/ledgerflow/audit/records"


def put(url: str, path: str, data: bytes) -> None:
    response = httpx.put(f"{url}{PROXY}/{path}", content=data, timeout=60)
    assert response.status_code == 200, response.text


def get(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url}{PROXY}/{path}", timeout=60)


def files_scan(url: str, path: str) -> dict[str, Any]:
    response = httpx.get(url + FILES_SCAN, params={"path": path}, timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json()["scan"])


def one_file(url: str, path: str) -> dict[str, Any]:
    scan = files_scan(url, path)
    assert len(scan["files"]) == 1, scan
    return dict(scan["files"][0])


def audit_actions(url: str, action: str) -> list[dict[str, Any]]:
    response = httpx.get(url + AUDIT, params={"action": action})
    assert response.status_code == 200, response.text
    return list(response.json().get("records") or [])


def stored(live: Any, path: str) -> Path:
    return Path(live.config.artifacts_destination) / path


def _sklearn_pickle() -> bytes:
    return pickle.dumps(p.forest(), protocol=5)


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + np.random.default_rng(1).bytes(200_000)


DATA_FILES = {
    "plot.png": _png,
    # Starts like a zlib header ('x' then a byte that makes the check sum work): text still.
    "notes.txt": lambda: b"x = 1\n" * 30_000,
    "metrics.json": lambda: json.dumps({"accuracy": 0.9, "rows": list(range(5000))}).encode(),
    "table.csv": lambda: b"a,b,c\n" + b"1,2,3\n" * 20_000,
    "frame.parquet": lambda: b"PAR1" + bytes(range(256)) * 300 + b"PAR1",
    "empty.txt": lambda: b"",
}


def test_data_files_are_recorded_without_a_scan_and_download_unchanged(live_server: Any) -> None:
    url = live_server.url
    for name, make in DATA_FILES.items():
        data = make()
        put(url, f"1/run/artifacts/data/{name}", data)
        got = get(url, f"1/run/artifacts/data/{name}")
        assert got.status_code == 200 and got.content == data, name
    scan = files_scan(url, "1/run/artifacts/data")
    assert scan["status"] == scan["effective_status"] == "clean"
    kinds = {item["path"]: (item["kind"], item["status"], item["trigger"]) for item in scan["files"]}
    assert kinds == {name: ("data", "clean", "upload") for name in DATA_FILES}


MODEL_FILES = {
    # name (no telling extension), bytes, expected status, a word the findings name
    "weights.png": (lambda: p.system_pickle(), "findings", "system"),
    "memo.txt": (lambda: p.memo_confusion("os", "system", "id"), "findings", "os.system"),
    "archive.bin": (lambda: p.torch_archive(p.system_pickle()), "findings", "system"),
    "nested.dat": (lambda: p.nested_zip(p.logger_pickle()), "findings", "logging.getLogger"),
    "array.json": (lambda: p.object_npy(p.SystemCall()), "findings", "system"),
    "model.h5": (lambda: p.keras_h5_lambda(), "findings", "Lambda"),
    "cut.pkl": (lambda: p.system_pickle()[:-6], "unscannable", "corrupt"),
    "stack.pkl": (lambda: p.unresolvable_stack_global(), "unscannable", "unresolvable"),
}


def test_model_files_are_judged_by_content_and_blocked_ones_refused(live_server: Any) -> None:
    url = live_server.url
    for name, (make, status, word) in MODEL_FILES.items():
        data = make()
        put(url, f"1/run/artifacts/m/{name}", data)
        item = one_file(url, f"1/run/artifacts/m/{name}")
        assert (item["kind"], item["status"]) == ("model", status), (name, item)
        refused = get(url, f"1/run/artifacts/m/{name}")
        assert refused.status_code == 403, (name, refused.text)
        body = refused.json()
        assert body["error_code"] == "PERMISSION_DENIED" and f"scan is '{status}'" in body["message"]
        assert word in body["message"], (name, body["message"])
        assert data[:40] not in refused.content  # never the file's content
    records = audit_actions(url, "scans.file_download_refused")
    assert len(records) >= len(MODEL_FILES)
    assert all(r["outcome"] == "denied" for r in records)


def test_clean_model_files_pass_whatever_their_names(live_server: Any, tmp_path: Path) -> None:
    url = live_server.url
    forest = _sklearn_pickle()
    joblib_file = tmp_path / "forest.joblib"
    import joblib

    joblib.dump(p.forest(), joblib_file, compress=3)
    for name, data in {
        "model.model": forest,
        "noext": forest,
        "forest.bin": joblib_file.read_bytes(),
    }.items():
        put(url, f"1/run/artifacts/ok/{name}", data)
        item = one_file(url, f"1/run/artifacts/ok/{name}")
        assert (item["kind"], item["status"]) == ("model", "clean"), (name, item)
        got = get(url, f"1/run/artifacts/ok/{name}")
        assert got.status_code == 200 and got.content == data


def test_joblib_with_a_hidden_object_array_is_refused(live_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "evil.joblib"
    p.joblib_with_object(path, p.SystemCall())
    put(live_server.url, "1/run/artifacts/j/model.joblib", path.read_bytes())
    assert get(live_server.url, "1/run/artifacts/j/model.joblib").status_code == 403


def test_files_never_scanned_are_scanned_on_first_download(live_server: Any) -> None:
    """Files stored before scanning existed (or behind the server's back) have no result."""
    url = live_server.url
    written = {
        "old/readme.txt": (b"just text\n" * 100, 200),
        "old/model.pkl": (p.system_pickle(), 403),
        "old/broken.zip": (b"PK\x03\x04" + b"\x00" * 64, 403),
    }
    for rel, (data, _status) in written.items():
        path = stored(live_server, f"1/legacy/artifacts/{rel}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for rel, (data, status) in written.items():
        got = get(url, f"1/legacy/artifacts/{rel}")
        assert got.status_code == status, (rel, got.text)
        if status == 200:
            assert got.content == data
    scan = files_scan(url, "1/legacy/artifacts/old")
    by_path = {item["path"]: item for item in scan["files"]}
    assert by_path["readme.txt"]["trigger"] == "download" and by_path["readme.txt"]["kind"] == "data"
    assert by_path["model.pkl"]["status"] == "findings"
    assert by_path["broken.zip"]["status"] == "unscannable"  # fail closed


def test_a_small_model_file_swapped_behind_the_server_is_refused_before_the_body(
    live_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Same size, one byte different: a model file up to HASH_FIRST_BYTES is hashed before
    the headers, so the answer is a 403 naming the change, never a 200 with a cut body."""
    url = live_server.url
    original = pickle.dumps(["a" * 3_000_000], protocol=4)
    put(url, "1/run/artifacts/swap/list.pkl", original)
    assert get(url, "1/run/artifacts/swap/list.pkl").content == original
    swapped = bytearray(original)
    swapped[len(swapped) // 2] ^= 1
    stored(live_server, "1/run/artifacts/swap/list.pkl").write_bytes(bytes(swapped))
    with _server_log(caplog):
        refused = get(url, "1/run/artifacts/swap/list.pkl")
    assert refused.status_code == 403, refused.status_code
    body = refused.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "changed after it was scanned" in body["message"] and "SHA-256" in body["message"], body
    assert audit_actions(url, "scans.file_changed_after_scan")
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]


def test_a_large_model_file_modified_after_its_scan_is_refused_before_the_body(live_server: Any) -> None:
    url = live_server.url
    original = pickle.dumps(["a" * 5_000_000], protocol=4)
    put(url, "1/run/artifacts/swap/big.pkl", original)
    path = stored(live_server, "1/run/artifacts/swap/big.pkl")
    swapped = bytearray(original)
    swapped[-100] ^= 1
    path.write_bytes(bytes(swapped))
    later = time.time() + 10  # after the scan by more than the slack
    os.utime(path, (later, later))
    refused = get(url, "1/run/artifacts/swap/big.pkl")
    assert refused.status_code == 403 and "changed after it was scanned" in refused.json()["message"]


def test_a_large_model_file_changed_unseen_is_cut_short_without_a_traceback(
    live_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Same size and the old modification time: only the bytes tell, and they are hashed as
    they go out. The connection closes short of Content-Length (the client sees an incomplete
    body) and the server logs one warning, no traceback."""
    url = live_server.url
    original = pickle.dumps(["a" * 5_000_000], protocol=4)
    put(url, "1/run/artifacts/swap/big.pkl", original)
    path = stored(live_server, "1/run/artifacts/swap/big.pkl")
    stat = path.stat()
    swapped = bytearray(original)
    swapped[-100] ^= 1
    path.write_bytes(bytes(swapped))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    received = bytearray()
    with _server_log(caplog):
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("GET", f"{url}{PROXY}/1/run/artifacts/swap/big.pkl", timeout=60) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-length"] == str(len(original))
            for block in response.iter_bytes():
                received += block
        time.sleep(0.2)  # the server logs after the connection closed
    assert len(received) < len(swapped)
    assert audit_actions(url, "scans.file_changed_after_scan")
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "changed after it was scanned" in problems[0], problems


@contextmanager
def _server_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture the ASGI server's error log too (it does not propagate to the root logger)."""
    server = logging.getLogger("uvicorn.error")
    server.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING):
            yield
    finally:
        server.removeHandler(caplog.handler)


def test_a_data_file_swapped_for_a_pickle_is_rescanned_and_refused(live_server: Any) -> None:
    url = live_server.url
    evil = p.system_pickle()
    text = b"y" * len(evil)
    put(url, "1/run/artifacts/swap/notes.txt", text)
    assert one_file(url, "1/run/artifacts/swap/notes.txt")["kind"] == "data"
    stored(live_server, "1/run/artifacts/swap/notes.txt").write_bytes(evil)  # same size
    refused = get(url, "1/run/artifacts/swap/notes.txt")
    assert refused.status_code == 403 and "findings" in refused.json()["message"]
    item = one_file(url, "1/run/artifacts/swap/notes.txt")
    assert (item["kind"], item["status"], item["trigger"]) == ("model", "findings", "download")


def test_an_archive_behind_a_data_head_is_scanned_when_first_downloaded(live_server: Any) -> None:
    """A zip's directory sits at its end: text in front does not make it data."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("data.pkl", p.system_pickle())
    polyglot = b"just a text header\n" * 5000 + archive.getvalue()
    put(live_server.url, "1/run/artifacts/poly/notes.txt", polyglot)
    before = one_file(live_server.url, "1/run/artifacts/poly/notes.txt")
    # The aggregate scans what was left unscanned at upload.
    assert before["status"] == "findings" and before["trigger"] == "read", before
    assert get(live_server.url, "1/run/artifacts/poly/notes.txt").status_code == 403


def test_override_lets_a_blocked_file_through_until_it_changes(live_server: Any) -> None:
    url = live_server.url
    path = "1/run/artifacts/ov/logger.pkl"
    put(url, path, p.logger_pickle())
    assert get(url, path).status_code == 403
    endpoint = url + FILES_SCAN + "/override"
    no_reason = httpx.post(endpoint, json={"path": path, "expires_at": "2999-01-01"})
    assert no_reason.status_code == 400 and no_reason.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    too_long = httpx.post(endpoint, json={"path": path, "reason": "x", "expires_at": "2999-01-01"})
    assert too_long.status_code == 400 and "90 days" in too_long.json()["message"]
    expires = int(time.time() * 1000) + 3_600_000
    done = httpx.post(endpoint, json={"path": path, "reason": "logger is harmless", "expires_at": expires})
    assert done.status_code == 200, done.text
    scan = done.json()["scan"]
    assert scan["status"] == "findings" and scan["effective_status"] == "overridden"
    assert scan["files"][0]["override"]["reason"] == "logger is harmless"
    assert get(url, path).status_code == 200
    assert audit_actions(url, "scans.override_artifacts_scan")
    # Other bytes at the same path: the override was for the old digest.
    put(url, path, pickle.dumps(p.LoggerOnly(), protocol=2))
    assert get(url, path).status_code == 403
    clean = httpx.post(endpoint, json={"path": "1/run/artifacts/data", "reason": "x", "expires_at": expires})
    assert clean.status_code in (400, 404)


def test_writes_below_a_registered_version_are_refused(live_server: Any) -> None:
    """A registered version's files are immutable through the API (governance/frozen_files.py);
    its scan stays the registration's. Writes beside its folder are scanned as usual."""
    import ledgerflow
    import ledgerflow.sklearn
    from ledgerflow.client.fluent import reset_fluent_state

    reset_fluent_state()
    url = live_server.url
    ledgerflow.set_tracking_uri(url)
    ledgerflow.set_experiment("writes-below")
    with ledgerflow.start_run():
        ledgerflow.sklearn.log_model(p.forest(), name="model", registered_model_name="below")
    reset_fluent_state()
    version_scan = url + "/api/2.0/ledgerflow/model-versions/scan"
    first = httpx.get(version_scan, params={"name": "below", "version": "1"}).json()["scan"]
    assert first["status"] == "clean" and first["trigger"] == "registration"
    location = httpx.get(
        url + "/api/2.0/mlflow/model-versions/get-download-uri", params={"name": "below", "version": "1"}
    ).json()["artifact_uri"]
    root = location.split("mlflow-artifacts:", 1)[1].strip("/")
    added = httpx.put(f"{url}{PROXY}/{root}/extra/weights.bin", content=p.torch_archive(p.system_pickle()))
    assert added.status_code == 403 and "immutable" in added.json()["message"], added.text
    assert httpx.delete(f"{url}{PROXY}/{root}/MLmodel").status_code == 403
    after = httpx.get(version_scan, params={"name": "below", "version": "1"}).json()["scan"]
    assert after["status"] == "clean" and after["trigger"] == "registration"
    assert after["manifest_digest"] == first["manifest_digest"]
    beside = root.rsplit("/", 1)[0] + "/beside/weights.bin"
    put(url, beside, p.torch_archive(p.system_pickle()))
    assert one_file(url, beside)["status"] == "findings"


def test_length_prefixes_are_judged_against_the_file_size(live_server: Any) -> None:
    """Random binary data often starts like a length-prefixed pickle opcode: when the claimed
    length exceeds the file, no loader gets past it (data); when it fits, the bytes after it
    are scanned, so an import cannot hide behind a long constant."""
    url = live_server.url
    noise = np.random.default_rng(3).bytes(200_000)
    overrun = b"B" + (2**31 - 1).to_bytes(4, "little") + noise
    fits = b"B" + (100_000).to_bytes(4, "little") + noise
    hidden = pickle.dumps((b"x" * 100_000, p.SystemCall()), protocol=3)[2:]  # no PROTO opcode
    put(url, "1/run/artifacts/len/overrun.bin", overrun)
    put(url, "1/run/artifacts/len/fits.bin", fits)
    put(url, "1/run/artifacts/len/hidden.bin", hidden)
    results = {item["path"]: item for item in files_scan(url, "1/run/artifacts/len")["files"]}
    assert (results["overrun.bin"]["kind"], results["overrun.bin"]["status"]) == ("data", "clean")
    assert (results["fits.bin"]["kind"], results["fits.bin"]["status"]) == ("model", "clean")
    assert (results["hidden.bin"]["kind"], results["hidden.bin"]["status"]) == ("model", "findings")
    assert get(url, "1/run/artifacts/len/overrun.bin").content == overrun
    assert get(url, "1/run/artifacts/len/fits.bin").content == fits
    assert get(url, "1/run/artifacts/len/hidden.bin").status_code == 403


def test_the_web_ui_hands_out_no_blocked_file(live_server: Any) -> None:
    api = f"{live_server.url}/api/2.0/mlflow"
    experiment = httpx.post(f"{api}/experiments/create", json={"name": "ui-gate"}).json()["experiment_id"]
    run = httpx.post(f"{api}/runs/create", json={"experiment_id": experiment}).json()["run"]["info"]
    root = run["artifact_uri"].split("mlflow-artifacts:", 1)[1].strip("/")
    put(live_server.url, f"{root}/weights.bin", p.system_pickle())
    put(live_server.url, f"{root}/notes.txt", b"plain notes\n")
    page = f"{live_server.url}/runs/{run['run_id']}/artifact"
    refused = httpx.get(page, params={"path": "weights.bin"})
    assert refused.status_code == 403 and "findings" in refused.text
    assert httpx.get(page, params={"path": "notes.txt"}).content == b"plain notes\n"
    # The run page still renders with the blocked file selected; its preview says why.
    preview = httpx.get(f"{live_server.url}/runs/{run['run_id']}", params={"artifact": "weights.bin"})
    assert preview.status_code == 200 and "Refusing to download" in preview.text
