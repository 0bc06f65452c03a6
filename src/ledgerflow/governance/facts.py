"""What the policy engine may know about a model version, and who tells it.

Every governance subsystem that records something about a model version (a scan, a
signature, an SBOM, an evaluation, secret findings) registers a :class:`FactSource` on the
:class:`FactRegistry`. At promotion time the policy engine asks the registry for the facts of
the version being promoted and judges them; it never reads another subsystem's tables.

Each source owns one namespace. The documented shape of each namespace is the contract
between the source and the policy rules that read it:

``scan``
    ``{"status": "clean" | "findings" | "unscannable" | "missing", "effective_status": status
    or "overridden", "scanner_version": str, "allowlist_version": str, "manifest_digest": str |
    None, "findings": [{...}], "override": {"reason", "expires_at", "by"} | None}``; always
    made by the current scanner and allow-list over the version's current files (a result
    made by another, or older than a write below the version's storage, is redone first).
    Logged models and run folders are not registry versions: their per-file results are served
    by ``/2.0/ledgerflow/logged-models/scan`` and ``.../runs/artifacts/scan``, not as facts.
``signature``
    ``{"status": "valid" | "invalid" | "unsigned", "key_id": str | None,
    "manifest_digest": str | None, "reason": str | None}``
``sbom``
    ``{"present": bool, "digest": str | None}``
``evaluation``
    ``{"metrics": {name: float}, "fairness": {name: float}, "robustness": {name: float},
    "dataset_digest": str | None, "evaluated_at": int | None}``  (latest evaluation); also
    ``"fairness_status": {feature: "ok" | "insufficient_data"}`` (a group below
    ``min_group_size``: such groups are left out of that feature's fairness numbers, and with
    fewer than two groups left the numbers are absent) and ``"evaluation_id"``. Names:
    ``metrics``: ``accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro``, ``roc_auc``,
    ``log_loss`` | ``rmse``, ``mae``, ``r2``; ``fairness``: ``<metric>.<feature>`` (e.g.
    ``demographic_parity_ratio.sex``, ``equalized_odds_difference.sex:age_band``);
    ``robustness``: ``noise_0.05.accuracy_ratio``, ``noise_0.05.flip_rate``,
    ``feature_drop.max_accuracy_drop``, ``hsj.robust_accuracy_eps_0.1`` ...
``secrets``
    ``{"findings": int, "kinds": [str]}``  (never the secret values)

A source returns ``{}`` when it knows nothing about the version; a rule whose input is
missing evaluates to ``error`` (which blocks), so "no facts" can never pass a gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

Facts = Mapping[str, Any]


class FactSource(Protocol):
    """One subsystem's view of a model version."""

    namespace: str

    def facts_for(self, name: str, version: int) -> Facts: ...


class FactRegistry:
    """The sources the policy engine consults, one per namespace."""

    def __init__(self) -> None:
        self._sources: dict[str, FactSource] = {}

    def register(self, source: FactSource) -> None:
        if source.namespace in self._sources:
            raise ValueError(f"A fact source for {source.namespace!r} is already registered")
        self._sources[source.namespace] = source

    def namespaces(self) -> list[str]:
        return sorted(self._sources)

    def facts_of(self, namespace: str, name: str, version: int) -> Facts:
        """One namespace's facts (``{}`` when no source owns it), for callers that need only
        that one: every source does real work (a signature check hashes the files)."""
        source = self._sources.get(namespace)
        return {} if source is None else source.facts_for(name, version)

    def collect(self, name: str, version: int) -> dict[str, Facts]:
        """Every namespace's facts about ``name`` version ``version`` (``{}`` where unknown)."""
        return {namespace: source.facts_for(name, version) for namespace, source in self._sources.items()}
