"""Saving the clinician's plan truthfully: create or update the draft, read it back, compare, and say what holds.

- No draft of this plan yet: the draft is created (conditional creates, as :func:`draft_bundle` builds them).
- A draft of this plan exists and the clinician's page was based on its current version: the edits update it
  (:func:`update_bundle`, ``If-Match`` on that version).
- A draft exists that the page did not show (someone saved meanwhile): nothing is sent; the clinician is told
  who saved it and when and how it differs from their entries, which stay on the page.

Whatever the server answers, the record is read back (:mod:`app.careplan.delivery`) and compared with what
was submitted (activities kept or unticked, goal targets, the note) before anyone is told "saved".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.careplan.approval import item_id
from app.careplan.bundle import draft_bundle, now_instant, update_bundle
from app.careplan.delivery import COMMITTED, NOT_COMMITTED, UNKNOWN, Journal, deliver
from app.careplan.marker import answered_version, committed_version, request_of, stamp
from app.careplan.model import Edits, plan_key, planned_schedule, saved_targets
from app.careplan.writer import careplan_goals, find_open_draft, find_same_plan, save_draft
from app.engine.schedule import scheduled_date
from app.errors import CarepathError, FhirConflict, FhirError, FhirPreconditionFailed
from app.fhir import FhirClient
from app.formats import human_date

SAVED, DIFFERS, CONFLICT, NOT_SAVED, UNKNOWN_OUTCOME, DECIDED = (
    "saved", "differs", "conflict", "not-saved", "unknown", "decided")
_BASED_ON = re.compile(r"^CarePlan/([A-Za-z0-9\-.]{1,64})/_history/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class BasedOn:
    """The draft version the clinician's page showed (``CarePlan/30/_history/2`` in the form)."""

    careplan_id: str
    version: str

    @classmethod
    def parse(cls, text: str | None) -> BasedOn | None:
        """The version named by the form field, or None when it names none (a new plan) or is malformed."""
        match = _BASED_ON.match(text or "")
        return cls(match.group(1), match.group(2)) if match else None

    def __str__(self) -> str:
        return f"CarePlan/{self.careplan_id}/_history/{self.version}"


@dataclass
class SaveOutcome:
    """What the record holds after a save, and how it differs from what the clinician submitted."""

    status: str
    #: The draft as read back (saved, differs), the draft that conflicts, or the decided plan.
    careplan: dict[str, Any] | None = None
    differences: list[str] = field(default_factory=list)
    #: True when the record holds this save (None: carepath could not find out).
    committed: bool | None = False
    #: True when a read-back settled an answer that was missing or failed.
    read_back: bool = False
    error: FhirError | None = None
    #: The version id this save produced, as found by the read-back (the draft may have moved on since).
    written_version: str | None = None

    @property
    def version(self) -> str | None:
        """The version id of :attr:`careplan`."""
        return version_of(self.careplan) if self.careplan else None

    @property
    def audit_result(self) -> str:
        """The outcome as the audit log words it."""
        if self.status == CONFLICT:
            return "conflict"
        return {True: COMMITTED, False: NOT_COMMITTED, None: UNKNOWN}[self.committed]

    @property
    def written_by(self) -> tuple[str | None, str | None]:
        """(author reference, time) of the write that produced :attr:`careplan`, as stamped on it."""
        found = stamp(self.careplan or {})
        return found.get("author"), found.get("time") or ((self.careplan or {}).get("meta") or {}).get("lastUpdated")


def save(client: FhirClient, plan: Mapping[str, Any], edits: Edits, *, request_id: str,
         based_on: BasedOn | None = None, journal: Journal | None = None, transaction: bool = True,
         organization: Mapping[str, Any] | None = None, now: str | None = None, attempts: int = 3,
         sleep: Callable[[float], None] = time.sleep) -> SaveOutcome:
    """Save the clinician's plan as the draft; the outcome is what a read-back of the record shows."""
    if journal:
        journal.intent(*((based_on.careplan_id, based_on.version) if based_on else ()))
    sent: list[int] = []
    try:
        outcome = _save(client, plan, edits, request_id=request_id, based_on=based_on, transaction=transaction,
                        organization=organization, now=now or now_instant(), attempts=attempts, sleep=sleep,
                        sent=sent)
    except CarepathError:
        if journal:
            journal.outcome(UNKNOWN if sent else NOT_COMMITTED, read_back=False)
        raise
    if journal:
        careplan_id = (outcome.careplan or {}).get("id")
        journal.outcome(outcome.audit_result, careplan_id, outcome.written_version or outcome.version,
                        read_back=outcome.read_back)
    return outcome


