"""A serving app copies SQLite's write-ahead log back into the database file from a background
thread, so no request waits for a checkpoint's syncs; the commit-time checkpoint stays as a
backstop at a higher mark."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app
from ledgerflow.store.checkpoints import BACKSTOP_PAGES
from tests.conftest import Api

POINTS_PER_BATCH = 1000
BATCHES = 5  # ~330 WAL pages: below even SQLite's default 1,000-page commit-time checkpoint


def _log_batches(api: Api) -> str:
    experiment_id = api.ok("post", "experiments/create", {"name": "wal"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    for batch in range(BATCHES):
        metrics = [
            {"key": f"k{i % 10}", "value": i * 0.5, "timestamp": 1, "step": batch * 100 + i // 10}
            for i in range(POINTS_PER_BATCH)
        ]
        api.ok("post", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    return str(run_id)


def _points_in_database_file(db_file: Path, copy_dir: Path, run_id: str) -> int:
    """What the database file alone holds, as a copy without its -wal file would see it."""
    copy = copy_dir / "alone.db"
    shutil.copyfile(db_file, copy)
    conn = sqlite3.connect(copy)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "metrics" not in tables:  # even the schema is still in the log
            return 0
        (count,) = conn.execute("SELECT count(*) FROM metrics WHERE run_uuid = ?", (run_id,)).fetchone()
    except sqlite3.DatabaseError:  # copied mid-checkpoint: a torn copy, try again
        count = -1
    finally:
        conn.close()
    return int(count)


def _config(tmp_path: Path) -> tuple[ServerConfig, Path]:
    db_file = tmp_path / "ledgerflow.db"
    return ServerConfig(
        backend_store_uri=f"sqlite:///{db_file}", artifacts_destination=str(tmp_path / "a")
    ), db_file


def test_serving_app_checkpoints_in_the_background(tmp_path: Path) -> None:
    config, db_file = _config(tmp_path)
    app = create_app(config)
    with TestClient(app) as client:  # runs the lifespan: the app is serving
        api = Api(client)
        run_id = _log_batches(api)
        deadline = time.monotonic() + 10
        while _points_in_database_file(db_file, tmp_path, run_id) != BATCHES * POINTS_PER_BATCH:
            assert time.monotonic() < deadline, "the WAL was not checkpointed in the background"
            time.sleep(0.05)
        with app.state.services.db.read() as conn:
            (mark,) = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").one()
        assert mark == BACKSTOP_PAGES
        # Everything is still there through the app, of course.
        history = api.ok("get", "metrics/get-history", {"run_id": run_id, "metric_key": "k3"})
        assert len(history["metrics"]) == BATCHES * POINTS_PER_BATCH // 10


def test_without_serving_the_commit_time_checkpoint_is_unchanged(tmp_path: Path) -> None:
    # The same writes from an app that never started serving (no lifespan: as in-process
    # tools use the stores) stay in the WAL: the check above can tell the two apart.
    config, db_file = _config(tmp_path)
    app = create_app(config)
    client = TestClient(app)
    run_id = _log_batches(Api(client))
    time.sleep(0.5)
    assert _points_in_database_file(db_file, tmp_path, run_id) == 0
    with app.state.services.db.read() as conn:
        (mark,) = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").one()
    assert mark == 1000
    app.state.services.close()
