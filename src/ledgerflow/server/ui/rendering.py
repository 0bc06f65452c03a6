"""The Jinja2 environment of the UI and the small formatting filters its templates use.

Autoescaping is always on: every string from the store (names, tags, params, artifact paths)
reaches the page escaped unless code here wraps it in ``Markup`` on purpose (the SVG charts).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import markupsafe
from starlette.responses import HTMLResponse

from ledgerflow.server.ui.charts import format_number

TEMPLATES = Path(__file__).parent / "templates"


def format_time(ms: Any) -> str:
    if ms is None or ms == "":
        return "—"
    try:
        moment = dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return str(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start: Any, end: Any) -> str:
    if start in (None, "") or end in (None, ""):
        return "—"
    seconds = max(0.0, (int(end) - int(start)) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_metric(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    number = float(value)
    if math.isfinite(number) and number != int(number):
        return f"{number:.6g}"
    return format_number(number)


def format_size(size: Any) -> str:
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"


def query_string(pairs: list[tuple[str, str]]) -> str:
    return "?" + urlencode(pairs) if pairs else ""


# Control characters (tab, newline and carriage return aside) have no business in a page:
# escaping leaves them as they are, so a NUL from a URL (/runs/%00) or a stored name would be
# echoed raw into the HTML. Shown as U+FFFD, as browsers do with a NUL anyway.
_CONTROL_CHARACTERS = dict.fromkeys((*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F), "\ufffd")


def visible_text(value: Any) -> Any:
    """Jinja's ``finalize``: every value a template prints, without control characters (an
    already-safe ``Markup`` value stays safe)."""
    if isinstance(value, str):
        cleaned = value.translate(_CONTROL_CHARACTERS)
        return type(value)(cleaned) if isinstance(value, markupsafe.Markup) else cleaned
    return value


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=visible_text,
    )
    env.filters["time"] = format_time
    env.filters["metric"] = format_metric
    env.filters["size"] = format_size
    env.globals["duration"] = format_duration
    return env


class Renderer:
    """Owns the template environment; one per app, built with the UI routes."""

    def __init__(self) -> None:
        self.env = make_environment()

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code)
