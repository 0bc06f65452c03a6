"""Client-side entities built from MLflow's wire JSON, with MLflow's attribute names.

``run.info.run_id``, ``run.data.metrics`` (key to latest value), ``run.data.params`` and
``run.data.tags`` read as they do in MLflow, so code written for ``mlflow`` ports unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _number(value: Any) -> float:
    """Metric values arrive as numbers or, for non-finite ones, as strings like "NaN"."""
    if isinstance(value, str):
        return float(value)
    if value is None:
        return math.nan
    return float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _kv(items: Any) -> dict[str, str]:
    return {str(item["key"]): str(item.get("value", "")) for item in items or []}


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    # MLflow 3: the logged model and dataset a point was logged against, if any.
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metric:
        return cls(
            key=str(data["key"]),
            value=_number(data.get("value")),
            timestamp=int(data.get("timestamp", 0)),
            step=int(data.get("step", 0)),
            run_id=data.get("run_id"),
            model_id=data.get("model_id"),
            dataset_name=data.get("dataset_name"),
            dataset_digest=data.get("dataset_digest"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": wire_double(self.value),
            "timestamp": self.timestamp,
            "step": self.step,
        }


def wire_double(value: float) -> float | str:
    """JSON has no NaN or infinity; MLflow's clients send them as these strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Experiment:
        return cls(
            experiment_id=str(data["experiment_id"]),
            name=str(data.get("name", "")),
            artifact_location=str(data.get("artifact_location", "")),
            lifecycle_stage=str(data.get("lifecycle_stage", "active")),
            tags=_kv(data.get("tags")),
            creation_time=_opt_int(data.get("creation_time")),
            last_update_time=_opt_int(data.get("last_update_time")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        return self.run_id

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunInfo:
        return cls(
            run_id=str(data.get("run_id") or data.get("run_uuid")),
            experiment_id=str(data.get("experiment_id", "")),
            run_name=str(data.get("run_name", "")),
            user_id=str(data.get("user_id", "")),
            status=str(data.get("status", "RUNNING")),
            start_time=_opt_int(data.get("start_time")),
            end_time=_opt_int(data.get("end_time")),
            artifact_uri=str(data.get("artifact_uri", "")),
            lifecycle_stage=str(data.get("lifecycle_stage", "active")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_uri": self.artifact_uri,
            "end_time": self.end_time,
            "experiment_id": self.experiment_id,
            "lifecycle_stage": self.lifecycle_stage,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "run_uuid": self.run_id,
            "start_time": self.start_time,
            "status": self.status,
            "user_id": self.user_id,
        }


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunData:
        return cls(
            metrics={str(m["key"]): _number(m.get("value")) for m in data.get("metrics") or []},
            params=_kv(data.get("params")),
            tags=_kv(data.get("tags")),
        )


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: dict[str, str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetInput:
        dataset = data.get("dataset") or {}
        return cls(
            name=str(dataset.get("name", "")),
            digest=str(dataset.get("digest", "")),
            source_type=str(dataset.get("source_type", "")),
            source=str(dataset.get("source", "")),
            schema=dataset.get("schema"),
            profile=dataset.get("profile"),
            tags=_kv(data.get("tags")),
        )


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        inputs = data.get("inputs") or {}
        return cls(
            info=RunInfo.from_json(data.get("info") or {}),
            data=RunData.from_json(data.get("data") or {}),
            inputs=RunInputs([DatasetInput.from_json(d) for d in inputs.get("dataset_inputs") or []]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The shape ``ledgerflow runs describe`` prints: info, and data as key-to-value maps."""
        return {
            "info": self.info.to_dict(),
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
        }


@dataclass(frozen=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        return cls(
            path=str(data["path"]),
            is_dir=bool(data.get("is_dir", False)),
            file_size=_opt_int(data.get("file_size")),
        )


class PagedList(Sequence[T], Generic[T]):
    """A page of results plus the token for the next page (``None`` on the last page)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        self._items = items
        self.token = token or None

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"PagedList({self._items!r}, token={self.token!r})"
