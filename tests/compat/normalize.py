"""Turn two servers' answers into comparable JSON: ids, times and paths become placeholders.

Lists of ``{key, ...}`` entries are sorted by key (their order means nothing to clients). Ids are numbered in order of first appearance (keys walked in sorted order), so the same
structure from two servers maps to the same placeholders, while a mix-up (the wrong run's id
somewhere) still shows up as a different placeholder.
"""

from __future__ import annotations

import json
import re
from typing import Any

RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
MODEL_ID = re.compile(r"\bm-[0-9a-f]{32}\b")
UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?")
GENERATED_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,4}$")
ARTIFACT_EXPERIMENT = re.compile(r"mlflow-artifacts:/(\d+)(?=/|$)")
TIME_KEYS = {
    "start_time",
    "end_time",
    "timestamp",
    "creation_time",
    "last_update_time",
    "creation_timestamp",
    "last_updated_timestamp",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
}
EXPERIMENT_KEYS = {"experiment_id"}
RUN_NAME_KEYS = {"run_name", "mlflow.runName"}


class Normalizer:
    def __init__(self, replacements: dict[str, str] | None = None) -> None:
        self.ids: dict[str, str] = {}
        self.replacements = replacements or {}

    def _placeholder(self, kind: str, value: str) -> str:
        if value not in self.ids:
            count = sum(1 for v in self.ids.values() if v.startswith(f"<{kind}:"))
            self.ids[value] = f"<{kind}:{count}>"
        return self.ids[value]

    def _string(self, text: str) -> str:
        for old, new in self.replacements.items():
            text = text.replace(old, new)
        text = MODEL_ID.sub(lambda m: self._placeholder("model", m.group(0)), text)
        text = RUN_ID.sub(lambda m: self._placeholder("id", m.group(0)), text)
        text = ARTIFACT_EXPERIMENT.sub(
            lambda m: "mlflow-artifacts:/" + self._placeholder("exp", m.group(1)), text
        )
        return UTC_TIME.sub("<utc>", text)

    def _embedded_json(self, text: str) -> Any:
        """Strings that hold JSON (history tags, dataset sources) are compared as JSON."""
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except ValueError:
                return None
        return None

    def value(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.value(value[k], k) for k in sorted(value)}
        if isinstance(value, list):
            items = [self.value(v, key) for v in value]
            # Metrics, params and tags are key/value lists whose order carries no meaning (clients
            # turn them into dicts); a stable sort by key keeps the order of same-key entries,
            # such as a metric history.
            if items and all(isinstance(v, dict) and isinstance(v.get("key"), str) for v in items):
                items.sort(key=lambda v: v["key"])
            return items
        if key in TIME_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            return "<time>" if value > 0 else value
        if isinstance(value, str):
            if key in EXPERIMENT_KEYS and value.isdigit():
                return self._placeholder("exp", value)
            if key in RUN_NAME_KEYS and GENERATED_RUN_NAME.match(value):
                return "<generated-name>"
            embedded = self._embedded_json(value)
            if embedded is not None:
                return {"<json>": self.value(embedded, key)}
            return self._string(value)
        return value


def normalize(value: Any, replacements: dict[str, str] | None = None) -> Any:
    return Normalizer(replacements).value(value)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)
