"""SQL for metric points, each run's latest values, and model-linked metric copies.

A point row keeps NaN as ``value=0, is_nan=true`` (MySQL has no NaN); infinities arrive
already clamped. Responses are built straight from rows, without entity objects in between.
"""

from __future__ import annotations

import functools
import operator
import re
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import chain, islice, repeat
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from ledgerflow.store.database import driver_execute_each, note_changes
from ledgerflow.store.schema import latest_metrics, logged_model_metrics, logged_models, metrics
from ledgerflow.store.upserts import insert_ignore, insert_ignore_rows, upsert_if_greater_rows

# Bound parameters per IN list: well under SQLite's 32766 and friendly to every planner.
IN_CHUNK = 500

_EXTRA = ("model_id", "dataset_name", "dataset_digest")
# Column order of every point query, so rows unpack positionally (much faster than by name).
_WIRE_ORDER = ("key", "value", "timestamp", "step", "is_nan", *_EXTRA)


def chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def point_to_wire(row: Any) -> dict[str, Any]:
    return _point(*row[:8])


def _point(
    key: str,
    value: float,
    timestamp: int,
    step: int,
    is_nan: bool,
    model_id: str | None,
    dataset_name: str | None,
    dataset_digest: str | None,
) -> dict[str, Any]:
    point: dict[str, Any] = {
        "key": key,
        "value": "NaN" if is_nan else value,
        "timestamp": timestamp,
        "step": step,
    }
    if model_id is not None:
        point["model_id"] = model_id
    if dataset_name is not None:
        point["dataset_name"] = dataset_name
    if dataset_digest is not None:
        point["dataset_digest"] = dataset_digest
    return point


# A point as stored: one tuple per row in the metrics table's column order, so a thousand-point
# batch goes to the driver without a dict (or any reordering) per row.
PointRow = tuple[str, str, int, int, float, bool, str | None, str | None, str | None]
POINT_COLUMNS = (
    "run_uuid",
    "key",
    "timestamp",
    "step",
    "value",
    "is_nan",
    "model_id",
    "dataset_name",
    "dataset_digest",
)
_LATEST_ORDER = ("step", "timestamp", "value")


def log_points(conn: Connection, rows: Sequence[PointRow]) -> None:
    """Store points (exact repeats are dropped by the primary key) and move each key's latest
    value forward where a new point sorts after it by (step, timestamp, value)."""
    if not rows:
        return
    insert_ignore_rows(conn, metrics, POINT_COLUMNS, rows)
    if len(rows) == 1:
        best = list(rows)
    else:
        latest: dict[tuple[str, str], PointRow] = {}
        for row in rows:
            slot = (row[0], row[1])
            current = latest.get(slot)
            if current is None or (row[3], row[2], row[4]) > (current[3], current[2], current[4]):
                latest[slot] = row
        best = list(latest.values())
    upsert_if_greater_rows(
        conn, latest_metrics, POINT_COLUMNS, best, keys=("run_uuid", "key"), order=_LATEST_ORDER
    )


# What a plain point stores on SQLite: the model and dataset columns are left to their NULL
# default, and is_nan is the integer SQLite keeps for a boolean anyway (SQLAlchemy stores
# False as 0 there too).
_PLAIN_COLUMNS = POINT_COLUMNS[:6]


def log_plain_points(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    timestamps: Sequence[int],
    steps: Sequence[int],
    values: Sequence[float],
) -> None:
    """:func:`log_points` for finite points with no model or dataset, given as columns (the
    i-th point is ``keys[i], timestamps[i], steps[i], values[i]``): what a log-batch from
    MLflow's clients holds. The rows are zipped from the columns in C, with no Python code
    per point."""
    if not keys:
        return
    count = len(keys)
    if conn.dialect.name == "sqlite":
        _insert_plain_sqlite(conn, run_id, keys, timestamps, steps, values)
    else:
        extras = (repeat(False), repeat(None), repeat(None), repeat(None))
        rows: list[tuple[Any, ...]] = list(
            zip(repeat(run_id, count), keys, timestamps, steps, values, *extras, strict=False)
        )
        insert_ignore_rows(conn, metrics, POINT_COLUMNS, rows)
    best = [
        (run_id, keys[i], timestamps[i], steps[i], values[i], False, None, None, None)
        for i in _latest_indexes(keys, timestamps, steps, values)
    ]
    upsert_if_greater_rows(
        conn, latest_metrics, POINT_COLUMNS, best, keys=("run_uuid", "key"), order=_LATEST_ORDER
    )


