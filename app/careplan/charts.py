"""Server-rendered SVG trend charts (HbA1c, BP, LDL, eGFR, BMI; for a child, BMI-for-age percentile and blood
pressure against the AAP 2017 percentile thresholds) with the plan's target drawn in.

No script and no inline style (the CSP forbids both): shapes carry classes that ``static/review.css``
colours. Every text is escaped. A target line is drawn only when the plan holds a goal for that measure:
carepath never draws a threshold the guideline pack did not give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from markupsafe import Markup

from app.careplan.present import human_date, human_unit

WIDTH, HEIGHT = 320, 176
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 26, 30
SERIES_LIMIT = 60  # points drawn per series: the latest ones (the text alternative lists them all)


@dataclass(frozen=True)
class Chart:
    """One chart: a title, its series (label -> [(date, value)]), unit and target lines."""

    key: str
    title: str
    unit: str
    series: dict[str, list[tuple[str, float]]]
    targets: list[tuple[str, float, str]]  # (comparator, value, label)
    #: Reference lines that change with time (a child's percentile thresholds by age and height): label -> points.
    references: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    #: What a point means, beside its value: (series label, date) -> words (a child's percentile band).
    notes: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def svg(self) -> Markup:
        """The chart as an accessible inline SVG."""
        return Markup(render(self))  # noqa: S704 - render() escapes every text it writes

    @property
    def latest_text(self) -> str:
        """``latest 7.6 % on 25 Jun 2019`` (``systolic 150, diastolic 90 mmHg on ...`` for two series)."""
        return latest_text(self)


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
    scores = facts.get("scores") or {}
    child_bp = _child_bp_chart(scores.get("bp_pediatric_trend") or {})
    charts = []
    for key, fact_keys, title, codes in CHARTS:
        if key == "bp" and child_bp is not None:
            charts.append(child_bp)  # a child's BP is read against the AAP 2017 thresholds, not an adult's
            continue
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
    trend = scores.get("bmi_for_age_trend") or {}
    points = [(p["date"], float(p["value"])) for p in trend.get("series") or []
              if isinstance(p.get("value"), int | float) and p.get("date")]
    if points:  # a child: BMI read against the CDC growth reference for age and sex (the context layer's percentile)
        charts.append(Chart("bmi-for-age", "BMI-for-age (CDC 2000)", "percentile",
                            {"BMI-for-age percentile": points}, []))
    return charts


#: The reference line a child's BP chart draws: AAP 2017 Table 3's stage 1 threshold at each reading (1 to 12 years:
#: the 95th percentile for age, sex and height, or 130/80 mm Hg, whichever is lower; from 13: 130/80 mm Hg).
STAGE1_LABEL = "stage 1 from"


def _child_bp_chart(trend: Mapping[str, Any]) -> Chart | None:
    """A child's blood pressure, each day's systolic and diastolic with its percentile band and AAP 2017 category,
    and the stage 1 threshold of the child's age and height at each reading drawn as a line."""
    points = [p for p in trend.get("series") or [] if isinstance(p.get("sbp"), int | float)
              and isinstance(p.get("dbp"), int | float) and p.get("date")]
    if not points:
        return None
    series = {name: [(p["date"], float(p[key])) for p in points] for key, name in (("sbp", "systolic"),
                                                                                   ("dbp", "diastolic"))}
    references = {f"{name} {STAGE1_LABEL}": [(p["date"], float(p["stage1"][key])) for p in points
                                              if isinstance((p.get("stage1") or {}).get(key), int | float)]
                  for key, name in (("sbp", "systolic"), ("dbp", "diastolic"))}
    notes = {}
    for p in points:
        for key, name in (("sbp", "systolic"), ("dbp", "diastolic")):
            band = p.get(f"{key}Percentile")
            words = [f"{band} percentile" if band else "", p.get("category") or "", p.get("note") or ""]
            notes[(name, p["date"])] = ", ".join(word for word in words if word)
    return Chart("bp-for-age", "Blood pressure for age, sex and height (AAP 2017)", "mm[Hg]", series, [],
                 {label: values for label, values in references.items() if values}, notes)


