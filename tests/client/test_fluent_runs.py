"""The fluent run lifecycle: start, resume, nesting, the context manager (BC-39, BC-40)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ledgerflow
from ledgerflow.errors import InvalidParameter, RestError


@pytest.fixture(autouse=True)
def _uri(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)


def test_resume_puts_a_finished_run_back_to_running() -> None:
    with ledgerflow.start_run(run_name="keep-me") as first:
        pass
    run_id = first.info.run_id
    finished = ledgerflow.get_run(run_id)
    assert finished.info.status == "FINISHED"
    old_end = finished.info.end_time
    assert old_end is not None

    resumed = ledgerflow.start_run(run_id=run_id)
    assert resumed.info.run_id == run_id
    during = ledgerflow.get_run(run_id)
    assert during.info.status == "RUNNING"
    assert during.info.run_name == "keep-me"
    ledgerflow.end_run()
    after = ledgerflow.get_run(run_id)
    assert after.info.status == "FINISHED"
    assert after.info.end_time is not None and after.info.end_time >= old_end


def test_second_start_run_without_nested_raises_before_any_request() -> None:
    active = ledgerflow.start_run()
    with pytest.raises(InvalidParameter, match=f"Run with UUID {active.info.run_id} is already active"):
        ledgerflow.start_run()
    # Nothing was created by the refused call.
    runs = ledgerflow.search_runs(output_format="list")
    assert [r.info.run_id for r in runs] == [active.info.run_id]
    ledgerflow.end_run()


def test_nested_run_gets_the_parent_tag() -> None:
    with ledgerflow.start_run() as parent:
        with ledgerflow.start_run(nested=True) as child:
            assert ledgerflow.active_run() is not None
            assert ledgerflow.active_run().info.run_id == child.info.run_id  # type: ignore[union-attr]
        assert ledgerflow.active_run().info.run_id == parent.info.run_id  # type: ignore[union-attr]
    tags = ledgerflow.get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    assert "mlflow.parentRunId" not in ledgerflow.get_run(parent.info.run_id).data.tags


def test_parent_run_id_must_match_the_active_run() -> None:
    with ledgerflow.start_run() as active:
        with pytest.raises(InvalidParameter, match="does not match the specified parent_run_id"):
            ledgerflow.start_run(parent_run_id="0" * 32, nested=True)
        assert ledgerflow.active_run().info.run_id == active.info.run_id  # type: ignore[union-attr]


def test_parent_run_id_without_an_active_run() -> None:
    with ledgerflow.start_run() as parent:
        pass
    with ledgerflow.start_run(parent_run_id=parent.info.run_id) as child:
        pass
    assert ledgerflow.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_resuming_a_deleted_run_is_refused() -> None:
    with ledgerflow.start_run() as run:
        pass
    ledgerflow.delete_run(run.info.run_id)
    with pytest.raises(InvalidParameter, match="because it is in the deleted state"):
        ledgerflow.start_run(run_id=run.info.run_id)
    assert ledgerflow.active_run() is None


def test_resume_with_tags_logs_them_on_the_existing_run() -> None:
    with ledgerflow.start_run() as run:
        pass
    with ledgerflow.start_run(run_id=run.info.run_id, tags={"k": "v"}):
        pass
    assert ledgerflow.get_run(run.info.run_id).data.tags["k"] == "v"
    assert len(ledgerflow.search_runs(output_format="list")) == 1


def test_resuming_an_unknown_run_raises_not_found() -> None:
    with pytest.raises(RestError) as caught:
        ledgerflow.start_run(run_id="f" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_block_that_raises_marks_failed_and_reraises() -> None:
    with pytest.raises(ValueError, match="boom"), ledgerflow.start_run() as run:
        raise ValueError("boom")
    failed = ledgerflow.get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.info.end_time is not None
    assert ledgerflow.active_run() is None
    with ledgerflow.start_run():
        pass


def test_block_that_exits_normally_marks_finished() -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.log_param("p", 1)
    assert ledgerflow.get_run(run.info.run_id).info.status == "FINISHED"


def test_context_manager_ends_a_resumed_run_by_id() -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.end_run()
        again = ledgerflow.start_run(run_id=run.info.run_id)
        assert again is not run
    assert ledgerflow.active_run() is None
    assert ledgerflow.get_run(run.info.run_id).info.status == "FINISHED"


def test_end_run_with_status_killed() -> None:
    run = ledgerflow.start_run()
    ledgerflow.end_run(status="KILLED")
    assert ledgerflow.get_run(run.info.run_id).info.status == "KILLED"
    ledgerflow.start_run()
    ledgerflow.end_run()


def test_logging_without_an_active_run_starts_one() -> None:
    ledgerflow.log_param("auto", "yes")
    active = ledgerflow.active_run()
    assert active is not None
    assert ledgerflow.get_run(active.info.run_id).data.params == {"auto": "yes"}
    ledgerflow.end_run()
    last = ledgerflow.last_active_run()
    assert last is not None and last.info.run_id == active.info.run_id


def test_set_experiment_creates_by_name_and_refuses_deleted(tracking_uri: str) -> None:
    experiment = ledgerflow.set_experiment("fluent-exp")
    with ledgerflow.start_run() as run:
        pass
    assert run.info.experiment_id == experiment.experiment_id
    assert ledgerflow.set_experiment("fluent-exp").experiment_id == experiment.experiment_id
    ledgerflow.delete_experiment(experiment.experiment_id)
    with pytest.raises(InvalidParameter, match="Cannot set a deleted experiment"):
        ledgerflow.set_experiment("fluent-exp")


def test_default_experiment_is_used_without_set_experiment() -> None:
    with ledgerflow.start_run() as run:
        pass
    assert run.info.experiment_id == "0"


def test_run_without_context_manager_is_finished_at_exit(tmp_path: Path, tracking_uri: str) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import ledgerflow
            ledgerflow.set_tracking_uri({tracking_uri!r})
            run = ledgerflow.start_run()
            ledgerflow.log_metric("m", 1.0)
            print(run.info.run_id)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    run = ledgerflow.get_run(out.stdout.strip())
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"m": 1.0}
