"""Model URIs: resolve to an artifact location over the tracking REST API, then download.

Accepted forms, as MLflow's client accepts them:

* ``models:/<name>/<version>``, ``models:/<name>/latest``, ``models:/<name>/<stage>`` and
  ``models:/<name>@<alias>`` (registry: ``get-latest-versions``, ``registered-models/alias``,
  then ``model-versions/get-download-uri``);
* ``models:/<model_id>`` (``GET logged-models/<id>``);
* ``runs:/<run_id>/<path>`` (the run's artifacts when a model is there, else the run's
  logged model named ``<path>``, found with ``logged-models/search``);
* ``mlflow-artifacts:/...`` (the server's artifact proxy), ``file://`` and local paths,
  including ``.tar.gz`` / ``.zip`` archives of a model directory.
"""

from __future__ import annotations

import posixpath
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ledgerflow.client import artifacts as artifact_ops
from ledgerflow.client.entities import FileInfo
from ledgerflow.client.transport import HttpTransport, LocalTransport, Transport
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist, RestError

if TYPE_CHECKING:
    from ledgerflow.client.client import Client
    from ledgerflow.tracking.services import Services

MLMODEL = "MLmodel"
STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


class ServiceProxyArtifacts:
    """The artifact proxy of a local store, through its services in this process."""

    def __init__(self, services: Services, base: str) -> None:
        self.artifacts = services.artifacts
        self.base = base.strip("/")

    def _path(self, path: str) -> str:
        return posixpath.join(self.base, path) if path else self.base

    def upload_file(self, local_file: Path, dest_path: str) -> None:
        target = self.artifacts.proxy_target(self._path(dest_path))
        with local_file.open("rb") as handle:
            self.artifacts.store(target, iter(lambda: handle.read(artifact_ops.CHUNK), b""))

    def list(self, path: str) -> list[FileInfo]:
        listing = self.artifacts.list_proxy_directory(self._path(path))
        files = []
        for item in listing.get("files") or []:
            name = posixpath.basename(str(item["path"]).rstrip("/"))
            is_dir = bool(item.get("is_dir", False))
            size = None if is_dir or item.get("file_size") is None else int(item["file_size"])
            files.append(FileInfo(posixpath.join(path, name) if path else name, is_dir, size))
        return sorted(files, key=lambda f: f.path)

    def download_file(self, path: str, dest: Path) -> bool:
        try:
            download = self.artifacts.open_download(self.artifacts.proxy_target(self._path(path)))
        except ResourceDoesNotExist:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with dest.open("wb") as out:
                for block in download.chunks:
                    out.write(block)
        finally:
            download.close()
        return True


def store_for_location(transport: Transport | None, artifact_uri: str) -> artifact_ops.ArtifactStore:
    """The artifact store behind an artifact URI (not tied to a run)."""
    if artifact_uri.startswith("mlflow-artifacts:"):
        parsed = urlparse(artifact_uri)
        base = unquote(parsed.path)
        if isinstance(transport, HttpTransport):
            if parsed.netloc:
                # mlflow-artifacts://host:port/path names its own server.
                transport = HttpTransport(f"http://{parsed.netloc}")
            return artifact_ops.ProxyArtifacts(transport, base)
        if isinstance(transport, LocalTransport):
            return ServiceProxyArtifacts(transport.services, base)
        raise InvalidParameter(f"'{artifact_uri}' needs a tracking server to reach its artifacts.")
    if artifact_uri.startswith("file:"):
        return artifact_ops.FolderArtifacts(unquote(urlparse(artifact_uri).path))
    if "://" not in artifact_uri:
        return artifact_ops.FolderArtifacts(artifact_uri)
    raise InvalidParameter(f"Unsupported artifact location '{artifact_uri}'.")


# -- resolution --------------------------------------------------------------------------------


