"""``ledgerflow scan PATH``: the model-file scanner on a local file or directory.

Exit codes: 0 clean, 1 findings, 2 unscannable (fail closed: what cannot be read is not
vouched for).
"""

from __future__ import annotations

import json
import sys

import click


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=True, dir_okay=True))
@click.option(
    "--allow-global",
    "allow_globals",
    multiple=True,
    help="Also allow this global (module.Name or module:Qualified.Name; repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--second-opinion/--no-second-opinion",
    default=True,
    show_default=True,
    help="Show picklescan's verdict beside ours when it is installed.",
)
def scan(path: str, allow_globals: tuple[str, ...], as_json: bool, second_opinion: bool) -> None:
    """Scan a model file or directory for unsafe pickles and model metadata."""
    from ledgerflow.governance.scanning.allowlist import default_allowlist
    from ledgerflow.governance.scanning.report import EXIT_CODES
    from ledgerflow.governance.scanning.scanner import scan_path

    rules = default_allowlist().with_globals(allow_globals)
    report = scan_path(path, rules, second_opinion=second_opinion)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(
            f"{report.status}: {len(report.files)} file(s), {len(report.findings)} finding(s), "
            f"{len(report.errors)} error(s) (scanner {report.scanner_version}, allow-list "
            f"{report.allowlist_version})"
        )
        for item in report.findings:
            click.echo(f"  finding  {item.path}: {item.message}")
        for item in report.errors:
            click.echo(f"  error    {item.path}: {item.message}")
        other = report.second_opinion
        if other is not None:
            verdict = other.get("error") or f"{other.get('issues')} issue(s)"
            click.echo(f"  second opinion: {other.get('scanner')} {other.get('version', '')}: {verdict}")
    sys.exit(EXIT_CODES[report.status])


def print_scan_result(
    name: str, version: str, *, rescan: bool, as_json: bool, tracking_uri: str | None
) -> None:
    """``ledgerflow models scan-result``: a registered version's stored scan, then exit with
    0 (clean or overridden), 1 (findings) or 2 (unscannable)."""
    from ledgerflow.cli.experiments import reading_client
    from ledgerflow.governance.scanning.gate import SCAN_PATH
    from ledgerflow.governance.scanning.report import EXIT_CODES

    client = reading_client(tracking_uri)
    body = {"name": name, "version": version}
    if rescan:
        answer = client.transport.call("POST", SCAN_PATH + "/rescan", body)
    else:
        answer = client.transport.call("GET", SCAN_PATH, body)
    scan = answer.get("scan") or {}
    effective = str(scan.get("effective_status"))
    if as_json:
        click.echo(json.dumps(scan, indent=2))
    else:
        click.echo(
            f"{name} version {version}: {effective} (scan {scan.get('status')}, scanner "
            f"{scan.get('scanner_version')}, allow-list {scan.get('allowlist_version')})"
        )
        for key in ("findings", "errors"):
            for item in scan.get(key) or []:
                click.echo(f"  {key[:-1]:8} {item.get('path')}: {item.get('message')}")
        override = scan.get("override")
        if override:
            state = "active" if override.get("active") else "inactive"
            click.echo(
                f"  override ({state}) by {override.get('by')} until {override.get('expires_at')}: {override.get('reason')}"
            )
        other = scan.get("second_opinion") or {}
        if other:
            click.echo(
                f"  second opinion: {other.get('scanner')} {other.get('version', '')}: {other.get('issues')} issue(s)"
            )
    sys.exit(0 if effective == "overridden" else EXIT_CODES.get(effective, 2))
