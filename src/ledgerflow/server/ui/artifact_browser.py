"""Browsing one artifact root on a page (a run's artifacts, a logged model's files): the tree,
the selected file's preview and its download and image URLs; and the response that serves a
file's bytes. The run page and the logged model page both browse through here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.responses import Response

from ledgerflow.errors import InvalidParameter, LedgerflowError
from ledgerflow.server.file_responses import CheckedFileResponse
from ledgerflow.server.ui.artifact_tree import MAX_ENTRIES, build_tree
from ledgerflow.server.ui.headers import ARTIFACT_POLICY
from ledgerflow.server.ui.previews import PREVIEW_BYTES, Preview, build_preview, image_type

if TYPE_CHECKING:
    from ledgerflow.artifacts.service import Download

ListDir = Callable[[str], list[dict[str, Any]]]
ReadHead = Callable[[str, int], bytes]


def check_artifact_path(path: str) -> str:
    """Reject paths that could leave the artifact folder, before any store sees them."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise InvalidParameter(f"Invalid artifact path: '{path}'")
    if any(part in ("..", ".") for part in path.split("/")) or "//" in path:
        raise InvalidParameter(f"Invalid artifact path: '{path}'")
    return path


def attachment_header(path: str, inline: bool) -> str:
    name = path.rsplit("/", 1)[-1]
    # ASCII fallback plus RFC 5987 form so non-ASCII names survive.
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def closing_chunks(download: Download) -> Iterator[bytes]:
    try:
        yield from download.chunks
    finally:
        download.close()


def read_head(download: Download, limit: int) -> bytes:
    """At most ``limit`` bytes from the start of an opened file; the file is closed after."""
    buffer = bytearray()
    try:
        for chunk in download.chunks:
            buffer.extend(chunk)
            if len(buffer) >= limit:
                break
    finally:
        download.close()
    return bytes(buffer[:limit])


def file_response(download: Download, path: str, inline: bool) -> Response:
    # Only raster images are ever served for display; everything else is a download of
    # opaque bytes, so an uploaded HTML or SVG file cannot run as a page of this site.
    media = image_type(path) if inline else None
    headers = {
        "Content-Disposition": attachment_header(path, inline=media is not None),
        "Content-Security-Policy": ARTIFACT_POLICY,
        "Cache-Control": "private, no-cache",
    }
    if download.size is not None:
        headers["Content-Length"] = str(download.size)
    return CheckedFileResponse(
        closing_chunks(download), media_type=media or "application/octet-stream", headers=headers
    )


def browse(
    list_dir: ListDir,
    head: ReadHead,
    selected: str,
    page_path: str,
    file_path: str,
    scope: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The template context of an artifact pane.

    Previews are links back to ``page_path`` with ``?artifact=<path>``; bytes come from
    ``file_path`` with ``?path=<path>``. ``scope`` is carried on every link (the run page's
    ``model`` parameter, say).
    """
    extra = dict(scope or {})

    def preview_url(path: str) -> str:
        return f"{page_path}?{urlencode({**extra, 'artifact': path})}#artifacts"

    def download_url(path: str) -> str:
        return f"{file_path}?{urlencode({**extra, 'path': path})}"

    context: dict[str, Any] = {
        "tree_nodes": [],
        "tree_truncated": False,
        "tree_limit": MAX_ENTRIES,
        "artifact_error": "",
        "selected": "",
        "preview": None,
        "download_url": "",
        "image_url": "",
    }
    try:
        tree = build_tree(list_dir, selected, preview_url, download_url)
        context["tree_nodes"] = tree.nodes
        context["tree_truncated"] = tree.truncated
    except LedgerflowError as error:
        context["artifact_error"] = f"Could not list artifacts: {error.message}"
    if selected:
        context["selected"] = selected
        context["download_url"] = download_url(selected)
        context["image_url"] = f"{file_path}?{urlencode({**extra, 'path': selected, 'inline': '1'})}"
        context["preview"] = preview(head, selected)
    return context


def preview(head: ReadHead, path: str) -> Preview | None:
    try:
        check_artifact_path(path)
        data = head(path, PREVIEW_BYTES + 1)
    except LedgerflowError as error:
        return Preview("binary", note=error.message)
    return build_preview(path, data[:PREVIEW_BYTES], truncated=len(data) > PREVIEW_BYTES)
