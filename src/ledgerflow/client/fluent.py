"""The fluent API behind ``import ledgerflow``: MLflow's names and habits.

All fluent state (tracking URI, active experiment, the per-thread stack of active runs, the
async-logging switch) lives on one :class:`_FluentContext`, created on first use and thrown
away by :func:`reset_fluent_state` (tests do that between cases).
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ledgerflow.client import provenance
from ledgerflow.client.client import Client, now_ms, resolve_tracking_uri
from ledgerflow.client.entities import Experiment, Metric, Param, Run, RunData, RunInfo, RunTag
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist

DEFAULT_EXPERIMENT_ID = "0"
_TRUE = ("1", "true", "yes", "on")


def _env_async() -> bool:
    value = os.environ.get("LEDGERFLOW_ASYNC_LOGGING") or os.environ.get("MLFLOW_ENABLE_ASYNC_LOGGING") or ""
    return value.strip().lower() in _TRUE


class ActiveRun:
    """The run ``start_run`` returned; as a context manager it ends the run on exit, FAILED
    when the block raised (the exception still propagates) and FINISHED otherwise."""

    def __init__(self, run: Run, context: _FluentContext) -> None:
        self._run = run
        self._context = context

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def data(self) -> RunData:
        return self._run.data

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # By id, not identity: the block may have ended and resumed this run (a new object).
        self._context.end_run_by_id(self.info.run_id, "FINISHED" if exc_type is None else "FAILED")

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.info.run_id!r}>"


class _FluentContext:
    def __init__(self) -> None:
        self.tracking_uri: str | None = None
        self.experiment_id: str | None = None
        self.async_default: bool | None = None
        self.last_run_id: str | None = None
        self._client: Client | None = None
        self._client_uri: str | None = None
        self._run_async: dict[str, bool] = {}
        self._threads = threading.local()
        self._lock = threading.RLock()
        atexit.register(self._at_exit)

    # -- client and stack -------------------------------------------------------------------

    def client(self) -> Client:
        uri = resolve_tracking_uri(self.tracking_uri)
        with self._lock:
            if self._client is None or self._client_uri != uri:
                if self._client is not None:
                    self._client.close()
                self._client, self._client_uri = Client(uri), uri
            return self._client

    def stack(self) -> list[ActiveRun]:
        stack: list[ActiveRun] | None = getattr(self._threads, "stack", None)
        if stack is None:
            stack = self._threads.stack = []
        return stack

    def wants_async(self, run_id: str, synchronous: bool | None) -> bool:
        if synchronous is not None:
            return not synchronous
        if run_id in self._run_async:
            return self._run_async[run_id]
        return self.async_default if self.async_default is not None else _env_async()

    def close(self) -> None:
        atexit.unregister(self._at_exit)
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _at_exit(self) -> None:
        # Like MLflow: a script that never ended its run still leaves it FINISHED.
        try:
            while self.stack():
                self.end_run("FINISHED")
        except Exception as error:
            print(f"ledgerflow: ending the active run at exit failed: {error}", file=sys.stderr)

    # -- runs -------------------------------------------------------------------------------

    def resolve_experiment_id(self, experiment_id: str | None) -> str:
        if experiment_id is not None:
            return str(experiment_id)
        if self.experiment_id is not None:
            return self.experiment_id
        name = os.environ.get("LEDGERFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if name:
            return set_experiment(name).experiment_id
        return (
            os.environ.get("LEDGERFLOW_EXPERIMENT_ID")
            or os.environ.get("MLFLOW_EXPERIMENT_ID")
            or DEFAULT_EXPERIMENT_ID
        )

    def start_run(
        self,
        run_id: str | None,
        experiment_id: str | None,
        run_name: str | None,
        nested: bool,
        parent_run_id: str | None,
        tags: dict[str, Any] | None,
        description: str | None,
        async_logging: bool | None,
    ) -> ActiveRun:
        stack = self.stack()
        active_id = stack[-1].info.run_id if stack else None
        if parent_run_id is not None and active_id is not None and parent_run_id != active_id:
            raise InvalidParameter(
                f"Current run with UUID {active_id} does not match the specified parent_run_id "
                f"{parent_run_id}. To start a new nested run under the current run, call start_run "
                "with nested=True and without parent_run_id."
            )
        if stack and not nested and parent_run_id is None:
            raise InvalidParameter(
                f"Run with UUID {stack[0].info.run_id} is already active. To start a new run, first "
                "end the current run with ledgerflow.end_run(). To start a nested run, call "
                "start_run with nested=True"
            )
        client = self.client()
        user_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if run_id:
            run = self._resume(client, run_id, user_tags)
        else:
            parent = parent_run_id or active_id
            if parent:
                user_tags.setdefault(provenance.PARENT_RUN_ID, parent)
            if description is not None:
                user_tags.setdefault(provenance.NOTE, description)
            all_tags = provenance.resolve_tags(user_tags)
            run = client.create_run(
                self.resolve_experiment_id(experiment_id), tags=all_tags, run_name=run_name
            )
        active = ActiveRun(run, self)
        stack.append(active)
        if async_logging is not None:
            self._run_async[run.info.run_id] = async_logging
        return active

    def _resume(self, client: Client, run_id: str, tags: dict[str, str]) -> Run:
        if any(r.info.run_id == run_id for r in self.stack()):
            raise InvalidParameter(f"Run with UUID {run_id} is already active.")
        existing = client.get_run(run_id)
        if existing.info.lifecycle_stage == "deleted":
            raise InvalidParameter(f"Cannot start run with ID {run_id} because it is in the deleted state.")
        if tags:
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        # The old end_time goes along because MLflow's store API wants one; the name stays.
        client.update_run(run_id, status="RUNNING", end_time=existing.info.end_time)
        return client.get_run(run_id)

    def end_run(self, status: str = "FINISHED") -> None:
        stack = self.stack()
        if not stack:
            return
        run_id = stack[-1].info.run_id
        try:
            self.client().set_terminated(run_id, status)
        finally:
            stack.pop()
            self._run_async.pop(run_id, None)
            self.last_run_id = run_id

    def end_run_by_id(self, run_id: str, status: str) -> None:
        stack = self.stack()
        if not any(r.info.run_id == run_id for r in stack):
            return
        while stack:
            top = stack[-1].info.run_id
            self.end_run(status)
            if top == run_id:
                return

    def active_run_id(self) -> str:
        """The active run's id, starting a run first when none is active (as MLflow does)."""
        stack = self.stack()
        if not stack:
            self.start_run(None, None, None, False, None, None, None, None)
        return stack[-1].info.run_id


