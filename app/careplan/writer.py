"""Saving a draft (one transaction, or conditional creates with cleanup) and finding the open one again."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.careplan.bundle import Replacement
from app.careplan.model import CAREPLAN_ID_SYSTEM, TAG, token
from app.context.fetch import FHIR_ID
from app.errors import FhirError, FhirStatusError
from app.fhir import FhirClient

log = logging.getLogger(__name__)
WRITE_TYPES = ("CarePlan", "Goal", "Provenance")


@dataclass
class SaveResult:
    """What saving left on the server: the CarePlan and whether this call created it."""

    careplan: dict[str, Any]
    created: bool
    #: Every ``Type/id/_history/v`` the save touched, in bundle order.
    locations: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The CarePlan's version id on the server."""
        return str(self.careplan.get("meta", {}).get("versionId", ""))


def supports_transaction(statement: Mapping[str, Any]) -> bool:
    """True when the CapabilityStatement declares the ``transaction`` system interaction."""
    return any(interaction.get("code") == "transaction"
               for rest in statement.get("rest", []) for interaction in rest.get("interaction", []))


def missing_write_support(statement: Mapping[str, Any], types: tuple[str, ...] = WRITE_TYPES) -> list[str]:
    """``CarePlan create`` etc.: what the server's CapabilityStatement does not allow that saving needs."""
    declared = {resource.get("type"): {i.get("code") for i in resource.get("interaction", [])}
                for rest in statement.get("rest", []) if rest.get("mode", "server") == "server"
                for resource in rest.get("resource", [])}
    missing = []
    for resource_type in types:
        for interaction in ("create", "update") if resource_type != "Provenance" else ("create",):
            if interaction not in declared.get(resource_type, set()):
                missing.append(f"{resource_type} {interaction}")
    return missing


def save_draft(client: FhirClient, bundle: Mapping[str, Any], *, transaction: bool = True) -> SaveResult:
    """Write the draft all-or-nothing; a retry or a double click finds the same draft, never a second one."""
    if transaction:
        # Every create is conditional and every update carries If-Match: safe for the client to retry.
        response = client.transaction(dict(bundle), idempotent=True)
        locations = [entry.get("response", {}).get("location", "") for entry in response.get("entry", [])]
        statuses = [entry.get("response", {}).get("status", "") for entry in response.get("entry", [])]
    else:
        locations, statuses = _save_one_by_one(client, bundle)
    index = next(i for i, entry in enumerate(bundle["entry"]) if entry["resource"]["resourceType"] == "CarePlan")
    careplan = client.read("CarePlan", _id_of(locations[index]))
    return SaveResult(careplan=careplan, created=statuses[index].startswith("201"), locations=locations)


def find_open_draft(client: FhirClient, patient_id: str) -> Replacement | None:
    """The newest open carepath draft of the patient, with its Goals, or None."""
    bundle_pages = client.search_pages("CarePlan", [
        ("subject", f"Patient/{patient_id}"), ("status", "draft"), ("_tag", token(TAG["system"], TAG["code"])),
        ("_include", "CarePlan:goal"),
    ])
    careplans: list[dict[str, Any]] = []
    goals: dict[str, dict[str, Any]] = {}
    for page in bundle_pages:
        for entry in page.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") == "CarePlan" and resource.get("status") == "draft":
                careplans.append(resource)
            elif resource.get("resourceType") == "Goal":
                goals[f"Goal/{resource['id']}"] = resource
    if not careplans:
        return None
    # Sorted here rather than with _sort: not every server supports it, and drafts are few.
    newest = max(careplans, key=lambda plan: (plan.get("meta", {}).get("lastUpdated", ""), plan["id"]))
    own_goals = tuple(goals[ref["reference"]] for ref in newest.get("goal", []) if ref.get("reference") in goals)
    return Replacement(careplan=newest, goals=own_goals)


def careplan_goals(client: FhirClient, careplan: Mapping[str, Any], *, skip_unreadable: bool = False,
                   ) -> list[dict[str, Any]]:
    """The Goals a CarePlan references, read one by one (a plan has few). With ``skip_unreadable``, a reference
    that is not a FHIR id, or a Goal the server will not give, is left out instead of raising FhirError."""
    goals = []
    for reference in careplan.get("goal", []):
        target = reference.get("reference", "")
        if not target.startswith("Goal/"):
            continue
        goal_id = target.split("/")[-1]
        if skip_unreadable and not FHIR_ID.match(goal_id):
            continue
        try:
            goals.append(client.read("Goal", goal_id))
        except FhirError:
            if not skip_unreadable:
                raise
    return goals


def find_same_plan(client: FhirClient, patient_id: str, identifier: str) -> dict[str, Any] | None:
    """The patient's carepath CarePlan with this identifier (same data, same packs), whatever its status."""
    found = client.search("CarePlan", [("subject", f"Patient/{patient_id}"),
                                       ("identifier", token(CAREPLAN_ID_SYSTEM, identifier))])
    return max(found, key=lambda plan: plan.get("meta", {}).get("lastUpdated", "")) if found else None


def _save_one_by_one(client: FhirClient, bundle: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Conditional creates then versioned updates, in order; on failure delete what this call created."""
    resolved: dict[str, str] = {}
    created: list[str] = []
    locations: list[str] = []
    statuses: list[str] = []
    try:
        for entry in bundle["entry"]:
            resource = _resolve(copy.deepcopy(entry["resource"]), resolved)
            request = entry["request"]
            if request["method"] == "POST":
                response = client.create(resource, if_none_exist=request.get("ifNoneExist"))
            else:
                response = client.update(resource, if_match=request.get("ifMatch"))
            location = response.headers.get("Location") or response.headers.get("Content-Location") or ""
            body = response.json()
            location = location or f"{body['resourceType']}/{body['id']}/_history/{body['meta']['versionId']}"
            reference = "/".join(location.split("/_history")[0].split("/")[-2:])
            if entry.get("fullUrl"):
                resolved[entry["fullUrl"]] = reference
            if request["method"] == "POST" and response.status_code == 201:
                created.append(reference)
            locations.append(location)
            statuses.append(str(response.status_code))
    except FhirError:
        _cleanup(client, created)
        raise
    return locations, statuses


def _cleanup(client: FhirClient, created: list[str]) -> None:
    for reference in reversed(created):
        try:
            client.request("DELETE", reference)
        except FhirStatusError as exc:
            # The draft stays incomplete on the server; say which resource so someone can remove it.
            log.error("draft cleanup failed", extra={"resource": reference, "status": exc.status})


def _resolve(value: Any, resolved: Mapping[str, str]) -> Any:
    """Replace ``urn:uuid`` references with the ids the server gave, recursively."""
    if isinstance(value, dict):
        return {key: _resolve(item, resolved) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, resolved) for item in value]
    if isinstance(value, str) and value in resolved:
        return resolved[value]
    return value


def _id_of(location: str) -> str:
    """``30`` from ``CarePlan/30/_history/1`` or an absolute URL of it."""
    return location.split("/_history")[0].rstrip("/").split("/")[-1]
