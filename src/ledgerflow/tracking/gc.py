"""Garbage collection: permanently remove soft-deleted runs and experiments with their artifacts."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ledgerflow.errors import InvalidParameter, LedgerflowError, ResourceDoesNotExist
from ledgerflow.store import gc as store
from ledgerflow.tracking.clock import now_ms
from ledgerflow.tracking.services import Services

_DURATION_RE = re.compile(r"(\d+)([dhms])")
_UNIT_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}


def parse_older_than(text: str) -> int:
    """``1d2h30m`` style durations, in milliseconds."""
    compact = text.replace(" ", "")
    parts = _DURATION_RE.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InvalidParameter(
            f"Could not parse --older-than '{text}'. Use a duration like 30d, 12h or 1d2h30m."
        )
    return sum(int(number) * _UNIT_MS[unit] for number, unit in parts)


@dataclass
class GcReport:
    purged_runs: list[str] = field(default_factory=list)
    purged_experiments: list[int] = field(default_factory=list)
    skipped_locations: list[str] = field(default_factory=list)
    failed_locations: list[str] = field(default_factory=list)


class GarbageCollector:
    def __init__(
        self,
        services: Services,
        on_progress: Callable[[str], None] | None = None,
        on_step: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_progress`` gets one message per purged item; ``on_step(done, total)`` is called
        as each run or experiment is handled, for a progress bar."""
        self.services = services
        self.on_progress = on_progress or (lambda _message: None)
        self.on_step = on_step or (lambda _done, _total: None)

    def collect(
        self,
        *,
        older_than: str | None = None,
        run_ids: list[str] | None = None,
        experiment_ids: list[str] | None = None,
    ) -> GcReport:
        cutoff = now_ms() - parse_older_than(older_than) if older_than else None
        report = GcReport()
        db = self.services.db
        with db.read() as conn:
            runs = self._runs_to_purge(conn, run_ids, older_than, cutoff)
            experiments = self._experiments_to_purge(conn, experiment_ids, older_than, cutoff)
            locations = store.artifact_locations_by_experiment(conn, experiments) if experiments else {}
        # Artifacts go first: if they cannot be removed now (an unreachable store), the run
        # keeps its metadata and a later gc can finish the job, instead of orphaning files.
        total = len(runs) + len(experiments)
        for done, run in enumerate(runs, start=1):
            self.on_step(done, total)
            if not self._delete_artifacts(run.artifact_uri, report):
                continue
            self._remove_emptied_run_folder(run.artifact_uri)
            db.run_write(store.purge_run, run.run_id)
            report.purged_runs.append(run.run_id)
            self.on_progress(f"Run with ID {run.run_id} has been permanently deleted.")
        for done, experiment_id in enumerate(experiments, start=len(runs) + 1):
            self.on_step(done, total)
            deleted = [self._delete_artifacts(location, report) for location in locations[experiment_id]]
            if not all(deleted):
                continue
            db.run_write(store.purge_experiment, experiment_id)
            report.purged_experiments.append(experiment_id)
            self.on_progress(f"Experiment with ID {experiment_id} has been permanently deleted.")
        return report

    def _delete_artifacts(self, location: str, report: GcReport) -> bool:
        """Remove a location's artifacts; False when the metadata must stay for a retry."""
        try:
            self.services.artifacts.delete_tree(location)
        except InvalidParameter as error:
            # Outside this server's roots: it can never delete them, so the metadata goes and
            # the files are reported for the operator.
            report.skipped_locations.append(location)
            self.on_progress(f"Warning: artifacts at {location} were left in place: {error.message}")
        except Exception as error:  # any storage failure: keep the metadata, try again later
            report.failed_locations.append(location)
            reason = (
                error.message if isinstance(error, LedgerflowError) else f"{type(error).__name__}: {error}"
            )
            self.on_progress(
                f"Warning: could not delete artifacts at {location} ({reason}); kept its metadata."
            )
            return False
        return True

    def _remove_emptied_run_folder(self, artifact_uri: str) -> None:
        """A run's files live in ``<experiment>/<run id>/artifacts``; once that is gone the
        ``<run id>`` folder is left empty on a local store (S3 has no folders to leave).
        ``rmdir`` removes it only when it really is empty, so nothing else is ever lost."""
        from ledgerflow.artifacts.local import LocalArtifactRepository

        try:
            repo, rel = self.services.artifacts.roots.resolve(artifact_uri)
        except LedgerflowError:
            return  # outside this server's roots: reported already, never touched
        parent, _, leaf = rel.rpartition("/")
        if not isinstance(repo, LocalArtifactRepository) or leaf != "artifacts" or not parent:
            return
        with contextlib.suppress(OSError):  # not empty, already gone, or not ours to remove
            os.rmdir(repo.location(parent))

    @staticmethod
    def _runs_to_purge(
        conn: object, run_ids: list[str] | None, older_than: str | None, cutoff: int | None
    ) -> list[store.RunRecord]:
        if not run_ids:
            candidates = store.deleted_runs(conn)  # type: ignore[arg-type]
            return [r for r in candidates if cutoff is None or (r.deleted_time or 0) <= cutoff]
        found = store.find_runs(conn, run_ids)  # type: ignore[arg-type]
        selected = []
        for run_id in run_ids:
            run = found.get(run_id)
            if run is None:
                raise ResourceDoesNotExist(f"Run {run_id} not found.")
            if run.lifecycle_stage != "deleted":
                raise InvalidParameter(
                    f"Run {run_id} is not in `deleted` lifecycle stage. Only runs in `deleted` "
                    "lifecycle stage can be deleted."
                )
            if cutoff is not None and (run.deleted_time or 0) > cutoff:
                raise InvalidParameter(
                    f"Run {run_id} is not older than the required age. Only runs older than "
                    f"{older_than} can be deleted."
                )
            selected.append(run)
        return selected

    @staticmethod
    def _experiments_to_purge(
        conn: object, experiment_ids: list[str] | None, older_than: str | None, cutoff: int | None
    ) -> list[int]:
        if not experiment_ids:
            return [
                eid
                for eid, deleted_time in store.deleted_experiments(conn)  # type: ignore[arg-type]
                if cutoff is None or (deleted_time or 0) <= cutoff
            ]
        try:
            ids = [int(e) for e in experiment_ids]
        except ValueError:
            raise InvalidParameter("Experiment IDs must be integers.") from None
        states = store.experiment_states(conn, ids)  # type: ignore[arg-type]
        for eid in ids:
            if eid not in states:
                raise ResourceDoesNotExist(f"Experiment {eid} not found.")
            stage, deleted_time = states[eid]
            if stage != "deleted":
                raise InvalidParameter(
                    f"Experiment {eid} is not in `deleted` lifecycle stage. Only experiments in "
                    "`deleted` lifecycle stage can be deleted."
                )
            if cutoff is not None and (deleted_time or 0) > cutoff:
                raise InvalidParameter(
                    f"Experiment {eid} is not older than the required age. Only experiments older "
                    f"than {older_than} can be deleted."
                )
        return ids