def _save(client: FhirClient, plan: Mapping[str, Any], edits: Edits, *, request_id: str,
          based_on: BasedOn | None, transaction: bool, organization: Mapping[str, Any] | None, now: str,
          attempts: int, sleep: Callable[[float], None], sent: list[int]) -> SaveOutcome:
    identifier, patient_id = plan_key(plan), str(plan["patient_id"])
    current = find_same_plan(client, patient_id, identifier)
    # Versions after the one the page showed are the only ones this save can have produced.
    since = based_on.version if based_on and current and based_on.careplan_id == current["id"] else None
    if current is not None:
        held = committed_version(client, current["id"], request_id, current, since=since)
        if held is not None:
            return _verified(client, plan, edits, held, request_id, read_back=True)  # a resubmission that holds
        if current.get("status") != "draft":
            return SaveOutcome(DECIDED, careplan=current)
        if based_on != BasedOn(current["id"], version_of(current)):
            return _conflict(client, plan, edits, current)
        bundle = update_bundle(plan, edits, current, careplan_goals(client, current), version=version_of(current),
                               request_id=request_id, now=now, organization=organization)
    else:
        bundle = draft_bundle(plan, edits, replaces=find_open_draft(client, patient_id), organization=organization,
                              now=now, request_id=request_id)

    index = next(i for i, entry in enumerate(bundle["entry"]) if entry["resource"]["resourceType"] == "CarePlan")
    answered: list[tuple[str, str]] = []  # (CarePlan id, version id) the write's answer named

    def send() -> None:
        sent.append(1)
        if transaction:
            response = client.transaction(bundle)  # not retried inside the client: deliver() reads back first
            locations = [(entry.get("response") or {}).get("location") for entry in response.get("entry") or []
                         if isinstance(entry, dict)]
        else:
            locations = save_draft(client, bundle, transaction=False).locations
        named = answered_version(locations[index] if index < len(locations) else None)
        if named:
            answered.append(named)

    def find() -> dict[str, Any] | None:
        found = find_same_plan(client, patient_id, identifier)
        if found is None:
            return None
        written = answered[-1][1] if answered and answered[-1][0] == found["id"] else None
        return committed_version(client, found["id"], request_id, found, since=since, written=written)

    delivery = deliver(send, find, attempts=attempts, backoff=client.backoff, sleep=sleep)
    if delivery.result == UNKNOWN:
        return SaveOutcome(UNKNOWN_OUTCOME, committed=None, read_back=True, error=delivery.error)
    if delivery.committed:
        return _verified(client, plan, edits, delivery.version or {}, request_id, read_back=delivery.read_back)
    overtaken = delivery.error is None or isinstance(delivery.error, FhirPreconditionFailed | FhirConflict)
    try:
        latest = find_same_plan(client, patient_id, identifier) if overtaken else None
    except FhirError as exc:  # the read-back showed the save is not there; only who got there first is unknown
        return SaveOutcome(NOT_SAVED, read_back=True, error=delivery.error or exc)
    if latest is not None:
        # Someone else's save got there first (a version moved on, or a conditional create matched theirs).
        if latest.get("status") != "draft":
            return SaveOutcome(DECIDED, careplan=latest)
        return _conflict(client, plan, edits, latest)
    return SaveOutcome(NOT_SAVED, read_back=delivery.read_back, error=delivery.error)


