"""The request context the audit trail reads: who, from where, which request, doing what.

It lives in a ``ContextVar`` so it follows a request into Starlette's threadpool (anyio copies
the context into worker threads). The value is a mutable object, so code running in the
worker thread (a service attaching a before-state digest, the store counting the parts of a
request) updates the same object the HTTP layer created.
"""

from __future__ import annotations

import functools
import getpass
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

ANONYMOUS = "anonymous"
LOCAL_SOURCE = "local"
REQUEST_ID_HEADER = "x-request-id"
# A client-chosen request id is echoed and stored, so it must be a short plain token: no
# spaces, quotes or control characters that could forge lines in a log or a header.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Field names that hold secrets, by the words they contain.
_SECRET_WORDS = (
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "apikey",
    "api_key",
    "api-key",
    "credential",
)
_SECRET_KEY = re.compile("|".join(_SECRET_WORDS), re.I)
# ...except names of identifiers (``token_id``, ``secret_ids``): an id is how a record is tied
# to the later revocation or use of the same credential, and never lets anyone act as it.
_IDENTIFIER_KEY = re.compile(r"(^|[_-])ids?$", re.I)
REDACTED = "[redacted]"

# Which payload fields name the resource an endpoint acts on, per route module.
_RESOURCE_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "runs": ("run", ("run_id", "run_uuid")),
    "experiments": ("experiment", ("experiment_id",)),
    "logged_models": ("logged_model", ("model_id",)),
    "webhooks": ("webhook", ("webhook_id", "id")),
    "artifacts": ("run", ("run_id", "run_uuid")),
}


@dataclass
class AuditContext:
    request_id: str
    actor: str = ANONYMOUS
    source_address: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    payload: Mapping[str, Any] | None = None
    before_digest: str | None = None
    # How many change records this request has appended; a second transaction of the same
    # request (e.g. queueing webhook deliveries after the change) is recorded as part 2.
    parts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


_CURRENT: ContextVar[AuditContext | None] = ContextVar("ledgerflow_audit_context", default=None)


def current() -> AuditContext | None:
    return _CURRENT.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """The client's request id if it is a plain token, else None (a fresh one is made)."""
    if value and _SANE_REQUEST_ID.match(value):
        return value
    return None


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry (containers with an arbitrary uid) and no USER variable.
        return "local"


def local_actor() -> str:
    """The actor of every write made on this machine without a server (CLI commands, the
    in-process client, maintenance jobs): one form, ``cli:<os user>``, so a search by actor finds
    all of them and none can be mistaken for a server account of the same name."""
    return f"cli:{os_user()}"


@contextmanager
def bind(context: AuditContext) -> Iterator[AuditContext]:
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def local_command(action: str, *, resource_type: str | None = None) -> AuditContext:
    """The context of a maintenance command run on this machine (``ledgerflow gc`` ...):
    the OS user, from "local"; bind it around the command's writes."""
    return AuditContext(
        request_id=new_request_id(),
        actor=local_actor(),
        source_address=LOCAL_SOURCE,
        action=action,
        resource_type=resource_type,
    )


def set_action(action: str, payload: Mapping[str, Any]) -> AuditContext | None:
    """Name what the current request does; called by the HTTP layer once it knows the endpoint."""
    context = _CURRENT.get()
    if context is None:
        return None
    context.action = action
    context.payload = payload
    context.resource_type, context.resource_id = resource_of(action, payload)
    return context


def attach_before_digest(digest: str) -> None:
    """Let a service record a digest of the state it is about to change."""
    context = _CURRENT.get()
    if context is not None:
        context.before_digest = digest


def resource_of(action: str, payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    group = action.split(".", 1)[0]
    if group == "registry":
        name = _text(payload.get("name"))
        if name is None:
            return "registered_model", None
        if payload.get("alias") is not None:
            return "model_alias", f"{name}@{_text(payload.get('alias'))}"
        if payload.get("version") is not None:
            return "model_version", f"{name}/{_text(payload.get('version'))}"
        return "registered_model", name
    resource_type, keys = _RESOURCE_KEYS.get(group, (group, ()))
    for key in keys:
        value = _text(payload.get(key))
        if value is not None:
            return resource_type, value
    return resource_type, None


def resource_from_result(action: str, result: Any) -> str | None:
    """The id a create returned (the payload of a create has none yet)."""
    if isinstance(result, str | int) and not isinstance(result, bool):
        return str(result)
    _type, keys = _RESOURCE_KEYS.get(action.split(".", 1)[0], ("", ()))
    return _find_key(result, keys or ("id",), depth=3)


def _find_key(value: Any, keys: tuple[str, ...], depth: int) -> str | None:
    if not isinstance(value, Mapping) or depth == 0:
        return None
    for key in keys:
        if isinstance(value.get(key), str | int):
            return str(value[key])
    for item in value.values():
        found = _find_key(item, keys, depth - 1)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    # Cached: a log-batch repeats the same few field names a thousand times.
    return _SECRET_KEY.search(key) is not None and _IDENTIFIER_KEY.search(key) is None


def scrub(value: Any) -> Any:
    """A copy with every secret-named field replaced, recursively."""
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _is_secret_key(str(key)) else scrub(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def summarize(payload: Mapping[str, Any], limit: int = 256, *, scrubbed: bool = False) -> dict[str, Any]:
    """Small, secret-free facts about a request for the record's details (bulk lists are counted).
    Pass ``scrubbed=True`` when *payload* already went through :func:`scrub`."""
    summary: dict[str, Any] = {}
    for key, value in (payload if scrubbed else scrub(payload)).items():
        name = key if type(key) is str else str(key)
        if isinstance(value, str):
            summary[name] = value if len(value) <= limit else value[:limit] + "..."
        elif isinstance(value, bool | int | float) or value is None:
            summary[name] = value
        elif isinstance(value, list):
            summary[name] = {"count": len(value)}
    return summary


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)
