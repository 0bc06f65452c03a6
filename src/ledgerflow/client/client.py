"""``ledgerflow.Client``: the low-level tracking API, one method per REST call.

Names and arguments follow ``mlflow.MlflowClient`` so code moves over by changing the import
(the registry methods live in ``client/registry.py``).
Unlike the fluent API it adds no system tags and keeps no active run.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ledgerflow.client import artifacts as artifact_ops
from ledgerflow.client import formats
from ledgerflow.client.async_logging import MAX_ENTITIES, MAX_METRICS, MAX_PARAMS, MAX_TAGS, AsyncLogger
from ledgerflow.client.datasets import as_wire_dataset
from ledgerflow.client.entities import (
    Experiment,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunTag,
)
from ledgerflow.client.registry import RegistryMethods
from ledgerflow.client.transport import Transport, make_transport
from ledgerflow.errors import RestError

_API = "/2.0/mlflow"
VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")


def now_ms() -> int:
    return int(time.time() * 1000)


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """The explicit URI, else the one given to ``ledgerflow.set_tracking_uri``, else
    ``LEDGERFLOW_TRACKING_URI``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///ledgerflow.db``
    (the file a ``ledgerflow server`` in this folder would use) — MlflowClient's order."""
    from ledgerflow.client import fluent
    from ledgerflow.client.transport import DEFAULT_LOCAL_URI

    candidates = (
        explicit,
        fluent._configured_tracking_uri(),
        os.environ.get("LEDGERFLOW_TRACKING_URI"),
        os.environ.get("MLFLOW_TRACKING_URI"),
    )
    for value in candidates:
        if value:
            return value
    return DEFAULT_LOCAL_URI


def _kv(items: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (items or {}).items()]


def _view_type(view_type: str | int) -> str:
    if isinstance(view_type, int):
        return {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}.get(view_type, "ACTIVE_ONLY")
    upper = view_type.upper()
    if upper not in VIEW_TYPES:
        from ledgerflow.errors import InvalidParameter

        raise InvalidParameter(f"Invalid view type '{view_type}': use one of {', '.join(VIEW_TYPES)}.")
    return upper


