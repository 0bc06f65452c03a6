"""The promotion hook: one injected callable the registry asks before it moves an alias or
changes a stage.

The registry knows nothing of policies or approvals. The governance layer installs a check
(``PromotionHook.install``) that is called as ``check(name, version, target)`` with ``target``
``"alias:<alias>"`` or ``"stage:<Stage>"`` before the write transaction; it raises to refuse,
or returns None (nothing to do) or a commit function that the registry runs inside the same
transaction as the change (so "request promoted" and "alias moved" commit together).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

PromotionCommit = Callable[[Connection], None]
PromotionCheck = Callable[[str, int, str], PromotionCommit | None]
# Asked before the promotion hook with the same (name, version, target); raises to refuse.
IntegrityCheck = Callable[[str, int, str], None]


class PromotionHook:
    def __init__(self) -> None:
        self._check: PromotionCheck | None = None

    def install(self, check: PromotionCheck) -> None:
        self._check = check

    def before(self, name: str, version: int, target: str) -> PromotionCommit | None:
        return None if self._check is None else self._check(name, version, target)
