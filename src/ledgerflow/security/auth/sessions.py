"""The UI session cookie: how it is set and cleared.

HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site subrequests or form
POSTs, still sent when a user follows a link to a page), Path=/, and Secure whenever the
request arrived over TLS (directly or via a trusted proxy saying so).
"""

from __future__ import annotations

COOKIE = "lf_session"


def cookie_header(name: str, value: str, *, secure: bool, max_age: int | None, same_site: str = "Lax") -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_header(name: str, *, secure: bool) -> str:
    return cookie_header(name, "", secure=secure, max_age=0)


def read_cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None
