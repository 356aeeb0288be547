"""The cohort report: one static HTML page (no script, no CDN, readable offline), every text escaped.

It shows the panel at a glance, the open care gaps by area and rule, what is due and counted apart (advice,
education, reviews, follow-up), the 12-month workload forecast with the overdue backlog apart, the warnings and
data findings grouped by rule, and how it counts (``app.cohort.counting``). Every rate is out of the rule's
eligible patients, printed beside it. Every number is a count over the plans; each carries a ``data-n`` (or
``data-rate``) naming the count it shows, so a test can check it against ``plans.ndjson``. The page adds no
clinical text of its own: rule titles, areas and findings come from the plans.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.cohort.charts import rate_bar, stacked_bars
from app.cohort.counting import Counting, load_counting
from app.cohort.workload import forecast_months, spread_backlog

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "cohort"
#: Finding groups shown per section, and texts shown per group; the rest are summed (the plans hold every detail).
TOP_GROUPS, TOP_TEXTS = 25, 5
SEVERITIES = ("high", "moderate", "low")
BACKLOG = "backlog worked off"


def write_report(summary: Any, target: Path) -> None:
    """Render ``report.html`` for a :class:`app.cohort.run.CohortSummary`."""
    environment = Environment(loader=FileSystemLoader([TEMPLATES, TEMPLATES.parent]),
                              autoescape=select_autoescape(default=True))
    target.write_text(environment.get_template("report.html").render(**report_data(summary)), encoding="utf-8")


def report_data(summary: Any) -> dict[str, Any]:
    """Everything the template shows, computed from the run's aggregates."""
    counts: dict[tuple[str, ...], int] = summary.counts
    counting: Counting = summary.counting or _bundled_counting()
    panel = summary.patients
    with_gaps = counts.get(("patients with open gaps",), 0)
    forecast = _forecast(counts, summary.as_of, counting.work_kinds, summary.capacity)
    return {
        "as_of": summary.as_of.isoformat(), "packs": summary.packs, "panel": panel, "with_gaps": with_gaps,
        "with_gaps_rate": percent(with_gaps, panel), "open_gaps": counts.get(("open gaps",), 0),
        "with_apart": counts.get(("patients with due apart",), 0), "due_apart": counts.get(("due apart",), 0),
        "areas": _gap_areas(counts), "apart": _apart(counts, counting), **forecast,
        "warnings": _findings(counts, "warning"), "missing": _findings(counts, "missing"),
        "quality": _findings(counts, "quality"), "goals": _goals(counts),
        "counting": counting, "gap_categories": [c["label"] for c in counting.categories.values() if c["care_gap"]],
        "apart_categories": [c["label"] for c in counting.categories.values() if not c["care_gap"]],
        "input_problems": sorted(summary.input_problems.items(), key=lambda kv: -kv[1]),
        "files": summary.files, "seconds": round(summary.seconds, 1),
    }


def percent(part: int, whole: int) -> str:
    """A rate as the page prints it ('-' when there is no one to count)."""
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _bundled_counting() -> Counting:
    from app.engine import load_pack_set

    return load_counting(load_pack_set())


def _rule_row(counts: dict[tuple[str, ...], int], rule_id: str, title: str, number: int) -> dict[str, Any]:
    eligible = counts.get(("eligible", rule_id), 0)
    rate = number / eligible if eligible else 0.0
    return {"rule": rule_id, "title": title, "count": number, "eligible": eligible,
            "rate": percent(number, eligible), "bar": rate_bar(rate, f"{title}: {percent(number, eligible)}")}


def _gap_areas(counts: dict[tuple[str, ...], int]) -> list[dict[str, Any]]:
    """Open care gaps grouped by area, the rules inside by descending count, each out of its eligible patients."""
    areas: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, number in counts.items():
        if key[0] == "gap":
            _, _area_id, area, rule_id, title = key
            areas[area].append(_rule_row(counts, rule_id, title, number))
    ordered = []
    for area, rules in sorted(areas.items(), key=lambda kv: (-sum(r["count"] for r in kv[1]), kv[0])):
        rules.sort(key=lambda r: (-r["count"], r["rule"], r["title"]))
        ordered.append({"name": area, "rules": rules, "count": sum(r["count"] for r in rules)})
    return ordered


