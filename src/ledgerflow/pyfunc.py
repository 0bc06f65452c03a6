"""``ledgerflow.pyfunc``: load any MLflow-format model and predict; save custom Python models.

Mirrors ``mlflow.pyfunc``::

    import ledgerflow.pyfunc

    model = ledgerflow.pyfunc.load_model("models:/iris-rf@champion")
    model.predict(frame)
"""

from __future__ import annotations

from ledgerflow.models.flavors.pyfunc import PythonModel, PythonModelContext, log_model, save_model
from ledgerflow.models.pyfunc_model import PyFuncModel, load_model

__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "load_model", "log_model", "save_model"]
