"""The published JSON Schema of a policy document (``apiVersion: ledgerflow/v1``).

It is served at ``GET /api/2.0/ledgerflow/policies/schema`` and checked in as
``docs/governance/policy.schema.json`` (a test keeps the two equal), so editors and CI can
validate a policy before it is uploaded.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "ledgerflow/v1"
KIND = "PromotionPolicy"
OPERATORS = (">=", ">", "<=", "<", "==", "!=")
SEVERITIES = ("block", "warn")
RULE_TYPES = (
    "metric_threshold",
    "metric_vs_champion",
    "fairness",
    "robustness",
    "scan_clean",
    "signature_valid",
    "sbom_present",
    "no_secrets",
    "approvals",
    "expr",
)
_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"}
_COMMON = {
    "id": _ID,
    "type": {"enum": list(RULE_TYPES)},
    "severity": {"enum": list(SEVERITIES)},
    "description": {"type": "string", "maxLength": 1000},
}


def _rule(kind: str, required: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {
            "properties": {**_COMMON, **fields},
            "required": ["id", "type", *required],
            "additionalProperties": False,
        },
    }


_THRESHOLD = {
    "metric": {"type": "string", "minLength": 1, "maxLength": 250},
    "op": {"enum": list(OPERATORS)},
    "value": {"type": "number"},
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://ledgerflow.dev/schemas/promotion-policy-v1.json",
    "title": "Ledgerflow promotion policy",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "rules"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": KIND},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "version": {"type": "integer", "minimum": 1},
                "description": {"type": "string", "maxLength": 2000},
            },
        },
        "scope": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "models": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 256},
                    "minItems": 1,
                },
                "targets": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "pattern": "^(alias:[A-Za-z0-9_-]{1,255}|stage:[A-Za-z]{1,32})$",
                    },
                    "minItems": 1,
                },
            },
        },
        "rules": {
            "type": "array",
            # A policy without rules would gate nothing while looking like it is in force.
            "minItems": 1,
            "maxItems": 200,
            "items": {
                "type": "object",
                "required": ["id", "type"],
                "properties": {"type": {"enum": list(RULE_TYPES)}},
                "allOf": [
                    _rule("metric_threshold", ["metric", "op", "value"], **_THRESHOLD),
                    _rule("fairness", ["metric", "op", "value"], **_THRESHOLD),
                    _rule("robustness", ["metric", "op", "value"], **_THRESHOLD),
                    _rule(
                        "metric_vs_champion",
                        ["metric"],
                        metric=_THRESHOLD["metric"],
                        source={"enum": ["metrics", "fairness", "robustness"]},
                        greater_is_better={"type": "boolean"},
                        min_absolute_change={"type": "number"},
                        min_relative_change={"type": "number"},
                    ),
                    _rule("scan_clean", []),
                    _rule(
                        "signature_valid",
                        [],
                        trusted_key_ids={"type": "array", "items": {"type": "string", "minLength": 1}},
                    ),
                    _rule("sbom_present", []),
                    _rule("no_secrets", []),
                    # Approvers always hold 'approve' on the model and are neither the requester
                    # nor the run owner (enforced by the promotion requests, not configurable).
                    _rule("approvals", [], min={"type": "integer", "minimum": 1, "maximum": 10}),
                    _rule("expr", ["cel"], cel={"type": "string", "minLength": 1}),
                ],
            },
        },
        "waivers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["rule", "reason", "approved_by", "expires_at"],
                "additionalProperties": False,
                "properties": {
                    "rule": _ID,
                    "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "approved_by": {"type": "string", "minLength": 1, "maxLength": 256},
                    "expires_at": {"type": ["string", "integer"]},
                },
            },
        },
    },
}
