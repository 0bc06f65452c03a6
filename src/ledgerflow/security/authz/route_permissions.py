"""The one declared table from route to required permission.

Every route the app serves has an entry here; a route without one is refused (default deny),
and tests/authz/test_route_table.py fails when any route of the app is missing. REST entries
are keyed by the endpoint path below ``/api`` (the ``/ajax-api`` twin shares the entry); other
routes by their full path template. HEAD is served under GET's entry.

Access kinds:

* ``public``: anyone, even without credentials (only what the auth middleware exempts).
* ``authenticated``: any signed-in caller; the handler itself limits what it shows or changes
  to the caller (their own tokens, their own identity).
* ``filtered``: any signed-in caller; a search or list whose SQL is restricted to what the caller
  may read, so counts and page tokens say nothing about the rest.
* ``admin``: administrators only.
* ``resource``: ``permission`` on the experiment or registered model the request names, found by
  ``locate`` from ``fields`` (payload, query string or path parameters, first present wins, in
  the same order the handler reads them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerflow.security.authz.permissions import (
    EDIT,
    EVALUATE,
    EXPERIMENT,
    MANAGE,
    READ,
    REGISTERED_MODEL,
)

PUBLIC = "public"
AUTHENTICATED = "authenticated"
FILTERED = "filtered"
ADMIN = "admin"
RESOURCE = "resource"

# Locators: how the resource is found from the request.
EXPERIMENT_ID = "experiment_id"  # an experiment id field (a JSON number or a string of digits)
EXPERIMENT_NAME = "experiment_name"
RUN = "run"  # a run id -> its experiment
LOGGED_MODEL = "logged_model"  # a logged model id -> its experiment
MODEL_NAME = "model_name"  # a registered model name -> the model
ARTIFACT_PATH = "artifact_path"  # proxy path "<experiment id>/..." -> that experiment
MODEL_SOURCE = "model_source"  # a new version's run / source must be readable as well


@dataclass(frozen=True)
class Requirement:
    access: str
    permission: str | None = None
    locate: str | None = None
    fields: tuple[str, ...] = ()
    # Raise the permission to ``promote`` when the request promotes (protected alias, Production).
    promotion: bool = False
    # The resource type the request creates; its creator is made its manager.
    creates: str | None = None
    # Fields only an admin may set (e.g. an experiment's artifact location, which could point
    # into another experiment's artifact directory).
    admin_fields: tuple[str, ...] = ()

    @property
    def resource_type(self) -> str | None:
        if self.locate in (MODEL_NAME, MODEL_SOURCE):
            return REGISTERED_MODEL
        if self.locate is not None:
            return EXPERIMENT
        return None


def _public() -> Requirement:
    return Requirement(PUBLIC)


def _signed_in() -> Requirement:
    return Requirement(AUTHENTICATED)


def _filtered() -> Requirement:
    return Requirement(FILTERED)


def _admin() -> Requirement:
    return Requirement(ADMIN)


def _experiment(permission: str, *fields: str) -> Requirement:
    return Requirement(RESOURCE, permission, EXPERIMENT_ID, fields or ("experiment_id",))


def _run(permission: str, *fields: str) -> Requirement:
    return Requirement(RESOURCE, permission, RUN, fields or ("run_id", "run_uuid"))


def _logged_model(permission: str) -> Requirement:
    return Requirement(RESOURCE, permission, LOGGED_MODEL, ("model_id",))


def _model(permission: str, *, promotion: bool = False) -> Requirement:
    return Requirement(RESOURCE, permission, MODEL_NAME, ("name",), promotion=promotion)


def _artifact(permission: str) -> Requirement:
    return Requirement(RESOURCE, permission, ARTIFACT_PATH, ("path",))


_MLFLOW = "/2.0/mlflow"
_EXP = f"{_MLFLOW}/experiments"
_RUNS = f"{_MLFLOW}/runs"
_LM = f"{_MLFLOW}/logged-models"
_RM = f"{_MLFLOW}/registered-models"
_MV = f"{_MLFLOW}/model-versions"
_HOOKS = f"{_MLFLOW}/webhooks"
_LF = "/2.0/ledgerflow"

# REST endpoints (paths below /api and /ajax-api).
REST: dict[tuple[str, str], Requirement] = {
    ("POST", f"{_EXP}/create"): Requirement(
        AUTHENTICATED, creates=EXPERIMENT, admin_fields=("artifact_location",)
    ),
    ("POST", f"{_EXP}/search"): _filtered(),
    ("GET", f"{_EXP}/search"): _filtered(),
    ("GET", f"{_EXP}/get"): _experiment(READ),
    ("GET", f"{_EXP}/get-by-name"): Requirement(RESOURCE, READ, EXPERIMENT_NAME, ("experiment_name",)),
    ("POST", f"{_EXP}/delete"): _experiment(MANAGE),
    ("POST", f"{_EXP}/restore"): _experiment(MANAGE),
    ("POST", f"{_EXP}/update"): _experiment(EDIT),
    ("POST", f"{_EXP}/set-experiment-tag"): _experiment(EDIT),
    ("POST", f"{_EXP}/delete-experiment-tag"): _experiment(EDIT),
    ("POST", f"{_EXP}/search-datasets"): _filtered(),
    ("POST", f"{_RUNS}/create"): _experiment(EDIT),
    ("GET", f"{_RUNS}/get"): _run(READ),
    ("POST", f"{_RUNS}/update"): _run(EDIT),
    ("POST", f"{_RUNS}/delete"): _run(MANAGE),
    ("POST", f"{_RUNS}/restore"): _run(MANAGE),
    ("POST", f"{_RUNS}/log-metric"): _run(EDIT),
    ("POST", f"{_RUNS}/log-parameter"): _run(EDIT),
    ("POST", f"{_RUNS}/set-tag"): _run(EDIT),
    ("POST", f"{_RUNS}/delete-tag"): _run(EDIT),
    ("POST", f"{_RUNS}/log-batch"): _run(EDIT),
    ("POST", f"{_RUNS}/log-inputs"): _run(EDIT),
    ("POST", f"{_RUNS}/outputs"): _run(EDIT),
    ("POST", f"{_RUNS}/log-model"): _run(EDIT),
    ("POST", f"{_RUNS}/search"): _filtered(),
    ("GET", f"{_MLFLOW}/metrics/get-history"): _run(READ),
    ("GET", f"{_MLFLOW}/metrics/get-history-bulk-interval"): _filtered(),
    ("GET", f"{_MLFLOW}/metrics/get-history-bulk"): _filtered(),
    ("GET", f"{_MLFLOW}/artifacts/list"): _run(READ),
    ("POST", f"{_LM}/search"): _filtered(),
    ("POST", _LM): _experiment(EDIT),
    ("GET", f"{_LM}/{{model_id}}"): _logged_model(READ),
    ("PATCH", f"{_LM}/{{model_id}}"): _logged_model(EDIT),
    ("DELETE", f"{_LM}/{{model_id}}"): _logged_model(MANAGE),
    ("PATCH", f"{_LM}/{{model_id}}/tags"): _logged_model(EDIT),
    ("DELETE", f"{_LM}/{{model_id}}/tags/{{tag_key:path}}"): _logged_model(EDIT),
    ("POST", f"{_LM}/{{model_id}}/params"): _logged_model(EDIT),
    ("GET", f"{_LM}/{{model_id}}/artifacts/directories"): _logged_model(READ),
    ("POST", f"{_RM}/create"): Requirement(AUTHENTICATED, creates=REGISTERED_MODEL),
    ("POST", f"{_RM}/rename"): _model(MANAGE),
    ("PATCH", f"{_RM}/update"): _model(EDIT),
    ("DELETE", f"{_RM}/delete"): _model(MANAGE),
    ("GET", f"{_RM}/get"): _model(READ),
    ("GET", f"{_RM}/search"): _filtered(),
    ("POST", f"{_RM}/get-latest-versions"): _model(READ),
    ("GET", f"{_RM}/get-latest-versions"): _model(READ),
    ("POST", f"{_RM}/set-tag"): _model(EDIT),
    ("DELETE", f"{_RM}/delete-tag"): _model(EDIT),
    ("POST", f"{_RM}/alias"): _model(EDIT, promotion=True),
    ("DELETE", f"{_RM}/alias"): _model(EDIT, promotion=True),
    ("GET", f"{_RM}/alias"): _model(READ),
    ("POST", f"{_MV}/create"): Requirement(RESOURCE, EDIT, MODEL_SOURCE, ("name",)),
    ("PATCH", f"{_MV}/update"): _model(EDIT),
    ("POST", f"{_MV}/transition-stage"): _model(EDIT, promotion=True),
    ("DELETE", f"{_MV}/delete"): _model(MANAGE),
    ("GET", f"{_MV}/get"): _model(READ),
    ("GET", f"{_MV}/search"): _filtered(),
    ("GET", f"{_MV}/get-download-uri"): _model(READ),
    ("POST", f"{_MV}/set-tag"): _model(EDIT),
    ("DELETE", f"{_MV}/delete-tag"): _model(EDIT),
    # Webhooks fire on every model's events and make the server dial out: admins only.
    ("POST", _HOOKS): _admin(),
    ("GET", _HOOKS): _admin(),
    ("GET", f"{_HOOKS}/{{webhook_id}}"): _admin(),
    ("PATCH", f"{_HOOKS}/{{webhook_id}}"): _admin(),
    ("DELETE", f"{_HOOKS}/{{webhook_id}}"): _admin(),
    ("POST", f"{_HOOKS}/{{webhook_id}}/test"): _admin(),
    ("GET", f"{_HOOKS}/{{webhook_id}}/deliveries"): _admin(),
    ("GET", f"{_LF}/audit/records"): _admin(),
    ("GET", f"{_LF}/registry/alias-history"): _model(READ),
    ("POST", f"{_LF}/users/create"): _admin(),
    ("GET", f"{_LF}/users/list"): _admin(),
    ("POST", f"{_LF}/users/disable"): _admin(),
    ("GET", f"{_LF}/users/current"): _signed_in(),
    ("POST", f"{_LF}/tokens/create"): _signed_in(),
    ("GET", f"{_LF}/tokens/list"): _signed_in(),
    ("POST", f"{_LF}/tokens/revoke"): _signed_in(),
    ("POST", f"{_LF}/groups/create"): _admin(),
    ("GET", f"{_LF}/groups/list"): _admin(),
    ("POST", f"{_LF}/groups/delete"): _admin(),
    ("POST", f"{_LF}/groups/members/add"): _admin(),
    ("POST", f"{_LF}/groups/members/remove"): _admin(),
    # Grants on one resource are for its managers; the handler checks manage on the resource
    # named in the body (and admin for a listing of everything).
    ("POST", f"{_LF}/grants/create"): _signed_in(),
    ("GET", f"{_LF}/grants/list"): _signed_in(),
    ("POST", f"{_LF}/grants/delete"): _signed_in(),
    # MLflow's basic-auth API (server/routes/mlflow_auth.py). Users: admins, except that a user
    # reads their own record and changes their own password (the handler checks who). Grants:
    # the resource's managers, as MLflow allows.
    ("POST", f"{_MLFLOW}/users/create"): _admin(),
    ("GET", f"{_MLFLOW}/users/get"): _signed_in(),
    ("PATCH", f"{_MLFLOW}/users/update-password"): _signed_in(),
    ("PATCH", f"{_MLFLOW}/users/update-admin"): _admin(),
    ("DELETE", f"{_MLFLOW}/users/delete"): _admin(),
    ("POST", f"{_EXP}/permissions/create"): _experiment(MANAGE),
    ("GET", f"{_EXP}/permissions/get"): _experiment(MANAGE),
    ("PATCH", f"{_EXP}/permissions/update"): _experiment(MANAGE),
    ("DELETE", f"{_EXP}/permissions/delete"): _experiment(MANAGE),
    ("POST", f"{_RM}/permissions/create"): _model(MANAGE),
    ("GET", f"{_RM}/permissions/get"): _model(MANAGE),
    ("PATCH", f"{_RM}/permissions/update"): _model(MANAGE),
    ("DELETE", f"{_RM}/permissions/delete"): _model(MANAGE),
    # Evaluations and drift monitoring of a model version (routes/monitoring.py). The gates
    # trust evaluation results, so only evaluators (granted by admins) and admins record them.
    ("POST", f"{_LF}/evaluations/create"): _model(EVALUATE),
    ("GET", f"{_LF}/evaluations/list"): _model(READ),
    ("POST", f"{_LF}/monitoring/reference/set"): _model(EDIT),
    ("GET", f"{_LF}/monitoring/reference/get"): _model(READ),
    ("POST", f"{_LF}/monitoring/log-batch"): _model(EDIT),
    ("GET", f"{_LF}/monitoring/windows"): _model(READ),
    # Signing: the trust store is changed by admins only; public keys are readable by anyone
    # signed in (clients check downloads with them). A version's signature, attestations and
    # SBOM follow the model's permissions; uploading a signature edits the version.
    ("POST", f"{_LF}/keys/create"): _admin(),
    ("GET", f"{_LF}/keys/list"): _signed_in(),
    ("GET", f"{_LF}/keys/get"): _signed_in(),
    ("POST", f"{_LF}/keys/revoke"): _admin(),
    ("POST", f"{_LF}/keys/rotate"): _admin(),
    ("POST", f"{_LF}/model-versions/signature"): _model(EDIT),
    ("GET", f"{_LF}/model-versions/signature"): _model(READ),
    ("GET", f"{_LF}/model-versions/attestations"): _model(READ),
    ("GET", f"{_LF}/model-versions/attestations/get"): _model(READ),
    ("GET", f"{_LF}/model-versions/attestations/verify"): _model(READ),
    ("GET", f"{_LF}/model-versions/sbom"): _model(READ),
    ("GET", "/3.0/mlflow/server-info"): _signed_in(),
    # Metric alert rules belong to an experiment: editors manage them, viewers list them.
    ("POST", f"{_LF}/alert-rules/create"): _experiment(EDIT),
    ("GET", f"{_LF}/alert-rules/list"): _experiment(READ),
    ("GET", f"{_LF}/alert-rules/get"): _experiment(READ),
    ("POST", f"{_LF}/alert-rules/delete"): _experiment(EDIT),
    # Where credentials were attempted, across every experiment and model: admins only.
    ("GET", f"{_LF}/secret-findings/list"): _admin(),
    # Policy as code and four-eyes promotion (governance/policy, governance/approvals). Endpoints
    # naming a request or an evaluation by id check the model's permission in the handler.
    ("GET", f"{_LF}/policies/schema"): _signed_in(),
    ("POST", f"{_LF}/policies/validate"): _signed_in(),
    ("POST", f"{_LF}/policies/create"): _admin(),
    ("GET", f"{_LF}/policies/get"): _signed_in(),
    ("GET", f"{_LF}/policies/list"): _signed_in(),
    ("POST", f"{_LF}/policies/retire"): _admin(),
    ("POST", f"{_LF}/policies/evaluate"): _model(READ),
    ("GET", f"{_LF}/policies/evaluations/get"): _signed_in(),
    ("GET", f"{_LF}/policies/evaluations/list"): _model(READ),
    ("POST", f"{_LF}/promotion-requests/create"): _model(EDIT),
    ("GET", f"{_LF}/promotion-requests/get"): _signed_in(),
    ("GET", f"{_LF}/promotion-requests/list"): _filtered(),
    ("POST", f"{_LF}/promotion-requests/approve"): _signed_in(),
    ("POST", f"{_LF}/promotion-requests/reject"): _signed_in(),
    ("POST", f"{_LF}/promotion-requests/cancel"): _signed_in(),
    ("POST", f"{_LF}/promotion-requests/promote"): _signed_in(),
    ("POST", f"{_LF}/promotions/break-glass"): _admin(),
    # Model-file scan results (governance/scanning); an override lets a blocking scan pass.
    ("GET", f"{_LF}/model-versions/scan"): _model(READ),
    ("POST", f"{_LF}/model-versions/scan/rescan"): _model(EDIT),
    ("POST", f"{_LF}/model-versions/scan/override"): _admin(),
    # Per-file scan results of logged models, run artifacts and proxy paths.
    ("GET", f"{_LF}/logged-models/scan"): _logged_model(READ),
    ("POST", f"{_LF}/logged-models/scan/override"): _admin(),
    ("GET", f"{_LF}/runs/artifacts/scan"): _run(READ),
    ("POST", f"{_LF}/runs/artifacts/scan/override"): _admin(),
    ("GET", f"{_LF}/artifacts/scan"): _artifact(READ),
    ("POST", f"{_LF}/artifacts/scan/override"): _admin(),
}

_PROXY = "/2.0/mlflow-artifacts/artifacts"

# Every other route, by full path template.
ROUTES: dict[tuple[str, str], Requirement] = {
    ("GET", "/health"): _public(),
    ("GET", "/version"): _public(),
    ("GET", "/login"): _public(),
    ("POST", "/login"): _public(),
    ("POST", "/logout"): _signed_in(),
    ("GET", "/openapi.json"): _signed_in(),
    ("GET", "/static"): _public(),
    ("GET", "/favicon.ico"): _public(),
    # Prometheus scrapes: operational and business counts of the whole server, admins only.
    ("GET", "/metrics"): _admin(),
    # The proxy root lists every experiment's directory: admins only; below it, the first path
    # component names the experiment.
    ("GET", f"/api{_PROXY}"): Requirement(RESOURCE, READ, ARTIFACT_PATH, ("path",)),
    ("GET", f"/ajax-api{_PROXY}"): Requirement(RESOURCE, READ, ARTIFACT_PATH, ("path",)),
    ("GET", f"/api{_PROXY}/{{path:path}}"): _artifact(READ),
    ("PUT", f"/api{_PROXY}/{{path:path}}"): _artifact(EDIT),
    ("DELETE", f"/api{_PROXY}/{{path:path}}"): _artifact(MANAGE),
    ("GET", f"/ajax-api{_PROXY}/{{path:path}}"): _artifact(READ),
    ("PUT", f"/ajax-api{_PROXY}/{{path:path}}"): _artifact(EDIT),
    ("DELETE", f"/ajax-api{_PROXY}/{{path:path}}"): _artifact(MANAGE),
    ("GET", "/get-artifact"): _run(READ, "run_uuid", "run_id"),
    ("GET", "/ajax-api/2.0/mlflow/get-artifact"): _run(READ, "run_uuid", "run_id"),
    ("POST", "/ajax-api/2.0/mlflow/upload-artifact"): _run(EDIT, "run_uuid", "run_id"),
    ("GET", "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files"): _logged_model(READ),
    ("GET", "/model-versions/get-artifact"): _model(READ),
    ("GET", "/ajax-api/2.0/mlflow/model-versions/get-artifact"): _model(READ),
    # UI pages.
    ("GET", "/"): _filtered(),
    ("GET", "/experiments/{experiment_id}"): _experiment(READ),
    ("GET", "/runs/{run_id}"): _run(READ, "run_id"),
    ("GET", "/runs/{run_id}/artifact"): _run(READ, "run_id"),
    ("GET", "/logged-models/{model_id}"): _logged_model(READ),
    ("GET", "/logged-models/{model_id}/artifact"): _logged_model(READ),
    ("GET", "/models"): _filtered(),
    ("GET", "/models/{name}"): _model(READ),
    ("GET", "/models/{name}/versions/{version}"): _model(READ),
    # Approve/reject forms of the governance panel; the four-eyes service checks the approver.
    ("POST", "/models/{name}/versions/{version}/promotion-requests/approve"): _model(READ),
    ("POST", "/models/{name}/versions/{version}/promotion-requests/reject"): _model(READ),
    ("GET", "/models/{name}/versions/{version}/monitoring"): _model(READ),
    ("GET", "/audit"): _admin(),
}

API_PREFIXES = ("/api", "/ajax-api")


def requirement_for(method: str, path_template: str) -> Requirement | None:
    """The declared requirement of one route, or None (the route is then refused)."""
    method = "GET" if method == "HEAD" else method
    found = ROUTES.get((method, path_template))
    if found is not None:
        return found
    for prefix in API_PREFIXES:
        if path_template.startswith(prefix + "/"):
            return REST.get((method, path_template[len(prefix) :]))
    return None


def is_rest(path_template: str) -> bool:
    """Whether a route is a REST endpoint (read like the endpoint table reads its payload)."""
    for prefix in API_PREFIXES:
        if path_template.startswith(prefix + "/"):
            below = path_template[len(prefix) :]
            return any(path == below for _, path in REST)
    return False
