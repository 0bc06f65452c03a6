"""``ledgerflow policies``: validate, upload, list, show and retire promotion policies.

``validate`` runs offline (the published JSON Schema and the checks a schema cannot express,
as the server runs them on upload); every other command calls the policy REST routes
(``/api/2.0/ledgerflow/policies/*``) on ``--tracking-uri`` (else ``LEDGERFLOW_TRACKING_URI``,
then ``MLFLOW_TRACKING_URI``), authenticated like every client call
(``LEDGERFLOW_TRACKING_TOKEN``, or ``LEDGERFLOW_TRACKING_USERNAME``/``_PASSWORD``; the
``MLFLOW_`` names work too). Errors are one line with the exit code of their error code: 2 an
invalid document, 4 no such policy, 5 not allowed (uploading and retiring need an admin).

A policy is in force from its newest upload until it is retired; uploading it again (any
content) makes the new version the one in force.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from ledgerflow.cli.experiments import print_table, tracking_uri_option
from ledgerflow.errors import InvalidParameter, require_extra

_LF = "/2.0/ledgerflow/policies"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidParameter(f"Cannot read {path}: no such file.") from None
    except UnicodeDecodeError:
        raise InvalidParameter(f"Cannot read {path}: it is not UTF-8 text.") from None
    except OSError as error:
        raise InvalidParameter(f"Cannot read {path}: {error.strerror or error}.") from None


def _call(tracking_uri: str | None, method: str, path: str, body: dict[str, Any], *, reading: bool) -> Any:
    from ledgerflow.client.client import resolve_tracking_uri
    from ledgerflow.client.store_uri import require_existing_store
    from ledgerflow.client.transport import make_transport

    uri = resolve_tracking_uri(tracking_uri)
    if reading:
        # A mistyped local store path is "no store there", not a new empty store.
        require_existing_store(uri)
    transport = make_transport(uri)
    try:
        return transport.call(method, _LF + path, body)
    finally:
        transport.close()


def _with_scope(source: str, models: tuple[str, ...], targets: tuple[str, ...]) -> str:
    """The document with ``scope`` replaced by the command line's (as YAML; the file's
    comments and layout do not survive the rewrite)."""
    require_extra("yaml", "governance", "Setting a policy's scope with --model/--target")
    import yaml

    from ledgerflow.governance.policy.document import load_source

    data = load_source(source)
    scope = dict(data.get("scope") or {}) if isinstance(data.get("scope"), dict) else {}
    if models:
        scope["models"] = list(models)
    if targets:
        scope["targets"] = list(targets)
    data["scope"] = scope
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _scope_text(policy: dict[str, Any]) -> tuple[str, str]:
    scope = policy.get("scope") or {}
    return ",".join(scope.get("models") or []), ",".join(scope.get("targets") or [])


def _rules(count: int) -> str:
    return f"{count} rule" if count == 1 else f"{count} rules"


def _when(ms: Any) -> str:
    try:
        moment = dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)
    except (TypeError, ValueError):
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _summary(policy: dict[str, Any]) -> str:
    models, targets = _scope_text(policy)
    rules = policy.get("rules")
    count = f"{_rules(len(rules))}, " if isinstance(rules, list) else ""
    state = "retired" if policy.get("retired") else "in force"
    return (
        f"Policy {policy['name']} version {policy['version']} {state} (digest {str(policy['digest'])[:12]}, "
        f"{count}models {models or '-'}, targets {targets or '-'})"
    )


def _name_and_version(text: str) -> tuple[str, int | None]:
    name, sep, version = text.strip().rpartition("/")
    if not sep:
        return text.strip(), None
    if not version.isdigit() or not name:
        raise InvalidParameter(f"Invalid policy '{text}': expected NAME or NAME/VERSION (a number).")
    return name, int(version)


@click.group()
def policies() -> None:
    """Validate, upload, list, show and retire promotion policies."""


@policies.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(file: str, as_json: bool) -> None:
    """Check FILE (YAML or JSON) offline against the policy schema and rules (exit 2 if invalid).

    An error names the path of the offending element, e.g. ``rules[2].op``.
    """
    source = _read(file)
    for module in ("yaml", "jsonschema"):
        require_extra(module, "governance", "Validating a policy offline")
    from ledgerflow.governance.policy.document import parse_document

    document = parse_document(source)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "valid": True,
                    "name": document.name,
                    "digest": document.digest,
                    "rules": len(document.rules),
                }
            )
        )
        return
    click.echo(
        f"{file}: valid policy {document.name} ({_rules(len(document.rules))}, digest {document.digest[:12]}, "
        f"models {','.join(document.models)}, targets {','.join(document.targets)})"
    )


@policies.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PATTERN",
    help="Replace scope.models (repeatable; name patterns such as credit-*).",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="TARGET",
    help="Replace scope.targets (repeatable; alias:<alias>, patterns allowed, or stage:<Stage>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored policy as JSON.")
@tracking_uri_option
def upload(
    file: str, models: tuple[str, ...], targets: tuple[str, ...], as_json: bool, tracking_uri: str | None
) -> None:
    """Upload FILE as the next version of its policy (metadata.name); it is in force at once.

    The server validates it first: an invalid document is refused with the path of the
    error (exit 2) and nothing is stored. Needs an administrator.
    """
    source = _read(file)
    if models or targets:
        source = _with_scope(source, models, targets)
    policy = _call(tracking_uri, "POST", "/create", {"source": source}, reading=False)["policy"]
    if as_json:
        click.echo(json.dumps(policy, sort_keys=True))
        return
    click.echo(_summary(policy))


@policies.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the policies as JSON.")
@tracking_uri_option
def list_policies(as_json: bool, tracking_uri: str | None) -> None:
    """List the policies in force (the newest version of each policy not retired)."""
    found: list[dict[str, Any]] = _call(tracking_uri, "GET", "/list", {}, reading=True).get("policies", [])
    if as_json:
        click.echo(json.dumps(found, sort_keys=True))
        return
    rows = []
    for policy in found:
        models, targets = _scope_text(policy)
        rows.append(
            (
                str(policy["name"]),
                str(policy["version"]),
                str(len(policy.get("rules") or [])),
                models,
                targets,
                str(policy["digest"])[:12],
                str(policy.get("created_by") or "-"),
                _when(policy.get("creation_time")),
            )
        )
    print_table(("Name", "Version", "Rules", "Models", "Targets", "Digest", "Created by", "Created"), rows)


@policies.command()
@click.argument("policy", metavar="NAME[/VERSION]")
@click.option("--source", "only_source", is_flag=True, help="Print only the document as uploaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the policy as JSON.")
@tracking_uri_option
def show(policy: str, only_source: bool, as_json: bool, tracking_uri: str | None) -> None:
    """Show a policy: the newest version, or NAME/VERSION (retired versions too)."""
    name, version = _name_and_version(policy)
    body: dict[str, Any] = {"name": name}
    if version is not None:
        body["version"] = str(version)
    found: dict[str, Any] = _call(tracking_uri, "GET", "/get", body, reading=True)["policy"]
    if only_source:
        click.echo(str(found.get("source") or ""), nl=False)
        return
    if as_json:
        click.echo(json.dumps(found, sort_keys=True))
        return
    state = " (retired)" if found.get("retired") else ""
    if version is not None and not state:
        latest = _call(tracking_uri, "GET", "/get", {"name": name}, reading=True)["policy"]
        if int(latest["version"]) != int(found["version"]):
            state = f" (superseded by version {latest['version']})"
    models, targets = _scope_text(found)
    click.echo(f"Name:       {found['name']}")
    click.echo(f"Version:    {found['version']}{state}")
    click.echo(f"Digest:     {found['digest']}")
    click.echo(f"Created:    {_when(found.get('creation_time'))} by {found.get('created_by') or '-'}")
    click.echo(f"Models:     {models or '-'}")
    click.echo(f"Targets:    {targets or '-'}")
    click.echo("Rules:")
    for rule in found.get("rules") or []:
        click.echo(f"  {rule['id']}  {rule['type']}  {rule['severity']}")


@policies.command()
@click.argument("name")
@tracking_uri_option
def retire(name: str, tracking_uri: str | None) -> None:
    """Take policy NAME out of force (its newest version is marked retired; uploading the
    policy again puts the new version in force). Needs an administrator."""
    policy = _call(tracking_uri, "POST", "/retire", {"name": name}, reading=False)["policy"]
    click.echo(f"Retired policy {policy['name']} version {policy['version']}; it is no longer in force.")
