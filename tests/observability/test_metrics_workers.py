"""`/metrics` under two server workers (governance.md check 15): request counters summed
across workers, business gauges equal to the database, one DB query set per cache window
however often Prometheus scrapes, authentication required, no unbounded labels."""

from __future__ import annotations

import glob
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.mmap_dict import MmapedDict

from ledgerflow.store import schema
from tests.conftest import PG_ADMIN_URI

from .support import WorkerServer

ROUTE = "/api/2.0/mlflow/experiments/get"
REQUESTS = 60


@pytest.fixture(params=["sqlite", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledgerflow.db'}"
        return
    admin = sa.create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    name = f"lf_metrics_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError:
        pytest.skip("PostgreSQL is not reachable")
    try:
        yield f"{PG_ADMIN_URI.rstrip('/').rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def server(tmp_path: Path, store_uri: str) -> Iterator[WorkerServer]:
    running = WorkerServer(tmp_path, store_uri, workers=2)
    try:
        yield running
    finally:
        running.stop()


def _seed(server: WorkerServer) -> str:
    experiment = str(server.api("POST", "experiments/create", {"name": "metrics"})["experiment_id"])
    run_ids = []
    for status in ("FINISHED", "FINISHED", "FAILED", "KILLED", None):
        run = server.api("POST", "runs/create", {"experiment_id": experiment})["run"]
        run_id = str(run["info"]["run_id"])  # type: ignore[index]
        run_ids.append(run_id)
        if status:
            server.api("POST", "runs/update", {"run_id": run_id, "status": status})
    server.api("POST", "runs/delete", {"run_id": run_ids[1]})
    for name in ("churn", "fraud"):
        server.api("POST", "registered-models/create", {"name": name})
    for run_id in run_ids[:3]:
        server.api(
            "POST",
            "model-versions/create",
            {"name": "churn", "source": f"runs:/{run_id}/model", "run_id": run_id},
        )
    server.api(
        "POST",
        "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "Staging", "archive_existing_versions": False},
    )
    server.api(
        "POST",
        "model-versions/transition-stage",
        {"name": "churn", "version": "2", "stage": "Production", "archive_existing_versions": False},
    )
    server.api("POST", "registered-models/alias", {"name": "churn", "alias": "candidate", "version": "3"})
    return experiment


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _gauges_from_db(uri: str) -> Samples:
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            runs: dict[str, int] = dict(
                conn.execute(
                    sa.select(schema.runs.c.status, sa.func.count())
                    .where(schema.runs.c.lifecycle_stage == "active")
                    .group_by(schema.runs.c.status)
                ).all()
            )
            stages: dict[str, int] = dict(
                conn.execute(
                    sa.select(schema.model_versions.c.current_stage, sa.func.count()).group_by(
                        schema.model_versions.c.current_stage
                    )
                ).all()
            )
            models = conn.execute(sa.select(sa.func.count()).select_from(schema.registered_models)).scalar()
            aliases = conn.execute(
                sa.select(sa.func.count()).select_from(schema.registered_model_aliases)
            ).scalar()
    finally:
        engine.dispose()
    expected: Samples = {
        ("ledgerflow_runs", (("status", s),)): float(runs.get(s, 0))
        for s in ("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED")
    }
    expected |= {
        ("ledgerflow_model_versions", (("stage", s),)): float(stages.get(s, 0))
        for s in ("None", "Staging", "Production", "Archived")
    }
    expected[("ledgerflow_registered_models", ())] = float(models or 0)
    expected[("ledgerflow_model_aliases", ())] = float(aliases or 0)
    expected[("ledgerflow_promotion_requests_pending", ())] = 0.0
    return expected


def _table_reads(uri: str, table: str) -> int:
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                sa.text(
                    "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = :t"
                ),
                {"t": table},
            ).scalar()
    finally:
        engine.dispose()
    return int(row or 0)


def _per_worker_counts(prom_dir: Path) -> list[float]:
    counts = []
    for path in sorted(glob.glob(str(prom_dir / "counter_*.db"))):
        total = 0.0
        for key, value, *_position in MmapedDict.read_all_values_from_file(path):  # type: ignore[no-untyped-call]
            if "ledgerflow_http_requests_total" in key and ROUTE in key and '"2xx"' in key:
                total += value
        counts.append(total)
    return counts


def test_two_workers_sum_counters_match_the_db_and_cache_scrapes(
    server: WorkerServer, store_uri: str
) -> None:
    experiment = _seed(server)

    def get_experiment(_: int) -> int:
        # A new connection each time, from several threads, so both workers take requests.
        response = httpx.get(
            f"{server.url}{ROUTE}", params={"experiment_id": experiment}, auth=server.auth, timeout=30
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get_experiment, range(REQUESTS))) == {200}

    per_worker = _per_worker_counts(server.prom_dir)
    assert sum(1 for count in per_worker if count > 0) >= 2, f"both workers served: {per_worker}"

    postgres = store_uri.startswith("postgresql")
    if postgres:
        time.sleep(11)  # PostgreSQL publishes a backend's table counters within ~10 s of idling
        reads_before = _table_reads(store_uri, "runs")
    first = server.scrape()
    refreshes_before = first[("ledgerflow_business_gauge_refreshes_total", ())]
    started = time.monotonic()
    last = first
    for _ in range(19):
        time.sleep(0.5)
        last = server.scrape()
    # The conclusion below needs every scrape inside the one 30 s cache window; on a loaded
    # machine the 10 s of scraping can stretch, which is fine while it stays inside the window.
    assert time.monotonic() - started < 25, "the scrapes overran the cache window; the count means nothing"
    # 20 scrapes, one cache window (30 s): the gauges were computed once, by one worker.
    assert refreshes_before == 1 == last[("ledgerflow_business_gauge_refreshes_total", ())]
    if postgres:
        time.sleep(11)
        assert _table_reads(store_uri, "runs") - reads_before <= 1

    key = ("ledgerflow_http_requests_total", (("method", "GET"), ("route", ROUTE), ("status", "2xx")))
    assert last[key] == REQUESTS == sum(per_worker)
    for gauge, value in _gauges_from_db(store_uri).items():
        assert last[gauge] == value, gauge
    assert last[("ledgerflow_runs", (("status", "FINISHED"),))] == 1.0  # one of the two was deleted
    assert last[("ledgerflow_model_versions", (("stage", "Production"),))] == 1.0

    # Labels are templates and classes only: no run id, no user, no raw path.
    label_values = {value for _, labels in last for _, value in labels}
    assert not any(experiment == value or value == "admin" or "?" in value for value in label_values)
    routes = {dict(labels).get("route") for name, labels in last if name == "ledgerflow_http_requests_total"}
    assert routes <= {ROUTE, "/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/create",
                      "/api/2.0/mlflow/runs/update", "/api/2.0/mlflow/runs/delete",
                      "/api/2.0/mlflow/registered-models/create", "/api/2.0/mlflow/model-versions/create",
                      "/api/2.0/mlflow/model-versions/transition-stage", "/api/2.0/mlflow/registered-models/alias",
                      "/health", "/metrics"}  # fmt: skip


def test_metrics_require_an_administrator(server: WorkerServer) -> None:
    anonymous = httpx.get(f"{server.url}/metrics", timeout=30)
    # A scraper is not a browser: 401 with the error JSON, no redirect to the login page.
    bad = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
    for refused in (anonymous, bad):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        assert "ledgerflow_" not in refused.text
    created = httpx.post(
        f"{server.url}/api/2.0/ledgerflow/users/create",
        json={"username": "viewer", "password": "plain-scrape-pw-42q"},
        auth=server.auth,
        timeout=30,
    )
    assert created.status_code == 200, created.text
    refused = httpx.get(f"{server.url}/metrics", auth=("viewer", "plain-scrape-pw-42q"), timeout=30)
    assert refused.status_code == 403
    assert httpx.get(f"{server.url}/metrics", auth=server.auth, timeout=30).status_code == 200
