"""Secret scanning on write, through the REST API, under each policy (governance.md check 9).

Every case also checks that the secret never comes back: not in the error, not in the
server's log, not anywhere in the audit trail (details and digests included)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.store.governance.alerts_schema import secret_findings
from ledgerflow.store.schema import audit_log
from tests.conftest import Api

from .samples import AWS_SECRET, GITHUB_TOKEN, SECRETS, URL_PASSWORD, benign_values

MakeApi = Callable[[str], tuple[Api, Any]]


@pytest.fixture
def make_api(make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig) -> MakeApi:
    def make(policy: str) -> tuple[Api, Any]:
        from dataclasses import replace

        client = make_client(replace(server_config, secret_policy=policy))
        return Api(client), client.app.state.services  # type: ignore[attr-defined]

    return make


def _run(api: Api) -> str:
    experiment = api.ok("post", "experiments/create", {"name": "secrets"})["experiment_id"]
    return str(api.ok("post", "runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"])


def _params(api: Api, run_id: str) -> dict[str, str]:
    data = api.ok("get", "runs/get", {"run_id": run_id})["run"]["data"]
    return {p["key"]: p["value"] for p in data.get("params", [])}


def _findings(services: Any) -> list[Any]:
    with services.db.read() as conn:
        return list(conn.execute(sa.select(secret_findings)).all())


def _assert_not_in_audit(services: Any, secret: str) -> None:
    digest_of_secret = hashlib.sha256(secret.encode()).hexdigest()
    with services.db.read() as conn:
        rows = conn.execute(sa.select(audit_log)).all()
    assert rows, "the writes were audited"
    for row in rows:
        text = " ".join(str(value) for value in row)
        assert secret not in text
        assert digest_of_secret not in text


@pytest.mark.parametrize(("name", "value", "kind", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_block_refuses_the_param_and_names_field_and_kind_only(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture, name: str, value: str, kind: str, secret: str
) -> None:
    api, services = make_api("block")
    run_id = _run(api)
    with caplog.at_level(logging.DEBUG):
        response = api.post("runs/log-parameter", {"run_id": run_id, "key": "conn", "value": value})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "param 'conn'" in body["message"] and kind in body["message"]
    assert secret not in response.text
    assert _params(api, run_id) == {}
    [finding] = _findings(services)
    assert (finding.resource_type, finding.resource_id, finding.field, finding.key) == (
        "run",
        run_id,
        "param",
        "conn",
    )
    assert (finding.kind, finding.action) == (kind, "blocked")
    assert secret not in caplog.text and "Secret (" in caplog.text
    _assert_not_in_audit(services, secret)


@pytest.mark.parametrize(("name", "value", "kind", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_redact_stores_a_marker_instead_of_the_secret(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture, name: str, value: str, kind: str, secret: str
) -> None:
    api, services = make_api("redact")
    run_id = _run(api)
    with caplog.at_level(logging.DEBUG):
        api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "conn", "value": value})
    stored = _params(api, run_id)["conn"]
    assert secret not in stored and f"[REDACTED:{kind}]" in stored
    if kind == "url_credentials":
        # Only the password goes; the rest of the URL stays useful.
        assert stored == f"postgresql://trainer:[REDACTED:{kind}]@db.internal.example:5432/features"
    assert [(f.kind, f.action) for f in _findings(services)] == [(kind, "redacted")]
    assert secret not in caplog.text
    _assert_not_in_audit(services, secret)


@pytest.mark.parametrize(("name", "value", "kind", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_warn_stores_the_value_records_a_finding_and_keeps_the_audit_clean(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture, name: str, value: str, kind: str, secret: str
) -> None:
    api, services = make_api("warn")
    run_id = _run(api)
    with caplog.at_level(logging.DEBUG):
        api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "conn", "value": value})
    assert _params(api, run_id)["conn"] == value
    assert [(f.kind, f.action) for f in _findings(services)] == [(kind, "warned")]
    assert secret not in caplog.text
    _assert_not_in_audit(services, secret)


def test_digests_uuids_and_run_ids_produce_no_finding(make_api: MakeApi) -> None:
    api, services = make_api("block")
    run_id = _run(api)
    values = benign_values()
    api.ok(
        "post", "runs/log-batch", {"run_id": run_id, "params": [{"key": k, "value": v} for k, v in values]}
    )
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "mlflow.parentRunId", "value": run_id})
    assert _params(api, run_id) == dict(values)
    assert _findings(services) == []


def test_an_aws_secret_key_is_caught_by_its_key_name(make_api: MakeApi) -> None:
    api, services = make_api("redact")
    run_id = _run(api)
    api.ok(
        "post", "runs/log-parameter", {"run_id": run_id, "key": "aws_secret_access_key", "value": AWS_SECRET}
    )
    # The same 40 characters under a neutral name are not a recognisable secret.
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "notes", "value": AWS_SECRET})
    params = _params(api, run_id)
    assert params["aws_secret_access_key"] == "[REDACTED:aws_secret_access_key]"
    assert params["notes"] == AWS_SECRET
    # In free text, the name before "=" is the context.
    api.ok(
        "post",
        "runs/set-tag",
        {
            "run_id": run_id,
            "key": "mlflow.note.content",
            "value": f"creds:\naws_secret_access_key = {AWS_SECRET}\n",
        },
    )
    data = api.ok("get", "runs/get", {"run_id": run_id})["run"]["data"]
    note = {t["key"]: t["value"] for t in data["tags"]}["mlflow.note.content"]
    assert AWS_SECRET not in note and "[REDACTED:aws_secret_access_key]" in note
    assert sorted(f.kind for f in _findings(services)) == ["aws_secret_access_key"] * 2


def test_log_batch_tags_experiments_and_registry_writes_are_screened(make_api: MakeApi) -> None:
    api, services = make_api("block")
    run_id = _run(api)
    batch = {
        "run_id": run_id,
        "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "ci", "value": GITHUB_TOKEN}],
    }
    message = api.error("post", "runs/log-batch", batch, 400, "INVALID_PARAMETER_VALUE")
    assert "tag 'ci'" in message and GITHUB_TOKEN not in message
    run = api.ok("get", "runs/get", {"run_id": run_id})["run"]
    assert "params" not in run["data"] and "metrics" not in run["data"], "nothing of the batch was written"
    api.error(
        "post",
        "experiments/create",
        {"name": "e2", "tags": [{"key": "t", "value": GITHUB_TOKEN}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.error(
        "post",
        "registered-models/create",
        {"name": "m", "description": f"token {GITHUB_TOKEN}"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.ok("post", "registered-models/create", {"name": "m"})
    api.error(
        "post",
        "registered-models/set-tag",
        {"name": "m", "key": "k", "value": GITHUB_TOKEN},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    updated = api.client.patch(
        "/api/2.0/mlflow/registered-models/update", json={"name": "m", "description": GITHUB_TOKEN}
    )
    assert updated.status_code == 400 and updated.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    kinds = {(f.resource_type, f.field) for f in _findings(services)}
    assert kinds == {
        ("run", "tag"),
        ("experiment", "tag"),
        ("registered_model", "description"),
        ("registered_model", "tag"),
    }
    _assert_not_in_audit(services, GITHUB_TOKEN)


def test_text_artifacts_are_screened_and_binary_ones_are_not(make_api: MakeApi, tmp_path: Path) -> None:
    api, services = make_api("redact")
    run_id = _run(api)
    prefix = f"/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts"
    client = api.client
    env = f"DEBUG=1\nGITHUB_TOKEN={GITHUB_TOKEN}\n".encode()
    refused = client.put(f"{prefix}/.env", content=env)
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert GITHUB_TOKEN not in refused.text
    assert client.get(f"{prefix}/.env").status_code == 404, "a refused upload leaves no file"
    assert client.put(f"{prefix}/weights.bin", content=b"\x00\x01" + env).status_code == 200
    assert client.put(f"{prefix}/config.yaml", content=b"lr: 0.1\nseed: 7\n").status_code == 200
    [finding] = _findings(services)
    assert (finding.resource_type, finding.field, finding.action) == ("artifact", "artifact", "blocked")
    assert finding.resource_id.endswith(f"/{run_id}/artifacts/.env")


def test_secrets_fact_source_counts_findings_of_a_versions_run(make_api: MakeApi) -> None:
    api, services = make_api("warn")
    run_id = _run(api)
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "token", "value": GITHUB_TOKEN})
    api.ok("post", "registered-models/create", {"name": "fraud"})
    api.ok(
        "post",
        "model-versions/create",
        {
            "name": "fraud",
            "source": f"runs:/{run_id}/model",
            "run_id": run_id,
            "description": f"see {AWS_SECRET[:0]}aws_secret_access_key={AWS_SECRET}",
        },
    )
    api.ok("post", "runs/create", {"experiment_id": "0"})
    assert "secrets" in services.facts.namespaces()
    facts = services.facts.collect("fraud", 1)["secrets"]
    assert facts == {"findings": 2, "kinds": ["aws_secret_access_key", "github_token"]}
    assert services.facts.collect("fraud", 7)["secrets"] == {}
    # A version from a clean run knows it has none.
    clean_run = _run_in(api, "0")
    api.ok(
        "post",
        "model-versions/create",
        {"name": "fraud", "source": f"runs:/{clean_run}/model", "run_id": clean_run},
    )
    assert services.facts.collect("fraud", 2)["secrets"] == {"findings": 0, "kinds": []}


def _run_in(api: Api, experiment_id: str) -> str:
    return str(api.ok("post", "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"])


def test_an_unknown_policy_is_refused(server_config: ServerConfig) -> None:
    from dataclasses import replace

    from ledgerflow.errors import InvalidParameter
    from ledgerflow.tracking.services import build_services

    with pytest.raises(InvalidParameter, match="Valid policies"):
        build_services(replace(server_config, secret_policy="shrug"))


def test_findings_are_listed_for_review_without_values(make_api: MakeApi) -> None:
    api, _services = make_api("redact")
    run_id = _run(api)
    api.ok("post", "runs/log-parameter", {"run_id": run_id, "key": "token", "value": GITHUB_TOKEN})
    api.ok("post", "runs/set-tag", {"run_id": run_id, "key": "db", "value": f"mysql://u:{URL_PASSWORD}@h/db"})
    listed = api.client.get("/api/2.0/ledgerflow/secret-findings/list", params={"resource_id": run_id})
    assert listed.status_code == 200, listed.text
    findings = listed.json()["findings"]
    assert sorted((f["field"], f["key"], f["kind"], f["action"]) for f in findings) == [
        ("param", "token", "github_token", "redacted"),
        ("tag", "db", "url_credentials", "redacted"),
    ]
    assert GITHUB_TOKEN not in listed.text and URL_PASSWORD not in listed.text
    bad = api.client.get("/api/2.0/ledgerflow/secret-findings/list", params={"max_results": "0"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