def split_batches(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> Iterable[tuple[list[Metric], list[Param], list[RunTag]]]:
    """Cut one logical batch into requests within log-batch's limits (1000 metrics, 100 params,
    100 tags, 1000 entities in all)."""
    m, p, t = list(metrics), list(params), list(tags)
    while m or p or t:
        p_part, p = p[:MAX_PARAMS], p[MAX_PARAMS:]
        t_part, t = t[:MAX_TAGS], t[MAX_TAGS:]
        room = min(MAX_METRICS, MAX_ENTITIES - len(p_part) - len(t_part))
        m_part, m = m[:room], m[room:]
        yield m_part, p_part, t_part


class Client(RegistryMethods):
    """Talks to one tracking store, chosen by *tracking_uri* (see ``resolve_tracking_uri``).
    The model registry methods come from :class:`RegistryMethods`."""

    def __init__(self, tracking_uri: str | None = None, *, transport: Transport | None = None) -> None:
        self.tracking_uri = transport.uri if transport is not None else resolve_tracking_uri(tracking_uri)
        self._transport = transport
        self._async: AsyncLogger | None = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = make_transport(self.tracking_uri)
        return self._transport

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.transport.call(method, _API + path, body)

    def close(self) -> None:
        if self._async is not None:
            self._async.close(timeout=None)
            self._async = None
        if self._transport is not None:
            self._transport.close()

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": _kv(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", "/experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._call("GET", "/experiments/get", {"experiment_id": str(experiment_id)})
        return Experiment.from_json(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._call("GET", "/experiments/get-by-name", {"experiment_name": name})
        except RestError as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return Experiment.from_json(data["experiment"])

    def search_experiments(
        self,
        view_type: str | int = "ACTIVE_ONLY",
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        body: dict[str, Any] = {"max_results": max_results, "view_type": _view_type(view_type)}
        if filter_string:
            body["filter"] = filter_string
        if order_by:
            body["order_by"] = order_by
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "/experiments/search", body)
        found = [Experiment.from_json(e) for e in data.get("experiments") or []]
        return PagedList(found, data.get("next_page_token"))

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "/experiments/delete", {"experiment_id": str(experiment_id)})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "/experiments/restore", {"experiment_id": str(experiment_id)})

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("POST", "/experiments/update", {"experiment_id": str(experiment_id), "new_name": new_name})

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        body = {"experiment_id": str(experiment_id), "key": key, "value": str(value)}
        self._call("POST", "/experiments/set-experiment-tag", body)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call(
            "POST", "/experiments/delete-experiment-tag", {"experiment_id": str(experiment_id), "key": key}
        )

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        tags = dict(tags or {})
        body: dict[str, Any] = {
            "experiment_id": str(experiment_id),
            "user_id": str(tags.get("mlflow.user", "unknown")),
            "start_time": start_time if start_time is not None else now_ms(),
            "tags": _kv(tags),
        }
        if run_name:
            body["run_name"] = run_name
        return Run.from_json(self._call("POST", "/runs/create", body)["run"])

    def get_run(self, run_id: str) -> Run:
        return Run.from_json(self._call("GET", "/runs/get", {"run_id": run_id, "run_uuid": run_id})["run"])

    def update_run(
        self, run_id: str, status: str | None = None, name: str | None = None, end_time: int | None = None
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id, "run_uuid": run_id}
        if status is not None:
            body["status"] = status
            if end_time is None and status in TERMINAL_STATUSES:
                end_time = now_ms()
        if end_time is not None:
            body["end_time"] = end_time
        if name is not None:
            body["run_name"] = name
        self._call("POST", "/runs/update", body)

    def set_terminated(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
        """End a run; values still queued by asynchronous logging are flushed first."""
        try:
            self.flush_async_logging()
        finally:
            self.update_run(run_id, status=status, end_time=end_time if end_time is not None else now_ms())

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "/runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", "/runs/restore", {"run_id": run_id})

    def search_runs(
        self,
        experiment_ids: list[str] | str,
        filter_string: str = "",
        run_view_type: str | int = "ACTIVE_ONLY",
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else [str(i) for i in experiment_ids]
        body: dict[str, Any] = {
            "experiment_ids": ids,
            "filter": filter_string or "",
            "run_view_type": _view_type(run_view_type),
            "max_results": max_results,
        }
        if order_by:
            body["order_by"] = order_by
        if page_token:
            body["page_token"] = page_token
        data = self._call("POST", "/runs/search", body)
        return PagedList([Run.from_json(r) for r in data.get("runs") or []], data.get("next_page_token"))

    def search_all_runs(
        self,
        experiment_ids: list[str] | str,
        filter_string: str = "",
        run_view_type: str | int = "ACTIVE_ONLY",
        order_by: list[str] | None = None,
        max_results: int | None = None,
    ) -> list[Run]:
        """Every page of ``search_runs`` (up to *max_results* runs)."""
        found: list[Run] = []
        token: str | None = None
        while True:
            page_size = 10_000 if max_results is None else min(10_000, max_results - len(found))
            page = self.search_runs(experiment_ids, filter_string, run_view_type, page_size, order_by, token)
            found.extend(page)
            token = page.token
            if not token or (max_results is not None and len(found) >= max_results):
                return found

    # -- params, metrics, tags --------------------------------------------------------------

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self._call(
            "POST",
            "/runs/log-parameter",
            {"run_id": run_id, "run_uuid": run_id, "key": key, "value": str(value)},
        )
        return value

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool = True,
    ) -> None:
        metric = Metric(key, float(value), timestamp if timestamp is not None else now_ms(), step or 0)
        if not synchronous:
            self._async_logger().enqueue(run_id, metrics=[metric])
            return
        body = {"run_id": run_id, "run_uuid": run_id, **metric.to_json()}
        self._call("POST", "/runs/log-metric", body)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool = True) -> None:
        if not synchronous:
            self._async_logger().enqueue(run_id, tags=[RunTag(key, str(value))])
            return
        self._call(
            "POST", "/runs/set-tag", {"run_id": run_id, "run_uuid": run_id, "key": key, "value": str(value)}
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "/runs/delete-tag", {"run_id": run_id, "key": key})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        synchronous: bool = True,
    ) -> None:
        if not synchronous:
            self._async_logger().enqueue(run_id, metrics, params, tags)
            return
        for m_part, p_part, t_part in split_batches(metrics, params, tags):
            self._send_batch(run_id, m_part, p_part, t_part)

    def _send_batch(
        self, run_id: str, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if metrics:
            body["metrics"] = [m.to_json() for m in metrics]
        if params:
            body["params"] = [{"key": p.key, "value": p.value} for p in params]
        if tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in tags]
        self._call("POST", "/runs/log-batch", body)

    def _async_logger(self) -> AsyncLogger:
        if self._async is None:
            self._async = AsyncLogger(self._send_batch)
        return self._async

    def flush_async_logging(self, timeout: float | None = None) -> None:
        if self._async is not None:
            self._async.flush(timeout)

    def log_inputs(self, run_id: str, datasets: Sequence[tuple[Any, dict[str, str] | None]]) -> None:
        """Each item is (dataset, tags); a ``context`` goes in the ``mlflow.data.context`` tag."""
        body = {
            "run_id": run_id,
            "datasets": [{"tags": _kv(tags), "dataset": as_wire_dataset(ds)} for ds, tags in datasets],
        }
        self._call("POST", "/runs/log-inputs", body)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        history: list[Metric] = []
        token: str | None = None
        while True:
            query: dict[str, Any] = {
                "run_id": run_id,
                "run_uuid": run_id,
                "metric_key": key,
                "max_results": 25000,
            }
            if token:
                query["page_token"] = token
            data = self._call("GET", "/metrics/get-history", query)
            history.extend(Metric.from_json(m) for m in data.get("metrics") or [])
            token = data.get("next_page_token")
            if not token:
                return history

    # -- artifacts --------------------------------------------------------------------------

    def _artifacts(self, run_id: str) -> artifact_ops.ArtifactStore:
        return artifact_ops.store_for(self.transport, run_id, self.get_run(run_id).info.artifact_uri)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        if not Path(local_path).is_file():
            from ledgerflow.errors import InvalidParameter

            raise InvalidParameter(f"No such file: '{local_path}'")
        artifact_ops.upload(self._artifacts(run_id), local_path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        artifact_ops.upload(self._artifacts(run_id), local_dir, artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._artifacts(run_id).list(artifact_ops.clean_artifact_path(path))

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> str:
        return artifact_ops.download(self._artifacts(run_id), path, dst_path)

    def _log_generated(self, run_id: str, make: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="ledgerflow-") as tmp:
            local_file, artifact_path = make(Path(tmp))
            self.log_artifact(run_id, local_file, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._log_generated(run_id, lambda d: formats.write_text(d, artifact_file, text))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        text = formats.dict_to_text(dictionary, artifact_file)
        self._log_generated(run_id, lambda d: formats.write_text(d, artifact_file, text))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        self._log_generated(run_id, lambda d: formats.write_figure(d, figure, artifact_file))

    def log_image(self, run_id: str, image: Any, artifact_file: str) -> None:
        self._log_generated(run_id, lambda d: formats.write_image(d, image, artifact_file))
