"""Policy documents: parsed from YAML (or JSON), validated, canonicalised and digested.

Validation happens in two steps, both reporting the path of the offending element
(``rules[2].op``): the published JSON Schema first, then what a schema cannot say (unique
rule ids, CEL expressions that pass the sandbox checks, waivers naming an existing rule with a
parseable expiry). The digest is the SHA-256 of the canonical JSON of the document, so the
same policy uploaded as YAML or JSON, in any key order, has the same digest.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.errors import InvalidParameter
from ledgerflow.governance.policy import cel
from ledgerflow.governance.policy.json_schema import SCHEMA

MAX_DOCUMENT_BYTES = 256 * 1024
DEFAULT_TARGETS = ("alias:*", "stage:Production")


@dataclass(frozen=True)
class Rule:
    id: str
    type: str
    severity: str
    spec: Mapping[str, Any]
    compiled: cel.CompiledExpression | None = None

    @property
    def blocking(self) -> bool:
        return self.severity != "warn"


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    approved_by: str
    expires_at_ms: int


@dataclass(frozen=True)
class PolicyDocument:
    name: str
    declared_version: int | None
    models: tuple[str, ...]
    targets: tuple[str, ...]
    rules: tuple[Rule, ...]
    waivers: tuple[Waiver, ...]
    canonical: str  # canonical JSON of the whole document
    digest: str
    data: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def applies_to(self, model: str, target: str | None) -> bool:
        if not any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models):
            return False
        if target is None:
            return True
        return any(_target_matches(pattern, target) for pattern in self.targets)

    def min_approvals(self) -> int:
        counts = [int(rule.spec.get("min", 1)) for rule in self.rules if rule.type == "approvals"]
        return max(counts, default=1)


def _target_matches(pattern: str, target: str) -> bool:
    kind, _, value = pattern.partition(":")
    target_kind, _, target_value = target.partition(":")
    if kind != target_kind:
        return False
    if kind == "stage":
        return value.lower() == target_value.lower()
    return fnmatch.fnmatchcase(target_value.lower(), value.lower())


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _invalid(path: str, message: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid policy document at {path}: {message}")


def _refuse_anchors_and_aliases(source: str) -> None:
    """Refuse anchors and aliases before anything is constructed.

    The size limit does not bound alias expansion: a few hundred bytes of nested aliases
    ("billion laughs") expand to billions of nodes. Walking the parser's events costs time
    linear in the text, and a policy has no need for either feature.
    """
    import yaml

    for event in yaml.parse(source, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _invalid("(document)", "policy documents may not use YAML anchors or aliases")


def load_source(source: str) -> dict[str, Any]:
    """The document a YAML or JSON text holds (safe YAML: no Python tags)."""
    import yaml

    if len(source.encode()) > MAX_DOCUMENT_BYTES:
        raise _invalid("(document)", f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        _refuse_anchors_and_aliases(source)
        data = yaml.safe_load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "unreadable"
        raise _invalid("(document)", f"not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise _invalid("(document)", "expected a mapping at the top level")
    return data


def parse_time_ms(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise _invalid(path, "expected an ISO-8601 time or epoch milliseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(path, f"'{value}' is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _normalise(value: Any) -> Any:
    """YAML dates become ISO strings so the document is JSON (and the schema sees strings)."""
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        raise _invalid("(document)", "NaN is not a valid number")
    return value


def _is_empty_rules(error: Any) -> bool:
    return error.validator == "minItems" and list(error.absolute_path) == ["rules"]


def _schema_check(data: dict[str, Any], *, stored: bool = False) -> None:
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(
        (e for e in validator.iter_errors(data) if not (stored and _is_empty_rules(e))),
        key=lambda e: (len(list(e.absolute_path)), list(map(str, e.path))),
    )
    if not errors:
        return
    # The deepest error under an allOf branch is the one that names the real field.
    error = max(errors, key=lambda e: len(list(e.absolute_path)))
    raise _invalid(_path(error.absolute_path), error.message[:300])


def parse_document(source: str | Mapping[str, Any], *, stored: bool = False) -> PolicyDocument:
    """Validate a policy (YAML/JSON text, or an already parsed mapping).

    ``stored`` re-reads a document that an earlier release accepted: one with an empty rule
    list (refused on upload now) still loads, so it cannot make every gated change fail.
    """
    data = _normalise(load_source(source) if isinstance(source, str) else dict(source))
    _schema_check(data, stored=stored)
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(data.get("rules", [])):
        rule_id = str(item["id"])
        if rule_id in seen:
            raise _invalid(f"rules[{index}].id", f"duplicate rule id '{rule_id}'")
        seen.add(rule_id)
        compiled = None
        if item["type"] == "expr":
            try:
                compiled = cel.compile_expression(str(item["cel"]))
            except cel.ExpressionRefused as refused:
                raise _invalid(f"rules[{index}].cel", str(refused)) from None
        if item["type"] == "metric_vs_champion" and not (
            "min_absolute_change" in item or "min_relative_change" in item
        ):
            raise _invalid(f"rules[{index}]", "needs min_absolute_change or min_relative_change")
        spec = {k: v for k, v in item.items() if k not in ("id", "type", "severity")}
        rules.append(Rule(rule_id, str(item["type"]), str(item.get("severity", "block")), spec, compiled))
    waivers: list[Waiver] = []
    for index, item in enumerate(data.get("waivers", [])):
        if item["rule"] not in seen:
            raise _invalid(f"waivers[{index}].rule", f"no rule with id '{item['rule']}'")
        expires = parse_time_ms(item["expires_at"], f"waivers[{index}].expires_at")
        waivers.append(Waiver(item["rule"], item["reason"], item["approved_by"], expires))
    scope = data.get("scope", {})
    canonical = canonical_json(data)
    metadata = data["metadata"]
    return PolicyDocument(
        name=str(metadata["name"]),
        declared_version=metadata.get("version"),
        models=tuple(scope.get("models", ["*"])),
        targets=tuple(scope.get("targets", DEFAULT_TARGETS)),
        rules=tuple(rules),
        waivers=tuple(waivers),
        canonical=canonical,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        data=data,
    )
