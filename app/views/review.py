"""The plan review page: show the plan with its evidence, take the clinician's edits, save the draft.

``GET  /p/<launch_id>/plan``              the review page (resumes the open draft when nothing changed)
``POST /p/<launch_id>/plan``              save the draft with the clinician's edits (CSRF-protected)
``GET  /p/<launch_id>/plan/bundle.json``  the transaction Bundle saving would send (read-only mode download)
``GET  /p/<launch_id>/plan/print``        a printable page of the plan
``GET  /p/<launch_id>/plan/patient``      the patient copy (``?lang=es``), printable
``GET  /p/<launch_id>/source/<type>/<id>`` one source resource as carepath read it
``GET  /p/<launch_id>/style.css``         the EHR's ``smart_style_url`` colours as CSS custom properties
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import date
from typing import Any

import requests
from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app import pack_set, timing
from app.audit import audit_log
from app.careplan import Edits, PlanEditError, draft_bundle, plan_key, present
from app.careplan import patient_copy as patient_copies
from app.careplan.charts import charts_for, unseen_results
from app.careplan.existing import Own, read_existing
from app.careplan.marker import new_request_id, valid_request_id
from app.careplan.model import saved_targets, with_saved_targets
from app.careplan.notices import Notice, save_notice
from app.careplan.organization import acting_organization
from app.careplan.review import areas, edits_from_form, identifier_of, plan_for_patient, proposed_rules
from app.careplan.saving import SAVED, UNKNOWN_OUTCOME, BasedOn
from app.careplan.saving import save as save_plan
from app.careplan.writer import (
    careplan_goals,
    find_open_draft,
    find_same_plan,
    missing_write_support,
    supports_transaction,
)
from app.errors import FhirError, UnsafeUrl
from app.outbound import get, origin
from app.smart import launch_required
from app.views.copies import contact, copy_language, render_copy
from app.views.names import person_name
from app.views.patient import patient_name
from app.views.saving import (
    author_name,
    draft_form,
    save_status,
    settle_unknown_outcomes,
    unconfirmed_page,
    write_journal,
)

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__)
VIEW_ONLY_USERS = ("Patient", "RelatedPerson")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\(\s*[0-9.]+%?(\s*,\s*[0-9.]+%?){2,3}\s*\))$")
_AREA = re.compile(r"^[a-z0-9-]{1,64}$")
_FONT = re.compile(r"^[A-Za-z0-9 ,\-]{1,120}$")
#: SMART style property -> (CSS rule, validator).
_STYLE_RULES = {
    "color_highlight": (":root { --accent: %s; }", _COLOUR),
    "color_text": (":root { --ink: %s; } body { color: %s; }", _COLOUR),
    "color_background": ("body { background: %s; }", _COLOUR),
    "font_family_body": ("body { font-family: %s; }", _FONT),
}


@bp.get("/p/<launch_id>/plan")
@launch_required
def review(launch_id: str) -> ResponseReturnValue:
    """Show the plan, grouped by area, each item expandable to its rationale."""
    settle_unknown_outcomes()
    plan, facts = _plan()
    _audit("generated", plan)
    return _render(plan, facts)


@bp.post("/p/<launch_id>/plan")
@launch_required
def save(launch_id: str) -> ResponseReturnValue:
    """Save the reviewed plan as the draft; "Saved" only once the record, read back, holds what was submitted."""
    plan, facts = _plan()
    problems = _write_problems()
    if problems:
        return _render(plan, facts, error="carepath cannot save here: " + "; ".join(problems)), 403
    # A form rendered before request ids existed still saves truthfully, only a resubmission is not recognised.
    request_id = request.form.get("request_id", "") if valid_request_id(request.form.get("request_id")) \
        else new_request_id()
    try:
        edits = edits_from_form(plan, request.form, g.launch.fhir_user)
        if request.form.get("plan_key") != plan_key(plan):
            raise PlanEditError("the patient's record changed since you opened this page: the plan below is "
                                "rebuilt from the new data; your entries are kept, check them and save again")
        outcome = save_plan(g.launch.fhir, plan, edits, request_id=request_id,
                            based_on=BasedOn.parse(request.form.get("based_on")),
                            journal=write_journal("saved", plan, request_id,
                                                  {"deselectedRules": sorted(edits.deselected)}),
                            transaction=supports_transaction(_capabilities()), organization=_organization())
    except PlanEditError as exc:
        return _render(plan, facts, error=exc.message, form=request.form, request_id=request_id), 400
    if outcome.status == SAVED:
        return redirect(url_for("review.review", launch_id=launch_id, saved=outcome.careplan["id"]), code=303)
    # The same request id again only while this save may be missing from the record: a late commit is then
    # recognised as this save instead of being taken for someone else's.
    keep = request_id if outcome.committed is not True else None
    notice = save_notice(outcome, author_name(outcome.written_by[0]))
    try:
        page = _render(plan, facts, form=request.form, outcome=notice, request_id=keep)
    except FhirError:
        if outcome.status != UNKNOWN_OUTCOME:
            raise
        return unconfirmed_page(notice)  # the record cannot be read now: say so, not a FHIR error page
    return page, save_status(outcome)


@bp.get("/p/<launch_id>/plan/bundle.json")
@launch_required
def download(launch_id: str) -> ResponseReturnValue:
    """The plan as the FHIR transaction Bundle saving would send, as a download."""
    plan, _facts = _plan()
    body = json.dumps(draft_bundle(plan, Edits(), organization=_organization()), indent=2)
    return Response(body, mimetype="application/fhir+json", headers={
        "Content-Disposition": f'attachment; filename="carepath-plan-{plan_key(plan)[:12]}.json"'})


@bp.get("/p/<launch_id>/plan/print")
@launch_required
def printable(launch_id: str) -> ResponseReturnValue:
    """The plan as a page to print."""
    plan, facts = _plan()
    return _render(plan, facts, printable=True)


@bp.get("/p/<launch_id>/plan/patient")
@launch_required
def patient_copy(launch_id: str) -> ResponseReturnValue:
    """The plan the patient takes home (``?lang=es``): the saved draft when there is one, else the proposal."""
    plan, facts = _plan()
    words = _pack_set().patient_words
    language = copy_language(words)
    guardian = patient_copies.addressed_to_guardian((facts.get("patient") or {}).get("ageYears"))
    draft = find_open_draft(g.launch.fhir, g.launch.patient_id) if g.launch.can_read("CarePlan") else None
    if draft and identifier_of(draft.careplan) == plan_key(plan):
        copy = patient_copies.from_careplan(draft.careplan, list(draft.goals), words, language, contact=contact(),
                                            guardian=guardian)
    else:
        copy = patient_copies.from_plan(plan, words, language, contact=contact(), guardian=guardian)
    return render_copy(copy, words, "review.patient_copy")


@bp.get("/p/<launch_id>/source/<resource_type>/<resource_id>")
@launch_required
def source(launch_id: str, resource_type: str, resource_id: str) -> ResponseReturnValue:
    """One source resource as read from the FHIR server (a version when ``?v=`` is given)."""
    version = request.args.get("v", "")
    if resource_type not in g.launch.read_types or not _ID.match(resource_id) or (version and not _ID.match(version)):
        abort(404)
    path = f"{resource_type}/{resource_id}" + (f"/_history/{version}" if version else "")
    resource = g.launch.fhir.get_json(path)
    return render_template("review/source.html", launch=g.launch, path=path,
                           text=json.dumps(resource, indent=2, ensure_ascii=False))


@bp.get("/p/<launch_id>/style.css")
@launch_required
def ehr_style(launch_id: str) -> ResponseReturnValue:
    """The EHR's style (``smart_style_url``), fetched server-side from the launch's own server only."""
    cache = current_app.extensions.setdefault("carepath_styles", {})
    key = (g.launch.smart_style_url, g.launch.iss)
    hit = cache.get(key)
    if hit is None or hit[0] < time.monotonic():  # an EHR's style changes rarely: fetched once per 5 minutes
        if len(cache) > 100:
            cache.clear()
        hit = cache[key] = (time.monotonic() + 300, style_css(_fetch_style(*key)))
    css = hit[1]
    return Response(css, mimetype="text/css", headers={"Cache-Control": "private, max-age=300"})


def _organization() -> dict[str, Any] | None:
    """The organization this launch writes on behalf of (Provenance.agent.onBehalfOf), or None."""
    return acting_organization(current_app.config, g.launch.fhir, g.launch.fhir_user)


def style_css(style: dict[str, Any]) -> str:
    """CSS from a SMART style document; values that are not plain colours or font names are dropped."""
    rules = []
    for name, (template, pattern) in _STYLE_RULES.items():
        value = style.get(name)
        if isinstance(value, str) and pattern.match(value.strip()):
            rules.append(template.replace("%s", value.strip()))
    return "\n".join(rules) + "\n"


def _fetch_style(url: str | None, iss: str) -> dict[str, Any]:
    """The style JSON when ``url`` is on the launch's FHIR server host; {} otherwise or on any failure."""
    if not url:
        return {}
    try:
        with requests.Session() as session:
            response = get(session, url, [origin(iss)], timeout=5, outside="the launch's FHIR server host")
            body = response.json() if response.status_code == 200 else {}
    except UnsafeUrl:
        log.warning("smart_style_url refused: not on the launch's server")
        return {}
    except (requests.RequestException, ValueError, FhirError):
        return {}
    return body if isinstance(body, dict) else {}


