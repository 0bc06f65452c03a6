"""Helpers to run the real ``ledgerflow`` entry point in-process."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest

from ledgerflow.cli.main import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def invoke(args: list[str]) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(args)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[[list[str]], CliResult]:
    return invoke
