"""Response headers for artifact downloads.

Artifacts are user content served from the server's own origin. Anything a browser would run
(HTML, SVG, XML, scripts) goes out as a download, never as a page: otherwise one user's
uploaded HTML would execute with another user's session.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

DEFAULT_TYPE = "application/octet-stream"
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-shockwave-flash",
        "application/pdf",
        "text/xsl",
        "application/rdf+xml",
        "application/vnd.wap.xhtml+xml",
        "multipart/x-mixed-replace",
    }
)


def guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_TYPE


def is_active(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base in ACTIVE_TYPES or base.endswith("+xml")


def content_disposition(name: str) -> str:
    # An ASCII fallback without quotes or separators, plus the exact UTF-8 name (RFC 6266).
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name) or "artifact"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_headers(name: str) -> tuple[str, dict[str, str]]:
    """The media type and the safety headers for serving a file called *name*."""
    media_type = guess_type(name)
    headers = {
        "X-Content-Type-Options": "nosniff",
        # Even if a browser is talked into rendering it, the response gets no script or origin.
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if is_active(media_type):
        headers["Content-Disposition"] = content_disposition(name)
    return media_type, headers
