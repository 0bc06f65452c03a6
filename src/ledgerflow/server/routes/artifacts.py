"""Artifact routes: MLflow's artifact proxy (``mlflow-artifacts``), the tracking service's
artifact listings, and the UI's download and upload routes.

Bodies stream both ways (uploads in bounded chunks, downloads chunk by chunk), so a file of
any size passes through with flat server memory. Every upload is scanned as it completes and
every download passes the scan gate (``ArtifactService.serve``; governance/scanning/files.py).
No upload or delete may change a registered version's files (governance/frozen_files.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ledgerflow.artifacts import media
from ledgerflow.artifacts.service import Download, Upload
from ledgerflow.errors import InvalidParameter, ServiceUnavailable
from ledgerflow.governance.frozen_files import FrozenVersionFiles
from ledgerflow.server import jsonio
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.file_responses import CheckedFileResponse, install_log_filter
from ledgerflow.server.payload import Payload, missing

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()

PROXY_PATH = "/2.0/mlflow-artifacts/artifacts"
# Chunks from the ASGI server are small; hand them to the storage thread in batches.
UPLOAD_FLUSH_BYTES = 1024 * 1024
# MLflow's limit for the UI's upload route.
UI_UPLOAD_MAX_BYTES = 10 * 1024 * 1024


@TABLE.route("GET", "/2.0/mlflow/artifacts/list")
def list_artifacts(services: Services, payload: Payload) -> dict[str, Any]:
    run_id = payload.string("run_id") or payload.string("run_uuid")
    return services.artifacts.list_run_artifacts(run_id, payload.string("path"))


@TABLE.route("GET", "/2.0/mlflow/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(services: Services, payload: Payload) -> dict[str, Any]:
    return services.artifacts.list_logged_model_artifacts(
        payload.req_string("model_id"), payload.string("artifact_directory_path")
    )


def _json(body: dict[str, Any]) -> Response:
    return Response(jsonio.dumps(body), media_type="application/json")


def _required(request: Request, *names: str) -> str:
    for name in names:
        value = request.query_params.get(name)
        if value:
            return value
    raise missing(names[0])


def stream_download(download: Download) -> Response:
    media_type, headers = media.download_headers(download.name)
    headers["Content-Length"] = str(download.size)
    if download.digest is not None:
        headers.update(download.digest.headers())
    return CheckedFileResponse(download.chunks, media_type=media_type, headers=headers)


async def receive_into(request: Request, upload: Upload) -> None:
    """Stream the request body into *upload* and commit it; abort on any failure."""
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= UPLOAD_FLUSH_BYTES:
                data = bytes(buffer)
                buffer.clear()
                await run_in_threadpool(upload.write, data)
        if buffer:
            await run_in_threadpool(upload.write, bytes(buffer))
        await run_in_threadpool(upload.commit)
    except BaseException:
        upload.abort()
        raise


def routes(services: Services) -> list[BaseRoute]:
    artifacts = services.artifacts
    frozen = FrozenVersionFiles(services.db, services.audit)
    install_log_filter()

    def refuse_unless_serving(request: Request) -> None:
        if not services.config.serve_artifacts:
            raise ServiceUnavailable(
                f"Endpoint {request.url.path} is disabled because the server runs with "
                "--no-serve-artifacts. Start it with --serve-artifacts to proxy artifacts."
            )

    async def proxy_file(request: Request) -> Response:
        refuse_unless_serving(request)
        target = artifacts.proxy_target(request.path_params["path"])
        if request.method == "PUT":
            await run_in_threadpool(frozen.check, target, "write")
            declared = request.headers.get("content-length", "")
            size = int(declared) if declared.isdigit() else None
            upload = await run_in_threadpool(artifacts.open_upload, target, None, None, size)
            try:
                await receive_into(request, upload)
            except ClientDisconnect:
                return Response(status_code=400)
            return _json({})
        if request.method == "DELETE":
            await run_in_threadpool(frozen.check, target, "delete")
            await run_in_threadpool(artifacts.delete, target)
            return _json({})
        return stream_download(await run_in_threadpool(artifacts.serve, target))

    async def proxy_list(request: Request) -> Response:
        refuse_unless_serving(request)
        listing = await run_in_threadpool(artifacts.list_proxy_directory, request.query_params.get("path"))
        return _json(listing)

    async def get_artifact(request: Request) -> Response:
        path = _required(request, "path")
        run_id = _required(request, "run_uuid", "run_id")
        target = await run_in_threadpool(artifacts.run_file, run_id, path)
        return stream_download(await run_in_threadpool(artifacts.serve, target))

    async def upload_artifact(request: Request) -> Response:
        path = _required(request, "path")
        run_id = _required(request, "run_uuid", "run_id")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > UI_UPLOAD_MAX_BYTES:
            raise InvalidParameter(
                f"Artifact is too large: the limit for this upload is {UI_UPLOAD_MAX_BYTES} bytes."
            )
        target = await run_in_threadpool(artifacts.run_file, run_id, path)
        await run_in_threadpool(frozen.check, target, "write")
        upload = await run_in_threadpool(artifacts.open_upload, target, None, UI_UPLOAD_MAX_BYTES)
        try:
            await receive_into(request, upload)
        except ClientDisconnect:
            return Response(status_code=400)
        return _json({})

    async def logged_model_file(request: Request) -> Response:
        path = _required(request, "artifact_file_path")
        target = await run_in_threadpool(artifacts.logged_model_file, request.path_params["model_id"], path)
        return stream_download(await run_in_threadpool(artifacts.serve, target))

    found: list[BaseRoute] = []
    for prefix in ("/api", "/ajax-api"):
        found.append(Route(prefix + PROXY_PATH, proxy_list, methods=["GET"]))
        found.append(
            Route(prefix + PROXY_PATH + "/{path:path}", proxy_file, methods=["GET", "PUT", "DELETE"])
        )
    found.append(Route("/get-artifact", get_artifact, methods=["GET"]))
    found.append(Route("/ajax-api/2.0/mlflow/get-artifact", get_artifact, methods=["GET"]))
    found.append(Route("/ajax-api/2.0/mlflow/upload-artifact", upload_artifact, methods=["POST"]))
    found.append(
        Route(
            "/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
            logged_model_file,
            methods=["GET"],
        )
    )
    return found
