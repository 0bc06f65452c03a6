"""Evaluation and drift-monitoring endpoints under ``/2.0/ledgerflow``.

* ``POST evaluations/create``, ``GET evaluations/list``: evaluations of a model version;
* ``POST monitoring/reference/set``, ``GET monitoring/reference/get``: its reference profile;
* ``POST monitoring/log-batch``, ``GET monitoring/windows``: production batches and their
  drift scores.

Each names the model version by ``name`` and ``version`` (the registry's permissions apply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_EVAL = "/2.0/ledgerflow/evaluations"
_MON = "/2.0/ledgerflow/monitoring"


def _version(payload: Payload) -> str:
    value = payload.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("version")


@TABLE.route("POST", f"{_EVAL}/create")
def create_evaluation(services: Services, payload: Payload) -> dict[str, Any]:
    evaluation = services.monitoring.evaluations.record(
        payload.req_string("name"),
        _version(payload),
        task=payload.raw("task"),
        dataset_name=payload.string("dataset_name"),
        dataset_digest=payload.raw("dataset_digest"),
        row_count=payload.raw("row_count"),
        sections={key: payload.raw(key) for key in ("metrics", "fairness", "robustness")},
        fairness_status=payload.raw("fairness_status"),
        report=payload.raw("report"),
    )
    return {"evaluation": evaluation}


@TABLE.route("GET", f"{_EVAL}/list")
def list_evaluations(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.monitoring.evaluations.list(
        payload.req_string("name"),
        _version(payload),
        payload.int64("max_results"),
        with_report=bool(payload.boolean("with_report", default=False)),
    )
    return {"evaluations": found} if found else {}


@TABLE.route("POST", f"{_MON}/reference/set")
def set_reference_profile(services: Services, payload: Payload) -> dict[str, Any]:
    reference = services.monitoring.drift.set_reference(
        payload.req_string("name"),
        _version(payload),
        payload.raw("profile"),
        source=payload.string("source"),
        dataset_digest=payload.string("dataset_digest"),
        settings=payload.raw("settings"),
    )
    return {"reference": reference}


@TABLE.route("GET", f"{_MON}/reference/get")
def get_reference_profile(services: Services, payload: Payload) -> dict[str, Any]:
    reference = services.monitoring.drift.get_reference(
        payload.req_string("name"),
        _version(payload),
        with_profile=bool(payload.boolean("with_profile", default=False)),
    )
    return {"reference": reference}


@TABLE.route("POST", f"{_MON}/log-batch")
def log_monitoring_batch(services: Services, payload: Payload) -> dict[str, Any]:
    window = services.monitoring.drift.log_batch(
        payload.req_string("name"),
        _version(payload),
        payload.raw("columns"),
        window_time=payload.int64("window_time"),
        row_count=payload.int64("row_count"),
        source=payload.string("source"),
    )
    return {"window": window}


@TABLE.route("GET", f"{_MON}/windows")
def list_monitoring_windows(services: Services, payload: Payload) -> dict[str, Any]:
    return services.monitoring.drift.list_windows(
        payload.req_string("name"), _version(payload), payload.int64("max_results")
    )
