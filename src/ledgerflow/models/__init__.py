"""MLflow's model format: MLmodel, flavors, signatures, model URIs and the scoring server.

Nothing here is imported by ``import ledgerflow``; the public entry points are the thin
modules ``ledgerflow.pyfunc`` and ``ledgerflow.sklearn``.
"""
