"""The events a webhook can subscribe to, their wire form, and example payloads for /test.

On the wire an event is MLflow's ``WebhookEvent`` message, ``{"entity": "MODEL_VERSION",
"action": "CREATED"}`` (proto enum names); in a delivery body they are lower case
(``"entity": "model_version"``). Clients may also send the lower-case names or the
``"entity.action"`` string form the MLflow Python client prints.
"""

from __future__ import annotations

from typing import Any

from ledgerflow.errors import InvalidParameter

# MLflow's registry events, plus ours where MLflow has none: registered-model tags and
# stage transitions (MLflow deprecated stages and never gave them a webhook event).
VALID_ACTIONS: dict[str, tuple[str, ...]] = {
    "registered_model": ("created",),
    "model_version": ("created", "stage_transitioned"),
    "model_version_tag": ("set", "deleted"),
    "model_version_alias": ("created", "deleted"),
    "registered_model_tag": ("set", "deleted"),
    # Four-eyes promotion and the policy gate (governance/approvals, governance/policy).
    "promotion_request": ("created", "approved", "rejected", "invalidated", "expired", "promoted"),
    "policy_evaluation": ("failed",),
    "promotion": ("break_glass",),
    # Drift monitoring: a version's production inputs drifted past its alert rule.
    "drift": ("alert",),
    # Alerts (governance/alerts): a run set to FAILED; a metric crossing an alert rule.
    "run": ("failed",),
    "metric": ("threshold",),
}
OURS = frozenset(
    {
        "model_version.stage_transitioned",
        "registered_model_tag.set",
        "registered_model_tag.deleted",
        "drift.alert",
        "run.failed",
        "metric.threshold",
    }
)
OURS |= frozenset(
    f"{entity}.{action}"
    for entity in ("promotion_request", "policy_evaluation", "promotion")
    for action in VALID_ACTIONS[entity]
)

_EXAMPLES: dict[str, dict[str, Any]] = {
    "registered_model.created": {
        "name": "example_model",
        "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/m-0123456789abcdef",
        "run_id": "0123456789abcdef0123456789abcdef",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "model_version.stage_transitioned": {
        "name": "example_model",
        "version": "1",
        "from_stage": "None",
        "to_stage": "Staging",
        "archive_existing_versions": False,
        "archived_versions": [],
    },
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "v"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "champion", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "champion"},
    "registered_model_tag.set": {"name": "example_model", "key": "example_key", "value": "v"},
    "registered_model_tag.deleted": {"name": "example_model", "key": "example_key"},
    **{
        f"promotion_request.{action}": {
            "request_id": "0123456789abcdef0123456789abcdef",
            "name": "example_model",
            "version": "1",
            "target": "alias:champion",
        }
        for action in ("created", "approved", "rejected", "invalidated", "expired", "promoted")
    },
    "policy_evaluation.failed": {
        "evaluation_id": "0123456789abcdef0123456789abcdef",
        "name": "example_model",
        "version": "1",
        "target": "alias:champion",
        "failing_rules": ["accuracy"],
    },
    "promotion.break_glass": {
        "name": "example_model",
        "version": "1",
        "target": "alias:champion",
        "by": "admin",
        "reason": "hotfix",
        "severity": "high",
    },
    "run.failed": {
        "run_id": "0123456789abcdef0123456789abcdef",
        "experiment_id": "1",
        "run_name": "example_run",
        "user_id": "alice",
        "status": "FAILED",
        "end_time": 1767225600000,
    },
    "metric.threshold": {
        "rule_id": "0123456789abcdef0123456789abcdef",
        "experiment_id": "1",
        "run_id": "0123456789abcdef0123456789abcdef",
        "metric_key": "val_loss",
        "comparison": ">",
        "threshold": 1.0,
        "value": 1.7,
    },
    "drift.alert": {
        "name": "example_model",
        "version": "1",
        "window": 3,
        "window_time": 1767225600000,
        "share_drifted": 0.5,
        "drifted_features": ["age", "region"],
        "consecutive_windows": 1,
        "monitoring_run_id": "0123456789abcdef0123456789abcdef",
    },
}


def all_events() -> list[str]:
    return [f"{entity}.{action}" for entity, actions in VALID_ACTIONS.items() for action in actions]


def check_event(entity: str, action: str) -> str:
    """The canonical ``entity.action`` name, or INVALID_PARAMETER_VALUE naming what is valid."""
    entity, action = entity.strip().lower(), action.strip().lower()
    if entity not in VALID_ACTIONS:
        raise InvalidParameter(
            f"Invalid webhook event entity '{entity}'. Valid entities are: {sorted(VALID_ACTIONS)}"
        )
    if action not in VALID_ACTIONS[entity]:
        raise InvalidParameter(
            f"Invalid action '{action}' for entity '{entity}'. "
            f"Valid actions are: {sorted(VALID_ACTIONS[entity])}"
        )
    return f"{entity}.{action}"


def parse_event(item: Any, where: str) -> str:
    if isinstance(item, str):
        entity, dot, action = item.partition(".")
        if not dot:
            raise InvalidParameter(
                f"Invalid webhook event '{item}' in {where}: expected 'entity.action', "
                'e.g. \'model_version.created\', or {"entity": ..., "action": ...}.'
            )
        return check_event(entity, action)
    if isinstance(item, dict):
        parts = {key: item.get(key) for key in ("entity", "action")}
        for key, part in parts.items():
            if not isinstance(part, str) or not part:
                raise InvalidParameter(f"Missing value for required parameter '{where}.{key}'.")
        return check_event(str(parts["entity"]), str(parts["action"]))
    raise InvalidParameter(f"Invalid webhook event in {where}: expected an object with entity and action.")


def parse_events(value: Any, *, required: bool) -> list[str] | None:
    """Sorted, de-duplicated event names from a request's ``events``; None when absent and
    not required (an update that leaves events alone)."""
    if value is None or value == []:
        if required:
            raise InvalidParameter(
                "Missing value for required parameter 'events'. Webhook events cannot be empty."
            )
        return None
    if not isinstance(value, list):
        raise InvalidParameter(
            f"Invalid value for parameter 'events': expected a list, got {type(value).__name__}."
        )
    return sorted({parse_event(item, f"events[{index}]") for index, item in enumerate(value)})


def to_wire(event: str) -> dict[str, str]:
    entity, _, action = event.partition(".")
    return {"entity": entity.upper(), "action": action.upper()}


def example_payload(event: str) -> dict[str, Any]:
    return dict(_EXAMPLES[event])
