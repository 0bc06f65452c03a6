"""``ledgerflow server`` options of the signing subsystem (kept apart from the store options
so the store-only commands are unchanged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
_NAMES = ("signing_key_path", "sign_models_at_registration", "require_signature")


def signing_options(command: F) -> F:
    options = [
        click.option(
            "--signing-key",
            "signing_key_path",
            envvar="LEDGERFLOW_SIGNING_KEY",
            default=None,
            help="ECDSA P-256 key file the server signs attestations (and, with --sign-models, "
            "model versions) with; made, mode 0600, if absent. Default: next to an SQLite store, "
            "else ~/.ledgerflow. Keep it outside the artifact root.",
        ),
        click.option(
            "--sign-models/--no-sign-models",
            "sign_models_at_registration",
            default=False,
            show_default=True,
            help="Sign each new model version at registration with the server key (otherwise CI "
            "signs with `ledgerflow sign` and uploads the bundle).",
        ),
        click.option(
            "--require-signature/--no-require-signature",
            "require_signature",
            envvar="LEDGERFLOW_REQUIRE_SIGNATURE",
            default=False,
            show_default=True,
            help="Keep versions without a valid signature PENDING_REGISTRATION and refuse their "
            "download, load, serving and promotion.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def pop_signing_options(values: dict[str, Any]) -> dict[str, Any]:
    """Take the signing options out of a command's keyword arguments (for ServerConfig)."""
    return {name: values.pop(name) for name in _NAMES if name in values}
