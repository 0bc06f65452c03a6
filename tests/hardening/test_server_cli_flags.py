"""`ledgerflow server` / `ledgerflow ui` flags for browser hardening and authorization, on the
real entry point: --allowed-hosts (default: the bound host and localhost names),
--cors-allowed-origins, --default-permission and --protected-alias."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ADMIN_PASSWORD = "Cli-Flags-Root-Passw0rd"
USER_PASSWORD = "Cli-Flags-User-Passw0rd1"
# The machine is shared with other test runs: generous, so slowness is not a failure.
TIMEOUT = 60.0


class HTTP:
    """httpx's one-shot calls with the generous timeout."""

    @staticmethod
    def get(url: str, **kw: Any) -> httpx.Response:
        return httpx.get(url, timeout=TIMEOUT, **kw)

    @staticmethod
    def post(url: str, **kw: Any) -> httpx.Response:
        return httpx.post(url, timeout=TIMEOUT, **kw)

    @staticmethod
    def options(url: str, **kw: Any) -> httpx.Response:
        return httpx.options(url, timeout=TIMEOUT, **kw)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _command(tmp_path: Path, command: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "ledgerflow.cli", command,
        "--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}",
        "--artifacts-destination", str(tmp_path / "artifacts"),
        "--port", "0", *extra,
    ]  # fmt: skip


@contextmanager
def running(tmp_path: Path, command: str, *extra: str) -> Iterator[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = subprocess.Popen(
        _command(tmp_path, command, *extra), cwd=tmp_path, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None
        line = ""
        while "serving on" not in line:
            line = process.stderr.readline()
            assert line, "the server exited before announcing itself"
        match = re.search(r"serving on (http://\S+)$", line.strip())
        assert match, line
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_ui_answers_only_local_names_by_default(tmp_path: Path) -> None:
    with running(tmp_path, "ui") as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert HTTP.get(url + "/health", headers={"Host": host}).status_code == 200
        refused = HTTP.post(
            url + "/api/2.0/mlflow/experiments/create",
            json={"name": "rebound"},
            headers={"Host": f"rebind.attacker.example:{port}"},
        )
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
        cross = HTTP.post(
            url + "/api/2.0/mlflow/experiments/create",
            json={"name": "cross"},
            headers={"Origin": "https://attacker.example"},
        )
        assert cross.status_code == 403
        names = [
            e["name"]
            for e in _ok(HTTP.post(url + "/api/2.0/mlflow/experiments/search", json={}))["experiments"]
        ]
        assert "rebound" not in names and "cross" not in names
        # The stock client's shape of request (no Origin) works.
        assert HTTP.post(url + "/api/2.0/mlflow/experiments/create", json={"name": "fine"}).status_code == 200


def test_server_flags_are_enforced(tmp_path: Path) -> None:
    extra = (
        "--allowed-hosts", "mlflow.internal,*.corp.example",
        "--cors-allowed-origins", "https://notebooks.corp.example",
        "--default-permission", "viewer",
        "--protected-alias", "staging", "--protected-alias", "production",
    )  # fmt: skip
    with running(tmp_path, "server", *extra) as url:
        admin = _basic("admin", ADMIN_PASSWORD)
        internal = {"Host": "mlflow.internal", **admin}
        assert HTTP.get(url + "/health", headers={"Host": "a.corp.example"}).status_code == 200
        # The explicit list replaces the default, so even localhost names are refused now.
        assert HTTP.get(url + "/health", headers={"Host": "localhost"}).status_code == 403
        preflight = HTTP.options(
            url + "/api/2.0/mlflow/runs/log-metric",
            headers={
                "Host": "mlflow.internal",
                "Origin": "https://notebooks.corp.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://notebooks.corp.example"
        with httpx.Client(base_url=url, headers=internal, timeout=TIMEOUT) as http:
            for name in ("bob", "eve"):
                _ok(
                    http.post(
                        "/api/2.0/ledgerflow/users/create", json={"username": name, "password": USER_PASSWORD}
                    )
                )
            bob = {"Host": "mlflow.internal", **_basic("bob", USER_PASSWORD)}
            eve = {"Host": "mlflow.internal", **_basic("eve", USER_PASSWORD)}
            # --default-permission viewer: everyone reads a new experiment, nobody else edits it.
            eid = _ok(http.post("/api/2.0/mlflow/experiments/create", json={"name": "shared"}, headers=bob))[
                "experiment_id"
            ]
            _ok(http.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": eid}, headers=eve))
            denied = http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}, headers=eve)
            assert denied.status_code == 403
            run = _ok(http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}, headers=bob))[
                "run"
            ]
            run_id = run["info"]["run_id"]
            # --protected-alias staging/production: an editor of the model cannot set them,
            # while champion (protected only by default) is now an ordinary alias.
            _ok(http.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"}))
            _ok(
                http.post(
                    "/api/2.0/ledgerflow/grants/create",
                    json={
                        "resource_type": "registered_model",
                        "resource": "m",
                        "principal_type": "user",
                        "principal": "bob",
                        "role": "editor",
                    },
                )
            )
            _ok(
                http.post(
                    "/api/2.0/mlflow/model-versions/create",
                    json={"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id},
                    headers=bob,
                )
            )
            for alias, status in (
                ("staging", 403),
                ("production", 403),
                ("champion", 200),
                ("candidate", 200),
            ):
                answer = http.post(
                    "/api/2.0/mlflow/registered-models/alias",
                    json={"name": "m", "alias": alias, "version": "1"},
                    headers=bob,
                )
                assert answer.status_code == status, (alias, answer.text)
            assert (
                _ok(
                    http.post(
                        "/api/2.0/mlflow/registered-models/alias",
                        json={"name": "m", "alias": "staging", "version": "1"},
                    )
                )
                == {}
            )


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--cors-allowed-origins", "*"), "wildcard"),
        (("--cors-allowed-origins", "notebooks.example"), "Invalid CORS origin"),
        (("--allowed-hosts", "bad/host"), "Invalid allowed host"),
        (("--default-permission", "superuser"), "Unknown role"),
    ],
)
def test_bad_flag_values_are_one_line_errors(tmp_path: Path, flags: tuple[str, ...], fragment: str) -> None:
    done = subprocess.run(
        _command(tmp_path, "server", *flags), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "db.sqlite").exists()


def test_ui_refuses_wildcard_cors_too(tmp_path: Path) -> None:
    done = subprocess.run(
        _command(tmp_path, "ui", "--cors-allowed-origins", "https://*.example.com"),
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "wildcard" in done.stderr


def test_multi_worker_config_keeps_the_browser_settings() -> None:
    # --workers N hands the config to each worker process as JSON.
    from ledgerflow.config import ServerConfig
    from ledgerflow.server.factory import CONFIG_ENV, config_from_env, config_to_env

    config = ServerConfig(
        allowed_hosts=("mlflow.internal", "*.corp.example"),
        cors_allowed_origins=("https://nb.corp.example",),
        default_permission="viewer",
        protected_aliases=("staging",),
    )
    os.environ[CONFIG_ENV] = config_to_env(config)
    try:
        back = config_from_env()
        for name in ("allowed_hosts", "cors_allowed_origins", "default_permission", "protected_aliases"):
            assert getattr(back, name) == getattr(config, name), name
        os.environ[CONFIG_ENV] = config_to_env(ServerConfig())
        assert config_from_env().allowed_hosts is None
    finally:
        del os.environ[CONFIG_ENV]
