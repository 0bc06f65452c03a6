"""Health, version and capability routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ledgerflow import __version__
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()

# The MLflow version whose wire protocol this server speaks; clients gate features on it.
MLFLOW_WIRE_VERSION = "3.18.0"


@TABLE.route("GET", "/3.0/mlflow/server-info")
def server_info(services: Services, payload: Payload) -> dict[str, Any]:
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "artifact_serving_enabled": services.config.serve_artifacts,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "model_artifact_presigned_downloads_supported": False,
        "artifacts_presigned_only": False,
        "tracking_auth": False,
        "features_enabled": {"gateway": False},
        "ledgerflow_version": __version__,
    }


def routes(services: Services) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def version(request: Request) -> Response:
        return PlainTextResponse(MLFLOW_WIRE_VERSION)

    async def openapi(request: Request) -> Response:
        from ledgerflow.server import jsonio
        from ledgerflow.server.openapi import build_openapi

        document = build_openapi(request.app.state.endpoints)
        return Response(jsonio.dumps(document), media_type="application/json")

    return [Route("/health", health), Route("/version", version), Route("/openapi.json", openapi)]
