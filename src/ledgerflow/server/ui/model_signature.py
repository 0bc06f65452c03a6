"""A model version's ``MLmodel`` file turned into what its page shows: flavors and the
signature's inputs, outputs and params as table rows.

The file is user data: it is read with a size cap, parsed with the safe YAML loader and the
project's own signature reader, and anything malformed becomes a note on the page, never an
error page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.errors import LedgerflowError
from ledgerflow.models.signature import ColSpec, ModelSignature, Schema

MLMODEL = "MLmodel"
# Real MLmodel files are a few KB; anything far larger is not worth parsing for a page.
MAX_MLMODEL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SpecRow:
    name: str
    type: str
    detail: str  # "required"/"optional" for columns, the shape for tensors and params


@dataclass
class ModelMeta:
    found: bool = False
    note: str = ""
    flavors: list[str] = field(default_factory=list)
    inputs: list[SpecRow] = field(default_factory=list)
    outputs: list[SpecRow] = field(default_factory=list)
    params: list[tuple[str, str, str, str]] = field(default_factory=list)
    has_signature: bool = False
    created: str = ""


def schema_rows(schema: Schema | None) -> list[SpecRow]:
    rows = []
    for spec in schema.inputs if schema is not None else []:
        name = spec.name if spec.name is not None else "—"
        if isinstance(spec, ColSpec):
            kind = spec.type if spec.raw is None else json.dumps(spec.raw, sort_keys=True)
            rows.append(SpecRow(name, kind, "required" if spec.required else "optional"))
        else:
            shape = "(" + ", ".join(str(d) for d in spec.shape) + ")"
            rows.append(SpecRow(name, f"tensor {spec.dtype}", shape))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def read_model_meta(data: bytes | None) -> ModelMeta:
    """``data`` is the MLmodel file's bytes (None when the version has no MLmodel)."""
    if data is None:
        return ModelMeta(note="This version has no MLmodel file, so no signature is known.")
    if len(data) > MAX_MLMODEL_BYTES:
        return ModelMeta(True, note="The MLmodel file is too large to read here.")
    import yaml

    try:
        content = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        return ModelMeta(True, note="The MLmodel file is not valid YAML.")
    if not isinstance(content, dict):
        return ModelMeta(True, note="The MLmodel file is not a YAML mapping.")
    flavors = content.get("flavors")
    meta = ModelMeta(
        True,
        flavors=sorted(str(k) for k in flavors) if isinstance(flavors, dict) else [],
        created=str(content.get("utc_time_created") or ""),
    )
    raw = content.get("signature")
    if not raw:
        meta.note = "The MLmodel file declares no signature."
        return meta
    try:
        signature = ModelSignature.from_dict(raw)
    except LedgerflowError as error:
        meta.note = f"The signature could not be read: {error.message}"
        return meta
    except (ValueError, TypeError, AttributeError):
        meta.note = "The signature could not be read."
        return meta
    meta.has_signature = True
    meta.inputs = schema_rows(signature.inputs)
    meta.outputs = schema_rows(signature.outputs)
    if signature.params is not None:
        meta.params = [
            (p.name, p.type, _text(p.default), "—" if p.shape is None else str(list(p.shape)))
            for p in signature.params.params
        ]
    return meta
