"""The plan the patient takes home: goals and what happens next, in plain words, in the patient's language.

Pure: the plan (``Plan.to_dict()``, with the clinician's edits) or a saved CarePlan and its Goals, and the
pack's words (``PackSet.patient_words``) in; a :class:`PatientCopy` out. Every sentence is the pack's own
patient text (``patient-text`` on each ActivityDefinition and goal, with FHIR ``translation`` extensions), so a
pack adds a language without code; dates and targets are the plan's. Nothing else is said: no code, no rule id,
no action the clinician unticked or rejected. The copy of a patient under 18 is written to the parent or guardian
(``guardian``): the frame's ``<key>_guardian`` words where the packs have them ("Your child's care plan").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.careplan.model import Edits, planned_schedule

PATIENT_TEXT_URL = "http://carepath.dev/fhir/StructureDefinition/patient-text"
VISIT_SCHEDULE_URL = "http://carepath.dev/fhir/StructureDefinition/visit-schedule"
TRANSLATION_URL = "http://hl7.org/fhir/StructureDefinition/translation"
_COMPARATORS = {"<": "below", "<=": "at_most", ">": "above", ">=": "at_least"}
_UNSHOWN_UNITS = {"mmHg", "mm[Hg]"}  # a blood pressure reads "130/80"
#: From this age the copy is written to the patient; before it, to the parent or guardian.
GUARDIAN_UNTIL = 18


def addressed_to_guardian(age: Any) -> bool:
    """True when the copy is for a child's parent or guardian: a known age under 18."""
    return isinstance(age, int | float) and not isinstance(age, bool) and age < GUARDIAN_UNTIL


@dataclass
class PatientCopy:
    """The copy's parts, already in the patient's language."""

    language: str
    title: str
    intro: str
    notice: str
    goals_heading: str
    today_heading: str
    later_heading: str
    contact: str
    nothing: str
    goals: list[str] = field(default_factory=list)
    today: list[str] = field(default_factory=list)
    #: (when, what), by date.
    later: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        """The copy as plain text (``carepath plan --format patient``)."""
        lines = [self.title, "", self.intro]
        if self.notice:
            lines.append(self.notice)
        if self.goals:
            lines += ["", self.goals_heading, *(f"- {goal}" for goal in self.goals)]
        if self.today:
            lines += ["", self.today_heading, *(f"- {item}" for item in self.today)]
        if self.later:
            lines += ["", self.later_heading, *(f"- {when}: {item}" for when, item in self.later)]
        if not (self.today or self.later):
            lines += ["", self.nothing]
        return "\n".join([*lines, "", self.contact]) + "\n"


class _Words:
    """The pack's frame words in one language (the pack's own language where a word has no translation), those
    written to a parent or guardian first when ``guardian``."""

    def __init__(self, words: Mapping[str, Mapping[str, str]], language: str, guardian: bool = False) -> None:
        self.words, self.language, self.guardian = words, language, guardian

    def __call__(self, key: str, **values: Any) -> str:
        texts = (self.guardian and self.words.get(f"{key}_guardian")) or self.words.get(key) or {}
        text = texts.get(self.language) or texts.get("en") or next(iter(texts.values()), "")
        return text.format(**values)

    def pick(self, texts: Mapping[str, str] | None) -> str:
        """A patient text in the copy's language (the pack's language when it has no translation)."""
        texts = texts or {}
        return texts.get(self.language) or texts.get("en") or next(iter(texts.values()), "")

    def date(self, value: str) -> str:
        """'August 3, 2020' / '3 de agosto de 2020', as the pack writes dates."""
        day = date.fromisoformat(str(value)[:10])
        months = self("months").split()
        month = months[day.month - 1] if len(months) == 12 else str(day.month)
        return self("date", day=day.day, month=month, year=day.year)


