"""An OpenAPI 3.1 document generated from the endpoint table, so it cannot drift from the routes."""

from __future__ import annotations

import re
from typing import Any

from ledgerflow import __version__
from ledgerflow.server.endpoints import EndpointTable

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {
        "error_code": {"type": "string", "examples": ["INVALID_PARAMETER_VALUE"]},
        "message": {"type": "string"},
    },
}


def _operation(method: str, path: str, handler: Any) -> dict[str, Any]:
    doc = (handler.__doc__ or "").strip()
    summary = doc.splitlines()[0] if doc else handler.__name__.replace("_", " ").capitalize()
    operation: dict[str, Any] = {
        "operationId": handler.__name__,
        "summary": summary,
        "tags": [path.split("/")[3] if len(path.split("/")) > 3 else "mlflow"],
        "responses": {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "default": {
                "description": "MLflow error JSON",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)(?::\w+)?\}", path)
    ]
    if parameters:
        operation["parameters"] = parameters
    if method in ("POST", "PATCH", "DELETE", "PUT"):
        operation["requestBody"] = {
            "required": method != "DELETE",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return operation


def build_openapi(table: EndpointTable) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in table.endpoints:
        prefix = "/ajax-api" if endpoint.ajax_only else "/api"
        # OpenAPI has no converters: ``{key:path}`` is documented as ``{key}``.
        entry = paths.setdefault(prefix + re.sub(r"\{(\w+):\w+\}", r"{\1}", endpoint.path), {})
        entry[endpoint.method.lower()] = _operation(endpoint.method, endpoint.path, endpoint.handler)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ledgerflow REST API",
            "version": __version__,
            "description": "MLflow-compatible tracking API. Every path is also served under /ajax-api.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": _ERROR_SCHEMA}},
    }
