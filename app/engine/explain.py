"""Plans as text: a compact listing (``plan --format text``) and the clinician's reading (``explain``)."""

from __future__ import annotations

from app.engine.model import Activity, Citation, FactUsed, Goal, Plan
from app.engine.rules import format_value
from app.formats import human_date

SEVERITY_ORDER = {"high": 0, "moderate": 1, "low": 2}


def plan_text(plan: Plan) -> str:
    """One line per item: warnings, each area's summary (a child's BP category and BMI-for-age percentile), goals,
    activities (with due dates), then what was not recommended."""
    lines = [f"Plan for {plan.patient_id or 'unknown patient'} as of {plan.as_of}"]
    for warning in _sorted_warnings(plan):
        lines.append(f"WARNING [{warning['severity']}] {warning['message']} ({warning['rule_id']})")
    for summary in plan.area_summaries:
        lines.append(f"SUMMARY  {summary['area_id']}: {summary['text']}")
    for goal in plan.goals:
        lines.append(f"GOAL     {goal.id}: {goal.description} ({_targets(goal)}), review by {goal.due}")
    for activity in plan.activities:
        repeat = _repeat(activity)
        lines.append(f"ACTIVITY {activity.id} [{activity.kind}] {activity.title}, due {activity.timing['due']}"
                     f"{repeat}{' (clinician choice)' if activity.clinician_choice else ''}")
    for item in plan.not_recommended:
        lines.append(f"NOT      {item['rule_id']}: {item['reason']}")
    for gap in plan.gaps:
        lines.append(f"GAP      {gap['message']}")
    if plan.population.get("statement"):
        lines.append(f"COVERAGE {plan.population['statement']}")
    for item in plan.population.get("left_out") or []:
        lines.append(f"OUTSIDE  {item['rule_id']}: {item['reason']}")
    schedule = plan.schedule or {}
    for activity_id in schedule.get("thisVisit") or []:
        lines.append(f"VISIT    {activity_id}: {(schedule.get('reasons') or {}).get(activity_id, '')}")
    for item in schedule.get("later") or []:
        lines.append(f"LATER    {item['date']} {item['id']}: {item['reason']}")
    return "\n".join(lines) + "\n"


def schedule_text(plan: Plan) -> list[str]:
    """This visit and later, as the clinician reads them: each action with the reason for its place."""
    schedule = plan.schedule or {}
    if not plan.activities or not schedule:
        return []
    titles = {activity.id: activity.title or activity.description for activity in plan.activities}
    this_visit = schedule.get("thisVisit") or []
    out = [f"THIS VISIT ({len(this_visit)} of {schedule.get('visitSize')})"]
    out += [f"  {n}. {titles.get(i, i)} ({(schedule.get('reasons') or {}).get(i, '')})"
            for n, i in enumerate(this_visit, start=1)]
    if schedule.get("later"):
        out.append("LATER")
        out += [f"  - {human_date(item['date'])}: {titles.get(item['id'], item['id'])} ({item['reason']})"
                for item in schedule["later"]]
    draws = [draw for draw in schedule.get("bloodDraws") or [] if len(draw["ids"]) > 1]
    out += [f"  One blood draw on {human_date(draw['date'])}: " + ", ".join(titles.get(i, i) for i in draw["ids"])
            for draw in draws]
    return [*out, ""]