def unseen_results(facts: Mapping[str, Any]) -> str | None:
    """Why the results could not be read ("could not see Observation: ..."), or None: the trends then say so
    instead of disappearing as if nothing had been measured."""
    notes = (facts.get("fetch") or {}).get("notes") or []
    return next((str(n.get("message")) for n in notes if isinstance(n, Mapping) and n.get("type") == "Observation"),
                None)


def _targets(plan: Mapping[str, Any], codes: tuple[str, ...]) -> list[tuple[str, float, str]]:
    found = []
    for goal in plan.get("goals", []):
        for target in goal.get("targets") or ([goal["target"]] if goal.get("target") else []):
            measure = target.get("measure") or goal.get("measure") or {}
            if measure.get("code") in codes and isinstance(target.get("value"), int | float):
                label = f"target {target.get('comparator') or ''} {target['value']:g} {target.get('unit') or ''}"
                found.append((target.get("comparator") or "", float(target["value"]), " ".join(label.split())))
    return found


def latest_text(chart: Chart) -> str:
    """The latest value of each series, with unit and date, in words."""
    unit = human_unit(chart.unit)
    lasts = [(name, series[-1]) for name, series in chart.series.items() if series]
    same_day = len({day for _, (day, _) in lasts}) == 1
    if same_day and len(lasts) > 1:
        values = "/".join(f"{value:g}" for _, (_, value) in lasts)
        return f"latest {values} {unit} on {human_date(lasts[0][1][0])}".replace("  ", " ")
    return "; ".join(f"latest{'' if len(lasts) == 1 else ' ' + name} {value:g} {unit} on {human_date(day)}"
                     .replace("  ", " ") for name, (day, value) in lasts)


