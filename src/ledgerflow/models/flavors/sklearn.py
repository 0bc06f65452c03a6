"""The ``sklearn`` flavor: a fitted estimator as ``model.pkl`` (cloudpickle or pickle) or
``model.skops`` (skops, the pickle-free format), plus a ``python_function`` flavor with
``loader_module: mlflow.sklearn`` so stock MLflow serves it too.

Loading skops files trusts only the types the caller names plus scikit-learn, numpy and
scipy types listed in MLmodel: the list in MLmodel comes with the model, so a crafted file
must not be able to vouch for ``builtins.eval``.
"""

from __future__ import annotations

import pickle
import platform
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerflow.errors import InvalidParameter, MissingExtra, ResourceAlreadyExists
from ledgerflow.models import environment
from ledgerflow.models.examples import save_example
from ledgerflow.models.mlmodel import Model, directory_size, safe_relative
from ledgerflow.models.signature import ModelSignature, infer_signature

FLAVOR_NAME = "sklearn"
FORMATS = ("cloudpickle", "pickle", "skops")
DEFAULT_FORMAT = "cloudpickle"
_FILES = {"cloudpickle": "model.pkl", "pickle": "model.pkl", "skops": "model.skops"}
_SELF_TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")
_DEFAULT_REQUIREMENTS = ("cloudpickle", "numpy", "pandas", "scikit-learn", "scipy")


def _serialize(model: Any, path: Path, fmt: str, trusted: list[str]) -> list[str]:
    """Write the estimator; returns the skops types that had to be trusted."""
    if fmt == "skops":
        try:
            import skops.io as sio  # type: ignore[import-untyped]
        except ModuleNotFoundError:
            raise MissingExtra("skops", "Saving a scikit-learn model in the skops format") from None
        sio.dump(model, path)
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
        if untrusted:
            path.unlink()
            raise InvalidParameter(
                f"The model holds types skops does not trust by default: {untrusted}. Pass them in "
                "skops_trusted_types if you trust them, or use serialization_format='cloudpickle'."
            )
        return list(sio.get_untrusted_types(file=path))
    with path.open("wb") as out:
        if fmt == "cloudpickle":
            import cloudpickle

            cloudpickle.dump(model, out)
        else:
            pickle.dump(model, out, protocol=pickle.DEFAULT_PROTOCOL)
    return []


