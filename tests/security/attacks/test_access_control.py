"""Authentication bypass through route normalisation, and privilege escalation: every refusal
is the MLflow error JSON (401 UNAUTHENTICATED or 403 PERMISSION_DENIED) and changes no row,
grant or file.

The world: experiment ``team-exp`` and model ``team-model``; users ``viewer``, ``editor``,
``manager`` and ``promoter`` hold that role on both; ``nobody`` holds nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from ledgerflow.store import schema
from tests.authz.support import ADMIN, PASSWORD, basic
from tests.security.attacks.conftest import Target, refused


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _get_exp(t: Target) -> str:
    return f"experiments/get?experiment_id={t.world.experiment_id}"


# Spellings of protected routes that a path-prefix guard could miss; sent without credentials.
def _spellings(t: Target) -> dict[str, tuple[str, str]]:
    w = t.world
    exp = _get_exp(t)
    art = f"{w.experiment_id}/{w.run_id}/artifacts/a.txt"
    return {
        "plain": ("GET", f"/api/2.0/mlflow/{exp}"),
        "double-slash-start": ("GET", f"//api/2.0/mlflow/{exp}"),
        "double-slash-middle": ("GET", f"/api/2.0//mlflow/{exp}"),
        "trailing-slash": ("GET", f"/api/2.0/mlflow/experiments/get/?experiment_id={w.experiment_id}"),
        "upper-case": ("GET", f"/API/2.0/MLFLOW/{exp}"),
        "ajax-twin": ("GET", f"/ajax-api/2.0/mlflow/{exp}"),
        "encoded-slash": ("GET", f"/api/2.0/mlflow%2F{exp}"),
        "dot-segment": ("GET", f"/api/2.0/./mlflow/{exp}"),
        "dotdot-segment": ("GET", f"/api/2.0/x/../mlflow/{exp}"),
        "encoded-dot-segment": ("GET", f"/api/2.0/%2e/mlflow/{exp}"),
        "health-prefix-climb": ("GET", f"/health/../api/2.0/mlflow/{exp}"),
        "static-prefix-climb": ("GET", f"/static/..%2f..%2fapi/2.0/mlflow/{exp}"),
        "static-encoded-climb": ("GET", f"/static/%2e%2e/api/2.0/mlflow/{exp}"),
        "head-method": ("HEAD", f"/api/2.0/mlflow/{exp}"),
        "options-method": ("OPTIONS", f"/api/2.0/mlflow/{exp}"),
        "artifact-proxy": ("GET", f"/api/2.0/mlflow-artifacts/artifacts/{art}"),
        "get-artifact": ("GET", f"/get-artifact?run_uuid={w.run_id}&path=a.txt"),
        "openapi": ("GET", "/openapi.json"),
        "metrics": ("GET", "/metrics"),
        "ui-run-page": ("GET", f"/runs/{w.run_id}"),
        "semicolon-path-param": (
            "GET",
            f"/api/2.0/mlflow/experiments/get;x=1?experiment_id={w.experiment_id}",
        ),
    }


SPELLINGS = (
    "plain",
    "double-slash-start",
    "double-slash-middle",
    "trailing-slash",
    "upper-case",
    "ajax-twin",
    "encoded-slash",
    "dot-segment",
    "dotdot-segment",
    "encoded-dot-segment",
    "health-prefix-climb",
    "static-prefix-climb",
    "static-encoded-climb",
    "head-method",
    "options-method",
    "artifact-proxy",
    "get-artifact",
    "openapi",
    "metrics",
    "ui-run-page",
    "semicolon-path-param",
)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_no_spelling_of_a_protected_route_answers_without_credentials(target: Target, spelling: str) -> None:
    method, path = _spellings(target)[spelling]
    with target.unchanged():
        answer = target.request(method, path, who=None)
    assert answer.status in (401, 404, 405, 303), (answer.status, answer.text)
    assert target.world.experiment_id not in answer.text or answer.status != 200
    assert b"hello" not in answer.body and b"team-exp" not in answer.body
    if answer.status == 401 and method != "HEAD":
        assert answer.json()["error_code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("spelling", [s for s in SPELLINGS if s not in ("openapi",)])
def test_no_spelling_of_a_protected_route_answers_a_user_without_grants(
    target: Target, spelling: str
) -> None:
    method, path = _spellings(target)[spelling]
    with target.unchanged():
        answer = target.request(method, path, who="nobody")
    if answer.status == 307:
        # Starlette's slash redirect: it names the canonical route, which then refuses.
        assert answer.body == b"" and "/api/2.0/mlflow/experiments/get?" in answer.headers["location"]
        answer = target.request(method, path.replace("get/?", "get?"), who="nobody")
    assert answer.status in (403, 404, 405), (answer.status, answer.text)
    assert b"hello" not in answer.body and b"team-exp" not in answer.body
    if answer.status == 403 and method != "HEAD" and not path.startswith("/runs/"):
        assert answer.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("{eid}%2F{run}/artifacts/a.txt", id="encoded-slash-after-experiment"),
        pytest.param("./{eid}/{run}/artifacts/a.txt", id="dot-before-experiment"),
        pytest.param("%2e/{eid}/{run}/artifacts/a.txt", id="encoded-dot-before-experiment"),
        pytest.param("0/../{eid}/{run}/artifacts/a.txt", id="other-experiment-then-climb"),
        pytest.param("0/%2e%2e/{eid}/{run}/artifacts/a.txt", id="other-experiment-encoded-climb"),
        pytest.param("0%2F..%2F{eid}/{run}/artifacts/a.txt", id="other-experiment-encoded-slashes"),
        pytest.param("{eid}.0/{run}/artifacts/a.txt", id="experiment-id-with-suffix"),
        pytest.param("+{eid}/{run}/artifacts/a.txt", id="experiment-id-with-sign"),
        pytest.param("0{eid}/{run}/artifacts/a.txt", id="experiment-id-leading-zero"),
    ],
)
def test_artifact_path_parameter_cannot_name_one_experiment_and_touch_another(
    target: Target, path: str
) -> None:
    """A user with a grant only on the Default experiment (0) tries to reach team-exp's files."""
    w = target.world
    target.services.authz.grant("experiment", "0", "user", "outsider", "manager", actor=None)
    filled = path.format(eid=w.experiment_id, run=w.run_id)
    for method, body in (("GET", None), ("PUT", b"overwritten"), ("DELETE", None)):
        with target.unchanged():
            answer = target.request(
                method, f"/api/2.0/mlflow-artifacts/artifacts/{filled}", who="outsider", body=body
            )
        assert answer.status in (400, 403, 404), (method, answer.status, answer.text)
        assert answer.json()["error_code"] in (
            "PERMISSION_DENIED",
            "INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST",
        )
        assert b"hello" not in answer.body


