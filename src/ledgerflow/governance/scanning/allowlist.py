"""The versioned allow-list of globals a model pickle may import.

The list is data (``allowlist.json`` beside this module), not code: each entry names one
importable object as ``module`` + ``qualname``, or every name of one module with ``"*"``
(submodules are never included). Its ``version`` is recorded with every scan, so a new list
makes earlier results stale; the recorded version carries a digest of the entries too, so an
edited list that forgot to bump ``version`` still makes them stale. Operators extend it per server (``--allow-global``) for the
classes of their own models; the extension is part of the recorded version.

Names are compared after the same Python 2 compatibility mapping the pickle module applies
to protocol 0-2 streams (``__builtin__`` -> ``builtins``, ``copy_reg`` -> ``copyreg``), so a
stream cannot dodge an entry by spelling its module the old way.
"""

from __future__ import annotations

import _compat_pickle
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ledgerflow.errors import InvalidParameter

DATA_FILE = "allowlist.json"
WILDCARD = "*"


def canonical(module: str, name: str) -> tuple[str, str]:
    """(module, name) as ``pickle.Unpickler.find_class`` resolves them for old protocols."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


def parse_global(text: str) -> tuple[str, str]:
    """``module:qualname`` or ``module.qualname`` (the last dot splits) -> (module, name)."""
    value = text.strip()
    if ":" in value:
        module, _, name = value.partition(":")
    else:
        module, _, name = value.rpartition(".")
    if not module or not name or any(not part.isidentifier() for part in module.split(".")):
        raise InvalidParameter(
            f"Invalid global {text!r}: use module.Name or module:Qualified.Name (module:* for a whole module)."
        )
    if name != WILDCARD and any(not part.isidentifier() for part in name.split(".")):
        raise InvalidParameter(f"Invalid global {text!r}: '{name}' is not a qualified name.")
    return module, name


@dataclass(frozen=True)
class AllowList:
    """Allowed (module, qualname) pairs; ``version`` identifies exactly this content."""

    version: str
    entries: Mapping[str, frozenset[str]]
    extra: tuple[str, ...] = field(default=())

    def allows(self, module: str, name: str) -> bool:
        module, name = canonical(module, name)
        names = self.entries.get(module)
        if names is None:
            return False
        if name in names:
            return True
        # A wildcard covers the module's own top-level names only: a dotted name walks
        # attributes (``mod:os.system`` reaches whatever ``mod`` imported) and dunders reach
        # the module's machinery (``__builtins__``, ``__loader__``).
        return WILDCARD in names and "." not in name and not (name.startswith("__") and name.endswith("__"))

    def with_globals(self, globals_: Iterable[str]) -> AllowList:
        """This list plus operator-allowed globals; the version says they were added."""
        added = tuple(sorted({f"{m}:{n}" for m, n in (parse_global(g) for g in globals_)}))
        if not added:
            return self
        merged: dict[str, set[str]] = {module: set(names) for module, names in self.entries.items()}
        for item in added:
            module, _, name = item.partition(":")
            merged.setdefault(module, set()).add(name)
        all_extra = tuple(sorted({*self.extra, *added}))
        suffix = hashlib.sha256("\n".join(all_extra).encode()).hexdigest()[:12]
        base = self.version.split("+local.", 1)[0]
        return AllowList(f"{base}+local.{suffix}", {m: frozenset(n) for m, n in merged.items()}, all_extra)

    def __len__(self) -> int:
        return sum(len(names) for names in self.entries.values())


def from_document(document: Mapping[str, Any]) -> AllowList:
    version = document.get("version")
    globals_ = document.get("globals")
    if not isinstance(version, str) or not isinstance(globals_, Mapping):
        raise InvalidParameter("An allow-list document needs a 'version' string and a 'globals' mapping.")
    entries: dict[str, frozenset[str]] = {}
    for module, names in globals_.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidParameter(f"Allow-list entry {module!r} must be a list of names.")
        entries[str(module)] = frozenset(names)
    canonical_entries = json.dumps({m: sorted(n) for m, n in entries.items()}, sort_keys=True)
    content = hashlib.sha256(canonical_entries.encode()).hexdigest()[:12]
    return AllowList(f"{version}+{content}", entries)


def default_allowlist() -> AllowList:
    """The allow-list shipped with this Ledgerflow release."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return from_document(json.loads(text))
