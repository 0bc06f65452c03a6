"""The scoring server over HTTP (in-process): every input format, and bad input as 4xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import ledgerflow.pyfunc
from ledgerflow.models.scoring.app import create_scoring_app

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
COLUMNS = ["sl", "sw", "pl", "pw"]


@pytest.fixture
def scorer(model_dir: Path) -> TestClient:
    return TestClient(
        create_scoring_app(ledgerflow.pyfunc.load_model(str(model_dir))), raise_server_exceptions=False
    )


@pytest.fixture
def expected(classifier: Any) -> list[int]:
    import pandas as pd

    return [int(v) for v in classifier.predict(pd.DataFrame(ROWS, columns=COLUMNS))]


def test_health_routes(scorer: TestClient) -> None:
    for path in ("/ping", "/health"):
        response = scorer.get(path)
        assert response.status_code == 200 and response.text == "\n"
    assert scorer.get("/version").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
        {"dataframe_records": [dict(zip(COLUMNS, r, strict=True)) for r in ROWS]},
        {"instances": [dict(zip(COLUMNS, r, strict=True)) for r in ROWS]},
        {"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}},
        # integers reach double columns as doubles
        {"dataframe_split": {"columns": COLUMNS, "data": [[5, 3, 1, 0], [7, 3, 5, 2]]}},
    ],
)
def test_each_json_format_predicts(scorer: TestClient, expected: list[int], body: dict[str, Any]) -> None:
    response = scorer.post("/invocations", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2
    if body.get("dataframe_split", {}).get("data") == ROWS:
        assert response.json() == {"predictions": expected}


def test_csv_body(scorer: TestClient, expected: list[int]) -> None:
    text = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
    response = scorer.post("/invocations", content=text, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200 and response.json() == {"predictions": expected}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "BAD_REQUEST"),
        (b"[1, 2]", "BAD_REQUEST"),
        (b'"text"', "BAD_REQUEST"),
        (b'{"nope": 1}', "BAD_REQUEST"),
        (b'{"inputs": [1], "instances": [1]}', "BAD_REQUEST"),
        (b'{"dataframe_split": {"columns": ["sl"], "data": [[1.0]]}}', "INVALID_PARAMETER_VALUE"),
        (b'{"dataframe_split": "x"}', "BAD_REQUEST"),
        (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', "BAD_REQUEST"),
        (b'{"dataframe_records": [1, 2]}', "BAD_REQUEST"),
        (b'{"instances": [[1, 2, 3, 4]]}', "INVALID_PARAMETER_VALUE"),
        (b'{"inputs": [[1, 2], [3]]}', "BAD_REQUEST"),
        (
            b'{"dataframe_split": {"columns": ["sl","sw","pl","pw"], "data": [["a","b","c","d"]]}}',
            "BAD_REQUEST",
        ),
        (b'{"inputs": {"sl": [1]}, "params": [1]}', "INVALID_PARAMETER_VALUE"),
        (b"\xff\xfe", "BAD_REQUEST"),
    ],
)
def test_bad_json_is_400_with_error_json(scorer: TestClient, content: bytes, code: str) -> None:
    response = scorer.post("/invocations", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == code


def test_missing_column_names_it(scorer: TestClient) -> None:
    body = {"dataframe_split": {"columns": ["sl", "sw", "pl"], "data": [[1.0, 2.0, 3.0]]}}
    response = scorer.post("/invocations", json=body)
    assert response.status_code == 400
    assert "Model is missing inputs ['pw']" in response.json()["message"]


@pytest.mark.parametrize("content", [b"sl,sw\n1,2,3,4,5\n", b"\xff\xfe\x00", b""])
def test_bad_csv_is_400(scorer: TestClient, content: bytes) -> None:
    response = scorer.post("/invocations", content=content, headers={"Content-Type": "text/csv"})
    assert response.status_code == 400
    assert response.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json; format=pandas-split", "application/json; charset=latin-1", None],
)
def test_content_types_rejected_with_415(scorer: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = scorer.post("/invocations", content=b"{}", headers=headers)
    assert response.status_code == 415


def test_charset_utf8_accepted(scorer: TestClient) -> None:
    response = scorer.post(
        "/invocations",
        content=b'{"dataframe_split": {"columns": ["sl","sw","pl","pw"], "data": [[1,2,3,4]]}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_get_invocations_is_405(scorer: TestClient) -> None:
    assert scorer.get("/invocations").status_code == 405


class Exploding(ledgerflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        raise RuntimeError("boom")


def test_model_raising_is_400_not_500(tmp_path: Path) -> None:
    ledgerflow.pyfunc.save_model(tmp_path / "m", Exploding())
    scorer = TestClient(
        create_scoring_app(ledgerflow.pyfunc.load_model(str(tmp_path / "m"))), raise_server_exceptions=False
    )
    response = scorer.post("/invocations", json={"inputs": [1, 2]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    # The cause, as one line: class and message, never the traceback.
    assert response.json()["message"].endswith("Error: RuntimeError: boom")


class Echo(ledgerflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return [params]


def test_bc52_params_through_the_server(tmp_path: Path) -> None:
    ledgerflow.pyfunc.save_model(
        tmp_path / "m",
        Echo(),
        input_example=(["input"], {"str_param": "string", "int_array": [1, 2, 3], "123": 123}),
    )
    scorer = TestClient(create_scoring_app(ledgerflow.pyfunc.load_model(str(tmp_path / "m"))))
    response = scorer.post("/invocations", json={"inputs": ["input"], "params": {"str_param": "x"}})
    assert response.status_code == 200
    assert response.json() == {"predictions": [{"str_param": "x", "int_array": [1, 2, 3], "123": 123}]}
    response = scorer.post("/invocations", json={"inputs": ["input"], "params": {"int_array": "oops"}})
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_nan_literal_body_is_parsed_like_mlflow(scorer: TestClient) -> None:
    """A NaN literal is not JSON, yet MLflow's server (Python's parser) accepts it; it then
    reaches the model, which refuses missing values as a 400, not a parse error."""
    content = b'{"dataframe_split": {"columns": ["sl","sw","pl","pw"], "data": [[NaN, 3.0, 1.4, 0.2]]}}'
    response = scorer.post("/invocations", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Ensure that input is a valid JSON" not in response.json()["message"]


def test_reordered_and_extra_columns_score_as_the_signature_orders_them(
    scorer: TestClient, expected: list[int]
) -> None:
    columns = ["pw", "extra", "pl", "sw", "sl"]
    data = [[r[3], "x", r[2], r[1], r[0]] for r in ROWS]
    response = scorer.post("/invocations", json={"dataframe_split": {"columns": columns, "data": data}})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected}


def test_boolean_column_for_a_double_is_refused(scorer: TestClient) -> None:
    body = {"dataframe_split": {"columns": COLUMNS, "data": [[True, 3.0, 1.4, 0.2]]}}
    response = scorer.post("/invocations", json=body)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Incompatible input types for column sl" in response.json()["message"]
