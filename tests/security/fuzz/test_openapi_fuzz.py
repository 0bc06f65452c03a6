"""Property-based fuzzing of every documented REST operation (schemathesis on our own
/openapi.json, in process over ASGI), with authentication off and on: no response is a server
error, and every response conforms to the document (errors are MLflow error JSON with
error_code and message).

Bounded for CI: a few examples per operation, no shrinking deadline; the whole module runs in
well under a minute on a loaded 2-core box."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app

ADMIN = ("fuzz-admin", "Fuzzing-Is-Strong-Pw-1")
EXAMPLES_PER_OPERATION = 6
CHECKS = [not_a_server_error, response_schema_conformance]


def _config(base: Path, auth: bool) -> ServerConfig:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{base / 'ledgerflow.db'}", artifacts_destination=str(base / "artifacts")
    )
    return replace(config, auth_required=auth)


@pytest.fixture(scope="module", params=["auth-off", "auth-on"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    auth = request.param == "auth-on"
    app = create_app(_config(tmp_path_factory.mktemp(request.param), auth))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers: dict[str, str] = {}
        if auth:
            app.state.services.auth.create_user(*ADMIN, is_admin=True)
            token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        # Something for the generated ids to find now and then.
        client.post("/api/2.0/mlflow/experiments/create", json={"name": "fuzz"}, headers=headers)
        document = client.get("/openapi.json", headers=headers)
        assert document.status_code == 200, document.text
        yield {"app": app, "headers": headers, "document": document.json()}


def test_no_operation_answers_a_server_error(fuzzed: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(fuzzed["document"])
    schema.app = fuzzed["app"]
    failures: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def probe(case: Any) -> None:
            response = case.call(headers=fuzzed["headers"])
            statuses.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

        try:
            probe()
        except Exception as error:
            failures.append(f"{operation.label}: {str(error)[:600]}")
    assert operations > 100
    # The fuzzer reached handlers: some calls succeeded and some were refused as bad input.
    assert statuses.count(200) > 20 and statuses.count(400) > 20, sorted(set(statuses))
    print(f"{operations} operations, {len(statuses)} calls, statuses {sorted(set(statuses))}")
    assert not failures, "\n\n".join(failures)
