"""``ledgerflow server`` and ``ledgerflow ui``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

from ledgerflow.cli.listen import LOG_LEVEL, PORT, bind_listener, bound_port, check_host, display_address
from ledgerflow.cli.main import remember_store_uri
from ledgerflow.cli.signing_options import pop_signing_options, signing_options
from ledgerflow.config import DEFAULT_ARTIFACTS_DIR, DEFAULT_DB_FILE, ServerConfig
from ledgerflow.errors import InvalidParameter, LedgerflowError, require_extra

LOOPBACK = ("127.0.0.1", "localhost", "::1")


F = TypeVar("F", bound=Callable[..., Any])


# Options only a serving process uses (how it hands out locations, what its webhooks reach).
_SERVING_ONLY = frozenset(
    {"--default-artifact-root", "--serve-artifacts", "--allowed-artifact-root", "--webhook-allow-host"}
)
# ...and, for commands that never touch artifacts, the artifact store's own.
_ARTIFACT_STORE = frozenset({"--artifacts-destination", "--s3-endpoint-url"})


def store_options(command: F) -> F:
    """The backend store, artifact store and audit options of every command that opens the
    store directly (server, ui, demo, ...)."""
    return _with_store_options(command, frozenset())


def maintenance_store_options(command: F) -> F:
    """:func:`store_options` for maintenance commands that read and delete artifacts but serve
    nothing (gc): the serving options are not listed in their --help (still accepted, so a
    shared option set in a script keeps working)."""
    return _with_store_options(command, _SERVING_ONLY)


def account_store_options(command: F) -> F:
    """:func:`store_options` for commands that manage accounts and grants: the artifact,
    webhook and S3 options mean nothing to them, so their --help does not list them (they are
    still accepted, so a shared option set in a script keeps working)."""
    return _with_store_options(command, _SERVING_ONLY | _ARTIFACT_STORE)


def _with_store_options(command: F, hidden: frozenset[str]) -> F:
    for option in reversed(_store_option_list(hidden)):
        command = option(command)
    return command


def _store_option_list(hidden: frozenset[str]) -> list[Callable[[F], F]]:
    return [
        click.option(
            "--backend-store-uri",
            envvar="LEDGERFLOW_BACKEND_STORE_URI",
            callback=remember_store_uri,
            default=f"sqlite:///{DEFAULT_DB_FILE}",
            show_default=True,
            help="SQLAlchemy-style URI of the metadata store: sqlite:///path, postgresql://..., mysql://...",
        ),
        click.option(
            "--artifacts-destination",
            hidden="--artifacts-destination" in hidden,
            envvar="LEDGERFLOW_ARTIFACTS_DESTINATION",
            default=f"./{DEFAULT_ARTIFACTS_DIR}",
            show_default=True,
            help="Where proxied artifacts are stored: a local folder or s3://bucket/prefix.",
        ),
        click.option(
            "--default-artifact-root",
            hidden="--default-artifact-root" in hidden,
            default=None,
            help="Location recorded for new experiments (default: mlflow-artifacts:/ when serving artifacts).",
        ),
        click.option(
            "--serve-artifacts/--no-serve-artifacts",
            hidden="--serve-artifacts" in hidden,
            default=True,
            show_default=True,
            help="Proxy artifact uploads and downloads through this server.",
        ),
        click.option(
            "--allowed-artifact-root",
            "allowed_artifact_roots",
            hidden="--allowed-artifact-root" in hidden,
            multiple=True,
            help="An extra artifact root clients may name as an experiment location (repeatable).",
        ),
        click.option(
            "--webhook-allow-host",
            "webhook_allowed_hosts",
            hidden="--webhook-allow-host" in hidden,
            multiple=True,
            help="A host, address or CIDR network webhooks may reach although it is internal "
            "(loopback, private, link-local, metadata); repeatable.",
        ),
        click.option(
            "--s3-endpoint-url",
            hidden="--s3-endpoint-url" in hidden,
            envvar="MLFLOW_S3_ENDPOINT_URL",
            default=None,
            help="Endpoint of an S3-compatible object store.",
        ),
        click.option(
            "--audit-signing-key",
            "audit_signing_key_path",
            envvar="LEDGERFLOW_AUDIT_SIGNING_KEY",
            default=None,
            help="Ed25519 key file that signs audit checkpoints (made, mode 0600, if absent). Default: "
            "next to an SQLite store, else ~/.ledgerflow. Keep it outside the artifact root.",
        ),
        click.option(
            "--audit-checkpoint-interval",
            default=100,
            show_default=True,
            type=click.IntRange(min=1),
            help="Sign an audit checkpoint every N records.",
        ),
        click.option(
            "--audit-checkpoint-seconds",
            default=5.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Also sign one at most this many seconds after a write (0: only every N records).",
        ),
    ]


def browser_options(command: F) -> F:
    """Host allow-list and CORS, shared by `ledgerflow server` and `ledgerflow ui`."""
    options = [
        click.option(
            "--allowed-hosts",
            "allowed_hosts",
            multiple=True,
            help="Host names (name, name:port, *.domain, or * for any) this server answers, "
            "comma-separated or repeated; a defence against DNS rebinding. Default: the bound "
            "host and localhost names (IP-literal Hosts are always accepted).",
        ),
        click.option(
            "--cors-allowed-origins",
            "cors_allowed_origins",
            multiple=True,
            help="Exact origins (https://app.example.com) whose pages may call the API cross-origin, "
            "comma-separated or repeated. Default: none; wildcards are refused.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def browser_config(
    config: ServerConfig, host: str, allowed_hosts: tuple[str, ...], cors_allowed_origins: tuple[str, ...]
) -> ServerConfig:
    """The config with its Host allow-list and CORS origins, checked here (one-line errors)."""
    from ledgerflow.security.web.hosts import HostPolicy, default_allowed_hosts

    hosts = tuple(allowed_hosts) or default_allowed_hosts(host)
    HostPolicy(hosts, tuple(cors_allowed_origins))
    return replace(config, allowed_hosts=hosts, cors_allowed_origins=tuple(cors_allowed_origins))


def build_config(
    backend_store_uri: str,
    artifacts_destination: str,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    allowed_artifact_roots: tuple[str, ...],
    s3_endpoint_url: str | None,
    webhook_allowed_hosts: tuple[str, ...] = (),
    audit_signing_key_path: str | None = None,
    audit_checkpoint_interval: int = 100,
    audit_checkpoint_seconds: float = 5.0,
) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        default_artifact_root=default_artifact_root,
        serve_artifacts=serve_artifacts,
        allowed_artifact_roots=allowed_artifact_roots,
        s3_endpoint_url=s3_endpoint_url,
        webhook_allowed_hosts=tuple(webhook_allowed_hosts),
        audit_signing_key_path=audit_signing_key_path,
        audit_checkpoint_interval=audit_checkpoint_interval,
        audit_checkpoint_seconds=audit_checkpoint_seconds,
    )


def run_server(
    config: ServerConfig,
    host: str,
    port: int,
    workers: int,
    log_level: str = "warning",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    from ledgerflow.observability.multiproc import shared_metrics_dir

    # /metrics sums the workers' counters through files in one directory, which must exist
    # (empty) before any process creates a metric.
    with shared_metrics_dir(needed=workers > 1):
        _run_server(config, host, port, workers, log_level, ssl_certfile, ssl_keyfile)


def _run_server(
    config: ServerConfig,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
) -> None:
    require_extra("uvicorn", "server", "The tracking server")
    require_extra("sqlalchemy", "server", "The tracking server")
    import uvicorn

    from ledgerflow.server.app import create_app
    from ledgerflow.server.factory import freeze_long_lived

    if workers < 1:
        raise InvalidParameter("--workers must be at least 1")
    # Bound first, so a port in use or a bad host is the only line printed.
    sock = bind_listener(host, port)
    port = bound_port(sock)
    # Build once in this process: a bad URI or an out-of-date schema fails here with one
    # clear line, before any worker starts.
    app = create_app(config)
    if config.auth_required:
        _announce_auth(app.state.services, config)
    scheme = "https" if ssl_certfile else "http"
    click.echo(f"Ledgerflow {_version()} serving on {scheme}://{display_address(host, port)}", err=True)
    # Forwarded headers are handled by the app, from --trusted-proxy addresses only; uvicorn's
    # own handling would trust 127.0.0.1 by default.
    tls: dict[str, Any] = {"proxy_headers": False}
    if ssl_certfile:
        tls.update(ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    common: dict[str, Any] = {"host": host, "port": port, "log_level": log_level.lower(), "access_log": False}
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(app, **common, **tls))
        freeze_long_lived()
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
        if not server.started:
            raise LedgerflowError("The server stopped before it started serving (see the log above).")
        return
    from uvicorn.supervisors import Multiprocess

    from ledgerflow.server.factory import CONFIG_ENV, config_to_env

    app.state.services.close()
    os.environ[CONFIG_ENV] = config_to_env(config)
    factory = "ledgerflow.server.factory:app_from_env"
    multi = uvicorn.Config(factory, factory=True, workers=workers, **common, **tls)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(multi, sockets=[sock]).run()


def _announce_auth(services: Any, config: ServerConfig) -> None:
    from ledgerflow.security.auth.service import no_admin_message

    created = services.auth.bootstrap()
    if created:
        click.echo(
            f"Created the first administrator '{created}' from {config.bootstrap_password_env}.", err=True
        )
    elif not services.auth.has_admin():
        click.echo(f"Warning: {no_admin_message(config)}", err=True)


def refuse_open_bind(host: str, no_auth: bool, command: str) -> None:
    """An unauthenticated server is for this machine only, unless the operator says otherwise."""
    if no_auth and host not in LOOPBACK:
        click.echo(
            f"WARNING: {command} is serving WITHOUT AUTHENTICATION on {host}: anyone who can reach "
            "this address can read and change every experiment, run and model.",
            err=True,
        )


def _tls_pair(certfile: str | None, keyfile: str | None) -> None:
    if bool(certfile) != bool(keyfile):
        raise InvalidParameter("--ssl-certfile and --ssl-keyfile go together.")


def _version() -> str:
    from ledgerflow import __version__

    return __version__


@click.command()
@store_options
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", "-p", default=5000, show_default=True, type=PORT, help="Port to listen on (0: any free one)."
)
@click.option(
    "--workers", "-w", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes."
)
@click.option("--log-level", default="warning", show_default=True, type=LOG_LEVEL)
@click.option(
    "--no-auth",
    is_flag=True,
    default=False,
    help="Serve WITHOUT authentication (anyone who reaches the port has full access).",
)
@click.option("--ssl-certfile", default=None, help="TLS certificate (PEM) to serve HTTPS.")
@click.option("--ssl-keyfile", default=None, help="TLS private key (PEM) for --ssl-certfile.")
@browser_options
@click.option(
    "--default-permission",
    default="none",
    show_default=True,
    help="Role everyone gets on each newly created experiment or registered model "
    "(none, viewer, editor, promoter, manager; MLflow's READ/EDIT/MANAGE also work). "
    "The creator always manages it.",
)
@click.option(
    "--protected-alias",
    "protected_aliases",
    multiple=True,
    help="A model alias whose setting is a promotion and needs the 'promote' permission "
    "(repeatable; default: production, champion).",
)
@click.option(
    "--promotion-gate/--no-promotion-gate",
    default=False,
    show_default=True,
    help="Four-eyes promotion: protected aliases and the Production stage move only by executing "
    "an approved promotion request whose policy gate passes (`ledgerflow gate`), or by an admin "
    "break-glass; unprotected aliases are unaffected.",
)
@click.option(
    "--secret-policy",
    envvar="LEDGERFLOW_SECRET_POLICY",
    default="redact",
    show_default=True,
    type=click.Choice(["warn", "redact", "block"], case_sensitive=False),
    help="What to do with a credential found in a param, tag, description or text artifact: "
    "store it and record a finding (warn), store [REDACTED:<kind>] instead (redact), or refuse "
    "the write (block).",
)
@signing_options
@click.option(
    "--allow-global",
    "scan_allowed_globals",
    multiple=True,
    help="A pickle global (module.Class, module:*) the model-file scanner allows beyond its "
    "shipped allow-list, e.g. the class of a trusted custom model (repeatable).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help="Address or CIDR network of a reverse proxy whose X-Forwarded-For/-Proto headers are "
    "believed (repeatable).",
)
def server(
    host: str,
    port: int,
    workers: int,
    log_level: str,
    no_auth: bool,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    trusted_proxies: tuple[str, ...],
    secret_policy: str,
    allowed_hosts: tuple[str, ...],
    cors_allowed_origins: tuple[str, ...],
    default_permission: str,
    protected_aliases: tuple[str, ...],
    promotion_gate: bool,
    scan_allowed_globals: tuple[str, ...],
    **store: object,
) -> None:
    """Run the tracking server (REST API, artifact proxy and web UI).

    Authentication is on: create the first administrator with `ledgerflow users create-admin`
    or the LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD environment variable.
    """
    from ledgerflow.security.authz.permissions import check_default

    signing = pop_signing_options(store)
    _tls_pair(ssl_certfile, ssl_keyfile)
    check_host(host)
    aliases = tuple(a.strip() for a in protected_aliases if a.strip())
    config = replace(
        build_config(**store),  # type: ignore[arg-type]
        auth_required=not no_auth,
        trusted_proxies=tuple(trusted_proxies),
        secret_policy=secret_policy.lower(),
        default_permission=check_default(default_permission),
        promotion_gate=promotion_gate,
    )
    if aliases:
        config = replace(config, protected_aliases=aliases)
    config = replace(config, **signing)
    if scan_allowed_globals:
        from ledgerflow.governance.scanning.allowlist import parse_global

        for item in scan_allowed_globals:
            parse_global(item)  # a bad name is one clear line now, not a failure at the first scan
        config = replace(config, scan_allowed_globals=tuple(scan_allowed_globals))
    config = browser_config(config, host, allowed_hosts, cors_allowed_origins)
    if no_auth:
        click.echo("WARNING: authentication is OFF (--no-auth).", err=True)
        refuse_open_bind(host, no_auth, "ledgerflow server")
    run_server(config, host, port, workers, log_level, ssl_certfile, ssl_keyfile)


@click.command()
@store_options
@click.option(
    "--port", "-p", default=5000, show_default=True, type=PORT, help="Port to listen on (0: any free one)."
)
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Address to bind (loopback only).")
@click.option("--no-auth", is_flag=True, default=False, help="Allow binding a non-loopback address anyway.")
@browser_options
def ui(
    port: int,
    host: str,
    no_auth: bool,
    allowed_hosts: tuple[str, ...],
    cors_allowed_origins: tuple[str, ...],
    **store: object,
) -> None:
    """Run a single-user local server on 127.0.0.1, without login (like `mlflow ui`)."""
    if host not in LOOPBACK and not no_auth:
        raise click.UsageError(
            f"`ledgerflow ui` has no login, so it binds only to loopback; refusing {host}. "
            "Use `ledgerflow server` (with authentication) to serve other machines, or pass "
            "--no-auth to expose this unauthenticated server anyway."
        )
    check_host(host)
    refuse_open_bind(host, no_auth, "ledgerflow ui")
    config = build_config(**store)  # type: ignore[arg-type]
    config = browser_config(config, host, allowed_hosts, cors_allowed_origins)
    run_server(config, host, port, 1)