# -- helpers --------------------------------------------------------------------------------------

def _plan() -> tuple[dict[str, Any], dict[str, Any]]:
    as_of = current_app.config.get("REVIEW_AS_OF") or date.today().isoformat()
    return plan_for_patient(g.launch.fhir, g.launch.patient_id, _pack_set(), date.fromisoformat(as_of))


def _pack_set() -> Any:
    """The app's guideline packs (loaded once per app, shared by the review page and the CDS Hooks service)."""
    return pack_set(current_app)


def _capabilities() -> dict[str, Any]:
    cache = current_app.extensions.setdefault("carepath_capabilities", {})
    if g.launch.iss not in cache:
        cache[g.launch.iss] = g.launch.fhir.capabilities()
    return cache[g.launch.iss]


def _write_problems() -> list[str]:
    """Why this launch may not save: scopes not granted, or the server does not allow the writes."""
    problems = []
    if g.launch.fhir_user_type in VIEW_ONLY_USERS:
        problems.append("patients and related persons can view the plan; a clinician saves it")
    if g.launch.unwritable:
        problems.append("the EHR did not grant writing " + ", ".join(g.launch.unwritable))
    missing = missing_write_support(_capabilities())
    if missing:
        problems.append("the FHIR server does not support " + ", ".join(missing))
    return problems


