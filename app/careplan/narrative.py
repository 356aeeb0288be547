"""The human-readable side of a draft: the CarePlan narrative (escaped XHTML) and one-line texts."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from app.careplan.model import Edits

XHTML = "http://www.w3.org/1999/xhtml"


def citation_text(citation: Mapping[str, Any]) -> str:
    """``ADA Standards of Care 2025, section 6`` from a citation dict."""
    guideline, year = str(citation.get("guideline") or "").strip(), str(citation.get("year") or "").strip()
    text = guideline if year and year in guideline else " ".join(part for part in (guideline, year) if part)
    if citation.get("section"):
        text = f"{text}, {citation['section']}" if text else str(citation["section"])
    return text or "uncited"


def fact_text(fact: Mapping[str, Any]) -> str:
    """``HbA1c 7.4 % (2020-01-15)`` from one fact used by a rule."""
    value = fact.get("value")
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    text = f"{fact.get('label') or fact.get('key')} {shown}"
    if fact.get("unit"):
        text += f" {fact['unit']}"
    if fact.get("date"):
        text += f" ({fact['date']})"
    return text


def target_text(goal: Mapping[str, Any], edits: Edits | None = None) -> str:
    """``< 7 %`` (or ``< 130/80 mmHg``) for a goal, with a clinician's edit applied."""
    targets = goal.get("targets") or ([goal["target"]] if goal.get("target") else [])
    if edits and goal["id"] in edits.goal_targets and targets:
        targets = [{**targets[0], "value": edits.goal_targets[goal["id"]]}, *targets[1:]]
    if not targets:
        return ""
    comparator = targets[0].get("comparator") or ""
    values = "/".join(f"{target.get('value'):g}" if isinstance(target.get("value"), int | float)
                      else str(target.get("value")) for target in targets)
    unit = targets[0].get("unit") or ""
    return " ".join(part for part in (comparator, values, unit) if part)


def careplan_div(plan: Mapping[str, Any], edits: Edits) -> str:
    """The generated narrative: goals and activities with their citations, every value escaped."""
    lines = [f'<div xmlns="{XHTML}">',
             f"<p>Draft care plan proposed by carepath on {escape(str(plan['as_of']))}; "
             "not active until a clinician approves it.</p>"]
    population = plan.get("population") or {}
    if population.get("statement"):
        label = "Scope for this age" if population.get("kind") == "scope" else "Not covered"
        lines.append(f"<p>{label}: {escape(str(population['statement']))}.</p>")
    goals = plan.get("goals", [])
    if goals:
        lines.append("<p>Goals</p><ul>")
        for goal in goals:
            lines.append(f"<li>{escape(goal['description'])} (target {escape(target_text(goal, edits))}; "
                         f"{escape(_cited(goal))})</li>")
        lines.append("</ul>")
    activities = plan.get("activities", [])
    if activities:
        lines.append("<p>Activities</p><ul>")
        for activity in activities:
            state = " [not selected]" if activity["id"] in edits.deselected else ""
            lines.append(f"<li>{escape(activity['description'])}{state} ({escape(_cited(activity))})</li>")
        lines.append("</ul>")
    if edits.note.strip():
        lines.append(f"<p>Clinician note: {escape(edits.note.strip())}</p>")
    lines.append("</div>")
    return "".join(lines)


def _cited(item: Mapping[str, Any]) -> str:
    return citation_text((item.get("rationale") or {}).get("citation") or {})


def decided_div(careplan: Mapping[str, Any], goals: list[Mapping[str, Any]], verifier: str, when: str) -> str:
    """The narrative of an approved or rejected CarePlan, rebuilt from the resource so it never goes stale."""
    verdict = "approved" if careplan.get("status") == "active" else "rejected"
    lines = [f'<div xmlns="{XHTML}">',
             f"<p>Care plan proposed by carepath, {verdict} by {escape(verifier)} on {escape(when[:10])} "
             f"(status {escape(str(careplan.get('status')))}).</p>"]
    if goals:
        lines.append("<p>Goals</p><ul>")
        for goal in goals:
            quantities = [t.get("detailQuantity") or {} for t in goal.get("target", [])]
            target = "/".join(f"{q.get('value')}" for q in quantities if q)
            unit = next((q.get("unit") for q in quantities if q.get("unit")), "")
            comparator = next((q.get("comparator") for q in quantities if q.get("comparator")), "")
            shown = " ".join(part for part in (comparator, target, unit) if part)
            lines.append(f"<li>{escape((goal.get('description') or {}).get('text', ''))}"
                         f"{' (target ' + escape(shown) + ')' if shown else ''}</li>")
        lines.append("</ul>")
    activities = careplan.get("activity", [])
    if activities:
        lines.append("<p>Activities</p><ul>")
        for activity in activities:
            detail = activity.get("detail") or {}
            reason = (detail.get("statusReason") or {}).get("text")
            lines.append(f"<li>{escape(detail.get('description', ''))} [{escape(detail.get('status', ''))}"
                         f"{': ' + escape(reason) if reason else ''}]</li>")
        lines.append("</ul>")
    lines.append("</div>")
    return "".join(lines)
