"""Regenerate ``src/ledgerflow/governance/scanning/allowlist.json``.

The list is the hand-picked base below (builtins, numpy reconstruction, scipy.sparse,
joblib) plus scikit-learn: every estimator class (``all_estimators``) with the sklearn
classes in its MRO, and every global that pickles of those estimators, fitted on small
data, import (private state classes such as ``sklearn.tree._tree.Tree`` and the loss
objects). Only *classes* of scikit-learn are taken: its functions include test helpers
that run code (``sklearn.utils._testing``), so a module-wide wildcard would be unsafe.

Run with the project's environment after a scikit-learn upgrade, review the diff, and bump
``version`` (a new version makes stored scan results stale, so versions are rescanned)::

    .venv/bin/python scripts/generate_scan_allowlist.py 2026.12.1
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.utils import all_estimators

from ledgerflow.governance.scanning.allowlist import AllowList
from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.formats import Scanner
from ledgerflow.governance.scanning.report import Limits, ScanReport

TARGET = Path(__file__).resolve().parents[1] / "src/ledgerflow/governance/scanning/allowlist.json"

BASE: dict[str, list[str]] = {
    "builtins": [
        "bool",
        "bytearray",
        "bytes",
        "complex",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "object",
        "range",
        "set",
        "slice",
        "str",
        "tuple",
        "NoneType",
    ],
    "collections": ["OrderedDict", "defaultdict", "deque", "Counter"],
    "copyreg": ["_reconstructor"],
    "_codecs": ["encode"],
    "datetime": ["date", "datetime", "time", "timedelta", "timezone"],
    "decimal": ["Decimal"],
    "numpy": [
        "ndarray",
        "dtype",
        "bool_",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "longdouble",
        "complex64",
        "complex128",
        "str_",
        "bytes_",
        "object_",
        "datetime64",
        "timedelta64",
        "intc",
        "uintc",
        "longlong",
        "ulonglong",
    ],
    "numpy.core.multiarray": ["_reconstruct", "scalar"],
    "numpy._core.multiarray": ["_reconstruct", "scalar"],
    "numpy.core.numeric": ["_frombuffer"],
    "numpy._core.numeric": ["_frombuffer"],
    "numpy.ma.core": ["_mareconstruct", "MaskedArray"],
    "numpy.random._pickle": ["__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"],
    "numpy.random.mtrand": ["RandomState"],
    "numpy.random._generator": ["Generator"],
    "numpy.random._mt19937": ["MT19937"],
    "numpy.random._pcg64": ["PCG64", "PCG64DXSM"],
    "numpy.random._philox": ["Philox"],
    "numpy.random._sfc64": ["SFC64"],
    "numpy.random.bit_generator": ["SeedSequence"],
    "numpy.dtypes": [
        f"{name}DType"
        for name in [
            "Bool",
            "Int8",
            "Int16",
            "Int32",
            "Int64",
            "UInt8",
            "UInt16",
            "UInt32",
            "UInt64",
            "Float16",
            "Float32",
            "Float64",
            "LongDouble",
            "Complex64",
            "Complex128",
            "Str",
            "Bytes",
            "Object",
            "DateTime64",
            "TimeDelta64",
            "Void",
        ]
    ],
    "joblib.numpy_pickle": ["NumpyArrayWrapper"],
    # Base classes of custom models: referenced by a subclass pickled by value.
    "ledgerflow.models.flavors.pyfunc": ["PythonModel", "PythonModelContext", "TypeHints"],
    "mlflow.pyfunc.model": ["PythonModel", "PythonModelContext"],
    "mlflow.models.signature": ["_TypeHints"],
}
SPARSE = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]
for kind in SPARSE:
    BASE[f"scipy.sparse._{kind}"] = [f"{kind}_matrix", f"{kind}_array"]
    BASE[f"scipy.sparse.{kind}"] = [f"{kind}_matrix"]

# Estimators fitted to collect the state classes their pickles import.
FITTED = [
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "LogisticRegression",
    "LinearRegression",
    "Ridge",
    "SGDClassifier",
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "NearestNeighbors",
    "KMeans",
    "PCA",
    "StandardScaler",
    "MinMaxScaler",
    "OneHotEncoder",
    "SVC",
    "SVR",
    "GaussianNB",
    "MLPClassifier",
    "IsolationForest",
    "AdaBoostClassifier",
    "BaggingClassifier",
    "KernelDensity",
    "BallTree",
    "LabelEncoder",
    "SimpleImputer",
    "TfidfVectorizer",
]

# Modules of private state classes: every class defined there (never their functions).
CLASS_MODULES = [
    "sklearn._loss.loss",
    "sklearn._loss.link",
    "sklearn._loss._loss",
    "sklearn.tree._criterion",
    "sklearn.tree._tree",
    "sklearn.neighbors._ball_tree",
    "sklearn.neighbors._kd_tree",
    "sklearn.utils._bunch",
    "sklearn.ensemble._hist_gradient_boosting.binning",
    "sklearn.ensemble._hist_gradient_boosting.predictor",
    "sklearn.neural_network._stochastic_optimizers",
]


def _collect(obj: object, rules: AllowList) -> set[tuple[str, str]]:
    report = ScanReport("gen", rules.version)
    ctx = ScanContext(rules, Limits(), report)
    imports: list[str] = []
    stream = io.BytesIO(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    Scanner(ctx).scan(stream, "x", 0, [], imports)
    out = set()
    for finding in report.findings:
        if finding.global_name and finding.global_name.startswith("sklearn."):
            module, _, name = finding.global_name.rpartition(".")
            out.add((module, name))
    return out


def main(version: str) -> None:
    entries: dict[str, set[str]] = {module: set(names) for module, names in BASE.items()}
    for _name, cls in all_estimators():
        for klass in cls.__mro__:
            if klass.__module__.startswith("sklearn."):
                entries.setdefault(klass.__module__, set()).add(klass.__qualname__)
    for module_name in CLASS_MODULES:
        module = importlib.import_module(module_name)
        for attribute, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module_name:
                entries.setdefault(module_name, set()).add(attribute)
    rules = AllowList("gen", {m: frozenset(n) for m, n in entries.items()})
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4))
    labels = (features[:, 0] > 0).astype(int)
    classes = dict(all_estimators())
    warnings.simplefilter("ignore")
    for name in FITTED:
        if name == "BallTree":
            from sklearn.neighbors import BallTree, KDTree

            found = _collect(BallTree(features), rules) | _collect(KDTree(features), rules)
        elif name == "TfidfVectorizer":
            found = _collect(classes[name]().fit(["alpha beta", "beta gamma", "gamma delta alpha"]), rules)
        elif name == "LabelEncoder":
            found = _collect(classes[name]().fit(labels), rules)
        else:
            found = _collect(classes[name]().fit(features, labels), rules)
        for module, qualname in found:
            entries.setdefault(module, set()).add(qualname)
    document = {
        "version": version,
        "generated_with": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "globals": {module: sorted(names) for module, names in sorted(entries.items())},
    }
    TARGET.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{TARGET}: {sum(len(v) for v in entries.values())} globals in {len(entries)} modules")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "2026.12.1")
