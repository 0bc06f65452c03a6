"""The scoring server's matrix path (dataframe_split floats straight to a numpy matrix for
plain scikit-learn estimators), its inline/threaded/batched predicts, and that every answer
is the one the general pandas path gives."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.models.scoring.app import create_scoring_app
from ledgerflow.models.scoring.batching import BatchSettings
from tests.cli.conftest import invoke

COLUMNS = ["a", "b", "c", "d"]
SHUFFLED = ["c", "a", "d", "b"]


def _training() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(120, 4)), columns=COLUMNS)
    labels = (frame["a"] - frame["b"] * 0.5 + frame["c"] > 0).astype(int).to_numpy()
    target = (frame["a"] * 2.0 + frame["d"]).to_numpy()
    return frame, labels, target


def _estimators() -> dict[str, tuple[Callable[[], Any], str, bool]]:
    """name -> (factory, pyfunc predict_fn, is a classifier)."""
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logistic-predict": (LogisticRegression, "predict", True),
        "logistic-proba": (LogisticRegression, "predict_proba", True),
        "forest-proba": (
            lambda: RandomForestClassifier(n_estimators=10, random_state=0),
            "predict_proba",
            True,
        ),
        "boosting": (lambda: GradientBoostingRegressor(n_estimators=20, random_state=0), "predict", False),
        "tree": (lambda: DecisionTreeClassifier(random_state=0), "predict", True),
        "knn-proba": (KNeighborsClassifier, "predict_proba", True),
        "svc-decision": (SVC, "decision_function", True),
        "ridge": (Ridge, "predict", False),
        "mlp-proba": (lambda: MLPClassifier((8,), max_iter=50, random_state=0), "predict_proba", True),
        "bayes-log-proba": (GaussianNB, "predict_log_proba", True),
    }


def _save(tmp_path: Path, estimator: Any, predict_fn: str = "predict") -> Path:
    frame = _training()[0]
    path = tmp_path / "model"
    ledgerflow.sklearn.save_model(estimator, path, input_example=frame.head(3), pyfunc_predict_fn=predict_fn)
    return path


def _fit(name: str) -> tuple[Any, str]:
    factory, predict_fn, classifier = _estimators()[name]
    frame, labels, target = _training()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small MLP does not converge in 50 iterations
        return factory().fit(frame, labels if classifier else target), predict_fn


def _rows(count: int, seed: int = 1) -> list[list[float]]:
    rows: list[list[float]] = np.random.default_rng(seed).normal(size=(count, 4)).round(6).tolist()
    return rows


def _split(columns: list[Any], rows: list[Any]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": rows}}


@pytest.mark.parametrize("name", list(_estimators()))
def test_matrix_answers_are_the_general_paths_bit_for_bit(tmp_path: Path, name: str) -> None:
    estimator, predict_fn = _fit(name)
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator, predict_fn)))
    fast = create_scoring_app(model)
    assert fast.matrix is not None, "this estimator should take the matrix path"
    general = TestClient(create_scoring_app(model, matrix_path=False))
    client = TestClient(fast)
    for rows, columns in ((_rows(1), COLUMNS), (_rows(57), SHUFFLED), (_rows(1000, 3), COLUMNS)):
        body = _split(columns, rows)
        answer = client.post("/invocations", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == general.post("/invocations", json=body).json()
        # and what the model itself says on the frame, through the JSON round trip
        frame = pd.DataFrame(rows, columns=columns)[COLUMNS]
        expected = json.loads(json.dumps(np.asarray(getattr(estimator, predict_fn)(frame)).tolist()))
        assert answer.json() == {"predictions": expected}
    assert fast.dispatcher is not None and fast.dispatcher.calls >= 3


def test_big_bodies_take_the_matrix_path_off_the_event_loop(tmp_path: Path) -> None:
    estimator, predict_fn = _fit("logistic-proba")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator, predict_fn)))
    app = create_scoring_app(model)
    body = json.dumps(_split(SHUFFLED, _rows(8000, seed=9))).encode()
    assert len(body) > 256 * 1024  # parsed on a worker thread, not inline
    headers = {"Content-Type": "application/json"}
    answer = TestClient(app).post("/invocations", content=body, headers=headers)
    general = TestClient(create_scoring_app(model, matrix_path=False))
    assert answer.status_code == 200
    assert answer.json() == general.post("/invocations", content=body, headers=headers).json()
    assert app.dispatcher is not None and app.dispatcher.calls == 1
    slow = TestClient(create_scoring_app(model, timeout=1e-9)).post(
        "/invocations", content=body, headers=headers
    )
    assert slow.status_code == 504


def test_models_off_the_matrix_path_still_score(tmp_path: Path) -> None:
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, labels, _ = _training()
    candidates = {
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, labels),
        "meta-estimator": AdaBoostClassifier(n_estimators=5, random_state=0).fit(frame, labels),
        # fitted without feature names: sklearn would warn on the frame, so no shortcut
        "no-names": LogisticRegression().fit(frame.to_numpy(), labels),
    }
    for name, estimator in candidates.items():
        model = ledgerflow.pyfunc.load_model(str(_save(tmp_path / name, estimator)))
        app = create_scoring_app(model)
        assert app.matrix is None, name
        rows = _rows(5)
        answer = TestClient(app).post("/invocations", json=_split(SHUFFLED, rows))
        assert answer.status_code == 200, (name, answer.text)
        expected = estimator.predict(pd.DataFrame(rows, columns=SHUFFLED)[COLUMNS])
        assert answer.json() == {"predictions": expected.tolist()}, name


DECLINED: dict[str, bytes] = {
    "ints": json.dumps(_split(COLUMNS, [[1, 2, 3, 4]])).encode(),
    "int-beyond-2**53": json.dumps(_split(COLUMNS, [[2**53 + 1, 2.0, 3.0, 4.0]])).encode(),
    "mixed-int-float": json.dumps(_split(COLUMNS, [[1, 2.5, 3.0, 4.0], [1.5, 2, 3.0, 4.0]])).encode(),
    "bool": json.dumps(_split(COLUMNS, [[True, 2.0, 3.0, 4.0]])).encode(),
    "string": json.dumps(_split(COLUMNS, [["1.5", 2.0, 3.0, 4.0]])).encode(),
    "null": json.dumps(_split(COLUMNS, [[None, 2.0, 3.0, 4.0]])).encode(),
    "extra-column": json.dumps(_split([*COLUMNS, "e"], [[1.0, 2.0, 3.0, 4.0, 5.0]])).encode(),
    "missing-column": json.dumps(_split(COLUMNS[:3], [[1.0, 2.0, 3.0]])).encode(),
    "duplicate-column": json.dumps(_split(["a", "a", "c", "d"], [[1.0, 2.0, 3.0, 4.0]])).encode(),
    "duplicate-signature-column": json.dumps(_split([*COLUMNS, "a"], [[1.0, 2.0, 3.0, 4.0, 5.0]])).encode(),
    "duplicate-extra-column": json.dumps(_split([*COLUMNS, "e", "e"], [[1, 2, 3, 4, 5, 6]])).encode(),
    "unknown-column": json.dumps(_split(["a", "b", "c", "z"], [[1.0, 2.0, 3.0, 4.0]])).encode(),
    "short-row": json.dumps(_split(COLUMNS, [[1.0, 2.0, 3.0]])).encode(),
    "nested-row": json.dumps(_split(COLUMNS, [[[1.0], 2.0, 3.0, 4.0]])).encode(),
    "row-not-list": json.dumps(_split(COLUMNS, [{"a": 1.0}])).encode(),
    "no-rows": json.dumps(_split(COLUMNS, [])).encode(),
    "index": json.dumps(
        {"dataframe_split": {"columns": COLUMNS, "data": [[1.0] * 4], "index": [7]}}
    ).encode(),
    "params": json.dumps({**_split(COLUMNS, [[1.0] * 4]), "params": {"x": 1}}).encode(),
    "other-key": json.dumps({**_split(COLUMNS, [[1.0] * 4]), "extra": [[[[1]]]]}).encode(),
    "two-formats": json.dumps({**_split(COLUMNS, [[1.0] * 4]), "inputs": [[1.0] * 4]}).encode(),
    "columns-not-list": json.dumps({"dataframe_split": {"columns": "abcd", "data": [[1.0] * 4]}}).encode(),
    "numeric-column-names": json.dumps(_split([0, 1, 2, 3], [[1.0] * 4])).encode(),
}
# Bodies the matrix path takes: every answer, success or model error, must match too.
TAKEN: dict[str, bytes] = {
    "floats": json.dumps(_split(SHUFFLED, _rows(3))).encode(),
    "nan-literal": b'{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[NaN, 1.0, 2.0, 3.0]]}}',
    "infinity-literal": b'{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[Infinity, 1.0, 2.0, 3.0]]}}',
    "huge": b'{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[1e308, -1e-308, -0.0, 5e-324]]}}',
    "overflow": b'{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[1e999, 1.0, 2.0, 3.0]]}}',
}


@pytest.mark.parametrize("label", [*DECLINED, *TAKEN])
def test_every_body_answers_as_the_general_path(tmp_path: Path, label: str) -> None:
    estimator, _ = _fit("logistic-proba")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator, "predict_proba")))
    body = {**DECLINED, **TAKEN}[label]
    headers = {"Content-Type": "application/json"}
    fast_app = create_scoring_app(model)
    fast = TestClient(fast_app, raise_server_exceptions=False).post(
        "/invocations", content=body, headers=headers
    )
    general = TestClient(create_scoring_app(model, matrix_path=False), raise_server_exceptions=False).post(
        "/invocations", content=body, headers=headers
    )
    assert (fast.status_code, fast.json()) == (general.status_code, general.json())
    assert fast.status_code in (200, 400)
    assert fast_app.dispatcher is not None
    assert fast_app.dispatcher.calls == (1 if label in TAKEN else 0)


def test_duplicate_columns_are_a_400_unless_they_are_extra(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    client = TestClient(create_scoring_app(ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))))
    twice = client.post("/invocations", json=_split([*COLUMNS, "a"], [[1.0, 2.0, 3.0, 4.0, 5.0]]))
    assert twice.status_code == 400
    assert twice.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "duplicate columns ['a']" in twice.json()["message"]
    # Extra columns are dropped, repeated or not; JSON ints still reach the doubles as doubles.
    extra = client.post("/invocations", json=_split([*COLUMNS, "e", "e"], [[1, 2, 3, 4, 5, 6]]))
    assert extra.status_code == 200, extra.text
    expected = estimator.predict(pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=COLUMNS))
    assert extra.json() == {"predictions": expected.tolist()}


def test_no_false_feature_name_warning(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = TestClient(create_scoring_app(ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))))
        for _ in range(3):
            assert client.post("/invocations", json=_split(COLUMNS, _rows(2))).status_code == 200
    assert not [w for w in caught if "feature names" in str(w.message)]


def _post_all(app: Any, bodies: list[Any]) -> list[httpx.Response]:
    """All *bodies* (JSON values, or bytes sent as JSON) posted at once."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            posts = [
                client.post(
                    "/invocations", content=b if isinstance(b, bytes) else json.dumps(b), headers=headers
                )
                for b in bodies
            ]
            return list(await asyncio.gather(*posts))

    return asyncio.run(run())


