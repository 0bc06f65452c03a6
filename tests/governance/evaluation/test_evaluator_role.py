"""Evaluation results that gates count come only from evaluators (a role only an administrator
grants) and admins: a model's own managers and editors are refused (403) and nothing is stored;
each record names its principal and dataset digest, and the policy evaluation's inputs carry
both. Without authentication anyone may record, as before; once it is on, such results no longer
count."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

import ledgerflow
from ledgerflow.client.client import Client
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter, PermissionDenied
from ledgerflow.security.authz.permissions import check_default
from tests.cli.conftest import invoke
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE, ThresholdModel, selection_frame
from tests.governance.policy.support import ADMIN, LF, PASSWORD, World, basic, build_world, ok

pytestmark = pytest.mark.filterwarnings("ignore")

_CREATE = f"{LF}/evaluations/create"
DIGEST = "cd" * 32
POLICY = """
apiVersion: ledgerflow/v1
kind: PromotionPolicy
metadata: {name: acc-only}
scope: {models: ["credit-*"], targets: ["alias:champion"]}
rules:
  - {id: acc, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
"""


def _config(tmp_path: Path, **extra: Any) -> ServerConfig:
    return ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'eval.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        auth_required=True,
        **extra,
    )


def _body(world: World, version: int, accuracy: float = 0.95) -> dict[str, Any]:
    return {
        "name": world.model,
        "version": str(version),
        "task": "classification",
        "row_count": 100,
        "metrics": {"accuracy": accuracy},
        "dataset_digest": DIGEST,
    }


def _with_evaluator(world: World) -> None:
    world.services.auth.create_user("ci-bot", PASSWORD)
    ok(
        world.call(
            ADMIN,
            "POST",
            f"{LF}/grants/create",
            {
                "resource_type": "registered_model",
                "resource": world.model,
                "principal_type": "user",
                "principal": "ci-bot",
                "role": "evaluator",
            },
        )
    )


def _listed(world: World, version: int) -> list[dict[str, Any]]:
    found = ok(
        world.call(ADMIN, "GET", f"{LF}/evaluations/list", {"name": world.model, "version": str(version)})
    )
    return list(found.get("evaluations", []))


@pytest.fixture
def world(make_client: Callable[[ServerConfig], TestClient], tmp_path: Path) -> World:
    made = build_world(make_client(_config(tmp_path)))
    _with_evaluator(made)
    return made


def test_only_evaluators_and_admins_record_results(world: World) -> None:
    version = world.new_version()
    # alice trained the model and manages it; dave manages it too; bob approves: none may report.
    for user in ("alice", "dave", "bob"):
        refused = world.call(user, "POST", _CREATE, _body(world, version))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert _listed(world, version) == []
    assert world.services.facts.collect(world.model, version).get("evaluation", {}) == {}

    by_ci = ok(world.call("ci-bot", "POST", _CREATE, _body(world, version)))["evaluation"]
    assert by_ci["user_id"] == "ci-bot" and by_ci["dataset_digest"] == DIGEST
    assert by_ci["recorded_by"] == {"principal": "ci-bot", "via": "basic"}
    by_admin = ok(world.call(ADMIN, "POST", _CREATE, _body(world, version, 0.97)))["evaluation"]
    assert by_admin["recorded_by"] == {"principal": ADMIN, "via": "basic", "admin": True}
    assert [e["user_id"] for e in _listed(world, version)] == [ADMIN, "ci-bot"]

    facts = world.services.facts.collect(world.model, version)["evaluation"]
    assert facts["recorded_by"]["principal"] == ADMIN and facts["dataset_digest"] == DIGEST
    # The evaluator reads the model (it must load it) but changes nothing else on it.
    assert (
        world.call(
            "ci-bot", "GET", "/api/2.0/mlflow/registered-models/get", {"name": world.model}
        ).status_code
        == 200
    )
    tagged = world.call(
        "ci-bot",
        "POST",
        "/api/2.0/mlflow/registered-models/set-tag",
        {"name": world.model, "key": "k", "value": "v"},
    )
    assert tagged.status_code == 403


def test_a_token_principal_is_recorded_and_the_gate_inputs_name_it(world: World) -> None:
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    created = world.client.post(
        "/api/2.0/ledgerflow/tokens/create",
        json={"name": "nightly", "scopes": ["write"], "expires_in_days": 1},
        headers=basic("ci-bot"),
    )
    token = ok(created)
    secret, token_id = token["secret"], token["token"]["token_id"]
    posted = world.client.post(
        _CREATE, json=_body(world, version), headers={"Authorization": f"Bearer {secret}"}
    )
    recorded = ok(posted)["evaluation"]["recorded_by"]
    assert recorded == {"principal": "ci-bot", "via": "token", "token_id": token_id}

    gate = ok(
        world.call(
            ADMIN,
            "POST",
            f"{LF}/policies/evaluate",
            {"name": world.model, "version": str(version), "target": "alias:champion"},
        )
    )["evaluation"]
    evaluation_inputs = gate["inputs"]["facts"]["evaluation"]
    assert evaluation_inputs["recorded_by"]["token_id"] == token_id
    assert evaluation_inputs["dataset_digest"] == DIGEST
    assert gate["decision"] == "pass"


def test_only_an_admin_grants_the_evaluator_role(world: World) -> None:
    grant = {
        "resource_type": "registered_model",
        "resource": world.model,
        "principal_type": "user",
        "principal": "alice",
        "role": "evaluator",
    }
    # alice manages the model, so she may grant other roles on it, but not this one (not even to bob).
    for principal in ("alice", "bob"):
        refused = world.call("alice", "POST", f"{LF}/grants/create", {**grant, "principal": principal})
        assert refused.status_code == 403, refused.text
    ok(world.call("alice", "POST", f"{LF}/grants/create", {**grant, "principal": "carol", "role": "viewer"}))
    # MLflow's permissions API is the same grant underneath.
    mlflow_style = world.call(
        "alice",
        "PATCH",
        "/api/2.0/mlflow/registered-models/permissions/update",
        {"name": world.model, "username": "bob", "permission": "EVALUATOR"},
    )
    assert mlflow_style.status_code == 403, mlflow_style.text
    everyone = world.call(
        ADMIN, "POST", f"{LF}/grants/create", {**grant, "principal_type": "all", "principal": "*"}
    )
    assert everyone.status_code == 400 and "not to everyone" in everyone.json()["message"]
    assert world.call("bob", "POST", _CREATE, _body(world, world.new_version())).status_code == 403
    with pytest.raises(InvalidParameter, match="cannot be everyone's default"):
        check_default("evaluator")


def test_client_and_cli_say_what_is_missing(
    make_live_server: Callable[[ServerConfig], LiveServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ledgerflow.models.flavors.sklearn import save_model

    server = make_live_server(_config(tmp_path))
    auth = server.app.state.services.auth
    auth.create_user(ADMIN, PASSWORD, is_admin=True)
    auth.create_user("alice", PASSWORD)
    monkeypatch.setenv("LEDGERFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("LEDGERFLOW_TRACKING_PASSWORD", PASSWORD)
    client = Client(server.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "lr"})
    # The admin registers the version (its source is in the default experiment alice cannot read).
    monkeypatch.setenv("LEDGERFLOW_TRACKING_USERNAME", ADMIN)
    admin = Client(server.url)
    admin.transport.call("POST", "/2.0/mlflow/model-versions/create", {"name": "lr", "source": SOURCE})
    admin.close()
    monkeypatch.setenv("LEDGERFLOW_TRACKING_USERNAME", "alice")
    frame = selection_frame(0.9)
    with pytest.raises(PermissionDenied, match="needs the evaluator role on it"):
        ledgerflow.evaluate(ThresholdModel(), frame, "y", name="lr", version=1, tracking_uri=server.url)

    save_model(LogisticRegression().fit(frame[["score"]], frame["y"]), str(tmp_path / "model"))
    frame.to_csv(tmp_path / "eval.csv", index=False)
    args = ["evaluate", "-m", str(tmp_path / "model"), "--data", str(tmp_path / "eval.csv"), "--target", "y"]
    refused = invoke([*args, "-n", "lr", "-v", "1", "--tracking-uri", server.url])
    assert refused.exit_code != 0 and "needs the evaluator role" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    # Computing without recording needs no role.
    assert invoke([*args, "--no-log", "--tracking-uri", f"sqlite:///{tmp_path / 'local.db'}"]).exit_code == 0


def test_results_recorded_without_authentication_do_not_count_once_it_is_on(
    make_client: Callable[[ServerConfig], TestClient], tmp_path: Path
) -> None:
    open_config = dataclasses.replace(_config(tmp_path), auth_required=False)
    before = make_client(open_config)
    ok(before.post("/api/2.0/mlflow/registered-models/create", json={"name": "credit-default"}))
    ok(
        before.post(
            "/api/2.0/mlflow/model-versions/create", json={"name": "credit-default", "source": SOURCE}
        )
    )
    body = {"name": "credit-default", "version": "1", "task": "classification", "row_count": 10,
            "metrics": {"accuracy": 0.99}, "dataset_digest": DIGEST}  # fmt: skip
    recorded = ok(before.post(_CREATE, json=body))["evaluation"]
    # Without authentication anyone records, and the result is a fact, as before.
    assert recorded["recorded_by"]["via"] == "local"  # the no-auth server's single local user
    facts = before.app.state.services.facts.collect("credit-default", 1)  # type: ignore[attr-defined]
    assert facts["evaluation"]["metrics"] == {"accuracy": 0.99}

    # The same store behind a server with authentication: that result is listed, not counted.
    after = make_client(_config(tmp_path))
    services = after.app.state.services  # type: ignore[attr-defined]
    services.auth.create_user(ADMIN, PASSWORD, is_admin=True)
    listed = ok(after.get(f"{LF}/evaluations/list", params={"name": "credit-default", "version": "1"},
                          headers=basic(ADMIN)))["evaluations"]  # fmt: skip
    assert [e["evaluation_id"] for e in listed] == [recorded["evaluation_id"]]
    assert services.facts.collect("credit-default", 1).get("evaluation", {}) == {}
    ok(after.post(_CREATE, json={**body, "metrics": {"accuracy": 0.91}}, headers=basic(ADMIN)))
    assert services.facts.collect("credit-default", 1)["evaluation"]["metrics"] == {"accuracy": 0.91}
