"""Server-rendered SVG trend charts (HbA1c, BP, LDL, eGFR, BMI) with the plan's target drawn in.

No script and no inline style (the CSP forbids both): shapes carry classes that ``static/review.css``
colours. Every text is escaped. A target line is drawn only when the plan holds a goal for that measure:
carepath never draws a threshold the guideline pack did not give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 320, 150
LEFT, RIGHT, TOP, BOTTOM = 38, 10, 12, 24


@dataclass(frozen=True)
class Chart:
    """One chart: a title, its series (label -> [(date, value)]), unit and target lines."""

    key: str
    title: str
    unit: str
    series: dict[str, list[tuple[str, float]]]
    targets: list[tuple[str, float, str]]  # (comparator, value, label)

    @property
    def svg(self) -> Markup:
        """The chart as an accessible inline SVG."""
        return Markup(render(self))  # noqa: S704 - render() escapes every text it writes


#: (fact key(s), title, LOINC codes of goal targets that belong on the chart)
CHARTS = [
    ("hba1c", ("hba1c",), "HbA1c", ("4548-4",)),
    ("bp", ("sbp", "dbp"), "Blood pressure", ("8480-6", "8462-4", "85354-9")),
    ("ldl", ("ldl",), "LDL cholesterol", ("18262-6", "13457-7", "2089-1")),
    ("egfr", ("egfr",), "eGFR", ("33914-3", "62238-1", "98979-8")),
    ("bmi", ("bmi",), "BMI", ("39156-5",)),
]


def charts_for(facts: Mapping[str, Any], plan: Mapping[str, Any]) -> list[Chart]:
    """The charts that have at least one value, with the plan's goal targets for their measures."""
    measures = facts.get("measures") or {}
    charts = []
    for key, fact_keys, title, codes in CHARTS:
        series: dict[str, list[tuple[str, float]]] = {}
        unit = ""
        for fact_key in fact_keys:
            measure = measures.get(fact_key) or {}
            points = [(p["date"], float(p["value"])) for p in measure.get("series") or []
                      if isinstance(p.get("value"), int | float) and p.get("date")]
            if not points and isinstance(measure.get("value"), int | float) and measure.get("date"):
                points = [(measure["date"], float(measure["value"]))]
            if points:
                series[{"sbp": "systolic", "dbp": "diastolic"}.get(fact_key, title)] = points
                unit = unit or measure.get("unit") or ""
        if series:
            charts.append(Chart(key, title, unit, series, _targets(plan, codes)))
    return charts


def _targets(plan: Mapping[str, Any], codes: tuple[str, ...]) -> list[tuple[str, float, str]]:
    found = []
    for goal in plan.get("goals", []):
        for target in goal.get("targets") or ([goal["target"]] if goal.get("target") else []):
            measure = target.get("measure") or goal.get("measure") or {}
            if measure.get("code") in codes and isinstance(target.get("value"), int | float):
                label = f"target {target.get('comparator') or ''} {target['value']:g} {target.get('unit') or ''}"
                found.append((target.get("comparator") or "", float(target["value"]), " ".join(label.split())))
    return found


def render(chart: Chart) -> str:
    """SVG markup for a chart; dates on x, values on y, dashed target lines."""
    points = [point for series in chart.series.values() for point in series]
    days = [_day(day) for day, _ in points]
    values = [value for _, value in points] + [value for _, value, _ in chart.targets]
    low, high = min(values), max(values)
    pad = (high - low) * 0.15 or max(abs(high) * 0.1, 1.0)
    low, high = low - pad, high + pad
    first, last = min(days), max(days)

    def x(day: str) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * ((_day(day) - first) / (last - first) if last > first else 0.5)

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - low) / (high - low))

    title_id = f"chart-{chart.key}-title"
    latest = ", ".join(f"{name} {series[-1][1]:g} {chart.unit} on {series[-1][0]}"
                       for name, series in chart.series.items())
    parts = [f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{title_id}">{escape(chart.title)} ({escape(chart.unit)}): latest {escape(latest)}</title>',
             f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"/>',
             f'<text class="tick" x="{LEFT - 4}" y="{y(high - pad) + 4:.1f}" text-anchor="end">{high - pad:.3g}</text>',
             f'<text class="tick" x="{LEFT - 4}" y="{y(low + pad) + 4:.1f}" text-anchor="end">{low + pad:.3g}</text>',
             f'<text class="tick" x="{LEFT}" y="{HEIGHT - 6}">{escape(min(points)[0])}</text>',
             f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
             f'{escape(max(points)[0])}</text>']
    for _comparator, value, label in chart.targets:
        parts.append(f'<line class="target" x1="{LEFT}" y1="{y(value):.1f}" x2="{WIDTH - RIGHT}" y2="{y(value):.1f}"/>')
        parts.append(f'<text class="target-label" x="{LEFT + 4}" y="{y(value) - 3:.1f}">{escape(label)}</text>')
    for index, (name, series) in enumerate(chart.series.items()):
        css = f"series series-{index}"
        coords = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in series)
        parts.append(f'<polyline class="{css}" points="{coords}"/>')
        for day, value in series:
            parts.append(f'<circle class="{css}" cx="{x(day):.1f}" cy="{y(value):.1f}" r="3">'
                         f'<title>{escape(name)} {value:g} {escape(chart.unit)} on {escape(day)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _day(value: str) -> int:
    return date.fromisoformat(value[:10]).toordinal()
