"""Ledgerflow: an MLflow-compatible ML lifecycle platform with security built in.

``import ledgerflow`` is cheap: the fluent API (``ledgerflow.start_run`` ...) and
``ledgerflow.Client`` are loaded on first attribute access, and the HTTP stack only on the
first request, so the light client starts fast and never pulls in server dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names defined outside the fluent module; every other name in __all__ (below) is a
# fluent function or class, so the list of names is written once, in __all__.
_ELSEWHERE: dict[str, str] = {
    "Client": "ledgerflow.client.client",
    "Run": "ledgerflow.client.entities",
    "RunInfo": "ledgerflow.client.entities",
    "RunData": "ledgerflow.client.entities",
    "Experiment": "ledgerflow.client.entities",
    "Metric": "ledgerflow.client.entities",
    "Param": "ledgerflow.client.entities",
    "RunTag": "ledgerflow.client.entities",
    "FileInfo": "ledgerflow.client.entities",
    "ModelVersion": "ledgerflow.client.registry_entities",
    "RegisteredModel": "ledgerflow.client.registry_entities",
    "register_model": "ledgerflow.client.registry",
    "LedgerflowError": "ledgerflow.errors",
    "RestError": "ledgerflow.errors",
    "evaluate": "ledgerflow.governance.evaluation.runner",
}
_SUBMODULES = ("data",)

__all__ = [
    "ActiveRun",
    "Client",
    "Experiment",
    "FileInfo",
    "LedgerflowError",
    "Metric",
    "ModelVersion",
    "Param",
    "RegisteredModel",
    "RestError",
    "Run",
    "RunData",
    "RunInfo",
    "RunTag",
    "active_run",
    "create_experiment",
    "data",
    "delete_experiment",
    "delete_run",
    "delete_tag",
    "download_artifacts",
    "enable_async_logging",
    "end_run",
    "evaluate",
    "flush_async_logging",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "register_model",
    "search_experiments",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "__version__",
]

# Public name -> module that defines it, loaded on first attribute access.
_LAZY: dict[str, str] = {
    name: _ELSEWHERE.get(name, "ledgerflow.client.fluent")
    for name in __all__
    if name not in _SUBMODULES and name != "__version__"
}

if TYPE_CHECKING:
    from ledgerflow import data
    from ledgerflow.client.client import Client
    from ledgerflow.client.entities import (
        Experiment,
        FileInfo,
        Metric,
        Param,
        Run,
        RunData,
        RunInfo,
        RunTag,
    )
    from ledgerflow.client.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_experiment,
        delete_run,
        delete_tag,
        download_artifacts,
        enable_async_logging,
        end_run,
        flush_async_logging,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_run,
        get_tracking_uri,
        last_active_run,
        list_artifacts,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_experiments,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from ledgerflow.client.registry import register_model
    from ledgerflow.client.registry_entities import ModelVersion, RegisteredModel
    from ledgerflow.errors import LedgerflowError, RestError
    from ledgerflow.governance.evaluation.runner import evaluate


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"ledgerflow.{name}")
    else:
        raise AttributeError(f"module 'ledgerflow' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
