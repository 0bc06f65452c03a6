"""Training provenance of a version as an SLSA v1 provenance predicate, from its run.

* ``buildDefinition.externalParameters``: the run's params;
* ``buildDefinition.resolvedDependencies``: the code commit (``mlflow.source.git.commit``
  with the repository URL when tagged) and each input dataset's digest;
* ``buildDefinition.internalParameters.environment``: source name and type, user, and the
  SHA-256 of the model's environment files (requirements.txt, python_env.yaml, conda.yaml);
* ``runDetails``: the builder (this Ledgerflow server) and the run's id and times.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

BUILD_TYPE = "https://ledgerflow.dev/training-run/v1"
BUILDER_ID = "https://ledgerflow.dev/builders/tracking-server"
ENVIRONMENT_FILES = ("requirements.txt", "python_env.yaml", "conda.yaml")
_SOURCE_TAGS = {
    "mlflow.source.name": "source_name",
    "mlflow.source.type": "source_type",
    "mlflow.user": "user",
    "mlflow.source.git.branch": "git_branch",
}


def _iso(ms: Any) -> str | None:
    if not isinstance(ms, int | float) or ms <= 0:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or []}


def predicate(run: dict[str, Any], environment_files: dict[str, str]) -> dict[str, Any]:
    """The provenance predicate of ``run`` (the wire shape of runs/get)."""
    info = run.get("info") or {}
    data = run.get("data") or {}
    tags = _tags(data.get("tags"))
    params = {str(p["key"]): str(p.get("value", "")) for p in data.get("params") or []}
    dependencies: list[dict[str, Any]] = []
    commit = tags.get("mlflow.source.git.commit")
    if commit:
        repo = tags.get("mlflow.source.git.repoURL") or tags.get("mlflow.gitRepoURL")
        entry: dict[str, Any] = {"name": "source", "digest": {"gitCommit": commit}}
        if repo:
            entry["uri"] = f"git+{repo}@{commit}"
        dependencies.append(entry)
    for item in (run.get("inputs") or {}).get("dataset_inputs") or []:
        dataset = item.get("dataset") or {}
        entry = {
            "name": f"dataset:{dataset.get('name', '')}",
            "digest": {"ledgerflowDatasetDigest": str(dataset.get("digest", ""))},
        }
        if dataset.get("source"):
            entry["annotations"] = {
                "source": str(dataset["source"]),
                "source_type": str(dataset.get("source_type", "")),
            }
        dependencies.append(entry)
    environment: dict[str, Any] = {field: tags[tag] for tag, field in _SOURCE_TAGS.items() if tags.get(tag)}
    environment["files"] = {
        name: {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
        for name, text in sorted(environment_files.items())
    }
    metadata: dict[str, Any] = {"invocationId": str(info.get("run_id", ""))}
    for key, value in (
        ("startedOn", _iso(info.get("start_time"))),
        ("finishedOn", _iso(info.get("end_time"))),
    ):
        if value:
            metadata[key] = value
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": params,
            "internalParameters": {
                "environment": environment,
                "experiment_id": str(info.get("experiment_id", "")),
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": BUILDER_ID}, "metadata": metadata},
    }
