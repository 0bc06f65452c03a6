"""Model registry entities built from MLflow's wire JSON, with ``MlflowClient``'s attribute names.

``model.latest_versions``, ``model.aliases`` (alias to version), ``version.tags`` (key to
value) and ``version.aliases`` (a list of names) read as they do in MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _tags(items: Any) -> dict[str, str]:
    return {str(item["key"]): str(item.get("value", "")) for item in items or []}


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str | None = None
    source: str | None = None
    run_id: str | None = None
    status: str | None = None
    status_message: str | None = None
    run_link: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(
            name=str(data.get("name", "")),
            version=str(data.get("version", "")),
            creation_timestamp=_opt_int(data.get("creation_timestamp")),
            last_updated_timestamp=_opt_int(data.get("last_updated_timestamp")),
            description=_opt_str(data.get("description")),
            user_id=_opt_str(data.get("user_id")),
            current_stage=_opt_str(data.get("current_stage")),
            source=_opt_str(data.get("source")),
            run_id=_opt_str(data.get("run_id")),
            status=_opt_str(data.get("status")),
            status_message=_opt_str(data.get("status_message")),
            run_link=_opt_str(data.get("run_link")),
            tags=_tags(data.get("tags")),
            aliases=[str(a) for a in data.get("aliases") or []],
            model_id=_opt_str(data.get("model_id")),
        )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    deployment_job_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegisteredModel:
        return cls(
            name=str(data.get("name", "")),
            creation_timestamp=_opt_int(data.get("creation_timestamp")),
            last_updated_timestamp=_opt_int(data.get("last_updated_timestamp")),
            description=_opt_str(data.get("description")),
            user_id=_opt_str(data.get("user_id")),
            latest_versions=[ModelVersion.from_json(v) for v in data.get("latest_versions") or []],
            tags=_tags(data.get("tags")),
            aliases={str(a["alias"]): str(a["version"]) for a in data.get("aliases") or []},
            deployment_job_id=_opt_str(data.get("deployment_job_id")),
        )
