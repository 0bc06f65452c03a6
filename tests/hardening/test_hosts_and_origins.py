"""Host allow-list (DNS rebinding) and Origin checks on state-changing requests, through the
HTTP API: each refusal is MLflow error JSON and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.hardening.conftest import APP_ORIGIN, experiment_names

CREATE = "/api/2.0/mlflow/experiments/create"


def _refused(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["error_code"] == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example",
        "rebind.attacker.example:5000",
        "localhost.attacker.example",
        "attacker.example.",
        "LOCALHOST.evil",
    ],
)
def test_rebinding_host_is_refused_and_nothing_is_created(guarded: TestClient, host: str) -> None:
    before = experiment_names(guarded)
    response = guarded.post(CREATE, json={"name": "rebound"}, headers={"Host": host})
    _refused(response, 403, "PERMISSION_DENIED")
    assert "DNS rebinding" in response.json()["message"]
    _refused(
        guarded.get("/api/2.0/mlflow/experiments/search", headers={"Host": host}), 403, "PERMISSION_DENIED"
    )
    _refused(guarded.get("/", headers={"Host": host}), 403, "PERMISSION_DENIED")
    assert experiment_names(guarded) == before


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:5000", "127.0.0.1:8080", "[::1]:5000", "10.20.30.40", "LocalHost:1"]
)
def test_local_names_and_ip_literals_are_answered(guarded: TestClient, host: str) -> None:
    response = guarded.get(
        "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, headers={"Host": host}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host", ["a b", "user@localhost", "[::1", "localhost:99999999", "localhost:x", "local/host"]
)
def test_malformed_host_is_a_bad_parameter(guarded: TestClient, host: str) -> None:
    _refused(guarded.post(CREATE, json={"name": "x"}, headers={"Host": host}), 400, "INVALID_PARAMETER_VALUE")
    assert "x" not in experiment_names(guarded)


def test_configured_names_and_wildcard_domains(
    make_guarded: Callable[..., TestClient], server_config: ServerConfig
) -> None:
    config = replace(server_config, allowed_hosts=("mlflow.corp.example:443", "*.teams.example"))
    client = make_guarded(config, "https://mlflow.corp.example")
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"Host": "a.teams.example"}).status_code == 200
    _refused(client.get("/health", headers={"Host": "teams.example"}), 403, "PERMISSION_DENIED")
    _refused(client.get("/health", headers={"Host": "mlflow.corp.example:8443"}), 403, "PERMISSION_DENIED")
    _refused(client.get("/health", headers={"Host": "localhost"}), 403, "PERMISSION_DENIED")


def test_no_allow_list_answers_any_host(client: TestClient) -> None:
    # In-process apps (ServerConfig defaults) are not behind a name; the CLI always sets one.
    assert client.get("/health", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost:5001"},
        {"Origin": "null"},
        {"Origin": "http://localhost.evil.example:5000"},
        {"Referer": "https://evil.example/page.html"},
        {"Origin": "https://notebooks.example.org.evil.example"},
    ],
)
def test_cross_origin_changes_are_refused(guarded: TestClient, headers: dict[str, str]) -> None:
    before = experiment_names(guarded)
    response = guarded.post(CREATE, json={"name": "csrf"}, headers=headers)
    _refused(response, 403, "PERMISSION_DENIED")
    _refused(
        guarded.request("DELETE", "/api/2.0/mlflow-artifacts/artifacts/0/a.txt", headers=headers),
        403,
        "PERMISSION_DENIED",
    )
    assert experiment_names(guarded) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},  # the mlflow client, curl: no Origin, no Referer
        {"Origin": "http://localhost:5000"},
        {"Origin": "https://localhost:5000"},  # behind a TLS-terminating proxy
        {"Referer": "http://localhost:5000/experiments/0"},
        {"Origin": APP_ORIGIN},
    ],
)
def test_same_origin_listed_origin_and_non_browser_changes_pass(
    guarded: TestClient, headers: dict[str, str]
) -> None:
    name = f"ok-{len(headers)}-{sorted(headers.values())}"
    response = guarded.post(CREATE, json={"name": name}, headers=headers)
    assert response.status_code == 200, response.text
    assert name in experiment_names(guarded)


def test_cross_origin_reads_pass_but_get_no_cors_grant(guarded: TestClient) -> None:
    response = guarded.get(
        "/api/2.0/mlflow/experiments/get",
        params={"experiment_id": "0"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 200
    # Without Access-Control-Allow-Origin the browser keeps the answer from the foreign page.
    assert "access-control-allow-origin" not in response.headers


def test_cors_preflight_and_answers_for_listed_origin_only(guarded: TestClient) -> None:
    preflight = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    answer = guarded.options(CREATE, headers=preflight)
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "authorization" in answer.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in answer.headers
    assert answer.headers["vary"] == "Origin"

    foreign = guarded.options(CREATE, headers={**preflight, "Origin": "https://evil.example"})
    _refused(foreign, 403, "PERMISSION_DENIED")
    assert "access-control-allow-origin" not in foreign.headers

    made = guarded.post(CREATE, json={"name": "from-notebooks"}, headers={"Origin": APP_ORIGIN})
    assert made.status_code == 200
    assert made.headers["access-control-allow-origin"] == APP_ORIGIN
    assert made.headers["vary"] == "Origin"


def test_cors_never_wildcards(guarded: TestClient) -> None:
    for origin in ("https://evil.example", APP_ORIGIN):
        response = guarded.get("/health", headers={"Origin": origin})
        assert response.headers.get("access-control-allow-origin") != "*"
