"""The visit schedule: which of a plan's actions belong to this visit, and when each of the others comes.

One function, :func:`schedule_plan`, run by :func:`app.engine.build_plan` once the plan is built, so that every
door (sidebar, CLI, CDS Hooks, cohort) shows the same schedule; :func:`reschedule` applies a clinician's moves.
The order follows these principles, in this sequence:

1. **Safety first.** The actions of a rule that raised a high or moderate warning are always this visit, the
   high ones first; they are never deferred, even past the visit size.
2. **What is abnormal now or overdue** (a raised blood pressure, an HbA1c above goal, a test past its interval):
   the pack marks the rules that answer an abnormal result (``abnormal-now``); the engine dates the lapse.
3. **Expected benefit, then effort.** The strength of the recommendation the rule's guideline gives
   (``strength``: USPSTF grade A, ACC/AHA class I, ADA level A and KDIGO 1 first; then B, IIa, 2; then C, IIb,
   E; a strength not recorded last), then the effort in the visit (an order before a conversation).
4. **A result before the action that needs it.** An action that needs a fresh result (``needs-result``) which
   the plan orders now comes after it: the draw, then two weeks for the result and the visit that uses it.
5. **One blood draw.** Lab orders that fall due within the pack's ``blood-draw-window`` of each other are drawn
   together, on the first one's date.

This visit holds at most the pack's ``visit-size`` actions (default 5). A later action is dated when it falls
due, else by how long its rank allows it to wait (:data:`WAITS`); each action's place carries its reason.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.engine.model import Plan
from app.engine.rules import EXT, Duration, add_duration
from app.formats import human_date

DEFAULT_VISIT_SIZE = 5
DEFAULT_DRAW_WINDOW = Duration(1, "mo")
#: From a blood draw to the visit that uses its result.
RESULT_WAIT = Duration(2, "wk")
#: How long an action may wait when this visit is full, by rank: 1 abnormal or overdue now, then strength
#: ranks 2 (strong: USPSTF A, ACC/AHA I, ADA A, KDIGO 1), 3 (B, IIa, KDIGO 2), 4 (C, IIb, ADA E), 5 (not recorded).
WAITS = {1: Duration(1, "mo"), 2: Duration(1, "mo"), 3: Duration(3, "mo"), 4: Duration(6, "mo"),
         5: Duration(6, "mo")}
_STRENGTH_RANKS = {
    "USPSTF": {"A": 2, "B": 3, "C": 4}, "ACC/AHA": {"I": 2, "IIa": 3, "IIb": 4},
    "ADA": {"A": 2, "B": 3, "C": 4, "E": 4}, "KDIGO": {"1": 2, "2": 3},
}
_STRENGTH_WORDS = {"USPSTF": "USPSTF grade", "ACC/AHA": "ACC/AHA class", "ADA": "ADA level", "KDIGO": "KDIGO grade"}
#: Effort in the visit, least first: an order takes a minute, a conversation many.
_EFFORT = {"lab-order": 0, "screening": 1, "medication": 2, "referral": 3, "procedure": 4, "education": 5,
           "lifestyle": 6, "counselling": 7}
_RESULT_NAMES = {"egfr": "eGFR", "uacr": "urine albumin (UACR)", "creatinine": "creatinine", "hba1c": "HbA1c",
                 "ldl": "LDL cholesterol"}
THIS_VISIT = "this-visit"


def visit_settings(library: Mapping[str, Any]) -> tuple[int, Duration]:
    """(visit size, blood-draw window) from the pack's Library (``visit-size``, ``blood-draw-window``)."""
    size, window = DEFAULT_VISIT_SIZE, DEFAULT_DRAW_WINDOW
    for extension in library.get("extension") or []:
        if extension.get("url") == EXT + "visit-size" and isinstance(extension.get("valueInteger"), int) \
                and extension["valueInteger"] > 0:
            size = extension["valueInteger"]
        value = extension.get("valueDuration") or {}
        if extension.get("url") == EXT + "blood-draw-window" and isinstance(value.get("value"), int) \
                and value.get("code") in ("a", "mo", "wk", "d") and value["value"] > 0:
            window = Duration(value["value"], value["code"])
    return size, window


