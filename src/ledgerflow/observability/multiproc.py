"""The directory prometheus-client's multiprocess mode shares between server workers.

It must be in the environment before the workers start (they import prometheus-client with
it set), and it must start empty: files left by an earlier server would add its counts to
this one's. An operator-chosen ``PROMETHEUS_MULTIPROC_DIR`` is emptied of metric files; else
a private temporary directory is made and removed when the server stops.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator

from .business import CACHE_FILE
from .http_metrics import MULTIPROC_ENV


@contextlib.contextmanager
def shared_metrics_dir(*, needed: bool) -> Iterator[str | None]:
    """The directory for this server (``needed``: several workers), or None for one process
    without an operator-chosen directory (metrics then stay in memory)."""
    chosen = os.environ.get(MULTIPROC_ENV)
    if not chosen and not needed:
        yield None
        return
    if chosen:
        os.makedirs(chosen, exist_ok=True)
        for stale in glob.glob(os.path.join(chosen, "*.db")) + glob.glob(
            os.path.join(chosen, CACHE_FILE + "*")
        ):
            os.remove(stale)
        yield chosen
        return
    made = tempfile.mkdtemp(prefix="ledgerflow-metrics-")
    os.environ[MULTIPROC_ENV] = made
    try:
        yield made
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(made, ignore_errors=True)