# Points per INSERT statement on SQLite. One statement per batch: SQLite journals every page
# a multi-row statement changes (to undo it alone if it fails), so fewer, larger statements
# journal the batch's hot pages fewer times; a thousand points in one statement cost ~10% less
# than executemany's one statement per row. Smaller counts are powers of two, so a server
# prepares at most a dozen distinct statements whatever batch sizes arrive.
_SQLITE_BATCH = 1000
_FIELDS_PER_POINT = 4


def _insert_plain_sqlite(
    conn: Connection,
    run_id: str,
    keys: Sequence[str],
    timestamps: Sequence[int],
    steps: Sequence[int],
    values: Sequence[float],
) -> None:
    """Multi-row INSERTs binding the run id once per statement and writing is_nan as a
    literal 0, so a thousand points bind 4,001 values instead of 6,000 (each bind takes
    SQLite's connection mutex). Plain ints, floats and strs only: pysqlite looks a bool or None
    up in its adapter registry first (a failed attribute lookup and an exception each), which
    costs more than storing the value."""
    statements = []
    start = 0
    for size in _chunk_sizes(len(keys), _largest_chunk(conn)):
        end = start + size
        bound = [
            run_id,
            *chain.from_iterable(
                zip(keys[start:end], timestamps[start:end], steps[start:end], values[start:end], strict=True)
            ),
        ]
        statements.append((_plain_insert_sql(size), bound))
        start = end
    driver_execute_each(conn, statements)
    note_changes(conn, len(statements))


