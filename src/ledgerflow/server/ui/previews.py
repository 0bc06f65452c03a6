"""Choosing and building an artifact preview from a file name and its first bytes.

Only raster images are ever handed to the browser as images. HTML, SVG, XML and anything
else that a browser could run as active content is shown as escaped source text, never
rendered, because it would run with this site's origin.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field

# Preview reads at most this much; larger files show their beginning and a note.
PREVIEW_BYTES = 512 * 1024
CSV_MAX_ROWS = 100
CSV_MAX_COLUMNS = 50

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}
JSON_SUFFIXES = {".json"}
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
# Shown as source text (never rendered): markup formats a browser would execute.
ACTIVE_SUFFIXES = {".html", ".htm", ".xhtml", ".svg", ".xml", ".js", ".mjs"}
TEXT_SUFFIXES = {
    ".txt", ".log", ".md", ".rst", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh",
    ".r", ".sql", ".ipynb", ".jsonl", ".css", ".conf", ".properties", ".env",
}  # fmt: skip
TEXT_NAMES = {"MLmodel", "MLproject", "LICENSE", "README", "Dockerfile", "requirements.txt"}


@dataclass
class Preview:
    kind: str  # "image", "json", "table", "text", "binary"
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    note: str = ""


def suffix_of(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def image_type(path: str) -> str | None:
    return IMAGE_TYPES.get(suffix_of(path))


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the preview limit is not a reason to call it binary.
        if error.start >= len(data) - 4:
            return data[: error.start].decode("utf-8")
        return None


def _table(text: str, delimiter: str, truncated: bool) -> Preview:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row[:CSV_MAX_COLUMNS])
            if len(rows) > CSV_MAX_ROWS:
                break
    except csv.Error as error:
        return Preview("text", text=text, truncated=truncated, note=f"Not a well-formed table ({error}).")
    if not rows:
        return Preview("text", text="", note="Empty file.")
    more = len(rows) > CSV_MAX_ROWS or truncated
    body = rows[1 : CSV_MAX_ROWS + 1]
    note = f"First {len(body)} rows." if more else ""
    return Preview("table", header=rows[0], rows=body, truncated=more, note=note)


def build_preview(path: str, data: bytes, truncated: bool) -> Preview:
    """A preview of ``data`` (the first bytes of the artifact at ``path``)."""
    suffix = suffix_of(path)
    if suffix in IMAGE_TYPES:
        return Preview("image")
    text = _decode(data)
    if text is None:
        return Preview("binary", note="Binary file: no preview. Use the download link.")
    if suffix in JSON_SUFFIXES:
        if not truncated:
            try:
                return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
            except ValueError:
                return Preview("text", text=text, note="Not valid JSON; shown as text.")
        return Preview("text", text=text, truncated=True, note="Large JSON file; showing its beginning.")
    if suffix in TABLE_SUFFIXES:
        if truncated:
            # Drop the last, probably cut, line so the table does not end on half a row.
            text = text.rsplit("\n", 1)[0]
        return _table(text, TABLE_SUFFIXES[suffix], truncated)
    note = "Shown as source; this file type is never rendered here." if suffix in ACTIVE_SUFFIXES else ""
    if truncated:
        note = (note + " Showing the beginning of a large file.").strip()
    return Preview("text", text=text, truncated=truncated, note=note)
