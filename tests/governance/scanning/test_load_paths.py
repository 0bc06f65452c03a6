"""Every loading path refuses a pickle whose globals are not allow-listed, before the
payload can run: `ledgerflow models predict` and `models serve` (the scoring server),
``ledgerflow.pyfunc.load_model`` and the sklearn flavor, for our own and for custom models."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.governance.scanning.unpickler import UnsafeModel
from tests.governance.scanning import payloads as p


class Touch:
    """Copies this file to a marker path when unpickled: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (shutil.copyfile, (__file__, str(self.marker)))


class Echo(ledgerflow.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return model_input


@pytest.fixture
def evil_model(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    directory = tmp_path / "model"
    ledgerflow.sklearn.save_model(p.forest(), directory)
    (directory / "model.pkl").write_bytes(pickle.dumps(Touch(marker)))
    return directory, marker


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledgerflow.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_models_predict_refuses(evil_model: tuple[Path, Path], tmp_path: Path) -> None:
    directory, marker = evil_model
    (tmp_path / "in.csv").write_text("a,b,c,d\n1,2,3,4\n")
    done = _cli("models", "predict", "-m", str(directory), "-i", str(tmp_path / "in.csv"))
    assert done.returncode == 5, done.stderr
    assert "Refusing to load 'model.pkl': it imports shutil.copyfile" in done.stderr
    assert "--allow-global shutil.copyfile" in done.stderr and "Traceback" not in done.stderr
    assert not marker.exists()


def test_scoring_server_refuses_before_listening(evil_model: tuple[Path, Path]) -> None:
    directory, marker = evil_model
    done = _cli("models", "serve", "-m", str(directory), "-p", "0")
    assert done.returncode == 5 and "Refusing to load" in done.stderr and "Serving" not in done.stderr
    assert not marker.exists()


def test_custom_model_class_needs_its_global_allowed(tmp_path: Path) -> None:
    directory = tmp_path / "custom"
    ledgerflow.pyfunc.save_model(directory, Echo())
    with pytest.raises(UnsafeModel) as refused:
        ledgerflow.pyfunc.load_model(str(directory))
    dotted = f"{__name__}.Echo"
    assert dotted in refused.value.message and f"allow_globals=['{dotted}']" in refused.value.message
    model = ledgerflow.pyfunc.load_model(str(directory), allow_globals=[dotted])
    assert model.predict([1, 2]) == [1, 2]


def test_cli_names_the_custom_global_to_allow(tmp_path: Path) -> None:
    directory = tmp_path / "custom"
    ledgerflow.pyfunc.save_model(directory, Echo())
    (tmp_path / "in.json").write_text('{"inputs": [1, 2]}')
    refused = _cli("models", "predict", "-m", str(directory), "-i", str(tmp_path / "in.json"))
    assert refused.returncode == 5 and f"{__name__}.Echo" in refused.stderr
