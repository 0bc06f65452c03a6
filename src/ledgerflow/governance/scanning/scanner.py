"""Scanning a file or a model directory: digests, content formats, metadata checks.

:func:`scan_path` never raises for what it finds in the files: a problem becomes a finding
or an error in the report (an unexpected failure inside the scanner is an ``unscannable``
error, never a pass).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from ledgerflow.governance.scanning import mlmodel_checks
from ledgerflow.governance.scanning.allowlist import AllowList, default_allowlist
from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.formats import Scanner
from ledgerflow.governance.scanning.report import LINK, FileResult, Limits, ScanAborted, ScanReport

SCANNER_VERSION = "1.0.0"
_HASH_CHUNK = 4 * 1024 * 1024
_METADATA_NAMES = frozenset(
    {
        mlmodel_checks.MLMODEL_FILE,
        mlmodel_checks.MLPROJECT_FILE,
        mlmodel_checks.CONDA_FILE,
        mlmodel_checks.PYTHON_ENV_FILE,
        *mlmodel_checks.REQUIREMENT_FILES,
    }
)
log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path, ctx: ScanContext) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(directory)
        for name in [*dirnames, *sorted(filenames)]:
            full = base / name
            relative = full.relative_to(root).as_posix()
            if full.is_symlink():
                ctx.finding(relative, LINK, "a symbolic link: a loader would read whatever it points to")
            elif name in filenames:
                found.append((relative, full))
    return found


def _scan_one(
    ctx: ScanContext, scanner: Scanner, relative: str, full: Path, digests: Mapping[str, str]
) -> None:
    size = full.stat().st_size
    ctx.count_bytes(size)
    result = FileResult(relative, size, digests.get(relative) or file_sha256(full))
    ctx.report.files.append(result)
    with full.open("rb") as handle:
        scanner.scan(handle, relative, 0, result.formats, result.imports)
    if full.name in _METADATA_NAMES:
        mlmodel_checks.check_metadata(ctx, relative, full.name, full.read_bytes())
    result.formats = sorted(set(result.formats))
    result.imports = sorted(set(result.imports))


def scan_bytes(data: bytes, name: str = "data", allowlist: AllowList | None = None) -> ScanReport:
    """Scan bytes held in memory as if they were a file called ``name``."""
    rules = allowlist or default_allowlist()
    report = ScanReport(SCANNER_VERSION, rules.version)
    ctx = ScanContext(rules, Limits(), report)
    result = FileResult(name, len(data), hashlib.sha256(data).hexdigest())
    report.files.append(result)
    started = time.monotonic()
    try:
        Scanner(ctx).scan(io.BytesIO(data), name, 0, result.formats, result.imports)
    except (ScanAborted, RecursionError) as aborted:
        ctx.error(name, "limit", f"scan limit reached: {aborted or 'nested too deeply'}")
    except Exception as error:  # fail closed
        log.exception("The model scanner failed on %s", name)
        ctx.error(name, "scanner_error", f"the scanner failed: {type(error).__name__}: {error}")
    result.formats = sorted(set(result.formats))
    result.imports = sorted(set(result.imports))
    report.seconds = time.monotonic() - started
    return report


def scan_stream(
    stream: IO[bytes], name: str, size: int, sha256: str, allowlist: AllowList, limits: Limits | None = None
) -> ScanReport:
    """Scan one file's bytes from a seekable stream (an upload's spool, a stored file read
    back), reported as ``name``. Only ``MLmodel`` gets the metadata checks here: the
    environment files are judged with the model directory they belong to (a requirements
    file logged on its own is no model's)."""
    report = ScanReport(SCANNER_VERSION, allowlist.version)
    ctx = ScanContext(allowlist, limits or Limits(), report)
    result = FileResult(name, size, sha256)
    report.files.append(result)
    started = time.monotonic()
    try:
        ctx.count_bytes(size)
        Scanner(ctx).scan(stream, name, 0, result.formats, result.imports)
        if name.rpartition("/")[2] == mlmodel_checks.MLMODEL_FILE:
            stream.seek(0)
            data = stream.read(mlmodel_checks.MAX_METADATA_BYTES + 1)
            mlmodel_checks.check_metadata(ctx, name, mlmodel_checks.MLMODEL_FILE, data)
    except ScanAborted as aborted:
        ctx.error(name, "limit", f"scan limit reached: {aborted}")
    except RecursionError:
        ctx.error(name, "limit", "scan limit reached: structures nested too deeply")
    except OSError as error:
        ctx.error(name, "unreadable", f"cannot read the file: {error.strerror or error}")
    except Exception as error:  # fail closed: a scanner bug must never read as clean
        log.exception("The model scanner failed on %s", name)
        ctx.error(name, "scanner_error", f"the scanner failed: {type(error).__name__}: {error}")
    result.formats = sorted(set(result.formats))
    result.imports = sorted(set(result.imports))
    report.seconds = time.monotonic() - started
    return report


def scan_path(
    path: str | Path,
    allowlist: AllowList | None = None,
    limits: Limits | None = None,
    *,
    second_opinion: bool = False,
    digests: Mapping[str, str] | None = None,
) -> ScanReport:
    """Scan one file, or every file below a directory (symbolic links are not followed).

    ``digests`` (relative path -> SHA-256) are the digests of files the caller has just
    written there and hashed on the way (the server's copy of a version), so they are not
    read once more only to hash them."""
    rules = allowlist or default_allowlist()
    report = ScanReport(SCANNER_VERSION, rules.version)
    ctx = ScanContext(rules, limits or Limits(), report)
    root = Path(path)
    scanner = Scanner(ctx)
    started = time.monotonic()
    if not root.exists():
        ctx.error(str(path), "missing", "no such file or directory")
        return report
    current = root.name
    try:
        for relative, full in _files(root, ctx):
            current = relative
            _scan_one(ctx, scanner, relative, full, digests or {})
    except ScanAborted as aborted:
        ctx.error(current, "limit", f"scan limit reached: {aborted}")
    except RecursionError:
        ctx.error(current, "limit", "scan limit reached: structures nested too deeply")
    except OSError as error:
        ctx.error(current, "unreadable", f"cannot read the file: {error.strerror or error}")
    except Exception as error:  # fail closed: a scanner bug must never read as clean
        log.exception("The model scanner failed on %s", current)
        ctx.error(current, "scanner_error", f"the scanner failed: {type(error).__name__}: {error}")
    report.seconds = time.monotonic() - started
    if second_opinion:
        from ledgerflow.governance.scanning.second_opinion import picklescan_verdict

        report.second_opinion = picklescan_verdict(root)
    return report
