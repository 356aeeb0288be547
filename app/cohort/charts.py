"""Inline SVG charts of the cohort report: stacked monthly bars and horizontal rate bars.

Plain SVG with classes the report's own stylesheet colours; every text is escaped; each chart carries a
``<title>`` and an ``aria-label`` and the report prints the same numbers in a table beside it.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 36


def stacked_bars(title: str, months: list[str], series: dict[str, list[int]]) -> Markup:
    """One bar per month, stacked by series (e.g. labs, screenings, referrals, visits), with a y axis."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(months))]
    top = _nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(months))
    bar = slot * 0.7
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for index, month in enumerate(months):
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + plot_h
        for number, (name, values) in enumerate(series.items()):
            height = plot_h * values[index] / top if top else 0
            if height <= 0:
                continue
            y -= height
            parts.append(f'<rect class="s{number}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}">'
                         f'<title>{escape(month)}: {values[index]} {escape(name)}</title></rect>')
        parts.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f'{escape(month[2:])}</text>')
        if totals[index]:
            parts.append(f'<text class="total" x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
                         f'{totals[index]}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def rate_bar(rate: float, label: str) -> Markup:
    """A small horizontal bar for a rate between 0 and 1 (a table cell's picture of its number)."""
    width = max(0.0, min(1.0, rate)) * 160
    return Markup(  # noqa: S704 - the label is escaped, the numbers are numbers
        f'<svg class="rate" viewBox="0 0 160 12" width="160" height="12" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><rect class="track" width="160" height="12" rx="2"/>'
        f'<rect class="fill" width="{width:.1f}" height="12" rx="2"/></svg>')


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (at least 4, for the grid)."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
