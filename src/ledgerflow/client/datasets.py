"""A small dataset description for ``log_input``: name, digest, source, schema and profile.

The fields are the ones MLflow's ``runs/log-inputs`` carries (schema, profile and source are
JSON strings), so the web UI and ``mlflow`` clients read them as they read MLflow's own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

_DIGEST_ROWS = 10_000
_PANDAS_TYPES = {"i": "long", "u": "long", "f": "double", "b": "boolean", "M": "datetime", "O": "string"}


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
        }
        if self.schema is not None:
            data["schema"] = self.schema
        if self.profile is not None:
            data["profile"] = self.profile
        return data


def _source(source: str | None) -> tuple[str, str]:
    if source is None:
        return "code", json.dumps({"tags": {}})
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    source_type = {"http": "http", "https": "http", "s3": "s3", "gs": "gcs"}.get(scheme, "local")
    return source_type, json.dumps({"uri": source})


def from_pandas(
    df: Any, source: str | None = None, name: str | None = None, targets: str | None = None
) -> Dataset:
    """Describe a pandas DataFrame; the digest covers its shape, columns and first rows."""
    import pandas as pd

    head = df.head(_DIGEST_ROWS)
    hasher = hashlib.sha256()
    hasher.update(repr((df.shape, [str(c) for c in df.columns])).encode())
    hasher.update(pd.util.hash_pandas_object(head, index=False).values.tobytes())
    columns = [
        {"type": _PANDAS_TYPES.get(dtype.kind, "string"), "name": str(column), "required": True}
        for column, dtype in df.dtypes.items()
    ]
    profile: dict[str, Any] = {"num_rows": int(df.shape[0]), "num_elements": int(df.size)}
    if targets is not None:
        profile["targets"] = targets
    source_type, source_json = _source(source)
    return Dataset(
        name=name or "dataset",
        digest=hasher.hexdigest()[:8],
        source_type=source_type,
        source=source_json,
        schema=json.dumps({"mlflow_colspec": columns}),
        profile=json.dumps(profile),
    )


def as_wire_dataset(dataset: Any) -> dict[str, Any]:
    """A :class:`Dataset`, a plain dict with the wire fields, or an MLflow-like object."""
    if isinstance(dataset, Dataset):
        return dataset.to_json()
    if isinstance(dataset, dict):
        missing = [k for k in ("name", "digest") if not dataset.get(k)]
        if missing:
            from ledgerflow.errors import InvalidParameter

            raise InvalidParameter(f"A dataset dict needs {', '.join(missing)}.")
        data = {
            k: dataset[k]
            for k in ("name", "digest", "source_type", "source", "schema", "profile")
            if k in dataset
        }
        data.setdefault("source_type", "code")
        data.setdefault("source", json.dumps({"tags": {}}))
        for key in ("source", "schema", "profile"):
            if key in data and not isinstance(data[key], str):
                data[key] = json.dumps(data[key])
        return data
    to_dict = getattr(dataset, "to_dict", None)
    if callable(to_dict):
        return as_wire_dataset(to_dict())
    from ledgerflow.errors import InvalidParameter

    raise InvalidParameter(f"Unsupported dataset type {type(dataset).__name__}.")
