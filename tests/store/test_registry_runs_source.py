"""``runs:/<run>/<name>`` model-version sources naming a logged model, on every backend: the
version's files are the logged model's (MLflow 3 keeps them there, not in the run), found by
the model's source run or by the run's output links, the newest output first; deleted models
and other names fall back to the run's artifact path."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.store.registry_support import create_model, create_version, make_run, ok


def _logged(api: Api, name: str, run_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"experiment_id": "0", "name": name}
    if run_id is not None:
        body["source_run_id"] = run_id
    return dict(api.ok("post", "logged-models", body)["model"]["info"])


def _files(api: Api, name: str, source: str) -> str:
    version = create_version(api, name, source)
    found = ok(api, "GET", "model-versions/get-download-uri", {"name": name, "version": version["version"]})
    return str(found["artifact_uri"])


def test_runs_source_resolves_to_the_logged_model_of_that_name(api: Api) -> None:
    run = make_run(api)
    model = _logged(api, "model", run["run_id"])
    _logged(api, "other", run["run_id"])
    create_model(api, "m")
    assert _files(api, "m", f"runs:/{run['run_id']}/model") == model["artifact_uri"]
    # No logged model of that name: the run's own artifact path, as before.
    assert _files(api, "m", f"runs:/{run['run_id']}/packaged") == f"{run['artifact_uri']}/packaged"


def test_an_output_link_counts_and_the_largest_step_wins(api: Api) -> None:
    run, elsewhere = make_run(api), make_run(api)
    early = _logged(api, "model", None)
    late = _logged(api, "model", elsewhere["run_id"])
    outputs = [{"model_id": early["model_id"], "step": 1}, {"model_id": late["model_id"], "step": 5}]
    ok(api, "POST", "runs/outputs", {"run_id": run["run_id"], "models": outputs})
    create_model(api, "m")
    assert _files(api, "m", f"runs:/{run['run_id']}/model") == late["artifact_uri"]


def test_a_deleted_logged_model_is_not_used(api: Api) -> None:
    run = make_run(api)
    model = _logged(api, "model", run["run_id"])
    deleted = api.client.delete(f"/api/2.0/mlflow/logged-models/{model['model_id']}")
    assert deleted.status_code == 200, deleted.text
    create_model(api, "m")
    assert _files(api, "m", f"runs:/{run['run_id']}/model") == f"{run['artifact_uri']}/model"
