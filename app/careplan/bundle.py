"""The draft as one transaction Bundle: Goals, CarePlan and Provenance, retry-safe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.careplan import resources
from app.careplan.marker import mark
from app.careplan.model import (
    CAREPLAN_ID_SYSTEM,
    GOAL_ID_SYSTEM,
    PROVENANCE_KEY_SYSTEM,
    TAG,
    Edits,
    goal_key,
    plan_key,
    token,
    urn,
    validate_edits,
)


@dataclass(frozen=True)
class Replacement:
    """An open draft the new one replaces: it is revoked in the same transaction, with If-Match."""

    careplan: Mapping[str, Any]
    goals: tuple[Mapping[str, Any], ...] = ()


def now_instant() -> str:
    """The current time as a FHIR instant (UTC, seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def draft_bundle(plan: Mapping[str, Any], edits: Edits | None = None, *, now: str | None = None,
                 replaces: Replacement | None = None,
                 organization: Mapping[str, Any] | None = None, request_id: str | None = None) -> dict[str, Any]:
    """The transaction Bundle that saving ``plan`` sends; the same input gives the same bundle.

    ``organization`` is the Reference carepath acts for (``Provenance.agent.onBehalfOf``), or None;
    ``request_id`` is stamped on the CarePlan (:mod:`app.careplan.marker`) when given.
    """
    edits = edits or Edits()
    validate_edits(plan, edits)
    now = now or now_instant()
    identifier = plan_key(plan)
    if replaces and _identifier(replaces.careplan) == identifier:
        replaces = None  # nothing new since that draft: saving resumes it instead of revoking it
    careplan_urn = urn(CAREPLAN_ID_SYSTEM, identifier)
    goal_ids = {goal["id"]: goal_key(identifier, goal["id"]) for goal in plan.get("goals", [])}
    goal_urns = {goal_id: urn(GOAL_ID_SYSTEM, value) for goal_id, value in goal_ids.items()}

    entries = []
    for item in plan.get("goals", []):
        value = goal_ids[item["id"]]
        entries.append(_conditional(goal_urns[item["id"]], resources.goal(plan, item, value, edits),
                                    f"identifier={token(GOAL_ID_SYSTEM, value)}"))
    replaced = f"CarePlan/{replaces.careplan['id']}" if replaces else None
    careplan = resources.careplan(plan, identifier=identifier, goal_urns=goal_urns, edits=edits, now=now,
                                  replaces=replaced)
    if request_id:
        careplan = mark(careplan, request_id, author=edits.author, now=now)
    entries.append(_conditional(careplan_urn, careplan, f"identifier={token(CAREPLAN_ID_SYSTEM, identifier)}"))
    entries.append(_conditional(
        urn(PROVENANCE_KEY_SYSTEM, identifier),
        resources.provenance(plan, key=identifier, targets=[careplan_urn, *goal_urns.values()],
                             edits=edits, now=now, organization=organization),
        f"_tag={token(PROVENANCE_KEY_SYSTEM, identifier)}",
    ))
    if replaces:
        entries.extend(revoke_entries(replaces, now))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def update_bundle(plan: Mapping[str, Any], edits: Edits, current: Mapping[str, Any],
                  goals: Sequence[Mapping[str, Any]], *, version: str, request_id: str, now: str | None = None,
                  organization: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The transaction that writes the clinician's edits over the open draft of the same plan.

    Every PUT carries ``If-Match``: the CarePlan on ``version`` (the one the clinician's page showed), each Goal
    on the version read now. The draft keeps its notes and contributors; a new note is added to them. A Provenance
    (activity UPDATE, the clinician as enterer) is created in the same transaction.
    """
    validate_edits(plan, edits)
    now = now or now_instant()
    identifier = plan_key(plan)
    by_key = {value: goal for goal in goals for value in _goal_keys(goal)}
    references: dict[str, str] = {}
    entries = []
    for item in plan.get("goals", []):
        value = goal_key(identifier, item["id"])
        resource = resources.goal(plan, item, value, edits)
        existing = by_key.get(value)
        if existing is None:  # not in the draft (it was edited elsewhere): created with it
            references[item["id"]] = urn(GOAL_ID_SYSTEM, value)
            entries.append(_conditional(references[item["id"]], resource,
                                        f"identifier={token(GOAL_ID_SYSTEM, value)}"))
            continue
        references[item["id"]] = f"Goal/{existing['id']}"
        entries.append(_put({**resource, "id": existing["id"]}, str((existing.get("meta") or {}).get("versionId"))))
    careplan = resources.careplan(plan, identifier=identifier, goal_urns=references, edits=edits, now=now)
    careplan.update(id=current["id"], created=current.get("created", now))
    for name in ("replaces", "note", "contributor"):
        earlier = [item for item in current.get(name) or [] if item not in careplan.get(name, [])]
        if earlier:  # notes in the order written; contributors after carepath and this clinician
            ours = careplan.get(name, [])
            careplan[name] = earlier + ours if name == "note" else ours + earlier
    entries.append(_put(mark(careplan, request_id, author=edits.author, now=now), version))
    targets = [f"CarePlan/{current['id']}", *references.values()]
    provenance = resources.provenance(plan, key=identifier, targets=targets, edits=edits, now=now,
                                      organization=organization)
    provenance["meta"] = {"tag": [TAG]}  # the provenance-key tag names the draft's first Provenance only
    provenance["activity"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                          "code": "UPDATE", "display": "revise"}]}
    entries.append({"resource": provenance, "request": {"method": "POST", "url": "Provenance"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def revoke_entries(replaced: Replacement, now: str) -> list[dict[str, Any]]:
    """PUTs (with If-Match) that revoke an old draft and cancel its still-proposed Goals."""
    careplan = {**replaced.careplan, "status": "revoked"}
    entries = [_versioned_put(careplan)]
    for goal in replaced.goals:
        if goal.get("lifecycleStatus") == "proposed":
            entries.append(_versioned_put({**goal, "lifecycleStatus": "cancelled", "statusDate": now[:10],
                                           "statusReason": "replaced by a newer carepath draft"}))
    return entries


def _identifier(careplan: Mapping[str, Any]) -> str | None:
    return next((i.get("value") for i in careplan.get("identifier", []) if i.get("system") == CAREPLAN_ID_SYSTEM),
                None)


def _conditional(full_url: str, resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": if_none_exist}}


def _goal_keys(goal: Mapping[str, Any]) -> list[str]:
    return [i.get("value") for i in goal.get("identifier") or [] if i.get("system") == GOAL_ID_SYSTEM]


def _put(resource: Mapping[str, Any], version: str) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": dict(resource), "request": {"method": "PUT", "url": url, "ifMatch": f'W/"{version}"'}}


def _versioned_put(resource: Mapping[str, Any]) -> dict[str, Any]:
    version = (resource.get("meta") or {}).get("versionId")
    request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    if version:
        request["ifMatch"] = f'W/"{version}"'
    return {"resource": dict(resource), "request": request}