def explain(plan: Plan) -> str:
    """The plan as a clinician reads it: safety first, then each area with its reasons and evidence."""
    out = [f"Care plan proposal for patient {plan.patient_id or '(unknown)'}, evaluated as of {plan.as_of}.",
           "Packs: " + "; ".join(f"{p['title']} {p['version']}" for p in plan.packs), ""]
    if plan.population.get("statement"):
        heading = "SCOPE FOR THIS AGE" if plan.population.get("kind") == "scope" else "NOT COVERED"
        out += [heading, f"  {plan.population['statement']}", ""]
    warnings = _sorted_warnings(plan)
    if warnings:
        out.append("SAFETY AND CONFLICTS")
        out += [f"  ! [{w['severity']}] {w['message']}" for w in warnings]
        out.append("")
    out += schedule_text(plan)
    areas: dict[str, list[Goal | Activity]] = {}
    for item in [*plan.goals, *plan.activities]:
        areas.setdefault(item.area, []).append(item)
    summaries = {s["area"]: s["text"] for s in plan.area_summaries}
    for area, items in areas.items():
        out.append(area.upper())
        if area in summaries:
            out.append(f"  {summaries[area]}")
        for item in items:
            out += _explain_item(item)
        skipped = [n for n in plan.not_recommended if n.get("area") == area]
        out += [f"  - Considered, not recommended: {n['title']}: {n['reason']}" for n in skipped]
        out.append("")
    others = [n for n in plan.not_recommended if n.get("area") not in areas]
    if others:
        out.append("CONSIDERED BUT NOT RECOMMENDED")
        out += [f"  - {n['title']}: {n['reason']} [{_cite(Citation(**n['citation']))}]" for n in others]
        out.append("")
    outside = plan.population.get("left_out") or []
    if outside:
        out.append("NOT APPLIED: OUTSIDE THE GUIDELINE'S POPULATION")
        out += [f"  - {item['title']}: {item['reason']}" for item in outside]
        out.append("")
    if plan.gaps:
        out.append("MISSING DATA")
        out += [f"  ? {gap['message']}" for gap in plan.gaps]
        out.append("")
    if plan.data_quality:
        out.append("DATA NOT USED (quality problems)")
        out += [f"  x {item.get('ref', {}).get('type')}/{item.get('ref', {}).get('id')}: {item.get('problem')}"
                for item in plan.data_quality]
        out.append("")
    out.append("Every item is a proposal for a clinician to review; nothing is ordered or prescribed.")
    return "\n".join(out) + "\n"


def _explain_item(item: Goal | Activity) -> list[str]:
    why = item.rationale
    if isinstance(item, Goal):
        head = f"  * Goal: {item.description} ({_targets(item)}), review by {item.due}"
        if item.editable_range:
            bounds = item.editable_range
            head += (f"; clinician may set {format_value(bounds['low'])} to {format_value(bounds['high'])} "
                     f"{bounds['unit']}")
    else:
        head = f"  * {item.title}: due {item.timing['due']}{_repeat(item)}"
    lines = [head + (" (clinician's choice)" if item.clinician_choice else ""), f"      Why: {why.text}"]
    lines += [f"      Evidence: {_fact(fact)}" for fact in why.facts_used]
    lines.append("      Source: " + "; ".join(_cite(citation) for citation in why.citations or [why.citation])
                 + f" [rule {why.rule_id}, pack {why.pack_version}]")
    return lines


def _fact(fact: FactUsed) -> str:
    value = "not recorded" if fact.value in (None, "") else format_value(fact.value)
    unit = f" {fact.unit}" if fact.unit else ""
    when = f" on {fact.date}" if fact.date else ""
    refs = ", ".join(f"{r['type']}/{r['id']}" for r in fact.refs[:3]) + (" ..." if len(fact.refs) > 3 else "")
    return f"{fact.label}: {value}{unit}{when}" + (f" ({refs})" if refs else "")


def _cite(citation: Citation) -> str:
    return f"{citation.guideline}, {citation.section} ({citation.url})"


def _targets(goal: Goal) -> str:
    return " and ".join(f"{t['measure'].get('display') or t['measure'].get('code')} {t['comparator']} "
                        f"{format_value(t['value'])} {t['unit'] or ''}".strip() for t in goal.targets)


def _repeat(activity: Activity) -> str:
    repeat = activity.timing.get("repeat")
    if not repeat:
        return ""
    units = {"a": "year", "mo": "month", "wk": "week", "d": "day"}
    period, unit = repeat.get("period"), units.get(repeat.get("period_unit"), repeat.get("period_unit"))
    return f", then every {unit}" if period == 1 else f", then every {period} {unit}s"


def _sorted_warnings(plan: Plan) -> list[dict]:
    return sorted(plan.warnings, key=lambda w: SEVERITY_ORDER.get(w.get("severity"), 3))
