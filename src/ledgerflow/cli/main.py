"""The ``ledgerflow`` command. Command groups live in their own modules; errors end here.

Every :class:`~ledgerflow.errors.LedgerflowError` becomes one line on stderr and the exit
code its error code maps to (see ``ledgerflow.errors``). Anything else that escapes a command
is a bug or an unforeseen environment: it becomes one line naming the exception (exit 1), and
the traceback is printed only when ``LEDGERFLOW_DEBUG`` is set.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from typing import Any

import click

from ledgerflow import __version__
from ledgerflow.errors import InvalidParameter, LedgerflowError, ServiceUnavailable, redact_uri

DEBUG_ENV = "LEDGERFLOW_DEBUG"
# Key in click's context meta (shared by every nested context of one invocation) under which
# the store options leave the backend store URI, so that a database failure anywhere in the
# command can name the store it could not reach.
STORE_URI_META = "ledgerflow.backend_store_uri"
# OS errors on a path that are the machine's fault, not the path's: not a usage error.
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.ENOMEM})

# (module, attribute) of each command; imported lazily so `ledgerflow --help` stays fast
# and a command whose extra is missing only fails when it is used.
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("ledgerflow.cli.server", "server"),
    "ui": ("ledgerflow.cli.server", "ui"),
    "db": ("ledgerflow.cli.db", "db"),
    "demo": ("ledgerflow.cli.demo", "demo"),
    "gc": ("ledgerflow.cli.gc", "gc"),
    "experiments": ("ledgerflow.cli.experiments", "experiments"),
    "runs": ("ledgerflow.cli.runs", "runs"),
    "artifacts": ("ledgerflow.cli.artifacts", "artifacts"),
    "models": ("ledgerflow.cli.models", "models"),
    "users": ("ledgerflow.cli.users", "users"),
    "tokens": ("ledgerflow.cli.tokens", "tokens"),
    "groups": ("ledgerflow.cli.groups", "groups"),
    "grants": ("ledgerflow.cli.grants", "grants"),
    "audit": ("ledgerflow.cli.audit", "audit"),
    "keys": ("ledgerflow.cli.keys", "keys"),
    "sign": ("ledgerflow.cli.sign", "sign"),
    "gate": ("ledgerflow.cli.gate", "gate"),
    "evaluate": ("ledgerflow.cli.evaluate", "evaluate"),
    "monitor": ("ledgerflow.cli.evaluate", "monitor"),
    "scan": ("ledgerflow.cli.scan", "scan"),
    "alerts": ("ledgerflow.cli.alerts", "alerts"),
    "policies": ("ledgerflow.cli.policies", "policies"),
    "listen": ("ledgerflow.cli.webhook_listener", "listen"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise click.ClickException(f"'{cmd_name}' is not available: {error}") from None
        command = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # The one place where failures every command can meet become one clear line.
        try:
            return super().invoke(ctx)
        except LedgerflowError:
            raise
        except OSError as error:
            explained = explain_os_error(error)
            if explained is None:
                raise
            raise explained from None
        except Exception as error:
            explained = explain_database_error(error, ctx.meta.get(STORE_URI_META))
            if explained is None:
                raise
            raise explained from None


def remember_store_uri(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """Callback of every ``--backend-store-uri`` option: keeps the URI for error messages."""
    if isinstance(value, str):
        ctx.meta[STORE_URI_META] = value
    return value


def explain_os_error(error: OSError) -> LedgerflowError | None:
    """A failed file operation on a named path (an --output in /proc, a destination that is a
    file, a folder that cannot be made) as "<path>: <OS reason>"; None for one without a path
    (a closed pipe), which is left to the last-resort handler."""
    if error.filename is None:
        return None
    reason = error.strerror or str(error)
    target = os.fsdecode(error.filename)
    if error.filename2 is not None:
        target = f"{target} -> {os.fsdecode(error.filename2)}"
    message = f"{target}: {reason}."
    if error.errno in _MACHINE_ERRNOS:
        return LedgerflowError(message)
    # The path came from the user: like any other bad input, a usage error (exit 2).
    return InvalidParameter(message)


def explain_database_error(error: Exception, store_uri: str | None) -> LedgerflowError | None:
    """A database driver failure (refused, unreachable, bad credentials) that escaped a
    command: "Could not connect to the backend store <uri without password>: <reason>"."""
    exc_module = sys.modules.get("sqlalchemy.exc")
    if exc_module is None or not isinstance(error, exc_module.DBAPIError):
        return None
    from ledgerflow.store.connection_errors import driver_reason, explain

    if store_uri:
        return explain(store_uri, error)
    return ServiceUnavailable(f"Could not connect to the backend store: {driver_reason(error, '')}")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    # Imported only when asked: the route module pulls in the web framework.
    from ledgerflow.server.routes.misc import MLFLOW_WIRE_VERSION

    # Both numbers: /version answers MLflow's (clients gate features on it), not ours.
    click.echo(f"ledgerflow {__version__} (MLflow API {MLFLOW_WIRE_VERSION})")
    ctx.exit()


@click.group(cls=LazyGroup)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show Ledgerflow's version and the MLflow API version it speaks, and exit.",
)
def cli() -> None:
    """Ledgerflow: MLflow-compatible tracking, registry and governance."""


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ledgerflow", standalone_mode=False)
    except LedgerflowError as error:
        click.echo(f"Error: {error.message}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as error:
        # One line, like every other error; the full usage is one --help away.
        command = error.ctx.command_path if error.ctx is not None else "ledgerflow"
        click.echo(f"Error: {error.format_message()} (see '{command} --help')", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:
        # The last-resort net: one line (never a URI's password), the traceback on request.
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        text = redact_uri(" ".join(str(error).split())) or "(no message)"
        hint = "" if os.environ.get(DEBUG_ENV) else f" (set {DEBUG_ENV}=1 for a traceback)"
        click.echo(f"Error: {type(error).__name__}: {text}{hint}", err=True)
        sys.exit(1)