@pytest.fixture(scope="module", autouse=True)
def outsider(target: Target) -> None:
    target.services.auth.create_user("outsider", PASSWORD)


def _escalations(t: Target) -> dict[str, tuple[str, str, str, dict[str, Any] | None]]:
    w = t.world
    eid, run, model = w.experiment_id, w.run_id, w.model_name
    return {
        "viewer-logs-metric": (
            "viewer",
            "POST",
            "/api/2.0/mlflow/runs/log-metric",
            {"run_id": run, "key": "x", "value": 1, "timestamp": 1},
        ),
        "viewer-sets-run-tag": (
            "viewer",
            "POST",
            "/api/2.0/mlflow/runs/set-tag",
            {"run_id": run, "key": "k", "value": "v"},
        ),
        "viewer-renames-experiment": (
            "viewer",
            "POST",
            "/api/2.0/mlflow/experiments/update",
            {"experiment_id": eid, "new_name": "pwned"},
        ),
        "viewer-creates-run": ("viewer", "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": eid}),
        "viewer-uploads-artifact": (
            "viewer",
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run}/artifacts/a.txt",
            None,
        ),
        "viewer-creates-version": (
            "viewer",
            "POST",
            "/api/2.0/mlflow/model-versions/create",
            {"name": model, "source": f"runs:/{run}/model", "run_id": run},
        ),
        "viewer-edits-model": (
            "viewer",
            "PATCH",
            "/api/2.0/mlflow/registered-models/update",
            {"name": model, "description": "pwned"},
        ),
        "editor-deletes-run": ("editor", "POST", "/api/2.0/mlflow/runs/delete", {"run_id": run}),
        "editor-deletes-experiment": (
            "editor",
            "POST",
            "/api/2.0/mlflow/experiments/delete",
            {"experiment_id": eid},
        ),
        "editor-deletes-artifact": (
            "editor",
            "DELETE",
            f"/api/2.0/mlflow-artifacts/artifacts/{eid}/{run}/artifacts/a.txt",
            None,
        ),
        "editor-grants-on-experiment": (
            "editor",
            "POST",
            "/api/2.0/ledgerflow/grants/create",
            {
                "resource_type": "experiment",
                "resource": eid,
                "principal_type": "user",
                "principal": "nobody",
                "role": "manager",
            },
        ),
        "editor-grants-via-mlflow-api": (
            "editor",
            "POST",
            "/api/2.0/mlflow/experiments/permissions/create",
            {"experiment_id": eid, "username": "nobody", "permission": "MANAGE"},
        ),
        "editor-sets-production-alias": (
            "editor",
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": model, "alias": "production", "version": "1"},
        ),
        "editor-sets-alias-case-trick": (
            "editor",
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": model, "alias": "Production", "version": "1"},
        ),
        "editor-moves-to-production": (
            "editor",
            "POST",
            "/api/2.0/mlflow/model-versions/transition-stage",
            {"name": model, "version": "1", "stage": "Production"},
        ),
        "editor-moves-to-production-lowercase": (
            "editor",
            "POST",
            "/api/2.0/mlflow/model-versions/transition-stage",
            {"name": model, "version": "1", "stage": "production"},
        ),
        "editor-renames-model": (
            "editor",
            "POST",
            "/api/2.0/mlflow/registered-models/rename",
            {"name": model, "new_name": "stolen"},
        ),
        "manager-makes-self-admin": (
            "manager",
            "PATCH",
            "/api/2.0/mlflow/users/update-admin",
            {"username": "manager", "is_admin": True},
        ),
        "manager-creates-user": (
            "manager",
            "POST",
            "/api/2.0/ledgerflow/users/create",
            {"username": "sneaky", "password": PASSWORD, "is_admin": True},
        ),
        "promoter-edits-model": (
            "promoter",
            "PATCH",
            "/api/2.0/mlflow/registered-models/update",
            {"name": model, "description": "pwned"},
        ),
        "viewer-sets-champion-alias": (
            "viewer",
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": model, "alias": "champion", "version": "1"},
        ),
        "manager-grants-on-unmanaged": (
            "manager",
            "POST",
            "/api/2.0/ledgerflow/grants/create",
            {
                "resource_type": "experiment",
                "resource": "0",
                "principal_type": "user",
                "principal": "manager",
                "role": "manager",
            },
        ),
        "user-creates-webhook": (
            "manager",
            "POST",
            "/api/2.0/mlflow/webhooks",
            {
                "name": "h",
                "url": "https://8.8.8.8/",
                "events": [{"entity": "registered_model", "action": "created"}],
            },
        ),
        "user-reads-audit": ("editor", "GET", "/api/2.0/ledgerflow/audit/records", None),
        "user-lists-users": ("editor", "GET", "/api/2.0/ledgerflow/users/list", None),
        "user-disables-admin": ("manager", "POST", "/api/2.0/ledgerflow/users/disable", {"username": ADMIN}),
        "user-deletes-admin-mlflow-api": (
            "manager",
            "DELETE",
            "/api/2.0/mlflow/users/delete",
            {"username": ADMIN},
        ),
        "user-changes-admin-password": (
            "manager",
            "PATCH",
            "/api/2.0/mlflow/users/update-password",
            {"username": ADMIN, "password": "Another-Strong-Pass-1"},
        ),
        "user-creates-group": ("manager", "POST", "/api/2.0/ledgerflow/groups/create", {"name": "admins2"}),
        "user-joins-group": (
            "manager",
            "POST",
            "/api/2.0/ledgerflow/groups/members/add",
            {"group": "all", "username": "manager"},
        ),
        "user-makes-token-for-admin": (
            "manager",
            "POST",
            "/api/2.0/ledgerflow/tokens/create",
            {"name": "x", "scopes": ["admin"], "username": ADMIN},
        ),
        "user-overrides-scan": (
            "manager",
            "POST",
            "/api/2.0/ledgerflow/model-versions/scan/override",
            {"name": model, "version": "1", "reason": "x"},
        ),
        "user-break-glass": (
            "promoter",
            "POST",
            "/api/2.0/ledgerflow/promotions/break-glass",
            {"name": model, "version": "1", "alias": "production", "reason": "x"},
        ),
        "nobody-reads-run": ("nobody", "GET", f"/api/2.0/mlflow/runs/get?run_id={run}", None),
        "nobody-reads-model": ("nobody", "GET", f"/api/2.0/mlflow/registered-models/get?name={model}", None),
    }


