"""The patient's active CarePlans and Goals already in the record, and where carepath's goals differ from them.

Read with one extra request: a batch Bundle of two searches (active CarePlans; planned, accepted, active and
on-hold Goals), or the same two GETs when the server has no batch; further pages only when a patient has more
than ``_count`` of them, never because of a long history of finished plans. The plan being reviewed (its
identifiers, or the CarePlan and Goals it references) is left out, so a plan never conflicts with itself;
carepath's own drafts are left out by status (``draft`` plans, ``proposed`` goals). An older carepath plan
that a clinician approved is listed like any other: it is an active plan in the record.

A carepath goal and a record goal are for the same measure when their ``target.measure`` codings share a code
(normalised with :func:`app.terminology.codes.key_of`; a blood pressure panel stands for its systolic and
diastolic components). They differ when a shared measure has another target (comparator, value, unit or range)
or when both have a due date and the dates differ.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from app.careplan import resources
from app.careplan.model import CAREPLAN_ID_SYSTEM, GOAL_ID_SYSTEM, TAG, Edits, goal_key, plan_key
from app.careplan.present import clean_text, human_date
from app.context.fetch import unreadable_message
from app.context.resources import ref, value_at
from app.context.units import finite_number
from app.errors import FhirError, FhirStatusError
from app.fhir import FhirClient
from app.fhir.capabilities import server_capabilities
from app.fhir.client import bundle_entries
from app.fhir.search import Outcome, get_many, pages_after
from app.terminology.codes import LOINC, key_of

log = logging.getLogger(__name__)

#: Goal.lifecycleStatus values of a goal that still stands (not proposed, cancelled, completed, rejected, in error).
OPEN_GOAL_STATUSES = ("planned", "accepted", "active", "on-hold")
#: Blood pressure panels -> their components: a record goal on the panel is a goal on both.
PANELS = {
    (LOINC, "85354-9"): frozenset({(LOINC, "8480-6"), (LOINC, "8462-4")}),
    (LOINC, "55284-4"): frozenset({(LOINC, "8480-6"), (LOINC, "8462-4")}),
}
SUPERSEDED_PREFIX = "superseded by carepath plan"
#: Answers to the batch that send the searches as plain GETs (no batch endpoint, or a proxy refusing it whole).
_FALLBACK_STATUSES = frozenset({400, 403, 404, 405, 422, 501})
Key = tuple[str, str]


def superseded_reason(careplan_id: str) -> str:
    """The ``Goal.statusReason`` written on a record goal a clinician marked superseded by this plan."""
    return f"{SUPERSEDED_PREFIX} CarePlan/{careplan_id}"


@dataclass(frozen=True)
class Own:
    """What belongs to the plan under review, so that it is never reported against itself."""

    refs: frozenset[str] = frozenset()
    identifiers: frozenset[str] = frozenset()

    @classmethod
    def of_plan(cls, plan: Mapping[str, Any]) -> Own:
        """The identifiers a plan's CarePlan and Goals get when saved (the same data gives the same ones)."""
        key = plan_key(plan)
        return cls(identifiers=frozenset({key, *(goal_key(key, g["id"]) for g in plan.get("goals", []))}))

    @classmethod
    def of_careplan(cls, careplan: Mapping[str, Any]) -> Own:
        """A saved CarePlan and the Goals it references."""
        refs = {f"CarePlan/{careplan.get('id')}"} | {g.get("reference", "") for g in careplan.get("goal", [])}
        values = {i.get("value") for i in careplan.get("identifier", []) if i.get("system") == CAREPLAN_ID_SYSTEM}
        return cls(refs=frozenset(refs), identifiers=frozenset(v for v in values if v))

    def holds(self, resource: Mapping[str, Any]) -> bool:
        """True for the CarePlan or a Goal of the plan under review."""
        if f"{resource.get('resourceType')}/{resource.get('id')}" in self.refs:
            return True
        return any(i.get("system") in (CAREPLAN_ID_SYSTEM, GOAL_ID_SYSTEM) and i.get("value") in self.identifiers
                   for i in resource.get("identifier", []) if isinstance(i, Mapping))


