"""Approval and rejection of a draft by a clinician: versioned updates and a verifier Provenance."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.careplan import narrative, resources
from app.careplan.delivery import COMMITTED, UNKNOWN, Delivery, Journal, deliver
from app.careplan.existing import superseded_reason
from app.careplan.marker import answered_version, committed_version, mark, new_request_id
from app.careplan.model import CLINICIAN_EDIT_URL, RATIONALE_URL, TAG
from app.errors import CarepathError, FhirConflict, FhirError, FhirPreconditionFailed
from app.fhir import FhirClient

APPROVER_TYPES = ("Practitioner", "PractitionerRole")
ITEM_URL = f"{RATIONALE_URL}-item"


class NotAllowedToApprove(CarepathError):
    """Only a Practitioner or PractitionerRole may approve or reject a plan."""

    title = "Only a clinician can approve this plan"


class PlanChanged(CarepathError):
    """The plan changed on the server since the clinician read it (412); ``changes`` says how."""

    title = "Someone else changed this plan meanwhile"

    def __init__(self, message: str, *, changes: list[str], current: dict[str, Any]) -> None:
        super().__init__(message)
        self.changes = changes
        self.current = current


class DecisionNotRecorded(CarepathError):
    """The decision was not recorded: the server refused or kept failing, and a read-back shows no trace of it."""

    title = "Your decision was not recorded"

    def __init__(self, message: str, *, error: FhirError | None = None, unknown: bool = False) -> None:
        super().__init__(message)
        self.error = error
        #: True when carepath could not read the plan back to find out (the decision may have been recorded).
        self.unknown = unknown


@dataclass(frozen=True)
class Decision:
    """The clinician's verdict: which activities (by plan item id) are rejected, and why."""

    verifier: str
    rejected: Mapping[str, str] = field(default_factory=dict)
    #: Set to reject the whole plan (status ``revoked``) with this reason.
    reject_plan_reason: str | None = None
    #: Goals already in the record to mark superseded by this plan: Goal id -> the version the clinician read.
    supersede: Mapping[str, str] = field(default_factory=dict)
    #: Record goals the clinician chose to keep beside the plan (one-line labels, for the approval note).
    kept: tuple[str, ...] = ()


def check_approver(fhir_user: str | None) -> str:
    """The fhirUser reference when it names a Practitioner or PractitionerRole, else refuse."""
    resource_type = (fhir_user or "").split("/")[-2] if fhir_user and "/" in fhir_user else ""
    if resource_type not in APPROVER_TYPES:
        raise NotAllowedToApprove("patients and related persons can view the plan; a clinician approves it")
    return "/".join(fhir_user.rstrip("/").split("/")[-2:])  # type: ignore[union-attr]


def item_id(activity: Mapping[str, Any]) -> str | None:
    """The plan item id carepath wrote on a CarePlan activity."""
    return next((ext.get("valueString") for ext in activity.get("extension", []) if ext.get("url") == ITEM_URL), None)


def decided_items(careplan: Mapping[str, Any], decision: Decision) -> dict[str, list[str]]:
    """The plan items (rule ids) a decision accepts and rejects, and those rejected with a reason, for the audit
    log: ids only, never the reason's free text (it stays on the CarePlan). Rejecting the whole plan rejects each
    open item, with the plan's reason."""
    open_items = [key for activity in careplan.get("activity", [])
                  if (key := item_id(activity)) and (activity.get("detail") or {}).get("status") == "not-started"]
    if decision.reject_plan_reason:
        return {"acceptedRules": [], "rejectedRules": sorted(open_items), "rejectedWithReason": sorted(open_items)}
    rejected = sorted(key for key in decision.rejected if key in open_items)
    return {"acceptedRules": sorted(set(open_items) - set(rejected)), "rejectedRules": rejected,
            "rejectedWithReason": [key for key in rejected if decision.rejected[key]]}