@dataclass
class _Entry:
    """One activity as the schedule sees it."""

    id: str
    kind: str
    title: str
    due: date
    index: int
    severity: str | None
    priority: Mapping[str, Any]
    date: date | None = None
    reason: str = ""
    after: list[str] = field(default_factory=list)

    @property
    def safety(self) -> bool:
        return self.severity is not None

    @property
    def rank(self) -> int:
        """0 safety, 1 abnormal or overdue now, then 2 to 5 by the strength of the recommendation."""
        if self.safety:
            return 0
        if self.priority.get("abnormal") or self.priority.get("overdue") or self.priority.get("overdue_since"):
            return 1
        return strength_rank(self.priority.get("strength"))

    @property
    def sort_key(self) -> tuple[int, int, int, int]:
        tier = 0 if self.safety else 1 if self.rank == 1 else 2
        severity = 0 if self.severity == "high" else 1
        return (tier, severity if self.safety else strength_rank(self.priority.get("strength")),
                _EFFORT.get(self.kind, len(_EFFORT)), self.index)

    @property
    def lab(self) -> bool:
        return self.kind == "lab-order"


def strength_rank(strength: Mapping[str, Any] | None) -> int:
    """2 strong (USPSTF A, ACC/AHA I, ADA A, KDIGO 1x), 3 (B, IIa, KDIGO 2x), 4 (C, IIb, ADA E), 5 not recorded."""
    if not strength:
        return 5
    grades = _STRENGTH_RANKS.get(str(strength.get("scale")), {})
    grade = str(strength.get("grade") or "")
    return grades.get(grade[:1] if strength.get("scale") == "KDIGO" else grade, 5)


def strength_text(strength: Mapping[str, Any] | None) -> str:
    """'USPSTF grade B', 'ACC/AHA class I', 'ADA level A'; 'strength not recorded'."""
    if not strength:
        return "strength not recorded"
    return f"{_STRENGTH_WORDS.get(str(strength.get('scale')), strength.get('scale'))} {strength.get('grade')}"


def schedule_plan(plan: Plan, visit_size: int = DEFAULT_VISIT_SIZE,
                  draw_window: Duration = DEFAULT_DRAW_WINDOW) -> dict[str, Any]:
    """The plan's schedule: ``thisVisit`` (ids, in order), ``later`` ([{id, date, reason}], by date), ``reasons``
    (id -> why it is this visit), ``bloodDraws`` ([{date, ids}]) and ``visitSize``."""
    as_of = date.fromisoformat(plan.as_of)
    severities: dict[str, str] = {}
    for warning in plan.warnings:
        if warning.get("severity") in ("high", "moderate") and severities.get(warning.get("rule_id")) != "high":
            severities[str(warning.get("rule_id"))] = warning["severity"]
    entries = [_Entry(id=item.id, kind=item.kind, title=item.title or item.description,
                      due=_date(item.timing.get("due"), as_of), index=index,
                      severity=severities.get(item.rationale.rule_id), priority=item.priority or {})
               for index, item in enumerate(plan.activities)]
    entries.sort(key=lambda entry: entry.sort_key)
    now: list[_Entry] = []
    waiting: list[_Entry] = []  # need a result ordered now
    for entry in entries:
        if entry.safety:
            now.append(entry)
            entry.reason = f"safety: {entry.severity} warning, acted on first"
    for entry in entries:
        if entry.safety:
            continue
        if entry.due > as_of:
            entry.date, entry.reason = entry.due, f"not due until {human_date(entry.due)}"
            continue
        labs = _labs_needed(entry, entries, as_of)
        if labs:
            entry.after = labs
            waiting.append(entry)
        elif len(now) < visit_size:
            now.append(entry)
            entry.reason = _lead(entry) + ", due now"
        elif entry.lab and add_duration(as_of, draw_window) <= add_duration(as_of, WAITS[entry.rank]):
            entry.date = add_duration(as_of, draw_window)  # a lab due now waits only for the next blood draw
            entry.reason = f"{_lead(entry)}; next blood draw, in {draw_window.text()} (this visit is full)"
        else:
            wait = WAITS[entry.rank]
            entry.date = add_duration(as_of, wait)
            entry.reason = f"{_lead(entry)}, can wait {wait.text()} (this visit is full)"
    _draws(entries, now, as_of, visit_size, draw_window)
    for entry in waiting:  # after the blood draw that gives the result, two weeks for it
        labs = [lab for lab in entries if lab.id in entry.after]
        entry.date = add_duration(max(lab.date or as_of for lab in labs), RESULT_WAIT)
        given = {key for lab in labs for key in lab.priority.get("provides") or []}
        names = sorted({_RESULT_NAMES.get(key, key) for key in entry.priority.get("needs") or [] if key in given})
        entry.reason = f"after the {' and '.join(names)} result; {_lead(entry)}"
    later = sorted((entry for entry in entries if entry not in now), key=lambda entry: (entry.date, entry.sort_key))
    draws: dict[date, list[str]] = {}
    for entry in entries:
        if entry.lab:
            draws.setdefault(as_of if entry in now else entry.date or as_of, []).append(entry.id)
    return {
        "visitSize": visit_size,
        "thisVisit": [entry.id for entry in now],
        "later": [{"id": entry.id, "date": (entry.date or as_of).isoformat(), "reason": entry.reason}
                  for entry in later],
        "reasons": {entry.id: entry.reason for entry in now},
        "bloodDraws": [{"date": when.isoformat(), "ids": ids} for when, ids in sorted(draws.items())],
    }