ESCALATIONS = tuple(
    [
        "viewer-logs-metric",
        "viewer-sets-run-tag",
        "viewer-renames-experiment",
        "viewer-creates-run",
        "viewer-uploads-artifact",
        "viewer-creates-version",
        "viewer-edits-model",
        "editor-deletes-run",
        "editor-deletes-experiment",
        "editor-deletes-artifact",
        "editor-grants-on-experiment",
        "editor-grants-via-mlflow-api",
        "editor-sets-production-alias",
        "editor-sets-alias-case-trick",
        "editor-moves-to-production",
        "editor-moves-to-production-lowercase",
        "editor-renames-model",
        "manager-makes-self-admin",
        "manager-creates-user",
        "promoter-edits-model",
        "viewer-sets-champion-alias",
        "manager-grants-on-unmanaged",
        "user-creates-webhook",
        "user-reads-audit",
        "user-lists-users",
        "user-disables-admin",
        "user-deletes-admin-mlflow-api",
        "user-changes-admin-password",
        "user-creates-group",
        "user-joins-group",
        "user-makes-token-for-admin",
        "user-overrides-scan",
        "user-break-glass",
        "nobody-reads-run",
        "nobody-reads-model",
    ]
)


@pytest.mark.parametrize("case", ESCALATIONS)
def test_privilege_escalation_is_refused(target: Target, case: str) -> None:
    who, method, path, body = _escalations(target)[case]
    raw = b"overwritten" if method == "PUT" else None
    with target.unchanged():
        answer = target.request(method, path, who=who, body=body if body is not None else raw)
        refused(answer, 403, "PERMISSION_DENIED")
    # The user can still sign in; nothing about them changed either.
    assert target.request("GET", "/api/2.0/ledgerflow/users/current", who=who).status == 200