def languages(words: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The languages the pack's patient copy has every frame word in."""
    found = [set(texts) for texts in words.values()]
    return sorted(set.intersection(*found)) if found else []


def from_plan(plan: Mapping[str, Any], words: Mapping[str, Mapping[str, str]], language: str = "en", *,
              edits: Edits | None = None, contact: str | None = None, final: bool = False,
              guardian: bool = False) -> PatientCopy:
    """The copy of a plan (as proposed, or with a clinician's edits): unticked actions are left out, moved
    ones keep the clinician's date; ``final`` when the plan is approved (otherwise the copy says it is not);
    ``guardian`` for a child (:func:`addressed_to_guardian`)."""
    edits = edits or Edits()
    say = _Words(words, language, guardian)
    schedule = planned_schedule(plan, edits)
    kept = {a["id"]: a for a in plan.get("activities", []) if a["id"] not in edits.deselected}
    this_visit = [i for i in schedule.get("thisVisit") or [] if i in kept] if schedule else list(kept)
    later = [(item["date"], item["id"]) for item in schedule.get("later") or [] if item["id"] in kept]  # by date
    goals = []
    for goal in plan.get("goals", []):
        targets = [dict(t) for t in goal.get("targets") or [goal.get("target") or {}] if t]
        if goal["id"] in edits.goal_targets and len(targets) == 1:
            targets[0]["value"] = edits.goal_targets[goal["id"]]
        goals.append(_goal_text(say, say.pick(goal.get("patient_text")) or goal["description"], targets))
    return _copy(say, plan["as_of"], goals, [_activity_text(say, kept[i]) for i in this_visit],
                 [(say("on", date=say.date(when)), _activity_text(say, kept[i])) for when, i in later],
                 contact, final)


def from_careplan(careplan: Mapping[str, Any], goals: Sequence[Mapping[str, Any]],
                  words: Mapping[str, Mapping[str, str]], language: str = "en", *,
                  contact: str | None = None, guardian: bool = False) -> PatientCopy:
    """The copy of a saved CarePlan and its Goals: only what the record holds (activities not cancelled, the
    saved targets and dates), in the words saved with them; final once the plan is active; ``guardian`` for a
    child (:func:`addressed_to_guardian`)."""
    say = _Words(words, language, guardian)
    as_of = str((careplan.get("period") or {}).get("start") or "")[:10]
    this_visit: list[tuple[int, str]] = []
    later: list[tuple[str, int, str]] = []
    for index, activity in enumerate(careplan.get("activity") or []):
        detail = activity.get("detail") or {}
        if detail.get("status") in ("cancelled", "stopped", "entered-in-error"):
            continue
        text = say.pick(saved_texts(activity)) or str(detail.get("description") or "")
        event = str(((detail.get("scheduledTiming") or {}).get("event") or [""])[0])[:10]
        order = _schedule_order(activity, index)
        if event and event > as_of:
            later.append((event, order, text))
        else:
            this_visit.append((order, text))
    goal_texts = []
    for goal in goals:
        if goal.get("lifecycleStatus") in ("cancelled", "rejected", "entered-in-error"):
            continue
        targets = [{"comparator": (t.get("detailQuantity") or {}).get("comparator"),
                    "value": (t.get("detailQuantity") or {}).get("value"),
                    "unit": (t.get("detailQuantity") or {}).get("unit")} for t in goal.get("target") or []]
        goal_texts.append(_goal_text(say, say.pick(saved_texts(goal)) or
                                     str((goal.get("description") or {}).get("text") or ""), targets))
    return _copy(say, as_of, goal_texts, [text for _order, text in sorted(this_visit)],
                 [(say("on", date=say.date(when)), text) for when, _order, text in sorted(later)], contact,
                 careplan.get("status") == "active")


def _schedule_order(activity: Mapping[str, Any], default: int) -> int:
    """The activity's place in its part of the schedule (the visit-schedule extension's ``order``)."""
    for extension in activity.get("extension") or []:
        if extension.get("url") == VISIT_SCHEDULE_URL:
            for part in extension.get("extension") or []:
                if part.get("url") == "order" and isinstance(part.get("valueInteger"), int):
                    return part["valueInteger"]
    return default


def saved_texts(element: Mapping[str, Any]) -> dict[str, str]:
    """The patient texts carepath saved on a CarePlan activity or a Goal (``patient-text``), by language."""
    for extension in element.get("extension") or []:
        if extension.get("url") == PATIENT_TEXT_URL:
            parts = extension.get("extension") or []
            english = next((str(part.get("valueString") or "") for part in parts if part.get("url") == "text"), "")
            return ({"en": english} if english else {}) | {
                _part(part, "lang"): _part(part, "content") for part in parts if part.get("url") == TRANSLATION_URL}
    return {}


def patient_text_extension(texts: Mapping[str, str]) -> dict[str, Any] | None:
    """Patient texts for a CarePlan activity or a Goal, as the pack holds them: ``text`` (English) and a FHIR
    ``translation`` (``lang``, ``content``) for each other language."""
    if not texts.get("en"):
        return None
    return {"url": PATIENT_TEXT_URL, "extension": [
        {"url": "text", "valueString": texts["en"]},
        *({"url": TRANSLATION_URL, "extension": [{"url": "lang", "valueCode": lang},
                                                 {"url": "content", "valueString": text}]}
          for lang, text in texts.items() if lang != "en")]}


def _part(extension: Mapping[str, Any], name: str) -> str:
    return next((str(part.get("valueCode") or part.get("valueString") or "") for part in extension.get("extension")
                 or [] if part.get("url") == name), "")


def _copy(say: _Words, as_of: str, goals: list[str], today: list[str], later: list[tuple[str, str]],
          contact: str | None, final: bool) -> PatientCopy:
    return PatientCopy(
        language=say.language, title=say("title"), intro=say("intro", date=say.date(as_of)),
        notice="" if final else say("draft"), goals_heading=say("goals"), today_heading=say("today"),
        later_heading=say("later"), nothing=say("nothing"),
        contact=say("contact_named", name=contact) if contact else say("contact"),
        goals=[g for g in goals if g], today=[t for t in today if t], later=[(w, t) for w, t in later if t])


def _activity_text(say: _Words, activity: Mapping[str, Any]) -> str:
    return say.pick(activity.get("patient_text")) or str(activity.get("title") or activity.get("description") or "")


def _goal_text(say: _Words, text: str, targets: list[dict[str, Any]]) -> str:
    """The goal's sentence with ``{target}`` in words: 'below 7 %', 'below 130/80'."""
    if "{target}" not in text:
        return text
    values = [t.get("value") for t in targets if isinstance(t.get("value"), int | float)]
    if not values:
        return ""
    unit = targets[0].get("unit") or ""
    shown = "/".join(f"{value:g}" for value in values) + ("" if unit in _UNSHOWN_UNITS or not unit else f" {unit}")
    return text.replace("{target}", say(_COMPARATORS.get(str(targets[0].get("comparator")), "below"), value=shown))