def _largest_chunk(conn: Connection) -> int:
    # SQLite builds before 3.32 bind at most 999 values per statement.
    driver = cast(sqlite3.Connection, conn.connection.dbapi_connection)
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return min(_SQLITE_BATCH, (limit - 1) // _FIELDS_PER_POINT)


def _chunk_sizes(count: int, largest: int) -> Iterable[int]:
    """``count`` as whole statements of ``largest`` points, the rest in powers of two."""
    while count >= largest:
        yield largest
        count -= largest
    while count:
        size = 1 << (count.bit_length() - 1)
        yield size
        count -= size


@functools.cache
def _plain_insert_sql(count: int) -> str:
    fields = ("key", "timestamp", "step", "value")
    rows: list[dict[str, Any]] = [
        {
            "run_uuid": sa.bindparam("run_id"),
            **{name: sa.bindparam(f"{name}_{index}") for name in fields},
            "is_nan": sa.literal_column("0"),
        }
        for index in range(count)
    ]
    stmt = sqlite.insert(metrics).values(rows).on_conflict_do_nothing()
    # The numeric paramstyle renders the repeated run id as one parameter (:1 everywhere);
    # written as ?1 (SQLite's numbered form) the values bind by position.
    compiled = stmt.compile(dialect=sqlite.dialect(paramstyle="numeric"))
    expected = ["run_id", *(f"{name}_{index}" for index in range(count) for name in fields)]
    if list(compiled.positiontup or ()) != expected:
        raise AssertionError("unexpected parameter order in the plain-point INSERT")
    return re.sub(r":(\d+)\b", r"?\1", str(compiled))


def _latest_indexes(
    keys: Sequence[str], timestamps: Sequence[int], steps: Sequence[int], values: Sequence[float]
) -> Iterable[int]:
    """Per key, the index of its greatest point by (step, timestamp, value)."""
    count = len(keys)
    if (
        all(map(operator.le, steps, islice(steps, 1, None)))
        and len(set(zip(keys, steps, strict=True))) == count
    ):
        # As clients log: steps never go back and no key repeats a step, so each key's last
        # point has its largest step.
        return dict(zip(keys, range(count), strict=True)).values()
    order = list(zip(steps, timestamps, values, strict=True))
    best: dict[str, int] = {}
    for index, key in enumerate(keys):
        current = best.get(key)
        if current is None or order[index] > order[current]:
            best[key] = index
    return best.values()


def log_model_points(conn: Connection, experiment_id: int, rows: Sequence[PointRow]) -> None:
    """Copy points that name a logged model into that model's metrics, for models that exist."""
    model_ids = sorted({row[6] for row in rows if row[6]})
    if not model_ids:
        return
    known = set(
        conn.execute(
            sa.select(logged_models.c.model_id).where(logged_models.c.model_id.in_(model_ids))
        ).scalars()
    )
    copies = [
        {
            "model_id": model_id,
            "metric_name": key,
            "metric_timestamp_ms": timestamp,
            "metric_step": step,
            "run_id": run_id,
            # NaN has no portable SQL spelling; the model's copy leaves it NULL.
            "metric_value": None if is_nan else value,
            "experiment_id": experiment_id,
            "dataset_name": dataset_name,
            "dataset_digest": dataset_digest,
        }
        for run_id, key, timestamp, step, value, is_nan, model_id, dataset_name, dataset_digest in rows
        if model_id in known
    ]
    insert_ignore(conn, logged_model_metrics, copies)


def latest_for_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for part in chunks(run_ids):
        query = (
            sa.select(*(latest_metrics.c[name] for name in _WIRE_ORDER), latest_metrics.c.run_uuid)
            .where(latest_metrics.c.run_uuid.in_(part))
            .order_by(latest_metrics.c.run_uuid, latest_metrics.c.key)
        )
        for row in conn.execute(query):
            found.setdefault(row[8], []).append(point_to_wire(row))
    return found


_HISTORY_COLUMNS = tuple(metrics.c[name] for name in _WIRE_ORDER)


def history(
    conn: Connection, run_id: str, key: str, *, offset: int, limit: int | None
) -> list[dict[str, Any]]:
    """One run's points for a key, ordered by (timestamp, step, value) as MLflow orders them."""
    query = (
        sa.select(*_HISTORY_COLUMNS)
        .where(metrics.c.run_uuid == run_id, metrics.c.key == key)
        .order_by(metrics.c.timestamp, metrics.c.step, metrics.c.value)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    result = conn.execute(query)
    try:
        # Raw DBAPI tuples: a 100k-point history spends most of its time in per-row result
        # processing otherwise. is_nan arrives as bool or 0/1 depending on the driver.
        return [_point(*row) for row in result.cursor.fetchall()]
    finally:
        result.close()


def history_many(
    conn: Connection,
    run_ids: Sequence[str],
    key: str,
    *,
    steps: Sequence[int] | None,
    limit: int,
    by_step: bool,
) -> dict[str, list[dict[str, Any]]]:
    """Points of a key for several runs (optionally only at some steps), at most ``limit``
    per run, each with its ``run_id``; ordered per run by step first or by time first."""
    found: dict[str, list[dict[str, Any]]] = {}
    query = sa.select(*_HISTORY_COLUMNS, metrics.c.run_uuid).where(
        metrics.c.run_uuid.in_(list(run_ids)), metrics.c.key == key
    )
    if steps is not None:
        if not steps:
            return found
        query = query.where(metrics.c.step.in_(list(steps)))
    order = (
        (metrics.c.step, metrics.c.timestamp, metrics.c.value)
        if by_step
        else (metrics.c.timestamp, metrics.c.step, metrics.c.value)
    )
    query = query.order_by(metrics.c.run_uuid, *order)
    for row in conn.execute(query):
        points = found.setdefault(row[8], [])
        if len(points) < limit:
            point = point_to_wire(row)
            point["run_id"] = row[8]
            points.append(point)
    return found


def steps_by_run(conn: Connection, run_ids: Sequence[str], key: str) -> dict[str, list[int]]:
    """The distinct steps each run logged for a key, ascending."""
    query = (
        sa.select(metrics.c.run_uuid, metrics.c.step)
        .where(metrics.c.run_uuid.in_(list(run_ids)), metrics.c.key == key)
        .distinct()
        .order_by(metrics.c.run_uuid, metrics.c.step)
    )
    found: dict[str, list[int]] = {}
    for row in conn.execute(query):
        found.setdefault(row.run_uuid, []).append(row.step)
    return found
