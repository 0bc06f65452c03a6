"""The UI's one doorway to the service layer: every read the pages make goes through here,
so the pages never talk HTTP to their own server and never build SQL themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import ResourceDoesNotExist
from ledgerflow.server.ui import queries
from ledgerflow.server.ui.artifact_browser import read_head
from ledgerflow.server.ui.charts import Point
from ledgerflow.server.ui.runs_table import TableState

HISTORY_PAGE = 5000
EXPERIMENTS_PAGE = 100

if TYPE_CHECKING:
    from ledgerflow.artifacts.service import Download
    from ledgerflow.tracking.services import Services


class UiData:
    def __init__(self, services: Services) -> None:
        self.services = services

    def experiments(
        self, view: str, filter_string: str, order_by: str, page_token: str
    ) -> tuple[list[dict[str, Any]], dict[int, int], str | None]:
        found = self.services.experiments.search(
            filter_string=filter_string,
            view_type="DELETED_ONLY" if view == "deleted" else "ACTIVE_ONLY",
            max_results=EXPERIMENTS_PAGE,
            order_by=[order_by] if order_by else [],
            page_token=page_token or None,
            readable=self.services.authz.readable_experiments(),
        )
        experiments = list(found.get("experiments", []))
        with self.services.db.read() as conn:
            counts = queries.run_counts(conn, [int(e["experiment_id"]) for e in experiments])
        return experiments, counts, found.get("next_page_token") or None

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self.services.experiments.get(experiment_id)

    def run_keys(self, experiment_id: int) -> tuple[list[str], list[str]]:
        with self.services.db.read() as conn:
            return queries.param_keys(conn, experiment_id), queries.metric_keys(conn, experiment_id)

    def search_runs(
        self, experiment_id: str, state: TableState, view_type: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        found = self.services.runs.search(
            experiment_ids=[experiment_id],
            filter_string=state.filter,
            run_view_type=view_type,
            max_results=state.page_size,
            order_by=[state.effective_order],
            page_token=state.page_token or None,
        )
        return list(found.get("runs", [])), found.get("next_page_token") or None

    def run(self, run_id: str) -> dict[str, Any]:
        with self.services.db.read() as conn:
            found = self.services.runs.load_runs(conn, [run_id])
        if not found:
            raise ResourceDoesNotExist(f"Run with id={run_id} not found")
        return found[0]

    def run_logged_models(
        self, run_id: str
    ) -> tuple[list[queries.RunModel], dict[str, list[queries.Registration]], bool]:
        """The run's logged models, the registry versions made from each (only of registered
        models the caller may read), and whether the model list was cut: two queries in all."""
        with self.services.db.read() as conn:
            models, truncated = queries.run_logged_models(conn, run_id)
            found = queries.registrations(conn, [m.model_id for m in models])
        by_model: dict[str, list[queries.Registration]] = {}
        for registration in self._readable(found):
            by_model.setdefault(registration.model_id, []).append(registration)
        return models, by_model, truncated

    def _readable(self, found: list[queries.Registration]) -> list[queries.Registration]:
        readable = self.services.authz.readable_models()
        return [r for r in found if readable is None or r.registered_model_id in readable]

    def logged_model(self, model_id: str) -> dict[str, Any]:
        """The model in wire shape; a deleted or unknown id is RESOURCE_DOES_NOT_EXIST."""
        return self.services.logged_models.get(model_id)

    def model_registrations(self, model_id: str) -> list[queries.Registration]:
        """The registry versions made from the logged model, of models the caller may read."""
        with self.services.db.read() as conn:
            return self._readable(queries.registrations(conn, [model_id]))

    def experiment_logged_models(self, experiment_id: int) -> tuple[list[queries.RunModel], bool]:
        with self.services.db.read() as conn:
            return queries.experiment_logged_models(conn, experiment_id)

    def readable_run(self, run_id: str) -> dict[str, Any] | None:
        """The run, if it exists and its experiment is one the caller may read (a logged
        model's source run may sit in another experiment than the model)."""
        try:
            run = self.run(run_id)
        except ResourceDoesNotExist:
            return None
        readable = self.services.authz.readable_experiments()
        if readable is not None and int(run["info"]["experiment_id"]) not in readable:
            return None
        return run

    def metric_history(self, run_id: str, key: str, limit: int) -> list[Point]:
        """Up to ``limit`` points of the metric's history, in step order."""
        points: list[Point] = []
        token: str | None = None
        while len(points) < limit:
            page = self.services.runs.metrics.get_history(
                run_id, key, page_token=token, max_results=HISTORY_PAGE
            )
            for metric in page.get("metrics", []):
                value = metric.get("value")
                number = float(value) if isinstance(value, int | float) else float("nan")
                points.append(Point(int(metric.get("step", 0)), number))
            token = page.get("next_page_token")
            if not token:
                break
        points.sort(key=lambda p: p.step)
        return points[:limit]

    def list_artifacts(self, run: dict[str, Any], path: str, model_id: str = "") -> list[dict[str, Any]]:
        """FileInfo dicts with paths relative to the run's artifact root, or to the artifact
        root of ``model_id`` (one of the run's logged models, checked by the caller)."""
        if model_id:
            return self.list_model_artifacts(model_id, path)
        listing = self.services.artifacts.list_run_artifacts(run["info"]["run_id"], path or None)
        return list(listing.get("files", []))

    def list_model_artifacts(self, model_id: str, path: str) -> list[dict[str, Any]]:
        listing = self.services.artifacts.list_logged_model_artifacts(model_id, path or None)
        return list(listing.get("files", []))

    def open_artifact(self, run: dict[str, Any], path: str, model_id: str = "") -> Download:
        # Behind the scan gate, like the API's downloads: a blocked model file is refused.
        if model_id:
            return self.open_model_artifact(model_id, path)
        artifacts = self.services.artifacts
        return artifacts.serve(artifacts.run_file(run["info"]["run_id"], path))

    def open_model_artifact(self, model_id: str, path: str) -> Download:
        artifacts = self.services.artifacts
        return artifacts.serve(artifacts.logged_model_file(model_id, path))

    def check_run_model(self, run: dict[str, Any], model_id: str) -> None:
        """Refuse a model id that is not one of the run's own logged models: the run's read
        permission is the only one a run page checks."""
        info = run["info"]
        with self.services.db.read() as conn:
            owned = queries.is_run_model(conn, str(info["run_id"]), int(info["experiment_id"]), model_id)
        if not owned:
            raise ResourceDoesNotExist(f"Logged model with ID '{model_id}' not found for this run.")

    def read_artifact_head(self, run: dict[str, Any], path: str, limit: int, model_id: str = "") -> bytes:
        return read_head(self.open_artifact(run, path, model_id), limit)

    def read_model_artifact_head(self, model_id: str, path: str, limit: int) -> bytes:
        return read_head(self.open_model_artifact(model_id, path), limit)
