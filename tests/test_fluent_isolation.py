"""The root conftest's ``isolated_fluent_state``: a tracking URI one test sets with
``ledgerflow.set_tracking_uri`` must not reach the next test in the same process (an xdist
worker runs many files), where it would outrank that test's LEDGERFLOW_TRACKING_URI.

The two tests run in file order, in one process: the first leaves a URI behind on purpose.
"""

from __future__ import annotations

import pytest

import ledgerflow

LEFT_BEHIND = "http://127.0.0.1:9"


def test_a_test_leaves_a_tracking_uri_behind() -> None:
    ledgerflow.set_tracking_uri(LEFT_BEHIND)
    assert ledgerflow.get_tracking_uri() == LEFT_BEHIND


def test_the_next_test_resolves_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_TRACKING_URI", "http://127.0.0.1:8")
    assert ledgerflow.get_tracking_uri() == "http://127.0.0.1:8"