def save_model(
    sk_model: Any,
    path: str | Path,
    *,
    serialization_format: str = DEFAULT_FORMAT,
    skops_trusted_types: list[str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    pyfunc_predict_fn: str = "predict",
    mlmodel: Model | None = None,
) -> Model:
    """Save a fitted estimator as an MLflow model directory at *path* (must not exist)."""
    import sklearn

    if serialization_format not in FORMATS:
        raise InvalidParameter(
            f"Unrecognized serialization format: {serialization_format}. Use one of {list(FORMATS)}."
        )
    if not callable(getattr(sk_model, pyfunc_predict_fn, None)):
        raise InvalidParameter(f"The model has no method '{pyfunc_predict_fn}' to serve as predict.")
    directory = Path(path)
    if directory.exists() and any(directory.iterdir()):
        raise ResourceAlreadyExists(f"Path '{directory}' already exists and is not empty.")
    directory.mkdir(parents=True, exist_ok=True)
    model = mlmodel or Model()
    try:
        data_file = _FILES[serialization_format]
        trusted = _serialize(
            sk_model, directory / data_file, serialization_format, list(skops_trusted_types or [])
        )
        if input_example is not None:
            model.saved_input_example_info = save_example(directory, input_example)
            if signature is None:
                output = getattr(sk_model, pyfunc_predict_fn)(input_example)
                signature = infer_signature(input_example, output)
        model.signature = signature
        model.metadata = metadata
        defaults = [*_DEFAULT_REQUIREMENTS, *(["skops"] if serialization_format == "skops" else [])]
        lines = environment.requirements(
            defaults,
            model_objects=[sk_model],
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
        )
        env = environment.write_environment(directory, lines)
        model.add_flavor(
            "python_function",
            loader_module="mlflow.sklearn",
            model_path=data_file,
            predict_fn=pyfunc_predict_fn,
            env=env,
            python_version=platform.python_version(),
        )
        sklearn_config: dict[str, Any] = {
            "pickled_model": data_file,
            "sklearn_version": sklearn.__version__,
            "serialization_format": serialization_format,
            "code": None,
        }
        if serialization_format == "skops":
            sklearn_config["skops_trusted_types"] = trusted
        model.add_flavor(FLAVOR_NAME, **sklearn_config)
        model.mlflow_version = environment.installed_version("mlflow")
        model.model_size_bytes = directory_size(directory)
        model.save(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return model


def _load_file(path: Path, fmt: str, trusted: list[str]) -> Any:
    if not path.is_file():
        raise InvalidParameter(f"The model file '{path.name}' named in MLmodel is missing.")
    if fmt == "skops":
        try:
            import skops.io as sio  # type: ignore[import-untyped]
        except ModuleNotFoundError:
            raise MissingExtra("skops", "Loading a scikit-learn model saved with skops") from None
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trusted]
        if untrusted:
            raise InvalidParameter(
                f"Refusing to load '{path.name}': it holds untrusted types {untrusted}. Pass them in "
                "skops_trusted_types if you trust this model."
            )
        return sio.load(path, trusted=trusted)
    if fmt not in ("cloudpickle", "pickle"):
        raise InvalidParameter(f"Unrecognized serialization format '{fmt}' in MLmodel.")
    # Through the scan's allow-list: a global it does not allow is refused before use.
    from ledgerflow.governance.scanning.unpickler import restricted_load_path

    return restricted_load_path(path)


def _read(model_dir: Path, model: Model, trusted: list[str] | None) -> tuple[Any, dict[str, Any]]:
    if FLAVOR_NAME in model.flavors:
        config = model.flavors[FLAVOR_NAME]
        data_file = config.get("pickled_model")
        fmt = str(config.get("serialization_format") or "cloudpickle")
        recorded = config.get("skops_trusted_types") or []
    else:
        config = model.flavor("python_function")
        data_file = config.get("model_path") or config.get("data")
        fmt = "skops" if str(data_file).endswith(".skops") else "cloudpickle"
        recorded = []
    own = [t for t in recorded if isinstance(t, str) and t.split(".", 1)[0] in _SELF_TRUSTED_ROOTS]
    path = model_dir / safe_relative(data_file, "pickled_model")
    return _load_file(path, fmt, [*own, *(trusted or [])]), model.flavors.get("python_function", {})


def load_model(
    model_uri: str,
    dst_path: str | None = None,
    *,
    skops_trusted_types: list[str] | None = None,
    allow_globals: list[str] | None = None,
) -> Any:
    """The fitted estimator itself, from any model URI (pickles through the scanner's
    allow-list, plus ``allow_globals``; registered versions must have a clean scan)."""
    from ledgerflow.governance.scanning.unpickler import allowing
    from ledgerflow.models.uri import download_model

    with allowing(allow_globals or ()):
        directory = Path(download_model(model_uri, dst_path))
        return _read(directory, Model.load(directory), skops_trusted_types)[0]


# Estimators whose predict methods start by turning X into one float array and use nothing
# else of it (no column selection by name, no per-column dtypes, no wrapped estimator): given
# a frame whose columns are exactly ``feature_names_in_``, they compute on the array pandas
# hands them, so the scoring server may hand them that array itself (see array_predictor).
_ARRAY_SAFE_MODULES = (
    "sklearn.linear_model.",
    "sklearn.tree.",
    "sklearn.svm.",
    "sklearn.neighbors._classification",
    "sklearn.neighbors._regression",
    "sklearn.naive_bayes",
    "sklearn.discriminant_analysis",
    "sklearn.neural_network.",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
)
_ARRAY_SAFE_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
# Tree models compute each row alone with comparisons and per-row sums in a fixed order, so a
# row's answer is bit-identical inside a larger matrix; BLAS-based models (linear, SVM, MLP,
# neighbours' distances) may round a row differently depending on the matrix around it.
_BATCH_EXACT_MODULES = ("sklearn.tree.", "sklearn.ensemble._forest", "sklearn.ensemble._gb")


class SklearnPyfunc:
    def __init__(self, model: Any, predict_fn: str) -> None:
        self.model = model
        self.predict_fn = predict_fn

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return getattr(self.model, self.predict_fn)(data)

    def array_predictor(self, names: list[str]) -> Callable[[Any], Any] | None:
        """The predict method, to be called with the float64 matrix of a frame whose columns
        are *names* (in that order), when that gives what predicting on the frame gives;
        None when it might not.

        scikit-learn's own handling of a frame (feature-name check, dtype inspection, then
        ``np.asarray``) costs ~0.3 ms per call, more than the arithmetic of a small model. It
        is skipped only for plain estimators of the families above (not subclasses defined
        elsewhere, not meta-estimators) fitted on exactly these column names in this order,
        which is the one case where the frame path cannot fail its name check."""
        estimator = self.model
        cls = type(estimator)
        if self.predict_fn not in _ARRAY_SAFE_METHODS or not cls.__module__.startswith(_ARRAY_SAFE_MODULES):
            return None
        get_params = getattr(estimator, "get_params", None)
        if get_params is None or {"estimator", "base_estimator"} & set(get_params(deep=False)):
            return None
        fitted = getattr(estimator, "feature_names_in_", None)
        if fitted is None or [str(n) for n in fitted] != list(names) or len(fitted) != len(names):
            return None
        if getattr(estimator, "n_features_in_", None) != len(names):
            return None
        # Given the array, scikit-learn warns that X has no feature names; the names were
        # checked above against feature_names_in_, so the warning would be false.
        warnings.filterwarnings(
            "ignore",
            message=re.escape(
                f"X does not have valid feature names, but {cls.__name__} was fitted with feature names"
            ),
            category=UserWarning,
        )
        method: Callable[[Any], Any] = getattr(estimator, self.predict_fn)
        return method

    def batches_exactly(self) -> bool:
        """Whether predicting rows inside a larger matrix gives bit-identical answers (tree
        models on one thread; with several jobs the order of the trees' sums varies anyway)."""
        estimator = self.model
        return type(estimator).__module__.startswith(_BATCH_EXACT_MODULES) and getattr(
            estimator, "n_jobs", None
        ) in (None, 1)


def load_pyfunc_impl(model_dir: Path, model: Model) -> SklearnPyfunc:
    estimator, pyfunc_config = _read(model_dir, model, None)
    predict_fn = str(pyfunc_config.get("predict_fn") or "predict")
    if not callable(getattr(estimator, predict_fn, None)):
        raise InvalidParameter(f"The loaded model has no method '{predict_fn}'.")
    return SklearnPyfunc(estimator, predict_fn)


def log_model(
    sk_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    run_id: str | None = None,
    registered_model_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    **save_kwargs: Any,
) -> Any:
    """Save the estimator and log it as a logged model of the active (or given) run; see
    :func:`ledgerflow.models.logging.log_model` for the logging arguments."""
    from ledgerflow.models.logging import log_model as log_any

    return log_any(
        name or artifact_path or "model",
        lambda path, mlmodel: save_model(sk_model, path, mlmodel=mlmodel, **save_kwargs),
        run_id=run_id,
        registered_model_name=registered_model_name,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
    )