def _close(answer: httpx.Response, expected: dict[str, Any]) -> bool:
    """Batched float answers: the same up to the last bits (BLAS rounding inside a larger matrix)."""
    got, want = np.asarray(answer.json()["predictions"]), np.asarray(expected["predictions"])
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-12, atol=0))


def test_concurrent_requests_are_batched_and_answered_each_its_own(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-proba")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator, "predict_proba")))
    general = TestClient(create_scoring_app(model, matrix_path=False))
    # Never inline and hold each batch open, so requests posted together share predict calls.
    settings = BatchSettings(max_batch_rows=40, batch_wait_seconds=0.02, inline_seconds=0)
    bodies: list[Any] = [_split(SHUFFLED if i % 2 else COLUMNS, _rows(1 + i % 5, seed=i)) for i in range(24)]
    app = create_scoring_app(model, batching=settings)
    answers = _post_all(app, bodies)
    assert app.dispatcher is not None
    assert app.dispatcher.batched_requests == len(bodies) and app.dispatcher.calls < len(bodies) / 4
    for body, answer in zip(bodies, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert _close(answer, general.post("/invocations", json=body).json())
    # A bad request in a batch fails alone, with its own error; the others are answered.
    bad = {5, 17}
    for index in bad:
        bodies[index] = TAKEN["nan-literal"]
    app = create_scoring_app(model, batching=settings)
    answers = _post_all(app, bodies)
    for index, (body, answer) in enumerate(zip(bodies, answers, strict=True)):
        if index in bad:
            assert answer.status_code == 400 and "Input X contains NaN" in answer.json()["message"]
            continue
        assert answer.status_code == 200, answer.text
        assert _close(answer, general.post("/invocations", json=body).json())


def test_batched_labels_are_exactly_the_unbatched(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    settings = BatchSettings(max_batch_rows=1000, batch_wait_seconds=0.02, inline_seconds=0)
    app = create_scoring_app(model, batching=settings)
    bodies = [_split(COLUMNS, _rows(7, seed=i)) for i in range(10)]
    answers = _post_all(app, bodies)
    assert app.dispatcher is not None and app.dispatcher.batched_requests == len(bodies)
    general = TestClient(create_scoring_app(model, matrix_path=False))
    assert [a.json() for a in answers] == [general.post("/invocations", json=b).json() for b in bodies]


@pytest.mark.parametrize("name", ["forest-proba", "boosting", "tree", "logistic-proba", "mlp-proba"])
def test_tree_models_batch_by_default_with_bit_identical_answers(tmp_path: Path, name: str) -> None:
    estimator, predict_fn = _fit(name)
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator, predict_fn)))
    app = create_scoring_app(model, batching=BatchSettings(batch_wait_seconds=0.02, inline_seconds=0))
    assert app.dispatcher is not None
    trees = name in ("forest-proba", "boosting", "tree")
    assert app.dispatcher.settings.batching is trees
    bodies = [_split(SHUFFLED, _rows(1 + i % 4, seed=i)) for i in range(12)]
    answers = _post_all(app, bodies)
    assert app.dispatcher.batched_requests == (len(bodies) if trees else 0)
    general = TestClient(create_scoring_app(model, matrix_path=False))
    assert [a.json() for a in answers] == [general.post("/invocations", json=b).json() for b in bodies]


