"""Interop with the real MLflow clients (3.x and 2.22) in their own venvs, both directions,
and a differential test of the scoring server against ``mlflow models serve``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import ledgerflow.pyfunc
import ledgerflow.sklearn
from tests.listening import MODEL_LINE, UVICORN_LINE, announced_port

pytestmark = pytest.mark.compat

ROOT = Path(__file__).resolve().parents[2]
VENVS = {"mlflow3": ROOT / ".venvs/mlflow3/bin/python", "mlflow222": ROOT / ".venvs/mlflow222/bin/python"}
FEATURES = pd.DataFrame(
    [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], columns=["sl", "sw", "pl", "pw"]
)


def _python(name: str) -> Path:
    python = VENVS[name]
    if not python.exists():
        pytest.skip(f"{python} missing: run scripts/setup_compat_venvs.sh")
    return python


def _run(python: Path, script: str, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LEDGERFLOW_"))}
    # Ledgerflow's custom models refer to ledgerflow.models.flavors.pyfunc, so it must be importable.
    env["PYTHONPATH"] = str(ROOT / "src")
    # Run where the test's files are: MLflow 2.x's client opens its default ./mlruns file store
    # in the working directory (saving a model with an input example did), which would
    # otherwise be the checkout.
    done = subprocess.run(
        [str(python), "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


MLFLOW_SAVE = """
import json, sys
import numpy as np, pandas as pd
import mlflow, mlflow.pyfunc, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
out = sys.argv[1]
x, y = load_iris(return_X_y=True, as_frame=True)
x.columns = ["sl", "sw", "pl", "pw"]
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
kwargs = {"serialization_format": sys.argv[2]}
if sys.argv[2] == "skops":
    kwargs["skops_trusted_types"] = ["sklearn.tree._tree.Tree"]
mlflow.sklearn.save_model(forest, out + "/sk", input_example=x.head(3), **kwargs)
open(out + "/offset.txt", "w").write("10")

