"""Where experiments, runs and logged models keep their artifacts, and which locations a
client may ask for."""

from __future__ import annotations

from ledgerflow.artifacts.paths import check_uri_text, clean_path
from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter


class ArtifactLocations:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.root = config.experiment_root()
        self.allowed = tuple(r.rstrip("/") for r in (self.root, *config.allowed_artifact_roots))

    def for_experiment(self, experiment_id: int) -> str:
        if self.root == "mlflow-artifacts:":
            return f"mlflow-artifacts:/{experiment_id}"
        return f"{self.root}/{experiment_id}"

    def check_client_location(self, location: str) -> None:
        """Only locations under a configured root; MLflow lets clients name any ``file:``,
        ``http:`` or other URI, which turns the server into a file reader (see security notes)."""
        # A query, fragment or params would move the per-run suffix the server appends
        # ("<location>/<run_id>/artifacts") out of the path (CVE-2023-6909).
        check_uri_text(location)
        for root in self.allowed:
            if root == "mlflow-artifacts:" and location.startswith("mlflow-artifacts:/"):
                rest = location[len("mlflow-artifacts:/") :]
            elif location == root or location.startswith(root + "/"):
                rest = location[len(root) :].lstrip("/")
            else:
                continue
            # The part below the root goes through the one path validator (decoded, by
            # component), so "mlflow-artifacts:/../../etc" or "%2e%2e" cannot climb out.
            clean_path(rest)
            return
        raise InvalidParameter(
            f"Invalid artifact location '{location}': it must lie under one of the server's "
            f"artifact roots ({', '.join(self.allowed)})."
        )