@functools.cache
def _context() -> _FluentContext:
    return _FluentContext()


def reset_fluent_state() -> None:
    """Forget the tracking URI, experiment and active runs (without ending them)."""
    if _context.cache_info().currsize:
        _context().close()
    _context.cache_clear()


# -- tracking URI and experiments ------------------------------------------------------------


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Where fluent calls log: ``http(s)://`` server, a folder, or ``sqlite:///file.db``."""
    _context().tracking_uri = os.fspath(uri)


def get_tracking_uri() -> str:
    return resolve_tracking_uri(_context().tracking_uri)


def _configured_tracking_uri() -> str | None:
    """The URI given to :func:`set_tracking_uri`, if any (without creating fluent state)."""
    return _context().tracking_uri if _context.cache_info().currsize else None


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment the active one, creating it by name when it does not exist."""
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidParameter("Specify exactly one of experiment_name and experiment_id.")
    context = _context()
    client = context.client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            client.create_experiment(experiment_name)
            found = client.get_experiment_by_name(experiment_name)
            if found is None:
                raise ResourceDoesNotExist(f"Could not find experiment with name '{experiment_name}'")
        experiment = found
    if experiment.lifecycle_stage != "active":
        raise InvalidParameter(
            f"Cannot set a deleted experiment '{experiment.name}' as the active experiment. You can "
            "restore the experiment, or permanently delete the experiment to create a new one."
        )
    context.experiment_id = experiment.experiment_id
    return experiment


def create_experiment(
    name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
) -> str:
    return _context().client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return _context().client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _context().client().get_experiment_by_name(name)


def delete_experiment(experiment_id: str) -> None:
    _context().client().delete_experiment(experiment_id)


def search_experiments(
    view_type: str = "ACTIVE_ONLY", max_results: int = 1000, filter_string: str | None = None
) -> list[Experiment]:
    return list(_context().client().search_experiments(view_type, max_results, filter_string))


# -- runs ------------------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    async_logging: bool | None = None,
) -> ActiveRun:
    """Start a run, or resume *run_id* (it goes back to RUNNING), and make it active.

    Nesting needs ``nested=True`` (or ``parent_run_id``); the child gets ``mlflow.parentRunId``.
    ``async_logging=True`` makes this run's logging calls asynchronous by default (also set
    for all runs by ``LEDGERFLOW_ASYNC_LOGGING=true`` or ``MLFLOW_ENABLE_ASYNC_LOGGING=true``).
    """
    return _context().start_run(
        run_id, experiment_id, run_name, nested, parent_run_id, tags, description, async_logging
    )


def end_run(status: str = "FINISHED") -> None:
    """End the innermost active run after flushing what asynchronous logging still holds."""
    _context().end_run(status)


def active_run() -> ActiveRun | None:
    stack = _context().stack()
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    current = active_run()
    if current is not None:
        return get_run(current.info.run_id)
    run_id = _context().last_run_id
    return get_run(run_id) if run_id else None


def get_run(run_id: str) -> Run:
    return _context().client().get_run(run_id)


def delete_run(run_id: str) -> None:
    _context().client().delete_run(run_id)


def enable_async_logging(enable: bool = True) -> None:
    """Make logging calls asynchronous by default (the ``synchronous`` argument still wins)."""
    _context().async_default = enable


def flush_async_logging(timeout: float | None = None) -> None:
    _context().client().flush_async_logging(timeout)


# -- logging ---------------------------------------------------------------------------------


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    context = _context()
    run_id = context.active_run_id()
    if context.wants_async(run_id, synchronous):
        context.client().log_batch(run_id, params=[Param(key, str(value))], synchronous=False)
    else:
        context.client().log_param(run_id, key, value)
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None) -> None:
    context = _context()
    run_id = context.active_run_id()
    entities = [Param(str(k), str(v)) for k, v in params.items()]
    context.client().log_batch(
        run_id, params=entities, synchronous=not context.wants_async(run_id, synchronous)
    )


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
) -> None:
    context = _context()
    run_id = context.active_run_id()
    context.client().log_metric(
        run_id, key, value, timestamp, step, synchronous=not context.wants_async(run_id, synchronous)
    )


def log_metrics(
    metrics: dict[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
) -> None:
    context = _context()
    run_id = context.active_run_id()
    at = timestamp if timestamp is not None else now_ms()
    entities = [Metric(str(k), float(v), at, step or 0) for k, v in metrics.items()]
    context.client().log_batch(
        run_id, metrics=entities, synchronous=not context.wants_async(run_id, synchronous)
    )


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    context = _context()
    run_id = context.active_run_id()
    context.client().set_tag(run_id, key, value, synchronous=not context.wants_async(run_id, synchronous))


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    context = _context()
    run_id = context.active_run_id()
    entities = [RunTag(str(k), str(v)) for k, v in tags.items()]
    context.client().log_batch(
        run_id, tags=entities, synchronous=not context.wants_async(run_id, synchronous)
    )


def delete_tag(key: str) -> None:
    context = _context()
    context.client().delete_tag(context.active_run_id(), key)


def _run_for(run_id: str | None) -> str:
    return run_id or _context().active_run_id()


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _context().client().log_artifact(_run_for(run_id), local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None
) -> None:
    _context().client().log_artifacts(_run_for(run_id), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    """Store *text* as ``artifact_file`` (e.g. ``dir/notes.txt``) in the run's artifacts."""
    _context().client().log_text(_run_for(run_id), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store a dict as YAML (``.yaml``/``.yml``) or JSON (any other extension)."""
    _context().client().log_dict(_run_for(run_id), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, run_id: str | None = None) -> None:
    _context().client().log_figure(_run_for(run_id), figure, artifact_file)


def log_image(image: Any, artifact_file: str, run_id: str | None = None) -> None:
    _context().client().log_image(_run_for(run_id), image, artifact_file)


def log_input(dataset: Any, context: str | None = None, tags: dict[str, str] | None = None) -> None:
    """Record that the active run used *dataset* (``ledgerflow.data.from_pandas(...)`` or a
    dict with name/digest/source...), with ``context`` such as "training"."""
    all_tags = dict(tags or {})
    if context is not None:
        all_tags["mlflow.data.context"] = context
    fluent = _context()
    fluent.client().log_inputs(fluent.active_run_id(), [(dataset, all_tags)])


def get_artifact_uri(artifact_path: str | None = None) -> str:
    root = get_run(_context().active_run_id()).info.artifact_uri
    return f"{root.rstrip('/')}/{artifact_path.lstrip('/')}" if artifact_path else root


def list_artifacts(run_id: str, path: str | None = None) -> list[Any]:
    return list(_context().client().list_artifacts(run_id, path))


def download_artifacts(
    run_id: str,
    artifact_path: str = "",
    dst_path: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Download into *dst_path* keeping the relative layout (``dir/f.txt`` → ``<dst>/dir/f.txt``);
    *tracking_uri* picks another server for this call only."""
    client = Client(tracking_uri) if tracking_uri else _context().client()
    return client.download_artifacts(run_id, artifact_path, dst_path)


# -- search ----------------------------------------------------------------------------------


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: str = "ACTIVE_ONLY",
    max_results: int = 100_000,
    order_by: list[str] | None = None,
    output_format: str = "pandas",
    experiment_names: Sequence[str] | None = None,
) -> Any:
    """Runs of the given (or the active) experiments: a pandas DataFrame when pandas is
    installed and ``output_format="pandas"``, else a list of :class:`Run`."""
    context = _context()
    client = context.client()
    ids = [str(i) for i in experiment_ids or []]
    for name in experiment_names or []:
        found = client.get_experiment_by_name(name)
        if found is not None:
            ids.append(found.experiment_id)
    if not ids and not experiment_names:
        ids = [context.resolve_experiment_id(None)]
    runs = client.search_all_runs(ids, filter_string, run_view_type, order_by, max_results) if ids else []
    if output_format == "list":
        return runs
    if output_format != "pandas":
        raise InvalidParameter(f"Unsupported output_format '{output_format}': use 'pandas' or 'list'.")
    try:
        import pandas  # noqa: F401
    except ModuleNotFoundError:
        return runs
    from ledgerflow.client.frames import runs_to_dataframe

    return runs_to_dataframe(runs)
