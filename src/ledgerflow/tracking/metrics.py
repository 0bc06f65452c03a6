"""Metric points: validation and normalisation on the way in, history reads on the way out."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ledgerflow.errors import InvalidParameter
from ledgerflow.server.payload import finite_or_clamped
from ledgerflow.store import metrics as store
from ledgerflow.store import paging
from ledgerflow.store.database import Database
from ledgerflow.tracking.validation import (
    MAX_DATASET_DIGEST_LENGTH,
    MAX_DATASET_NAME_LENGTH,
    check_length,
    validate_key,
)

HISTORY_PAGE_SIZE = 25_000
MAX_RUNS_PER_BULK_REQUEST = 100
MAX_RESULTS_PER_RUN_INTERVAL = 2_500
MAX_MODEL_ID_LENGTH = 64


class MetricPoint(NamedTuple):
    # A tuple, not a dataclass: a log-batch builds a thousand of these per request, and a
    # frozen dataclass costs several times as much to construct.
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True)
class PlainPoints:
    """A batch of finite points with no model or dataset, as columns of equal length: point i
    is ``keys[i], values[i], timestamps[i], steps[i]``. What MLflow's clients send in a
    log-batch, carried to the driver without a Python object per point."""

    keys: Sequence[str]
    values: Sequence[float]
    timestamps: Sequence[int]
    steps: Sequence[int]

    def __len__(self) -> int:
        return len(self.keys)


def validate_point(point: MetricPoint, *, check_key: bool = True) -> None:
    if check_key:
        validate_key("Metric", point.key)
    if point.model_id is not None:
        check_length("Model ID", point.model_id, MAX_MODEL_ID_LENGTH)
    if point.dataset_name is not None:
        check_length("Dataset name", point.dataset_name, MAX_DATASET_NAME_LENGTH)
    if point.dataset_digest is not None:
        check_length("Dataset digest", point.dataset_digest, MAX_DATASET_DIGEST_LENGTH)


def point_row(run_id: str, point: MetricPoint) -> store.PointRow:
    """The stored form: NaN as (0, is_nan), infinities clamped to the largest finite double."""
    key, value, timestamp, step, model_id, dataset_name, dataset_digest = point
    if value - value == 0.0:  # finite: the common case, with no NaN or infinity to map
        return (
            run_id,
            key,
            timestamp,
            step,
            value,
            False,
            model_id or None,
            dataset_name or None,
            dataset_digest or None,
        )
    is_nan = math.isnan(value)
    return (
        run_id,
        key,
        timestamp,
        step,
        0.0 if is_nan else finite_or_clamped(value),
        is_nan,
        model_id or None,
        dataset_name or None,
        dataset_digest or None,
    )


def sample_steps(start: int, end: int, max_results: int, all_steps: Sequence[int]) -> set[int]:
    """Up to ``max_results`` evenly spaced steps of the sorted ``all_steps`` within [start, end],
    always including the last one in range."""
    lo = bisect.bisect_left(all_steps, start)
    hi = bisect.bisect_right(all_steps, end)
    if hi - lo <= max_results:
        return set(all_steps[lo:hi])
    stride = (hi - lo) / max_results
    chosen = {all_steps[lo + int(i * stride)] for i in range(max_results)}
    chosen.add(all_steps[hi - 1])
    return chosen


class MetricService:
    """Reads of metric history; writes go through :class:`RunService` with the run checks."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_history(
        self, run_id: str, key: str, *, page_token: str | None, max_results: int | None
    ) -> dict[str, Any]:
        if max_results is None and not page_token:
            # MLflow answers an unpaged request with the whole history in one response.
            with self.db.read() as conn:
                points, token = store.history(conn, run_id, key, offset=0, limit=None), None
        else:
            limit = HISTORY_PAGE_SIZE if max_results is None else max_results
            if limit < 1:
                raise InvalidParameter(f"max_results must be a positive integer, got {limit}.")
            offset = paging.decode(page_token)
            with self.db.read() as conn:
                rows = store.history(conn, run_id, key, offset=offset, limit=limit + 1)
            points, token = paging.page(rows, offset, limit)
        response: dict[str, Any] = {}
        if points:
            response["metrics"] = points
        if token:
            response["next_page_token"] = token
        return response

    def get_history_bulk(
        self, run_ids: list[str], key: str | None, max_results: int | None
    ) -> dict[str, Any]:
        """The UI's legacy bulk read: whole histories of several runs, sorted by run id."""
        if not run_ids:
            raise InvalidParameter("GetMetricHistoryBulk request must specify at least one run_id.")
        if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
            raise InvalidParameter(
                f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_PER_BULK_REQUEST}"
                f" run_ids. Received {len(run_ids)} run_ids."
            )
        if key is None:
            raise InvalidParameter("GetMetricHistoryBulk request must specify a metric_key.")
        limit = min(HISTORY_PAGE_SIZE if max_results is None else max_results, HISTORY_PAGE_SIZE)
        with self.db.read() as conn:
            by_run = store.history_many(conn, run_ids, key, steps=None, limit=limit, by_step=False)
        points = [p for run_id in sorted(set(run_ids)) for p in by_run.get(run_id, [])]
        return {"metrics": points[: max(limit, 0)]}

    def get_history_bulk_interval(
        self,
        run_ids: list[str],
        key: str,
        *,
        start_step: int | None,
        end_step: int | None,
        max_results: int | None,
    ) -> dict[str, Any]:
        """Points of several runs at evenly sampled steps (each run's first and last step kept),
        for charts that cannot draw every point."""
        if not run_ids:
            raise InvalidParameter("Missing value for required parameter 'run_ids'.")
        if len(run_ids) > MAX_RUNS_PER_BULK_REQUEST:
            raise InvalidParameter(
                f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_PER_BULK_REQUEST} "
                f"run_ids. Received {len(run_ids)} run_ids."
            )
        if not key:
            raise InvalidParameter("Missing value for required parameter 'metric_key'.")
        limit = MAX_RESULTS_PER_RUN_INTERVAL if max_results is None else max_results
        if not 1 <= limit <= MAX_RESULTS_PER_RUN_INTERVAL:
            raise InvalidParameter(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN_INTERVAL}.")
        if (start_step is None) != (end_step is None):
            raise InvalidParameter("If either start step or end step are specified, both must be specified.")
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidParameter(
                "end_step must be greater than start_step. "
                f"Found start_step={start_step} and end_step={end_step}."
            )
        with self.db.read() as conn:
            steps_of = store.steps_by_run(conn, run_ids, key)
            all_steps = sorted({s for steps in steps_of.values() for s in steps})
            if start_step is None or end_step is None:
                start_step, end_step = 0, (all_steps[-1] if all_steps else 0)
            lo, hi = start_step, end_step
            edges = {s for steps in steps_of.values() for s in (steps[0], steps[-1]) if lo <= s <= hi}
            chosen = sorted(sample_steps(lo, hi, limit, all_steps) | edges)
            by_run = store.history_many(
                conn, run_ids, key, steps=chosen, limit=HISTORY_PAGE_SIZE, by_step=True
            )
        points = [p for run_id in dict.fromkeys(run_ids) for p in by_run.get(run_id, [])]
        return {"metrics": points} if points else {}
