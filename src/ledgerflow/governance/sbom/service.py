"""The SBOM of each version: generated from the registry, the run and the stored files.

At registration the document is stored, attested (its SHA-256 in a signed statement bound to
the manifest digest) and written into the version's folder as ``sbom/cyclonedx.json``, where
``mlflow artifacts download`` and ``download_artifacts`` find it. That file is outside every
signature (``manifest.py``); :meth:`SbomService.file_problem` checks it against the
attestations instead, and signature verification calls it, so a changed SBOM file is refused
like a changed model file.

Versions registered from the same source share one folder, so the file there belongs to the
first of them: a later version leaves it (each version's own document is the API's), and the
file verifies against the attestation of any version stored at that location. When the server
cannot write into the folder (read-only storage or credentials, a ``sbom`` file in the way, a
secret the upload screen refuses), registration goes on without the file: the SBOM is still
stored, attested and served by the API, and a warning names the reason. A version with no
files at all gets no file either (there is no folder to put it in).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from ledgerflow import __version__
from ledgerflow.governance.sbom import requirements
from ledgerflow.governance.sbom.cyclonedx_bom import (
    SPEC_VERSION,
    DatasetInput,
    ModelFacts,
    SchemaCheck,
    render,
)
from ledgerflow.governance.signing import records
from ledgerflow.governance.signing.attestations import PREDICATE_SBOM
from ledgerflow.governance.signing.manifest import SBOM_FILE, Manifest
from ledgerflow.governance.signing.records import VersionRef
from ledgerflow.governance.signing.version_files import FilesSnapshot, VersionFiles
from ledgerflow.tracking.clock import now_ms

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ledgerflow.governance.signing.attestations import AttestationService
    from ledgerflow.registry.model_versions import ModelVersionService
    from ledgerflow.store.database import Database
    from ledgerflow.tracking.runs import RunService

log = logging.getLogger(__name__)
_TASK_TAGS = ("task", "ledgerflow.task", "mlflow.task")
# The files an SBOM reads besides hashing them all.
SBOM_TEXT_FILES = ("requirements.txt", "MLmodel")
# What registration did about the SBOM file (place_file).
WRITTEN, PRESENT, KEPT, NOT_WRITTEN = "written", "present", "kept", "not written"


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or []}


class SbomService:
    namespace = "sbom"

    def __init__(
        self,
        db: Database,
        files: VersionFiles,
        runs: RunService,
        versions: ModelVersionService,
        attestations: AttestationService | None = None,
    ) -> None:
        self.db = db
        self.files = files
        self.runs = runs
        self.versions = versions
        self.attestations = attestations
        # Loaded on the first explicit generation, never by registration (see render()).
        self.schema = SchemaCheck()

    def facts_of(self, ref: VersionRef, manifest: Manifest | None = None) -> ModelFacts:
        version = self.versions.get(ref.name, ref.version)
        snapshot = self.files.snapshot(ref, SBOM_TEXT_FILES)
        run: dict[str, Any] = {}
        if ref.run_id:
            try:
                run = self.runs.get(ref.run_id)
            except Exception:
                log.info(
                    "Run %s of %s/%s is gone; its SBOM has no run facts", ref.run_id, ref.name, ref.version
                )
        with self.db.read() as conn:
            signature = records.signature_row(conn, ref)
        return facts_from(
            ref,
            version,
            manifest or snapshot.manifest,
            snapshot,
            run,
            signature.key_id if signature is not None else None,
        )

    def generate(self, name: str, version: str | int) -> str:
        """Generate (and validate) the version's CycloneDX JSON text."""
        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
        return self.schema.check(self.render_for(ref))

    def render_for(self, ref: VersionRef, manifest: Manifest | None = None) -> str:
        return render(self.facts_of(ref, manifest))

    def store(self, conn: Connection, ref: VersionRef, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        records.put_sbom(
            conn,
            ref,
            {"spec_version": SPEC_VERSION, "digest": digest, "document": text, "creation_time": now_ms()},
        )
        return digest

    def document(self, name: str, version: str | int) -> dict[str, Any]:
        """The stored SBOM, generated and stored first when the version has none yet."""
        import json

        with self.db.read() as conn:
            ref = records.find_version(conn, name, version)
            row = records.sbom_row(conn, ref)
        if row is None:
            text = self.schema.check(render(self.facts_of(ref)))
            self.db.run_write(lambda conn: self.store(conn, ref, text))
        else:
            text = row.document
        result: dict[str, Any] = json.loads(text)
        return result

    def facts_for(self, name: str, version: int) -> dict[str, Any]:
        try:
            with self.db.read() as conn:
                ref = records.find_version(conn, name, version)
                row = records.sbom_row(conn, ref)
        except Exception:
            return {}
        try:
            in_folder = self.files.sbom_digest(ref) is not None
        except Exception:
            in_folder = False  # files this server cannot read
        return {
            "present": row is not None,
            "digest": row.digest if row is not None else None,
            "file": SBOM_FILE if in_folder else None,
        }

    # -- the file in the version's folder ---------------------------------------------------

    def place_file(self, ref: VersionRef, text: str, digest: str) -> str:
        """Write the just-attested SBOM ``text`` (SHA-256 ``digest``) as the version's
        ``sbom/cyclonedx.json``; returns what happened (WRITTEN, PRESENT: those bytes are
        there already, KEPT: another version's attested SBOM is there, NOT_WRITTEN)."""
        try:
            existing = self.files.sbom_digest(ref)
            if existing == digest:
                return PRESENT
            if existing is not None and existing in self._attested(ref, shared=True):
                return KEPT
            # Anything else at that path (a file the model brought, or a changed one) is not a
            # record of this server, so it is replaced.
            self.files.write_sbom(ref, text)
        except Exception as error:  # storage errors of every backend; never fail a registration
            reason = getattr(error, "message", None) or str(error) or type(error).__name__
            log.warning(
                "The SBOM of %s version %s is not written to %s in its folder: %s (it is stored "
                "and served by the API)",
                ref.name,
                ref.version,
                SBOM_FILE,
                reason,
            )
            return NOT_WRITTEN
        return WRITTEN

    def file_problem(self, ref: VersionRef) -> str | None:
        """Why the version's ``sbom/cyclonedx.json`` cannot be trusted, or None (it matches
        a valid SBOM attestation, or there is no such file)."""
        digest = self.files.sbom_digest(ref)
        if digest is None or digest in self._attested(ref, shared=False):
            return None
        if digest in self._attested(ref, shared=True):
            return None
        return (
            f"{SBOM_FILE} changed after registration: its SHA-256 {digest[:12]}... matches no valid "
            "SBOM attestation"
        )

    def _attested(self, ref: VersionRef, *, shared: bool) -> set[str]:
        """The SBOM digests that valid attestations vouch for: this version's own, or (shared)
        those of every version stored at the same location."""
        if self.attestations is None:
            return set()
        predicates = self.attestations.valid_predicates(ref, PREDICATE_SBOM, same_location=shared)
        return {
            value
            for predicate in predicates
            if isinstance(predicate, dict) and isinstance(value := predicate.get("sbom_sha256"), str)
        }


def facts_from(
    ref: VersionRef,
    version: dict[str, Any],
    manifest: Manifest,
    snapshot: FilesSnapshot,
    run: dict[str, Any],
    signature_key_id: str | None,
) -> ModelFacts:
    """The SBOM facts from what was already read: the version (registry wire shape), its
    files, its run (runs/get wire shape, or empty) and its signing key id."""
    data = run.get("data") or {}
    run_tags = _tags(data.get("tags"))
    version_tags = _tags(version.get("tags"))
    task = next((tags[k] for tags in (version_tags, run_tags) for k in _TASK_TAGS if tags.get(k)), None)
    metrics = sorted((str(m["key"]), float(m["value"])) for m in data.get("metrics") or [])
    datasets = []
    for item in (run.get("inputs") or {}).get("dataset_inputs") or []:
        dataset = item.get("dataset") or {}
        context = _tags(item.get("tags")).get("mlflow.data.context")
        datasets.append(
            DatasetInput(
                str(dataset.get("name", "")),
                str(dataset.get("digest", "")),
                dataset.get("source_type"),
                dataset.get("source"),
                context,
            )
        )
    return ModelFacts(
        name=ref.name,
        version=ref.version,
        run_id=ref.run_id,
        creation_time=int(version["creation_timestamp"]),
        manifest_digest=manifest.digest,
        files=tuple((r.name, r.digest) for r in manifest.resources),
        requirements=tuple(requirements.parse(snapshot.text("requirements.txt") or "")),
        datasets=tuple(sorted(set(datasets), key=lambda d: (d.name, d.digest, d.context or ""))),
        metrics=tuple(metrics),
        task=task,
        description=str(version.get("description") or "") or None,
        signature_key_id=signature_key_id,
        tool_version=__version__,
        flavors=tuple(sorted(_flavors(snapshot.text("MLmodel") or ""))),
    )


def _flavors(mlmodel: str) -> list[str]:
    """The flavor names in an MLmodel file (top-level keys under ``flavors:``)."""
    import yaml

    try:
        parsed = yaml.safe_load(mlmodel) or {}
    except yaml.YAMLError:
        return []
    flavors = parsed.get("flavors") if isinstance(parsed, dict) else None
    return [str(name) for name in flavors] if isinstance(flavors, dict) else []
