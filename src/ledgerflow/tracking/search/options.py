"""Request options shared by the search endpoints: view types and result caps."""

from __future__ import annotations

from ledgerflow.errors import InvalidParameter

ACTIVE_ONLY, DELETED_ONLY, ALL = "ACTIVE_ONLY", "DELETED_ONLY", "ALL"
_STAGES = {ACTIVE_ONLY: ("active",), DELETED_ONLY: ("deleted",), ALL: ("active", "deleted")}


def lifecycle_stages(view_type: str | None, *, parameter: str = "view_type") -> tuple[str, ...]:
    """The lifecycle stages a view type shows; None or "" means ACTIVE_ONLY."""
    stages = _STAGES.get((view_type or ACTIVE_ONLY).upper())
    if stages is None:
        raise InvalidParameter(
            f"Invalid value {view_type!r} for parameter '{parameter}'. Valid values are {list(_STAGES)}."
        )
    return stages


def check_max_results(max_results: int, cap: int | None, *, parameter: str = "max_results") -> int:
    if max_results < 0:
        raise InvalidParameter(f"Invalid value {max_results} for parameter '{parameter}': must be >= 0.")
    if cap is not None and max_results > cap:
        raise InvalidParameter(
            f"Invalid value for request parameter {parameter}. It must be at most {cap}, "
            f"but got value {max_results}"
        )
    return max_results
