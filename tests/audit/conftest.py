"""The audit CLI tests run the real entry point, as the CLI suite does."""

from tests.cli.conftest import cli

__all__ = ["cli"]
