"""``ledgerflow models``: serve a model, score a file in batch, write a Dockerfile."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from ledgerflow.cli.listen import PORT
from ledgerflow.errors import BadRequest, InvalidParameter, LedgerflowError

_ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")


def _format_of(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "json"
    raise InvalidParameter(f"Cannot tell the format of '{path}' from its name; pass --content-type json|csv.")


def _check_writable(output_path: str) -> None:
    target = Path(output_path)
    if target.is_dir():
        raise InvalidParameter(f"Output path '{output_path}' is a directory; name a file.")
    parent = target.parent
    if not parent.is_dir():
        raise InvalidParameter(f"Cannot write '{output_path}': directory '{parent}' does not exist.")
    if not os.access(parent, os.W_OK):
        raise InvalidParameter(f"Cannot write '{output_path}': directory '{parent}' is not writable.")


@click.group()
def models() -> None:
    """Serve, score and package MLflow-format models."""


@models.command()
@click.option("-m", "--model-uri", required=True, help="models:/, runs:/, mlflow-artifacts:/ URI or a path.")
@click.option("-h", "--host", default="127.0.0.1", show_default=True)
@click.option("-p", "--port", default=5000, show_default=True, type=PORT)
@click.option("--env-manager", type=click.Choice(_ENV_MANAGERS), default="local", show_default=True)
@click.option("-t", "--timeout", default=60.0, show_default=True, type=float, help="Seconds per request.")
@click.option("--tracking-uri", default=None, help="Where models:/ and runs:/ URIs are resolved.")
@click.option(
    "--monitor-sample-rate",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of scored rows sent to drift monitoring as windows (0: off).",
)
@click.option(
    "--monitor-name", default=None, help="Registered model to monitor (default: from a models:/ URI)."
)
@click.option("--monitor-version", default=None, help="Its version (default: from a models:/ URI).")
@click.option("--monitor-batch-rows", type=int, default=1000, show_default=True, help="Rows per window.")
@click.option("--monitor-flush-seconds", type=float, default=60.0, show_default=True)
@click.option(
    "--auth-token",
    envvar="LEDGERFLOW_SCORING_TOKEN",
    default=None,
    help="Bearer token required on /invocations (prefer the LEDGERFLOW_SCORING_TOKEN variable or "
    "--auth-token-file: command lines are visible to other local users).",
)
@click.option(
    "--auth-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File whose first line is the bearer token required on /invocations.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    default=False,
    help="Serve a non-loopback address WITHOUT a token (anyone who reaches the port may score).",
)
@click.option(
    "--allowed-hosts",
    multiple=True,
    help="Host names answered (name, name:port, *.domain, *), comma-separated or repeated. Default "
    "without a token: the bound host and localhost names (DNS-rebinding defence); with one: any.",
)
@click.option(
    "--allow-global",
    "allow_globals",
    multiple=True,
    help="Trust this pickle global beyond the scanner's allow-list (module.Class; repeatable).",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1),
    default=32 * 1024 * 1024,
    show_default=True,
    help="Largest /invocations body; larger ones get 413 REQUEST_LIMIT_EXCEEDED before being read.",
)
@click.option(
    "--max-batch-rows",
    type=click.IntRange(min=0),
    default=None,
    help="Batch requests that arrive while the model is predicting into one call of up to this "
    "many rows (0: one call per request). Default: 1000 for scikit-learn tree models, whose "
    "batched answers are bit-identical; 0 for others, whose float outputs could differ in the "
    "last bits. Only for scikit-learn models fed a float matrix.",
)
@click.option(
    "--batch-wait-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Hold a batch open this long to gather more requests (0: batch only what already waits).",
)
@click.option(
    "--inline-ms",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Predict on the server's event loop, skipping the hop to the model's thread, when the "
    "predict is expected to take at most this long (never over a tenth of --timeout; 0: never).",
)
def serve(
    model_uri: str,
    host: str,
    port: int,
    env_manager: str,
    timeout: float,
    tracking_uri: str | None,
    auth_token: str | None,
    auth_token_file: str | None,
    no_auth: bool,
    allowed_hosts: tuple[str, ...],
    allow_globals: tuple[str, ...],
    max_request_bytes: int,
    max_batch_rows: int | None,
    batch_wait_ms: float,
    inline_ms: float,
    **monitor: Any,
) -> None:
    """Serve MLflow's scoring protocol (/invocations, /ping, /health, /version).

    Without a token it binds loopback only (like `ledgerflow ui`); to serve other machines set
    LEDGERFLOW_SCORING_TOKEN or --auth-token-file, and send `Authorization: Bearer <token>`.
    """
    from ledgerflow.cli.listen import bind_listener, bound_port, check_host, display_address
    from ledgerflow.models.pyfunc_model import load_model
    from ledgerflow.models.scoring.app import serve as run_server
    from ledgerflow.models.scoring.auth import LOOPBACK, check_bind, resolve_token
    from ledgerflow.models.scoring.batching import BatchSettings
    from ledgerflow.security.web.hosts import HostPolicy, default_allowed_hosts

    token = resolve_token(auth_token, auth_token_file)
    check_bind(host, token, no_auth)
    # With a token, a rebinding page gains nothing (it cannot know the token), so any Host is
    # answered unless --allowed-hosts narrows it; without one, only local names.
    hosts = tuple(allowed_hosts) or (None if token else default_allowed_hosts(host))
    HostPolicy(hosts)
    check_host(host)
    if no_auth and host not in LOOPBACK:
        click.echo(
            f"WARNING: serving the model WITHOUT AUTHENTICATION on {host}: anyone who can reach it can use it.",
            err=True,
        )
    if env_manager != "local":
        click.echo(
            f"Note: --env-manager {env_manager} is not supported; serving in this environment.", err=True
        )
    from ledgerflow.governance.signing.client_checks import check_before_serving

    signed = check_before_serving(model_uri, tracking_uri)
    # Pickles load through the scanner's allow-list; a registered version needs a clean scan.
    # Loading also checks the downloaded files against the signature, so say so only after it.
    model = load_model(model_uri, tracking_uri=tracking_uri, allow_globals=list(allow_globals))
    if signed is not None:
        click.echo(f"Signature verified: {signed}; the files match the signed manifest", err=True)
    sampler = _monitor_sampler(model_uri, tracking_uri, monitor)
    sock = bind_listener(host, port)
    click.echo(f"Serving the model on http://{display_address(host, bound_port(sock))}", err=True)
    try:
        run_server(
            model,
            host,
            bound_port(sock),
            timeout,
            sock=sock,
            observe=sampler.offer if sampler else None,
            auth_token=token,
            allowed_hosts=hosts,
            max_request_bytes=max_request_bytes,
            batching=BatchSettings(max_batch_rows, batch_wait_ms / 1000, inline_ms / 1000),
        )
    finally:
        if sampler is not None:
            sampler.close()


def _monitor_sampler(model_uri: str, tracking_uri: str | None, options: dict[str, Any]) -> Any:
    """The request sampler ``--monitor-sample-rate`` asks for (None when it is 0)."""
    rate = options["monitor_sample_rate"]
    if not rate:
        return None
    from ledgerflow.client.client import Client
    from ledgerflow.governance.evaluation.runner import resolve_version
    from ledgerflow.governance.monitoring.sampler import RequestSampler, SamplerSettings, client_sender

    settings = SamplerSettings(rate, options["monitor_batch_rows"], options["monitor_flush_seconds"])
    name, version = options["monitor_name"], options["monitor_version"]
    if not (name and version):
        found = resolve_version(Client(tracking_uri), model_uri)
        if found is None:
            raise InvalidParameter(
                "--monitor-sample-rate needs a models:/<name>/<version> URI or --monitor-name and --monitor-version."
            )
        name, version = found
    click.echo(f"Monitoring {rate:.0%} of scored rows into {name} version {version}", err=True)
    return RequestSampler(settings, client_sender(name, str(version), tracking_uri))


@models.command()
@click.option("-m", "--model-uri", required=True)
@click.option("-i", "--input-path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-path", default=None, help="Where predictions go (stdout when omitted).")
@click.option("-t", "--content-type", type=click.Choice(["json", "csv"]), default=None)
@click.option("--tracking-uri", default=None)
def predict(
    model_uri: str,
    input_path: str,
    output_path: str | None,
    content_type: str | None,
    tracking_uri: str | None,
) -> None:
    """Score a CSV or JSON file (the same JSON bodies /invocations takes)."""
    from ledgerflow.models.pyfunc_model import load_model
    from ledgerflow.models.scoring import parsing
    from ledgerflow.models.scoring.messages import model_error_message

    if output_path is not None:
        # Before the (possibly slow) load and scoring, not after them.
        _check_writable(output_path)
    model = load_model(model_uri, tracking_uri=tracking_uri)
    schema = model.metadata.signature.inputs if model.metadata.signature is not None else None
    body = Path(input_path).read_bytes()
    if _format_of(input_path, content_type) == "csv":
        data, params = parsing.parse_csv(body, schema), None
    else:
        data, params = parsing.parse_json(body, schema)
    try:
        raw = model.predict(data, params)
    except LedgerflowError:
        raise
    except Exception as error:
        # The model's own failure (wrong feature count, ...) is the input's fault: one line.
        raise BadRequest(model_error_message(error)) from None
    predictions = parsing.to_jsonable(raw)
    if output_path is not None and _format_of(output_path, None) == "csv":
        import pandas as pd

        frame = pd.DataFrame(predictions) if predictions and isinstance(predictions[0], dict) else None
        if frame is None:
            frame = pd.DataFrame({"prediction": predictions})
        frame.to_csv(output_path, index=False)
        return
    text = json.dumps({"predictions": predictions})
    if output_path is None:
        click.echo(text)
    else:
        Path(output_path).write_text(text)


@models.command("scan-result")
@click.option("-n", "--name", required=True, help="Registered model name.")
@click.option("-v", "--version", required=True, help="Version number.")
@click.option("--rescan", is_flag=True, help="Scan the version again first.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--tracking-uri", default=None)
def scan_result(name: str, version: str, rescan: bool, as_json: bool, tracking_uri: str | None) -> None:
    """Show a registered version's model-file scan (exit 0 clean or overridden, 1 findings,
    2 unscannable)."""
    from ledgerflow.cli.scan import print_scan_result

    print_scan_result(name, version, rescan=rescan, as_json=as_json, tracking_uri=tracking_uri)


@models.command("generate-dockerfile")
@click.option("-m", "--model-uri", required=True)
@click.option("-d", "--output-directory", default="ledgerflow-dockerfile", show_default=True)
@click.option("--tracking-uri", default=None)
def generate_dockerfile(model_uri: str, output_directory: str, tracking_uri: str | None) -> None:
    """Write a Dockerfile (and the model beside it) that serves the model on port 8080."""
    from ledgerflow.models import dockerfile
    from ledgerflow.models.uri import download_model

    with tempfile.TemporaryDirectory(prefix="ledgerflow-docker-") as tmp:
        model_dir = Path(download_model(model_uri, tmp, tracking_uri=tracking_uri))
        written = dockerfile.generate(model_dir, Path(output_directory))
    click.echo(f"Wrote {written}")


@models.command("sbom")
@click.option("-n", "--name", required=True, help="Registered model name.")
@click.option("-v", "--version", "model_version", required=True, help="Registered model version.")
@click.option("-o", "--output", default=None, help="File to write (stdout when omitted).")
@click.option("--tracking-uri", default=None)
def sbom(name: str, model_version: str, output: str | None, tracking_uri: str | None) -> None:
    """Print the version's CycloneDX 1.6 SBOM (JSON) from the tracking server."""
    from ledgerflow.client.client import Client
    from ledgerflow.client.fluent import _context

    client = Client(tracking_uri) if tracking_uri else _context().client()
    document = client.transport.call(
        "GET", "/2.0/ledgerflow/model-versions/sbom", {"name": name, "version": model_version}
    )
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
