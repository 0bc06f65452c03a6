"""Registry data for the model pages' tests, written the way a client writes it: over the
public REST API (experiment, run, params, metrics, datasets, model files through the
mlflow-artifacts proxy, a registered model, versions from ``runs:/`` sources, aliases,
stages and tags). Works with a Starlette TestClient and with an httpx client alike."""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass
from typing import Any

import httpx

API = "/api/2.0/mlflow"
# A name that needs encoding in a URL path: spaces, quotes, '?', '#', '&' and non-ASCII.
MODEL_NAME = 'Churn "gold" it\'s model? #1 & ünïcødé ✓'
XSS = "<img src=x onerror=alert(1)>"

INPUTS = [
    {"name": "tenure", "type": "double", "required": True},
    {"name": "plan type", "type": "string", "required": False},
]
OUTPUTS = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "scores"}]
PARAMS = [{"name": "threshold", "type": "double", "default": 0.5, "shape": None}]


def mlmodel(run_id: str) -> bytes:
    signature = {
        "inputs": json.dumps(INPUTS),
        "outputs": json.dumps(OUTPUTS),
        "params": json.dumps(PARAMS),
    }
    lines = [
        "artifact_path: model",
        "flavors:",
        "  python_function:",
        "    loader_module: mlflow.sklearn",
        "    python_version: 3.11.0",
        "  sklearn:",
        "    pickled_model: model.pkl",
        f"run_id: {run_id}",
        "signature:",
        *(f"  {key}: '{value}'" for key, value in signature.items()),
        "utc_time_created: '2024-05-01 10:00:00.000000'",
    ]
    return ("\n".join(lines) + "\n").encode()


# A real (and harmless: no imported globals) pickle, so the version scans clean and its files
# may be downloaded; a version whose scan blocks is never handed out.
PICKLE = pickle.dumps({"model": "bytes for the download test", "weights": [0.25, 0.5]}, protocol=4)


@dataclass
class Seeded:
    name: str
    experiment_id: str
    run_id: str
    other_run_id: str


class RegistrySeeder:
    def __init__(self, http: httpx.Client | Any) -> None:
        self.http = http

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if method == "GET":
            response = self.http.get(f"{API}/{path}", params=body or {})
        else:
            response = self.http.request(method, f"{API}/{path}", json=body or {})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def put_file(self, experiment_id: str, run_id: str, path: str, data: bytes) -> None:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path}"
        response = self.http.put(url, content=data)
        assert response.status_code == 200, response.text

    def trained_run(self, experiment_id: str, name: str, rmse: list[float]) -> str:
        start = int(time.time() * 1000) - 60_000
        run = self.call(
            "POST", "runs/create", {"experiment_id": experiment_id, "run_name": name, "start_time": start}
        )
        run_id = str(run["run"]["info"]["run_id"])
        self.call(
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": "lr", "value": "0.1"}, {"key": "max_depth", "value": "4"}],
                "metrics": [
                    {"key": "rmse", "value": v, "timestamp": start + i, "step": i} for i, v in enumerate(rmse)
                ],
            },
        )
        self.call(
            "POST",
            "runs/log-inputs",
            {
                "run_id": run_id,
                "datasets": [
                    {
                        "tags": [{"key": "mlflow.data.context", "value": "training"}],
                        "dataset": {
                            "name": "churn-train",
                            "digest": "d1g35t",
                            "source_type": "local",
                            "source": json.dumps({"uri": "/data/churn.csv"}),
                        },
                    }
                ],
            },
        )
        self.put_file(experiment_id, run_id, "model/MLmodel", mlmodel(run_id))
        self.put_file(experiment_id, run_id, "model/model.pkl", PICKLE)
        self.put_file(experiment_id, run_id, "model/extra/requirements.txt", b"scikit-learn\n")
        self.call("POST", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": start + 5000})
        return run_id

    def version(self, name: str, run_id: str, description: str = "") -> str:
        body = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id, "description": description}
        return str(self.call("POST", "model-versions/create", body)["model_version"]["version"])

    def alias(self, name: str, alias: str, version: str) -> None:
        self.call("POST", "registered-models/alias", {"name": name, "alias": alias, "version": version})

    def seed(self, name: str = MODEL_NAME, experiment: str = "registry-ui") -> Seeded:
        eid = str(self.call("POST", "experiments/create", {"name": experiment})["experiment_id"])
        first = self.trained_run(eid, "baseline", [0.9, 0.6, 0.48])
        second = self.trained_run(eid, "tuned", [0.7, 0.41, 0.33])
        self.call(
            "POST",
            "registered-models/create",
            {
                "name": name,
                "description": f"Predicts churn. {XSS}",
                "tags": [{"key": "team", "value": "growth"}, {"key": "note", "value": XSS}],
            },
        )
        self.version(name, first, description="first cut")
        # A little time between alias moves so the history's time ranges are distinct.
        self.alias(name, "champion", "1")
        self.alias(name, "challenger", "1")
        time.sleep(0.01)
        self.version(name, second, description=XSS)
        self.alias(name, "champion", "2")
        self.call("DELETE", "registered-models/alias", {"name": name, "alias": "challenger"})
        self.call(
            "POST",
            "model-versions/transition-stage",
            {"name": name, "version": "2", "stage": "Production", "archive_existing_versions": False},
        )
        self.call(
            "POST", "model-versions/set-tag", {"name": name, "version": "2", "key": "validated", "value": XSS}
        )
        return Seeded(name, eid, first, second)
