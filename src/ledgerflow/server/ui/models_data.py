"""The registry pages' reads: models, versions, alias history and a version's files.

This is the registry counterpart of :class:`ledgerflow.server.ui.data.UiData` and reads the
same way, through the services (and the UI-only queries of ``registry_queries``), never over
HTTP. Run lookups for lineage go through the UiData it is given, so there is one of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledgerflow.artifacts import paths
from ledgerflow.artifacts.service import ArtifactService, Target
from ledgerflow.errors import ResourceDoesNotExist
from ledgerflow.registry.model_versions import require_version
from ledgerflow.registry.registered_models import require_model
from ledgerflow.server.ui import registry_queries
from ledgerflow.server.ui.data import UiData
from ledgerflow.server.ui.registry_queries import AliasSpan, VersionStorage
from ledgerflow.store import registry_versions as version_store

if TYPE_CHECKING:
    from ledgerflow.tracking.services import Services


@dataclass
class AliasTimeline:
    """One alias of a model: the version holding it now (None if it was removed) and the
    earlier assignments, newest first."""

    alias: str
    current: int | None
    current_since: int | None
    past: list[AliasSpan] = field(default_factory=list)


def merge_spans(spans: list[AliasSpan]) -> list[AliasSpan]:
    """Join back-to-back spans of one alias on one version (newest first in, and out).

    A rename closes an alias's history row and opens a new one at the same instant on the same
    version; to a reader that is one unbroken assignment.
    """
    merged: list[AliasSpan] = []
    for span in spans:
        if merged:
            newer = merged[-1]
            if newer.alias == span.alias and newer.version == span.version and span.unset_at == newer.set_at:
                merged[-1] = AliasSpan(span.alias, span.version, span.set_at, newer.unset_at)
                continue
        merged.append(span)
    return merged


def timelines(spans: list[AliasSpan], current: dict[str, int]) -> list[AliasTimeline]:
    by_alias: dict[str, list[AliasSpan]] = {}
    for span in spans:
        by_alias.setdefault(span.alias, []).append(span)
    for alias in current:
        by_alias.setdefault(alias, [])
    result = []
    for alias in sorted(by_alias):
        entries = merge_spans(by_alias[alias])
        now = current.get(alias)
        since = None
        if entries and entries[0].unset_at is None and entries[0].version == now:
            since = entries[0].set_at
            entries = entries[1:]
        result.append(AliasTimeline(alias, now, since, entries))
    return result


class ModelsData:
    def __init__(self, services: Services, data: UiData) -> None:
        self.services = services
        self.data = data

    # -- models ------------------------------------------------------------------------------

    def search_models(
        self, filter_string: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        found = self.services.registry.models.search(
            filter_string=filter_string,
            max_results=page_size,
            order_by=["name ASC"],
            page_token=page_token or None,
            readable=self.services.authz.readable_models(),
        )
        return list(found.get("registered_models", [])), found.get("next_page_token") or None

    def model(self, name: str) -> dict[str, Any]:
        return self.services.registry.models.get(name)

    def versions_page(
        self, name: str, below: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of the model's versions, highest first, and the ``below`` of the next page."""
        with self.services.db.read() as conn:
            model_id = require_model(conn, name).registered_model_id
            numbers = registry_queries.version_numbers(conn, model_id, below, limit + 1)
            shown = numbers[:limit]
            versions = version_store.load(conn, [(model_id, n) for n in shown])
        versions.sort(key=lambda v: int(v["version"]), reverse=True)
        return versions, (shown[-1] if len(numbers) > limit else None)

    def alias_timelines(self, model: dict[str, Any]) -> tuple[list[AliasTimeline], bool]:
        current = {a["alias"]: int(a["version"]) for a in model.get("aliases", [])}
        with self.services.db.read() as conn:
            model_id = require_model(conn, model["name"]).registered_model_id
            spans, truncated = registry_queries.alias_history(conn, model_id)
        return timelines(spans, current), truncated

    # -- one version -------------------------------------------------------------------------

    def version(self, name: str, version: str) -> tuple[dict[str, Any], VersionStorage]:
        with self.services.db.read() as conn:
            model = require_model(conn, name)
            row = require_version(conn, model, version)
            found = version_store.load(conn, [(model.registered_model_id, row.version)])[0]
            storage = registry_queries.version_storage(conn, model.registered_model_id, row.version)
        if storage is None:
            raise ResourceDoesNotExist(f"Model Version (name={name}, version={version}) not found")
        return found, storage

    def run(self, run_id: str) -> dict[str, Any]:
        run = self.data.run(run_id)
        # A version's page may be readable when its source run's experiment is not: show the
        # lineage only to callers who could open the run itself.
        readable = self.services.authz.readable_experiments()
        if readable is not None and int(run["info"]["experiment_id"]) not in readable:
            raise ResourceDoesNotExist(f"Run '{run_id}' not found.")
        return run

    def _root(self, storage_location: str) -> Target:
        # Only files under this server's own artifact roots are ever listed or read.
        repo, prefix = self.services.artifacts.roots.resolve(storage_location)
        return Target(repo, prefix)

    def list_files(self, storage_location: str, path: str) -> list[dict[str, Any]]:
        """FileInfo dicts with paths relative to the version's storage location."""
        root = self._root(storage_location)
        directory = ArtifactService.below(root, path or None)
        files = []
        for info in self.services.artifacts.list_files(directory):
            name = paths.relative_to(info.path, root.rel)
            if name:
                files.append(info.to_json(name))
        return files

    def read_file_head(self, storage_location: str, path: str, limit: int) -> bytes:
        target = self.services.artifacts.file_under(storage_location, path)
        download = self.services.artifacts.open_download(target)
        buffer = bytearray()
        try:
            for chunk in download.chunks:
                buffer.extend(chunk)
                if len(buffer) > limit:
                    break
        finally:
            download.close()
        return bytes(buffer)
