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

A ``run_id`` or ``model_id`` sent with the source must name a run or logged model that exists,
and one the source belongs to: the run of a ``runs:/`` URI, the logged model of
``models:/<model_id>`` (400 INVALID_PARAMETER_VALUE with MLflow's message "The run_id request
parameter must identify the resource that contains the source."; a ``runs:/`` URI of a run that
does not exist stays 404). MLflow 3.17 applies the existence rule to local and proxied
(``mlflow-artifacts:``) sources only and stores a dangling run_id with an ``s3://`` source or a
``runs:/`` URI of an unknown run; here no version records lineage that points nowhere.
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


def not_containing(source: str, field: str) -> InvalidParameter:
    """MLflow's answer when ``run_id`` or ``model_id`` does not name what holds the source."""
    return invalid_source(
        source, f"The {field} request parameter must identify the resource that contains the source."
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

    def resolve(
        self, conn: Connection, source: str, run_id: str | None, model_id: str | None = None
    ) -> ResolvedSource:
        if len(source) > MAX_SOURCE_LENGTH:
            raise invalid_source(source[:64] + "...", f"It is longer than {MAX_SOURCE_LENGTH} characters.")
        _check_characters(source)
        # An empty string is the proto default: not given, as MLflow reads it.
        run_id, model_id = run_id or None, model_id or None
        scheme = scheme_of(source)
        if scheme == "runs":
            # Its own run must exist (404 when it does not) and be the run_id, if one is given.
            resolved = self._run_path(conn, source, run_id)
        else:
            run = self._given_run(conn, source, run_id)
            if scheme == "models":
                resolved = self._logged_model(conn, source, run_id)
            elif scheme in ("", "file"):
                resolved = self._local(source, run)
            else:
                resolved = self._remote(source, run)
        if model_id is not None:
            self._check_model_id(conn, source, model_id, resolved)
            resolved = ResolvedSource(resolved.storage_location, resolved.run_id, model_id)
        return resolved

    def _given_run(self, conn: Connection, source: str, run_id: str | None) -> Any:
        if run_id is None:
            return None
        row = run_store.find_row(conn, run_id)
        if row is None:
            raise not_containing(source, "run_id")
        return row

    def _check_model_id(self, conn: Connection, source: str, model_id: str, resolved: ResolvedSource) -> None:
        """A given model_id names an active logged model: the one the source resolved to, or
        (for a path or URI) the one whose files hold it."""
        if resolved.model_id is not None:
            if resolved.model_id != model_id:
                raise not_containing(source, "model_id")
            return
        row = logged_model_store.find_row(conn, model_id)
        if row is None or row.lifecycle_stage != logged_model_store.ACTIVE:
            raise not_containing(source, "model_id")
        location = str(row.artifact_location).rstrip("/")
        local, root = _local_path(source), _local_path(location)
        inside = _below(local, root) if local and root else _below(source.rstrip("/"), location)
        if not inside:
            raise not_containing(source, "model_id")

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
        if run_id is not None and run_id != source_run:
            raise not_containing(source, "run_id")
        try:
            clean = paths.clean_path(path)
        except InvalidParameter as error:
            raise invalid_source(source, error.message) from None
        artifact_uri = str(self._run(conn, source_run).artifact_uri).rstrip("/")
        if clean:
            logged = logged_model_store.run_model_named(conn, source_run, clean)
            if logged is not None:
                return ResolvedSource(logged.artifact_location, source_run, logged.model_id)
        location = f"{artifact_uri}/{clean}" if clean else artifact_uri
        return ResolvedSource(location, source_run)

    def _local(self, source: str, run: Any) -> ResolvedSource:
        local = _local_path(source)
        if run is None or local is None:
            raise invalid_source(source, _LOCAL_HELP)
        run_dir = _local_path(str(run.artifact_uri))
        if run_dir is None or not _below(local, run_dir):
            raise invalid_source(source, _LOCAL_HELP)
        return ResolvedSource(source, str(run.run_uuid))

    def _remote(self, source: str, run: Any) -> ResolvedSource:
        run_id = None if run is None else str(run.run_uuid)
        if run is not None and _below(source.rstrip("/"), str(run.artifact_uri).rstrip("/")):
            return ResolvedSource(source, run_id)
        try:
            self.locations.check_client_location(source)
        except InvalidParameter as error:
            raise invalid_source(source, error.message) from None
        return ResolvedSource(source, run_id)
