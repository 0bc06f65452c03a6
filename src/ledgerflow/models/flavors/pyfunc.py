"""Custom Python models: a :class:`PythonModel` with ``load_context`` and ``predict``, and
the files it needs (``artifacts``), saved in the layout ``mlflow.pyfunc.model`` reads:
``python_model.pkl`` (cloudpickle) and ``artifacts/<file>``, listed in the
``python_function`` flavor under ``python_model`` and ``artifacts``.

The saved model refers to this module by name (the base class), so whoever loads it, with
Ledgerflow or stock MLflow, needs ``ledgerflow`` importable; it is in requirements.txt.
"""

from __future__ import annotations

import inspect
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledgerflow.errors import InvalidParameter, ResourceAlreadyExists
from ledgerflow.models import environment
from ledgerflow.models.examples import save_example
from ledgerflow.models.mlmodel import Model, directory_size, safe_relative
from ledgerflow.models.signature import ModelSignature, infer_param_schema, infer_signature

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"


@dataclass
class PythonModelContext:
    """What ``load_context`` gets: local paths of the model's artifacts by name."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeHints:
    """Type hints of ``predict``'s input and output; none are used, so MLflow 3's wrapper
    (which asks every model for them) passes input through unchanged."""

    input: Any = None
    output: Any = None


class PythonModel:
    """Subclass and implement ``predict``; ``load_context`` runs once when the model loads."""

    @property
    def predict_type_hints(self) -> TypeHints:
        return TypeHints()

    def load_context(self, context: PythonModelContext) -> None:
        """Load artifacts (``context.artifacts[name]`` is a local path)."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError


def _copy_artifacts(artifacts: Mapping[str, str], directory: Path) -> dict[str, dict[str, str]]:
    from ledgerflow.models.uri import download_artifact_uri

    config: dict[str, dict[str, str]] = {}
    target_root = directory / ARTIFACTS_DIR
    target_root.mkdir()
    for name, uri in artifacts.items():
        with tempfile.TemporaryDirectory(prefix="ledgerflow-artifact-") as tmp:
            local = Path(download_artifact_uri(str(uri), tmp))
            destination = target_root / local.name
            if destination.exists():
                raise InvalidParameter(f"Two artifacts share the file name '{local.name}'.")
            if local.is_dir():
                shutil.copytree(local, destination)
            else:
                shutil.copyfile(local, destination)
        config[str(name)] = {"path": f"{ARTIFACTS_DIR}/{local.name}", "uri": str(uri)}
    return config


def _predict_takes_context(python_model: Any) -> bool:
    parameters = list(inspect.signature(python_model.predict).parameters)
    return bool(parameters) and parameters[0] == "context"


def save_model(
    path: str | Path,
    python_model: Any,
    *,
    artifacts: Mapping[str, str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    mlmodel: Model | None = None,
) -> Model:
    """Save a :class:`PythonModel` (any object with ``predict``) as a model directory."""
    import cloudpickle

    if not callable(getattr(python_model, "predict", None)):
        raise InvalidParameter("python_model must have a predict method (subclass PythonModel).")
    directory = Path(path)
    if directory.exists() and any(directory.iterdir()):
        raise ResourceAlreadyExists(f"Path '{directory}' already exists and is not empty.")
    directory.mkdir(parents=True, exist_ok=True)
    model = mlmodel or Model()
    try:
        with (directory / PYTHON_MODEL_FILE).open("wb") as out:
            cloudpickle.dump(python_model, out)
        config: dict[str, Any] = {
            "loader_module": "mlflow.pyfunc.model",
            "python_model": PYTHON_MODEL_FILE,
            "cloudpickle_version": cloudpickle.__version__,
            "python_version": platform.python_version(),
            "code": None,
            "streamable": callable(getattr(python_model, "predict_stream", None)),
        }
        if artifacts:
            config["artifacts"] = _copy_artifacts(artifacts, directory)
        if input_example is not None:
            example, params = (
                input_example
                if isinstance(input_example, tuple) and len(input_example) == 2
                else (input_example, None)
            )
            model.saved_input_example_info = save_example(directory, example, params)
            if signature is None:
                context = _context_for(directory, config)
                if hasattr(python_model, "load_context"):
                    python_model.load_context(context)
                output = _call_predict(python_model, context, example, params)
                signature = infer_signature(example, output)
                if params:
                    signature.params = infer_param_schema(params)
        model.signature = signature
        model.metadata = metadata
        lines = environment.requirements(
            ["ledgerflow", "cloudpickle"],
            model_objects=[python_model],
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
        )
        config["env"] = environment.write_environment(directory, lines)
        model.add_flavor("python_function", **config)
        model.mlflow_version = environment.installed_version("mlflow")
        model.model_size_bytes = directory_size(directory)
        model.save(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return model


def _context_for(directory: Path, config: dict[str, Any]) -> PythonModelContext:
    artifacts = config.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise InvalidParameter("'artifacts' of the python_function flavor must be a mapping.")
    paths = {}
    for name, info in artifacts.items():
        relative = safe_relative(
            info.get("path") if isinstance(info, dict) else None, f"path of artifact '{name}'"
        )
        paths[str(name)] = os.path.join(directory, relative)
    return PythonModelContext(paths, {})


def _call_predict(
    python_model: Any, context: PythonModelContext, data: Any, params: dict[str, Any] | None
) -> Any:
    takes_params = "params" in inspect.signature(python_model.predict).parameters
    args: tuple[Any, ...] = (context, data) if _predict_takes_context(python_model) else (data,)
    if takes_params:
        return python_model.predict(*args, params=params)
    return python_model.predict(*args)


class PythonModelPyfunc:
    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _call_predict(self.python_model, self.context, data, params or None)


def load_pyfunc_impl(model_dir: Path, model: Model) -> PythonModelPyfunc:
    from ledgerflow.governance.scanning.unpickler import restricted_load_path

    config = model.flavor("python_function")
    if "model_code_path" in config:
        raise InvalidParameter(
            "This model was saved as models-from-code; loading it needs MLflow's own loader."
        )
    pickled = model_dir / safe_relative(config.get("python_model"), "python_model")
    if not pickled.is_file():
        raise InvalidParameter(f"The python model file '{pickled.name}' named in MLmodel is missing.")
    if config.get("python_model_compression"):
        raise InvalidParameter("Compressed python models are not supported; save without compression.")
    # Through the scan's allow-list; a custom class needs its global allowed explicitly.
    python_model = restricted_load_path(pickled)
    context = _context_for(model_dir, config)
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return PythonModelPyfunc(python_model, context)


def log_model(
    name: str | None = None,
    *,
    python_model: Any,
    artifact_path: str | None = None,
    run_id: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    **save_kwargs: Any,
) -> Any:
    """Save a custom Python model and log it as a logged model (see ``save_model``)."""
    from ledgerflow.models.logging import log_model as log_any

    return log_any(
        name or artifact_path or "model",
        lambda path, mlmodel: save_model(path, python_model, mlmodel=mlmodel, **save_kwargs),
        run_id=run_id,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
    )
