"""Property-based fuzzing of the fields handlers actually read: every documented operation gets
bodies (or query strings) whose well-known field names carry values of the wrong type, out of
range, or malformed (nested objects, huge and non-finite numbers, NUL, very long strings). No
answer is a server error; every refusal is MLflow error JSON. Bounded for CI."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app

USER = ("fuzzer", "Typed-Fuzzing-Strong-Pw-1")
FIELDS = [
    "experiment_id", "experiment_ids", "run_id", "run_uuid", "name", "new_name", "key", "value",
    "timestamp", "step", "max_results", "page_token", "filter", "filter_string", "order_by",
    "version", "tags", "params", "metrics", "source", "alias", "stage", "description", "events",
    "url", "scopes", "username", "password", "permission", "is_admin", "run_view_type", "path",
    "model_id", "status", "start_time", "end_time", "artifact_location", "secret", "role",
    "resource", "resource_type", "principal", "principal_type", "token_id", "expires_in_days",
    "archive_existing_versions", "lifecycle_stage", "dataset_inputs", "inputs", "models",
]  # fmt: skip
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**30, -1, 0, 2**63, -(2**63) - 1, 1e308, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["\x00", "' OR 1=1 --", "../../etc/passwd", "x" * 10_000, "1e999", "NaN", "-Infinity", "[]", "{}"]
    ),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
)


@pytest.fixture(scope="module", params=["auth-off", "auth-on-user"])
def app_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Auth off, or on with a plain user holding a grant on the experiment and the model: the
    authorization guard then reads the same fields (to find the resource) before the handler."""
    base: Path = tmp_path_factory.mktemp("typed-fuzz")
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{base / 'db.sqlite'}", artifacts_destination=str(base / "a")
    )
    auth = request.param != "auth-off"
    app = create_app(replace(config, auth_required=auth))
    with TestClient(app, raise_server_exceptions=False) as client:
        if auth:
            services = app.state.services
            services.auth.create_user(*USER)
            token = base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()
            client.headers["Authorization"] = f"Basic {token}"
        eid = client.post("/api/2.0/mlflow/experiments/create", json={"name": "e"}).json()["experiment_id"]
        client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": eid})
        client.post("/api/2.0/mlflow/registered-models/create", json={"name": "m"})
        yield client


def _operations(client: TestClient) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    found = []
    for path, methods in document["paths"].items():
        for method in methods:
            found.append((method.upper(), re.sub(r"\{\w+\}", "1", path)))
    return found


def _json_safe(value: Any) -> Any:
    """Starlette's client sends JSON; non-finite floats go as strings (what a client could send)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _probe_for(client: TestClient, method: str, path: str) -> Any:
    @given(body=st.dictionaries(st.sampled_from(FIELDS), ODD_VALUES, min_size=1, max_size=4))
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def probe(body: dict[str, Any]) -> None:
        payload = _json_safe(body)
        if method == "GET":
            params = {k: (v if isinstance(v, str) else str(v)) for k, v in payload.items()}
            answer = client.get(path, params=params)
        else:
            answer = client.request(method, path, json=payload)
        assert answer.status_code < 500, f"{method} {path} {payload!r}: {answer.text[:300]}"
        if answer.status_code != 200:
            error = answer.json()
            assert set(error) >= {"error_code", "message"}, answer.text

    return probe


def test_wrongly_typed_fields_never_make_a_server_error(app_client: TestClient) -> None:
    operations = _operations(app_client)
    assert len(operations) > 100
    failures: list[str] = []
    for method, path in operations:
        try:
            _probe_for(app_client, method, path)()
        except AssertionError as error:
            failures.append(str(error)[:500])
    assert not failures, "\n\n".join(failures)
