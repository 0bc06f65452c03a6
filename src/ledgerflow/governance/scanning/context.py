"""State of one scan in progress: the allow-list, limits, deadline and what was found."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ledgerflow.governance.scanning.allowlist import AllowList
from ledgerflow.governance.scanning.report import Finding, Limits, ScanAborted, ScanReport


@dataclass
class ScanContext:
    allowlist: AllowList
    limits: Limits
    report: ScanReport
    started: float = field(default_factory=time.monotonic)
    bytes_read: int = 0

    def check_time(self) -> None:
        if time.monotonic() - self.started > self.limits.max_seconds:
            raise ScanAborted(f"the scan took longer than {self.limits.max_seconds:g} seconds")

    def count_bytes(self, size: int) -> None:
        self.bytes_read += size
        if self.bytes_read > self.limits.max_total_bytes:
            raise ScanAborted(f"more than {self.limits.max_total_bytes} bytes to scan")

    def finding(self, path: str, kind: str, message: str, **extra: object) -> None:
        self.report.findings.append(Finding(path, kind, message, **extra))  # type: ignore[arg-type]

    def error(self, path: str, kind: str, message: str, position: int | None = None) -> None:
        self.report.errors.append(Finding(path, kind, message, position=position))