class Shift(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.offset = float(open(context.artifacts["offset"]).read())
    def predict(self, context, model_input, params=None):
        return model_input["sl"].to_numpy() + self.offset

mlflow.pyfunc.save_model(out + "/custom", python_model=Shift(), artifacts={"offset": out + "/offset.txt"},
                         input_example=x.head(2))
frame = pd.DataFrame(json.loads(sys.argv[3]))
json.dump({"sk": forest.predict(frame).tolist(),
           "custom": mlflow.pyfunc.load_model(out + "/custom").predict(frame).tolist()},
          open(out + "/expected.json", "w"))
"""


# A class pickled by value carries its code: loading it means trusting these explicitly.
SCRIPT_MODEL_GLOBALS = ["cloudpickle.cloudpickle:*", "builtins:type", "builtins:getattr", "pathlib:Path"]
MLFLOW_SCRIPT_MODEL_GLOBALS = SCRIPT_MODEL_GLOBALS


@pytest.mark.parametrize(
    ("venv", "fmt"), [("mlflow3", "cloudpickle"), ("mlflow3", "skops"), ("mlflow222", "cloudpickle")]
)
def test_models_saved_by_mlflow_load_in_ledgerflow(tmp_path: Path, venv: str, fmt: str) -> None:
    _run(_python(venv), MLFLOW_SAVE, str(tmp_path), fmt, FEATURES.to_json(orient="columns"), cwd=tmp_path)
    expected = json.loads((tmp_path / "expected.json").read_text())
    sk = ledgerflow.pyfunc.load_model(str(tmp_path / "sk"))
    assert sk.predict(FEATURES).tolist() == expected["sk"]
    assert sk.metadata.signature is not None
    raw = ledgerflow.sklearn.load_model(str(tmp_path / "sk"), skops_trusted_types=["sklearn.tree._tree.Tree"])
    assert raw.predict(FEATURES).tolist() == expected["sk"]
    # MLflow pickles a class defined in a script by value (its code): trusted explicitly.
    custom = ledgerflow.pyfunc.load_model(str(tmp_path / "custom"), allow_globals=MLFLOW_SCRIPT_MODEL_GLOBALS)
    assert custom.predict(FEATURES).tolist() == expected["custom"]


MLFLOW_LOAD = """
import json, sys
import pandas as pd
import mlflow.pyfunc
frame = pd.DataFrame(json.loads(sys.argv[2]))
result = {}
for name in ("sk", "custom"):
    model = mlflow.pyfunc.load_model(sys.argv[1] + "/" + name)
    result[name] = [float(v) for v in model.predict(frame)]
    result[name + "_signature"] = model.metadata.signature is not None
print(json.dumps(result))
"""


class Shift(ledgerflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input["sl"].to_numpy() + self.offset


@pytest.mark.parametrize("venv", ["mlflow3", "mlflow222"])
def test_models_saved_by_ledgerflow_load_in_mlflow(
    tmp_path: Path, venv: str, classifier: Any, iris: Any
) -> None:
    python = _python(venv)
    ledgerflow.sklearn.save_model(classifier, tmp_path / "sk", input_example=iris[0].head(3))
    (tmp_path / "offset.txt").write_text("10")
    import cloudpickle

    # A user's model class lives in their script (pickled by value); this test module would
    # otherwise be pickled by reference and be missing in the other venv.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        ledgerflow.pyfunc.save_model(
            tmp_path / "custom",
            Shift(),
            artifacts={"offset": str(tmp_path / "offset.txt")},
            input_example=FEATURES.head(2),
        )
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    theirs = json.loads(
        _run(python, MLFLOW_LOAD, str(tmp_path), FEATURES.to_json(orient="columns"), cwd=tmp_path)
    )
    ours_sk = [float(v) for v in ledgerflow.pyfunc.load_model(str(tmp_path / "sk")).predict(FEATURES)]
    by_value = ledgerflow.pyfunc.load_model(str(tmp_path / "custom"), allow_globals=SCRIPT_MODEL_GLOBALS)
    ours_custom = [float(v) for v in by_value.predict(FEATURES)]
    assert theirs["sk"] == ours_sk
    assert theirs["custom"] == ours_custom == [15.1, 16.7, 15.9]
    assert theirs["sk_signature"] and theirs["custom_signature"]


# -- differential scoring --------------------------------------------------------------------------


class _PortTaken(Exception):
    """The server could not bind the port it was given."""


def _start(command: list[str], cwd: Path, line: re.Pattern[str]) -> tuple[subprocess.Popen[bytes], int]:
    """*command* serving, and the port its *line* on stderr says it bound."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "LEDGERFLOW_"))}
    # mlflow models serve execs `uvicorn` from PATH, so its venv's bin must come first.
    env["PATH"] = f"{Path(command[0]).parent}{os.pathsep}{env.get('PATH', '')}"
    log = cwd / f"{Path(command[0]).name}-serve.log"
    with log.open("w") as err:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
    try:
        port = announced_port(process, log, line)
    except BaseException:
        process.kill()
        process.wait(timeout=20)
        if "address already in use" in log.read_text():
            raise _PortTaken() from None
        raise
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited early:\n{log.read_text()}")
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def _start_on_a_picked_port(command: list[str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``mlflow models serve`` leaves ``-p 0`` out of its uvicorn command (which then takes
    8000), so the port is picked here. Another test can take it before the server binds it: a
    server that finds it taken is started again on a new pick."""
    for _ in range(5):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            return _start([*command, "-p", str(port)], cwd, UVICORN_LINE)
        except _PortTaken:
            continue
    raise RuntimeError(f"{command[0]} found each of five free ports taken")


@pytest.fixture(scope="module")
def tensor_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A model whose signature is a float64 tensor (fitted and logged with numpy arrays)."""
    mlflow_bin = ROOT / ".venvs/mlflow3/bin/mlflow"
    if not mlflow_bin.exists():
        pytest.skip("mlflow3 venv missing")
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    model_dir = tmp_path_factory.mktemp("served-tensor") / "model"
    model = LogisticRegression().fit(features, [0, 1, 0, 1])
    ledgerflow.sklearn.save_model(model, model_dir, input_example=features[:2])
    with _served_by_both(mlflow_bin, model_dir) as bases:
        yield bases


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    mlflow_bin = ROOT / ".venvs/mlflow3/bin/mlflow"
    if not mlflow_bin.exists():
        pytest.skip("mlflow3 venv missing")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = ["sl", "sw", "pl", "pw"]
    model_dir = tmp_path_factory.mktemp("served") / "model"
    ledgerflow.sklearn.save_model(
        LogisticRegression(max_iter=500).fit(x, y), model_dir, input_example=x.head(3)
    )
    with _served_by_both(mlflow_bin, model_dir) as bases:
        yield bases


@contextlib.contextmanager
def _served_by_both(mlflow_bin: Path, model_dir: Path) -> Iterator[tuple[str, str]]:
    """*model_dir* served by ``mlflow models serve`` and ``ledgerflow models serve``."""
    theirs, theirs_port = _start_on_a_picked_port(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
        ],
        model_dir.parent,
    )
    ours, ours_port = _start(
        [
            str(ROOT / ".venv/bin/ledgerflow"),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-p",
            "0",
            "-h",
            "127.0.0.1",
        ],
        model_dir.parent,
        MODEL_LINE,
    )
    try:
        yield f"http://127.0.0.1:{theirs_port}", f"http://127.0.0.1:{ours_port}"
    finally:
        for process in (theirs, ours):
            process.terminate()
            process.wait(timeout=20)


ROWS = FEATURES.to_numpy().tolist()
CASES: list[tuple[str, str, bytes | None, str | None]] = [
    (
        "split",
        "POST",
        json.dumps({"dataframe_split": {"columns": list(FEATURES.columns), "data": ROWS}}).encode(),
        "application/json",
    ),
    (
        "records",
        "POST",
        json.dumps({"dataframe_records": FEATURES.to_dict(orient="records")}).encode(),
        "application/json",
    ),
    (
        "instances",
        "POST",
        json.dumps({"instances": FEATURES.to_dict(orient="records")}).encode(),
        "application/json",
    ),
    ("inputs", "POST", json.dumps({"inputs": FEATURES.to_dict(orient="list")}).encode(), "application/json"),
    (
        "ints",
        "POST",
        json.dumps({"dataframe_split": {"columns": list(FEATURES.columns), "data": [[5, 3, 1, 0]]}}).encode(),
        "application/json",
    ),
    ("csv", "POST", FEATURES.to_csv(index=False).encode(), "text/csv"),
    ("malformed", "POST", b"{nope", "application/json"),
    ("list", "POST", b"[1, 2, 3]", "application/json"),
    ("unknown-key", "POST", b'{"rows": [[1, 2]]}', "application/json"),
    ("two-keys", "POST", b'{"inputs": [1], "instances": [1]}', "application/json"),
    (
        "missing-column",
        "POST",
        b'{"dataframe_split": {"columns": ["sl"], "data": [[1.0]]}}',
        "application/json",
    ),
    ("instances-lists", "POST", json.dumps({"instances": ROWS}).encode(), "application/json"),
    (
        "wrong-type",
        "POST",
        b'{"dataframe_split": {"columns": ["sl","sw","pl","pw"], "data": [["a","b","c","d"]]}}',
        "application/json",
    ),
    ("get", "GET", None, None),
    ("text-plain", "POST", b"hello", "text/plain"),
    ("format-param", "POST", b"{}", "application/json; format=pandas-split"),
    (
        "charset-utf8",
        "POST",
        json.dumps({"inputs": FEATURES.to_dict(orient="list")}).encode(),
        "application/json; charset=utf-8",
    ),
]


@pytest.mark.parametrize(("label", "method", "body", "content_type"), CASES, ids=[c[0] for c in CASES])
def test_scoring_matches_mlflow_models_serve(
    two_servers: tuple[str, str], label: str, method: str, body: bytes | None, content_type: str | None
) -> None:
    answers = []
    for base in two_servers:
        headers = {"Content-Type": content_type} if content_type else {}
        response = httpx.request(method, base + "/invocations", content=body, headers=headers, timeout=30)
        assert response.status_code != 500, (base, response.text)
        parsed: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            parsed = response.json()
        answers.append((response.status_code, parsed))
    (their_status, theirs), (our_status, ours) = answers
    assert our_status == their_status, (label, answers)
    if their_status == 200:
        assert ours == theirs
    elif isinstance(theirs, dict) and "error_code" in theirs:
        assert isinstance(ours, dict) and ours["error_code"] == theirs["error_code"], (label, answers)


TENSOR_CASES: dict[str, Any] = {
    # JSON integers for a float64 tensor: MLflow's server reads them as doubles.
    "inputs-ints": {"inputs": [[1, 2], [0, 3]]},
    "instances-ints": {"instances": [[1, 2], [0, 3]]},
    "inputs-mixed": {"inputs": [[1, 2.5]]},
    "inputs-floats": {"inputs": [[0.1, 0.8]]},
    "wrong-shape": {"inputs": [[1, 2, 3]]},
}


@pytest.mark.parametrize("label", list(TENSOR_CASES))
def test_tensor_scoring_matches_mlflow_models_serve(tensor_servers: tuple[str, str], label: str) -> None:
    answers = []
    for base in tensor_servers:
        response = httpx.post(base + "/invocations", json=TENSOR_CASES[label], timeout=30)
        answers.append((response.status_code, response.json()))
    (their_status, theirs), (our_status, ours) = answers
    assert our_status == their_status, (label, answers)
    if their_status == 200:
        assert ours == theirs
    else:
        assert ours["error_code"] == theirs["error_code"], (label, answers)


def test_ping_health_match(two_servers: tuple[str, str]) -> None:
    for path in ("/ping", "/health"):
        theirs, ours = (httpx.get(base + path) for base in two_servers)
        assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text)
    assert all(httpx.get(base + "/version").status_code == 200 for base in two_servers)
    assert np.all([httpx.get(base + "/nope").status_code == 404 for base in two_servers])
