"""Approval of a saved draft: an explicit confirmation by a Practitioner, per-item rejection, the 412 path,
and for each goal already in the record for the same measure: keep both, or mark it superseded.

``GET  /p/<launch_id>/careplans/<careplan_id>``           the draft as saved, with the decision form
``POST /p/<launch_id>/careplans/<careplan_id>/decision``  approve or reject (CSRF-protected, confirmed)
``GET  /p/<launch_id>/careplans/<careplan_id>/patient``   the patient copy of the saved plan (``?lang=es``)
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app import pack_set
from app.audit import Journal, audit_log
from app.careplan import now_instant
from app.careplan.approval import (
    Decision,
    DecisionNotRecorded,
    NotAllowedToApprove,
    PlanChanged,
    check_approver,
    decide,
    decided_items,
    item_id,
)
from app.careplan.existing import Existing, Own, choices_from_form, read_existing, superseded_by
from app.careplan.marker import new_request_id, request_of, valid_request_id
from app.careplan.model import TAG
from app.careplan.notices import Notice, decision_notice
from app.careplan.organization import acting_organization
from app.careplan.patient_copy import addressed_to_guardian, from_careplan
from app.careplan.resources import visit_place
from app.careplan.writer import careplan_goals
from app.errors import FhirError, FhirStatusError
from app.smart import launch_required
from app.views.copies import contact, copy_language, render_copy
from app.views.patient import patient_name
from app.views.saving import settle_unknown_outcomes, unconfirmed_page

log = logging.getLogger(__name__)
bp = Blueprint("approval", __name__)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
REASON_LIMIT = 500
#: Goal ids the confirmation reads back after an approval (the choices of one plan are few).
MARKED_LIMIT = 20


@bp.get("/p/<launch_id>/careplans/<careplan_id>")
@launch_required
def show(launch_id: str, careplan_id: str) -> ResponseReturnValue:
    """The saved draft and, for a clinician, the approve / reject form."""
    settle_unknown_outcomes()
    careplan = _careplan(careplan_id)
    return _render(careplan)


@bp.get("/p/<launch_id>/careplans/<careplan_id>/patient")
@launch_required
def patient_copy(launch_id: str, careplan_id: str) -> ResponseReturnValue:
    """The patient copy of the saved plan (``?lang=es``): only what the record holds."""
    careplan = _careplan(careplan_id)
    words = pack_set(current_app).patient_words
    copy = from_careplan(careplan, _goals(careplan), words, copy_language(words), contact=contact(),
                         guardian=_for_guardian(careplan))
    return render_copy(copy, words, "approval.patient_copy", careplan_id=careplan_id)


@bp.post("/p/<launch_id>/careplans/<careplan_id>/decision")
@launch_required
def decision(launch_id: str, careplan_id: str) -> ResponseReturnValue:
    """Approve or reject the version the clinician reviewed; refuse non-clinicians; 412 keeps the input."""
    try:
        verifier = check_approver(g.launch.fhir_user)
    except NotAllowedToApprove as exc:
        return _render(_careplan(careplan_id), error=exc.message), 403
    careplan = _careplan(careplan_id)
    if g.launch.unwritable:
        return _render(careplan, error="carepath may not write to this record: "
                       + ", ".join(g.launch.unwritable) + " not granted."), 403
    form = request.form
    request_id = form.get("request_id", "") if valid_request_id(form.get("request_id")) else new_request_id()
    if careplan.get("status") != "draft":
        if request_of(careplan) == request_id:  # a resubmission of the decision that made it so
            return redirect(url_for("approval.show", launch_id=launch_id, careplan_id=careplan_id, done=1), code=303)
        return _render(careplan, error=f"This plan is already {careplan.get('status')}: nothing was changed."), 409
    version = request.form.get("version", "")
    action = request.form.get("action")
    if not _ID.match(version) or action not in ("approve", "reject"):
        return _render(careplan, error="The form was incomplete: choose approve or reject.", form=form), 400
    if form.get("confirm") != "yes":
        return _render(careplan, error="Tick the confirmation box to record your decision.", form=form), 400
    plan_reason = form.get("plan_reason", "").strip()[:REASON_LIMIT]
    if action == "reject" and not plan_reason:
        return _render(careplan, error="Give a reason for rejecting the whole plan.", form=form), 400
    rejected = {key: form.get(f"reason-{key}", "").strip()[:REASON_LIMIT]
                for key in form.getlist("reject") if _ID.match(key)}
    supersede: dict[str, str] = {}
    kept: tuple[str, ...] = ()
    if action == "approve":
        # Only the record goals this plan conflicts with, as read now, can be marked superseded.
        choices = _existing(careplan).choices(_goals(careplan))
        supersede, kept = choices_from_form(choices, form, _ID.match)
    chosen = Decision(verifier, rejected=rejected, reject_plan_reason=plan_reason if action == "reject" else None,
                      supersede=supersede, kept=kept)
    # The audit log gets the intent before the decision is sent and its outcome (as read back) after.
    journal = Journal(audit_log(), "approved" if action == "approve" else "rejected", verifier,
                      g.launch.patient_id, tuple(_packs(careplan)), request_id, server=g.launch.iss,
                      items=decided_items(careplan, chosen))
    try:
        decide(g.launch.fhir, careplan_id, version, chosen, now=now_instant(), request_id=request_id,
               journal=journal,
               organization=acting_organization(current_app.config, g.launch.fhir, g.launch.fhir_user))
    except PlanChanged as exc:
        return _render(exc.current, error=exc.message, changes=exc.changes, form=form, request_id=request_id), 409
    except DecisionNotRecorded as exc:
        # The same request id on the page: if the decision reached the record after all, resubmitting finds it.
        status = 409 if isinstance(exc.error, FhirStatusError) and exc.error.status < 500 else 502
        try:
            return _render(_careplan(careplan_id), outcome=decision_notice(exc), form=form,
                           request_id=request_id), status
        except FhirError:
            if not exc.unknown:
                raise
            return unconfirmed_page(decision_notice(exc))  # the record cannot be read now: not a FHIR error page
    if supersede or kept:
        log.info("record goals decided at approval", extra={"careplan_id": careplan_id,
                                                            "superseded": sorted(supersede), "kept": len(kept)})
    # The confirmation names the goals it marked; it reads them back and shows only those the record confirms.
    marked = {"superseded": ",".join(sorted(supersede))} if supersede else {}
    return redirect(url_for("approval.show", launch_id=launch_id, careplan_id=careplan_id, done=1, **marked),
                    code=303)


def _careplan(careplan_id: str) -> dict[str, Any]:
    """A carepath CarePlan of this launch's patient, or 404."""
    if not _ID.match(careplan_id):
        abort(404)
    careplan = g.launch.fhir.read("CarePlan", careplan_id)
    subject = careplan.get("subject", {}).get("reference", "")
    tags = careplan.get("meta", {}).get("tag", [])
    mine = any(t.get("system") == TAG["system"] and t.get("code") == TAG["code"] for t in tags)
    if subject.split("/")[-2:] != ["Patient", g.launch.patient_id] or not mine:
        abort(404)
    return careplan


