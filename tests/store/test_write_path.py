"""The fast metric write path: driver-level statements, the audit head moved by compare-and-set,
log-metric run on the event loop without waiting, and the batch parser's shortcut.

Each behaviour is checked through the HTTP API against a real database, including the cases
the shortcuts must hand back to the general path: a busy SQLite write lock, another writer
moving the audit head behind this server's back, and batch items the tight loop must not take.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.security.audit.verify import verify
from ledgerflow.store.database import Database
from tests.conftest import Api
from tests.store.audit_support import records


def _run(api: Api) -> str:
    experiment = api.ok("post", "experiments/create", {"name": "write-path"})["experiment_id"]
    run: str = api.ok("post", "runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    return run


def _history(api: Api, run_id: str, key: str) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = api.ok(
        "get", "metrics/get-history", {"run_id": run_id, "metric_key": key}
    ).get("metrics", [])
    return points


def _chain_ok(uri: str) -> int:
    db = Database(uri)
    try:
        with db.read() as conn:
            report = verify(conn)
    finally:
        db.dispose()
    assert report.ok, report.problems
    return report.records


def test_log_metric_waits_for_a_write_lock_held_elsewhere(
    api: Api, server_config: ServerConfig, backend: str
) -> None:
    """Another process holding SQLite's write lock sends the request to a worker thread, which
    waits for the lock: the point is stored once and recorded once, after the lock is released."""
    if backend != "sqlite":
        pytest.skip("the no-wait attempt is SQLite's")
    run_id = _run(api)
    path = sa.engine.make_url(server_config.backend_store_uri).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answers: list[Any] = []

    def send() -> None:
        answers.append(
            api.client.post(
                "/api/2.0/mlflow/runs/log-metric",
                json={"run_id": run_id, "key": "m", "value": 1.5, "timestamp": 7, "step": 1},
                headers={"X-Request-Id": "while-locked"},
            )
        )

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.0)
    assert not answers, "the write cannot have finished while the lock is held"
    holder.execute("COMMIT")
    holder.close()
    sender.join(timeout=60)
    assert answers and answers[0].status_code == 200, answers
    assert [(p["value"], p["step"]) for p in _history(api, run_id, "m")] == [(1.5, 1)]
    assert len([r for r in records(api) if r.get("request_id") == "while-locked"]) == 1
    _chain_ok(server_config.backend_store_uri)


def test_event_loop_writes_keep_working_after_rejected_busy_and_nested_writes(
    api: Api, server_config: ServerConfig, backend: str
) -> None:
    """The connection the event loop keeps for its writes survives a write rejected inside its
    transaction (unknown run, deleted run) and, on SQLite, a BEGIN refused because another
    process held the write lock: every later write is stored once, in order, and audited."""
    run_id = _run(api)
    point = {"run_id": run_id, "key": "m", "timestamp": 7}
    missing = {**point, "run_id": "0" * 32, "value": 1.0, "step": 0}
    api.error("post", "runs/log-metric", missing, 404, "RESOURCE_DOES_NOT_EXIST")
    api.ok("post", "runs/log-metric", {**point, "value": 0.5, "step": 0})
    if backend == "sqlite":
        path = sa.engine.make_url(server_config.backend_store_uri).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        releaser = threading.Timer(0.3, lambda: (holder.execute("COMMIT"), holder.close()))
        releaser.start()
        api.ok("post", "runs/log-metric", {**point, "value": 1.0, "step": 1})
        releaser.join()
    else:
        api.ok("post", "runs/log-metric", {**point, "value": 1.0, "step": 1})
    for step in range(2, 12):
        api.ok("post", "runs/log-metric", {**point, "value": step * 0.5 + 0.5, "step": step})
    experiment = api.ok("get", "runs/get", {"run_id": run_id})["run"]["info"]["experiment_id"]
    other = api.ok("post", "runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    api.ok("post", "runs/delete", {"run_id": other})
    message = api.error(
        "post",
        "runs/log-metric",
        {**point, "run_id": other, "value": 1.0, "step": 0},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "deleted" in message
    api.ok("post", "runs/log-metric", {**point, "value": 6.5, "step": 12})
    steps = [(p["step"], p["value"]) for p in _history(api, run_id, "m")]
    assert steps == [(step, step * 0.5 + 0.5) for step in range(13)]
    metric_records = [r for r in records(api) if r.get("action") == "runs.log_metric"]
    assert len(metric_records) == 13
    _chain_ok(server_config.backend_store_uri)


def test_two_servers_alternating_keep_one_chain(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    """Each server remembers the chain tip it committed; the other server's appends make that
    guess stale, which the compare-and-set on the head must notice every time."""
    first, second = Api(make_client(server_config)), Api(make_client(server_config))
    run_id = _run(first)
    for step in range(12):
        api = first if step % 3 else second
        api.ok(
            "post",
            "runs/log-metric",
            {"run_id": run_id, "key": "m", "value": step, "timestamp": 5, "step": step},
        )
    assert len(_history(first, run_id, "m")) == 12
    assert _chain_ok(server_config.backend_store_uri) >= 14


def test_head_moved_by_hand_is_followed(api: Api, server_config: ServerConfig) -> None:
    """A record appended by another writer (here: straight into the tables, as a second
    replica would) is chained onto, not overwritten, by this server's next append."""
    run_id = _run(api)
    api.ok("post", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 5})
    db = Database(server_config.backend_store_uri)
    try:
        from ledgerflow.security.audit.log import AuditLog, Event

        other = AuditLog(db)
        db.run_write(
            lambda conn: other.append(conn, Event(actor="replica", action="x.y", outcome="success")),
            audit=False,
        )
    finally:
        db.dispose()
    api.ok("post", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 2, "timestamp": 6})
    actions = [r["action"] for r in records(api)]
    assert actions[-2:] == ["x.y", "runs.log_metric"]
    _chain_ok(server_config.backend_store_uri)


