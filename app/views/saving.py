"""Helpers of the review page's save (not a blueprint): the form a saved draft fills, the audit journal of a
save, who wrote a draft version, the HTTP status of a save that did not simply succeed, settling this patient's
unknown outcomes at a page load, and the page shown when the record cannot be read after a write."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g, render_template
from werkzeug.datastructures import MultiDict

from app.audit import AuditError, Journal, audit_log
from app.careplan.approval import item_id
from app.careplan.model import plan_key
from app.careplan.notices import Notice
from app.careplan.reconcile import pending, settle
from app.careplan.resources import VISIT_SCHEDULE_URL
from app.careplan.saving import DIFFERS, NOT_SAVED, UNKNOWN_OUTCOME, SaveOutcome
from app.errors import FhirError, FhirServerError, FhirTransportError
from app.views.names import person_name

log = logging.getLogger(__name__)


def draft_form(plan: dict[str, Any], careplan: dict[str, Any]) -> MultiDict:
    """The review form as the saved draft fills it: the activities it keeps, its goal targets, each action's place
    (this visit or later, and its date), no new note."""
    statuses = {item_id(activity): (activity.get("detail") or {}).get("status")
                for activity in careplan.get("activity") or []}
    form = MultiDict([("keep", activity["id"]) for activity in plan.get("activities", [])
                      if statuses.get(activity["id"]) != "cancelled"])
    for goal in plan.get("goals", []):
        listed = goal.get("targets") or ([goal["target"]] if goal.get("target") else [])
        if len(listed) == 1 and listed[0].get("value") is not None:
            form.add(f"target-{goal['id']}", f"{listed[0]['value']:g}")
    for activity in careplan.get("activity") or []:  # where the draft placed each action, and when
        placement = next((part.get("valueCode") for ext in activity.get("extension") or []
                          if ext.get("url") == VISIT_SCHEDULE_URL for part in ext.get("extension") or []
                          if part.get("url") == "placement"), None)
        events = (((activity.get("detail") or {}).get("scheduledTiming") or {}).get("event") or [])
        if placement and item_id(activity):
            form.add(f"when-{item_id(activity)}", placement)
            if placement == "later" and events:
                form.add(f"date-{item_id(activity)}", str(events[0])[:10])
    return form


def write_journal(event: str, plan: dict[str, Any], request_id: str, items: dict[str, Any] | None = None
                  ) -> Journal:
    """The audit rows (intent, then outcome) of one write by this launch's user; ``items`` (ids only) says what
    it decides, e.g. the rules not selected before saving."""
    return Journal(audit_log(), event, g.launch.fhir_user or "unknown", g.launch.patient_id,
                   tuple(f"{p['url']}|{p['version']}" for p in plan.get("packs", [])), request_id,
                   server=g.launch.iss, plan=plan_key(plan), items=items or {})


def settle_unknown_outcomes() -> None:
    """Settle the patient's writes whose outcome carepath could not find out (on this launch's FHIR server)
    against the record, as the page loads; a read that fails leaves them for the next load, the page goes on."""
    try:
        entries = pending(audit_log(), server=g.launch.iss, patient_id=g.launch.patient_id)
        if entries:
            # A write that timed out may land late: "not committed" only after its retries could have landed.
            retries = int(current_app.config.get("FHIR_RETRIES") or 0) + 1
            settle(audit_log(), g.launch.fhir, entries,
                   absent_after=2 * retries * float(current_app.config.get("FHIR_TIMEOUT") or 15))
    except (AuditError, FhirError) as exc:
        log.warning("unknown outcomes not settled", extra={"error_type": type(exc).__name__})


def unconfirmed_page(notice: Notice, status: int = 502) -> tuple[str, int]:
    """The page for a write whose outcome carepath could not confirm, when the record cannot be read to show the
    plan either: the notice, and the way back to the plan (never the generic FHIR error page)."""
    return render_template("review/unconfirmed.html", launch=g.launch, patient=None, outcome=notice), status


def author_name(reference: str | None) -> str | None:
    """Who wrote a version of the draft, for people: 'You', else the person's name (never an id)."""
    if not reference:
        return None
    if reference == g.launch.fhir_user:
        return "You (in another window or an earlier save)"
    return person_name(reference)


def save_status(outcome: SaveOutcome) -> int:
    """HTTP status of a save page that is not a plain success."""
    if outcome.status == NOT_SAVED:
        return 502 if isinstance(outcome.error, FhirServerError | FhirTransportError) else 409
    return {DIFFERS: 200, UNKNOWN_OUTCOME: 502}.get(outcome.status, 409)
