"""Common client calls beyond the seed flow: nested runs, batches, tags, delete/restore,
dataset inputs, non-finite metrics and filtered searches.

Usage: extras.py EXPERIMENT_NAME
"""

from __future__ import annotations

import sys
import time

import mlflow
import mlflow.data
import pandas as pd
from _lib import emit, error_code, metric_dict, run_dict
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def names(runs: list) -> list[str]:
    # Names, not ids: they are the same on every server, so answers compare directly.
    return sorted(r.info.run_name for r in runs)


def main() -> None:
    experiment_name = sys.argv[1]
    client = MlflowClient()
    experiment_id = mlflow.set_experiment(experiment_name).experiment_id
    frame = pd.DataFrame({"x1": [0.1, 0.2, 0.3], "x2": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("c", 1.0)
        mlflow.log_params({"a": 1, "b": "x"})
        mlflow.log_metrics({"m1": 0.1, "m2": 0.2}, step=3)
        mlflow.set_tags({"k": "v", "team": "vision"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("weird_nan", float("nan"))
        mlflow.log_metric("weird_inf", float("inf"))
        mlflow.set_tag("temporary", "x")
        client.delete_tag(parent.info.run_id, "temporary")
        dataset = mlflow.data.from_pandas(frame, name="tiny", targets="target")
        mlflow.log_input(dataset, context="training")
        mlflow.log_dict({"lr": 0.1}, "config/params.json")
        mlflow.log_text("hello", "notes/hello.txt")
    parent_id, child_id = parent.info.run_id, child.info.run_id

    batch_run = client.create_run(experiment_id, run_name="batch")
    batch_id = batch_run.info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        batch_id,
        metrics=[Metric("x", step * 0.5, now + step, step) for step in range(50)],
        params=[Param("p1", "v1"), Param("p2", "v2")],
        tags=[RunTag("t1", "v1")],
    )
    try:
        client.log_param(batch_id, "p1", "changed")
        param_overwrite = "accepted"
    except MlflowException as error:
        param_overwrite = error_code(error)
    client.set_terminated(batch_id, status="KILLED")

    active_before = names(client.search_runs([experiment_id]))
    client.delete_run(child_id)
    after_delete = {
        "active": names(client.search_runs([experiment_id], run_view_type=ViewType.ACTIVE_ONLY)),
        "deleted": names(client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)),
        "all": names(client.search_runs([experiment_id], run_view_type=ViewType.ALL)),
        "child_stage": client.get_run(child_id).info.lifecycle_stage,
    }
    client.restore_run(child_id)
    after_restore = names(client.search_runs([experiment_id]))

    def search(filter_string: str, order_by: list[str] | None = None) -> list[str]:
        found = client.search_runs([experiment_id], filter_string, order_by=order_by or [])
        return [r.info.run_name for r in found]

    searches = {
        "children": search(f"tags.mlflow.parentRunId = '{parent_id}'"),
        "loss_lt_1": search("metrics.loss < 1"),
        "param_a": search("params.a = '1'"),
        "tag_like": search("tags.team LIKE 'vis%'"),
        "run_name": search("attributes.run_name = 'batch'"),
        "status_killed": search("attributes.status = 'KILLED'"),
        "by_x_desc": search("", ["metrics.x DESC"]),
        "by_name": search("", ["attributes.run_name ASC"]),
    }
    try:
        client.search_runs([experiment_id], "metrics.loss < 1 or params.a = '1'")
        bad_filter = "accepted"
    except MlflowException as error:
        bad_filter = error_code(error)
    try:
        client.get_run("0" * 32)
        unknown_run = "found"
    except MlflowException as error:
        unknown_run = error_code(error)

    page = client.search_runs([experiment_id], max_results=2, order_by=["attributes.run_name ASC"])
    page2 = client.search_runs(
        [experiment_id], max_results=2, order_by=["attributes.run_name ASC"], page_token=page.token
    )
    emit(
        {
            "experiment_id": experiment_id,
            "parent": run_dict(client.get_run(parent_id)),
            "child": run_dict(client.get_run(child_id)),
            "batch": run_dict(client.get_run(batch_id)),
            "loss_history": [metric_dict(m) for m in client.get_metric_history(parent_id, "loss")],
            "x_history_len": len(client.get_metric_history(batch_id, "x")),
            "param_overwrite": param_overwrite,
            "active_before": active_before,
            "after_delete": after_delete,
            "after_restore": after_restore,
            "searches": searches,
            "bad_filter": bad_filter,
            "unknown_run": unknown_run,
            "pages": [[r.info.run_name for r in page], [r.info.run_name for r in page2], bool(page2.token)],
            "ids": {"parent": parent_id, "child": child_id, "batch": batch_id},
            "config_json": mlflow.artifacts.load_dict(f"runs:/{parent_id}/config/params.json"),
            "notes_text": mlflow.artifacts.load_text(f"runs:/{parent_id}/notes/hello.txt"),
        }
    )


if __name__ == "__main__":
    main()
