"""Limits on JSON API request bodies: total size, and how deeply the JSON may nest.

The size is checked against Content-Length before anything is read and counted again while
the body streams in (a chunked body declares no length), so an oversized body is never held
in memory. The answer is 413 with MLflow's error JSON and code ``REQUEST_LIMIT_EXCEEDED``
(see :class:`~ledgerflow.errors.RequestTooLarge` for why not 429). Artifact uploads stream
to the artifact store through their own routes and are not subject to these limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerflow.errors import BadRequest, RequestTooLarge

if TYPE_CHECKING:
    # Only for annotations: the scoring parser (``models predict``, no server extra) imports
    # check_depth from here.
    from starlette.requests import Request


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is larger than this server's limit of {limit} bytes (max_request_bytes)."
    )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The whole request body, refused as soon as it is known to exceed *limit* bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Bad Request. The Content-Length header is not a number.") from None
        if size > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"{[")


def check_depth(body: bytes, data: Any, limit: int) -> None:
    """Refuse JSON nested deeper than *limit* objects/arrays (handlers recurse on some);
    *data* must be what *body* decodes to."""
    # Every object or array in *data* was opened by a bracket in *body* (brackets inside strings
    # only add to the count), so fewer brackets than the limit cannot nest past it: the usual
    # case costs one scan in C (half the time of counting each bracket).
    brackets = len(body.translate(None, _NOT_BRACKETS))
    if brackets <= limit:
        return
    # Level by level, keeping only the containers. Once the levels seen hold as many
    # containers as there are brackets, nothing lies deeper: a log-batch (an object, a list,
    # a thousand flat objects) is settled without looking inside the thousand objects.
    level: list[Any] = [data] if type(data) is dict or type(data) is list else []
    seen = len(level)
    depth = 1
    while level:
        if depth > limit:
            raise BadRequest(f"Bad Request. The request body nests deeper than {limit} levels.")
        if seen >= brackets:
            return
        # Testing each child's exact type in a comprehension costs a third of a per-child
        # generator.
        below: list[Any] = []
        for value in level:
            children = value.values() if type(value) is dict else value
            below += [child for child in children if type(child) is dict or type(child) is list]
        seen += len(below)
        level = below
        depth += 1
