"""Pinned Python requirements (a model's requirements.txt) as package names and versions."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
_PIN = re.compile(r"^===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


@dataclass(frozen=True)
class Requirement:
    name: str  # PEP 503 normalised
    version: str | None  # only for an exact pin (==, ===)
    specifier: str  # as written, e.g. ">=1.3" (empty when none)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(text: str) -> list[Requirement]:
    """Each requirement line once (options, URLs, includes and comments skipped), sorted."""
    found: dict[str, Requirement] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "git+", "http:", "https:", "file:")):
            continue
        line = line.split(";", 1)[0].strip()  # environment markers
        match = _NAME.match(line)
        if match is None:
            continue
        specifier = match.group(3).strip()
        pin = _PIN.match(specifier.replace(" ", ""))
        name = normalise(match.group(1))
        found[name] = Requirement(name, pin.group(1) if pin else None, specifier)
    return [found[name] for name in sorted(found)]
