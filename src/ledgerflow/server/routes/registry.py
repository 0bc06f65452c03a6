"""Model registry endpoints (MLflow's ModelRegistryService), plus the UI's
``/model-versions/get-artifact`` file route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload, missing

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_MODELS = "/2.0/mlflow/registered-models"
_VERSIONS = "/2.0/mlflow/model-versions"


def _tags(payload: Payload) -> list[tuple[str, str]]:
    return [
        (tag.req_string("key"), tag.string("value", default="") or "") for tag in payload.messages("tags")
    ]


def _version(payload: Payload) -> str:
    # A proto string; JSON clients also send the number.
    value = payload.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("version")


def _search_args(payload: Payload) -> dict[str, Any]:
    return {
        "filter_string": payload.string("filter"),
        "max_results": payload.int64("max_results"),
        "order_by": payload.string_list("order_by"),
        "page_token": payload.string("page_token"),
    }


# -- registered models -----------------------------------------------------------------------


@TABLE.route("POST", f"{_MODELS}/create")
def create_registered_model(services: Services, payload: Payload) -> dict[str, Any]:
    model = services.registry.models.create(
        payload.req_string("name"),
        _tags(payload),
        payload.string("description"),
        payload.string("deployment_job_id"),
    )
    return {"registered_model": model}


@TABLE.route("POST", f"{_MODELS}/rename")
def rename_registered_model(services: Services, payload: Payload) -> dict[str, Any]:
    model = services.registry.models.rename(payload.req_string("name"), payload.string("new_name"))
    return {"registered_model": model}


@TABLE.route("PATCH", f"{_MODELS}/update")
def update_registered_model(services: Services, payload: Payload) -> dict[str, Any]:
    model = services.registry.models.update(
        payload.req_string("name"), payload.string("description"), payload.string("deployment_job_id")
    )
    return {"registered_model": model}


@TABLE.route("DELETE", f"{_MODELS}/delete")
def delete_registered_model(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.models.delete(payload.req_string("name"))
    return {}


@TABLE.route("GET", f"{_MODELS}/get")
def get_registered_model(services: Services, payload: Payload) -> dict[str, Any]:
    return {"registered_model": services.registry.models.get(payload.req_string("name"))}


@TABLE.route("GET", f"{_MODELS}/search")
def search_registered_models(services: Services, payload: Payload) -> dict[str, Any]:
    return services.registry.models.search(**_search_args(payload), readable=services.authz.readable_models())


def _latest_versions(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.registry.models.latest_versions(
        payload.req_string("name"), payload.string_list("stages")
    )
    return {"model_versions": found} if found else {}


@TABLE.route("POST", f"{_MODELS}/get-latest-versions")
def get_latest_versions(services: Services, payload: Payload) -> dict[str, Any]:
    return _latest_versions(services, payload)


@TABLE.route("GET", f"{_MODELS}/get-latest-versions")
def get_latest_versions_get(services: Services, payload: Payload) -> dict[str, Any]:
    """The Java client asks with GET."""
    return _latest_versions(services, payload)


@TABLE.route("POST", f"{_MODELS}/set-tag")
def set_registered_model_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.models.set_tag(
        payload.req_string("name"), payload.req_string("key"), payload.req_string("value")
    )
    return {}


@TABLE.route("DELETE", f"{_MODELS}/delete-tag")
def delete_registered_model_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.models.delete_tag(payload.req_string("name"), payload.req_string("key"))
    return {}


@TABLE.route("POST", f"{_MODELS}/alias")
def set_alias(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.aliases.set(payload.req_string("name"), payload.req_string("alias"), _version(payload))
    return {}


@TABLE.route("DELETE", f"{_MODELS}/alias")
def delete_alias(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.aliases.delete(payload.req_string("name"), payload.req_string("alias"))
    return {}


@TABLE.route("GET", f"{_MODELS}/alias")
def get_model_version_by_alias(services: Services, payload: Payload) -> dict[str, Any]:
    version = services.registry.aliases.get(payload.req_string("name"), payload.req_string("alias"))
    return {"model_version": version}


# -- model versions --------------------------------------------------------------------------


@TABLE.route("POST", f"{_VERSIONS}/create")
def create_model_version(services: Services, payload: Payload) -> dict[str, Any]:
    version = services.registry.versions.create(
        payload.req_string("name"),
        payload.req_string("source"),
        run_id=payload.string("run_id"),
        tags=_tags(payload),
        run_link=payload.string("run_link"),
        description=payload.string("description"),
        model_id=payload.string("model_id"),
    )
    return {"model_version": version}


@TABLE.route("PATCH", f"{_VERSIONS}/update")
def update_model_version(services: Services, payload: Payload) -> dict[str, Any]:
    version = services.registry.versions.update(
        payload.req_string("name"), _version(payload), payload.string("description")
    )
    return {"model_version": version}


@TABLE.route("POST", f"{_VERSIONS}/transition-stage")
def transition_model_version_stage(services: Services, payload: Payload) -> dict[str, Any]:
    name, version, stage = payload.req_string("name"), _version(payload), payload.req_string("stage")
    archive = payload.boolean("archive_existing_versions")
    if archive is None:
        raise missing("archive_existing_versions")
    return {"model_version": services.registry.versions.transition_stage(name, version, stage, archive)}


@TABLE.route("DELETE", f"{_VERSIONS}/delete")
def delete_model_version(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.versions.delete(payload.req_string("name"), _version(payload))
    return {}


@TABLE.route("GET", f"{_VERSIONS}/get")
def get_model_version(services: Services, payload: Payload) -> dict[str, Any]:
    return {"model_version": services.registry.versions.get(payload.req_string("name"), _version(payload))}


@TABLE.route("GET", f"{_VERSIONS}/search")
def search_model_versions(services: Services, payload: Payload) -> dict[str, Any]:
    return services.registry.versions.search(
        **_search_args(payload), readable=services.authz.readable_models()
    )


@TABLE.route("GET", f"{_VERSIONS}/get-download-uri")
def get_model_version_download_uri(services: Services, payload: Payload) -> dict[str, Any]:
    name, version = payload.req_string("name"), _version(payload)
    services.signing.signatures.enforce(name, version, "download")
    services.scanning.enforce(name, version, "download")
    uri = services.registry.versions.download_uri(name, version)
    return {"artifact_uri": uri}


@TABLE.route("POST", f"{_VERSIONS}/set-tag")
def set_model_version_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.versions.set_tag(
        payload.req_string("name"), _version(payload), payload.req_string("key"), payload.req_string("value")
    )
    return {}


@TABLE.route("DELETE", f"{_VERSIONS}/delete-tag")
def delete_model_version_tag(services: Services, payload: Payload) -> dict[str, Any]:
    services.registry.versions.delete_tag(
        payload.req_string("name"), _version(payload), payload.req_string("key")
    )
    return {}


def routes(services: Services) -> list[BaseRoute]:
    from ledgerflow.server.routes.artifacts import stream_download

    versions = services.registry.versions
    artifacts = services.artifacts

    async def get_artifact(request: Request) -> Response:
        query = Payload(dict(request.query_params), from_query=True)
        name, version, path = query.req_string("name"), _version(query), query.req_string("path")
        await run_in_threadpool(services.signing.signatures.enforce_file, name, version, path)
        await run_in_threadpool(services.scanning.enforce, name, version, "download")
        target = await run_in_threadpool(versions.artifact, name, version, path)
        return stream_download(await run_in_threadpool(artifacts.open_download, target))

    return [
        Route("/model-versions/get-artifact", get_artifact, methods=["GET"]),
        Route("/ajax-api/2.0/mlflow/model-versions/get-artifact", get_artifact, methods=["GET"]),
    ]
