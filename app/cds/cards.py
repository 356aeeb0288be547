"""A plan as CDS Hooks cards: safety warnings first, then one card per guideline area with what is for this visit.

Pure: the plan (``Plan.to_dict()``) and a few URLs in, cards out. Every sentence on a card is the plan's own
text (titles, rationales, citations, a warning's summary, values and dates from the packs and the record):
nothing clinical is written here; values and dates read as in the sidebar (:mod:`app.formats`). Text taken
from the record is escaped for Markdown, so a value cannot become a link.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.careplan.present import fact_line
from app.careplan.review import Area, areas
from app.formats import human_date, shorten

__all__ = ["MAX_CARDS", "OVERRIDE_REASONS", "SUMMARY_LIMIT", "CardMeta", "cards_for_plan"]

#: At most this many cards per answer ("a handful"): the rest is one click away, in carepath.
MAX_CARDS = 5
SUMMARY_LIMIT = 140
OVERRIDE_SYSTEM = "http://carepath.dev/fhir/CodeSystem/cds-override-reason"
#: Why a clinician dismisses a card (CDS Hooks 2.0 ``overrideReasons``; workflow reasons, not clinical claims).
OVERRIDE_REASONS = [
    {"code": "already-addressed", "system": OVERRIDE_SYSTEM, "display": "Already addressed or done elsewhere"},
    {"code": "patient-declined", "system": OVERRIDE_SYSTEM, "display": "Patient declined"},
    {"code": "not-appropriate", "system": OVERRIDE_SYSTEM, "display": "Not appropriate for this patient"},
    {"code": "data-incorrect", "system": OVERRIDE_SYSTEM, "display": "The record's data is wrong or incomplete"},
]
_INDICATORS = {"high": "critical", "moderate": "warning"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


@dataclass(frozen=True)
class CardMeta:
    """What carepath remembers of a card for its feedback: the area and the pack versions behind it."""

    uuid: str
    area_id: str | None
    rule_ids: tuple[str, ...]
    packs: tuple[str, ...]


def cards_for_plan(plan: Mapping[str, Any], *, launch_url: str) -> tuple[list[dict[str, Any]], list[CardMeta]]:
    """The cards for ``plan`` (none when nothing is due) and, per card, what its feedback is recorded with."""
    built: list[tuple[dict[str, Any], CardMeta]] = []
    grouped = {area.id: area for area in areas(plan)}
    for warning in plan.get("warnings") or []:
        if warning.get("severity") in _INDICATORS:
            built.append(_warning_card(plan, warning, grouped.get(warning.get("area_id") or ""), launch_url))
    due = [(area, _due(area, plan)) for area in grouped.values()]
    gaps = [(area, items) for area, items in due if items]
    room = max(0, MAX_CARDS - len(built))
    for index, (area, items) in enumerate(gaps[:room]):
        more = len(gaps) - room if index == room - 1 and len(gaps) > room else 0
        built.append(_area_card(plan, area, items, launch_url, more_areas=more))
    built = built[:MAX_CARDS]
    return [card for card, _meta in built], [meta for _card, meta in built]


def _due(area: Area, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The area's activities for this visit, in the schedule's order (``app.engine.schedule``); a plan without a
    schedule: those due on or before the plan date."""
    this_visit = (plan.get("schedule") or {}).get("thisVisit")
    if this_visit is not None:
        order = {activity_id: n for n, activity_id in enumerate(this_visit)}
        return sorted((a for a in area.activities if a["id"] in order), key=lambda a: order[a["id"]])
    as_of = str(plan.get("as_of") or "")
    return [a for a in area.activities if str((a.get("timing") or {}).get("due") or as_of) <= as_of]


def _area_card(plan: Mapping[str, Any], area: Area, items: list[dict[str, Any]], launch_url: str, *,
               more_areas: int) -> tuple[dict[str, Any], CardMeta]:
    titles = [_title(item) for item in items]
    lines = [f"**{_md(area.summary)}**", ""] if area.summary else []
    for item in items:
        rationale = item.get("rationale") or {}
        due = human_date((item.get("timing") or {}).get("due") or plan["as_of"])
        lines.append(f"- **{_md(_title(item))}** (due {_md(due)})"
                     f": {_md(rationale.get('text') or item.get('description') or '')}")
        used = _facts_used(rationale)
        if used:
            lines.append(f"  - Values used: {used}")
        citation = rationale.get("citation") or {}
        if citation:
            lines.append(f"  - {_md(_cite(citation))}")
    lines += [f"- {_md(gap['message'])}" for gap in _area_gaps(plan, area, items)]
    if more_areas:
        lines += ["", f"{more_areas} more area(s) with actions due: open carepath for the whole plan."]
    rationale = items[0].get("rationale") or {}
    card = _card(_summary(titles, f" ({area.title})"), "\n".join(lines), "info",
                 _source(plan, rationale.get("pack_url"), rationale.get("citation")), launch_url, area.id)
    rule_ids = tuple(str((item.get("rationale") or {}).get("rule_id") or item["id"]) for item in items)
    return card, CardMeta(card["uuid"], area.id, rule_ids, _pack_versions(plan, items))


