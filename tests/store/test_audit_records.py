"""Every REST write leaves exactly one audit record, in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.security.audit.chain import GENESIS_HASH, record_hash
from tests.conftest import Api
from tests.store.audit_support import changes, post, records
from tests.store.registry_support import SOURCE


def _one_for(api: Api, request_id: str) -> dict[str, Any]:
    found = [record for record in records(api) if record.get("request_id") == request_id]
    assert len(found) == 1, found
    return found[0]


def _write(api: Api, path: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    response = post(api, path, body, request_id)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    result: dict[str, Any] = response.json()
    return result


def test_each_write_has_one_record_naming_action_resource_and_request(api: Api) -> None:
    experiment_id = _write(api, "experiments/create", {"name": "audited"}, "req-exp")["experiment_id"]
    record = _one_for(api, "req-exp")
    assert (record["action"], record["resource_type"], record["resource_id"]) == (
        "experiments.create_experiment",
        "experiment",
        experiment_id,
    )
    assert record["outcome"] == "success"
    assert record["actor"] == "anonymous"
    assert record["source_address"] == "testclient"
    assert record["details"]["request"] == {"name": "audited"}
    assert len(record["after_digest"]) == 64

    run_id = _write(api, "runs/create", {"experiment_id": experiment_id}, "req-run")["run"]["info"]["run_id"]
    assert _one_for(api, "req-run")["resource_id"] == run_id
    cases = [
        ("runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"}, "runs.log_parameter"),
        (
            "runs/log-metric",
            {"run_id": run_id, "key": "loss", "value": 1.5, "timestamp": 1, "step": 0},
            "runs.log_metric",
        ),
        ("runs/set-tag", {"run_id": run_id, "key": "team", "value": "a"}, "runs.set_tag"),
        (
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(5)],
            },
            "runs.log_batch",
        ),
        ("runs/update", {"run_id": run_id, "status": "FINISHED"}, "runs.update_run"),
        ("runs/delete", {"run_id": run_id}, "runs.delete_run"),
    ]
    for index, (path, body, action) in enumerate(cases):
        _write(api, path, body, f"req-{index}")
        record = _one_for(api, f"req-{index}")
        assert (record["action"], record["resource_type"], record["resource_id"]) == (action, "run", run_id)
    # The log-batch record counts the metrics instead of copying them.
    assert _one_for(api, "req-3")["details"]["request"]["metrics"] == {"count": 5}


def test_registry_writes_are_recorded_with_model_and_version(api: Api) -> None:
    _write(api, "registered-models/create", {"name": "churn"}, "r-model")
    assert (_one_for(api, "r-model")["resource_type"], _one_for(api, "r-model")["resource_id"]) == (
        "registered_model",
        "churn",
    )
    _write(api, "model-versions/create", {"name": "churn", "source": SOURCE}, "r-version")
    # The version's own write, then the governance records made for it in the same request
    # (scan result, SBOM, attestations), each its own transaction: numbered parts of the
    # request, or records under their own action.
    version, *more = [record for record in records(api) if record.get("request_id") == "r-version"]
    assert version["action"] == "registry.create_model_version" and "part" not in version["details"]
    parts = [record["details"]["part"] for record in more if record["action"] == version["action"]]
    assert parts == list(range(2, len(parts) + 2))
    _write(api, "registered-models/alias", {"name": "churn", "alias": "prod", "version": "1"}, "r-alias")
    alias = _one_for(api, "r-alias")
    assert (alias["action"], alias["resource_type"], alias["resource_id"]) == (
        "registry.set_alias",
        "model_alias",
        "churn@prod",
    )
    _write(
        api,
        "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "Production", "archive_existing_versions": False},
        "r-stage",
    )
    stage = _one_for(api, "r-stage")
    assert (stage["resource_type"], stage["resource_id"]) == ("model_version", "churn/1")
    response = api.client.request(
        "DELETE",
        "/api/2.0/mlflow/model-versions/delete",
        json={"name": "churn", "version": "1"},
        headers={"X-Request-Id": "r-delete"},
    )
    assert response.status_code == 200, response.text
    assert _one_for(api, "r-delete")["action"] == "registry.delete_model_version"


def test_secrets_never_reach_the_record(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig
) -> None:
    api = Api(make_client(replace(server_config, webhook_allowed_hosts=("127.0.0.1",))))
    response = post(
        api,
        "webhooks",
        {
            "name": "hook",
            "url": "https://127.0.0.1:9/x",
            "events": ["model_version.created"],
            "secret": "very-secret-value",
        },
        "r-hook",
    )
    assert response.status_code == 200, response.text
    record = _one_for(api, "r-hook")
    assert record["details"]["request"]["secret"] == "[redacted]"
    assert "very-secret-value" not in str(records(api))


def test_failed_writes_leave_no_record_and_no_partial_change(api: Api) -> None:
    experiment_id = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    run_id = api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    before = changes(api)
    # Changing a logged param is refused (400); the batch holding it must not half-apply.
    response = post(
        api,
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "q", "value": "new"}, {"key": "p", "value": "2"}],
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
        },
        "r-fail-1",
    )
    assert response.status_code == 400, response.text
    over_limit = {
        "run_id": run_id,
        "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)],
    }
    assert post(api, "runs/log-batch", over_limit, "r-fail-2").status_code == 400
    assert (
        post(api, "runs/log-parameter", {"run_id": run_id, "key": "p", "value": "3"}, "r-fail-3").status_code
        == 400
    )
    assert post(api, "runs/create", {"experiment_id": "987654"}, "r-fail-4").status_code in (400, 404)
    assert changes(api) == before
    run = api.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert run["data"]["params"] == [{"key": "p", "value": "1"}]
    assert "metrics" not in run["data"]


def test_reads_leave_no_record(api: Api) -> None:
    experiment_id = api.ok("post", "experiments/create", {"name": "e"})["experiment_id"]
    before = changes(api)
    api.ok("get", "experiments/get", {"experiment_id": experiment_id})
    api.ok("post", "runs/search", {"experiment_ids": [experiment_id]})
    api.ok("post", "experiments/search", {"max_results": 10})
    assert changes(api) == before


def test_records_form_a_hash_chain(api: Api) -> None:
    for index in range(5):
        api.ok("post", "experiments/create", {"name": f"e{index}"})
    chain = records(api)
    prev = GENESIS_HASH
    for expected_seq, record in enumerate(chain, start=1):
        assert record["seq"] == expected_seq
        assert record["prev_hash"] == prev
        stored = dict(record)
        stored["details"] = __import__("json").dumps(record["details"], sort_keys=True, separators=(",", ":"))
        for optional in (
            "resource_type",
            "resource_id",
            "source_address",
            "request_id",
            "before_digest",
            "after_digest",
        ):
            stored.setdefault(optional, None)
        assert record_hash(prev, stored) == record["record_hash"]
        prev = record["record_hash"]


def test_request_ids_are_generated_and_unsafe_ones_replaced(api: Api) -> None:
    response = post(api, "experiments/create", {"name": "a"})
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    response = post(api, "experiments/create", {"name": "b"}, "bad id\twith spaces")
    replaced = response.headers["x-request-id"]
    assert replaced != "bad id\twith spaces" and " " not in replaced
    ids = [record["request_id"] for record in changes(api)]
    assert ids == [generated, replaced]
