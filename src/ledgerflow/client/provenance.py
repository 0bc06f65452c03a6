"""System tags a fluent run records about where it came from.

``mlflow.user`` (the OS login), ``mlflow.source.name`` (the entry script), and
``mlflow.source.type`` (``LOCAL``, or ``NOTEBOOK`` inside a Jupyter kernel). When the entry
script lies in a git checkout, ``mlflow.source.git.commit`` and ``ledgerflow.source.git.dirty``
("true" when tracked files have uncommitted changes) are added too; a notebook gets no git
tags, since the kernel's launcher says nothing about the user's code. Tags the user passes
override all of these.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

USER = "mlflow.user"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_DIRTY = "ledgerflow.source.git.dirty"
GIT_BRANCH = "mlflow.source.git.branch"
PARENT_RUN_ID = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
NOTE = "mlflow.note.content"


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers (no $USER, uid without passwd entry)
        return "unknown"


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    instance = get_ipython() if get_ipython else None
    return instance is not None and hasattr(instance, "kernel")


def entry_script() -> Path | None:
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not candidate or candidate in ("-c", "-m"):
        return None
    path = Path(candidate)
    return path.resolve() if path.is_file() else None


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_tags(script: Path) -> dict[str, str]:
    folder = script.parent
    if not any((p / ".git").exists() for p in (folder, *folder.parents)):
        return {}
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {}
    tags = {GIT_COMMIT: commit}
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        tags[GIT_DIRTY] = "true" if status else "false"
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        tags[GIT_BRANCH] = branch
    return tags


def resolve_tags(user_tags: dict[str, str] | None = None) -> dict[str, str]:
    """System tags for a new fluent run, then *user_tags* on top."""
    tags = {USER: current_user()}
    if in_notebook():
        tags[SOURCE_TYPE] = "NOTEBOOK"
        tags[SOURCE_NAME] = os.environ.get("JPY_SESSION_NAME") or "notebook"
    else:
        tags[SOURCE_TYPE] = "LOCAL"
        script = entry_script()
        if script is not None:
            tags[SOURCE_NAME] = str(script)
            tags.update(git_tags(script))
        elif sys.argv and sys.argv[0]:
            tags[SOURCE_NAME] = sys.argv[0]
    tags.update(user_tags or {})
    return tags