def _warning_card(plan: Mapping[str, Any], warning: Mapping[str, Any], area: Area | None,
                  launch_url: str) -> tuple[dict[str, Any], CardMeta]:
    item = _item_of_rule(plan, str(warning.get("rule_id") or ""))
    rationale = (item or {}).get("rationale") or {}
    citation = rationale.get("citation") or (item or {}).get("citation")
    pack_url = rationale.get("pack_url") or _pack_url_of_area(plan, warning.get("area_id"))
    lines = [_md(str(warning.get("message") or ""))]
    if citation:
        lines += ["", _md(_cite(citation))]
    # The pack's summary says what to do first; a pack without one shows the warning itself, cut at a word.
    summary = shorten(str(warning.get("summary") or warning.get("message") or ""), SUMMARY_LIMIT)
    card = _card(summary, "\n".join(lines),
                 _INDICATORS[str(warning["severity"])], _source(plan, pack_url, citation), launch_url,
                 area.id if area else None)
    packs = tuple(f"{p['url']}|{p['version']}" for p in plan.get("packs") or [] if p.get("url") == pack_url)
    return card, CardMeta(card["uuid"], area.id if area else None, (str(warning.get("rule_id") or ""),),
                          packs or _all_packs(plan))


def _card(summary: str, detail: str, indicator: str, source: dict[str, Any], launch_url: str,
          area_id: str | None) -> dict[str, Any]:
    link: dict[str, Any] = {"label": "Open carepath", "url": launch_url, "type": "smart"}
    if area_id:
        link["appContext"] = json.dumps({"area": area_id}, separators=(",", ":"))
    return {"uuid": str(uuid.uuid4()), "summary": summary, "detail": detail, "indicator": indicator,
            "source": source, "links": [link], "overrideReasons": OVERRIDE_REASONS}


def _summary(parts: list[str], suffix: str = "") -> str:
    """The actions first, joined by "; ", then ``suffix`` (the area), within 140 characters; what does not fit is
    counted ("+2 more"), and a first action too long for the card is cut at a word."""
    limit = SUMMARY_LIMIT - len(suffix)
    text = ""
    for index, part in enumerate(parts):
        joined = (text + ("; " if index else "") + part).strip()
        rest = len(parts) - index - 1
        reserve = len(f"; +{rest} more") if rest else 0
        if len(joined) + reserve <= limit:
            text = joined
            continue
        if index == 0:
            return shorten(joined, limit) + suffix
        return f"{text}; +{len(parts) - index} more{suffix}"
    return text + suffix


def _source(plan: Mapping[str, Any], pack_url: str | None, citation: Mapping[str, Any] | None) -> dict[str, Any]:
    pack = next((p for p in plan.get("packs") or [] if p.get("url") == pack_url), None)
    label = "carepath"
    if pack:
        label = f"carepath {pack.get('title') or pack_url} pack {pack.get('version')}"
    if citation and citation.get("guideline"):
        label = f"{citation['guideline']} · {label}"
    source: dict[str, Any] = {"label": label}
    if citation and str(citation.get("url") or "").startswith(("https://", "http://")):
        source["url"] = citation["url"]
    return source


def _item_of_rule(plan: Mapping[str, Any], rule_id: str) -> dict[str, Any] | None:
    for kind in ("activities", "goals", "not_recommended"):
        for item in plan.get(kind) or []:
            ids = (item.get("id"), item.get("rule_id"), (item.get("rationale") or {}).get("rule_id"))
            if rule_id and rule_id in ids:
                return item
    return None


def _pack_url_of_area(plan: Mapping[str, Any], area_id: str | None) -> str | None:
    return next((s.get("pack_url") for s in plan.get("area_summaries") or [] if s.get("area_id") == area_id), None)


def _pack_versions(plan: Mapping[str, Any], items: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({f"{r['pack_url']}|{r['pack_version']}" for r in (i.get("rationale") or {} for i in items)
                         if r.get("pack_url") and r.get("pack_version")})) or _all_packs(plan)


def _all_packs(plan: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f"{p['url']}|{p['version']}" for p in plan.get("packs") or [])


def _area_gaps(plan: Mapping[str, Any], area: Area, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Missing data the area's own rules named (e.g. "no HbA1c in the last 12 months")."""
    prefixes = {str((i.get("rationale") or {}).get("rule_id") or i["id"]).split(".")[0]
                for i in [*area.activities, *area.goals, *items]}
    return [gap for gap in plan.get("gaps") or [] if str(gap.get("rule_id") or "").split(".")[0] in prefixes]


def _facts_used(rationale: Mapping[str, Any]) -> str:
    return "; ".join(_md(fact_line(used)) for used in rationale.get("facts_used") or []
                     if used.get("key") != "patient" and used.get("value") not in (None, ""))


def _cite(citation: Mapping[str, Any]) -> str:
    return ", ".join(str(citation[k]) for k in ("guideline", "section") if citation.get(k))


def _title(item: Mapping[str, Any]) -> str:
    return str(item.get("title") or (item.get("code") or {}).get("display") or item.get("id"))


def _md(text: Any) -> str:
    """Text as literal Markdown: special characters escaped, line breaks flattened."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
