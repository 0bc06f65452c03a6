"""Model registry methods of ``ledgerflow.Client`` and the fluent ``register_model``.

Names, arguments and defaults follow ``mlflow.MlflowClient`` (``search_registered_models``
returns 100 per page, ``search_model_versions`` 10,000; both return a :class:`PagedList`
whose ``.token`` asks for the next page). Server errors surface as
:class:`~ledgerflow.errors.RestError` with the server's error code, e.g.
``RESOURCE_DOES_NOT_EXIST`` for an unknown model.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ledgerflow.client.entities import PagedList
from ledgerflow.client.registry_entities import ModelVersion, RegisteredModel
from ledgerflow.errors import InvalidParameter, RestError

if TYPE_CHECKING:
    from ledgerflow.client.client import Client

log = logging.getLogger(__name__)

_MODELS = "/registered-models"
_VERSIONS = "/model-versions"
PENDING_REGISTRATION = "PENDING_REGISTRATION"
DEFAULT_AWAIT_CREATION_SECONDS = 300


def _tag_list(tags: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"key": str(k), "value": str(v)} for k, v in (tags or {}).items()]


def _search_body(
    filter_string: str | None, max_results: int, order_by: list[str] | None, page_token: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"max_results": max_results}
    if filter_string:
        body["filter"] = filter_string
    if order_by:
        body["order_by"] = list(order_by)
    if page_token:
        body["page_token"] = page_token
    return body


class RegistryMethods:
    """Mixed into ``Client``; every method is one registry REST call (or a short sequence)."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError  # provided by Client

    # -- registered models ------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _tag_list(tags)}
        if description is not None:
            body["description"] = description
        if deployment_job_id is not None:
            body["deployment_job_id"] = deployment_job_id
        return RegisteredModel.from_json(self._call("POST", f"{_MODELS}/create", body)["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        data = self._call("GET", f"{_MODELS}/get", {"name": name})
        return RegisteredModel.from_json(data["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        data = self._call("POST", f"{_MODELS}/rename", {"name": name, "new_name": new_name})
        return RegisteredModel.from_json(data["registered_model"])

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if deployment_job_id is not None:
            body["deployment_job_id"] = deployment_job_id
        return RegisteredModel.from_json(self._call("PATCH", f"{_MODELS}/update", body)["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", f"{_MODELS}/delete", {"name": name})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        body = _search_body(filter_string, max_results, order_by, page_token)
        data = self._call("GET", f"{_MODELS}/search", body)
        found = [RegisteredModel.from_json(m) for m in data.get("registered_models") or []]
        return PagedList(found, data.get("next_page_token"))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._call("POST", f"{_MODELS}/set-tag", {"name": name, "key": key, "value": str(value)})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{_MODELS}/delete-tag", {"name": name, "key": key})

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        body: dict[str, Any] = {"name": name}
        if stages:
            body["stages"] = list(stages)
        data = self._call("POST", f"{_MODELS}/get-latest-versions", body)
        return [ModelVersion.from_json(v) for v in data.get("model_versions") or []]

    # -- aliases ----------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._call("POST", f"{_MODELS}/alias", {"name": name, "alias": alias, "version": str(version)})

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{_MODELS}/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        data = self._call("GET", f"{_MODELS}/alias", {"name": name, "alias": alias})
        return ModelVersion.from_json(data["model_version"])

    # -- model versions ---------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = DEFAULT_AWAIT_CREATION_SECONDS,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register *source* as the next version of *name*; waits up to *await_creation_for*
        seconds while the server reports the version as still being registered."""
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tag_list(tags)}
        for key, value in (
            ("run_id", run_id),
            ("run_link", run_link),
            ("description", description),
            ("model_id", model_id),
        ):
            if value is not None:
                body[key] = value
        version = ModelVersion.from_json(self._call("POST", f"{_VERSIONS}/create", body)["model_version"])
        deadline = time.monotonic() + max(0, await_creation_for)
        while version.status == PENDING_REGISTRATION and time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            version = self.get_model_version(name, version.version)
        return version

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        data = self._call("GET", f"{_VERSIONS}/get", {"name": name, "version": str(version)})
        return ModelVersion.from_json(data["model_version"])

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        body: dict[str, Any] = {"name": name, "version": str(version)}
        if description is not None:
            body["description"] = description
        return ModelVersion.from_json(self._call("PATCH", f"{_VERSIONS}/update", body)["model_version"])

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._call("DELETE", f"{_VERSIONS}/delete", {"name": name, "version": str(version)})

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        body = _search_body(filter_string, max_results, order_by, page_token)
        data = self._call("GET", f"{_VERSIONS}/search", body)
        found = [ModelVersion.from_json(v) for v in data.get("model_versions") or []]
        return PagedList(found, data.get("next_page_token"))

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        data = self._call("GET", f"{_VERSIONS}/get-download-uri", {"name": name, "version": str(version)})
        return str(data["artifact_uri"])

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": bool(archive_existing_versions),
        }
        return ModelVersion.from_json(
            self._call("POST", f"{_VERSIONS}/transition-stage", body)["model_version"]
        )

    def _version_for(self, name: str, version: str | int | None, stage: str | None) -> str:
        """MlflowClient's rule for version tags: a version, or the latest one in a stage."""
        if version is not None and stage is not None:
            raise InvalidParameter("version and stage cannot be set together.")
        if version is not None:
            return str(version)
        if stage is None:
            raise InvalidParameter("Either version or stage must be set.")
        latest = self.get_latest_versions(name, [stage])
        if not latest:
            raise InvalidParameter(f"Could not find any model version for {stage} stage.")
        return latest[0].version

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        if key is None:
            raise InvalidParameter("A tag key is required.")
        number = self._version_for(name, version, stage)
        body = {"name": name, "version": number, "key": key, "value": str(value)}
        self._call("POST", f"{_VERSIONS}/set-tag", body)

    def delete_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, stage: str | None = None
    ) -> None:
        if key is None:
            raise InvalidParameter("A tag key is required.")
        number = self._version_for(name, version, stage)
        self._call("DELETE", f"{_VERSIONS}/delete-tag", {"name": name, "version": number, "key": key})


def _source_of(model_uri: str) -> tuple[str, str | None, str | None]:
    """(source, run_id, model_id) to register *model_uri* with: a ``runs:/<run>/<path>`` URI
    names its run, ``models:/<model_id>`` its logged model; the server resolves both."""
    if model_uri.startswith("runs:/"):
        run_id = model_uri[len("runs:/") :].split("/", 1)[0]
        if not run_id:
            raise InvalidParameter(f"Invalid runs URI '{model_uri}': use runs:/<run_id>/<path>.")
        return model_uri, run_id, None
    if model_uri.startswith("models:/"):
        rest = model_uri[len("models:/") :].strip("/")
        if rest and "/" not in rest and "@" not in rest:
            return model_uri, None, rest
    return model_uri, None, None


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = DEFAULT_AWAIT_CREATION_SECONDS,
    *,
    tags: dict[str, Any] | None = None,
    client: Client | None = None,
) -> ModelVersion:
    """Register the model at *model_uri* as a new version of *name*, creating the registered
    model when it does not exist yet (``mlflow.register_model``)."""
    from ledgerflow.client import fluent

    client = client or fluent._context().client()
    try:
        client.create_registered_model(name)
        log.info("Successfully registered model '%s'.", name)
    except RestError as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        log.info("Registered model '%s' already exists. Creating a new version of this model...", name)
    source, run_id, model_id = _source_of(model_uri)
    version = client.create_model_version(
        name, source, run_id=run_id, tags=tags, await_creation_for=await_registration_for, model_id=model_id
    )
    log.info("Created version '%s' of model '%s'.", version.version, name)
    return version
