"""Property-based tests of the search grammar (tracking/search): random text and structured
near-valid filters and order_by clauses either parse or raise InvalidParameter, nothing else;
adversarial shapes at the length limit are refused quickly; and near-valid filters sent through
the search endpoints on a real SQLite store never produce a server error."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter
from ledgerflow.server.app import create_app
from ledgerflow.tracking.search import (
    EXPERIMENTS,
    LOGGED_MODELS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
    Grammar,
    parse_filter,
    parse_order_by,
)
from ledgerflow.tracking.search.parser import MAX_FILTER_LENGTH

GRAMMARS = {
    "runs": RUNS,
    "experiments": EXPERIMENTS,
    "logged-models": LOGGED_MODELS,
    "registered-models": REGISTERED_MODELS,
    "model-versions": MODEL_VERSIONS,
}
FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))

ENTITIES = [
    "metrics",
    "params",
    "tags",
    "attributes",
    "attribute",
    "run",
    "dataset",
    "datasets",
    "",
    "metric",
    "tag",
    "bogus",
]
KEYS = [
    "m",
    "acc",
    "`my key`",
    '"quoted key"',
    "run_id",
    "status",
    "name",
    "start_time",
    "creation_timestamp",
    "version_number",
    "a.b",
    "`",
    "``",
    "`a``b`",
]
OPS = [
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "ILIKE",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
    "==",
    "<>",
    "RLIKE",
    "",
]
VALUES = [
    "1",
    "-1.5e10",
    "1e999",
    "'x'",
    "'it''s'",
    '"d"',
    "('a', 'b')",
    "('a',)",
    "()",
    "(1, 2)",
    "'%'",
    "'\\''",
    "NULL",
    "''",
    "'\u0000'",
    "'" + "é" * 5 + "'",
]
JOINS = [" AND ", " and ", " OR ", " AND NOT ", ", ", " ", " AND(", ")"]


def _check(grammar: Grammar, text: str) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_filter(text, grammar)


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        entity = draw(st.sampled_from(ENTITIES))
        key = draw(st.sampled_from(KEYS))
        ident = f"{entity}.{key}" if entity else key
        parts.append(f"{ident} {draw(st.sampled_from(OPS))} {draw(st.sampled_from(VALUES))}".strip())
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(JOINS)) + part
    # Now and then, one random character somewhere.
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.characters()) + text[at:]
    return text


@pytest.mark.parametrize("resource", list(GRAMMARS))
@FAST
@given(text=st.text(max_size=200))
def test_random_text_parses_or_is_invalid_parameter(resource: str, text: str) -> None:
    _check(GRAMMARS[resource], text)


@pytest.mark.parametrize("resource", list(GRAMMARS))
@FAST
@given(text=near_valid())
def test_near_valid_filters_parse_or_are_invalid_parameter(resource: str, text: str) -> None:
    _check(GRAMMARS[resource], text)


@pytest.mark.parametrize("resource", ["runs", "experiments", "registered-models", "model-versions"])
@FAST
@given(
    clauses=st.lists(
        st.one_of(
            st.text(max_size=60),
            st.builds(
                lambda e, k, d: f"{e}.{k} {d}".strip(),
                st.sampled_from(ENTITIES),
                st.sampled_from(KEYS),
                st.sampled_from(["", "ASC", "DESC", "asc", "DESCENDING", "; DROP"]),
            ),
        ),
        max_size=4,
    )
)
def test_order_by_parses_or_is_invalid_parameter(resource: str, clauses: list[str]) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_order_by(clauses, GRAMMARS[resource])


ADVERSARIAL = {
    "open-parens": "(" * MAX_FILTER_LENGTH,
    "one-long-word": "a" * MAX_FILTER_LENGTH,
    "unterminated-quote-of-escapes": "params.a = '" + "\\'" * (MAX_FILTER_LENGTH // 2 - 8),
    "doubled-quotes": "params.a = '" + "''" * (MAX_FILTER_LENGTH // 2 - 8) + "'",
    "huge-in-list": "attributes.run_id IN (" + ",".join(["'a'"] * (MAX_FILTER_LENGTH // 5)) + ")",
    "and-chain": " AND ".join(["metrics.m > 1"] * (MAX_FILTER_LENGTH // 20)),
    "dots": "metrics." + "." * (MAX_FILTER_LENGTH - 20),
    "backticks": "params.`" + "``" * (MAX_FILTER_LENGTH // 2 - 8),
    "just-over-limit": "a" * (MAX_FILTER_LENGTH + 1),
}


@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_adversarial_filters_are_answered_in_bounded_time(case: str) -> None:
    text = ADVERSARIAL[case][: MAX_FILTER_LENGTH + 1]
    started = time.perf_counter()
    with contextlib.suppress(InvalidParameter):
        parse_filter(text, RUNS)
    # A loose safety bound (a linear parser takes milliseconds), not a performance claim: a
    # quadratic or backtracking parser would take minutes on these inputs.
    assert time.perf_counter() - started < 5.0


@pytest.fixture(scope="module")
def searching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    base = tmp_path_factory.mktemp("search-fuzz")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{base / 'db.sqlite'}", artifacts_destination=str(base / "a")
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        eid = client.post("/api/2.0/mlflow/experiments/create", json={"name": "e"}).json()["experiment_id"]
        run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid}).json()["run"]["info"][
            "run_id"
        ]
        client.post(
            "/api/2.0/mlflow/runs/log-batch",
            json={
                "run_id": run,
                "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
                "params": [{"key": "acc", "value": "x"}],
                "tags": [{"key": "name", "value": "y"}],
            },
        )
        client.post("/api/2.0/mlflow/registered-models/create", json={"name": "rm"})
        client.post("/api/2.0/mlflow/logged-models", json={"experiment_id": eid, "name": "lm"})
        client.eid = eid  # type: ignore[attr-defined]
        yield client


def _send(client: TestClient, resource: str, text: str) -> int:
    eid = client.eid  # type: ignore[attr-defined]
    if resource == "runs":
        answer = client.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": [eid], "filter": text})
    elif resource == "experiments":
        answer = client.post("/api/2.0/mlflow/experiments/search", json={"filter": text})
    elif resource == "logged-models":
        answer = client.post(
            "/api/2.0/mlflow/logged-models/search", json={"experiment_ids": [eid], "filter": text}
        )
    else:
        answer = client.get(f"/api/2.0/mlflow/{resource}/search", params={"filter": text})
    if answer.status_code != 200:
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", answer.text
    return answer.status_code


@pytest.mark.parametrize("resource", list(GRAMMARS))
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=near_valid())
def test_near_valid_filters_never_make_a_server_error(
    searching: TestClient, resource: str, text: str
) -> None:
    assert _send(searching, resource, text) in (200, 400)
