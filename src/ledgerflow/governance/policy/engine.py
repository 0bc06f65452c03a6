"""The policy engine: judge gate inputs against policy documents, rule by rule.

Pure: it reads only the :class:`GateInputs` it is given (the fact sources' answers and the
champion's, collected by the service) and returns a :class:`Evaluation`, so the same inputs
always give the same record and the benchmark measures exactly this.

Results: ``pass``, ``fail``, ``warn`` (a failing rule of severity ``warn``), ``skip`` (the rule
does not apply here, or an active waiver covers it) and ``error`` (its input is missing or
unreadable). ``fail`` and ``error`` block unless the rule's severity is ``warn``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ledgerflow.governance.policy import cel
from ledgerflow.governance.policy.document import PolicyDocument, Rule, digest_of

EVALUATOR_VERSION = "ledgerflow-policy/1"
PASS, FAIL, WARN, SKIP, ERROR = "pass", "fail", "warn", "skip", "error"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Champion:
    """The version the target points at now, and its facts."""

    version: int
    facts: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class GateInputs:
    name: str
    version: int
    target: str | None
    facts: Mapping[str, Mapping[str, Any]]
    manifest_digest: str | None = None
    champion: Champion | None = None
    # Approvers counted so far (None outside a promotion request: the rule is then skipped).
    approvers: Sequence[str] | None = None
    requester: str | None = None
    now_ms: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "facts": {k: dict(v) for k, v in sorted(self.facts.items())},
            "champion": None
            if self.champion is None
            else {
                "version": self.champion.version,
                "facts": {k: dict(v) for k, v in self.champion.facts.items()},
            },
            "approvers": None if self.approvers is None else list(self.approvers),
            "requester": self.requester,
        }


@dataclass
class RuleResult:
    policy: str
    id: str
    type: str
    severity: str
    result: str
    observed: Any = None
    threshold: Any = None
    message: str = ""
    blocking: bool = False
    waiver: dict[str, Any] | None = None


@dataclass
class Evaluation:
    subject: dict[str, Any]
    policies: list[dict[str, Any]]
    policy_digest: str
    inputs: dict[str, Any]
    rules: list[RuleResult] = field(default_factory=list)
    decision: str = PASS
    evaluator_version: str = EVALUATOR_VERSION
    evaluated_at: int = 0

    def failing(self) -> list[RuleResult]:
        return [rule for rule in self.rules if rule.blocking]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "policies": self.policies,
            "policy_digest": self.policy_digest,
            "inputs": self.inputs,
            "rules": [asdict(rule) for rule in self.rules],
            "decision": self.decision,
            "evaluator_version": self.evaluator_version,
            "evaluated_at": self.evaluated_at,
        }


class _Outcome(Exception):
    """Raised by a rule check to end it with a result other than pass/fail."""

    def __init__(self, result: str, message: str, observed: Any = None) -> None:
        super().__init__(message)
        self.result, self.message, self.observed = result, message, observed


def _namespace(facts: Mapping[str, Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    found = facts.get(name)
    if not found:
        raise _Outcome(ERROR, f"no {name} facts for this version")
    return found


def _number(container: Mapping[str, Any], key: str, what: str) -> float:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Outcome(
            ERROR, f"{what} '{key}' is missing" if value is None else f"{what} '{key}' is not a number"
        )
    return float(value)


def _compare(rule: Rule, observed: float) -> tuple[bool, str]:
    op, value = str(rule.spec["op"]), float(rule.spec["value"])
    return _OPS[op](observed, value), f"{op} {value:g}"


def _threshold(section: str) -> Callable[[Rule, GateInputs], tuple[bool, Any, Any, str]]:
    def check(rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
        evaluation = _namespace(inputs.facts, "evaluation")
        values = evaluation.get(section) or {}
        what = "metric" if section == "metrics" else f"{section} metric"
        observed = _number(values, str(rule.spec["metric"]), what)
        ok, threshold = _compare(rule, observed)
        return ok, observed, threshold, ""

    return check


def _vs_champion(rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    section = str(rule.spec.get("source", "metrics"))
    metric = str(rule.spec["metric"])
    candidate = _number(_namespace(inputs.facts, "evaluation").get(section) or {}, metric, "metric")
    if inputs.champion is None:
        raise _Outcome(SKIP, "no champion: the target points at no version yet", {"candidate": candidate})
    if inputs.champion.version == inputs.version:
        raise _Outcome(SKIP, "the candidate is the champion", {"candidate": candidate})
    champion_eval = inputs.champion.facts.get("evaluation") or {}
    if not champion_eval:
        raise _Outcome(ERROR, f"no evaluation facts for the champion (version {inputs.champion.version})")
    baseline = _number(champion_eval.get(section) or {}, metric, "champion metric")
    sign = 1.0 if rule.spec.get("greater_is_better", True) else -1.0
    change = sign * (candidate - baseline)
    relative = (
        change / abs(baseline) if baseline != 0 else (0.0 if change == 0 else math.copysign(math.inf, change))
    )
    ok, parts = True, []
    if "min_absolute_change" in rule.spec:
        minimum = float(rule.spec["min_absolute_change"])
        ok = ok and change >= minimum
        parts.append(f"change >= {minimum:g}")
    if "min_relative_change" in rule.spec:
        minimum = float(rule.spec["min_relative_change"])
        ok = ok and relative >= minimum
        parts.append(f"relative change >= {minimum:g}")
    observed = {
        "candidate": candidate,
        "champion": baseline,
        "champion_version": inputs.champion.version,
        "change": change,
        "relative_change": relative if math.isfinite(relative) else None,
    }
    return ok, observed, " and ".join(parts), ""


def _scan_clean(_rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    scan = _namespace(inputs.facts, "scan")
    status = scan.get("status")
    if status in (None, "missing"):
        raise _Outcome(ERROR, "the version has not been scanned", status)
    override = scan.get("override")
    if status != "clean" and isinstance(override, Mapping):
        expires = override.get("expires_at")
        if isinstance(expires, int | float) and expires > inputs.now_ms:
            return True, status, "clean", f"scan override by {override.get('by')}: {override.get('reason')}"
    return status == "clean", status, "clean", ""


def _signature_valid(rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    signature = _namespace(inputs.facts, "signature")
    status = signature.get("status")
    if status is None:
        raise _Outcome(ERROR, "the signature status is missing")
    trusted = [str(k) for k in rule.spec.get("trusted_key_ids", [])]
    key_id = signature.get("key_id")
    observed = {"status": status, "key_id": key_id}
    if status == "valid" and trusted and key_id not in trusted:
        return False, observed, {"status": "valid", "key_id in": trusted}, f"key {key_id} is not trusted"
    reason = str(signature.get("reason") or "")
    return (
        status == "valid",
        observed,
        {"status": "valid", **({"key_id in": trusted} if trusted else {})},
        reason,
    )


def _sbom_present(_rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    sbom = _namespace(inputs.facts, "sbom")
    present = sbom.get("present")
    if not isinstance(present, bool):
        raise _Outcome(ERROR, "the SBOM status is missing")
    return present, present, True, ""


def _no_secrets(_rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    secrets = _namespace(inputs.facts, "secrets")
    count = secrets.get("findings")
    if isinstance(count, bool) or not isinstance(count, int):
        raise _Outcome(ERROR, "the secret findings count is missing")
    kinds = ", ".join(str(k) for k in secrets.get("kinds") or [])
    return count == 0, count, 0, f"kinds: {kinds}" if kinds else ""


def _approvals(rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    minimum = int(rule.spec.get("min", 1))
    if inputs.approvers is None:
        raise _Outcome(SKIP, "checked on the promotion request (approve and promote)")
    count = len(set(inputs.approvers))
    if count >= minimum:
        return True, count, f">= {minimum}", ""
    return (
        False,
        count,
        f">= {minimum}",
        "approvals count only when an approved promotion request is executed",
    )


def _doubles(values: Any) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    return {
        str(k): float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in values.items()
    }


def _expr(rule: Rule, inputs: GateInputs) -> tuple[bool, Any, Any, str]:
    assert rule.compiled is not None
    evaluation = inputs.facts.get("evaluation") or {}
    variables = {
        # Numbers as doubles: CEL has no int/double overloads, so `metrics['n'] > 0.5` must not
        # fail because a metric happened to be stored as 1.
        "metrics": _doubles(evaluation.get("metrics")),
        "fairness": _doubles(evaluation.get("fairness")),
        "robustness": _doubles(evaluation.get("robustness")),
        "scan": inputs.facts.get("scan") or {},
        "signature": inputs.facts.get("signature") or {},
        "sbom": inputs.facts.get("sbom") or {},
        "secrets": inputs.facts.get("secrets") or {},
        "champion": {}
        if inputs.champion is None
        else {
            "version": inputs.champion.version,
            "metrics": _doubles((inputs.champion.facts.get("evaluation") or {}).get("metrics")),
        },
        "subject": {"name": inputs.name, "version": inputs.version, "target": inputs.target or ""},
    }
    try:
        value = cel.evaluate_expression(rule.compiled, variables)
    except ValueError as error:
        raise _Outcome(ERROR, f"the expression could not be evaluated: {error}") from None
    if not isinstance(value, bool):
        raise _Outcome(ERROR, f"the expression gave {type(value).__name__}, not a boolean")
    return bool(value), bool(value), rule.spec["cel"], ""


CHECKS: dict[str, Callable[[Rule, GateInputs], tuple[bool, Any, Any, str]]] = {
    "metric_threshold": _threshold("metrics"),
    "fairness": _threshold("fairness"),
    "robustness": _threshold("robustness"),
    "metric_vs_champion": _vs_champion,
    "scan_clean": _scan_clean,
    "signature_valid": _signature_valid,
    "sbom_present": _sbom_present,
    "no_secrets": _no_secrets,
    "approvals": _approvals,
    "expr": _expr,
}


def judge(policy: PolicyDocument, rule: Rule, inputs: GateInputs) -> RuleResult:
    found = RuleResult(policy.name, rule.id, rule.type, rule.severity, PASS)
    try:
        ok, found.observed, found.threshold, found.message = CHECKS[rule.type](rule, inputs)
        found.result = PASS if ok else FAIL
    except _Outcome as outcome:
        found.result, found.message, found.observed = outcome.result, outcome.message, outcome.observed
    if found.result == FAIL and not rule.blocking:
        found.result = WARN
    if found.result in (FAIL, ERROR):
        for waiver in policy.waivers:
            if waiver.rule != rule.id:
                continue
            info = {
                "reason": waiver.reason,
                "approved_by": waiver.approved_by,
                "expires_at": waiver.expires_at_ms,
            }
            if waiver.expires_at_ms <= inputs.now_ms:
                found.message = (found.message + "; " if found.message else "") + "waiver expired"
            elif inputs.requester is not None and waiver.approved_by == inputs.requester:
                found.message = (
                    found.message + "; " if found.message else ""
                ) + "waiver approved by the requester"
            else:
                found.waiver, found.result = info, SKIP
                found.message = f"waived: {waiver.reason}"
                break
    found.blocking = found.result in (FAIL, ERROR) and rule.blocking
    return found


def evaluate(
    policies: Sequence[PolicyDocument], inputs: GateInputs, versions: Sequence[int] | None = None
) -> Evaluation:
    """Every rule of every policy against ``inputs``; the decision fails on any blocking rule."""
    described = [
        {"name": p.name, "version": (versions[i] if versions else p.declared_version), "digest": p.digest}
        for i, p in enumerate(policies)
    ]
    evaluation = Evaluation(
        subject={
            "name": inputs.name,
            "version": inputs.version,
            "manifest_digest": inputs.manifest_digest,
            "target": inputs.target,
        },
        policies=described,
        policy_digest=digest_of(sorted(p.digest for p in policies)),
        inputs=inputs.snapshot(),
        evaluated_at=inputs.now_ms,
    )
    for policy in policies:
        for rule in policy.rules:
            evaluation.rules.append(judge(policy, rule, inputs))
    evaluation.decision = FAIL if evaluation.failing() else PASS
    return evaluation
