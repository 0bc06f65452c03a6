"""The one validator for client-supplied artifact paths.

Every route that takes an artifact path (proxy PUT/GET/DELETE and listing, ``artifacts/list``,
``/get-artifact``, ``upload-artifact``, the logged-model artifact routes) and every stored
artifact location the server turns into a storage key goes through :func:`clean_path`.

MLflow's path-traversal history is one validator patched once per bypass (encoded and
double-encoded dots, backslashes, drive letters, NUL bytes). Here the rules are applied to the
value as received *and* to its percent-decoded fixpoint, so no later decoding step anywhere can
turn an accepted path into a traversal. The value kept is the received one, normalised: it is
what was validated, and what is stored and served.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from ledgerflow.errors import InvalidParameter

MAX_PATH_LENGTH = 4096
MAX_COMPONENT_BYTES = 255
# A value still changing after this many rounds of decoding is an attack, not a file name.
MAX_DECODE_ROUNDS = 10

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# "file:/...", "s3://...": a URI where a relative path belongs (one letter is a drive letter).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:/")
# Where a URI's path ends: everything after these is query, fragment or params, which MLflow
# let through into local paths (CVE-2023-6909, CVE-2024-1593, CVE-2024-1483).
_URI_EXTRAS = ("?", "#", ";")


def invalid_path(reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid path: {reason}")


def decode_fixpoint(value: str) -> str:
    """Percent-decode until the value stops changing."""
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = unquote(value)
        if decoded == value:
            return value
        value = decoded
    raise invalid_path("too many levels of percent-encoding")


def _components(value: str) -> list[str]:
    if _CONTROL.search(value):
        raise invalid_path("control characters (including NUL) are not allowed")
    if "\\" in value:
        raise invalid_path("backslashes are not allowed")
    if value.startswith("/"):
        raise invalid_path("absolute paths are not allowed")
    if _DRIVE.match(value):
        raise invalid_path("drive letters are not allowed")
    if _URI.match(value):
        raise invalid_path("a URI is not a relative path")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise invalid_path("'..' components are not allowed")
    for part in parts:
        _check_compatibility_form(part)
    return parts


def _check_compatibility_form(part: str) -> None:
    """Refuse a component that Unicode compatibility normalisation (NFKC, which storage
    gateways, browsers and some file systems apply) turns into a dot segment or a separator:
    fullwidth dots, dot leaders, fullwidth solidus and the like."""
    if part.isascii():
        return
    folded = unicodedata.normalize("NFKC", part)
    if folded in (".", "..") or "/" in folded or "\\" in folded:
        raise invalid_path("characters that normalise to '.', '..' or a separator are not allowed")


def check_uri_text(value: str) -> None:
    """Checks for a stored location or source as a whole (on top of the path checks of the part
    below its root): no query, fragment or params, and no component that is a dot segment or a
    separator in disguise, as received or after percent-decoding.

    Raises:
        InvalidParameter: "Invalid path: ..." naming what was found.
    """
    for form in (value, decode_fixpoint(value)):
        for marker in _URI_EXTRAS:
            if marker in form:
                raise invalid_path(f"'{marker}' (a URI query, fragment or params) is not allowed")
        for part in form.split("/"):
            _check_compatibility_form(part)


def clean_path(value: str | None, *, allow_root: bool = True) -> str:
    """Validate a relative artifact path and return its normal form.

    The normal form drops empty and ``.`` components (``./a//b`` becomes ``a/b``) and is ``""``
    for the root. Spaces, colons and other ordinary characters are kept literally.

    Raises:
        InvalidParameter: "Invalid path: ..." for absolute paths, ``..`` components,
            backslashes, NUL or other control characters, drive letters, URIs ("file:/..."),
            characters that Unicode normalisation turns into dots or separators, any of these
            hidden behind (repeated) percent-encoding, or over-long names.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid_path("the path must be a string")
    if len(value) > MAX_PATH_LENGTH:
        raise invalid_path(f"longer than {MAX_PATH_LENGTH} characters")
    parts = _components(value)
    _components(decode_fixpoint(value))
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise invalid_path(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    if not parts and not allow_root:
        raise invalid_path("the path is empty")
    return "/".join(parts)


def is_safe(value: str) -> bool:
    """Whether *value* passes :func:`clean_path` unchanged (used to filter storage listings,
    whose entries may have been written by something other than this server)."""
    try:
        return clean_path(value, allow_root=False) == value
    except InvalidParameter:
        return False


def join(prefix: str, rel: str) -> str:
    """Join two already-clean relative paths."""
    if not prefix:
        return rel
    if not rel:
        return prefix
    return f"{prefix}/{rel}"


def relative_to(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` (both clean), or None when it does not lie below it."""
    if not base:
        return path
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return None
