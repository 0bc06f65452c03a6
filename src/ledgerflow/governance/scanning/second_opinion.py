"""picklescan's verdict on the same files, shown beside ours when it is installed.

It is a deny-list scanner: it reports ``issues == 0`` for imports it does not know (such as
``logging.getLogger``), so its verdict never decides anything here; it is recorded so a
reader can compare.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def picklescan_verdict(path: Path) -> dict[str, Any] | None:
    """``{"scanner": "picklescan", "version", "issues", "infected_files", "globals", ...}``,
    or None when picklescan is not importable."""
    try:
        from importlib.metadata import version

        from picklescan import scanner  # type: ignore[import-untyped]
    except ImportError:
        return None
    started = time.monotonic()
    try:
        if path.is_dir():
            result = scanner.scan_directory_path(str(path))
        else:
            result = scanner.scan_file_path(str(path))
    except Exception as error:  # a second opinion must never break our own scan
        log.warning("picklescan failed on %s: %s", path, error)
        return {"scanner": "picklescan", "error": f"{type(error).__name__}: {error}"}
    globals_ = sorted(
        {f"{g.module}.{g.name} ({getattr(g.safety, 'value', g.safety)})" for g in result.globals}
    )
    return {
        "scanner": "picklescan",
        "version": version("picklescan"),
        "issues": int(result.issues_count),
        "infected_files": int(result.infected_files),
        "scanned_files": int(result.scanned_files),
        "scan_error": bool(result.scan_err),
        "globals": globals_[:200],
        "seconds": round(time.monotonic() - started, 3),
    }
