"""The cohort report: one static HTML page (no script, no CDN, readable offline), every text escaped.

It shows the panel at a glance (patients, open care gaps), care gaps by area and rule with counts and rates,
the 12-month workload forecast by kind of work (``app.cohort.workload``), the data-quality findings across
the panel, and links the outreach list (``outreach.csv``) and the other outputs. Every number is a count over
the plans; the page adds no clinical text of its own: rule titles, areas and findings come from the plans.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.cohort.charts import rate_bar, stacked_bars
from app.cohort.workload import WORKLOADS, forecast_months

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "cohort"
#: Findings shown per section; the rest are summed in one line (the CSV and plans hold every detail).
TOP_FINDINGS = 25


def write_report(summary: Any, target: Path) -> None:
    """Render ``report.html`` for a :class:`app.cohort.run.CohortSummary`."""
    environment = Environment(loader=FileSystemLoader([TEMPLATES, TEMPLATES.parent]),
                              autoescape=select_autoescape(default=True))
    target.write_text(environment.get_template("report.html").render(**report_data(summary)), encoding="utf-8")


def report_data(summary: Any) -> dict[str, Any]:
    """Everything the template shows, computed from the run's aggregates."""
    counts: dict[tuple[str, ...], int] = summary.counts
    panel = summary.patients
    with_gaps = counts.get(("patients with open gaps",), 0)
    months = forecast_months(summary.as_of)
    series = {name: [counts.get(("work", month, name), 0) for month in months] for name in WORKLOADS}
    return {
        "as_of": summary.as_of.isoformat(), "packs": summary.packs, "panel": panel, "with_gaps": with_gaps,
        "with_gaps_rate": _percent(with_gaps, panel), "open_gaps": counts.get(("open gaps",), 0),
        "forecast_total": sum(sum(values) for values in series.values()),
        "areas": _gap_areas(counts, panel), "months": months, "series": series, "workloads": WORKLOADS,
        "forecast_chart": stacked_bars(f"Activities due per month, {months[0]} to {months[-1]}, by kind of work",
                                       months, series),
        "month_totals": [sum(values[i] for values in series.values()) for i in range(len(months))],
        "quality": _findings(counts, "quality", panel), "missing": _findings(counts, "missing", panel),
        "warnings": _findings(counts, "warning", panel), "goals": _goals(counts, panel),
        "input_problems": sorted(summary.input_problems.items(), key=lambda kv: -kv[1]),
        "files": summary.files, "seconds": round(summary.seconds, 1),
    }


def _gap_areas(counts: dict[tuple[str, ...], int], panel: int) -> list[dict[str, Any]]:
    """Open care gaps grouped by area, the rules inside by descending count, each with its rate and bar."""
    areas: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for key, number in counts.items():
        if key[0] == "gap":
            _, area_id, area, rule_id, title = key
            rate = number / panel if panel else 0.0
            areas[(area_id, area)].append({"rule": rule_id, "title": title, "count": number,
                                           "rate": _percent(number, panel),
                                           "bar": rate_bar(rate, f"{title}: {_percent(number, panel)}")})
    ordered = []
    for (area_id, area), rules in sorted(areas.items(), key=lambda kv: -sum(r["count"] for r in kv[1])):
        rules.sort(key=lambda r: (-r["count"], r["rule"]))
        ordered.append({"id": area_id, "name": area, "rules": rules, "count": sum(r["count"] for r in rules)})
    return ordered


def _findings(counts: dict[tuple[str, ...], int], section: str, panel: int) -> dict[str, Any]:
    """The most frequent findings of one section ('quality', 'missing', 'warning'): patients affected each."""
    found = sorted(((number, key[1], key[2]) for key, number in counts.items() if key[0] == section),
                   key=lambda item: (-item[0], item[1], item[2]))
    shown = [{"count": n, "what": what, "finding": text, "rate": _percent(n, panel)}
             for n, what, text in found[:TOP_FINDINGS]]
    return {"shown": shown, "more": len(found) - len(shown), "more_count": sum(n for n, _, _ in found[TOP_FINDINGS:])}


def _goals(counts: dict[tuple[str, ...], int], panel: int) -> list[dict[str, Any]]:
    """Goals the plans propose, by area and rule, with the number of patients."""
    goals = [{"area": key[2], "rule": key[3], "description": key[4], "count": n, "rate": _percent(n, panel)}
             for key, n in counts.items() if key[0] == "goal"]
    return sorted(goals, key=lambda g: (g["area"], -g["count"], g["rule"]))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"
