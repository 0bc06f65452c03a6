"""MLflow's scoring protocol: request parsing and the Starlette scoring server."""
