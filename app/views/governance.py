"""Governance pages for the reviewers on ``GOVERNANCE_ALLOW``, signed in through the EHR's SMART launch.

``GET /governance``                      the monitor: per rule and pack version, proposed, accepted, rejected,
                                         overridden, over time, flagged rules; the audit chain's verification
``GET /governance/MeasureReport``        the same numbers as a FHIR R4 MeasureReport (summary)
``GET /p/<launch_id>/governance/preview`` the launch's patient planned with each draft of
                                         ``GOVERNANCE_PREVIEW_PACKS`` (or, when it names none, the latest
                                         governance report's proposed folder) beside the active pack, and the
                                         differences

``/governance`` belongs to no patient: it takes the reviewer from this browser's most recent live launch (its
fhirUser, verified by the EHR's id token). Anyone else gets a 403 page. The pages hold counts only; the preview
opens one patient, which is recorded in the audit log (``previewed``).
"""

from __future__ import annotations

import json
import logging
from datetime import date

from flask import Blueprint, Response, current_app, g, render_template, request, session
from flask.typing import ResponseReturnValue

from app import pack_set
from app.audit import audit_log
from app.careplan.review import plan_for_patient, plan_from_facts
from app.errors import PackError
from app.governance.access import allow_list, is_reviewer
from app.governance.measure import measure_report
from app.governance.monitor import configured_monitor
from app.governance.preview import load_draft, plan_differences, preview_folders
from app.governance.report import latest_report
from app.smart import Launch, RelaunchRequired, launch_required
from app.smart.launch import _LAUNCHES_KEY, load_launch
from app.views.patient import patient_name

log = logging.getLogger(__name__)
bp = Blueprint("governance", __name__)
REFUSED_TITLE = "Only governance reviewers may open this page"


@bp.get("/governance")
def monitor_page() -> ResponseReturnValue:
    """The monitor for reviewers (``?since=YYYY-MM-DD`` counts entries from that day on)."""
    launch = _reviewer_launch()
    if launch is None:
        return _refused()
    since = _since()
    document = configured_monitor(current_app.config, audit_log(), since=since)
    previews = bool(current_app.config.get("GOVERNANCE_PREVIEW_PACKS")) \
        or latest_report(current_app.config.get("VAR_DIR") or "") is not None
    return render_template("governance/page.html", data=document, launch=launch, since=since, previews=previews)


@bp.get("/governance/MeasureReport")
def measure_report_json() -> ResponseReturnValue:
    """The monitor as a FHIR R4 MeasureReport, type summary (``?since=YYYY-MM-DD``)."""
    if _reviewer_launch() is None:
        return _refused()
    document = configured_monitor(current_app.config, audit_log(), since=_since())
    return Response(json.dumps(measure_report(document), indent=2), mimetype="application/fhir+json")


@bp.get("/p/<launch_id>/governance/preview")
@launch_required
def preview(launch_id: str) -> ResponseReturnValue:
    """The launch's patient planned with the active pack and with each draft named for preview, side by side."""
    from app.cohort.diff import SECTIONS

    if not _allowed(g.launch):
        return _refused()
    as_of = date.fromisoformat(current_app.config.get("REVIEW_AS_OF") or date.today().isoformat())
    active_set = pack_set(current_app)
    active, facts = plan_for_patient(g.launch.fhir, g.launch.patient_id, active_set, as_of)
    # the folders of the packs in use (every bundled pack by default): their counting mappings, and the packs a
    # draft is previewed beside
    active_dir = (current_app.config.get("PACK_DIR") or None) \
        if (current_app.config.get("PACK_SOURCE") or "files") == "files" else None
    in_use = list(active_set.folders or [])
    comparisons = []
    folders, problems = preview_folders(current_app.config.get("GOVERNANCE_PREVIEW_PACKS"),
                                        current_app.config.get("VAR_DIR"))
    for folder, source in folders:
        try:
            draft = load_draft(folder, beside=in_use)
        except PackError as exc:
            problems.append(exc.message)
            continue
        plan = plan_from_facts(facts, draft.pack_set, as_of, g.launch.patient_id) \
            if draft.pack_set.requirements == active_set.requirements \
            else plan_for_patient(g.launch.fhir, g.launch.patient_id, draft.pack_set, as_of)[0]
        try:  # a draft whose reviewed counting mapping is incomplete is named, not a server error
            changes = plan_differences(active, plan, active_dir=active_dir, active_set=active_set, draft_dir=None,
                                       draft_set=draft.pack_set, as_of=as_of)
        except PackError as exc:
            problems.append(exc.message)
            continue
        comparisons.append({"version": draft.version, "plan": plan, "folder": str(folder), "source": source,
                            "changes": changes})
    plans = [active, *(comparison["plan"] for comparison in comparisons)]
    audit_log().record("previewed", actor=g.launch.fhir_user or "unknown", patient_id=g.launch.patient_id,
                       packs=sorted({f"{p['url']}|{p['version']}" for plan in plans for p in plan.get("packs", [])}))
    patient = g.launch.fhir.read("Patient", g.launch.patient_id)
    return render_template("governance/preview.html", launch=g.launch, patient_name=patient_name(patient),
                           active=active, active_version=", ".join(sorted({
                               str(p["version"]) for p in active.get("packs", []) if p.get("version")})) or "?",
                           comparisons=comparisons, problems=problems, as_of=as_of, sections=SECTIONS)


def _since() -> date | None:
    text = request.args.get("since", "")
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _allowed(launch: Launch) -> bool:
    return is_reviewer(launch.fhir_user, launch.iss, open_server=launch.open_server,
                       allowed=allow_list(current_app.config.get("GOVERNANCE_ALLOW")))


def _reviewer_launch() -> Launch | None:
    """This browser's most recent live launch when its user is a reviewer; None otherwise."""
    for launch_id in reversed(session.get(_LAUNCHES_KEY) or []):
        try:
            launch = load_launch(str(launch_id))
        except RelaunchRequired:
            continue  # ended or expired: an older launch of this browser may still be live
        return launch if _allowed(launch) else None
    return None


def _refused() -> tuple[str, int]:
    log.warning("governance page refused", extra={"path": request.path})
    message = ("The governance pages and the draft preview are for the reviewers the site names in "
               "CAREPATH_GOVERNANCE_ALLOW. Open carepath from the EHR, signed in as one of them, then come back.")
    return render_template("errors/error.html", title=REFUSED_TITLE, message=message), 403