def _for_guardian(careplan: dict[str, Any]) -> bool:
    """Whether the copy is written to a parent or guardian: the patient was under 18 on the plan's date."""
    from datetime import date

    from app.context.dates import age_on

    patient = g.launch.fhir.read("Patient", g.launch.patient_id)
    born, start = str(patient.get("birthDate") or ""), str((careplan.get("period") or {}).get("start") or "")[:10]
    try:
        return addressed_to_guardian(age_on(date.fromisoformat(born), date.fromisoformat(start)))
    except ValueError:  # no full birth date or plan date: written to the patient, as for an adult
        return False


def _goals(careplan: dict[str, Any]) -> list[dict[str, Any]]:
    """The Goals the CarePlan references."""
    return careplan_goals(g.launch.fhir, careplan)


def _existing(careplan: dict[str, Any], marked: list[str] | None = None) -> Existing:
    """The record's active plans and standing goals, this CarePlan and its Goals left out (one batch)."""
    return read_existing(g.launch.fhir, g.launch.patient_id, own=Own.of_careplan(careplan), extra_goal_ids=marked or [],
                         types=[name for name in ("CarePlan", "Goal") if g.launch.can_read(name)])


def _render(careplan: dict[str, Any], *, error: str | None = None, changes: list[str] | None = None,
            form: Any = None, outcome: Notice | None = None, request_id: str | None = None) -> str:
    launch = g.launch
    patient = launch.fhir.read("Patient", launch.patient_id)
    goals = _goals(careplan)
    activities = [{"key": item_id(a) or str(i), "activity": a, "when": visit_place(a)}
                  for i, a in enumerate(careplan.get("activity", []))]
    marked = [goal_id for goal_id in request.args.get("superseded", "").split(",")[:MARKED_LIMIT]
              if _ID.match(goal_id)]
    existing = _existing(careplan, marked)
    return render_template(
        "review/approve.html", launch=launch, patient=patient, patient_name=patient_name(patient),
        careplan=careplan, goals=goals, activities=activities, error=error, changes=changes or [], form=form,
        can_approve=launch.fhir_user_type in ("Practitioner", "PractitionerRole") and careplan["status"] == "draft",
        can_write=not launch.unwritable, existing=existing, choices=existing.choices(goals),
        superseded=superseded_by(existing, careplan["id"]), outcome=outcome,
        request_id=request_id or new_request_id(),
    )


def _packs(careplan: dict[str, Any]) -> list[str]:
    return list(careplan.get("instantiatesCanonical", []))