def test_batch_items_with_model_or_dataset_keep_them(api: Api) -> None:
    """Items the tight loop must not take: a model id with no step (four fields, like a plain
    item), a dataset, and a numeric string; every field arrives as sent."""
    run_id = _run(api)
    model = api.ok("post", "logged-models", {"experiment_id": "0"})
    model_id = model["model"]["info"]["model_id"]
    api.ok(
        "post",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "a", "value": 1.0, "timestamp": 3, "model_id": model_id},
                {
                    "key": "b",
                    "value": 2,
                    "timestamp": 3,
                    "step": 4,
                    "dataset_name": "d",
                    "dataset_digest": "x1",
                },
                {"key": "c", "value": "3.5", "timestamp": "3"},
                {"key": "d", "value": 4, "timestamp": 3},
            ],
        },
    )
    assert _history(api, run_id, "a")[0].get("model_id") == model_id
    point_b = _history(api, run_id, "b")[0]
    assert (point_b.get("dataset_name"), point_b.get("dataset_digest"), point_b["step"]) == ("d", "x1", 4)
    assert [(p["value"], p["timestamp"], p["step"]) for p in _history(api, run_id, "c")] == [(3.5, 3, 0)]
    assert [(p["value"], p["step"]) for p in _history(api, run_id, "d")] == [(4.0, 0)]


def test_batch_with_secret_named_fields_is_scrubbed_in_the_record(api: Api) -> None:
    """A request that names a secret anywhere goes through the full scrub before it is digested
    and summarised: the summary shows the field redacted."""
    run_id = _run(api)
    api.client.post(
        "/api/2.0/mlflow/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [{"key": "m", "value": 1, "timestamp": 2}],
            "api_token": "hunter2",
        },
        headers={"X-Request-Id": "scrubbed"},
    )
    record = next(r for r in records(api) if r.get("request_id") == "scrubbed")
    assert "hunter2" not in str(record)
    assert "[redacted]" in str(record)