@dataclass(frozen=True)
class Target:
    """One target of a goal: the measures it is for, a comparable form of its detail, its text and due date."""

    keys: frozenset[Key]
    detail: tuple[Any, ...]
    text: str
    due: str | None
    #: (comparator, value, unit) as shown, for a quantity: several targets then read ``< 140/90 mmHg``.
    parts: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class RecordPlan:
    """An active CarePlan of the record, as the review page lists it."""

    ref: dict[str, Any]
    title: str
    author: str
    period: str
    status: str
    from_carepath: bool


@dataclass(frozen=True)
class RecordGoal:
    """A goal of the record that still stands, as the review and approval pages show it."""

    ref: dict[str, Any]
    description: str
    status: str
    author: str
    set_on: str | None
    due: str | None
    target: str
    plan: str | None
    from_carepath: bool
    targets: tuple[Target, ...] = ()

    @property
    def id(self) -> str:
        """The Goal's id on the server."""
        return str(self.ref["id"])

    @property
    def version(self) -> str:
        """The version read (the one an update must match)."""
        return str(self.ref.get("version") or "")

    @property
    def status_phrase(self) -> str:
        """``an active``, ``a planned``... for sentences."""
        return ("an " if self.status[:1] in "aeiou" else "a ") + self.status

    @property
    def label(self) -> str:
        """``BP below 140/90 (target < 140/90 mmHg), set by Dr X on 2 Jan 2024``: one line, no ids."""
        text = self.description + (f" (target {self.target})" if self.target else "")
        text += f", set by {self.author}" + (f" on {human_date(self.set_on)}" if self.set_on else "")
        return text


@dataclass(frozen=True)
class Conflict:
    """A record goal for a measure a carepath goal also sets, and what differs between them."""

    goal: RecordGoal
    differences: tuple[str, ...]

    @property
    def differs(self) -> bool:
        """True when the target or the due date differ (else the record already holds the same goal)."""
        return bool(self.differences)


@dataclass(frozen=True)
class Choice:
    """A record goal the approval form asks about: mark it superseded, or keep both (the default)."""

    goal: RecordGoal
    proposed: tuple[str, ...]
    differences: tuple[str, ...]


