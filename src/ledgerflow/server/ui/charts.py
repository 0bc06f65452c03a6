"""Server-side SVG line charts: one metric's history over steps, no JavaScript needed.

The SVG is built as text here, so every piece of user data that reaches it (the metric key)
goes through ``html.escape``; numbers are formatted by us and are safe by construction.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 520
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 16, 14, 34
# Width of one character of an 11px tick label, a little generous (digits, "e", "+", "-").
_TICK_CHAR_PX = 6.5
# Above this many points each point's marker costs more than it tells; the line stays.
MAX_MARKERS = 400


@dataclass(frozen=True)
class Point:
    step: int
    value: float


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 times a power of ten) that cover ``[low, high]``."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def format_number(value: float) -> str:
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3g}"
    return f"{value:.4g}"


def _padded_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def line_chart(title: str, points: Sequence[Point]) -> Markup:
    """An SVG chart of ``points`` (already in step order). Non-finite values are left out of
    the line and counted in the caption, since they have no place on a linear axis."""
    finite = [p for p in points if math.isfinite(p.value)]
    skipped = len(points) - len(finite)
    label = html.escape(title, quote=True)
    y_low, y_high = _padded_range([p.value for p in finite]) if finite else (0.0, 1.0)
    y_ticks = [(tick, format_number(tick)) for tick in nice_ticks(y_low, y_high)] if finite else []
    # The value axis is as wide as its longest label needs (-1.05e+300 is ten characters).
    left = max(_LEFT, math.ceil(_TICK_CHAR_PX * max((len(text) for _, text in y_ticks), default=0)) + 12)
    plot_w = WIDTH - left - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{label}" '
        f'data-metric="{label}" data-points="{len(finite)}">',
        f"<title>{label}</title>",
        f'<rect class="plot" x="{left}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    if not finite:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "No finite values to plot</text></svg>"
        )
        return Markup("".join(parts))

    x_low, x_high = _padded_range([float(p.step) for p in finite])

    def x_of(step: float) -> float:
        return left + (step - x_low) / (x_high - x_low) * plot_w

    def y_of(value: float) -> float:
        return _TOP + plot_h - (value - y_low) / (y_high - y_low) * plot_h

    for tick, text in y_ticks:
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    x_ticks = [t for t in nice_ticks(x_low, x_high) if t == int(t)] or [float(finite[0].step)]
    for tick in x_ticks:
        x = x_of(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + plot_h}"/>')
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle">{int(tick)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2}" y="{HEIGHT - 3}" text-anchor="middle">step</text>'
    )
    coords = " ".join(f"{x_of(p.step):.1f},{y_of(p.value):.1f}" for p in finite)
    parts.append(f'<polyline class="line" points="{coords}"/>')
    if len(finite) <= MAX_MARKERS:
        for p in finite:
            parts.append(
                f'<circle class="pt" cx="{x_of(p.step):.1f}" cy="{y_of(p.value):.1f}" r="2.5">'
                f"<title>step {p.step}: {format_number(p.value)}</title></circle>"
            )
    if skipped:
        parts.append(
            f'<text class="note" x="{left + plot_w}" y="{_TOP + 12}" text-anchor="end">'
            f"{skipped} non-finite value{'s' if skipped != 1 else ''} not shown</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
