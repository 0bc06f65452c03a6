"""SQL injection through search filters, order_by and page tokens on every searchable resource,
and oversized input (bodies, nesting, filters, page sizes, batches): each is refused as
INVALID_PARAMETER_VALUE (or answered with nothing it should not show) and changes nothing; the
tables an injection would drop or read are still intact afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ledgerflow.store import schema
from tests.security.attacks.conftest import Target, refused, start_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made, live = start_target(tmp_path_factory.mktemp("inject"), max_request_bytes=1024 * 1024)
    try:
        yield made
    finally:
        live.stop()


def _search(t: Target, resource: str, **fields: Any) -> tuple[str, str, dict[str, Any] | None]:
    """The search request of *resource* with *fields* (filter, order_by, page_token)."""
    w = t.world
    if resource == "runs":
        body = {"experiment_ids": [w.experiment_id], **fields}
        if "order_by" in body and isinstance(body["order_by"], str):
            body["order_by"] = [body["order_by"]]
        return "POST", "/api/2.0/mlflow/runs/search", body
    if resource == "experiments":
        body = dict(fields)
        if "order_by" in body and isinstance(body["order_by"], str):
            body["order_by"] = [body["order_by"]]
        return "POST", "/api/2.0/mlflow/experiments/search", body
    if resource == "logged-models":
        body = {"experiment_ids": [w.experiment_id]}
        if "filter" in fields:
            body["filter"] = fields["filter"]
        if "order_by" in fields:
            body["order_by"] = [{"field_name": fields["order_by"]}]
        if "page_token" in fields:
            body["page_token"] = fields["page_token"]
        return "POST", "/api/2.0/mlflow/logged-models/search", body
    from urllib.parse import urlencode

    path = "registered-models" if resource == "registered-models" else "model-versions"
    return "GET", f"/api/2.0/mlflow/{path}/search?{urlencode(fields)}", None


RESOURCES = ("runs", "experiments", "registered-models", "model-versions", "logged-models")

# Filters that are not valid in the grammar at all: the parser refuses them.
MALFORMED = {
    "or-tautology": "{a} = 'x' OR 1=1",
    "stacked-statement": "{a} = 'x'; DROP TABLE runs",
    "comment-tail": "{a} = 'x' --",
    "union-select": "{a} = 'x' UNION SELECT password_hash FROM users",
    "subquery-value": "{a} = (SELECT password_hash FROM users)",
    "unquoted-identifier-injection": "{a}) OR (1 = 1",
    "unterminated-quote": "{a} = 'x",
    "backtick-breakout": "`{a}` = 'x'` OR 1=1",
}

_ATTR = {
    "runs": "attributes.run_name",
    "experiments": "name",
    "registered-models": "name",
    "model-versions": "name",
    "logged-models": "name",
}

MALFORMED_CASES = [pytest.param(r, c, id=f"{r}-{c}") for r in RESOURCES for c in MALFORMED]


@pytest.mark.parametrize(("resource", "case"), MALFORMED_CASES)
def test_injection_shaped_filter_is_refused(target: Target, resource: str, case: str) -> None:
    method, path, body = _search(target, resource, filter=MALFORMED[case].format(a=_ATTR[resource]))
    if method == "GET":
        path = path.replace("filter=", "filter=")
    with target.unchanged():
        refused(target.request(method, path, body=body), 400, "INVALID_PARAMETER_VALUE")
    _tables_intact(target)


# Well-formed filters whose *literal* carries SQL: bound as a value, they match nothing.
LITERALS = {
    "quote-escape-or": "{a} = 'x'' OR ''1''=''1'",
    "like-wildcard-injection": "{a} LIKE 'x'' OR name LIKE ''%'",
    "drop-in-literal": "{a} = 'x; DROP TABLE users; --'",
}
LITERAL_CASES = [pytest.param(r, c, id=f"{r}-{c}") for r in RESOURCES for c in LITERALS]


def _listed(resource: str, answer: Any) -> list[Any]:
    key = {
        "runs": "runs",
        "experiments": "experiments",
        "registered-models": "registered_models",
        "model-versions": "model_versions",
        "logged-models": "models",
    }[resource]
    found: list[Any] = answer.json().get(key, [])
    return found


@pytest.mark.parametrize(("resource", "case"), LITERAL_CASES)
def test_sql_in_a_literal_matches_nothing(target: Target, resource: str, case: str) -> None:
    method, path, body = _search(target, resource, filter=LITERALS[case].format(a=_ATTR[resource]))
    with target.unchanged():
        answer = target.request(method, path, body=body)
    if answer.status == 400:
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    else:
        assert answer.status == 200, answer.text
        assert _listed(resource, answer) == []
    _tables_intact(target)


ORDER_BYS = {
    "stacked": "{a} DESC; DROP TABLE runs",
    "subquery": "(SELECT password_hash FROM users)",
    "case-expression": "CASE WHEN 1=1 THEN name END",
    "bad-direction": "{a} SIDEWAYS",
    "comment": "{a} ASC --",
}
ORDER_CASES = [pytest.param(r, c, id=f"{r}-{c}") for r in RESOURCES for c in ORDER_BYS]


@pytest.mark.parametrize(("resource", "case"), ORDER_CASES)
def test_injection_in_order_by_is_refused(target: Target, resource: str, case: str) -> None:
    method, path, body = _search(target, resource, order_by=ORDER_BYS[case].format(a=_ATTR[resource]))
    with target.unchanged():
        refused(target.request(method, path, body=body), 400, "INVALID_PARAMETER_VALUE")
    _tables_intact(target)


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode() if not isinstance(value, bytes) else value).decode()


TOKENS = {
    "not-base64": "%%%not-base64%%%",
    "not-json": _b64(b"SELECT * FROM users"),
    "negative-offset": _b64({"offset": -5}),
    "string-offset": _b64({"offset": "0; DROP TABLE runs"}),
    "float-offset": _b64({"offset": 1.5}),
    "huge-offset": _b64({"offset": 10**30}),
    "nested-offset": _b64({"offset": {"$gt": 0}}),
    "sql-in-token": base64.b64encode(b"' OR 1=1 --").decode(),
}
TOKEN_CASES = [pytest.param(r, c, id=f"{r}-{c}") for r in RESOURCES for c in TOKENS]


@pytest.mark.parametrize(("resource", "case"), TOKEN_CASES)
def test_forged_page_token_is_refused(target: Target, resource: str, case: str) -> None:
    method, path, body = _search(target, resource, page_token=TOKENS[case])
    with target.unchanged():
        refused(target.request(method, path, body=body), 400, "INVALID_PARAMETER_VALUE")


def _tables_intact(t: Target) -> None:
    with t.services.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar_one() >= 1
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.users)).scalar_one() >= 1


# Oversized and deeply nested input.


def _nested(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


def _limits(t: Target) -> dict[str, tuple[str, str, bytes | dict[str, Any], int, str]]:
    w = t.world
    run = w.run_id
    many_params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    many_metrics = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)]
    return {
        "body-over-limit": (
            "POST",
            "/api/2.0/mlflow/experiments/create",
            b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            413,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        "deeply-nested-json": (
            "POST",
            "/api/2.0/mlflow/experiments/create",
            _nested(5000),
            400,
            "BAD_REQUEST",
        ),
        "nested-just-over-depth": ("POST", "/api/2.0/mlflow/runs/log-batch", _nested(70), 400, "BAD_REQUEST"),
        "long-filter": (
            "POST",
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [w.experiment_id], "filter": "params.a = '" + "x" * 200_000 + "'"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "many-clauses": (
            "POST",
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [w.experiment_id], "filter": " AND ".join(["metrics.m > 0"] * 5000)},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "huge-max-results-runs": (
            "POST",
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [w.experiment_id], "max_results": 10**12},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "negative-max-results": (
            "POST",
            "/api/2.0/mlflow/experiments/search",
            {"max_results": -1},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "huge-max-results-models": (
            "GET",
            "/api/2.0/mlflow/registered-models/search?max_results=1000000000",
            b"",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "overflowing-max-results": (
            "GET",
            "/api/2.0/mlflow/model-versions/search?max_results=99999999999999999999999",
            b"",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "log-batch-too-many-params": (
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            {"run_id": run, "params": many_params},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "log-batch-too-many-metrics": (
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            {"run_id": run, "metrics": many_metrics},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "param-value-too-long": (
            "POST",
            "/api/2.0/mlflow/runs/log-parameter",
            {"run_id": run, "key": "big", "value": "v" * 10_000},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "tag-key-too-long": (
            "POST",
            "/api/2.0/mlflow/runs/set-tag",
            {"run_id": run, "key": "k" * 1000, "value": "v"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "experiment-name-too-long": (
            "POST",
            "/api/2.0/mlflow/experiments/create",
            {"name": "9" * 100_000},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "artifact-location-too-long": (
            "POST",
            "/api/2.0/mlflow/experiments/create",
            {"name": "long-loc", "artifact_location": "mlflow-artifacts:/" + "a/" * 5000},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "model-name-too-long": (
            "POST",
            "/api/2.0/mlflow/registered-models/create",
            {"name": "m" * 100_000},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "metric-step-overflow": (
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"run_id": run, "key": "m", "value": 1, "timestamp": 1, "step": 10**30},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "timestamp-overflow": (
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"run_id": run, "key": "m", "value": 1, "timestamp": 10**30},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "many-clauses-registry": (
            "GET",
            "/api/2.0/mlflow/model-versions/search?filter=" + "%20AND%20".join(["name%3D'a'"] * 2000),
            b"",
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "many-clauses-logged-models": (
            "POST",
            "/api/2.0/mlflow/logged-models/search",
            {"experiment_ids": [w.experiment_id], "filter": " AND ".join(["metrics.m > 0"] * 2000)},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        "invalid-utf8-body": (
            "POST",
            "/api/2.0/mlflow/experiments/create",
            b'{"name": "\xff\xfe"}',
            400,
            "BAD_REQUEST",
        ),
    }


LIMIT_CASES = tuple(
    [
        "body-over-limit",
        "deeply-nested-json",
        "nested-just-over-depth",
        "long-filter",
        "many-clauses",
        "huge-max-results-runs",
        "negative-max-results",
        "huge-max-results-models",
        "overflowing-max-results",
        "log-batch-too-many-params",
        "log-batch-too-many-metrics",
        "param-value-too-long",
        "tag-key-too-long",
        "experiment-name-too-long",
        "artifact-location-too-long",
        "model-name-too-long",
        "metric-step-overflow",
        "timestamp-overflow",
        "many-clauses-registry",
        "many-clauses-logged-models",
        "invalid-utf8-body",
    ]
)


@pytest.mark.parametrize("case", LIMIT_CASES)
def test_oversized_input_is_refused(target: Target, case: str) -> None:
    method, path, body, status, code = _limits(target)[case]
    headers = {"Content-Type": "application/json"} if isinstance(body, bytes) and body else {}
    with target.unchanged():
        refused(target.request(method, path, body=body or None, headers=headers), status, code)


def test_a_long_but_allowed_filter_still_answers(target: Target) -> None:
    """The comparison cap sits below what the database can run: the largest allowed filter,
    mixing metrics, params and tags, is answered (no server error)."""
    from ledgerflow.tracking.search.parser import MAX_COMPARISONS

    kinds = ["metrics.m >= 0", "params.p != 'x'", "tags.t != 'y'", "attributes.status != 'KILLED'"]
    text = " AND ".join(kinds[i % 4] for i in range(MAX_COMPARISONS))
    body = {"experiment_ids": [target.world.experiment_id], "filter": text}
    with target.unchanged():
        answer = target.request("POST", "/api/2.0/mlflow/runs/search", body=body)
    assert answer.status == 200, answer.text
