"""System tags and user_id of runs (BC-45)."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ledgerflow

SCRIPT = """
import json, ledgerflow
ledgerflow.set_tracking_uri({uri!r})
with ledgerflow.start_run() as run:
    pass
got = ledgerflow.get_run(run.info.run_id)
print(json.dumps({{"tags": got.data.tags, "user_id": got.info.user_id}}))
"""


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _run_script(script: Path, uri: str) -> dict[str, object]:
    script.write_text(textwrap.dedent(SCRIPT.format(uri=uri)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_script_in_a_git_checkout_records_commit_and_dirty_flag(tmp_path: Path, tracking_uri: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    script = repo / "train.py"
    script.write_text("# placeholder\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "init")
    commit = _git(repo, "rev-parse", "HEAD")

    # Overwriting the tracked script makes the checkout dirty.
    result = _run_script(script, tracking_uri)
    tags = result["tags"]
    assert isinstance(tags, dict)
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["ledgerflow.source.git.dirty"] == "true"
    assert tags["mlflow.source.name"] == str(script.resolve())
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.user"] == getpass.getuser()
    assert result["user_id"] == getpass.getuser()

    _git(repo, "commit", "-q", "-am", "script")
    clean = _run_script(script, tracking_uri)["tags"]
    assert isinstance(clean, dict)
    assert clean["ledgerflow.source.git.dirty"] == "false"
    assert clean["mlflow.source.git.commit"] == _git(repo, "rev-parse", "HEAD")


def test_script_outside_git_gets_no_commit_tag(tmp_path: Path, tracking_uri: str) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    tags = _run_script(folder / "train.py", tracking_uri)["tags"]
    assert isinstance(tags, dict)
    assert "mlflow.source.git.commit" not in tags
    assert "ledgerflow.source.git.dirty" not in tags
    assert tags["mlflow.source.name"].endswith("train.py")


def test_user_tag_overrides_and_sets_user_id(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)
    with ledgerflow.start_run(tags={"mlflow.user": "alice"}) as run:
        ledgerflow.set_tag("mlflow.user", "bob")
    got = ledgerflow.get_run(run.info.run_id)
    assert got.info.user_id == "alice"
    assert got.data.tags["mlflow.user"] == "bob"


def test_low_level_create_run_adds_no_system_tags(tracking_uri: str) -> None:
    client = ledgerflow.Client(tracking_uri)
    run = client.create_run("0")
    got = client.get_run(run.info.run_id)
    assert got.info.user_id == "unknown"
    assert not [k for k in got.data.tags if k.startswith("mlflow.source") or k == "mlflow.user"]
    client.close()


def test_notebook_kernel_gets_notebook_source_and_no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from ledgerflow.client import provenance

    kernel_shell = types.SimpleNamespace(kernel=object())
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: kernel_shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    tags = provenance.resolve_tags()
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert "mlflow.source.git.commit" not in tags