def _token(t: Target, who: str, scopes: list[str]) -> dict[str, Any]:
    made = t.request(
        "POST", "/api/2.0/ledgerflow/tokens/create", who=who, body={"name": "t", "scopes": scopes}
    )
    assert made.status == 200, made.text
    found: dict[str, Any] = made.json()
    return found


def _write(t: Target) -> tuple[str, str, dict[str, Any]]:
    return "POST", "/api/2.0/mlflow/runs/set-tag", {"run_id": t.world.run_id, "key": "tok", "value": "v"}


@pytest.mark.parametrize("who", ["editor", ADMIN])
def test_read_scoped_token_cannot_write(target: Target, who: str) -> None:
    secret = _token(target, who, ["read"])["secret"]
    method, path, body = _write(target)
    with target.unchanged():
        refused(
            target.request(method, path, who=None, body=body, headers=_bearer(secret)),
            403,
            "PERMISSION_DENIED",
        )
        refused(
            target.request(
                "POST",
                "/api/2.0/ledgerflow/tokens/create",
                who=None,
                body={"name": "up", "scopes": ["write"]},
                headers=_bearer(secret),
            ),
            403,
            "PERMISSION_DENIED",
        )


def test_write_scoped_admin_token_cannot_administer(target: Target) -> None:
    secret = _token(target, ADMIN, ["write"])["secret"]
    with target.unchanged():
        refused(
            target.request(
                "POST",
                "/api/2.0/ledgerflow/users/create",
                who=None,
                body={"username": "via-token", "password": PASSWORD},
                headers=_bearer(secret),
            ),
            403,
            "PERMISSION_DENIED",
        )


def test_revoked_token_is_refused(target: Target) -> None:
    made = _token(target, "editor", ["read", "write"])
    revoked = target.request(
        "POST",
        "/api/2.0/ledgerflow/tokens/revoke",
        who="editor",
        body={"token_id": made["token"]["token_id"]},
    )
    assert revoked.status == 200, revoked.text
    method, path, body = _write(target)
    with target.unchanged():
        refused(
            target.request(method, path, who=None, body=body, headers=_bearer(made["secret"])),
            401,
            "UNAUTHENTICATED",
        )


def test_expired_token_is_refused(target: Target) -> None:
    made = _token(target, "editor", ["read", "write"])
    with target.services.db.write() as conn:
        conn.execute(
            sa.update(schema.api_tokens)
            .where(schema.api_tokens.c.token_id == made["token"]["token_id"])
            .values(expiration_time=int(time.time() * 1000) - 1000)
        )
    method, path, body = _write(target)
    with target.unchanged():
        refused(
            target.request(method, path, who=None, body=body, headers=_bearer(made["secret"])),
            401,
            "UNAUTHENTICATED",
        )


