"""Typed access to a request's fields, with MLflow's validation messages.

MLflow's proto JSON parser accepts int64 as numbers or strings (the Java client sends
strings), doubles as numbers, numeric strings or "NaN"/"Infinity", and GET parameters as
strings. Required-field checks look at the snake_case key only.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from ledgerflow.errors import InvalidParameter

_MISSING = object()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PY_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}


def _type_name(value: Any) -> str:
    return _PY_TYPE_NAMES.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    # MLflow prints the offending value as compact JSON with sorted keys ("2", [1], {"a":1}).
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(value)


def _invalid(name: str, value: Any, expected: str) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid value {_shown(value)} for parameter '{name}' supplied: Hint: Value was of type "
        f"'{_type_name(value)}'. See the API docs for more information about request parameters."
        if expected == ""
        else f"Invalid value {_shown(value)} for parameter '{name}' supplied: Hint: Value was of type "
        f"'{_type_name(value)}', expected {expected}."
    )


def _refuse_nul(name: str, value: str) -> None:
    # PostgreSQL cannot store NUL in text, and no MLflow field has a use for it: refuse it
    # the same way on every backend instead of failing inside one database.
    if "\x00" in value:
        raise InvalidParameter(f"Invalid value for parameter '{name}': NUL characters are not allowed.")


def missing(name: str) -> InvalidParameter:
    return InvalidParameter(f"Missing value for required parameter '{name}'.")


class Payload:
    """A request message: a JSON object body, or a GET query string turned into a dict."""

    def __init__(self, data: dict[str, Any], *, from_query: bool = False, prefix: str = "") -> None:
        self.data = data
        self.from_query = from_query
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise missing(self._name(key))
            return _MISSING
        if self.from_query and isinstance(value, list):
            # A repeated query key where a scalar is expected: the last one wins.
            value = value[-1]
        return value

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            raise _invalid(self._name(key), value, "a string")
        _refuse_nul(self._name(key), value)
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def int64(self, key: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self._get(key, required)
        if value is _MISSING:
            return default
        number: int | None = None
        if isinstance(value, bool):
            raise _invalid(self._name(key), value, "an integer")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = int(value.strip())
        # Out of int64 range is a proto parse error, and would overflow every BIGINT column.
        if number is None or not _INT64_MIN <= number <= _INT64_MAX:
            raise _invalid(self._name(key), value, "a 64-bit integer" if number is not None else "an integer")
        return number

    def req_int64(self, key: str) -> int:
        value = self.int64(key, required=True)
        assert value is not None
        return value

    def double(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is _MISSING:
            return None
        if isinstance(value, bool):
            raise _invalid(self._name(key), value, "a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise _invalid(self._name(key), value, "a number") from None
            return number
        raise _invalid(self._name(key), value, "a number")

    def boolean(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self._get(key, False)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _invalid(self._name(key), value, "a boolean")

    def string_list(self, key: str) -> list[str]:
        """A repeated string field. A query string carries one value as a plain string; in a
        JSON body a scalar where a list belongs is refused, in MLflow's words."""
        value = self.data.get(key)
        if value is None:
            return []
        if self.from_query and isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(self._name(key), value, "")
        for item in value:
            _refuse_nul(self._name(key), item)
        return value

    def messages(self, key: str) -> list[Payload]:
        """A repeated message field, each item as its own Payload (errors name the index)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid(self._name(key), value, "")
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise _invalid(f"{self._name(key)}[{index}]", item, "an object")
            items.append(Payload(item, prefix=f"{self._name(key)}[{index}]."))
        return items

    def message(self, key: str) -> Payload | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _invalid(self._name(key), value, "an object")
        return Payload(value, prefix=f"{self._name(key)}.")

    def run_id(self) -> str:
        """``run_id``, falling back to the legacy ``run_uuid`` (both are sent by MLflow clients)."""
        value = self.string("run_id") or self.string("run_uuid")
        if not value:
            raise missing(self._name("run_id"))
        return value


def finite_or_clamped(value: float) -> float:
    """MLflow's SQL stores clamp infinities to the largest finite double."""
    if math.isinf(value):
        return math.copysign(1.7976931348623157e308, value)
    return value