def _verified(client: FhirClient, plan: Mapping[str, Any], edits: Edits, committed: Mapping[str, Any],
              request_id: str, *, read_back: bool) -> SaveOutcome:
    """The save as the record now holds it (current CarePlan and Goals), compared with what was submitted."""
    written = version_of(committed) or None
    try:
        current = client.read("CarePlan", committed["id"])
        goals = careplan_goals(client, current)
    except FhirError as exc:
        return SaveOutcome(UNKNOWN_OUTCOME, careplan=dict(committed), committed=True, read_back=read_back, error=exc,
                           written_version=written)
    found = differences(plan, edits, current, goals)
    if request_of(current) != request_id:
        # Someone saved after this save committed (before it was read back): what it wrote is not the draft now.
        found.insert(0, f"the draft was saved again after your save (your save is version {written or '?'}, "
                        f"the record is now at version {version_of(current) or '?'})")
    return SaveOutcome(DIFFERS if found else SAVED, careplan=current, differences=found, committed=True,
                       read_back=read_back, written_version=written)


def _conflict(client: FhirClient, plan: Mapping[str, Any], edits: Edits, current: Mapping[str, Any]) -> SaveOutcome:
    """Someone else's version of the draft: how it differs from the clinician's entries (nothing is sent)."""
    goals = careplan_goals(client, current, skip_unreadable=True)
    found = differences(plan, edits, current, goals)
    for note in current.get("note") or []:
        author = (note.get("authorReference") or {}).get("reference") or "someone"
        if author != edits.author and note.get("text"):
            # The author is named on the page's list of the draft's notes; here only that it is someone else's.
            found.append(f"the saved draft has another author's note: \u201c{note['text']}\u201d (saving keeps it)")
    return SaveOutcome(CONFLICT, careplan=dict(current), differences=found)


def differences(plan: Mapping[str, Any], edits: Edits, careplan: Mapping[str, Any],
                goals: Sequence[Mapping[str, Any]]) -> list[str]:
    """Sentences for each thing the record holds otherwise than the clinician submitted (empty: it matches)."""
    found = []
    in_record = {item_id(activity): activity for activity in careplan.get("activity") or []}
    for activity in plan.get("activities", []):
        title = activity.get("title") or activity["description"]
        wanted = "cancelled" if activity["id"] in edits.deselected else "not-started"
        held = ((in_record.get(activity["id"]) or {}).get("detail") or {}).get("status")
        if held is None:
            found.append(f"activity \u201c{title}\u201d is not in the record")
        elif held != wanted:
            found.append(f"activity \u201c{title}\u201d: you {'unticked' if wanted == 'cancelled' else 'kept'} it, "
                         f"the record has it {'selected' if held == 'not-started' else held}")
    schedule = planned_schedule(plan, edits)
    for activity in plan.get("activities", []):
        wanted_date = scheduled_date(schedule, activity["id"], str(plan["as_of"]))
        timing = ((in_record.get(activity["id"]) or {}).get("detail") or {}).get("scheduledTiming") or {}
        held_date = str((timing.get("event") or [""])[0])[:10]
        if wanted_date and held_date and held_date != wanted_date:
            found.append(f"activity \u201c{activity.get('title') or activity['description']}\u201d: you scheduled it "
                         f"for {human_date(wanted_date)}, the record has {human_date(held_date)}")
    targets = saved_targets(plan, plan_key(plan), goals)
    for goal in plan.get("goals", []):
        listed = goal.get("targets") or ([goal["target"]] if goal.get("target") else [])
        if len(listed) != 1:
            continue  # several targets (blood pressure): not editable, written as generated
        wanted_value = float(edits.goal_targets.get(goal["id"], listed[0].get("value")))
        held_value = targets.get(goal["id"])
        if held_value is None:
            found.append(f"goal \u201c{goal['description']}\u201d is not in the record")
        elif abs(held_value - wanted_value) > 1e-9:
            found.append(f"goal \u201c{goal['description']}\u201d: you set the target to {wanted_value:g}, "
                         f"the record holds {held_value:g}")
    note = edits.note.strip()
    if note and not any(item.get("text") == note and (item.get("authorReference") or {}).get("reference")
                        == edits.author for item in careplan.get("note") or []):
        found.append("your note is not in the record")
    return found


def version_of(resource: Mapping[str, Any]) -> str:
    """The resource's ``meta.versionId`` as text ('' when it has none)."""
    return str((resource.get("meta") or {}).get("versionId") or "")