def _render(plan: dict[str, Any], facts: dict[str, Any], *, error: str | None = None, form: Any = None,
            printable: bool = False, outcome: Notice | None = None, request_id: str | None = None) -> str:
    with timing.step("record"):  # the patient, this plan's drafts and the record's plans and goals
        launch = g.launch
        patient = launch.fhir.read("Patient", launch.patient_id)
        problems = _write_problems()
        key = plan_key(plan)
        draft = same = None
        if launch.can_read("CarePlan"):
            draft = find_open_draft(launch.fhir, launch.patient_id)
            same = find_same_plan(launch.fhir, launch.patient_id, key)
        resumed = draft if draft and identifier_of(draft.careplan) == key else None
        decided = same if same and same.get("status") != "draft" else None
        # What the clinician saved (an edited target) is what the page shows again after a relaunch.
        saved_goals = list(resumed.goals) if resumed else _decided_goals(decided)
        plan = with_saved_targets(plan, saved_targets(plan, key, saved_goals)) if saved_goals and not form else plan
        if resumed and form is None and not printable:
            form = draft_form(plan, resumed.careplan)  # the saved draft's choices, to edit
        # One extra request (a batch of two searches): the plans and goals already in the record, this plan left out.
        existing = read_existing(launch.fhir, launch.patient_id, own=Own.of_plan(plan),
                                 types=[name for name in ("CarePlan", "Goal") if launch.can_read(name)])
    plan_areas = areas(plan)
    with timing.step("render"):
        return render_template(
            "review/print.html" if printable else "review/plan.html",
            launch=launch, patient=patient, patient_name=patient_name(patient), plan=plan, facts=facts,
            areas=plan_areas, charts=charts_for(facts, plan), trends_unseen=unseen_results(facts), plan_key=key,
            draft=draft, resumed=resumed,
            decided=decided, existing=existing, conflicts=existing.plan_conflicts(plan),
            read_only=bool(problems), problems=problems, error=error, form=form,
            can_approve=launch.fhir_user_type in ("Practitioner", "PractitionerRole"),
            **_page_parts(plan, facts, plan_areas, resumed),
            outcome=outcome, request_id=request_id or new_request_id(),
        )


def _page_parts(plan: dict[str, Any], facts: dict[str, Any], plan_areas: list[Any], resumed: Any) -> dict[str, Any]:
    """The plan page's parts in reading order: actions (the EHR's area first when a card named one), goals..."""
    rows = present.actions(plan)
    focus = request.args.get("area", "")
    if _AREA.match(focus) and any(row.item.get("area_id") == focus for row in rows):
        rows.sort(key=lambda row: row.item.get("area_id") != focus)  # stable: the order within stays
    else:
        focus = ""
    first_of_area: dict[str, str] = {}
    for row in rows:
        first_of_area.setdefault(str(row.item.get("area_id")), row.item["id"])
    authors = [c.get("reference") for c in (resumed.careplan.get("contributor") or [])[1:]] if resumed else []
    return {
        "actions": rows, "focus_area": focus, "first_of_area": first_of_area,
        "goals": [goal for area in plan_areas for goal in area.goals],
        "not_recommended": [item for area in plan_areas for item in area.not_recommended],
        "gaps": present.open_gaps(plan), "summaries": plan.get("area_summaries") or [],
        "key_conditions": present.key_conditions(facts),
        "saved_by": person_name(authors[-1]) if authors and authors[-1] else "",
    }


def _decided_goals(careplan: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The Goals of an approved (or rejected) carepath plan for the same data, read one by one (a plan has few)."""
    if not careplan or not g.launch.can_read("Goal"):
        return []
    return careplan_goals(g.launch.fhir, careplan, skip_unreadable=True)


def _audit(event: str, plan: dict[str, Any], careplan_id: str | None = None, version: str | None = None) -> None:
    """One audit row for the plan; a generated plan's row names the rules it proposes (ids only)."""
    audit_log().record(event, actor=g.launch.fhir_user or "unknown", patient_id=g.launch.patient_id,
                       packs=[f"{p['url']}|{p['version']}" for p in plan.get("packs", [])],
                       careplan_id=careplan_id, careplan_version=version,
                       detail={"rules": proposed_rules(plan)} if event == "generated" else None)
