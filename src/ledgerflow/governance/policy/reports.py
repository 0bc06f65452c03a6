"""An evaluation as CI reads it: plain text, JSON, JUnit XML (one testcase per rule) and a
Markdown table (for ``$GITHUB_STEP_SUMMARY`` and merge-request notes)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

FORMATS = ("text", "json", "junit", "markdown")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", " ")


def _title(evaluation: dict[str, Any]) -> str:
    subject = evaluation.get("subject", {})
    target = subject.get("target") or "any target"
    return f"{subject.get('name')} v{subject.get('version')} -> {target}"


def to_text(evaluation: dict[str, Any]) -> str:
    lines = [f"Policy gate {evaluation.get('decision', '?').upper()}: {_title(evaluation)}"]
    for rule in evaluation.get("rules", []):
        lines.append(
            f"  [{rule['result']:<5}] {rule['policy']}:{rule['id']} observed={_cell(rule.get('observed'))} "
            f"threshold={_cell(rule.get('threshold'))}"
            + (f" ({rule['message']})" if rule.get("message") else "")
        )
    if not evaluation.get("rules"):
        names = ", ".join(str(p.get("name")) for p in evaluation.get("policies", []))
        # Policies given (--policy) or in force but without rules are not "no policy".
        lines.append(
            f"  (policy {names} has no rules to evaluate)"
            if names
            else "  (no policy in force for this model and target)"
        )
    return "\n".join(lines) + "\n"


def to_markdown(evaluation: dict[str, Any]) -> str:
    icon = "✅" if evaluation.get("decision") == "pass" else "❌"
    lines = [
        f"### {icon} Policy gate {evaluation.get('decision', '?')}: {_title(evaluation)}",
        "",
        "| Policy | Rule | Type | Result | Observed | Threshold | Note |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in evaluation.get("rules", []):
        lines.append(
            f"| {_cell(rule['policy'])} | {_cell(rule['id'])} | {_cell(rule['type'])} | {rule['result']} | "
            f"{_cell(rule.get('observed'))} | {_cell(rule.get('threshold'))} | {_cell(rule.get('message'))} |"
        )
    lines.append("")
    lines.append(
        f"Evaluation `{evaluation.get('evaluation_id', '')}`, policy digest `{evaluation.get('policy_digest', '')}`"
    )
    return "\n".join(lines) + "\n"


def to_junit(evaluation: dict[str, Any]) -> str:
    rules = evaluation.get("rules", [])
    suite = ET.Element(
        "testsuite",
        {
            "name": f"ledgerflow-gate {_title(evaluation)}",
            "tests": str(len(rules)),
            "failures": str(sum(1 for r in rules if r["result"] == "fail")),
            "errors": str(sum(1 for r in rules if r["result"] == "error")),
            "skipped": str(sum(1 for r in rules if r["result"] == "skip")),
        },
    )
    for rule in rules:
        case = ET.SubElement(suite, "testcase", {"classname": f"policy.{rule['policy']}", "name": rule["id"]})
        detail = (
            f"observed={_cell(rule.get('observed'))} threshold={_cell(rule.get('threshold'))} "
            f"{rule.get('message') or ''}".strip()
        )
        if rule["result"] == "fail":
            ET.SubElement(case, "failure", {"message": detail, "type": rule["type"]}).text = detail
        elif rule["result"] == "error":
            ET.SubElement(case, "error", {"message": detail, "type": rule["type"]}).text = detail
        elif rule["result"] == "skip":
            ET.SubElement(case, "skipped", {"message": detail})
        elif rule["result"] == "warn":
            ET.SubElement(case, "system-out").text = f"WARNING: {detail}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render(evaluation: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(evaluation, indent=2, sort_keys=True) + "\n"
    if fmt == "junit":
        return to_junit(evaluation)
    if fmt == "markdown":
        return to_markdown(evaluation)
    return to_text(evaluation)
