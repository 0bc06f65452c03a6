"""MLflow's registry rules for names, versions, stages, aliases and tags, with its messages."""

from __future__ import annotations

import re

from ledgerflow.errors import InvalidParameter
from ledgerflow.tracking.validation import check_length, validate_key

MAX_MODEL_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
# BC-20: registered-model and model-version tag values are bounded like experiment tags.
MAX_TAG_VALUE_LENGTH = 5000
MAX_DESCRIPTION_LENGTH = 100_000
MAX_SOURCE_LENGTH = 2000
MAX_RUN_LINK_LENGTH = 2000

STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED = "None", "Staging", "Production", "Archived"
STAGES = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
ACTIVE_STAGES = (STAGE_STAGING, STAGE_PRODUCTION)
_CANONICAL_STAGE = {stage.lower(): stage for stage in STAGES}

# Characters the REST paths and the UI's URL handling cannot carry in a model name (BC-37).
_BAD_NAME_CHARS = ("/", ":", "%")
_RESERVED_VERSION_ALIAS = re.compile(r"[vV]\d+")
_ALIAS_CHARS = re.compile(r"[\w\-]+")


def validate_model_name(name: str | None) -> str:
    if name is None or name.strip() == "":
        raise InvalidParameter("Registered model name cannot be empty.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameter(
            f"Registered model name exceeds the maximum length of {MAX_MODEL_NAME_LENGTH} characters"
        )
    bad = [char for char in _BAD_NAME_CHARS if char in name]
    if bad:
        raise InvalidParameter(
            f"Invalid model name: '{name}'. Registered model names cannot contain the characters "
            f"{list(_BAD_NAME_CHARS)}."
        )
    if name in (".", "..") or name.startswith(".."):
        raise InvalidParameter(f"Invalid model name: '{name}'. Names cannot resolve to a different path.")
    return name


def validate_new_model_name(name: str | None, field: str = "name") -> str:
    """A name a registered model is created or renamed to: the rules above, and no leading or
    trailing whitespace (any Unicode space, tab or line break). Ours: MLflow 3.17 stores
    ``" m"`` and ``"m\\n"`` as given, which then look like ``m`` in the UI and in logs while
    ``models:/m`` finds nothing (mlflow/mlflow#12321). Names stored before stay reachable:
    lookups do not apply this rule."""
    if name is None or name.strip() == "":
        raise InvalidParameter(f"Missing value for required parameter '{field}'.")
    name = validate_model_name(name)
    if name != name.strip():
        raise InvalidParameter(
            f"Invalid model name: {name!r}. Registered model names cannot begin or end with whitespace."
        )
    return name


def parse_version(version: str | int | None) -> int:
    """Versions are decimal strings on the wire ("1", "2", ...)."""
    text = str(version) if version is not None else ""
    if not text.strip().isdigit() or not 0 < int(text) < 2**31:
        raise InvalidParameter(f"Model version must be an integer, got '{version}'")
    return int(text)


def canonical_stage(stage: str | None) -> str:
    found = _CANONICAL_STAGE.get((stage or "").strip().lower())
    if found is None:
        raise InvalidParameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}."
        )
    return found


def validate_alias(alias: str | None) -> str:
    if alias is None or alias == "":
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameter(
            f"Registered model alias name '{alias[:32]}...' exceeds the maximum length of "
            f"{MAX_ALIAS_LENGTH} characters"
        )
    # fullmatch: with match, "$" also matches before a trailing newline, so "champion\n" and
    # "latest\n" passed (MLflow 3.17 still accepts both, the second past its reserved check).
    if not _ALIAS_CHARS.fullmatch(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores "
            "(_), and dashes (-)."
        )
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
    if _RESERVED_VERSION_ALIAS.fullmatch(alias):
        raise InvalidParameter(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_tag(key: str, value: str) -> None:
    validate_key("Tag", key)
    check_length("Tag value", value, MAX_TAG_VALUE_LENGTH)


def validate_description(description: str | None) -> None:
    if description is not None:
        check_length("Description", description, MAX_DESCRIPTION_LENGTH)