def _call(client: Client, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return client.transport.call(method, "/2.0/mlflow" + path, body)


def _download_uri(client: Client, name: str, version: str) -> str:
    uri = _call(client, "GET", "/model-versions/get-download-uri", {"name": name, "version": version})
    location = uri.get("artifact_uri")
    if not location:
        raise ResourceDoesNotExist(f"Model version {name} {version} has no download location.")
    return str(location)


def _latest_version(client: Client, name: str, stage: str | None) -> str:
    body: dict[str, Any] = {"name": name}
    if stage is not None:
        body["stages"] = [stage]
    versions = (
        _call(client, "POST", "/registered-models/get-latest-versions", body).get("model_versions") or []
    )
    if stage is not None:
        versions = [v for v in versions if str(v.get("current_stage", "")).lower() == stage.lower()]
    if not versions:
        where = f" in stage '{stage}'" if stage else ""
        raise ResourceDoesNotExist(f"No versions of model with name '{name}'{where} found")
    return str(max(int(v["version"]) for v in versions))


def _parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name or model id, version-or-stage, alias)."""
    body = uri[len("models:") :]
    if body.startswith("//"):
        raise InvalidParameter(
            f"Model URIs with a profile ('{uri}') are not supported; use models:/<name>/..."
        )
    body = body.lstrip("/")
    if not body:
        raise InvalidParameter(f"Invalid model URI '{uri}': it names no model.")
    if "@" in body and "/" not in body.split("@", 1)[1]:
        name, alias = body.rsplit("@", 1)
        if not name or not alias:
            raise InvalidParameter(f"Invalid model URI '{uri}': use models:/<name>@<alias>.")
        return name, None, alias
    if "/" not in body:
        return body, None, None
    name, _, suffix = body.rpartition("/")
    if not name or not suffix:
        raise InvalidParameter(f"Invalid model URI '{uri}': use models:/<name>/<version|stage|latest>.")
    return name, suffix, None


def registry_version(client: Client, uri: str) -> tuple[str, str] | None:
    """(name, version) of the registered version a ``models:/`` URI names; None for a
    logged model id (``models:/m-...``)."""
    name, suffix, alias = _parse_models_uri(uri)
    if alias is not None:
        version = _call(client, "GET", "/registered-models/alias", {"name": name, "alias": alias})
        return name, str(version["model_version"]["version"])
    if suffix is None:
        return None
    if suffix.isdigit():
        return name, suffix
    if suffix.lower() == "latest":
        return name, _latest_version(client, name, None)
    stage = STAGES.get(suffix.lower())
    if stage is None:
        raise InvalidParameter(
            f"Invalid model URI '{uri}': '{suffix}' is not a version number, 'latest' or a stage "
            f"({', '.join(STAGES.values())})."
        )
    return name, _latest_version(client, name, stage)


def _resolve_models(client: Client, uri: str) -> str:
    found = registry_version(client, uri)
    if found is None:
        model = _call(client, "GET", f"/logged-models/{_parse_models_uri(uri)[0]}", {})
        return str(model["model"]["info"]["artifact_uri"])
    return _download_uri(client, *found)


def _resolve_runs(client: Client, uri: str) -> str:
    body = uri[len("runs:") :].lstrip("/")
    run_id, _, path = body.partition("/")
    if not run_id:
        raise InvalidParameter(f"Invalid runs URI '{uri}': use runs:/<run_id>/<path>.")
    run = client.get_run(run_id)
    path = artifact_ops.clean_artifact_path(path)
    root = run.info.artifact_uri.rstrip("/")
    location = f"{root}/{path}" if path else root
    store = store_for_location(client.transport, location)
    if any(f.path == MLMODEL for f in store.list("")):
        return location
    # MLflow 3 keeps the model with its logged model, named after the path.
    found = _call(
        client,
        "POST",
        "/logged-models/search",
        {"experiment_ids": [run.info.experiment_id], "filter": f"name = '{path.replace(chr(39), '')}'"},
    )
    for model in found.get("models") or []:
        info = model.get("info") or {}
        if info.get("source_run_id") == run_id:
            return str(info["artifact_uri"])
    raise ResourceDoesNotExist(f"No model found at '{uri}': run {run_id} has no model named '{path}'.")


def resolve_model_uri(uri: str, client: Client) -> str:
    """The artifact location that holds the model's files."""
    try:
        if uri.startswith("models:"):
            return _resolve_models(client, uri)
        if uri.startswith("runs:"):
            return _resolve_runs(client, uri)
    except RestError as error:
        if error.error_code == "ENDPOINT_NOT_FOUND":
            raise InvalidParameter(f"The tracking server cannot resolve '{uri}': {error.message}") from None
        raise
    return uri


# -- download ----------------------------------------------------------------------------------


