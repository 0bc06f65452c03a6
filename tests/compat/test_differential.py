"""Differential test: the same client scripts and raw REST calls against a real
``mlflow server`` (3.x, from .venvs/mlflow3) and against Ledgerflow, answers compared.

Answers are normalized first (see ``normalize.py``): ids, timestamps, generated run names and
client work paths become placeholders. Everything else must be equal.

Intended differences (not compared):
* Response formatting: MLflow pretty-prints JSON (indent=2), Ledgerflow sends compact JSON.
  Both are parsed before comparing, so this never shows.
* Error ``message`` text, ``sqlstate`` and ``error_class``: clients key on ``error_code`` and
  the HTTP status, which are compared exactly.
* A body that is not JSON: MLflow treats it as an empty request (then complains about a missing
  field), and a JSON array gives it an HTML 500; Ledgerflow answers 400 BAD_REQUEST for both.
  Not compared: ours is the stricter, non-crashing answer.
* Unknown routes: MLflow answers an HTML 404 page, Ledgerflow a JSON 404; only the status is
  compared (the client maps both to ENDPOINT_NOT_FOUND).
"""

from __future__ import annotations

import difflib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgerflow.config import ServerConfig
from tests.compat.conftest import ClientVenv, client_venv, run_client_script
from tests.compat.mlflow_server import MlflowServer
from tests.compat.normalize import normalize, pretty
from tests.conftest import LiveServer

pytestmark = pytest.mark.compat

