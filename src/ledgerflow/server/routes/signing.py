"""Signing endpoints: the trust store (admins), a version's signature, attestations and SBOM.

* ``/2.0/ledgerflow/keys/{create,list,get,revoke,rotate}``
* ``/2.0/ledgerflow/model-versions/signature`` (POST: upload a CI bundle; GET: verified state,
  the bundle and the signing key; with ``use=load|serve|download`` a refused use is audited)
* ``/2.0/ledgerflow/model-versions/attestations[/get|/verify]``
* ``/2.0/ledgerflow/model-versions/sbom`` (the CycloneDX 1.6 JSON document itself)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.server.endpoints import EndpointTable
from ledgerflow.server.payload import Payload

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services

TABLE = EndpointTable()
_KEYS = "/2.0/ledgerflow/keys"
_MV = "/2.0/ledgerflow/model-versions"
_USES = ("load", "serve", "download")


def _version(payload: Payload) -> str:
    value = payload.raw("version")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return payload.req_string("version")


@TABLE.route("POST", f"{_KEYS}/create")
def create_key(services: Services, payload: Payload) -> dict[str, Any]:
    key = services.signing.trust.add(
        payload.req_string("public_key"),
        payload.string("label"),
        not_before=payload.int64("not_before"),
        not_after=payload.int64("not_after"),
    )
    return {"key": key.to_json()}


@TABLE.route("GET", f"{_KEYS}/list")
def list_keys(services: Services, payload: Payload) -> dict[str, Any]:
    return {"keys": [key.to_json() for key in services.signing.trust.list()]}


@TABLE.route("GET", f"{_KEYS}/get")
def get_key(services: Services, payload: Payload) -> dict[str, Any]:
    return {"key": services.signing.trust.get(payload.req_string("key_id")).to_json()}


@TABLE.route("POST", f"{_KEYS}/revoke")
def revoke_key(services: Services, payload: Payload) -> dict[str, Any]:
    key = services.signing.trust.revoke(payload.req_string("key_id"), payload.string("reason"))
    return {"key": key.to_json()}


@TABLE.route("POST", f"{_KEYS}/rotate")
def rotate_key(services: Services, payload: Payload) -> dict[str, Any]:
    new = services.signing.trust.rotate(
        payload.req_string("key_id"), payload.req_string("public_key"), payload.string("label")
    )
    return {
        "key": new.to_json(),
        "previous": services.signing.trust.get(payload.req_string("key_id")).to_json(),
    }


@TABLE.route("POST", f"{_MV}/signature")
def upload_signature(services: Services, payload: Payload) -> dict[str, Any]:
    bundle = payload.raw("bundle")
    if bundle is None:
        raise InvalidParameter("Missing value for required parameter 'bundle'.")
    state = services.signing.signatures.upload(payload.req_string("name"), _version(payload), bundle)
    return {"signature": state.to_json()}


@TABLE.route("GET", f"{_MV}/signature")
def get_signature(services: Services, payload: Payload) -> dict[str, Any]:
    name, version, use = payload.req_string("name"), _version(payload), payload.string("use")
    signatures = services.signing.signatures
    if use is not None:
        if use not in _USES:
            raise InvalidParameter(f"'use' must be one of {', '.join(_USES)}.")
        state = signatures.enforce(name, version, use)
    else:
        state = signatures.state(name, version)
    out: dict[str, Any] = {
        "signature": state.to_json(with_bundle=True),
        "required": signatures.require_signature,
    }
    if state.key_id:
        found = services.signing.trust.find(state.key_id)
        if found is not None:
            out["key"] = found.to_json()
    return out


@TABLE.route("GET", f"{_MV}/attestations")
def list_attestations(services: Services, payload: Payload) -> dict[str, Any]:
    found = services.attestations.list(
        payload.req_string("name"), _version(payload), payload.string("predicate_type")
    )
    return {"attestations": [item.to_json() for item in found]}


def _attestation_of(services: Services, payload: Payload) -> Any:
    # Authorization is on the model named in the request, so the id must belong to it.
    name, version = payload.req_string("name"), _version(payload)
    found = services.attestations.get(payload.req_string("attestation_id"))
    if found.name != name or str(found.version) != str(int(version)):
        raise ResourceDoesNotExist(
            f"No attestation with id '{found.attestation_id}' on {name} version {version}."
        )
    return found


@TABLE.route("GET", f"{_MV}/attestations/get")
def get_attestation(services: Services, payload: Payload) -> dict[str, Any]:
    return {"attestation": _attestation_of(services, payload).to_json()}


@TABLE.route("GET", f"{_MV}/attestations/verify")
def verify_attestation(services: Services, payload: Payload) -> dict[str, Any]:
    found = _attestation_of(services, payload)
    check = services.attestations.verify(
        found.attestation_id, check_files=bool(payload.boolean("check_files"))
    )
    return {"verification": check.to_json()}


@TABLE.route("GET", f"{_MV}/sbom")
def get_sbom(services: Services, payload: Payload) -> dict[str, Any]:
    fmt = payload.string("format") or "cyclonedx"
    if fmt != "cyclonedx":
        raise InvalidParameter("Only format=cyclonedx (CycloneDX 1.6 JSON) is served.")
    document: dict[str, Any] = services.signing.sboms.document(payload.req_string("name"), _version(payload))
    return document
