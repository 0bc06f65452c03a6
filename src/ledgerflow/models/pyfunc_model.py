"""A loaded model behind the generic ``predict(data, params)`` interface, and the loader.

:func:`load_model` resolves a model URI to a local directory, reads ``MLmodel`` and hands
the ``python_function`` flavor to the flavor module named by its ``loader_module``. Models
whose loader Ledgerflow does not know are loaded through MLflow itself when it is installed.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ledgerflow.errors import InvalidParameter
from ledgerflow.models.enforcement import enforce_params, enforce_schema
from ledgerflow.models.flavors import PYFUNC_LOADERS
from ledgerflow.models.mlmodel import Model, safe_relative

PYFUNC_FLAVOR = "python_function"


class PredictImpl(Protocol):
    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


class _MlflowImpl:
    """A model whose loader only MLflow knows (any flavor MLflow ships)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.accepts_params = "params" in inspect.signature(model.predict).parameters

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self.accepts_params:
            return self.model.predict(data, params=params or None)
        return self.model.predict(data)


@dataclass
class PyFuncModel:
    """A model ready to predict; ``predict`` enforces the signature first."""

    metadata: Model
    model_dir: Path
    impl: PredictImpl

    @property
    def signature(self) -> Any:
        return self.metadata.signature

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        signature = self.metadata.signature
        if signature is not None and signature.inputs is not None:
            data = enforce_schema(data, signature.inputs)
        checked = enforce_params(params, signature.params if signature is not None else None)
        return self.impl.predict(data, checked)

    def unwrap_python_model(self) -> Any:
        inner = getattr(self.impl, "python_model", None)
        if inner is None:
            raise InvalidParameter("This model is not a custom Python model.")
        return inner

    def get_raw_model(self) -> Any:
        return getattr(self.impl, "model", self.impl)


def load_local(model_dir: str | Path) -> PyFuncModel:
    """Load a model directory on this machine as a pyfunc."""
    directory = Path(model_dir)
    model = Model.load(directory)
    config = model.flavor(PYFUNC_FLAVOR)
    loader = config.get("loader_module")
    if not isinstance(loader, str) or not loader:
        raise InvalidParameter("The python_function flavor in MLmodel has no 'loader_module'.")
    module_name = PYFUNC_LOADERS.get(loader)
    if module_name is not None:
        module = importlib.import_module(module_name)
        impl: PredictImpl = module.load_pyfunc_impl(directory, model)
        return PyFuncModel(model, directory, impl)
    try:
        foreign = importlib.import_module(loader)
    except ImportError:
        raise InvalidParameter(
            f"The model's loader module '{loader}' is not available here: Ledgerflow reads "
            f"{sorted({k for k in PYFUNC_LOADERS if k.startswith('mlflow')})} itself; other flavors "
            "need MLflow and the flavor's library installed."
        ) from None
    data_path = config.get("model_path") or config.get("data")
    target = directory / safe_relative(data_path, "model_path") if data_path else directory
    return PyFuncModel(model, directory, _MlflowImpl(foreign._load_pyfunc(str(target))))


def load_model(
    model_uri: str,
    dst_path: str | None = None,
    *,
    tracking_uri: str | None = None,
    allow_globals: list[str] | None = None,
) -> PyFuncModel:
    """Load a model from a URI (``models:/``, ``runs:/``, ``mlflow-artifacts:/``, a path).

    Pickles are read through the scanner's allow-list; ``allow_globals`` names the extra
    globals (``module.Class``) a trusted custom model needs. A registered version
    (``models:/name/N``, ``@alias``, stage) must have a clean scan whose file digests match
    the downloaded files, checked before anything is unpickled.
    """
    from ledgerflow.governance.scanning.unpickler import allowing
    from ledgerflow.models.uri import download_model

    with allowing(allow_globals or ()):
        return load_local(download_model(model_uri, dst_path, tracking_uri=tracking_uri))
