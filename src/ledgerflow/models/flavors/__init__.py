"""One module per flavor. Each flavor module that can serve as a pyfunc defines
``load_pyfunc_impl(model_dir, model)``; :data:`PYFUNC_LOADERS` maps the ``loader_module``
names MLflow writes (and ours) to the module that reads them without MLflow installed.
Adding a flavor is adding a module and a line here."""

from __future__ import annotations

PYFUNC_LOADERS: dict[str, str] = {
    "mlflow.sklearn": "ledgerflow.models.flavors.sklearn",
    "ledgerflow.models.flavors.sklearn": "ledgerflow.models.flavors.sklearn",
    "mlflow.pyfunc.model": "ledgerflow.models.flavors.pyfunc",
    "ledgerflow.models.flavors.pyfunc": "ledgerflow.models.flavors.pyfunc",
}
