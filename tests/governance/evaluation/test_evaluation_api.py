"""Evaluations logged onto model versions through the server API: the stored record, the
evaluation run's metrics, the ``evaluation`` fact source, the audit trail, and clear errors
for bad data (Python API and CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import ledgerflow
from ledgerflow.client.client import Client
from ledgerflow.errors import InvalidParameter, RestError
from tests.cli.conftest import invoke
from tests.conftest import LiveServer
from tests.governance.evaluation.support import SOURCE, ThresholdModel, selection_frame

pytestmark = pytest.mark.filterwarnings("ignore")


def _register(client: Client, name: str) -> str:
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": name})
    found = client.transport.call(
        "POST", "/2.0/mlflow/model-versions/create", {"name": name, "source": SOURCE}
    )
    return str(found["model_version"]["version"])


def _facts(server: LiveServer, name: str, version: int) -> dict[str, Any]:
    services = server.app.state.services
    return dict(services.facts.collect(name, version)["evaluation"])


def test_evaluation_is_stored_logged_as_metrics_and_served_as_facts(live_server: LiveServer) -> None:
    client = Client(live_server.url)
    version = _register(client, "credit")
    frame = selection_frame(0.7)
    assert _facts(live_server, "credit", 1) == {}

    result = ledgerflow.evaluate(
        ThresholdModel(),
        frame,
        "y",
        sensitive="sex",
        name="credit",
        version=version,
        n_boot=20,
        tracking_uri=live_server.url,
    )
    assert result.evaluation_id and result.run_id

    facts = _facts(live_server, "credit", 1)
    assert facts["fairness"]["demographic_parity_ratio.sex"] == pytest.approx(0.7)
    assert facts["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert facts["robustness"] == result.robustness and "noise_0.05.accuracy_ratio" in facts["robustness"]
    assert facts["dataset_digest"] == result.dataset_digest and len(result.dataset_digest) == 64
    assert facts["fairness_status"] == {"sex": "ok"} and facts["evaluated_at"] > 0

    run = client.get_run(result.run_id)
    assert run.data.metrics["fairness.demographic_parity_ratio.sex"] == pytest.approx(0.7)
    assert run.data.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert run.data.tags["ledgerflow.evaluation.model_version"] == "credit/1"

    listed = client.transport.call(
        "GET", "/2.0/ledgerflow/evaluations/list", {"name": "credit", "version": "1", "with_report": True}
    )["evaluations"]
    assert [e["evaluation_id"] for e in listed] == [result.evaluation_id]
    assert listed[0]["report"]["fairness"]["sex"]["groups"]["b"]["selection_rate"] == pytest.approx(0.35)

    # The latest evaluation is the fact.
    second = ledgerflow.evaluate(
        ThresholdModel(),
        selection_frame(0.9),
        "y",
        sensitive="sex",
        name="credit",
        version=version,
        n_boot=0,
        robustness=None,
        tracking_uri=live_server.url,
    )
    facts = _facts(live_server, "credit", 1)
    assert facts["evaluation_id"] == second.evaluation_id
    assert facts["fairness"]["demographic_parity_ratio.sex"] == pytest.approx(0.9)

    records = client.transport.call(
        "GET", "/2.0/ledgerflow/audit/records", {"action": "monitoring.create_evaluation"}
    )["records"]
    assert len(records) == 2
    assert {r["resource_id"] for r in records} == {"credit/1"}
    assert all(r["outcome"] == "success" for r in records)


def test_unknown_version_and_bad_payloads_are_refused(live_server: LiveServer) -> None:
    client = Client(live_server.url)
    _register(client, "m")
    good = {
        "name": "m",
        "version": "1",
        "task": "classification",
        "row_count": 10,
        "metrics": {"accuracy": 0.5},
        "dataset_digest": "ab" * 32,
    }
    with pytest.raises(RestError) as missing:
        client.transport.call("POST", "/2.0/ledgerflow/evaluations/create", {**good, "version": "7"})
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    bad: dict[str, Any]
    for bad in (
        {"metrics": {"accuracy": "high"}},
        {"task": "ranking"},
        {"row_count": 0},
        {"metrics": {}},
        {"dataset_digest": ""},  # an evaluation always names the data it was computed on
        {"dataset_digest": "not-a-digest"},
    ):
        with pytest.raises(RestError) as refused:
            client.transport.call("POST", "/2.0/ledgerflow/evaluations/create", {**good, **bad})
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE" and refused.value.http_status == 400
    listed = client.transport.call("GET", "/2.0/ledgerflow/evaluations/list", {"name": "m", "version": "1"})
    assert listed == {}


def test_bad_data_gives_one_clear_error(tmp_path: Path) -> None:
    frame = selection_frame(0.8)
    with pytest.raises(InvalidParameter, match="Target column 'label' is not in the data"):
        ledgerflow.evaluate(
            ThresholdModel(), frame, "label", log=False, tracking_uri=f"sqlite:///{tmp_path}/s.db"
        )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidParameter, match="is empty"):
        ledgerflow.evaluate(
            ThresholdModel(), str(empty), "y", log=False, tracking_uri=f"sqlite:///{tmp_path}/s.db"
        )
    text = tmp_path / "text.csv"
    frame.assign(score=["high"] * len(frame), y=["yes"] * len(frame)).to_csv(text, index=False)
    with pytest.raises(InvalidParameter, match="regression needs a numeric target|could not predict"):
        ledgerflow.evaluate(
            LogisticRegression().fit(frame[["score"]], frame["y"]),
            str(text),
            "y",
            log=False,
            tracking_uri=f"sqlite:///{tmp_path}/s.db",
        )


def test_cli_evaluates_a_saved_model_and_logs_it(tmp_path: Path) -> None:
    from ledgerflow.models.flavors.sklearn import save_model

    frame = selection_frame(0.9)
    model = LogisticRegression().fit(frame[["score"]], frame["y"])
    save_model(model, str(tmp_path / "model"))
    data = tmp_path / "eval.parquet"
    frame.to_parquet(data)
    store = f"sqlite:///{tmp_path}/store.db"
    client = Client(store)
    _register(client, "lr")
    args = [
        "evaluate",
        "-m",
        str(tmp_path / "model"),
        "--data",
        str(data),
        "--target",
        "y",
        "--sensitive",
        "sex",
        "--n-boot",
        "0",
        "-n",
        "lr",
        "-v",
        "1",
        "--tracking-uri",
        store,
    ]
    answer = invoke(args)
    assert answer.exit_code == 0, answer.stderr
    assert "roc_auc" in answer.stdout and "log_loss" in answer.stdout
    assert "demographic_parity_ratio.sex" in answer.stdout and "Logged evaluation" in answer.stdout
    client.close()
    facts = Client(store).transport.services.facts.collect("lr", 1)["evaluation"]  # type: ignore[attr-defined]
    assert "roc_auc" in facts["metrics"]

    missing = invoke([*args[:5], "--target", "nope", "--tracking-uri", store, "--no-log"])
    assert missing.exit_code != 0 and missing.stderr.startswith("Error: Target column 'nope'")
    assert len(missing.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = invoke(
        ["evaluate", "-m", str(tmp_path / "model"), "--data", str(empty), "--target", "y", "--no-log"]
    )
    assert result.exit_code != 0 and "is empty" in result.stderr and "Traceback" not in result.stderr


def test_logged_dataset_is_evaluated_and_becomes_the_reference(tmp_path: Path) -> None:
    from ledgerflow.client.datasets import from_pandas

    store = f"sqlite:///{tmp_path}/store.db"
    client = Client(store)
    _register(client, "credit")
    frame = selection_frame(0.9)
    path = tmp_path / "holdout.csv"
    frame.to_csv(path, index=False)
    run = client.create_run("0")
    client.log_inputs(run.info.run_id, [(from_pandas(frame, source=str(path), name="holdout"), None)])

    reference = f"runs:/{run.info.run_id}/datasets/holdout"
    args = ["evaluate", "-m", "unused", "--data", reference, "--target", "y", "--sensitive", "sex"]
    model_free = ledgerflow.evaluate(
        ThresholdModel(),
        reference,
        "y",
        sensitive="sex",
        name="credit",
        version=1,
        n_boot=0,
        set_reference=True,
        tracking_uri=store,
    )
    assert model_free.dataset_name == reference and model_free.row_count == len(frame)
    assert model_free.fairness["demographic_parity_ratio.sex"] == pytest.approx(0.9)
    profile = client.transport.call(
        "GET", "/2.0/ledgerflow/monitoring/reference/get", {"name": "credit", "version": "1"}
    )
    assert profile["reference"]["features"] == {"score": "numeric", "sex": "categorical"}
    assert profile["reference"]["source"] == "evaluation"

    unknown = invoke(
        [
            *args[:3],
            "--data",
            f"runs:/{run.info.run_id}/datasets/nope",
            "--target",
            "y",
            "--no-log",
            "--tracking-uri",
            store,
        ]
    )
    assert unknown.exit_code != 0 and "has no logged dataset named 'nope'" in unknown.stderr
