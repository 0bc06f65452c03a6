"""Which sources a model version may be registered from, and where its files then are.

* ``models:/<model_id>``: a logged model; the files are at its artifact location and the
  version's run_id defaults to the model's source run.
* ``runs:/<run_id>/<path>``: the logged model named ``<path>`` that the run logged or output
  (MLflow 3 keeps such a model's files at the model's own location, not in the run's
  artifacts: ``mlflow.register_model`` resolves the URI to it the same way), else a path
  inside the run's artifact directory (a model logged by an MLflow 2 client).
* A local path or ``file:`` URI: only inside the artifact directory of the run named by
  ``run_id`` (MLflow's rule since 2.2.2, BC-48).
* Any other URI: only under one of the server's artifact roots, or inside the given run's
  artifact directory. MLflow accepts any remote URI; a server that later serves the files
  (get-download-uri, get-artifact) must not be pointed at storage it does not own.

Every source is checked as received and after repeated percent-decoding: NUL and control
characters, backslashes and ``..`` components are refused wherever they hide.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ledgerflow.artifacts import paths
from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist
from ledgerflow.registry.validation import MAX_SOURCE_LENGTH
from ledgerflow.store import logged_models as logged_model_store
from ledgerflow.store import runs as run_store

if TYPE_CHECKING:
    from ledgerflow.artifacts.locations import ArtifactLocations

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOCAL_HELP = (
    "To use a local path as a model version source, the run_id request parameter has to be "
    "specified and the local path has to be contained within the artifact directory of the "
    "run specified by the run_id."
)


@dataclass(frozen=True)
class ResolvedSource:
    storage_location: str
    run_id: str | None
    # The logged model the source turned out to be (models:/<id>, or a runs:/ URI naming one).
    model_id: str | None = None


def invalid_source(source: str, reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid model version source: '{source}'. {reason}")


def scheme_of(uri: str) -> str:
    match = _SCHEME.match(uri)
    # A one-letter "scheme" is a Windows drive letter: a local path.
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def _check_characters(source: str) -> None:
    try:
        decoded = paths.decode_fixpoint(source)
    except InvalidParameter:
        raise invalid_source(source, "It is percent-encoded too many times.") from None
    try:
        paths.check_uri_text(source)
    except InvalidParameter as error:
        raise invalid_source(source, error.message) from None
    for value in (source, decoded):
        if _CONTROL.search(value):
            raise invalid_source(source, "Control characters (including NUL bytes) are not allowed.")
        if "\\" in value:
            raise invalid_source(source, "Backslashes are not allowed.")
        if ".." in value.split("/"):
            raise invalid_source(
                source,
                "A source must be an absolute path or URI with no relative references ('..'), "
                "also after percent-decoding.",
            )


def _local_path(uri: str) -> str | None:
    """The absolute local path a path or ``file:`` URI names; None when it is relative."""
    if uri.startswith("file://"):
        rest = uri[len("file://") :]
        if not rest.startswith("/"):
            return None  # file://./foo or file://host/x: not an absolute local path
        path = rest
    elif uri.startswith("file:"):
        path = uri[len("file:") :]
    else:
        path = uri
    if not path.startswith("/"):
        return None
    return os.path.normpath(path)


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class SourceResolver:
    def __init__(self, locations: ArtifactLocations) -> None:
        self.locations = locations

    def resolve(self, conn: Connection, source: str, run_id: str | None) -> ResolvedSource:
        if len(source) > MAX_SOURCE_LENGTH:
            raise invalid_source(source[:64] + "...", f"It is longer than {MAX_SOURCE_LENGTH} characters.")
        _check_characters(source)
        scheme = scheme_of(source)
        if scheme == "models":
            return self._logged_model(conn, source, run_id)
        if scheme == "runs":
            return self._run_path(conn, source, run_id)
        if scheme in ("", "file"):
            return self._local(conn, source, run_id)
        return self._remote(conn, source, run_id)

    def _logged_model(self, conn: Connection, source: str, run_id: str | None) -> ResolvedSource:
        model_id = source[len("models:") :].strip("/")
        if not model_id or "/" in model_id:
            raise invalid_source(source, "A models:/ source must name a logged model: models:/<model_id>.")
        row = logged_model_store.find_row(conn, model_id)
        if row is None or row.lifecycle_stage != logged_model_store.ACTIVE:
            raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found.")
        return ResolvedSource(row.artifact_location, run_id or row.source_run_id, model_id)

    def _run(self, conn: Connection, run_id: str) -> Any:
        row = run_store.find_row(conn, run_id)
        if row is None:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return row

    def _run_path(self, conn: Connection, source: str, run_id: str | None) -> ResolvedSource:
        rest = source[len("runs:") :].lstrip("/")
        source_run, _, path = rest.partition("/")
        if not source_run:
            raise invalid_source(source, "A runs:/ source must be runs:/<run_id>/<path>.")
        try:
            clean = paths.clean_path(path)
        except InvalidParameter as error:
            raise invalid_source(source, error.message) from None
        artifact_uri = str(self._run(conn, source_run).artifact_uri).rstrip("/")
        if clean:
            logged = logged_model_store.run_model_named(conn, source_run, clean)
            if logged is not None:
                return ResolvedSource(logged.artifact_location, run_id or source_run, logged.model_id)
        location = f"{artifact_uri}/{clean}" if clean else artifact_uri
        return ResolvedSource(location, run_id or source_run)

    def _local(self, conn: Connection, source: str, run_id: str | None) -> ResolvedSource:
        local = _local_path(source)
        if not run_id or local is None:
            raise invalid_source(source, _LOCAL_HELP)
        run_dir = _local_path(str(self._run(conn, run_id).artifact_uri))
        if run_dir is None or not _below(local, run_dir):
            raise invalid_source(source, _LOCAL_HELP)
        return ResolvedSource(source, run_id)

    def _remote(self, conn: Connection, source: str, run_id: str | None) -> ResolvedSource:
        if run_id:
            row = run_store.find_row(conn, run_id)
            if row is not None and _below(source.rstrip("/"), str(row.artifact_uri).rstrip("/")):
                return ResolvedSource(source, run_id)
        try:
            self.locations.check_client_location(source)
        except InvalidParameter as error:
            raise invalid_source(source, error.message) from None
        return ResolvedSource(source, run_id)
