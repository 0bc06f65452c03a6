"""The rescan queued at server start after a scanner or allow-list upgrade: a real server
started on a store whose results carry an older allow-list rescans them in the background
(``/health`` answers meanwhile), one replica at a time under the database lease, and a job
that was interrupted is finished by the next one."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import ledgerflow
import ledgerflow.sklearn
from ledgerflow.artifacts.digests import location_hash
from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.config import ServerConfig
from ledgerflow.governance.scanning.rescan_job import JOB, UpgradeRescan
from ledgerflow.store.database import create_db_engine
from ledgerflow.store.governance.scanning_schema import artifact_scans, model_version_scans, scan_jobs
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.services import build_services
from tests.conftest import LiveServer
from tests.governance.scanning import payloads as p
from tests.listening import announced_port

OLD = "2020.1.0"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
VERSIONS = 2


def _populate(
    make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path, files: int
) -> ServerConfig:
    """A store with registered versions and uploaded files, made by this release."""
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'store.db'}", artifacts_destination=str(tmp_path / "art")
    )
    live = make_live_server(config)
    reset_fluent_state()
    ledgerflow.set_tracking_uri(live.url)
    ledgerflow.set_experiment("upgrade")
    for _ in range(VERSIONS):
        with ledgerflow.start_run():
            ledgerflow.sklearn.log_model(p.forest(2), name="model", registered_model_name="upgraded")
    reset_fluent_state()
    with httpx.Client(base_url=live.url, timeout=60) as client:
        for index in range(files):
            data = pickle.dumps({"weights": list(range(index % 50))}, protocol=4)
            assert client.put(f"{PROXY}/1/loose/artifacts/w{index}.pkl", content=data).status_code == 200
        client.put(f"{PROXY}/1/loose/artifacts/logger.pkl", content=p.logger_pickle())
    live.stop()
    return config


def _age(config: ServerConfig) -> int:
    """Make every stored result look like an older allow-list's (and wrong, so a rescan shows);
    returns how many results are stale."""
    engine = create_db_engine(config.backend_store_uri)
    with engine.begin() as conn:
        conn.execute(model_version_scans.update().values(allowlist_version=OLD, status="findings"))
        conn.execute(
            artifact_scans.update().where(artifact_scans.c.kind == "model").values(allowlist_version=OLD)
        )
        stale = conn.execute(
            sa.select(sa.func.count())
            .select_from(artifact_scans)
            .where(artifact_scans.c.allowlist_version == OLD)
        ).scalar_one()
    engine.dispose()
    return int(stale) + VERSIONS


def _stale(config: ServerConfig) -> int:
    engine = create_db_engine(config.backend_store_uri)
    with engine.connect() as conn:
        count = sum(
            int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.allowlist_version == OLD)
                ).scalar_one()
            )
            for table in (model_version_scans, artifact_scans)
        )
    engine.dispose()
    return count


def _rows(config: ServerConfig, query: Any) -> list[Any]:
    engine = create_db_engine(config.backend_store_uri)
    with engine.connect() as conn:
        rows = list(conn.execute(query))
    engine.dispose()
    return rows


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_real_server_rescans_results_of_an_older_allow_list_in_the_background(
    make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    config = _populate(make_live_server, tmp_path, files=150)
    stale = _age(config)
    assert _stale(config) == stale
    # Two worker processes on one database: the lease lets one of them do the work.
    log = tmp_path / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "ledgerflow"),
                "server",
                "--no-auth",
                "--workers",
                "2",
                "--port",
                "0",
                "--backend-store-uri",
                config.backend_store_uri,
                "--artifacts-destination",
                config.artifacts_destination,
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        url = f"http://127.0.0.1:{announced_port(process, log)}"
        healthy_with_stale = None

        def healthy() -> bool:
            nonlocal healthy_with_stale
            try:
                ok = httpx.get(f"{url}/health", timeout=1).text == "OK"
            except httpx.TransportError:
                return False
            if ok:
                healthy_with_stale = _stale(config)
            return ok

        _wait(lambda: process.poll() is None and healthy(), 120, "the server")
        # Nothing reads a result here (reads rescan lazily): the job alone brings them up to date.
        _wait(lambda: _stale(config) == 0, 180, "the background rescan")
        assert healthy_with_stale is not None and healthy_with_stale > 0, "the rescan held /health back"
        job = _rows(config, sa.select(scan_jobs).where(scan_jobs.c.job == JOB))
        _wait(
            lambda: _rows(config, sa.select(scan_jobs.c.finished_at))[0].finished_at is not None,
            30,
            "release",
        )
        job = _rows(config, sa.select(scan_jobs).where(scan_jobs.c.job == JOB))
        assert len(job) == 1 and job[0].done == stale and job[0].lease_until == 0, job
        versions = _rows(config, sa.select(model_version_scans))
        assert len(versions) == VERSIONS and {(v.status, v.trigger) for v in versions} == {
            ("clean", "upgrade")
        }
        files = _rows(config, sa.select(artifact_scans).where(artifact_scans.c.kind == "model"))
        assert {f.trigger for f in files} == {"upgrade"}
        assert {f.status for f in files if f.location.endswith("logger.pkl")} == {"findings"}
        audit = httpx.get(
            f"{url}/api/2.0/ledgerflow/audit/records", params={"action": "scanning.upgrade_rescan"}
        )
        # One rescan per version: the second worker did not repeat the first one's work.
        assert len(audit.json()["records"]) == VERSIONS, audit.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def _job(config: ServerConfig, **options: Any) -> tuple[Any, UpgradeRescan]:
    services = build_services(config)
    return services, UpgradeRescan(services.scanning, **options)


def test_a_lease_held_by_a_live_replica_is_left_alone_and_a_lapsed_one_taken_over(
    make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    config = _populate(make_live_server, tmp_path, files=3)
    stale = _age(config)
    engine = create_db_engine(config.backend_store_uri)
    with engine.begin() as conn:
        conn.execute(
            scan_jobs.insert().values(
                job=JOB, owner="other-replica", lease_until=now_ms() + 3_600_000, target="x", done=0
            )
        )
    services, job = _job(config, lease_ms=400, pause_seconds=0)
    try:
        job.start()
        time.sleep(1.5)
        assert job.processed == 0 and _stale(config) == stale  # another replica is on it
        with engine.begin() as conn:
            conn.execute(scan_jobs.update().values(lease_until=now_ms() - 1))  # ... and it died
        assert job.finished.wait(60)
        assert job.processed == stale and _stale(config) == 0
        (row,) = _rows(config, sa.select(scan_jobs))
        assert row.owner == job.owner and row.finished_at is not None
    finally:
        job.stop()
        services.close()
        engine.dispose()


def test_an_interrupted_rescan_is_finished_by_the_next_start(
    make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    config = _populate(make_live_server, tmp_path, files=6)
    stale = _age(config)
    services, first = _job(config, pause_seconds=1.0)
    try:
        first.start()
        _wait(lambda: first.processed >= 1, 60, "the first rescan")
        first.stop()  # the server stops mid-way
    finally:
        services.close()
    left = _stale(config)
    assert 0 < left < stale
    services, second = _job(config, pause_seconds=0)
    try:
        second.start()
        assert second.finished.wait(60)
        assert second.processed == left and _stale(config) == 0
    finally:
        second.stop()
        services.close()
    # Nothing stale: a later start claims nothing and does nothing.
    services, third = _job(config)
    try:
        before = _rows(config, sa.select(scan_jobs.c.started_at))
        third.start()
        assert third.finished.wait(30) and third.processed == 0
        assert _rows(config, sa.select(scan_jobs.c.started_at)) == before
    finally:
        third.stop()
        services.close()


@pytest.fixture(params=["postgres", "mysql"])
def server_db(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL or MariaDB database (as tests/conftest.py makes them for the store suite)."""
    from tests.conftest import MYSQL_ADMIN_URI, PG_ADMIN_URI

    name = f"lf_test_{uuid.uuid4().hex[:12]}"
    admin_uri = PG_ADMIN_URI if request.param == "postgres" else MYSQL_ADMIN_URI
    admin = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    base = admin_uri.rstrip("/").rsplit("/", 1)[0] if request.param == "postgres" else admin_uri.rstrip("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if request.param == "postgres" else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def test_the_lease_is_claimed_once_on_server_databases(server_db: str, tmp_path: Path) -> None:
    """Two jobs racing for the lease on PostgreSQL / MariaDB: exactly one wins."""
    config = ServerConfig(backend_store_uri=server_db, artifacts_destination=str(tmp_path / "art"))
    services = build_services(config)
    gone = str(tmp_path / "art" / "gone.pkl")
    try:
        services.db.run_write(
            lambda conn: conn.execute(
                artifact_scans.insert().values(
                    location_hash=location_hash(gone),
                    location=gone,
                    sha256="0" * 64,
                    size=1,
                    kind="model",
                    status="clean",
                    scanner_version="0.0.1",
                    allowlist_version=OLD,
                    scanned_at=1,
                    trigger="upload",
                    report="{}",
                )
            ),
            audit=False,
        )
        jobs = [UpgradeRescan(services.scanning) for _ in range(2)]
        claims = [job.claim() for job in jobs]
        assert sorted(claims) == [False, True]
        winner = jobs[claims.index(True)]
        winner.start()
        assert winner.finished.wait(60)
        # The file is gone from the store: its result is forgotten rather than retried forever.
        assert winner.processed == 1 and not _rows(config, sa.select(artifact_scans))
    finally:
        services.close()


def test_a_scanner_upgrade_rejudges_data_by_its_first_bytes(tmp_path: Path) -> None:
    """Data is not read whole again after a scanner upgrade (the store may hold terabytes of
    it); data whose first bytes now look like a model file is scanned in full."""
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'store.db'}", artifacts_destination=str(tmp_path / "art")
    )
    services = build_services(config)
    try:
        artifacts = services.artifacts
        evil = p.system_pickle()
        for name, data in {"plot.txt": b"p" * 5000, "notes.txt": b"n" * len(evil)}.items():
            artifacts.store(artifacts.proxy_target(f"1/run/artifacts/{name}"), [data])
        services.db.run_write(
            lambda conn: conn.execute(artifact_scans.update().values(scanner_version="0.0.1")), audit=False
        )
        (tmp_path / "art/1/run/artifacts/notes.txt").write_bytes(evil)  # same size, now a pickle
        job = UpgradeRescan(services.scanning, pause_seconds=0)
        job.start()
        assert job.finished.wait(60) and job.processed == 2
        rows = {row.location.rsplit("/", 1)[1]: row for row in _rows(config, sa.select(artifact_scans))}
        assert (rows["plot.txt"].kind, rows["plot.txt"].status, rows["plot.txt"].trigger) == (
            "data",
            "clean",
            "upgrade",
        )
        assert (rows["notes.txt"].kind, rows["notes.txt"].status) == ("model", "findings")
        assert {row.scanner_version for row in rows.values()} != {"0.0.1"}
    finally:
        services.close()