def _lead(entry: _Entry) -> str:
    """The first words of a reason: what ranks the action (abnormal, overdue) and its strength."""
    strength = strength_text(entry.priority.get("strength"))
    if entry.priority.get("abnormal"):
        return f"abnormal result now; {strength}"
    if entry.priority.get("overdue_since"):
        return f"overdue since {human_date(entry.priority['overdue_since'])}; {strength}"
    if entry.priority.get("overdue"):
        return f"overdue; {strength}"
    return strength


def _labs_needed(entry: _Entry, entries: list[_Entry], as_of: date) -> list[str]:
    """The lab orders due now whose result ``entry`` needs first."""
    needs = set(entry.priority.get("needs") or [])
    return [lab.id for lab in entries if lab.lab and lab is not entry and lab.due <= as_of
            and needs & set(lab.priority.get("provides") or [])]


def _draws(entries: list[_Entry], now: list[_Entry], as_of: date, visit_size: int, window: Duration) -> None:
    """Group lab orders into blood draws: today's (with the labs due within the window, while the visit has room)
    and later ones, each on the date of its first lab; no two draws fall within one window."""
    edge = add_duration(as_of, window)
    if any(entry.lab for entry in now):
        for entry in sorted((e for e in entries if e.lab and e not in now and e.date and e.date < edge),
                            key=lambda e: e.sort_key):
            if len(now) < visit_size:
                now.append(entry)
                entry.reason = f"{_lead(entry)}; with today's blood draw (due {human_date(entry.due)})"
                entry.date = None
            else:  # no room today: the next draw, a window on
                entry.date = edge
                entry.reason += "; next blood draw (this visit is full)"
    later = sorted((e for e in entries if e.lab and e not in now), key=lambda e: (e.date or as_of, e.sort_key))
    start: date | None = None
    for entry in later:
        if start is not None and entry.date is not None and entry.date < add_duration(start, window):
            if entry.date != start:
                entry.reason += f"; drawn with the other tests on {human_date(start)}"
            entry.date = start
        else:
            start = entry.date


def reschedule(schedule: Mapping[str, Any], moves: Mapping[str, str], as_of: str) -> dict[str, Any]:
    """The schedule with a clinician's moves applied: id -> ``this-visit`` or the ISO date it moves to (later).
    A moved action's reason says the clinician moved it; the others keep theirs."""
    result = copy.deepcopy(dict(schedule))
    this_visit: list[str] = list(result.get("thisVisit") or [])
    later = {item["id"]: item for item in result.get("later") or []}
    reasons = dict(result.get("reasons") or {})
    for activity_id, where in moves.items():
        if where == THIS_VISIT:
            if activity_id not in this_visit:
                this_visit.append(activity_id)
                later.pop(activity_id, None)
                reasons[activity_id] = "moved to this visit by the clinician"
            continue
        when = date.fromisoformat(where)
        if when < date.fromisoformat(as_of):
            raise ValueError(f"{human_date(when)} is before the plan date {human_date(as_of)}")
        if activity_id in this_visit:
            this_visit.remove(activity_id)
            reasons.pop(activity_id, None)
            later[activity_id] = {"id": activity_id, "date": when.isoformat(),
                                  "reason": f"moved to later by the clinician ({human_date(when)})"}
        elif activity_id in later and later[activity_id]["date"] != when.isoformat():
            later[activity_id] = {"id": activity_id, "date": when.isoformat(),
                                  "reason": f"date changed by the clinician to {human_date(when)}"}
    result["thisVisit"], result["reasons"] = this_visit, reasons
    result["later"] = sorted(later.values(), key=lambda item: item["date"])
    return result


def scheduled_date(schedule: Mapping[str, Any] | None, activity_id: str, as_of: str) -> str | None:
    """The date an activity is scheduled for: the plan date this visit, its date later; None when not scheduled."""
    if not schedule:
        return None
    if activity_id in (schedule.get("thisVisit") or []):
        return as_of
    return next((item["date"] for item in schedule.get("later") or [] if item["id"] == activity_id), None)


def _date(value: Any, default: date) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return default
