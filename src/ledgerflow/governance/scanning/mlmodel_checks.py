"""Checks of a model's metadata files: what ``MLmodel`` makes a loader import or run, and
what the environment files make an installer do.

* ``MLmodel``: a ``python_function`` ``loader_module`` that is not a known flavor loader
  (it is imported and called on load), ``code_paths`` / ``code`` (directories put on
  ``sys.path`` before loading) and models-from-code (``model_code_path``: a script run on load);
* ``requirements.txt``, ``conda.yaml``, ``python_env.yaml``: shell metacharacters (the
  dependency strings reach shell commands in some serving paths, CVE-2025-15379) and
  options or references that install from somewhere other than the package index
  (``--index-url``, ``--extra-index-url``, ``-f``, ``git+``, URLs, ``name @ url``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.report import MLMODEL

MAX_METADATA_BYTES = 4 * 1024 * 1024
REQUIREMENT_FILES = ("requirements.txt",)
CONDA_FILE = "conda.yaml"
PYTHON_ENV_FILE = "python_env.yaml"
MLMODEL_FILE = "MLmodel"
# `mlflow run` executes an MLproject's entry-point commands in a shell (CVE-2024-37061); a
# model version has no business shipping one.
MLPROJECT_FILE = "MLproject"

# Loaders Ledgerflow implements and those MLflow ships with its flavors.
KNOWN_LOADERS = frozenset(
    {
        "ledgerflow.models.flavors.sklearn",
        "ledgerflow.models.flavors.pyfunc",
        "mlflow.pyfunc.model",
        *(
            f"mlflow.{flavor}"
            for flavor in [
                "sklearn",
                "catboost",
                "diffusers",
                "h2o",
                "johnsnowlabs",
                "keras",
                "lightgbm",
                "onnx",
                "paddle",
                "pmdarima",
                "prophet",
                "pytorch",
                "sentence_transformers",
                "shap",
                "spacy",
                "spark",
                "statsmodels",
                "tensorflow",
                "transformers",
                "xgboost",
                "langchain",
                "openai",
                "llama_index",
                "dspy",
            ]
        ),
    }
)
_SHELL = re.compile(r"[`$|&\\\n\r]|\$\(")
# A PEP 508 environment marker after ';' (python_version < "3.12" and sys_platform == 'linux').
_MARKER = re.compile(
    r"""^\s*[A-Za-z_][A-Za-z0-9_.]*\s*(==|!=|<=|>=|<|>|~=|===|\s+in\s+|\s+not\s+in\s+)\s*["'][\w.* -]*["']"""
    r"""(\s+(and|or)\s+[A-Za-z_][A-Za-z0-9_.]*\s*(==|!=|<=|>=|<|>|~=|===|\s+in\s+|\s+not\s+in\s+)"""
    r"""\s*["'][\w.* -]*["'])*\s*$"""
)
_FOREIGN_OPTIONS = re.compile(
    r"^\s*(-i\b|--index-url|--extra-index-url|-f\b|--find-links|--trusted-host|-e\b|--editable|-r\b|"
    r"--requirement|-c\b|--constraint|--pre\b|--no-index|--prefer-binary|--use-feature)"
)
_LOCAL_FILE_OPTION = re.compile(r"^\s*(-r|-c|--requirement|--constraint)\s+[\w.-]+\.txt\s*$")
_FOREIGN_REFERENCE = re.compile(r"(git|hg|svn|bzr)\+|[a-z][a-z0-9+.-]*://|\bfile:|\s@\s|^\s*[./~]", re.I)


def check_requirement(line: str) -> str | None:
    """Why one dependency string is refused, or None."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    requirement, _, marker = text.partition(";")
    if _SHELL.search(text) or (marker and not _MARKER.match(marker)):
        return f"shell metacharacters in dependency {text!r}"
    if _LOCAL_FILE_OPTION.match(requirement):
        # MLflow's python_env.yaml says "-r requirements.txt": a file of this model, checked too.
        return None
    if _FOREIGN_OPTIONS.match(requirement):
        return f"installer option {text!r} (a foreign index or file)"
    if _FOREIGN_REFERENCE.search(requirement):
        return f"dependency {text!r} installs from outside the package index"
    return None


def _load_yaml(ctx: ScanContext, path: str, data: bytes) -> Any:
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        ctx.error(path, "corrupt", f"unreadable YAML: {' '.join(str(error).split())[:200]}")
        return None


def _conda_dependencies(document: Any) -> Iterator[str]:
    if not isinstance(document, dict):
        return
    for item in document.get("dependencies") or []:
        if isinstance(item, dict):
            for pip_item in item.get("pip") or []:
                yield str(pip_item)
        else:
            yield str(item)


def _python_env_dependencies(document: Any) -> Iterator[str]:
    if not isinstance(document, dict):
        return
    for key in ("build_dependencies", "dependencies"):
        for item in document.get(key) or []:
            yield str(item)


def check_metadata(ctx: ScanContext, path: str, name: str, data: bytes) -> None:
    """Run the checks that apply to a file called ``name`` (the base name)."""
    if len(data) > MAX_METADATA_BYTES:
        ctx.error(path, "limit", f"{name} is larger than {MAX_METADATA_BYTES} bytes")
        return
    lines: list[str] = []
    if name == MLPROJECT_FILE:
        ctx.finding(path, MLMODEL, "an MLproject file: `mlflow run` executes its commands in a shell")
        return
    if name == MLMODEL_FILE:
        _check_mlmodel(ctx, path, _load_yaml(ctx, path, data))
        return
    if name in REQUIREMENT_FILES:
        lines = data.decode("utf-8", errors="replace").splitlines()
    elif name == CONDA_FILE:
        lines = list(_conda_dependencies(_load_yaml(ctx, path, data)))
    elif name == PYTHON_ENV_FILE:
        lines = list(_python_env_dependencies(_load_yaml(ctx, path, data)))
    for line in lines:
        problem = check_requirement(line)
        if problem is not None:
            ctx.finding(path, MLMODEL, problem)


def _check_mlmodel(ctx: ScanContext, path: str, document: Any) -> None:
    if document is None:
        return
    if not isinstance(document, dict):
        ctx.error(path, "corrupt", "MLmodel is not a mapping")
        return
    flavors = document.get("flavors") or {}
    if not isinstance(flavors, dict):
        ctx.error(path, "corrupt", "MLmodel 'flavors' is not a mapping")
        return
    for flavor_name, config in flavors.items():
        if not isinstance(config, dict):
            continue
        loader = config.get("loader_module")
        if loader is not None and str(loader) not in KNOWN_LOADERS:
            ctx.finding(path, MLMODEL, f"flavor {flavor_name!r} names an unknown loader_module {loader!r}")
        for key in ("code_paths", "code"):
            if config.get(key):
                ctx.finding(
                    path, MLMODEL, f"flavor {flavor_name!r} ships code directories ({key}: {config[key]!r})"
                )
        if config.get("model_code_path"):
            ctx.finding(path, MLMODEL, f"flavor {flavor_name!r} is a model from code (a script run on load)")
