"""Model directories: what save_model writes, how MLmodel reads back, bad input refused."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.errors import InvalidParameter, ResourceAlreadyExists, ResourceDoesNotExist
from ledgerflow.models.mlmodel import Model
from ledgerflow.models.uri import extract_archive


def test_sklearn_dir_layout_and_mlmodel(model_dir: Path, classifier: Any) -> None:
    names = {p.name for p in model_dir.iterdir()}
    assert names == {
        "MLmodel",
        "model.pkl",
        "requirements.txt",
        "python_env.yaml",
        "conda.yaml",
        "input_example.json",
        "serving_input_example.json",
    }
    data = yaml.safe_load((model_dir / "MLmodel").read_text())
    pyfunc = data["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert pyfunc["model_path"] == "model.pkl"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert data["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert data["saved_input_example_info"]["type"] == "dataframe"
    assert json.loads(data["signature"]["inputs"])[0] == {"type": "double", "name": "sl", "required": True}
    example = json.loads((model_dir / "input_example.json").read_text())
    assert example["columns"] == ["sl", "sw", "pl", "pw"] and len(example["data"]) == 3
    serving = json.loads((model_dir / "serving_input_example.json").read_text())
    assert serving["dataframe_split"] == example
    requirements = (model_dir / "requirements.txt").read_text().splitlines()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert any(r.startswith("mlflow") for r in requirements)
    env = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]


def test_sklearn_round_trip_predictions(model_dir: Path, classifier: Any, iris: Any) -> None:
    features = iris[0]
    loaded = ledgerflow.pyfunc.load_model(str(model_dir))
    assert np.array_equal(loaded.predict(features), classifier.predict(features))
    raw = ledgerflow.sklearn.load_model(str(model_dir))
    assert np.array_equal(raw.predict_proba(features), classifier.predict_proba(features))


def test_skops_format_needs_trusted_types(tmp_path: Path, iris: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_depth=3).fit(*iris)
    with pytest.raises(InvalidParameter, match="sklearn.tree._tree.Tree"):
        ledgerflow.sklearn.save_model(tree, tmp_path / "a", serialization_format="skops")
    assert not (tmp_path / "a").exists()
    ledgerflow.sklearn.save_model(
        tree, tmp_path / "b", serialization_format="skops", skops_trusted_types=["sklearn.tree._tree.Tree"]
    )
    flavor = Model.load(tmp_path / "b").flavors["sklearn"]
    assert flavor["pickled_model"] == "model.skops"
    assert flavor["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]
    assert "pickle" not in {p.suffix for p in (tmp_path / "b").iterdir()}
    loaded = ledgerflow.pyfunc.load_model(str(tmp_path / "b"))
    assert np.array_equal(loaded.predict(iris[0]), tree.predict(iris[0]))


def test_skops_trust_list_in_mlmodel_cannot_vouch_for_foreign_types(tmp_path: Path) -> None:
    import operator

    from sklearn.preprocessing import FunctionTransformer

    transformer = FunctionTransformer(func=operator.neg)
    untrusted = "_operator.neg"
    ledgerflow.sklearn.save_model(
        transformer,
        tmp_path / "m",
        serialization_format="skops",
        skops_trusted_types=[untrusted],
        pyfunc_predict_fn="transform",
    )
    assert Model.load(tmp_path / "m").flavors["sklearn"]["skops_trusted_types"] == [untrusted]
    # The model's own MLmodel names the type, but only the caller may trust a non-sklearn type.
    with pytest.raises(InvalidParameter, match="untrusted types"):
        ledgerflow.pyfunc.load_model(str(tmp_path / "m"))
    loaded = ledgerflow.sklearn.load_model(str(tmp_path / "m"), skops_trusted_types=[untrusted])
    assert loaded.transform(np.array([[1.0]])).tolist() == [[-1.0]]


def test_save_refuses_non_empty_target(tmp_path: Path, classifier: Any) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("mine")
    with pytest.raises(ResourceAlreadyExists):
        ledgerflow.sklearn.save_model(classifier, tmp_path / "x")
    assert (tmp_path / "x" / "keep").read_text() == "mine"


def test_unknown_mlmodel_keys_survive_round_trip(model_dir: Path) -> None:
    data = yaml.safe_load((model_dir / "MLmodel").read_text())
    data["prompts"] = ["p1"]
    data["resources"] = {"api_version": "1"}
    (model_dir / "MLmodel").write_text(yaml.safe_dump(data))
    model = Model.load(model_dir)
    assert model.extra == {"prompts": ["p1"], "resources": {"api_version": "1"}}
    assert yaml.safe_load(model.to_yaml())["prompts"] == ["p1"]


@pytest.mark.parametrize(
    "text",
    [
        "flavors: [1, 2",
        "- just\n- a list\n",
        "run_id: x\n",
        "flavors:\n  python_function: 3\n",
        "flavors:\n  python_function: {loader_module: mlflow.sklearn, model_path: ../../etc/passwd}\n",
        "flavors:\n  python_function: {loader_module: mlflow.sklearn, model_path: /etc/passwd}\n",
        "flavors:\n  sklearn: {}\n",
        "flavors:\n  python_function: {}\n",
        "flavors:\n  python_function: {loader_module: nowhere.module}\n",
        "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model, python_model: ../x.pkl}\n",
    ],
)
def test_malformed_mlmodel_gives_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "MLmodel").write_text(text)
    with pytest.raises(InvalidParameter):
        ledgerflow.pyfunc.load_model(str(tmp_path))


def test_directory_without_mlmodel(tmp_path: Path) -> None:
    with pytest.raises(ResourceDoesNotExist, match="MLmodel"):
        ledgerflow.pyfunc.load_model(str(tmp_path))


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return archive


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "model/../../evil"])
def test_archive_traversal_rejected(tmp_path: Path, name: str) -> None:
    member = tarfile.TarInfo(name)
    member.size = 1
    with pytest.raises(InvalidParameter, match="outside"):
        extract_archive(_tar_with(tmp_path, member), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_archive_links_rejected(tmp_path: Path) -> None:
    member = tarfile.TarInfo("model/MLmodel")
    member.type = tarfile.SYMTYPE
    member.linkname = "/etc/passwd"
    with pytest.raises(InvalidParameter, match="only files and folders"):
        extract_archive(_tar_with(tmp_path, member), tmp_path / "out")
    zipped = tmp_path / "m.zip"
    with zipfile.ZipFile(zipped, "w") as bundle:
        bundle.writestr("../../zip-evil", b"x")
    with pytest.raises(InvalidParameter, match="outside"):
        extract_archive(zipped, tmp_path / "out2")


def test_archive_of_model_dir_loads(tmp_path: Path, model_dir: Path, iris: Any) -> None:
    archive = tmp_path / "packed.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(model_dir, arcname="packed")
    loaded = ledgerflow.pyfunc.load_model(str(archive))
    assert len(loaded.predict(iris[0].head(2))) == 2


class Doubler(ledgerflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        factor = (params or {}).get("factor", 2.0)
        return model_input["x"] * factor + self.offset


def test_custom_pyfunc_with_artifacts_and_params(tmp_path: Path) -> None:
    import pandas as pd

    offset = tmp_path / "offset.txt"
    offset.write_text("0.5")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    ledgerflow.pyfunc.save_model(
        tmp_path / "m", Doubler(), artifacts={"offset": str(offset)}, input_example=(frame, {"factor": 2.0})
    )
    config = Model.load(tmp_path / "m").flavors["python_function"]
    assert config["loader_module"] == "mlflow.pyfunc.model"
    assert config["python_model"] == "python_model.pkl"
    assert config["artifacts"] == {"offset": {"path": "artifacts/offset.txt", "uri": str(offset)}}
    assert (tmp_path / "m" / "artifacts" / "offset.txt").read_text() == "0.5"
    loaded = ledgerflow.pyfunc.load_model(str(tmp_path / "m"))
    assert loaded.predict(frame).tolist() == [2.5, 4.5]
    assert loaded.predict(frame, {"factor": 3}).tolist() == [3.5, 6.5]
    with pytest.raises(InvalidParameter, match="Invalid parameters found"):
        loaded.predict(frame, {"factor": "big"})
    with pytest.raises(InvalidParameter, match=r"Model is missing inputs \['x'\]"):
        loaded.predict(pd.DataFrame({"y": [1.0]}))
    assert isinstance(loaded.unwrap_python_model(), Doubler)
