"""What a scan finds: findings, per-file results, the overall status, and the limits.

Statuses, from best to worst: ``clean`` (every import is allow-listed, nothing suspicious),
``findings`` (something not allowed was found) and ``unscannable`` (the scanner could not
read everything: a truncated or corrupt pickle or archive, an import it cannot resolve
statically, a limit exceeded). ``unscannable`` blocks exactly like ``findings``: what could
not be read cannot be vouched for (fail closed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CLEAN = "clean"
FINDINGS = "findings"
UNSCANNABLE = "unscannable"
STATUSES = (CLEAN, FINDINGS, UNSCANNABLE)

# Finding kinds.
GLOBAL = "global"  # an import that is not allow-listed
INDIRECT_CALL = "indirect_call"  # a call of something that is not an imported global
GLOBAL_MUTATION = "global_mutation"  # BUILD on an imported class or function (setattr on it)
KERAS_LAMBDA = "keras_lambda"  # serialized Python code in a Keras model
SKOPS_TYPE = "skops_type"  # a skops schema node of a type not allow-listed
MLMODEL = "mlmodel"  # loader_module / code_paths / environment files
LINK = "link"  # a symbolic link in a model directory

# Exit codes of `ledgerflow scan`.
EXIT_CODES = {CLEAN: 0, FINDINGS: 1, UNSCANNABLE: 2}


@dataclass(frozen=True)
class Limits:
    """Bounds on one scan; reaching any of them makes the result ``unscannable``."""

    max_total_bytes: int = 4 * 1024**3
    max_archive_entries: int = 10_000
    max_depth: int = 4
    max_seconds: float = 300.0
    # Decompressed bytes allowed per compressed stream (zip entry, gzip, ...): zip bombs.
    max_expand_ratio: int = 200


@dataclass(frozen=True)
class Finding:
    path: str
    kind: str
    message: str
    global_name: str | None = None
    position: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class FileResult:
    path: str
    size: int
    sha256: str
    formats: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanReport:
    """A whole scan (one file or one model directory)."""

    scanner_version: str
    allowlist_version: str
    files: list[FileResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    second_opinion: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        if self.errors:
            return UNSCANNABLE
        if self.findings:
            return FINDINGS
        return CLEAN

    def digests(self) -> dict[str, str]:
        return {item.path: item.sha256 for item in self.files}

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "scanner_version": self.scanner_version,
            "allowlist_version": self.allowlist_version,
            "files": [item.to_json() for item in self.files],
            "findings": [item.to_json() for item in self.findings],
            "errors": [item.to_json() for item in self.errors],
            "seconds": round(self.seconds, 3),
            "second_opinion": self.second_opinion,
        }


class ScanAborted(Exception):
    """A limit was reached; the scan stops and the result is unscannable."""
