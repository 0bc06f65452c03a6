"""The run page's "Logged models" section: the MLflow 3 models a run produced (by source run or
``runs/outputs`` link), their status and creation time, the registry versions made from them,
and a browser for their files. Seeded through the REST API and through the real MLflow 3 client."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.ui.conftest import Seeder

pytestmark = pytest.mark.browser

MLFLOW3_PYTHON = Path(__file__).resolve().parents[2] / ".venvs" / "mlflow3" / "bin" / "python"


def logged_model(seed: Seeder, experiment_id: str, name: str, run_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"experiment_id": experiment_id, "name": name, "model_type": "sklearn"}
    if run_id is not None:
        body["source_run_id"] = run_id
    info: dict[str, Any] = seed.post("logged-models", body)["model"]["info"]
    return info


def put_model_file(seed: Seeder, info: dict[str, Any], path: str, data: bytes) -> None:
    prefix = "mlflow-artifacts:/"
    assert info["artifact_uri"].startswith(prefix), info["artifact_uri"]
    location = info["artifact_uri"][len(prefix) :]
    response = seed.http.put(f"/api/2.0/mlflow-artifacts/artifacts/{location}/{path}", content=data)
    assert response.status_code == 200, response.text


def finalize(seed: Seeder, model_id: str) -> None:
    response = seed.http.patch(
        f"/api/2.0/mlflow/logged-models/{model_id}",
        json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
    )
    assert response.status_code == 200, response.text


def model_rows(page: Page) -> list[str]:
    return [str(r.get_attribute("data-model-id")) for r in page.locator("#logged-models tbody tr").all()]


def test_run_page_lists_the_runs_logged_models_with_registrations(
    page: Page, live_server: LiveServer, seed: Seeder, tmp_path: Path
) -> None:
    eid = seed.experiment("logged-models")
    run_id = seed.run(eid, "trainer")
    other_run = seed.run(eid, "someone-else")
    ready = logged_model(seed, eid, "model", run_id)
    put_model_file(seed, ready, "MLmodel", b"flavors:\n  sklearn: {}\n")
    put_model_file(seed, ready, "model.pkl", b"\x80\x04not really a pickle")
    finalize(seed, ready["model_id"])
    pending = logged_model(seed, eid, "half-done", run_id)
    # A model from no source run, linked to the run as an output (runs/outputs), is listed too.
    linked = logged_model(seed, eid, "linked", None)
    seed.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": linked["model_id"], "step": 3}]})
    # Another run's model and a deleted model of this run are not.
    foreign = logged_model(seed, eid, "foreign", other_run)
    deleted = logged_model(seed, eid, "deleted", run_id)
    assert seed.http.delete(f"/api/2.0/mlflow/logged-models/{deleted['model_id']}").status_code == 200
    # Two registry versions of the ready model, one of another model name.
    seed.post("registered-models/create", {"name": "churn"})
    seed.post("registered-models/create", {"name": "churn-shadow"})
    for name in ("churn", "churn", "churn-shadow"):
        seed.post(
            "model-versions/create",
            {
                "name": name,
                "source": f"models:/{ready['model_id']}",
                "model_id": ready["model_id"],
                "run_id": run_id,
            },
        )

    page.goto(f"{live_server.url}/runs/{run_id}")
    section = page.locator("#logged-models")
    expect(section.locator("h2 .count")).to_have_text("3")
    rows = model_rows(page)
    assert sorted(rows) == sorted([ready["model_id"], pending["model_id"], linked["model_id"]])
    assert foreign["model_id"] not in rows and deleted["model_id"] not in rows

    ready_row = section.locator(f'tr[data-model-id="{ready["model_id"]}"]')
    expect(ready_row.locator("td.model-name")).to_contain_text("model")
    expect(ready_row.locator("td.model-id")).to_have_text(ready["model_id"])
    expect(ready_row.locator(".model-status")).to_have_text("ready")
    expect(section.locator(f'tr[data-model-id="{pending["model_id"]}"] .model-status')).to_have_text(
        "pending"
    )
    registrations = ready_row.locator("a.registration")
    assert registrations.all_inner_texts() == ["churn v1", "churn v2", "churn-shadow v1"]
    assert registrations.first.get_attribute("href") == "/models/churn/versions/1"
    expect(section.locator(f'tr[data-model-id="{linked["model_id"]}"] td.registrations')).to_have_text("—")
    page.screenshot(path=str(tmp_path / "logged-models.png"), full_page=True)

    # Browse the model's files from the run page, preview one, download another, and go back.
    ready_row.locator("a.browse-model").click()
    artifacts = page.locator("#artifacts")
    expect(artifacts.locator("h2")).to_contain_text(ready["model_id"])
    expect(artifacts.locator('li.file[data-path="model.pkl"]')).to_be_visible()
    artifacts.locator('li.file[data-path="MLmodel"] a.preview-link').click()
    expect(page.locator("#preview-text")).to_contain_text("sklearn")
    page.screenshot(path=str(tmp_path / "logged-model-files.png"), full_page=True)
    href = str(artifacts.locator('li.file[data-path="model.pkl"] a.download-link').get_attribute("href"))
    download = seed.http.get(href)
    assert download.status_code == 200 and download.content == b"\x80\x04not really a pickle"
    page.locator("#run-artifacts").click()
    expect(page.locator("#artifacts h2")).to_have_text("Artifacts")

    # A model that is not the run's own cannot be browsed (or downloaded) through its page.
    wrong = seed.http.get(f"/runs/{run_id}?model={foreign['model_id']}", headers={"accept": "text/html"})
    assert wrong.status_code == 404 and "not found" in wrong.text
    stolen = seed.http.get(
        f"/runs/{run_id}/artifact", params={"model": foreign["model_id"], "path": "MLmodel"}
    )
    assert stolen.status_code == 404


def test_a_run_without_models_says_so(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    eid = seed.experiment("no-models")
    run_id = seed.run(eid, "plain")
    page.goto(f"{live_server.url}/runs/{run_id}")
    expect(page.locator("#logged-models")).to_contain_text("No logged models.")


MLFLOW3_SCRIPT = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.linear_model import LinearRegression
mlflow.set_experiment("mlflow3-ui")
with mlflow.start_run(run_name="sk") as run:
    fitted = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    plain = mlflow.sklearn.log_model(fitted, name="model")
    registered = mlflow.sklearn.log_model(fitted, name="reg", registered_model_name="sk-registered")
print("RESULT " + json.dumps({"run_id": run.info.run_id, "plain": plain.model_id, "registered": registered.model_id}))
"""


@pytest.mark.skipif(
    not MLFLOW3_PYTHON.exists(), reason="the MLflow 3 client venv (.venvs/mlflow3) is not built"
)
def test_models_logged_by_the_mlflow3_client_show_on_the_run_page(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": live_server.url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    }
    done = subprocess.run(
        [str(MLFLOW3_PYTHON), "-c", MLFLOW3_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))

    page.goto(f"{live_server.url}/runs/{result['run_id']}")
    section = page.locator("#logged-models")
    assert sorted(model_rows(page)) == sorted([result["plain"], result["registered"]])
    for model_id in (result["plain"], result["registered"]):
        expect(section.locator(f'tr[data-model-id="{model_id}"] .model-status')).to_have_text("ready")
    expect(section.locator(f'tr[data-model-id="{result["registered"]}"] a.registration')).to_have_text(
        "sk-registered v1"
    )
    expect(section.locator(f'tr[data-model-id="{result["plain"]}"] td.registrations')).to_have_text("—")
    section.locator(f'tr[data-model-id="{result["plain"]}"] a.browse-model').click()
    expect(page.locator('#artifacts li.file[data-path="MLmodel"]')).to_be_visible()
    page.screenshot(path=str(tmp_path / "mlflow3-models.png"), full_page=True)