def decide(client: FhirClient, careplan_id: str, version: str, decision: Decision, *, now: str,
           transaction: bool = True, organization: Mapping[str, Any] | None = None, request_id: str | None = None,
           journal: Journal | None = None, attempts: int = 3,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Approve (or reject) the version the clinician read and return the CarePlan as recorded.

    Someone else's change raises :class:`PlanChanged`; a decision the record does not hold after read-back raises
    :class:`DecisionNotRecorded`. ``organization`` is the Reference the clinician acts for
    (``Provenance.agent.onBehalfOf``), or None; ``request_id`` is stamped on the CarePlan so that a lost answer or
    a retry is settled by reading the plan back (:mod:`app.careplan.delivery`).
    """
    request_id = request_id or new_request_id()
    verifier = check_approver(decision.verifier)
    seen = client.get_json(f"CarePlan/{careplan_id}/_history/{version}")
    if not _has_tag(seen):
        raise NotAllowedToApprove("carepath only approves the drafts it wrote")
    goals = [client.read("Goal", ref["reference"].split("/")[-1]) for ref in seen.get("goal", [])]
    # Rejecting the plan leaves the record's goals as they are, whatever was chosen for them.
    superseded = [] if decision.reject_plan_reason else _superseded_goals(client, seen, decision, now)
    updated = _decided_careplan(seen, decision, verifier, now, superseded)
    # FHIR R4 goal-status: ``accepted`` is "a proposed goal was accepted or acknowledged"; ``active`` ("being
    # sought actively") is what the patient and care team do next, which an approval cannot know.
    goal_status = "rejected" if decision.reject_plan_reason else "accepted"
    decided_goals = [_decided_goal(goal, goal_status, decision, now) for goal in goals]
    updated["text"] = {"status": "generated", "div": narrative.decided_div(updated, decided_goals, verifier, now)}
    updated = mark(updated, request_id, author=verifier, now=now)
    entries = [_put(goal, goal["meta"]["versionId"]) for goal in decided_goals]
    # In the same transaction as the approval: the record goal is marked superseded only if the plan is approved.
    entries += [_put(goal, decision.supersede[goal["id"]]) for goal in superseded]
    entries.append({"resource": _verification(careplan_id, goals + superseded, verifier, decision, now,
                                              organization),
                    "request": {"method": "POST", "url": "Provenance"}})
    # The CarePlan, which carries the request id, goes last: without a transaction, finding the id on it means the
    # rest was written too.
    entries.append(_put(updated, version))
    if journal:
        journal.intent(careplan_id, version)
    answered: list[str] = []  # the CarePlan version id the write's answer named

    def send() -> None:
        named = answered_version(_send(client, entries, transaction))
        if named and named[0] == careplan_id:
            answered.append(named[1])

    def find() -> dict[str, Any] | None:
        # The version this decision produced is read directly: after the one the clinician read, never via a
        # history listing whose count the server may have cached.
        return committed_version(client, careplan_id, request_id, since=version,
                                 written=answered[-1] if answered else None)

    delivery = deliver(send, find, attempts=attempts, backoff=client.backoff, sleep=sleep)
    if delivery.committed and delivery.version is not None:
        if journal:
            journal.outcome(COMMITTED, careplan_id, str(delivery.version["meta"].get("versionId", "")),
                            read_back=delivery.read_back)
        return delivery.version
    if not isinstance(delivery.error, FhirPreconditionFailed | FhirConflict) or delivery.result == UNKNOWN:
        if journal:
            journal.outcome(delivery.result, careplan_id, version, read_back=delivery.read_back)
        raise DecisionNotRecorded(_not_recorded(delivery), error=delivery.error, unknown=delivery.result == UNKNOWN)
    if journal:
        journal.outcome("conflict", careplan_id, version, read_back=delivery.read_back)
    try:
        current = client.read("CarePlan", careplan_id)
        changed_goals = _changed_record_goals(client, superseded, decision)
    except FhirError as exc:  # the read-back showed the decision is not there; only the other change is unknown
        raise DecisionNotRecorded(_not_recorded(delivery), error=delivery.error) from exc
    now_at = str(current.get("meta", {}).get("versionId"))
    if now_at == version and changed_goals:
        message = "a goal in the record you chose to mark superseded changed since you read it"
        changes = changed_goals
    else:
        message = f"the plan is now at version {now_at}, you reviewed version {version}"
        changes = describe_changes(seen, current) + changed_goals
    raise PlanChanged(message, changes=changes, current=current) from delivery.error


def _send(client: FhirClient, entries: list[dict[str, Any]], transaction: bool) -> str | None:
    """The decision's writes: one transaction, or one by one (PUTs with If-Match, then the Provenance); returns
    the location the answer gave the CarePlan (the last entry), when it gave one."""
    if transaction:
        response = client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        answers = [entry for entry in response.get("entry") or [] if isinstance(entry, dict)]
        return (answers[-1].get("response") or {}).get("location") if len(answers) == len(entries) else None
    location = None
    for entry in entries:
        if entry["request"]["method"] == "PUT":
            response = client.update(entry["resource"], if_match=entry["request"]["ifMatch"])
            location = response.headers.get("Location") or response.headers.get("Content-Location")
        else:
            client.create(entry["resource"])
    return location


def _not_recorded(delivery: Delivery) -> str:
    """Why a decision is not recorded (or not known to be), for the clinician."""
    reason = delivery.error.message if delivery.error else "the server kept someone else's version"
    if delivery.result == UNKNOWN:
        return (f"carepath could not confirm whether your decision was recorded ({reason}) and could not read the "
                "plan back to check. Nothing will be sent again on its own: carepath checks the record the next "
                "time this plan is opened. Open the plan again before deciding: deciding twice is refused, never "
                "applied.")
    issues = "; ".join(getattr(delivery.error, "issues", []) or [])
    checked = " The plan was read back: it does not hold your decision." if delivery.read_back else ""
    return f"Nothing was recorded: {reason}{f' ({issues})' if issues else ''}.{checked} Your choices are kept below."


def _superseded_goals(client: FhirClient, careplan: Mapping[str, Any], decision: Decision,
                      now: str) -> list[dict[str, Any]]:
    """The record goals to mark superseded, as read at the version the clinician saw, updated; refuse others."""
    own = {ref.get("reference") for ref in careplan.get("goal", [])}
    subject = (careplan.get("subject") or {}).get("reference")
    result = []
    for goal_id, goal_version in decision.supersede.items():
        if f"Goal/{goal_id}" in own:
            raise NotAllowedToApprove("a goal of the plan itself cannot be marked superseded by it")
        seen = client.get_json(f"Goal/{goal_id}/_history/{goal_version}")
        if (seen.get("subject") or {}).get("reference") != subject:
            raise NotAllowedToApprove("only goals of the plan's patient can be marked superseded")
        result.append(_superseding(seen, careplan["id"], now))
    return result


def _superseding(goal: Mapping[str, Any], careplan_id: str, now: str) -> dict[str, Any]:
    """The record goal cancelled, saying which carepath plan supersedes it (R4 ``Goal.statusReason`` is a string)."""
    updated = copy.deepcopy(dict(goal))
    updated["lifecycleStatus"] = "cancelled"
    updated["statusDate"] = now[:10]
    updated["statusReason"] = superseded_reason(careplan_id)
    return updated


def _changed_record_goals(client: FhirClient, superseded: list[dict[str, Any]], decision: Decision) -> list[str]:
    """Sentences for the record goals whose version moved since the clinician read them."""
    changes = []
    for goal in superseded:
        current = client.read("Goal", goal["id"])
        if str(current.get("meta", {}).get("versionId")) != decision.supersede[goal["id"]]:
            text = (current.get("description") or {}).get("text") or "a goal"
            changes.append(f"the goal in the record '{text}' was changed (now {current.get('lifecycleStatus')})")
    return changes


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Plain sentences for what differs between two versions of a CarePlan."""
    changes = []
    if before.get("status") != after.get("status"):
        changes.append(f"plan status changed from {before.get('status')} to {after.get('status')}")
    old = {item_id(a) or str(i): a for i, a in enumerate(before.get("activity", []))}
    new = {item_id(a) or str(i): a for i, a in enumerate(after.get("activity", []))}
    for key in sorted(old.keys() | new.keys()):
        label = ((new.get(key) or old.get(key) or {}).get("detail") or {}).get("description", key)
        if key not in new:
            changes.append(f"activity removed: {label}")
        elif key not in old:
            changes.append(f"activity added: {label}")
        elif old[key].get("detail", {}).get("status") != new[key].get("detail", {}).get("status"):
            changes.append(f"activity '{label}': {old[key]['detail'].get('status')} -> "
                           f"{new[key]['detail'].get('status')}")
    if len(after.get("note", [])) != len(before.get("note", [])):
        changes.append("notes were added or removed")
    if [g.get("reference") for g in before.get("goal", [])] != [g.get("reference") for g in after.get("goal", [])]:
        changes.append("the list of goals changed")
    if not changes:
        changes.append("the plan was saved again by someone else (no change to status, activities or notes)")
    return changes


def _decided_careplan(seen: Mapping[str, Any], decision: Decision, verifier: str, now: str,
                      superseded: list[dict[str, Any]]) -> dict[str, Any]:
    careplan = copy.deepcopy(dict(seen))
    careplan.pop("meta", None)
    careplan["meta"] = {"tag": seen.get("meta", {}).get("tag", [])}
    careplan["status"] = "revoked" if decision.reject_plan_reason else "active"
    for activity in careplan.get("activity", []):
        reason = decision.rejected.get(item_id(activity) or "")
        if reason is not None and activity.get("detail", {}).get("status") == "not-started":
            activity["detail"]["status"] = "cancelled"
            activity["detail"]["statusReason"] = {"text": reason or "Rejected by the clinician"}
            activity.setdefault("extension", []).append(_edit(verifier, "rejected at approval"))
    text = (f"Plan rejected: {decision.reject_plan_reason}" if decision.reject_plan_reason
            else "Plan approved")
    if not decision.reject_plan_reason:
        # What became of the record's goals for the same measures, said where the chart's readers look.
        marked = [(g.get("description") or {}).get("text") or "a goal" for g in superseded]
        if marked:
            text += ". Goals in the record marked superseded: " + "; ".join(marked)
        if decision.kept:
            text += ". Goals in the record kept beside this plan: " + "; ".join(decision.kept)
    careplan.setdefault("note", []).append({"authorReference": {"reference": verifier}, "time": now, "text": text})
    contributors = careplan.setdefault("contributor", [])
    if {"reference": verifier} not in contributors:
        contributors.append({"reference": verifier})
    return careplan


def _decided_goal(goal: Mapping[str, Any], status: str, decision: Decision, now: str) -> dict[str, Any]:
    decided = copy.deepcopy(dict(goal))
    if decided.get("lifecycleStatus") == "proposed":
        decided["lifecycleStatus"] = status
        decided["statusDate"] = now[:10]
        if decision.reject_plan_reason:
            decided["statusReason"] = decision.reject_plan_reason
    return decided


def _verification(careplan_id: str, goals: list[dict[str, Any]], verifier: str, decision: Decision,
                  now: str, organization: Mapping[str, Any] | None) -> dict[str, Any]:
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "meta": {"tag": [TAG]},
        "target": [{"reference": f"CarePlan/{careplan_id}"}] + [{"reference": f"Goal/{g['id']}"} for g in goals],
        "recorded": now,
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "UPDATE", "display": "revise"}]},
        # US Core Provenance provenance-1: a Practitioner agent needs onBehalfOf (left out when none is known).
        "agent": [resources.agent(resources.participant("verifier", "Verifier"), {"reference": verifier},
                                  organization)],
    }
    if decision.reject_plan_reason:
        provenance["reason"] = [{"text": f"rejected: {decision.reject_plan_reason}"}]
    return provenance


def _put(resource: Mapping[str, Any], version: str) -> dict[str, Any]:
    return {"resource": dict(resource),
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}",
                        "ifMatch": f'W/"{version}"'}}


def _edit(verifier: str, what: str) -> dict[str, Any]:
    return {"url": CLINICIAN_EDIT_URL, "extension": [{"url": "author", "valueReference": {"reference": verifier}},
                                                      {"url": "change", "valueString": what}]}


def _has_tag(resource: Mapping[str, Any]) -> bool:
    return any(tag.get("system") == TAG["system"] and tag.get("code") == TAG["code"]
               for tag in resource.get("meta", {}).get("tag", []))
