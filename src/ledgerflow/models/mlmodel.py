"""The ``MLmodel`` file: read, validate and write MLflow's model metadata.

A directory is a model when it holds ``MLmodel``: YAML with a ``flavors`` map and optional
``signature``, ``saved_input_example_info``, ids and times. Keys this version does not know
(newer MLflow writes ``prompts``, ``resources``, ``env_vars`` ...) are kept and written back
unchanged, so a round trip loses nothing.
"""

from __future__ import annotations

import datetime
import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.models.signature import ModelSignature

MLMODEL_FILE = "MLmodel"
_KNOWN = (
    "artifact_path",
    "flavors",
    "model_uuid",
    "model_id",
    "run_id",
    "utc_time_created",
    "mlflow_version",
    "model_size_bytes",
    "signature",
    "saved_input_example_info",
    "metadata",
)


def safe_relative(path: Any, what: str) -> str:
    """A path inside the model directory, as written in MLmodel; refuses escapes."""
    if not isinstance(path, str) or not path:
        raise InvalidParameter(f"Invalid {what} in MLmodel: {path!r:.100}")
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized.startswith(("/", "../")) or normalized == ".." or ":" in normalized:
        raise InvalidParameter(f"Invalid {what} in MLmodel: '{path}' points outside the model directory.")
    return normalized


@dataclass
class Model:
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_path: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    model_id: str | None = None
    run_id: str | None = None
    utc_time_created: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    )
    mlflow_version: str | None = None
    model_size_bytes: int | None = None
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add_flavor(self, name: str, **config: Any) -> Model:
        self.flavors[name] = config
        return self

    def flavor(self, name: str) -> dict[str, Any]:
        config = self.flavors.get(name)
        if config is None:
            raise InvalidParameter(
                f'Model does not have the "{name}" flavor; it has {sorted(self.flavors) or "none"}.'
            )
        return config

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out["flavors"] = self.flavors
        out["model_uuid"] = self.model_uuid
        out["utc_time_created"] = self.utc_time_created
        for key in ("artifact_path", "model_id", "run_id", "mlflow_version", "model_size_bytes", "metadata"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True)

    def save(self, directory: str | Path) -> Path:
        target = Path(directory) / MLMODEL_FILE
        target.write_text(self.to_yaml())
        return target

    @classmethod
    def from_dict(cls, data: Any) -> Model:
        if not isinstance(data, dict):
            raise InvalidParameter(f"MLmodel must be a YAML mapping, got {type(data).__name__}.")
        flavors = data.get("flavors")
        if not isinstance(flavors, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in flavors.items()
        ):
            raise InvalidParameter(
                "MLmodel must have a 'flavors' mapping of flavor name to its configuration."
            )
        signature = data.get("signature")
        example = data.get("saved_input_example_info")
        if example is not None and not isinstance(example, dict):
            raise InvalidParameter("'saved_input_example_info' in MLmodel must be a mapping.")
        size = data.get("model_size_bytes")
        return cls(
            flavors=flavors,
            artifact_path=_opt_str(data.get("artifact_path")),
            model_uuid=_opt_str(data.get("model_uuid")) or uuid.uuid4().hex,
            model_id=_opt_str(data.get("model_id")),
            run_id=_opt_str(data.get("run_id")),
            utc_time_created=str(data.get("utc_time_created") or ""),
            mlflow_version=_opt_str(data.get("mlflow_version")),
            model_size_bytes=int(size) if isinstance(size, int) else None,
            signature=ModelSignature.from_dict(signature) if signature else None,
            saved_input_example_info=example,
            metadata=data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read ``MLmodel`` from a model directory (or the file itself)."""
        import yaml

        source = Path(path)
        if source.is_dir():
            source = source / MLMODEL_FILE
        if not source.is_file():
            raise ResourceDoesNotExist(f"No MLmodel file found at '{source}': this is not a model directory.")
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise InvalidParameter(f"Malformed MLmodel file '{source}': {error}") from None
        return cls.from_dict(data)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
