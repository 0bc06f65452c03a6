"""``ledgerflow server`` and ``ledgerflow ui``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ledgerflow.config import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, ServerConfig
from ledgerflow.errors import InvalidParameter, require_extra

LOOPBACK = ("127.0.0.1", "localhost", "::1")


F = TypeVar("F", bound=Callable[..., Any])


def store_options(command: F) -> F:
    options = [
        click.option(
            "--backend-store-uri",
            envvar="LEDGERFLOW_BACKEND_STORE_URI",
            default=f"sqlite:///{DEFAULT_DB_FILE}",
            show_default=True,
            help="SQLAlchemy-style URI of the metadata store: sqlite:///path, postgresql://..., mysql://...",
        ),
        click.option(
            "--artifacts-destination",
            envvar="LEDGERFLOW_ARTIFACTS_DESTINATION",
            default=f"./{DEFAULT_ARTIFACTS_DIR}",
            show_default=True,
            help="Where proxied artifacts are stored: a local folder or s3://bucket/prefix.",
        ),
        click.option(
            "--default-artifact-root",
            default=None,
            help="Location recorded for new experiments (default: mlflow-artifacts:/ when serving artifacts).",
        ),
        click.option(
            "--serve-artifacts/--no-serve-artifacts",
            default=True,
            show_default=True,
            help="Proxy artifact uploads and downloads through this server.",
        ),
        click.option(
            "--allowed-artifact-root",
            "allowed_artifact_roots",
            multiple=True,
            help="An extra artifact root clients may name as an experiment location (repeatable).",
        ),
        click.option(
            "--webhook-allow-host",
            "webhook_allowed_hosts",
            multiple=True,
            help="A host, address or CIDR network webhooks may reach although it is internal "
            "(loopback, private, link-local, metadata); repeatable.",
        ),
        click.option(
            "--s3-endpoint-url",
            envvar="MLFLOW_S3_ENDPOINT_URL",
            default=None,
            help="Endpoint of an S3-compatible object store.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_config(
    backend_store_uri: str,
    artifacts_destination: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    allowed_artifact_roots: tuple[str, ...],
    s3_endpoint_url: str | None,
    webhook_allowed_hosts: tuple[str, ...] = (),
) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        default_artifact_root=default_artifact_root,
        serve_artifacts=serve_artifacts,
        allowed_artifact_roots=allowed_artifact_roots,
        s3_endpoint_url=s3_endpoint_url,
        webhook_allowed_hosts=tuple(webhook_allowed_hosts),
    )


def run_server(config: ServerConfig, host: str, port: int, workers: int, log_level: str = "warning") -> None:
    require_extra("uvicorn", "server", "The tracking server")
    require_extra("sqlalchemy", "server", "The tracking server")
    import uvicorn

    from ledgerflow.server.app import create_app

    if workers < 1:
        raise InvalidParameter("--workers must be at least 1")
    # Build once in this process: a bad URI or an out-of-date schema fails here with one
    # clear line, before any worker starts.
    app = create_app(config)
    click.echo(f"Ledgerflow {_version()} serving on http://{_display_host(host)}:{port}", err=True)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    from ledgerflow.server.factory import CONFIG_ENV, config_to_env

    app.state.services.close()
    os.environ[CONFIG_ENV] = config_to_env(config)
    uvicorn.run(
        "ledgerflow.server.factory:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _version() -> str:
    from ledgerflow import __version__

    return __version__


@click.command()
@store_options
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", "-p", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", "-w", default=1, show_default=True, type=int, help="Worker processes.")
@click.option("--log-level", default="warning", show_default=True)
def server(host: str, port: int, workers: int, log_level: str, **store: object) -> None:
    """Run the tracking server (REST API, artifact proxy and web UI)."""
    config = build_config(**store)  # type: ignore[arg-type]
    run_server(config, host, port, workers, log_level)


@click.command()
@store_options
@click.option("--port", "-p", default=5000, show_default=True, type=int, help="Port to listen on.")
def ui(port: int, **store: object) -> None:
    """Run a single-user local server on 127.0.0.1 (like `mlflow ui`)."""
    config = build_config(**store)  # type: ignore[arg-type]
    run_server(config, "127.0.0.1", port, 1)