@pytest.mark.parametrize(("limit", "calls", "batched"), [(0, 6, 0), (5, 6, 0), (6, 3, 6)])
def test_batches_respect_the_row_limit(tmp_path: Path, limit: int, calls: int, batched: int) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    settings = BatchSettings(max_batch_rows=limit, batch_wait_seconds=0.02, inline_seconds=0)
    app = create_scoring_app(model, batching=settings)
    answers = _post_all(app, [_split(COLUMNS, _rows(3, seed=i)) for i in range(6)])
    assert all(a.status_code == 200 for a in answers)
    assert app.dispatcher is not None
    assert (app.dispatcher.calls, app.dispatcher.batched_requests) == (calls, batched)


def test_matrix_request_past_the_timeout_is_a_504(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    # A timeout shorter than any predict: the inline budget (a tenth of it) never allows
    # inlining, the request waits for the model's thread and gives up.
    app = create_scoring_app(model, timeout=1e-9)
    answer = TestClient(app).post("/invocations", json=_split(COLUMNS, _rows(1)))
    assert answer.status_code == 504 and answer.text == "Request processing time exceeded limit"


def test_small_requests_run_inline_once_measured(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    app = create_scoring_app(model, batching=BatchSettings(inline_seconds=10.0))
    client = TestClient(app)
    assert app.dispatcher is not None
    assert not app.dispatcher.can_inline(1)  # nothing measured yet: the thread first
    for _ in range(6):
        assert client.post("/invocations", json=_split(COLUMNS, _rows(1))).status_code == 200
    assert app.dispatcher.can_inline(1)
    never = create_scoring_app(model, batching=BatchSettings(inline_seconds=0))
    never_client = TestClient(never)
    for _ in range(6):
        assert never_client.post("/invocations", json=_split(COLUMNS, _rows(1))).status_code == 200
    assert never.dispatcher is not None and not never.dispatcher.can_inline(1)


def test_observer_sees_matrix_requests_as_frames(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    seen: list[pd.DataFrame] = []
    client = TestClient(create_scoring_app(model, observe=seen.append))
    rows = _rows(4)
    assert client.post("/invocations", json=_split(SHUFFLED, rows)).status_code == 200
    assert len(seen) == 1
    pd.testing.assert_frame_equal(seen[0], pd.DataFrame(rows, columns=SHUFFLED)[COLUMNS])


def test_root_path_requests_go_through_the_router(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    model = ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))
    client = TestClient(create_scoring_app(model), root_path="/scoring")
    answer = client.post("/scoring/invocations", json=_split(COLUMNS, _rows(2)))
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
    assert client.get("/scoring/invocations").status_code == 405


@pytest.mark.parametrize(
    "option", [["--max-batch-rows", "-1"], ["--batch-wait-ms", "-5"], ["--inline-ms", "x"]]
)
def test_serve_refuses_bad_batching_options(tmp_path: Path, option: list[str]) -> None:
    result = invoke(["models", "serve", "-m", str(tmp_path / "none"), *option])
    assert result.exit_code == 2


def test_client_leaving_mid_body_gets_no_answer_and_no_error(tmp_path: Path) -> None:
    estimator, _ = _fit("logistic-predict")
    app = create_scoring_app(ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator))))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
    }
    messages = iter(
        [{"type": "http.request", "body": b'{"dataframe', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == []


def test_access_log_lines_are_uvicorns_written_in_batches(tmp_path: Path) -> None:
    import io

    from ledgerflow.models.scoring.access_log import FLUSH_SECONDS, AccessLog

    estimator, _ = _fit("logistic-predict")
    stream = io.StringIO()
    app = AccessLog(create_scoring_app(ledgerflow.pyfunc.load_model(str(_save(tmp_path, estimator)))), stream)

    async def run() -> tuple[str, str]:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.post("/invocations", json=_split(COLUMNS, _rows(1)))).status_code == 200
            assert (await client.post("/invocations", content=b"{nope")).status_code == 415
            assert (await client.get("/nope?x=1")).status_code == 404
            early = stream.getvalue()
            await asyncio.sleep(FLUSH_SECONDS * 2)
            return early, stream.getvalue()

    early, later = asyncio.run(run())
    assert early == ""  # nothing written per request
    assert later.splitlines() == [
        'INFO:     10.1.2.3:4567 - "POST /invocations HTTP/1.1" 200 OK',
        'INFO:     10.1.2.3:4567 - "POST /invocations HTTP/1.1" 415 Unsupported Media Type',
        'INFO:     10.1.2.3:4567 - "GET /nope?x=1 HTTP/1.1" 404 Not Found',
    ]


def test_live_server_writes_access_lines(tmp_path: Path) -> None:
    import os
    import subprocess
    import time

    from tests.listening import MODEL_LINE, announced_port

    estimator, _ = _fit("logistic-predict")
    model = _save(tmp_path, estimator)
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEDGERFLOW_"))}
    out = (tmp_path / "stdout.txt").open("w")
    log = tmp_path / "stderr.txt"
    command = [str(root / ".venv/bin/ledgerflow"), "models", "serve", "-m", str(model), "-p", "0"]
    with log.open("w") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    try:
        port = announced_port(process, log, MODEL_LINE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "scoring server did not start"
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=_split(COLUMNS, _rows(2)))
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
        out.close()
    text = (tmp_path / "stdout.txt").read_text()
    assert '"POST /invocations HTTP/1.1" 200 OK' in text and '"GET /ping HTTP/1.1" 200 OK' in text
