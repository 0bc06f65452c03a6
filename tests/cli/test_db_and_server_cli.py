"""``ledgerflow db upgrade``, ``server`` start-up checks and ``gc`` through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.cli.conftest import CliResult
from tests.conftest import Api
from tests.listening import announced_port


def test_db_upgrade_creates_and_reports(cli: Callable[[list[str]], CliResult], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    first = cli(["db", "upgrade", "--backend-store-uri", uri])
    assert first.exit_code == 0, first.stderr
    assert "Upgraded schema" in first.stdout
    again = cli(["db", "upgrade", "--backend-store-uri", uri])
    assert again.exit_code == 0
    assert "already at" in again.stdout


def test_server_refuses_out_of_date_schema(cli: Callable[[list[str]], CliResult], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli(["db", "upgrade", "--backend-store-uri", uri]).exit_code == 0
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    engine.dispose()
    result = cli(["server", "--backend-store-uri", uri, "--artifacts-destination", str(tmp_path / "a")])
    assert result.exit_code == 7
    assert result.stderr.count("\n") == 1, result.stderr
    assert "ledgerflow db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_backend_uri_is_one_line(cli: Callable[[list[str]], CliResult], tmp_path: Path) -> None:
    result = cli(["server", "--backend-store-uri", "oracle://x/y", "--artifacts-destination", str(tmp_path)])
    assert result.exit_code == 2
    assert "Unsupported backend store URI" in result.stderr
    assert "Traceback" not in result.stderr


def test_server_process_serves_health_and_api(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledgerflow.cli",
                "server",
                "--no-auth",
                "--port",
                "0",
                "--backend-store-uri",
                f"sqlite:///{tmp_path / 'db.sqlite'}",
                "--artifacts-destination",
                str(tmp_path / "artifacts"),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        port = announced_port(process, log)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).text == "OK":
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
        )
        assert answer.json()["experiment"]["name"] == "Default"
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_gc_purges_only_deleted_runs(
    cli: Callable[[list[str]], CliResult], api: Api, server_config: object
) -> None:
    from ledgerflow.config import ServerConfig

    assert isinstance(server_config, ServerConfig)
    eid = api.ok("post", "experiments/create", {"name": "gc"})["experiment_id"]
    keep = api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
    drop = api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": drop, "key": "p", "value": "1"})
    uploaded = api.client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{drop}/artifacts/a.txt", content=b"hi"
    )
    assert uploaded.status_code == 200, uploaded.text
    stored = Path(server_config.artifacts_destination) / eid / drop / "artifacts" / "a.txt"
    assert stored.read_bytes() == b"hi"
    api.ok("post", "runs/delete", {"run_id": drop})
    store_args = [
        "--backend-store-uri",
        server_config.backend_store_uri,
        "--artifacts-destination",
        server_config.artifacts_destination,
    ]
    refused = cli(["gc", *store_args, "--run-ids", keep])
    assert refused.exit_code == 2
    assert "is not in `deleted` lifecycle stage" in refused.stderr
    too_young = cli(["gc", *store_args, "--run-ids", drop, "--older-than", "30d"])
    assert too_young.exit_code == 2
    assert "is not older than the required age" in too_young.stderr
    done = cli(["gc", *store_args, "--run-ids", drop])
    assert done.exit_code == 0, done.stderr
    assert f"Run with ID {drop} has been permanently deleted." in done.stdout
    assert not stored.exists()
    # No empty <experiment>/<run id>/ folder is left behind; the experiment's folder stays.
    assert not stored.parent.parent.exists()
    assert stored.parent.parent.parent.is_dir()
    api.error("get", "runs/get", {"run_id": drop}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert api.ok("get", "runs/get", {"run_id": keep})["run"]["info"]["lifecycle_stage"] == "active"


def test_gc_frees_a_deleted_experiments_name(
    cli: Callable[[list[str]], CliResult], api: Api, server_config: object
) -> None:
    from ledgerflow.config import ServerConfig

    assert isinstance(server_config, ServerConfig)
    eid = api.ok("post", "experiments/create", {"name": "tomb"})["experiment_id"]
    api.ok("post", "experiments/delete", {"experiment_id": eid})
    done = cli(
        [
            "gc",
            "--backend-store-uri",
            server_config.backend_store_uri,
            "--artifacts-destination",
            server_config.artifacts_destination,
            "--experiment-ids",
            eid,
        ]
    )
    assert done.exit_code == 0, done.stderr
    api.ok("post", "experiments/create", {"name": "tomb"})


def test_gc_keeps_metadata_when_artifacts_cannot_be_deleted(
    cli: Callable[[list[str]], CliResult], make_client: Callable[..., object], tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from ledgerflow.config import ServerConfig

    # An S3 destination on a closed port: deleting artifacts fails, so nothing may be purged.
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'gc.db'}",
        artifacts_destination="s3://gone/prefix",
        s3_endpoint_url="http://127.0.0.1:9",
    )
    client = make_client(config)
    assert isinstance(client, TestClient)
    api = Api(client)
    eid = api.ok("post", "experiments/create", {"name": "gc-s3"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
    api.ok("post", "runs/delete", {"run_id": run_id})
    result = cli(
        [
            "gc",
            "--backend-store-uri",
            config.backend_store_uri,
            "--artifacts-destination",
            "s3://gone/prefix",
            "--s3-endpoint-url",
            "http://127.0.0.1:9",
            "--run-ids",
            run_id,
        ]
    )
    assert result.exit_code != 0
    assert "kept" in result.stderr or "kept" in result.stdout
    assert "Traceback" not in result.stderr
    assert api.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"


def test_gc_shows_progress_on_long_work(
    cli: Callable[[list[str]], CliResult], api: Api, server_config: object
) -> None:
    from ledgerflow.config import ServerConfig

    assert isinstance(server_config, ServerConfig)
    eid = api.ok("post", "experiments/create", {"name": "many"})["experiment_id"]
    run_ids = [
        api.ok("post", "runs/create", {"experiment_id": eid, "start_time": 1})["run"]["info"]["run_id"]
        for _ in range(25)
    ]
    for run_id in run_ids:
        api.ok("post", "runs/delete", {"run_id": run_id})
    done = cli(
        [
            "gc",
            "--backend-store-uri",
            server_config.backend_store_uri,
            "--artifacts-destination",
            server_config.artifacts_destination,
        ]
    )
    assert done.exit_code == 0, done.stderr
    assert "Purging" in done.stderr
    assert done.stdout.count("has been permanently deleted") == 25
