"""The promotion hook: one injected callable the registry asks before it moves an alias or
changes a stage.

The registry knows nothing of policies or approvals. The governance layer installs a check
(``PromotionHook.install``) that is called as ``check(name, version, target)`` with ``target``
``"alias:<alias>"`` or ``"stage:<Stage>"`` before the write transaction; it raises to refuse,
or returns None (nothing to do) or a commit function that the registry runs inside the same
transaction as the change (so "request promoted" and "alias moved" commit together).

Removing an alias (deleting it, or the version or model holding it) is asked too, through
``before_removal(name, version, target, operation)``: a protected alias must not be un-set
by a route that never meets the gate. So is renaming a model, through
``before_rename(name, new_name)``: references (``models:/<name>@<alias>``), signatures and policy
scopes all go by the name, so a rename moves every target the model holds.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

PromotionCommit = Callable[[Connection], None]
PromotionCheck = Callable[[str, int, str], PromotionCommit | None]
# Asked before the promotion hook with the same (name, version, target); raises to refuse.
IntegrityCheck = Callable[[str, int, str], None]
# (name, version the alias points at, "alias:<alias>", operation); raises to refuse.
RemovalCheck = Callable[[str, int, str, str], None]
# (current name, new name); raises to refuse.
RenameCheck = Callable[[str, str], None]


class PromotionHook:
    def __init__(self) -> None:
        self._check: PromotionCheck | None = None
        self._removal: RemovalCheck | None = None
        self._rename: RenameCheck | None = None

    def install(
        self, check: PromotionCheck, removal: RemovalCheck | None = None, rename: RenameCheck | None = None
    ) -> None:
        self._check = check
        self._removal = removal
        self._rename = rename

    def before(self, name: str, version: int, target: str) -> PromotionCommit | None:
        return None if self._check is None else self._check(name, version, target)

    def before_removal(self, name: str, version: int, target: str, operation: str) -> None:
        if self._removal is not None:
            self._removal(name, version, target, operation)

    def before_rename(self, name: str, new_name: str) -> None:
        if self._rename is not None:
            self._rename(name, new_name)
