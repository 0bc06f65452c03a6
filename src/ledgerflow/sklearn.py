"""``ledgerflow.sklearn``: save, log and load scikit-learn models in MLflow's format.

``log_model(estimator, name="model", input_example=frame)`` creates a logged model of the
active run; ``serialization_format`` is ``"cloudpickle"`` (default), ``"pickle"`` or
``"skops"`` (pickle-free; needs the ``skops`` extra and ``skops_trusted_types`` for types
such as ``sklearn.tree._tree.Tree``).
"""

from __future__ import annotations

from ledgerflow.models.flavors.sklearn import FLAVOR_NAME, load_model, log_model, save_model

__all__ = ["FLAVOR_NAME", "load_model", "log_model", "save_model"]