def test_user_cannot_revoke_another_users_token(target: Target) -> None:
    made = _token(target, "viewer", ["read"])
    with target.unchanged():
        answer = target.request(
            "POST",
            "/api/2.0/ledgerflow/tokens/revoke",
            who="editor",
            body={"token_id": made["token"]["token_id"]},
        )
        assert answer.status in (403, 404), answer.text
        assert answer.json()["error_code"] in ("PERMISSION_DENIED", "RESOURCE_DOES_NOT_EXIST")
    reads = target.request(
        "GET", f"/api/2.0/mlflow/{_get_exp(target)}", who=None, headers=_bearer(made["secret"])
    )
    assert reads.status == 200


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
        pytest.param({"Authorization": "Bearer lf_forged_0000000000000000"}, id="forged-bearer"),
        pytest.param({"Authorization": "Basic Og=="}, id="empty-basic"),
        pytest.param({"Authorization": "Basic !!!notbase64"}, id="garbage-basic"),
        pytest.param({"X-Forwarded-User": ADMIN, "X-Remote-User": ADMIN}, id="identity-headers"),
        pytest.param({"Authorization": f"Basic {basic(ADMIN)['Authorization'][6:]}x"}, id="tampered-basic"),
    ],
)
def test_forged_credentials_are_unauthenticated(target: Target, header: dict[str, str]) -> None:
    method, path, body = _write(target)
    with target.unchanged():
        refused(target.request(method, path, who=None, body=body, headers=header), 401, "UNAUTHENTICATED")


def test_disabled_user_is_refused(target: Target) -> None:
    target.services.auth.create_user("leaver", PASSWORD)
    target.services.authz.grant(
        "experiment", target.world.experiment_id, "user", "leaver", "editor", actor=None
    )
    secret = _token(target, "leaver", ["read", "write"])["secret"]
    assert (
        target.request("POST", "/api/2.0/ledgerflow/users/disable", body={"username": "leaver"}).status == 200
    )
    method, path, body = _write(target)
    with target.unchanged():
        refused(target.request(method, path, who="leaver", body=body), 401, "UNAUTHENTICATED")
        refused(
            target.request(method, path, who=None, body=body, headers=_bearer(secret)), 401, "UNAUTHENTICATED"
        )


CROSS_TENANT_SOURCES = {
    "runs-uri": ("runs:/{run}/", False),
    "proxy-uri": ("mlflow-artifacts:/{eid}/{run}/artifacts", False),
    "proxy-uri-with-run-id": ("mlflow-artifacts:/{eid}/{run}/artifacts", True),
    "logged-model": ("models:/{lm}", False),
    "proxy-dot-segments": ("mlflow-artifacts:/./{eid}/{run}/artifacts", False),
    "proxy-double-slash": ("mlflow-artifacts:/{eid}//{run}/artifacts", False),
    "proxy-empty-authority": ("mlflow-artifacts:///{eid}/{run}", False),
    "proxy-leading-zero-id": ("mlflow-artifacts:/0{eid}/{run}/artifacts", False),
    "proxy-encoded-slash": ("mlflow-artifacts:/{eid}%2F{run}", False),
    "experiment-root": ("mlflow-artifacts:/{eid}", False),
}


@pytest.fixture(scope="module")
def own_model(target: Target, outsider: None) -> str:
    """A registered model the outsider created (so manages), with no access to team-exp."""
    made = target.request(
        "POST", "/api/2.0/mlflow/registered-models/create", who="outsider", body={"name": "outsider-model"}
    )
    assert made.status == 200, made.text
    return "outsider-model"


@pytest.mark.parametrize("case", list(CROSS_TENANT_SOURCES))
def test_version_source_in_an_unreadable_experiment_is_refused(
    target: Target, own_model: str, case: str
) -> None:
    """Registering another team's run as a version of one's own model would expose its files
    through the model's download routes (CVE-2026-2734's class: a registry side door)."""
    w = target.world
    template, with_run = CROSS_TENANT_SOURCES[case]
    body: dict[str, Any] = {
        "name": own_model,
        "source": template.format(eid=w.experiment_id, run=w.run_id, lm=w.logged_model_id),
    }
    if with_run:
        body["run_id"] = w.run_id
    with target.unchanged():
        refused(
            target.request("POST", "/api/2.0/mlflow/model-versions/create", who="outsider", body=body),
            403,
            "PERMISSION_DENIED",
        )
