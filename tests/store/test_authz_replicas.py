"""Two `ledgerflow server` processes on one database: a grant made through one is enforced by
the other, and so is its revocation, within the cache bound (revocation_check_seconds, at most
5 s). Runs on every backend of the store suite (PostgreSQL is the deployment this is for)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ADMIN = ("admin", "Replica-Root-Passw0rd-1")
CAROL = ("carol", "Replica-Second-User-Pw-7")
# The grant cache bound is 5 s; the slack covers a loaded shared machine.
BOUND_SECONDS = 5.0 + 10.0
TIMEOUT = 60.0


def _basic(who: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{who[0]}:{who[1]}".encode()).decode()}


@contextmanager
def _server(db_uri: str, tmp_path: Path, name: str) -> Iterator[str]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LEDGERFLOW_BOOTSTRAP_ADMIN_USERNAME": ADMIN[0],
        "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
    }
    command = [
        sys.executable, "-m", "ledgerflow.cli", "server",
        "--backend-store-uri", db_uri,
        "--artifacts-destination", str(tmp_path / "artifacts"),
        "--host", "127.0.0.1", "--port", "0",
    ]  # fmt: skip
    workdir = tmp_path / name
    workdir.mkdir()
    process = subprocess.Popen(command, cwd=workdir, stderr=subprocess.PIPE, text=True, env=env)
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


def _wait_for(status: int, call: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while (answer := call()).status_code != status:
        assert time.monotonic() < deadline, f"{what}: still {answer.status_code} {answer.text}"
        time.sleep(0.2)


def test_grant_and_revocation_on_one_server_are_enforced_on_the_other(db_uri: str, tmp_path: Path) -> None:
    with _server(db_uri, tmp_path, "first") as first, _server(db_uri, tmp_path, "second") as second:
        admin = _basic(ADMIN)
        _ok(
            httpx.post(
                f"{first}/api/2.0/ledgerflow/users/create",
                json={"username": CAROL[0], "password": CAROL[1]},
                headers=admin,
                timeout=TIMEOUT,
            )
        )
        eid = _ok(
            httpx.post(
                f"{first}/api/2.0/mlflow/experiments/create",
                json={"name": "shared"},
                headers=admin,
                timeout=TIMEOUT,
            )
        )["experiment_id"]

        def carol_reads_on_second() -> httpx.Response:
            return httpx.get(
                f"{second}/api/2.0/mlflow/experiments/get",
                params={"experiment_id": eid},
                headers=_basic(CAROL),
                timeout=TIMEOUT,
            )

        def carol_tags_on_first() -> httpx.Response:
            return httpx.post(
                f"{first}/api/2.0/mlflow/experiments/set-experiment-tag",
                json={"experiment_id": eid, "key": "by", "value": "carol"},
                headers=_basic(CAROL),
                timeout=TIMEOUT,
            )

        denied = carol_reads_on_second()
        assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"

        grant = {
            "resource_type": "experiment",
            "resource": eid,
            "principal_type": "user",
            "principal": CAROL[0],
        }
        _ok(
            httpx.post(
                f"{first}/api/2.0/ledgerflow/grants/create",
                json={**grant, "role": "viewer"},
                headers=admin,
                timeout=TIMEOUT,
            )
        )
        _wait_for(200, carol_reads_on_second, "a grant made on the first server")
        assert carol_reads_on_second().json()["experiment"]["name"] == "shared"

        # Revocation on the first: the second stops serving within the bound.
        _ok(
            httpx.post(
                f"{first}/api/2.0/ledgerflow/grants/delete", json=grant, headers=admin, timeout=TIMEOUT
            )
        )
        _wait_for(403, carol_reads_on_second, "a revocation made on the first server")
        assert carol_reads_on_second().json()["error_code"] == "PERMISSION_DENIED"

        # The other way round, through MLflow's permission API: granted and then revoked on
        # the second server, enforced by the first.
        assert carol_tags_on_first().status_code == 403
        permission = {"experiment_id": eid, "username": CAROL[0]}
        _ok(
            httpx.post(
                f"{second}/api/2.0/mlflow/experiments/permissions/create",
                json={**permission, "permission": "EDIT"},
                headers=admin,
                timeout=TIMEOUT,
            )
        )
        _wait_for(200, carol_tags_on_first, "a grant made on the second server")
        _ok(
            httpx.request(
                "DELETE",
                f"{second}/api/2.0/mlflow/experiments/permissions/delete",
                json=permission,
                headers=admin,
                timeout=TIMEOUT,
            )
        )
        _wait_for(403, carol_tags_on_first, "a revocation made on the second server")
        assert carol_tags_on_first().json()["error_code"] == "PERMISSION_DENIED"
