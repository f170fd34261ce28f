"""Charts as SVG text, drawn on the server from plain numbers (no JS, no CDN).

Pure: the caller passes labels already translated and values already
formatted (``value_text``), so one chart reads the same in Chinese and
English and on paper. Every chart is an ``<svg role="img">`` with a
``<title>`` and ``<desc>``; every bar, point and tile has its own ``<title>``
carrying its number (screen readers and hover), and pages show the numbers
as a table beside the chart as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

# Colour-blind-safe qualitative palette (Okabe–Ito) for series, and a
# sequential orange scale for the tile map (light = low, dark = high).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
SEQUENTIAL = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")
FONT = "system-ui, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    value_text: str
    href: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    value_texts: Sequence[str]


@dataclass(frozen=True)
class Tile:
    label: str
    value: float | None  # None: no data (drawn grey)
    value_text: str
    row: int
    col: int
    href: str = ""


def _t(text: str) -> str:
    return escape(text)


def _a(text: str) -> str:
    return quoteattr(text)


def _open_svg(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f"aria-labelledby={_a(chart_id + '-title')} aria-describedby={_a(chart_id + '-desc')} "
        f'font-family={_a(FONT)} font-size="12">',
        f"<title id={_a(chart_id + '-title')}>{_t(title)}</title>",
        f"<desc id={_a(chart_id + '-desc')}>{_t(desc)}</desc>",
    ]


def _linked(href: str, inner: str) -> str:
    return f"<a href={_a(href)}>{inner}</a>" if href else inner


def _truncate(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max_chars - 1] + "…"


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 × 10^k)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value:
            return candidate
    return float(10.0 ** (exponent + 1))  # pragma: no cover - the loop always returns


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    *,
    width: int = 640,
    bar_height: int = 22,
    label_width: int = 180,
    colour: str = PALETTE[0],
) -> str:
    """Horizontal bars (long Chinese labels stay readable), value written at the end of each bar."""
    gap = 6
    top = 8
    height = top * 2 + max(1, len(bars)) * (bar_height + gap)
    plot_width = width - label_width - 90
    top_value = nice_max(max((b.value for b in bars), default=0.0))
    parts = _open_svg(chart_id, width, height, title, desc)
    for i, bar in enumerate(bars):
        y = top + i * (bar_height + gap)
        length = 0.0 if bar.value <= 0 else max(1.0, plot_width * bar.value / top_value)
        label = _truncate(bar.label, 16)
        inner = (
            f'<g class="bar"><title>{_t(bar.label)}: {_t(bar.value_text)}</title>'
            f'<text x="{label_width - 6}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" fill="#222">'
            f"{_t(label)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + bar_height * 0.7:.1f}" fill="#222">'
            f"{_t(bar.value_text)}</text></g>"
        )
        parts.append(_linked(bar.href, inner))
    if not bars:
        parts.append(f'<text x="{label_width}" y="{top + 14}" fill="#666">—</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 640,
    height: int = 260,
) -> str:
    """One line per series over the x labels (months), with a legend and a labelled y axis."""
    left, right, top, bottom = 48, 12, 12, 58
    plot_w = width - left - right
    plot_h = height - top - bottom
    count = len(x_labels)
    top_value = nice_max(max((v for s in series for v in s.values), default=0.0))
    parts = _open_svg(chart_id, width, height, title, desc)

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if count <= 1 else plot_w * i / (count - 1))

    def y_of(v: float) -> float:
        return top + plot_h - plot_h * max(0.0, v) / top_value

    for k in range(5):  # grid lines and y-axis labels
        value = top_value * k / 4
        y = y_of(value)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        text = f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{text}</text>')
    step = max(1, math.ceil(count / 12))
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == count - 1:
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#555">'
                f"{_t(label)}</text>"
            )
    for s_index, s in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(s.values))
        parts.append(f'<g class="series"><title>{_t(s.name)}</title>')
        if len(s.values) > 1:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, (v, text) in enumerate(zip(s.values, s.value_texts, strict=True)):
            label = x_labels[i] if i < count else ""
            parts.append(
                f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{colour}">'
                f"<title>{_t(s.name)} {_t(label)}: {_t(text)}</title></circle>"
            )
        parts.append("</g>")
        lx = left + (s_index % 4) * (plot_w / 4)
        ly = height - 24 + (s_index // 4) * 14
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}" fill="#222">{_t(_truncate(s.name, 14))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def shade(value: float | None, top_value: float) -> str:
    """The sequential colour of a value on a 0..top scale (grey when there is no value)."""
    if value is None:
        return "#e9ecef"
    if top_value <= 0:
        return SEQUENTIAL[0]
    step = min(len(SEQUENTIAL) - 1, int(len(SEQUENTIAL) * max(0.0, value) / top_value))
    return SEQUENTIAL[step]


def tile_map(
    chart_id: str,
    title: str,
    desc: str,
    tiles: Sequence[Tile],
    *,
    legend_low: str = "0",
    legend_high: str = "",
    tile_size: int = 96,
) -> str:
    """A map-like grid: one square per area at its (row, col), coloured by the chosen measure."""
    gap = 4
    rows = max((t.row for t in tiles), default=0) + 1
    cols = max((t.col for t in tiles), default=0) + 1
    width = max(cols * (tile_size + gap) + gap, 320)
    height = rows * (tile_size + gap) + gap + 36
    top_value = max((t.value for t in tiles if t.value is not None), default=0.0)
    parts = _open_svg(chart_id, width, height, title, desc)
    for t in tiles:
        x = gap + t.col * (tile_size + gap)
        y = gap + t.row * (tile_size + gap)
        fill = shade(t.value, top_value)
        dark = fill in SEQUENTIAL[3:]
        ink = "#fff" if dark else "#222"
        inner = (
            f'<g class="tile"><title>{_t(t.label)}: {_t(t.value_text)}</title>'
            f'<rect x="{x}" y="{y}" width="{tile_size}" height="{tile_size}" rx="6" fill="{fill}" '
            f'stroke="#999"/>'
            f'<text x="{x + tile_size / 2:.1f}" y="{y + tile_size * 0.42:.1f}" text-anchor="middle" '
            f'fill="{ink}">{_t(_truncate(t.label, 7))}</text>'
            f'<text x="{x + tile_size / 2:.1f}" y="{y + tile_size * 0.68:.1f}" text-anchor="middle" '
            f'fill="{ink}" font-size="15" font-weight="bold">{_t(t.value_text)}</text></g>'
        )
        parts.append(_linked(t.href, inner))
    legend_y = height - 26
    parts.append(f'<text x="{gap}" y="{legend_y + 13}" fill="#222">{_t(legend_low)}</text>')
    for i, colour in enumerate(SEQUENTIAL):
        parts.append(
            f'<rect x="{gap + 40 + i * 22}" y="{legend_y}" width="20" height="16" '
            f'fill="{colour}" stroke="#999"/>'
        )
    parts.append(
        f'<text x="{gap + 46 + len(SEQUENTIAL) * 22}" y="{legend_y + 13}" fill="#222">'
        f"{_t(legend_high)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def grid_positions(count: int, columns: int = 4) -> list[tuple[int, int]]:
    """Row/column places for ``count`` tiles without a known geography (reading order)."""
    columns = max(1, min(columns, count or 1))
    return [(i // columns, i % columns) for i in range(count)]
