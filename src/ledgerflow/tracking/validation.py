"""MLflow's validation rules for names, keys and values, with its limits and messages."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from ledgerflow.errors import InvalidParameter, ResourceDoesNotExist

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_RUN_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 5000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36
MAX_DATASET_SOURCE_LENGTH = 65535
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_INPUT_TAG_VALUE_LENGTH = 500

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000

_KEY_RE = re.compile(r"^[/\w.\- :]*$")


def validate_key(kind: str, key: str) -> None:
    """Metric, param and tag keys: ≤ 250 characters of ``[A-Za-z0-9_-. :/]``, no traversal."""
    if not key:
        raise InvalidParameter(f"Invalid {kind.lower()} name: ''. Names may not be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(f"'{kind} key' exceeds the maximum length of {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.match(key):
        raise InvalidParameter(
            f"Invalid {kind.lower()} name: '{key}'. Names may only contain alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    normalized = posixpath.normpath(key)
    if (
        normalized != key.rstrip("/")
        or key.startswith("/")
        or normalized in (".", "..")
        or normalized.startswith("../")
    ):
        raise InvalidParameter(
            f"Invalid {kind.lower()} name: '{key}'. Names cannot resolve to a different path "
            "or start with a slash."
        )


def check_length(what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidParameter(
            f"{what} '{value[:32]}...' had length {len(value)}, which exceeded length limit of {limit}"
        )


def validate_experiment_name(name: str | None) -> str:
    if name is None or name == "":
        raise InvalidParameter("Invalid experiment name: ''. Experiment names cannot be empty.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(
            f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH} characters"
        )
    return name


def parse_experiment_id(value: str | int | None) -> int:
    if value is None or value == "":
        raise InvalidParameter("Missing value for required parameter 'experiment_id'.")
    try:
        experiment_id = int(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Experiment ID must be a valid integer, got '{value}'") from None
    if not -(2**31) <= experiment_id < 2**31:
        # Ids are 32-bit columns: such an experiment cannot exist, and asking the database
        # would fail with an out-of-range error instead of a clean "not found".
        raise ResourceDoesNotExist(f"No Experiment with id={value} exists")
    return experiment_id


def parse_search_experiment_ids(values: Sequence[str]) -> list[int]:
    """Experiment ids of a search request: malformed ones are a 400, ids no experiment can
    have (out of the 32-bit range) simply match nothing."""
    ids = []
    for value in values:
        try:
            ids.append(parse_experiment_id(value))
        except ResourceDoesNotExist:
            continue
    return ids
