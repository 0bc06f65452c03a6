"""``ledgerflow demo``: run the demo training job, optionally on a server it starts itself."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import click

from ledgerflow.cli.listen import PORT, bind_listener, bound_port
from ledgerflow.cli.server import browser_config, build_config, store_options
from ledgerflow.errors import LedgerflowError, require_extra


@click.command()
@store_options
@click.option(
    "--tracking-uri",
    default=None,
    help="Log to this server instead of starting one (default: LEDGERFLOW_TRACKING_URI / MLFLOW_TRACKING_URI).",
)
@click.option(
    "--serve/--no-serve", default=False, help="Start a local server, log the demo to it, keep serving."
)
@click.option("--port", "-p", default=5000, show_default=True, type=PORT)
def demo(tracking_uri: str | None, serve: bool, port: int, **store: object) -> None:
    """Train a random forest on iris and log it: params, metrics over steps, plots, model."""
    require_extra("sklearn", "demo", "The demo job")
    require_extra("matplotlib", "demo", "The demo job")
    if not serve:
        from ledgerflow.demo.job import run_demo

        uri = (
            tracking_uri or os.environ.get("LEDGERFLOW_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
        )
        if not uri:
            raise click.UsageError("Give --tracking-uri, set LEDGERFLOW_TRACKING_URI, or use --serve.")
        result = run_demo(uri)
        click.echo(f"Logged run {result['run_id']} (accuracy {result['accuracy']:.3f}) to {uri}")
        return

    require_extra("uvicorn", "server", "The tracking server")
    require_extra("sqlalchemy", "server", "The tracking server")
    _serve_demo(port, store)


def _serve_demo(port: int, store: dict[str, object]) -> None:
    """Serve from this (the main) thread, like `ledgerflow ui`: uvicorn then handles SIGINT and
    SIGTERM itself and shuts down gracefully (background workers stopped, the audit log's
    final checkpoint signed). The demo job runs in a thread once the server accepts requests."""
    import uvicorn

    from ledgerflow.server.app import create_app

    # Bound before anything is created: a port in use is one line, with no store or key
    # files left behind, and --port 0 reports the port it got.
    sock = bind_listener("127.0.0.1", port)
    port = bound_port(sock)
    try:
        # The same guard as `ledgerflow ui`: a server without login on a loopback port
        # answers only to the localhost names (no DNS rebinding from a web page).
        config = browser_config(build_config(**store), "127.0.0.1", (), ())  # type: ignore[arg-type]
        app = create_app(config)
    except BaseException:
        sock.close()
        raise
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    failures: list[BaseException] = []
    job = threading.Thread(target=_log_demo, args=(server, port, failures), daemon=True)
    job.start()
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    job.join(1)
    if failures:
        raise failures[0]
    if not server.started:
        raise LedgerflowError(f"The server could not start on 127.0.0.1:{port}.")


def _log_demo(server: Any, port: int, failures: list[BaseException]) -> None:
    """Wait for the server, log the demo run to it and say where to see it; on failure, stop
    the server so the command ends with the error."""
    from ledgerflow.demo.job import run_demo

    deadline = time.monotonic() + 20
    while not server.started:
        if server.should_exit or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        result = run_demo(url)
    except BaseException as error:  # reported by the main thread, after the shutdown
        # A failure because Ctrl-C or SIGTERM is already stopping the server is no news.
        if not server.should_exit:
            failures.append(error)
            server.should_exit = True
        return
    click.echo(f"Demo run logged: accuracy {result['accuracy']:.3f}")
    click.echo(f"See it in the UI: {url}/runs/{result['run_id']}")
    click.echo("Serving; press Ctrl-C to stop.")
