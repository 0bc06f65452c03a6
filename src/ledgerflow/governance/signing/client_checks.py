"""Client-side verification before a registered model is loaded or served.

The client asks the server for the version's signature (``use=load|serve``: the server
re-verifies its stored files and records a refusal), then checks the downloaded files itself
against the bundle with the key the trust store returned: bytes altered between the store and
this process are caught too. ``LEDGERFLOW_REQUIRE_SIGNATURE=true`` makes the client refuse
unsigned versions even when the server does not require signatures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerflow.errors import PermissionDenied, RestError
from ledgerflow.governance.signing import oms
from ledgerflow.governance.signing.keys import key_id_of, load_public_key
from ledgerflow.governance.signing.manifest import LocalDirectory, hash_source

if TYPE_CHECKING:
    from ledgerflow.client.client import Client

REQUIRE_ENV = "LEDGERFLOW_REQUIRE_SIGNATURE"
_PATH = "/2.0/ledgerflow/model-versions/signature"


def required_by_client() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def signature_of(client: Client, name: str, version: str, use: str) -> dict[str, Any] | None:
    """The server's answer, or None from a server without the signing API."""
    try:
        return client.transport.call("GET", _PATH, {"name": name, "version": version, "use": use})
    except RestError as error:
        if error.error_code == "ENDPOINT_NOT_FOUND":
            return None
        raise


def verify_registered_download(
    client: Client, name: str, version: str, directory: Path, use: str = "load"
) -> None:
    """Refuse (PermissionDenied) files that do not match the version's signature."""
    answer = signature_of(client, name, version, use)
    required = required_by_client() or bool(answer and answer.get("required"))
    signature = (answer or {}).get("signature") or {}
    if signature.get("status") != "valid":
        if required:
            raise PermissionDenied(f"Refusing to {use} {name} version {version}: it has no valid signature.")
        return
    key = (answer or {}).get("key") or {}
    pem = key.get("public_key_pem")
    if not isinstance(pem, str) or key_id_of(pem) != signature.get("key_id") or key.get("status") != "active":
        raise PermissionDenied(f"Refusing to {use} {name} version {version}: its signing key is not trusted.")
    try:
        signed = oms.verify(signature.get("bundle") or {}, load_public_key(pem))
        problem = oms.Binding(name, str(version), None).problem_with(
            oms.Binding(signed.binding.model_name, signed.binding.model_version, None)
            if signed.binding
            else None
        )
    except oms.SignatureError as error:
        problem = str(error)
    if problem is None:
        differences = signed.differences(hash_source(LocalDirectory(directory)))
        problem = "; ".join(differences[:5]) if differences else None
    if problem is not None:
        raise PermissionDenied(
            f"Refusing to {use} {name} version {version}: {problem} (key {signature.get('key_id')})"
        )


def check_before_serving(model_uri: str, tracking_uri: str | None) -> str | None:
    """The scoring server's start-up check on a ``models:/`` URI (audited when refused).

    Returns what was found for the start-up log: "<name> version <N>, key <id>" when the
    version has a valid signature (``load_model`` then checks the downloaded bytes against it),
    else None.
    """
    if not model_uri.startswith("models:"):
        return None
    from ledgerflow.client.client import Client
    from ledgerflow.client.fluent import _context
    from ledgerflow.models.uri import _parse_models_uri

    client = Client(tracking_uri) if tracking_uri else _context().client()
    name, suffix, alias = _parse_models_uri(model_uri)
    if alias is not None:
        by_alias = client.transport.call(
            "GET", "/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias}
        )
        found = (name, str(by_alias["model_version"]["version"]))
    elif suffix is not None and suffix.isdigit():
        found = (name, suffix)
    else:
        return None  # latest / stage / logged model: load_model's own check runs on the resolved version
    answer = signature_of(client, found[0], found[1], "serve")
    required = required_by_client() or bool(answer and answer.get("required"))
    signature = (answer or {}).get("signature") or {}
    if signature.get("status") != "valid":
        if required:
            raise PermissionDenied(
                f"Refusing to serve {found[0]} version {found[1]}: it has no valid signature."
            )
        return None
    return f"{found[0]} version {found[1]}, key {signature.get('key_id')}"
