"""SQL for what runs consume and produce: datasets (with per-input tags) and logged models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.metrics import chunks
from ledgerflow.store.schema import datasets, input_tags, run_inputs, run_models
from ledgerflow.store.upserts import insert_ignore

DATASET_CONTEXT_TAG = "mlflow.data.context"
MAX_DATASET_SUMMARIES = 1000
_DATASET_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")


def log_datasets(
    conn: Connection,
    experiment_id: int,
    run_id: str,
    items: Sequence[tuple[dict[str, Any], list[tuple[str, str]]]],
) -> None:
    """Link datasets to a run. A dataset is shared per experiment by (name, digest); a run that
    already uses a dataset keeps its first input (and that input's tags), as MLflow does."""
    if not items:
        return
    wanted = {(d["name"], d["digest"]): d for d, _ in items}
    insert_ignore(
        conn,
        datasets,
        [{"dataset_uuid": uuid.uuid4().hex, "experiment_id": experiment_id, **d} for d in wanted.values()],
    )
    uuid_by_key = {
        (row.name, row.digest): row.dataset_uuid
        for row in conn.execute(
            sa.select(datasets.c.dataset_uuid, datasets.c.name, datasets.c.digest).where(
                datasets.c.experiment_id == experiment_id,
                sa.tuple_(datasets.c.name, datasets.c.digest).in_(list(wanted)),
            )
        )
    }
    already = set(
        conn.execute(
            sa.select(run_inputs.c.dataset_uuid).where(
                run_inputs.c.run_uuid == run_id,
                run_inputs.c.dataset_uuid.in_(list(uuid_by_key.values())),
            )
        ).scalars()
    )
    new_inputs: list[dict[str, Any]] = []
    new_tags: list[dict[str, Any]] = []
    for dataset, tags in items:
        dataset_uuid = uuid_by_key[(dataset["name"], dataset["digest"])]
        if dataset_uuid in already:
            continue
        already.add(dataset_uuid)
        input_uuid = uuid.uuid4().hex
        new_inputs.append({"input_uuid": input_uuid, "run_uuid": run_id, "dataset_uuid": dataset_uuid})
        # Last value wins for a tag key repeated within one input.
        for key, value in dict(tags).items():
            new_tags.append({"input_uuid": input_uuid, "name": key, "value": value})
    if new_inputs:
        conn.execute(sa.insert(run_inputs), new_inputs)
    if new_tags:
        conn.execute(sa.insert(input_tags), new_tags)


def link_models(conn: Connection, run_id: str, model_ids: Sequence[str], direction: str) -> None:
    rows = [
        {"run_uuid": run_id, "model_id": model_id, "direction": direction, "step": 0}
        for model_id in dict.fromkeys(model_ids)
    ]
    insert_ignore(conn, run_models, rows)


def _dataset_to_wire(row: Any) -> dict[str, Any]:
    dataset = {"name": row.name, "digest": row.digest, "source_type": row.source_type, "source": row.source}
    if row.schema is not None:
        dataset["schema"] = row.schema
    if row.profile is not None:
        dataset["profile"] = row.profile
    return dataset


def inputs_and_outputs_for_runs(
    conn: Connection, run_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``RunInputs`` and ``RunOutputs`` messages per run (runs without any are left out)."""
    inputs: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for part in chunks(run_ids):
        input_rows = conn.execute(
            sa.select(
                run_inputs.c.input_uuid, run_inputs.c.run_uuid, *(datasets.c[f] for f in _DATASET_FIELDS)
            )
            .join(datasets, datasets.c.dataset_uuid == run_inputs.c.dataset_uuid)
            .where(run_inputs.c.run_uuid.in_(part))
            .order_by(run_inputs.c.run_uuid, datasets.c.name, datasets.c.digest)
        ).all()
        tags_by_input: dict[str, list[dict[str, str]]] = {}
        if input_rows:
            for tag in conn.execute(
                sa.select(input_tags)
                .join(run_inputs, run_inputs.c.input_uuid == input_tags.c.input_uuid)
                .where(run_inputs.c.run_uuid.in_(part))
                .order_by(input_tags.c.name)
            ):
                tags_by_input.setdefault(tag.input_uuid, []).append({"key": tag.name, "value": tag.value})
        for row in input_rows:
            entry: dict[str, Any] = {}
            if row.input_uuid in tags_by_input:
                entry["tags"] = tags_by_input[row.input_uuid]
            entry["dataset"] = _dataset_to_wire(row)
            inputs.setdefault(row.run_uuid, {}).setdefault("dataset_inputs", []).append(entry)
        for link in conn.execute(
            sa.select(run_models)
            .where(run_models.c.run_uuid.in_(part))
            .order_by(run_models.c.run_uuid, run_models.c.step, run_models.c.model_id)
        ):
            if link.direction == "input":
                inputs.setdefault(link.run_uuid, {}).setdefault("model_inputs", []).append(
                    {"model_id": link.model_id}
                )
            else:
                outputs.setdefault(link.run_uuid, {}).setdefault("model_outputs", []).append(
                    {"model_id": link.model_id, "step": link.step}
                )
    return inputs, outputs


def dataset_summaries(conn: Connection, experiment_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Distinct (experiment, name, digest, context) of datasets used with a context tag."""
    query = (
        sa.select(datasets.c.experiment_id, datasets.c.name, datasets.c.digest, input_tags.c.value)
        .distinct()
        .select_from(datasets)
        .join(run_inputs, run_inputs.c.dataset_uuid == datasets.c.dataset_uuid)
        .join(
            input_tags,
            sa.and_(
                input_tags.c.input_uuid == run_inputs.c.input_uuid,
                input_tags.c.name == DATASET_CONTEXT_TAG,
            ),
        )
        .where(datasets.c.experiment_id.in_(list(experiment_ids)))
        .order_by(datasets.c.experiment_id, datasets.c.name, datasets.c.digest, input_tags.c.value)
        .limit(MAX_DATASET_SUMMARIES)
    )
    return [
        {
            "experiment_id": str(row.experiment_id),
            "name": row.name,
            "digest": row.digest,
            "context": row.value,
        }
        for row in conn.execute(query)
    ]
