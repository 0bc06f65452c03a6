"""JSON API bodies have a size limit (413, REQUEST_LIMIT_EXCEEDED) and a nesting limit (400);
streamed artifact uploads are not subject to the size limit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer

LIMIT = 256 * 1024
CREATE_RUN = "/api/2.0/mlflow/runs/create"
LOG_PARAM = "/api/2.0/mlflow/runs/log-parameter"


@pytest.fixture
def limited(server_config: ServerConfig) -> ServerConfig:
    return replace(server_config, max_request_bytes=LIMIT)


def padded_body(size: int) -> bytes:
    """A valid create-run body of exactly *size* bytes."""
    skeleton = json.dumps({"experiment_id": "0", "run_name": ""}).encode()
    return json.dumps({"experiment_id": "0", "run_name": "x" * (size - len(skeleton))}).encode()


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert str(LIMIT) in body["message"]


def test_default_limit_is_32_mib() -> None:
    assert ServerConfig().max_request_bytes == 32 * 1024 * 1024


def test_body_over_the_limit_is_413_by_content_length(
    make_client: Callable[[ServerConfig], TestClient], limited: ServerConfig
) -> None:
    client = make_client(limited)
    headers = {"Content-Type": "application/json"}
    assert_too_large(client.post(CREATE_RUN, content=padded_body(LIMIT + 1), headers=headers))
    # At the limit it is an ordinary request (the long run name is then refused or kept on its merits).
    answer = client.post(CREATE_RUN, content=padded_body(LIMIT), headers=headers)
    assert answer.status_code != 413


def test_chunked_body_is_counted_while_streaming(
    make_live_server: Callable[[ServerConfig], LiveServer], limited: ServerConfig
) -> None:
    server = make_live_server(limited)

    def chunks(total: int) -> Iterator[bytes]:
        # No Content-Length: only counting the stream can catch this one.
        yield b'{"experiment_id": "0", "tags": [{"key": "k", "value": "'
        for _ in range(total // 65536):
            yield b"v" * 65536
        yield b'"}]}'

    with httpx.Client(base_url=server.url, timeout=30) as http:
        try:
            answer = http.post(
                CREATE_RUN, content=chunks(4 * LIMIT), headers={"Content-Type": "application/json"}
            )
        except httpx.WriteError:
            pytest.fail("the server closed the connection instead of answering 413")
        assert_too_large(answer)
        # The server is still healthy afterwards.
        ok = http.post(CREATE_RUN, json={"experiment_id": "0"})
        assert ok.status_code == 200


def test_artifact_uploads_are_not_subject_to_the_json_limit(
    make_client: Callable[[ServerConfig], TestClient], limited: ServerConfig
) -> None:
    client = make_client(limited)
    data = b"\x00\x01" * LIMIT  # twice the JSON limit
    path = "/api/2.0/mlflow-artifacts/artifacts/0/big.bin"
    assert client.put(path, content=data).status_code == 200
    assert client.get(path).content == data


def nested(depth: int) -> dict[str, object]:
    value: object = "leaf"
    for _ in range(depth - 1):
        value = {"a": [value]}
    return {"experiment_id": "0", "run_name": "n", "tags": [{"key": "k", "value": "v"}], "deep": value}


def depth_of(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def test_json_nested_past_64_levels_is_400(client: TestClient) -> None:
    too_deep = nested(40)  # {"a": [...]} adds two levels per step
    assert depth_of(too_deep) > 64
    answer = client.post(CREATE_RUN, json=too_deep)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert "deeper than 64" in answer.json()["message"]
    # Arrays alone count too.
    arrays = {"experiment_id": "0", "deep": json.loads("[" * 100 + "]" * 100)}
    assert client.post(CREATE_RUN, json=arrays).status_code == 400


def test_moderate_nesting_is_accepted(client: TestClient) -> None:
    fine = nested(20)
    assert 32 < depth_of(fine) <= 64
    assert client.post(CREATE_RUN, json=fine).status_code == 200