def render(chart: Chart) -> str:
    """SVG markup: a legend row, labelled value and date axes, target zones behind the points, the latest
    value printed beside its point, and a text alternative (title and desc) listing every value."""
    series = {name: points[-SERIES_LIMIT:] for name, points in chart.series.items()}
    points = [point for values in series.values() for point in values]
    days = [_day(day) for day, _ in points]
    references = {name: values_[-SERIES_LIMIT:] for name, values_ in chart.references.items()}
    values = [value for _, value in points] + [value for _, value, _ in chart.targets]
    values += [value for values_ in references.values() for _, value in values_]
    low, high = min(values), max(values)
    pad = (high - low) * 0.12 or max(abs(high) * 0.1, 1.0)
    low, high = low - pad, high + pad
    first, last = min(days), max(days)
    plot_right, plot_bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    unit = human_unit(chart.unit)

    def x(day: str) -> float:
        return LEFT + (plot_right - LEFT) * ((_day(day) - first) / (last - first) if last > first else 0.5)

    def y(value: float) -> float:
        return TOP + (plot_bottom - TOP) * (1 - (value - low) / (high - low))

    title_id, desc_id = f"chart-{chart.key}-title", f"chart-{chart.key}-desc"

    def listed(lines: dict[str, list[tuple[str, float]]], after_name: str) -> str:
        """``name: 7.6 on 25 Jun 2019 (its note), ...; ...``: every value of each series or reference line."""
        return "; ".join(f"{name}{after_name} " + ", ".join(f"{value:g} on {human_date(day)}" + (
            f" ({chart.notes[(name, day)]})" if chart.notes.get((name, day)) else "") for day, value in values_)
            for name, values_ in lines.items())

    every = listed(chart.series, ":")
    if chart.references:
        every += ". Reference: " + listed(chart.references, "")
    targets = "; ".join(label for _, _, label in chart.targets) or "no target in this plan"
    parts = [f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{title_id}">{escape(chart.title)} ({escape(unit)}), {escape(latest_text(chart))}</title>',
             f'<desc id="{desc_id}">Values {escape(every)}. Target: {escape(targets)}.</desc>']
    # Target zones first, so that points are drawn over them.
    for comparator, value, _label in chart.targets:
        top, bottom = (y(value), plot_bottom) if comparator.startswith("<") else (TOP, y(value))
        if comparator and bottom > top:
            parts.append(f'<rect class="target-zone" x="{LEFT}" y="{top:.1f}" width="{plot_right - LEFT}" '
                         f'height="{bottom - top:.1f}"/>')
        parts.append(f'<line class="target" x1="{LEFT}" y1="{y(value):.1f}" x2="{plot_right}" y2="{y(value):.1f}"/>')
    # Reference lines (a child's thresholds by age and height at each reading): dashed, behind the points.
    for values_ in references.values():
        coords = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in values_)
        parts.append(f'<polyline class="reference" points="{coords}"/>')
    # Value axis: round-numbered gridlines, the unit along the axis.
    for tick in nice_ticks(low, high):
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y(tick):.1f}" x2="{plot_right}" y2="{y(tick):.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 4}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:g}</text>')
    middle_y = (TOP + plot_bottom) / 2
    parts.append(f'<text class="axis-label" x="9" y="{middle_y:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 9 {middle_y:.0f})">{escape(unit)}</text>')
    # Date axis: first, middle and last date.
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}"/>')
    middle = date.fromordinal((first + last) // 2).isoformat()
    for day, anchor in ((min(points)[0], "start"), (middle, "middle"), (max(points)[0], "end")):
        if anchor == "middle" and last - first < 60:
            continue
        at = {"start": LEFT, "middle": x(day), "end": plot_right}[anchor]
        parts.append(f'<text class="tick" x="{at:.1f}" y="{HEIGHT - 14}" text-anchor="{anchor}">'
                     f'{escape(_month(day))}</text>')
    parts.append(f'<text class="axis-label" x="{(LEFT + plot_right) / 2:.0f}" y="{HEIGHT - 2}" '
                 f'text-anchor="middle">date</text>')
    # Legend: each series, then the target.
    legend_x = LEFT
    for index, name in enumerate(series):
        parts.append(f'<circle class="series series-{index} legend-key" cx="{legend_x + 4}" cy="{TOP - 17}" r="3.5"/>')
        parts.append(f'<text class="legend" x="{legend_x + 11}" y="{TOP - 13}">{escape(name)}</text>')
        legend_x += 16 + 6 * len(name)
    for _, _, label in chart.targets[:1]:
        parts.append(f'<line class="target legend-key" x1="{legend_x}" y1="{TOP - 17}" x2="{legend_x + 14}" '
                     f'y2="{TOP - 17}"/>')
        parts.append(f'<text class="legend" x="{legend_x + 18}" y="{TOP - 13}">{escape(label)}</text>')
    if references:
        parts.append(f'<line class="reference legend-key" x1="{legend_x}" y1="{TOP - 17}" x2="{legend_x + 14}" '
                     f'y2="{TOP - 17}"/>')
        parts.append(f'<text class="legend" x="{legend_x + 18}" y="{TOP - 13}">{escape(STAGE1_LABEL)}</text>')
    for index, (name, values_) in enumerate(series.items()):
        css = f"series series-{index}"
        coords = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in values_)
        parts.append(f'<polyline class="{css}" points="{coords}"/>')
        for day, value in values_:
            point = f"{name} {value:g} {unit} on {human_date(day)}"
            if chart.notes.get((name, day)):
                point += f": {chart.notes[(name, day)]}"
            parts.append(f'<circle class="{css}" cx="{x(day):.1f}" cy="{y(value):.1f}" r="3">'
                         f'<title>{escape(point)}</title></circle>')
        day, value = values_[-1]
        parts.append(f'<text class="latest-value" x="{min(x(day), plot_right - 2):.1f}" '
                     f'y="{y(value) + (-6 if index == 0 else 13):.1f}" text-anchor="end">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(low: float, high: float, most: int = 4) -> list[float]:
    """Round values (steps of 1, 2 or 5 times a power of ten) inside [low, high], at most ``most`` of them."""
    span = high - low
    if span <= 0:
        return [low]
    magnitude = 10 ** math.floor(math.log10(span / most))
    step = next(m * magnitude for m in (1, 2, 5, 10) if span / (m * magnitude) <= most)
    first = math.ceil(low / step) * step
    count = int((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(count)]


def _month(day: str) -> str:
    """``Jun 2019`` for an axis label."""
    return human_date(day[:7])


def _day(value: str) -> int:
    return date.fromisoformat(value[:10]).toordinal()
