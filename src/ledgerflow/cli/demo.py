"""``ledgerflow demo``: run the demo training job, optionally on a server it starts itself."""

from __future__ import annotations

import os
import threading
import time

import click

from ledgerflow.cli.listen import PORT, bind_listener, bound_port
from ledgerflow.cli.server import build_config, store_options
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
    from ledgerflow.demo.job import run_demo

    if not serve:
        uri = (
            tracking_uri or os.environ.get("LEDGERFLOW_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
        )
        if not uri:
            raise click.UsageError("Give --tracking-uri, set LEDGERFLOW_TRACKING_URI, or use --serve.")
        result = run_demo(uri)
        click.echo(f"Logged run {result['run_id']} (accuracy {result['accuracy']:.3f}) to {uri}")
        return

    require_extra("uvicorn", "server", "The tracking server")
    import uvicorn

    from ledgerflow.server.app import create_app

    app = create_app(build_config(**store))  # type: ignore[arg-type]
    # Bound here so a port in use is one clear line, and --port 0 reports the port it got.
    sock = bind_listener("127.0.0.1", port)
    port = bound_port(sock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise LedgerflowError(f"The server could not start on 127.0.0.1:{port}.")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    result = run_demo(url)
    click.echo(f"Demo run logged: accuracy {result['accuracy']:.3f}")
    click.echo(f"See it in the UI: {url}/runs/{result['run_id']}")
    click.echo("Serving; press Ctrl-C to stop.")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join(10)