def _safe_member(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise InvalidParameter(f"Refusing archive member '{name}': it points outside the extraction folder.")
    return target


def extract_archive(archive: Path, destination: Path) -> Path:
    """Extract a model archive, refusing absolute, ``..``, link and device members."""
    root = destination.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                _safe_member(root, info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InvalidParameter(f"Refusing archive member '{info.filename}': it is a link.")
            bundle.extractall(root)
    else:
        try:
            bundle_tar = tarfile.open(archive)  # noqa: SIM115 - closed by the with below
        except tarfile.TarError as error:
            raise InvalidParameter(f"'{archive}' is not a readable model archive: {error}") from None
        with bundle_tar:
            members = bundle_tar.getmembers()
            for member in members:
                _safe_member(root, member.name)
                if not (member.isfile() or member.isdir()):
                    raise InvalidParameter(
                        f"Refusing archive member '{member.name}': only files and folders allowed."
                    )
            bundle_tar.extractall(root, members=members, filter="data")
    candidates = [p.parent for p in root.rglob(MLMODEL)]
    if not candidates:
        raise ResourceDoesNotExist(f"The archive '{archive}' holds no MLmodel file.")
    return min(candidates, key=lambda p: len(p.parts))


def _local_path(uri: str) -> Path | None:
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    if "://" not in uri and not uri.startswith(("models:", "runs:", "mlflow-artifacts:")):
        return Path(uri)
    return None


def download_artifact_uri(uri: str, dst_path: str | Path, *, tracking_uri: str | None = None) -> str:
    """Copy whatever *uri* names (file or folder, local or remote) under *dst_path*."""
    local = _local_path(uri)
    if local is not None:
        if not local.exists():
            raise ResourceDoesNotExist(f"No such file or directory: '{local}'")
        return str(local)
    from ledgerflow.client.client import Client

    client = Client(tracking_uri) if tracking_uri else _fluent_client()
    location = resolve_model_uri(uri, client)
    local = _local_path(location)
    if local is not None:
        return str(local)
    store = store_for_location(client.transport, location)
    return artifact_ops.download(store, "", dst_path)


def _download_files(client: Client, location: str, target: Path) -> Path:
    local = _local_path(location)
    if local is not None:
        return local
    return Path(artifact_ops.download(store_for_location(client.transport, location), "", target))


def _download_unregistered(client: Client, model_uri: str, target: Path) -> Path:
    """A logged model, run folder or proxy location: its files' upload scans must let it
    load, and the files downloaded must be those scanned."""
    from ledgerflow.governance.scanning import gate

    location = resolve_model_uri(model_uri, client)
    what = f"model '{model_uri}'"
    scan = gate.require_loadable_files(client, what, location)
    with gate.refusals_are_unsafe(what):
        directory = _download_files(client, location, target)
    gate.check_downloaded_files(what, scan, directory)
    return directory


def _download_registered(model_uri: str, target: Path, tracking_uri: str | None) -> Path:
    """Download; the files must pass the scan gate before anything is loaded."""
    if not model_uri.startswith(("models:", "runs:", "mlflow-artifacts:")):
        return Path(download_artifact_uri(model_uri, target, tracking_uri=tracking_uri))
    from ledgerflow.client.client import Client
    from ledgerflow.governance.scanning.gate import (
        check_registered_version,
        refusals_are_unsafe,
        require_loadable_scan,
    )

    client = Client(tracking_uri) if tracking_uri else _fluent_client()
    if not model_uri.startswith("models:"):
        return _download_unregistered(client, model_uri, target)
    try:
        found = registry_version(client, model_uri)
    except RestError as error:
        if error.error_code == "ENDPOINT_NOT_FOUND":
            raise InvalidParameter(
                f"The tracking server cannot resolve '{model_uri}': {error.message}"
            ) from None
        raise
    if found is None:
        return _download_unregistered(client, model_uri, target)
    scan = require_loadable_scan(client, *found)
    location = _download_uri(client, *found)
    with refusals_are_unsafe(f"model '{found[0]}' version {found[1]}"):
        directory = _download_files(client, location, target)
    # Signature first (files as signed), then the scan gate; separate checks, same point.
    from ledgerflow.governance.signing.client_checks import verify_registered_download

    verify_registered_download(client, found[0], found[1], directory)
    check_registered_version(client, found[0], found[1], directory, scan)
    return directory


def _fluent_client() -> Client:
    from ledgerflow.client.fluent import _context

    return _context().client()


def download_model(
    model_uri: str, dst_path: str | Path | None = None, *, tracking_uri: str | None = None
) -> str:
    """A local directory holding the model named by *model_uri* (downloaded when remote)."""
    if not isinstance(model_uri, str) or not model_uri:
        raise InvalidParameter("A model URI is required.")
    local = _local_path(model_uri)
    if local is not None:
        if local.name == MLMODEL:
            local = local.parent
        if local.is_file():
            target = (
                Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="ledgerflow-model-"))
            )
            return str(extract_archive(local, target))
        if not local.is_dir():
            raise ResourceDoesNotExist(f"No such model directory: '{local}'")
        directory = local
    else:
        target = (
            Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="ledgerflow-model-"))
        )
        directory = _download_registered(model_uri, target, tracking_uri)
    if not (directory / MLMODEL).is_file():
        raise ResourceDoesNotExist(f"No MLmodel file found under '{model_uri}': it does not name a model.")
    return str(directory)