API = "/api/2.0/mlflow"


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    venv = client_venv("mlflow3")
    server = MlflowServer(venv.bin_dir, tmp_path_factory.mktemp("mlflow-reference"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ours_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ledgerflow-differential")
    server = LiveServer(
        ServerConfig(
            backend_store_uri=f"sqlite:///{root / 'ledgerflow.db'}",
            artifacts_destination=str(root / "artifacts"),
        )
    )
    try:
        yield server.url
    finally:
        server.stop()


def assert_same(theirs: Any, ours: Any, what: str) -> None:
    if theirs == ours:
        return
    diff = "\n".join(
        difflib.unified_diff(
            pretty(theirs).splitlines(), pretty(ours).splitlines(), "mlflow", "ledgerflow", lineterm="", n=4
        )
    )
    pytest.fail(f"{what}: Ledgerflow differs from MLflow\n{diff}", pytrace=False)


def run_both(
    venv: ClientVenv, script: str, mlflow_url: str, ours_url: str, tmp_path: Path, *args: str
) -> tuple[Any, Any]:
    answers = []
    for label, url in (("mlflow", mlflow_url), ("ours", ours_url)):
        work = tmp_path / label
        work.mkdir()
        # Arguments may name a work dir; give each side its own under a common placeholder.
        side_args = [a.replace("{work}", str(work / "data")) for a in args]
        result = run_client_script(venv, script, url, *side_args, cwd=work)
        answers.append(normalize(result, {str(work): "<work>"}))
    return answers[0], answers[1]


# ----------------------------------------------------------------------------- client flows
@pytest.mark.parametrize("venv_name", ["mlflow3", "mlflow222"])
def test_seed_flow_matches_mlflow(venv_name: str, mlflow_url: str, ours_url: str, tmp_path: Path) -> None:
    name = f"diff-seed-{venv_name}-{uuid.uuid4().hex[:6]}"
    theirs, ours = run_both(
        client_venv(venv_name), "seed_flow.py", mlflow_url, ours_url, tmp_path, name, "{work}"
    )
    assert_same(theirs, ours, f"seed flow ({venv_name} client)")


def test_extra_calls_match_mlflow(mlflow_url: str, ours_url: str, tmp_path: Path) -> None:
    name = f"diff-extras-{uuid.uuid4().hex[:6]}"
    theirs, ours = run_both(client_venv("mlflow3"), "extras.py", mlflow_url, ours_url, tmp_path, name)
    assert_same(theirs, ours, "extra client calls")


def test_failure_path_matches_mlflow(mlflow_url: str, ours_url: str, tmp_path: Path) -> None:
    name = f"diff-failure-{uuid.uuid4().hex[:6]}"
    theirs, ours = run_both(client_venv("mlflow3"), "failure.py", mlflow_url, ours_url, tmp_path, name)
    assert_same(theirs, ours, "failed log_model")


# ----------------------------------------------------------------------------- raw REST
class Rest:
    """Raw calls returning (status, parsed body or None) so both servers can be compared."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60.0)

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        if body is not None:
            kw["json"] = body
        response = self.http.request(method, path, **kw)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return response.status_code, parsed

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.call("POST", API + path, body)

    def get(self, path: str, params: Any = None) -> tuple[int, Any]:
        return self.call("GET", API + path, params=params)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.post(path, body) if method == "POST" else self.get(path, body)
        assert status == 200, (path, status, data)
        return data

    def experiment(self) -> str:
        name = f"raw-{uuid.uuid4().hex[:10]}"
        return str(self.ok("POST", "/experiments/create", {"name": name})["experiment_id"])

    def run(self) -> str:
        data = self.ok("POST", "/runs/create", {"experiment_id": self.experiment(), "start_time": now_ms()})
        return str(data["run"]["info"]["run_id"])


def now_ms() -> int:
    return int(time.time() * 1000)


def outcome(answer: tuple[int, Any]) -> tuple[int, Any]:
    """Status plus error_code for errors; the normalized body for successes."""
    status, body = answer
    if status >= 400:
        return status, body.get("error_code") if isinstance(body, dict) else "<non-json>"
    return status, normalize(body)


def metric_values(rest: Rest, run_id: str) -> Any:
    return rest.ok("GET", "/runs/get", {"run_id": run_id})["run"]["data"].get("metrics")


def _batch(n_metrics: int = 0, n_params: int = 0, n_tags: int = 0) -> dict[str, Any]:
    ts = now_ms()
    return {
        "metrics": [{"key": f"m{i}", "value": i, "timestamp": ts, "step": 0} for i in range(n_metrics)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(n_params)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(n_tags)],
    }


def _log_batch(rest: Rest, **sizes: int) -> tuple[int, Any]:
    return rest.post("/runs/log-batch", {"run_id": rest.run(), **_batch(**sizes)})


def _param_overwrite(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    rest.ok("POST", "/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    same = rest.post("/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    assert same[0] == 200, same
    return rest.post("/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "2"})


def _write_deleted_run(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    rest.ok("POST", "/runs/delete", {"run_id": run_id})
    return rest.post("/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": now_ms()})


def _non_finite_metrics(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    for key, value in (("nan", "NaN"), ("pinf", "Infinity"), ("ninf", "-Infinity"), ("strnum", "1.5")):
        rest.ok("POST", "/runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": 1})
    history = rest.ok("GET", "/metrics/get-history", {"run_id": run_id, "metric_key": "nan"})
    return 200, {"metrics": metric_values(rest, run_id), "history": history}


def _duplicate_experiment(rest: Rest) -> tuple[int, Any]:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    rest.ok("POST", "/experiments/create", {"name": name})
    return rest.post("/experiments/create", {"name": name})


def _delete_missing_tag(rest: Rest) -> tuple[int, Any]:
    return rest.post("/runs/delete-tag", {"run_id": rest.run(), "key": "nope"})


def _empty_search(rest: Rest) -> tuple[int, Any]:
    return rest.post("/runs/search", {"experiment_ids": [rest.experiment()]})


def _empty_artifact_list(rest: Rest) -> tuple[int, Any]:
    return rest.get("/artifacts/list", {"run_id": rest.run()})


def _missing_artifact(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    experiment = rest.ok("GET", "/runs/get", {"run_id": run_id})["run"]["info"]["experiment_id"]
    return rest.call(
        "GET", f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts/missing.txt"
    )


def _missing_artifact_dir(rest: Rest) -> tuple[int, Any]:
    return rest.call("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": "0/nothing-here"})


def _create_run_shape(rest: Rest) -> tuple[int, Any]:
    status, body = rest.post(
        "/runs/create",
        {"experiment_id": rest.experiment(), "start_time": 1700000000000, "run_name": "shape", "tags": []},
    )
    return status, body


def _run_update_status(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    return rest.post("/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1700000000001})


def _int64_as_string(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    body = {"run_id": run_id, "key": "m", "value": "2.5", "timestamp": "1700000000000", "step": "3"}
    rest.ok("POST", "/runs/log-metric", body)
    return 200, rest.ok("GET", "/metrics/get-history", {"run_id": run_id, "metric_key": "m"})


def _latest_metric_is_max_step(rest: Rest) -> tuple[int, Any]:
    run_id = rest.run()
    for step, value in ((5, 1.0), (2, 9.0), (5, 0.5)):
        rest.ok(
            "POST",
            "/runs/log-metric",
            {"run_id": run_id, "key": "m", "value": value, "timestamp": 10, "step": step},
        )
    return 200, metric_values(rest, run_id)


CASES: dict[str, Callable[[Rest], tuple[int, Any]]] = {
    "unknown run": lambda r: r.get("/runs/get", {"run_id": "0" * 32}),
    "unknown experiment": lambda r: r.get("/experiments/get", {"experiment_id": "987654"}),
    "non-integer experiment id": lambda r: r.get("/experiments/get", {"experiment_id": "abc"}),
    "unknown experiment name": lambda r: r.get("/experiments/get-by-name", {"experiment_name": "nope-x"}),
    "duplicate experiment": _duplicate_experiment,
    "missing field": lambda r: r.post("/experiments/create", {}),
    "wrong type": lambda r: r.post("/experiments/create", {"name": 5}),
    "log-metric without timestamp": lambda r: r.post(
        "/runs/log-metric", {"run_id": r.run(), "key": "m", "value": 1}
    ),
    "log-metric bad value": lambda r: r.post(
        "/runs/log-metric", {"run_id": r.run(), "key": "m", "value": "abc", "timestamp": 1}
    ),
    "bad filter": lambda r: r.post("/runs/search", {"experiment_ids": ["0"], "filter": "metrics.x >"}),
    "or filter": lambda r: r.post(
        "/runs/search", {"experiment_ids": ["0"], "filter": "params.a = '1' or params.b = '2'"}
    ),
    "unquoted string filter": lambda r: r.post(
        "/runs/search", {"experiment_ids": ["0"], "filter": "params.a = x"}
    ),
    "bad order_by": lambda r: r.post("/runs/search", {"experiment_ids": ["0"], "order_by": ["foo.bar DESC"]}),
    "bad page token": lambda r: r.post("/runs/search", {"experiment_ids": ["0"], "page_token": "%%%"}),
    "search max_results over cap": lambda r: r.post(
        "/runs/search", {"experiment_ids": ["0"], "max_results": 50001}
    ),
    "get-history without key": lambda r: r.get("/metrics/get-history", {"run_id": r.run()}),
    "param overwrite": _param_overwrite,
    "write to deleted run": _write_deleted_run,
    "delete missing tag": _delete_missing_tag,
    "NaN and inf metrics": _non_finite_metrics,
    "int64 as strings": _int64_as_string,
    "latest metric is max step": _latest_metric_is_max_step,
    "log-batch 1001 metrics": lambda r: _log_batch(r, n_metrics=1001),
    "log-batch 101 params": lambda r: _log_batch(r, n_params=101),
    "log-batch 101 tags": lambda r: _log_batch(r, n_tags=101),
    "log-batch 1000 metrics ok": lambda r: _log_batch(r, n_metrics=1000),
    "log-batch over 1000 entities": lambda r: _log_batch(r, n_metrics=900, n_params=100, n_tags=10),
    "log-batch duplicate param keys": lambda r: r.post(
        "/runs/log-batch",
        {"run_id": r.run(), "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "2"}]},
    ),
    "long param key": lambda r: r.post(
        "/runs/log-parameter", {"run_id": r.run(), "key": "k" * 251, "value": "v"}
    ),
    "missing content type": lambda r: r.call("POST", API + "/experiments/create", content=b'{"name": "x"}'),
    "wrong content type": lambda r: r.call(
        "POST", API + "/experiments/create", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
    ),
    "empty search": _empty_search,
    "empty artifact list": _empty_artifact_list,
    "missing artifact file": _missing_artifact,
    "missing artifact dir": _missing_artifact_dir,
    "create run shape": _create_run_shape,
    "update run status": _run_update_status,
}

# Cases where only the status is comparable (the body format legitimately differs).
STATUS_ONLY = {
    "unknown route": lambda r: r.call("GET", "/api/2.0/mlflow/no/such/route"),
}


KNOWN_DIFFERENCES: dict[str, pytest.MarkDecorator] = {}


@pytest.mark.parametrize(
    "case", [pytest.param(name, marks=KNOWN_DIFFERENCES.get(name, ())) for name in sorted(CASES)]
)
def test_raw_rest_matches_mlflow(case: str, mlflow_url: str, ours_url: str) -> None:
    theirs = outcome(CASES[case](Rest(mlflow_url)))
    ours = outcome(CASES[case](Rest(ours_url)))
    assert_same(theirs, ours, f"raw REST case {case!r}")


@pytest.mark.parametrize("case", sorted(STATUS_ONLY))
def test_raw_rest_status_matches_mlflow(case: str, mlflow_url: str, ours_url: str) -> None:
    theirs, _ = STATUS_ONLY[case](Rest(mlflow_url))
    ours, _ = STATUS_ONLY[case](Rest(ours_url))
    assert theirs == ours, f"{case}: MLflow answered {theirs}, Ledgerflow {ours}"