def _apart(counts: dict[tuple[str, ...], int], counting: Counting) -> list[dict[str, Any]]:
    """What is due now and not a care gap, by category (lifestyle, education, reviews...), each out of its eligible."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, number in counts.items():
        if key[0] == "apart":
            _, category, area, rule_id, title = key
            groups[category].append({**_rule_row(counts, rule_id, title, number), "area": area})
    labels = {name: item["label"] for name, item in counting.categories.items()}
    return [{"category": labels.get(category, category),
             "rules": sorted(rules, key=lambda r: (-r["count"], r["rule"], r["title"]))}
            for category, rules in sorted(groups.items(), key=lambda kv: (-sum(r["count"] for r in kv[1]), kv[0]))]


def _forecast(counts: dict[tuple[str, ...], int], as_of: Any, kinds: tuple[str, ...],
              capacity: dict[str, int]) -> dict[str, Any]:
    """New work per month and kind; the backlog (due on or before the plan date) per kind, spread over the
    capacity given after each month's new work."""
    months = forecast_months(as_of)
    series = {kind: [counts.get(("work", month, kind), 0) for month in months] for kind in kinds}
    backlog, cleared = [], [0] * len(months)
    for kind in kinds:
        waiting = counts.get(("backlog", kind), 0)
        per_month, left = spread_backlog(series[kind], waiting, capacity.get(kind))
        cleared = [a + b for a, b in zip(cleared, per_month, strict=True)]
        over = sum(1 for due in series[kind] if kind in capacity and due > capacity[kind])
        backlog.append({"kind": kind, "backlog": waiting, "capacity": capacity.get(kind), "cleared": sum(per_month),
                        "left": left, "over": over})
    drawn = {**series, BACKLOG: cleared}
    return {
        "months": months, "series": series, "work_kinds": kinds, "cleared": cleared, "backlog": backlog,
        "backlog_total": sum(row["backlog"] for row in backlog), "series_names": list(drawn),
        "forecast_total": sum(sum(values) for values in series.values()),
        "month_totals": [sum(values[i] for values in drawn.values()) for i in range(len(months))],
        "forecast_chart": stacked_bars(f"Activities per month, {months[0]} to {months[-1]}: new work by kind, "
                                       f"and backlog worked off", months, drawn),
    }


def _findings(counts: dict[tuple[str, ...], int], section: str) -> dict[str, Any]:
    """Findings of one section ('warning', 'missing', 'quality') grouped by rule (or key, or resource type): the
    patients in each group, its most frequent texts. Warnings are ordered by severity, then count."""
    texts: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for key, number in counts.items():
        if key[0] == section:
            texts[(key[1], key[2])].append((number, key[3]))
    groups = []
    for (about, severity), found in texts.items():
        found.sort(key=lambda item: (-item[0], item[1]))
        groups.append({"about": about, "severity": severity,
                       "patients": counts.get(("found", section, about, severity), 0),
                       "texts": [{"count": n, "text": text} for n, text in found[:TOP_TEXTS]],
                       "more_texts": len(found) - min(len(found), TOP_TEXTS),
                       "more_count": sum(n for n, _ in found[TOP_TEXTS:])})
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    groups.sort(key=lambda g: (rank.get(g["severity"], len(SEVERITIES)), -g["patients"], g["about"]))
    return {"shown": groups[:TOP_GROUPS], "more": len(groups[TOP_GROUPS:]),
            "more_patients": sum(g["patients"] for g in groups[TOP_GROUPS:])}


def _goals(counts: dict[tuple[str, ...], int]) -> list[dict[str, Any]]:
    """Goals the plans propose, by area and rule, with the number of patients."""
    goals = [{"area": key[2], "rule": key[3], "description": key[4], "count": n}
             for key, n in counts.items() if key[0] == "goal"]
    return sorted(goals, key=lambda g: (g["area"], -g["count"], g["rule"]))
