"""`ledgerflow models serve` under auth, on the real entry point: a bearer token (option,
variable or file) on /invocations, health checks open, loopback-only without a token unless
--no-auth, and the Host allow-list / Origin check / security headers of the tracking server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TOKEN = "scoring-token-4f1c9a7e2b8d6053"


def _command(model_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ledgerflow.cli",
        "models",
        "serve",
        "-m",
        str(model_dir),
        "-p",
        "0",
        *extra,
    ]


@contextmanager
def serving(model_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    process = subprocess.Popen(
        _command(model_dir, *extra),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=model_dir.parent,
    )
    try:
        assert process.stderr is not None
        line = ""
        while "Serving the model on" not in line:
            line = process.stderr.readline()
            assert line, "the scoring server exited before announcing itself"
        match = re.search(r"on (http://\S+)$", line.strip())
        assert match, line
        url = match.group(1)
        for _ in range(200):
            try:
                httpx.get(url + "/ping", timeout=1)
                break
            except httpx.TransportError:
                continue
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _columns(model_dir: Path) -> list[str]:
    import ledgerflow.pyfunc

    signature = ledgerflow.pyfunc.load_model(str(model_dir)).metadata.signature
    assert signature is not None
    return [str(column.name) for column in signature.inputs.inputs]  # type: ignore[union-attr]


def _body(model_dir: Path) -> dict[str, object]:
    return {"dataframe_split": {"columns": _columns(model_dir), "data": [[5.1, 3.5, 1.4, 0.2]]}}


def _one_shot(
    model_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(model_dir, *extra),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=model_dir.parent,
    )


@pytest.mark.parametrize("how", ["file", "env"])
def test_token_guards_invocations_but_not_health(model_dir: Path, tmp_path: Path, how: str) -> None:
    if how == "file":
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        context = serving(model_dir, "--auth-token-file", str(token_file))
    else:
        context = serving(model_dir, env={"LEDGERFLOW_SCORING_TOKEN": TOKEN})
    body = _body(model_dir)
    with context as url:
        for path in ("/ping", "/health", "/version"):
            assert httpx.get(url + path, timeout=60).status_code == 200
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
        ):
            refused = httpx.post(url + "/invocations", json=body, headers=headers, timeout=60)
            assert refused.status_code == 401, headers
            assert refused.json()["error_code"] == "UNAUTHENTICATED"
            assert "predictions" not in refused.text
        scored = httpx.post(url + "/invocations", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert scored.status_code == 200, scored.text
        assert len(scored.json()["predictions"]) == 1
        assert scored.headers["x-content-type-options"] == "nosniff"
        assert scored.headers["cache-control"] == "no-store"


def test_loopback_without_token_is_open_but_rebinding_and_cross_site_are_refused(model_dir: Path) -> None:
    body = _body(model_dir)
    with serving(model_dir) as url:
        assert httpx.post(url + "/invocations", json=body).status_code == 200
        port = url.rsplit(":", 1)[1]
        rebound = httpx.post(
            url + "/invocations", json=body, headers={"Host": f"rebind.attacker.example:{port}"}
        )
        assert rebound.status_code == 403
        assert rebound.json()["error_code"] == "PERMISSION_DENIED"
        cross = httpx.post(url + "/invocations", json=body, headers={"Origin": "https://attacker.example"})
        assert cross.status_code == 403
        assert httpx.get(url + "/ping", headers={"Host": f"localhost:{port}"}).status_code == 200


@pytest.mark.parametrize(
    ("extra", "env", "fragment"),
    [
        (("-h", "0.0.0.0"), {}, "LEDGERFLOW_SCORING_TOKEN"),
        (("-h", "0.0.0.0", "--auth-token", "short"), {}, "at least 16"),
        (("--no-auth", "--auth-token", TOKEN), {}, "contradicts"),
        (("--auth-token-file", "/nonexistent/token"), {}, "Cannot read"),
        (("--allowed-hosts", "bad/host"), {}, "Invalid allowed host"),
    ],
)
def test_refusals_are_one_line_errors(
    model_dir: Path, extra: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    done = _one_shot(model_dir, *extra, env={"LEDGERFLOW_SCORING_TOKEN": "", **env})
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]
    assert "Serving the model" not in done.stderr
