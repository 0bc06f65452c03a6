"""The ``ledgerflow`` command. Command groups live in their own modules; errors end here.

Every :class:`~ledgerflow.errors.LedgerflowError` becomes one line on stderr and the exit
code its error code maps to (see ``ledgerflow.errors``). Anything else that escapes a command
is a bug or an unforeseen environment: it becomes one line naming the exception (exit 1), and
the traceback is printed only when ``LEDGERFLOW_DEBUG`` is set.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from ledgerflow import __version__
from ledgerflow.errors import LedgerflowError, redact_uri

DEBUG_ENV = "LEDGERFLOW_DEBUG"

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


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="ledgerflow")
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