@dataclass
class Existing:
    """What the record already holds: active CarePlans, standing Goals, and what could not be read."""

    plans: list[RecordPlan] = field(default_factory=list)
    goals: list[RecordGoal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Goals read by id (``extra_goal_ids``), whatever their status: for the confirmation after approval.
    extra: list[dict[str, Any]] = field(default_factory=list)

    def conflicts(self, goal: Mapping[str, Any]) -> list[Conflict]:
        """The record goals for a measure of ``goal`` (a FHIR Goal), each with what differs."""
        proposed = goal_targets(goal)
        found = []
        for record in self.goals:
            difference = compare(proposed, record.targets)
            if difference is not None:
                found.append(Conflict(record, difference))
        return found

    def plan_conflicts(self, plan: Mapping[str, Any]) -> dict[str, list[Conflict]]:
        """Plan goal id -> its conflicts, comparing the Goals saving the plan would write."""
        result = {}
        for item in plan.get("goals", []):
            found = self.conflicts(resources.goal(plan, item, "", Edits()))
            if found:
                result[item["id"]] = found
        return result

    def choices(self, goals: Iterable[Mapping[str, Any]]) -> list[Choice]:
        """One choice per record goal that a goal of the plan (FHIR Goals) conflicts with, in record order."""
        proposed: dict[str, list[str]] = {}
        differences: dict[str, list[str]] = {}
        for goal in goals:
            for conflict in self.conflicts(goal):
                proposed.setdefault(conflict.goal.id, []).append((goal.get("description") or {}).get("text", ""))
                differences.setdefault(conflict.goal.id, []).extend(conflict.differences)
        return [Choice(g, tuple(dict.fromkeys(proposed[g.id])), tuple(dict.fromkeys(differences[g.id])))
                for g in self.goals if g.id in proposed]


def read_existing(client: FhirClient, patient_id: str, *, own: Own = Own(), types: Iterable[str] = ("CarePlan", "Goal"),
                  extra_goal_ids: Iterable[str] = ()) -> Existing:
    """The patient's active CarePlans and standing Goals, in one batch (or the same GETs without batch).

    ``types`` are those the launch may read; the others are named in ``notes``. ``extra_goal_ids`` are read by
    id in the same batch, whatever their status.
    """
    readable = set(types)
    existing = Existing()
    searches: list[tuple[str, str]] = []
    count = str(client.page_count)
    if "CarePlan" in readable:
        searches.append(("CarePlan", _url("CarePlan", [("patient", patient_id), ("status", "active"),
                                                        ("_count", count)])))
    if "Goal" in readable:
        searches.append(("Goal", _url("Goal", [("patient", patient_id),
                                               ("lifecycle-status", ",".join(OPEN_GOAL_STATUSES)),
                                               ("_count", count)])))
        extra = sorted(set(extra_goal_ids))
        if extra:
            searches.append(("extra", _url("Goal", [("patient", patient_id), ("_id", ",".join(extra))])))
    for resource_type in ("CarePlan", "Goal"):
        if resource_type not in readable:
            existing.notes.append(f"could not see {resource_type}: scope not granted")
    if not searches:
        return existing
    found: dict[str, list[dict[str, Any]]] = {"CarePlan": [], "Goal": [], "extra": []}
    try:
        outcomes = _get_all(client, [url for _, url in searches])
    except FhirError as error:
        # The page still shows the plan, saying plainly that the record's plans could not be checked.
        existing.notes += [_unreadable(t, error) for t in ("CarePlan", "Goal") if t in readable]
        return existing
    for (kind, _), outcome in zip(searches, outcomes, strict=True):
        found[kind] = _collect(client, kind, outcome, existing.notes)
    subject = f"Patient/{patient_id}"
    plans = [p for p in found["CarePlan"] if p.get("resourceType") == "CarePlan" and p.get("status") == "active"
             and _subject(p) == subject and not own.holds(p)]
    plan_of_goal = {ref.get("reference"): _plan_title(plan) for plan in plans for ref in plan.get("goal", [])}
    existing.plans = [_record_plan(plan) for plan in plans]
    existing.goals = [_record_goal(goal, plan_of_goal.get(f"Goal/{goal.get('id')}")) for goal in found["Goal"]
                      if goal.get("resourceType") == "Goal" and goal.get("lifecycleStatus") in OPEN_GOAL_STATUSES
                      and _subject(goal) == subject and not own.holds(goal)]
    existing.extra = [g for g in found["extra"] if g.get("resourceType") == "Goal" and _subject(g) == subject]
    return existing


def superseded_by(existing: Existing, careplan_id: str) -> list[RecordGoal]:
    """The goals read by id (``extra_goal_ids``) that are cancelled as superseded by this CarePlan."""
    reason = superseded_reason(careplan_id)
    return [_record_goal(g, None) for g in existing.extra
            if g.get("lifecycleStatus") == "cancelled" and g.get("statusReason") == reason]


def goal_targets(goal: Mapping[str, Any]) -> tuple[Target, ...]:
    """The targets of a FHIR Goal that name a coded measure."""
    targets = []
    for target in goal.get("target") or []:
        if not isinstance(target, Mapping):
            continue
        keys = set()
        for coding in (target.get("measure") or {}).get("coding") or []:
            key = key_of(coding.get("system"), coding.get("code")) if isinstance(coding, Mapping) else None
            if key:
                keys.add(key)
                keys |= PANELS.get(key, frozenset())
        if keys:
            targets.append(Target(frozenset(keys), _detail(target), _detail_text(target), target.get("dueDate"),
                                  _quantity_parts(target)))
    return tuple(targets)


def compare(proposed: Iterable[Target], record: Iterable[Target]) -> tuple[str, ...] | None:
    """None when no measure is shared; else what differs (``target``, ``due date``), empty when nothing does."""
    proposed, record = list(proposed), list(record)
    shared = False
    differences = []
    for mine in proposed:
        for theirs in record:
            if not mine.keys & theirs.keys:
                continue
            shared = True
            if mine.detail != theirs.detail:
                differences.append("target")
    if not shared:
        return None
    mine_due = next((t.due for t in proposed if t.due), None)
    their_due = next((t.due for t in record if t.due), None)
    if mine_due and their_due and mine_due != their_due:
        differences.append("due date")
    return tuple(dict.fromkeys(differences))


def target_text(targets: Iterable[Target]) -> str:
    """``< 140/90 mmHg`` when the targets share comparator and unit, else each target's text joined by ``; ``."""
    targets = list(targets)
    parts = [t.parts for t in targets]
    if len(parts) > 1 and all(parts) and len({(p[0], p[2]) for p in parts if p}) == 1:
        comparator, _, unit = parts[0]  # type: ignore[misc]
        return " ".join(x for x in (comparator, "/".join(p[1] for p in parts if p), unit) if x)
    return "; ".join(t.text for t in targets if t.text)


def choices_from_form(choices: Iterable[Choice], form: Mapping[str, Any],
                      valid_version: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """(goal id -> version the clinician read, for those to mark superseded; labels of those kept beside the plan).

    Anything but ``supersede`` keeps both; the version comes from the form when it is a valid id, else the one
    read now (then If-Match still protects a goal changed meanwhile).
    """
    supersede: dict[str, str] = {}
    kept: list[str] = []
    for choice in choices:
        if form.get(f"existing-{choice.goal.id}") == "supersede":
            version = str(form.get(f"existing-version-{choice.goal.id}", ""))
            supersede[choice.goal.id] = version if valid_version(version) else choice.goal.version
        else:
            kept.append(choice.goal.label)
    return supersede, tuple(kept)


def _get_all(client: FhirClient, urls: list[str]) -> list[Outcome]:
    """The searches in one batch Bundle when the server has batch; else plain GETs."""
    caps = server_capabilities(client)
    if caps.batch or caps.transaction:
        try:
            return get_many(client, urls, batch=True, parallel=1)
        except FhirStatusError as error:
            if error.status not in _FALLBACK_STATUSES:
                raise
    return get_many(client, urls, batch=False)


def _collect(client: FhirClient, kind: str, outcome: Outcome, notes: list[str]) -> list[dict[str, Any]]:
    resource_type = "Goal" if kind == "extra" else kind
    if outcome.error is not None:
        notes.append(_unreadable(resource_type, outcome.error))
        return []
    bundle = outcome.resource or {}
    pages = [bundle]
    try:
        # Standing plans and goals are few; every page is read so that none is missed.
        pages += list(pages_after(client, bundle))
    except FhirError as error:
        notes.append(_unreadable(resource_type, error, partial=True))
    try:
        entries = [entry for page in pages for entry in bundle_entries(page)]
    except FhirError as error:
        notes.append(_unreadable(resource_type, error))
        return []
    return [entry["resource"] for entry in entries if isinstance(entry.get("resource"), dict)
            and value_at(entry, "search.mode") in (None, "match")]


def _unreadable(resource_type: str, error: FhirError, *, partial: bool = False) -> str:
    log.warning("existing plans not read", extra={"resource_type": resource_type, "error_type": type(error).__name__})
    return unreadable_message(resource_type, error, partial=partial)


def _record_plan(plan: Mapping[str, Any]) -> RecordPlan:
    period = plan.get("period") or {}
    start, end = period.get("start"), period.get("end")
    start, end = human_date(_day(start)), human_date(_day(end))
    shown = f"{start} to {end}" if start and end else (f"from {start}" if start else (f"until {end}" if end else ""))
    author = _who(plan.get("author")) or next((_who(c) for c in plan.get("contributor") or [] if _who(c)), "")
    return RecordPlan(ref=_ref(plan), title=_plan_title(plan), author=author or "author not recorded",
                      period=shown, status=str(plan.get("status", "")), from_carepath=_from_carepath(plan))


def _record_goal(goal: Mapping[str, Any], plan: str | None) -> RecordGoal:
    targets = goal_targets(goal)
    all_targets = [t for t in goal.get("target") or [] if isinstance(t, Mapping)]
    text = target_text(targets) or "; ".join(t for t in (_detail_text(t) for t in all_targets) if t)
    due = next((t.get("dueDate") for t in all_targets if t.get("dueDate")), None)
    description = (goal.get("description") or {})
    shown = description.get("text") or next((c.get("display") for c in description.get("coding") or []
                                             if c.get("display")), "") or "(no description)"
    return RecordGoal(
        ref=_ref(goal), description=str(shown), status=str(goal.get("lifecycleStatus", "")),
        author=_who(goal.get("expressedBy")) or "author not recorded",
        set_on=_day(goal.get("startDate") or goal.get("statusDate")) or None, due=due, target=text, plan=plan,
        from_carepath=_from_carepath(goal), targets=targets,
    )


def _detail(target: Mapping[str, Any]) -> tuple[Any, ...]:
    """A comparable form of a target's detail: comparator, value and UCUM unit; low/high of a range."""
    quantity = target.get("detailQuantity")
    if isinstance(quantity, Mapping):
        return ("quantity", quantity.get("comparator") or "=", _number(quantity.get("value")), _unit(quantity))
    range_ = target.get("detailRange")
    if isinstance(range_, Mapping):
        low, high = range_.get("low") or {}, range_.get("high") or {}
        return ("range", _number(low.get("value")), _number(high.get("value")), _unit(low) or _unit(high))
    others = {k: v for k, v in target.items() if k.startswith("detail")}
    return ("other", json.dumps(others, sort_keys=True))


def _detail_text(target: Mapping[str, Any]) -> str:
    parts = _quantity_parts(target)
    if parts:
        return " ".join(p for p in parts if p)
    range_ = target.get("detailRange")
    if isinstance(range_, Mapping):
        low, high = range_.get("low") or {}, range_.get("high") or {}
        unit = low.get("unit") or high.get("unit") or ""
        return f"between {_shown(low.get('value'))} and {_shown(high.get('value'))} {unit}".strip()
    for key in ("detailString", "detailInteger", "detailBoolean"):
        if key in target:
            return str(target[key])
    concept = target.get("detailCodeableConcept") or {}
    return str(concept.get("text") or next((c.get("display") for c in concept.get("coding") or []), "") or "")


def _quantity_parts(target: Mapping[str, Any]) -> tuple[str, str, str] | None:
    quantity = target.get("detailQuantity")
    if not isinstance(quantity, Mapping):
        return None
    return (str(quantity.get("comparator") or ""), _shown(quantity.get("value")),
            str(quantity.get("unit") or quantity.get("code") or ""))


def _number(value: Any) -> float | None:
    if isinstance(value, str):  # a target sent as "7.0": the number it spells
        try:
            value = float(value)
        except ValueError:
            return None
    number = finite_number(value)
    return None if number is None else round(number, 6)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    number = finite_number(value)
    return f"{number:g}" if number is not None else str(value)[:40]


def _unit(quantity: Mapping[str, Any]) -> str:
    """The UCUM code of a quantity (``mmHg`` and ``mm[Hg]`` compare equal)."""
    code = quantity.get("code") or quantity.get("unit") or ""
    return resources.UCUM_CODES.get(code, code)


def _who(reference: Any) -> str:
    if not isinstance(reference, Mapping):
        return ""
    return clean_text(str(reference.get("display") or reference.get("reference") or ""))


def _plan_title(plan: Mapping[str, Any]) -> str:
    categories = [c.get("text") or next((x.get("display") for x in c.get("coding") or [] if x.get("display")), "")
                  for c in plan.get("category") or [] if isinstance(c, Mapping)]
    return str(plan.get("title") or plan.get("description") or next((c for c in categories if c), "")
               or "Care plan (no title)")


def _ref(resource: Mapping[str, Any]) -> dict[str, Any]:
    return ref(dict(resource))


def _subject(resource: Mapping[str, Any]) -> str:
    reference = str((resource.get("subject") or {}).get("reference") or "")
    return "/".join(reference.split("/_history")[0].split("/")[-2:])


def _from_carepath(resource: Mapping[str, Any]) -> bool:
    return any(t.get("system") == TAG["system"] and t.get("code") == TAG["code"]
               for t in (resource.get("meta") or {}).get("tag") or [])


def _day(value: Any) -> str:
    return str(value)[:10] if value else ""


def _url(resource_type: str, params: list[tuple[str, str]]) -> str:
    return f"{resource_type}?{urlencode(params, safe=':/|,')}"
