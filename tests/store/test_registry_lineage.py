"""A version's run_id and model_id must name a run or logged model that exists and holds the
source (MLflow's messages), on every backend; a refused create registers nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.store.registry_support import create_model, create_version, fails, get_model, make_run, ok

MISSING_RUN = "0123456789abcdef0123456789abcdef"


def _refused(api: Api, source: str, field: str, **extra: Any) -> None:
    body = {"name": "m", "source": source, **extra}
    message = fails(api, "POST", "model-versions/create", body, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        f"Invalid model version source: '{source}'. The {field} request parameter must identify "
        "the resource that contains the source."
    )


def _nothing_registered(api: Api) -> None:
    assert "latest_versions" not in get_model(api, "m")
    assert ok(api, "GET", "model-versions/search", {"filter": "name='m'"}) == {}


def _logged_model(api: Api, run_id: str) -> dict[str, Any]:
    body = {"experiment_id": "0", "name": "model", "source_run_id": run_id}
    return dict(api.ok("post", "logged-models", body)["model"]["info"])


def test_a_runs_source_takes_only_its_own_run_id(api: Api) -> None:
    run, other = make_run(api), make_run(api)
    create_model(api, "m")
    source = f"runs:/{run['run_id']}/model"
    _refused(api, source, "run_id", run_id=other["run_id"])
    _refused(api, source, "run_id", run_id=MISSING_RUN)
    _nothing_registered(api)
    # Its own run must exist (MLflow 3.17 registers the dangling run_id).
    missing = {"name": "m", "source": f"runs:/{MISSING_RUN}/model", "run_id": MISSING_RUN}
    message = fails(api, "POST", "model-versions/create", missing, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Run with id={MISSING_RUN} not found"
    _nothing_registered(api)
    version = create_version(api, "m", source, run_id=run["run_id"])
    # The failed attempts took no version number.
    assert (version["version"], version["run_id"]) == ("1", run["run_id"])


@pytest.mark.parametrize("kind", ["proxied", "models"])
def test_a_run_id_that_names_no_run_is_refused(api: Api, kind: str) -> None:
    run = make_run(api)
    create_model(api, "m")
    if kind == "proxied":
        source = f"{run['artifact_uri']}/model"
    else:
        source = f"models:/{_logged_model(api, run['run_id'])['model_id']}"
    _refused(api, source, "run_id", run_id=MISSING_RUN)
    _nothing_registered(api)
    assert create_version(api, "m", source, run_id=run["run_id"])["run_id"] == run["run_id"]


def test_an_empty_run_id_is_not_given(api: Api) -> None:
    # The proto default, as MLflow reads it: the version has no run.
    create_model(api, "m")
    version = create_version(api, "m", "mlflow-artifacts:/0/models/m-0/artifacts", run_id="")
    assert "run_id" not in version


def test_model_id_must_be_the_logged_model_of_the_source(api: Api) -> None:
    run = make_run(api)
    first, second = _logged_model(api, run["run_id"]), _logged_model(api, run["run_id"])
    create_model(api, "m")
    source = f"models:/{first['model_id']}"
    _refused(api, source, "model_id", model_id=second["model_id"])
    _refused(api, source, "model_id", model_id="m-00000000000000000000000000000000")
    # A path or URI with a model_id must lie inside that logged model's files.
    _refused(
        api, f"{run['artifact_uri']}/model", "model_id", model_id=first["model_id"], run_id=run["run_id"]
    )
    _nothing_registered(api)
    created = create_version(api, "m", source, model_id=first["model_id"])
    inside = create_version(api, "m", f"{first['artifact_uri']}/MLmodel", model_id=first["model_id"])
    assert (created["version"], inside["version"]) == ("1", "2")
    # MLflow's 3.18 server does not echo model_id on model versions (captured); neither do we.
    assert "model_id" not in created and "model_id" not in inside
