"""Client-side file write from a hostile tracking server (CVE-2023-6018's class): artifact
listings whose entries climb out (``../``), are absolute, or use backslashes, and downloads
whose Content-Disposition names another file, never make ``download_artifacts`` write outside
the destination folder."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import ledgerflow
from ledgerflow.errors import InvalidParameter

RUN_ID = "0123456789abcdef0123456789abcdef"


def _hostile(entry: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            body: Any
            if url.path.endswith("/runs/get"):
                body = {
                    "run": {
                        "info": {
                            "run_id": RUN_ID,
                            "run_uuid": RUN_ID,
                            "experiment_id": "1",
                            "artifact_uri": f"mlflow-artifacts:/1/{RUN_ID}/artifacts",
                            "lifecycle_stage": "active",
                            "status": "FINISHED",
                        },
                        "data": {},
                    }
                }
            elif url.path.endswith("/mlflow-artifacts/artifacts") or url.path.endswith("/artifacts/list"):
                asked = parse_qs(url.query).get("path", [""])[0]
                body = (
                    {"files": [{"path": entry, "is_dir": False, "file_size": 4}]}
                    if "/" in asked or not asked or asked.endswith("artifacts")
                    else {}
                )
            else:
                self.send_response(200)
                self.send_header("Content-Length", "4")
                self.send_header("Content-Disposition", 'attachment; filename="../../../evil"')
                self.end_headers()
                self.wfile.write(b"pwn\n")
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


ENTRIES = {
    "dotdot": "../../../evil",
    "inner-dotdot": "a/../../../../evil",
    "absolute": "/tmp/ledgerflow-hostile-evil",
    "backslash": "..\\..\\..\\evil",
    "encoded": "%2e%2e/%2e%2e/%2e%2e/evil",
    "fullwidth": "\uff0e\uff0e/\uff0e\uff0e/evil",
}


@pytest.fixture(params=list(ENTRIES))
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    server = _hostile(ENTRIES[request.param])
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_listing_cannot_write_outside_the_destination(hostile: str, tmp_path: Path) -> None:
    dst = tmp_path / "deep" / "er" / "dst"
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    client = ledgerflow.Client(hostile)
    # The client keeps only each entry's last segment (the proxy lists one folder level), so a
    # climbing name lands inside the destination; a name that is itself '..' is refused.
    with contextlib.suppress(InvalidParameter):
        client.download_artifacts(RUN_ID, "", str(dst))
    for written in dst.rglob("*"):
        assert written.resolve().is_relative_to(dst.resolve())
    outside = [
        str(p) for p in tmp_path.rglob("*") if p.is_file() and not p.resolve().is_relative_to(dst.resolve())
    ]
    assert outside == [p for p in before if Path(p).is_file()]
    assert not Path("/tmp/ledgerflow-hostile-evil").exists()
