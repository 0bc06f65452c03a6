"""``ledgerflow gate``: the policy gate and four-eyes promotion from CI.

Exit codes are distinct so a pipeline can tell a bad model from a broken pipeline:
0 pass (or done), 1 the policy gate failed (evaluate, or a request/approval/promotion refused
because the gate fails now), 2 bad policy or usage (invalid document, unknown model, refused or
conflicting call, e.g. approving one's own request), 3 the server could not be reached.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from ledgerflow.errors import LedgerflowError

EXIT_PASS, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
_LF = "/2.0/ledgerflow"
_UNREACHABLE = ("TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _call(tracking_uri: str | None, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    from ledgerflow.client.client import resolve_tracking_uri
    from ledgerflow.client.transport import HttpTransport, is_http_uri, make_transport

    uri = resolve_tracking_uri(tracking_uri)
    # One attempt: CI wants "server down" now, not after minutes of retries.
    transport = HttpTransport(uri, max_retries=0, timeout=30.0) if is_http_uri(uri) else make_transport(uri)
    try:
        return transport.call(method, _LF + path, body)
    except LedgerflowError as error:
        if error.error_code in _UNREACHABLE:
            _fail(error.message, EXIT_UNREACHABLE)
        if error.error_code == "RESOURCE_CONFLICT" and "promotion gate failed" in error.message:
            _fail(error.message, EXIT_FAILED)
        _fail(error.message, EXIT_USAGE)
    finally:
        transport.close()


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


_URI = click.option(
    "--tracking-uri", default=None, help="The server (default: LEDGERFLOW/MLFLOW_TRACKING_URI)."
)


@click.group()
def gate() -> None:
    """Evaluate promotion policies and run four-eyes promotions (exit 0/1/2/3)."""


@gate.command()
@click.option("--model", "name", required=True)
@click.option("--version", required=True, type=int)
@click.option(
    "--target", default=None, help="alias:<alias> or stage:<Stage> (default: every policy of the model)."
)
@click.option(
    "--policy",
    "policy_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Evaluate this policy file instead of the server's.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "markdown"]),
    default="text",
    show_default=True,
)
@click.option("--output", default=None, help="Write the report here instead of stdout.")
@click.option("--warn-only", is_flag=True, help="Report, but exit 0 even when the gate fails.")
@_URI
def evaluate(
    name: str,
    version: int,
    target: str | None,
    policy_file: str | None,
    fmt: str,
    output: str | None,
    warn_only: bool,
    tracking_uri: str | None,
) -> None:
    """Evaluate a model version against the policies in force (or --policy FILE)."""
    from ledgerflow.governance.policy.reports import render, to_markdown

    body: dict[str, Any] = {"name": name, "version": str(version)}
    if target:
        body["target"] = target
    if policy_file:
        from ledgerflow.governance.policy.document import parse_document

        try:
            source = Path(policy_file).read_text(encoding="utf-8")
        except OSError as error:
            _fail(f"cannot read {policy_file}: {error.strerror}", EXIT_USAGE)
        try:
            parse_document(source)
        except LedgerflowError as error:
            _fail(error.message, EXIT_USAGE)
        body["source"] = source
    evaluation = _call(tracking_uri, "POST", "/policies/evaluate", body)["evaluation"]
    _write(render(evaluation, fmt), output)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(to_markdown(evaluation))
    if evaluation.get("decision") != "pass":
        if os.environ.get("GITHUB_ACTIONS") == "true":
            for rule in evaluation.get("rules", []):
                if rule.get("blocking"):
                    click.echo(
                        f"::error title=policy {rule['policy']}:{rule['id']}::{rule['result']} {rule.get('message', '')}",
                        err=True,
                    )
        if not warn_only:
            sys.exit(EXIT_FAILED)


@gate.command()
@click.option("--model", "name", required=True)
@click.option("--version", required=True, type=int)
@click.option("--target", required=True, help="alias:<alias> or stage:Production")
@click.option("--justification", default="", help="Why this version should be promoted.")
@_URI
def request(name: str, version: int, target: str, justification: str, tracking_uri: str | None) -> None:
    """Request promotion (created only if the gate passes now); prints the request id."""
    found = _call(
        tracking_uri,
        "POST",
        "/promotion-requests/create",
        {"name": name, "version": str(version), "target": target, "justification": justification},
    )["promotion_request"]
    click.echo(found["request_id"])


@gate.command()
@click.option("--request-id", required=True)
@click.option("--comment", default="")
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
@_URI
def approve(request_id: str, comment: str, reject: bool, tracking_uri: str | None) -> None:
    """Approve (or --reject) someone else's promotion request."""
    path = "/promotion-requests/reject" if reject else "/promotion-requests/approve"
    found = _call(tracking_uri, "POST", path, {"request_id": request_id, "comment": comment})[
        "promotion_request"
    ]
    click.echo(f"{found['request_id']} {found['status']}")


@gate.command()
@click.option("--request-id", required=True)
@_URI
def promote(request_id: str, tracking_uri: str | None) -> None:
    """Execute an approved request (the gate is evaluated again now)."""
    found = _call(tracking_uri, "POST", "/promotion-requests/promote", {"request_id": request_id})[
        "promotion_request"
    ]
    click.echo(
        f"{found['request_id']} {found['status']} {found['name']} v{found['version']} -> {found['target']}"
    )
