"""Plans and goals already in the record: one extra batch, the plan under review left out, goals compared by
measure, the approval marking a record goal superseded in the same transaction.

``responses`` plays the FHIR server; tests/test_existing_plans_hapi.py runs the same paths on the local HAPI.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from flask import render_template

from app.careplan.approval import Decision, NotAllowedToApprove, PlanChanged, decide
from app.careplan.existing import (
    Existing,
    Own,
    choices_from_form,
    compare,
    goal_targets,
    read_existing,
    superseded_by,
    superseded_reason,
)
from app.careplan.marker import mark
from app.careplan.model import CAREPLAN_ID_SYSTEM, GOAL_ID_SYSTEM, TAG, goal_key, plan_key
from app.fhir import FhirClient
from app.fhir.capabilities import forget
from tests.careplan_sample import sample_plan

BASE = "http://fhir.test/r4"
NOW = "2020-06-02T09:00:00Z"
REQUEST_ID = "c" * 32
HISTORY = {"resourceType": "Bundle", "type": "history", "entry": []}
LOINC = "http://loinc.org"
SBP, DBP = "8480-6", "8462-4"


@pytest.fixture
def fhir():
    forget(BASE)
    yield FhirClient(BASE, retries=0, sleep=lambda _s: None)
    forget(BASE)


def _quantity(value, comparator="<", unit="mmHg", code=None):
    quantity = {"value": value, "comparator": comparator, "unit": unit}
    if code:
        quantity.update(system="http://unitsofmeasure.org", code=code)
    return quantity


def _target(code, value, *, comparator="<", unit="mmHg", due=None, system=LOINC, ucum=None):
    target = {"measure": {"coding": [{"system": system, "code": code}]},
              "detailQuantity": _quantity(value, comparator, unit, ucum)}
    if due:
        target["dueDate"] = due
    return target


def _bp_goal(goal_id="g140", sbp=140, dbp=90, *, status="active", due="2021-01-02", patient="p1", version="3",
             author=None, tags=(), identifier=None, description="Blood pressure below 140/90"):
    goal = {"resourceType": "Goal", "id": goal_id, "meta": {"versionId": version, "tag": list(tags)},
            "lifecycleStatus": status, "description": {"text": description},
            "subject": {"reference": f"Patient/{patient}"}, "startDate": "2020-01-02",
            "expressedBy": author if author is not None else {"reference": "Practitioner/gp", "display": "Dr X"},
            "target": [_target(SBP, sbp, due=due), _target(DBP, dbp, due=due)]}
    if identifier:
        goal["identifier"] = [identifier]
    return goal


def _ehr_plan(plan_id="cp-ehr", *, goals=("Goal/g140",), status="active", patient="p1", **extra):
    return {"resourceType": "CarePlan", "id": plan_id, "meta": {"versionId": "1"}, "status": status,
            "intent": "plan", "subject": {"reference": f"Patient/{patient}"}, "title": "Hypertension plan",
            "author": {"reference": "Practitioner/gp", "display": "Dr X"},
            "period": {"start": "2020-01-02"}, "goal": [{"reference": ref} for ref in goals], **extra}


def _searchset(*resources, next_url=None):
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _metadata(batch=True):
    return {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": [
        {"code": "batch"}] if batch else []}]}


def _serve_batch(answers):
    """A batch endpoint answering each entry by resource type: a searchset, or (status, OperationOutcome)."""
    def callback(request):
        entries = []
        for entry in json.loads(request.body)["entry"]:
            url = entry["request"]["url"]
            answer = answers[url.split("?")[0] if "_id=" not in url else "extra"]
            if isinstance(answer, tuple):
                entries.append({"response": {"status": str(answer[0]), "outcome": answer[1]}})
            else:
                entries.append({"response": {"status": "200 OK"}, "resource": answer})
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "batch-response", "entry": entries})

    responses.get(f"{BASE}/metadata", json=_metadata())
    responses.add_callback(responses.POST, BASE, callback=callback)


def _batch_urls(call_index=1):
    return [e["request"]["url"] for e in json.loads(responses.calls[call_index].request.body)["entry"]]


# -- reading -------------------------------------------------------------------------------------

@responses.activate
def test_read_existing__one_batch_of_two_searches(fhir):
    _serve_batch({"CarePlan": _searchset(_ehr_plan()), "Goal": _searchset(_bp_goal())})
    existing = read_existing(fhir, "p1")
    assert len(responses.calls) == 2  # the CapabilityStatement (cached per server), then one batch
    careplans, goals = (dict(parse_qsl(urlsplit(url).query)) | {"type": url.split("?")[0]} for url in _batch_urls())
    assert careplans == {"type": "CarePlan", "patient": "p1", "status": "active", "_count": "200"}
    assert goals == {"type": "Goal", "patient": "p1", "lifecycle-status": "planned,accepted,active,on-hold",
                     "_count": "200"}
    (plan,) = existing.plans
    assert (plan.title, plan.author, plan.period, plan.status) == ("Hypertension plan", "Dr X", "from 2 Jan 2020",
                                                                   "active")
    assert plan.ref == {"type": "CarePlan", "id": "cp-ehr", "version": "1"} and not plan.from_carepath
    (goal,) = existing.goals
    assert goal.target == "< 140/90 mmHg" and goal.due == "2021-01-02" and goal.set_on == "2020-01-02"
    assert goal.author == "Dr X" and goal.plan == "Hypertension plan" and goal.status_phrase == "an active"
    assert goal.label == "Blood pressure below 140/90 (target < 140/90 mmHg), set by Dr X on 2 Jan 2020"
    assert existing.notes == []


@responses.activate
def test_read_existing__the_plan_under_review_never_conflicts_with_itself(fhir):
    plan = sample_plan("p1")
    key = plan_key(plan)
    own_goal = _bp_goal("mine", 130, 80, identifier={"system": GOAL_ID_SYSTEM, "value": goal_key(key, "g-bp")},
                        tags=[TAG])
    earlier = _bp_goal("earlier", 130, 80, tags=[TAG], author={"display": "carepath 0.1.0"},
                       identifier={"system": GOAL_ID_SYSTEM, "value": "an-older-plan"})
    _serve_batch({
        "CarePlan": _searchset(_ehr_plan(), _ehr_plan("own", identifier=[{"system": CAREPLAN_ID_SYSTEM, "value": key}],
                                                      meta={"versionId": "2", "tag": [TAG]}),
                               _ehr_plan("lax-server", status="completed"), _ehr_plan("other", patient="p2")),
        "Goal": _searchset(_bp_goal(), own_goal, earlier, _bp_goal("done", status="completed"),
                           _bp_goal("theirs", patient="p2"), _bp_goal("draft", status="proposed")),
    })
    existing = read_existing(fhir, "p1", own=Own.of_plan(plan))
    assert [p.ref["id"] for p in existing.plans] == ["cp-ehr"]
    # An earlier carepath plan a clinician approved is an active plan of the record like any other.
    assert [(g.id, g.from_carepath) for g in existing.goals] == [("g140", False), ("earlier", True)]


def test_own_of_careplan__the_saved_plan_and_the_goals_it_references():
    careplan = {"resourceType": "CarePlan", "id": "30", "goal": [{"reference": "Goal/2"}],
                "identifier": [{"system": CAREPLAN_ID_SYSTEM, "value": "k1"}]}
    own = Own.of_careplan(careplan)
    assert own.holds({"resourceType": "Goal", "id": "2"}) and own.holds(careplan)
    assert own.holds({"resourceType": "CarePlan", "id": "31", "identifier": [{"system": CAREPLAN_ID_SYSTEM,
                                                                               "value": "k1"}]})
    assert not own.holds({"resourceType": "Goal", "id": "3"})


@responses.activate
def test_read_existing__without_batch_the_same_two_gets(fhir):
    responses.get(f"{BASE}/metadata", json=_metadata(batch=False))
    responses.get(re.compile(rf"{re.escape(BASE)}/CarePlan\?.*"), json=_searchset(_ehr_plan()))
    responses.get(re.compile(rf"{re.escape(BASE)}/Goal\?.*"), json=_searchset(_bp_goal()))
    existing = read_existing(fhir, "p1")
    assert len(responses.calls) == 3 and [g.id for g in existing.goals] == ["g140"] and existing.plans


@responses.activate
def test_read_existing__a_refused_search_is_named_and_the_other_still_read(fhir):
    denied = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}
    _serve_batch({"CarePlan": _searchset(_ehr_plan()), "Goal": (403, denied)})
    existing = read_existing(fhir, "p1")
    assert existing.notes == ["could not see Goal: scope not granted"] and len(existing.plans) == 1


@responses.activate
def test_read_existing__types_not_granted_are_not_asked(fhir):
    _serve_batch({"CarePlan": _searchset(_ehr_plan())})
    existing = read_existing(fhir, "p1", types=["CarePlan"])
    assert _batch_urls() == ["CarePlan?patient=p1&status=active&_count=200"]
    assert existing.notes == ["could not see Goal: scope not granted"]
    responses.calls.reset()
    assert read_existing(fhir, "p1", types=[]).notes == ["could not see CarePlan: scope not granted",
                                                         "could not see Goal: scope not granted"]
    assert len(responses.calls) == 0


@responses.activate
def test_read_existing__a_failing_server_leaves_the_page_standing(fhir):
    responses.get(f"{BASE}/metadata", json=_metadata())
    responses.post(BASE, status=500, json={"resourceType": "OperationOutcome", "issue": []})
    existing = read_existing(fhir, "p1")
    assert existing.plans == [] and existing.goals == []
    assert [n.split(":")[0] for n in existing.notes] == ["could not see CarePlan", "could not see Goal"]


@responses.activate
def test_read_existing__every_page_is_read(fhir):
    _serve_batch({"CarePlan": _searchset(),
                  "Goal": _searchset(_bp_goal("a"), next_url=f"{BASE}?_getpages=x&_getpagesoffset=1")})
    responses.get(f"{BASE}?_getpages=x&_getpagesoffset=1", json=_searchset(_bp_goal("b")))
    assert [g.id for g in read_existing(fhir, "p1").goals] == ["a", "b"]


@responses.activate
def test_read_existing__goals_read_back_by_id_after_approval(fhir):
    superseded = {**_bp_goal(status="cancelled"), "statusReason": superseded_reason("30")}
    _serve_batch({"CarePlan": _searchset(), "Goal": _searchset(),
                  "extra": _searchset(superseded, {**_bp_goal("x", status="cancelled"), "statusReason": "other"})})
    existing = read_existing(fhir, "p1", extra_goal_ids=["g140", "x"])
    assert _batch_urls()[2] == "Goal?patient=p1&_id=g140,x"
    assert [g.id for g in superseded_by(existing, "30")] == ["g140"] and superseded_by(existing, "31") == []


# -- comparing -----------------------------------------------------------------------------------

def _goal_with(*targets):
    return {"resourceType": "Goal", "target": list(targets)}


@pytest.mark.parametrize(("theirs", "expected"), [
    ([_target(SBP, 130.0, ucum="mm[Hg]", due="2020-12-01"), _target(DBP, 80, due="2020-12-01")], ()),
    ([_target(SBP, 130), _target(DBP, 80)], ()),  # no due date to compare
    ([_target(SBP, 140, due="2020-12-01"), _target(DBP, 90)], ("target",)),
    ([_target(SBP, 130, comparator="<=", due="2020-12-01")], ("target",)),
    ([_target(SBP, 130, due="2021-06-30")], ("due date",)),
    ([_target(SBP, 140, due="2021-06-30")], ("target", "due date")),
    ([_target("85354-9", 140, due="2020-12-01")], ("target",)),  # the panel stands for both components
    ([_target(SBP, 130, system="urn:oid:2.16.840.1.113883.6.1", due="2020-12-01")], ()),  # LOINC by its OID
    ([{"measure": {"coding": [{"system": LOINC, "code": SBP}]},
       "detailRange": {"low": {"value": 120}, "high": {"value": 130, "unit": "mmHg"}}}], ("target",)),
    ([_target("4548-4", 7, unit="%")], None),  # another measure
    ([{"measure": {"text": "blood pressure"}, "detailString": "below 140/90"}], None),  # no coded measure
])
def test_compare__same_measure_and_what_differs(theirs, expected):
    mine = _goal_with(_target(SBP, 130, ucum="mm[Hg]", due="2020-12-01"),
                      _target(DBP, 80, ucum="mm[Hg]", due="2020-12-01"))
    assert compare(goal_targets(mine), goal_targets(_goal_with(*theirs))) == expected


def test_plan_conflicts__the_bp_goal_differs_from_the_record_and_the_hba1c_goal_does_not():
    existing = Existing(goals=_goals_of(_bp_goal(due="2021-01-02")))
    conflicts = existing.plan_conflicts(sample_plan("p1"))
    assert list(conflicts) == ["g-bp"]
    (conflict,) = conflicts["g-bp"]
    assert conflict.differs and conflict.differences == ("target", "due date") and conflict.goal.id == "g140"


def _goals_of(*goals):
    with responses.RequestsMock() as mock:
        forget(BASE)
        mock.get(f"{BASE}/metadata", json=_metadata(batch=False))
        mock.get(re.compile(rf"{re.escape(BASE)}/CarePlan\?.*"), json=_searchset())
        mock.get(re.compile(rf"{re.escape(BASE)}/Goal\?.*"), json=_searchset(*goals))
        found = read_existing(FhirClient(BASE, retries=0), "p1").goals
        forget(BASE)
    return found


def test_choices__one_per_record_goal_and_keep_both_by_default():
    existing = Existing(goals=_goals_of(_bp_goal(), _bp_goal("g2", 135, 85)))
    draft_goal = {"resourceType": "Goal", "description": {"text": "BP below 130/80"},
                  "target": [_target(SBP, 130), _target(DBP, 80)]}
    choices = existing.choices([draft_goal])
    assert [(c.goal.id, c.proposed, c.differences) for c in choices] == [
        ("g140", ("BP below 130/80",), ("target",)), ("g2", ("BP below 130/80",), ("target",))]
    supersede, kept = choices_from_form(choices, {"existing-g2": "supersede", "existing-version-g2": "2"},
                                        re.compile(r"^[0-9]+$").match)
    assert supersede == {"g2": "2"} and kept == (choices[0].goal.label,)
    supersede, _ = choices_from_form(choices, {"existing-g140": "supersede", "existing-version-g140": "../x"},
                                     re.compile(r"^[0-9]+$").match)
    assert supersede == {"g140": "3"}  # not a version: the one read now, and If-Match still guards it
    assert choices_from_form(choices, {"existing-g140": "delete"}, str.isdigit)[0] == {}


# -- the page ------------------------------------------------------------------------------------

def test_existing_section__escaped_collapsed_when_empty_and_linked_to_the_source(app):
    launch = SimpleNamespace(launch_id="l1")
    hostile = _bp_goal(description="<script>alert(1)</script>", author={"display": "Dr <b>X</b>"})
    existing = Existing(plans=[], goals=_goals_of(hostile))
    with app.test_request_context("/"):
        html = render_template("review/_existing.html", existing=existing, launch=launch,
                               conflicts={"g-bp": ["differs"]})
        quiet = render_template("review/_existing.html", existing=existing, launch=launch, conflicts={})
        empty = render_template("review/_existing.html", existing=Existing(), launch=launch)
        conflict = existing.plan_conflicts(sample_plan("p1"))["g-bp"][0]
        warning = str(app.jinja_env.get_template("review/_macros.html").module.conflict(conflict, launch))
    assert "<script>" not in html and "&lt;script&gt;" in html and "Dr &lt;b&gt;X&lt;/b&gt;" in html
    # Open when a goal of the plan differs from one in the record; collapsed (with its count) otherwise.
    assert '<details id="existing" open>' in html and 'href="/p/l1/source/Goal/g140?v=3"' in html
    assert '<details id="existing">' in quiet and "1 goal" in quiet
    assert '<details id="existing">' in empty and "none found" in empty
    assert "<script>" not in warning and "Differs from an active goal in the record: &lt;script&gt;" in warning
    assert "set by Dr &lt;b&gt;X&lt;/b&gt; on 2 Jan 2020, due 2 Jan 2021" in warning


# -- approving -----------------------------------------------------------------------------------

def _careplan(version="1"):
    return {"resourceType": "CarePlan", "id": "30", "meta": {"versionId": version, "tag": [TAG]},
            "status": "draft", "intent": "plan", "subject": {"reference": "Patient/p1"},
            "goal": [{"reference": "Goal/2"}], "activity": []}


def _own_goal():
    return {"resourceType": "Goal", "id": "2", "meta": {"versionId": "1"}, "lifecycleStatus": "proposed",
            "subject": {"reference": "Patient/p1"}}


@responses.activate
def test_decide__superseded_record_goal_is_cancelled_in_the_same_transaction(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_own_goal())
    responses.get(f"{BASE}/Goal/g140/_history/3", json=_bp_goal())
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    responses.get(f"{BASE}/CarePlan/30", json=mark({**_careplan("2"), "status": "active"}, REQUEST_ID,
                                                    author="Practitioner/dr1", now=NOW))
    decide(fhir, "30", "1", Decision("Practitioner/dr1", supersede={"g140": "3"}, kept=("BP goal by Dr Y",)),
           now=NOW, request_id=REQUEST_ID)
    (transaction,) = [c for c in responses.calls if c.request.method == "POST"]
    bundle = json.loads(transaction.request.body)
    assert bundle["type"] == "transaction"
    own, record, provenance, careplan = bundle["entry"]
    assert record["request"] == {"method": "PUT", "url": "Goal/g140", "ifMatch": 'W/"3"'}
    assert record["resource"]["lifecycleStatus"] == "cancelled" and record["resource"]["statusDate"] == "2020-06-02"
    assert record["resource"]["statusReason"] == "superseded by carepath plan CarePlan/30"
    assert record["resource"]["target"] == _bp_goal()["target"]  # nothing else of the record's goal changes
    assert own["resource"]["lifecycleStatus"] == "accepted"
    assert {"reference": "Goal/g140"} in provenance["resource"]["target"]
    assert careplan["resource"]["note"][-1]["text"] == (
        "Plan approved. Goals in the record marked superseded: Blood pressure below 140/90. "
        "Goals in the record kept beside this plan: BP goal by Dr Y")


@responses.activate
def test_decide__rejecting_the_plan_leaves_the_record_goals_alone(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_own_goal())
    responses.post(BASE, json={"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    responses.get(f"{BASE}/CarePlan/30", json=mark(_careplan("2"), REQUEST_ID, author="Practitioner/dr1", now=NOW))
    decide(fhir, "30", "1", Decision("Practitioner/dr1", reject_plan_reason="no", supersede={"g140": "3"}), now=NOW,
           request_id=REQUEST_ID)
    bundle = json.loads(next(c for c in responses.calls if c.request.method == "POST").request.body)
    assert [e["request"]["url"] for e in bundle["entry"]] == ["Goal/2", "Provenance", "CarePlan/30"]


@responses.activate
def test_decide__a_record_goal_changed_meanwhile_gives_412_and_names_it(fhir):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_own_goal())
    responses.get(f"{BASE}/Goal/g140/_history/3", json=_bp_goal())
    responses.post(BASE, status=412, json={"resourceType": "OperationOutcome", "issue": []})
    responses.get(f"{BASE}/CarePlan/30", json=_careplan())
    responses.get(f"{BASE}/CarePlan/30/_history", json=HISTORY)  # the read-back: not this decision's write
    responses.get(f"{BASE}/Goal/g140", json=_bp_goal(version="4", status="completed"))
    with pytest.raises(PlanChanged) as raised:
        decide(fhir, "30", "1", Decision("Practitioner/dr1", supersede={"g140": "3"}), now=NOW)
    assert "changed since you read it" in raised.value.message
    assert raised.value.changes == ["the goal in the record 'Blood pressure below 140/90' was changed (now completed)"]


@responses.activate
@pytest.mark.parametrize(("goal_id", "goal"), [("2", None), ("g140", _bp_goal(patient="p2"))])
def test_decide__refuses_to_supersede_the_plans_own_goal_or_another_patients(fhir, goal_id, goal):
    responses.get(f"{BASE}/CarePlan/30/_history/1", json=_careplan())
    responses.get(f"{BASE}/Goal/2", json=_own_goal())
    if goal:
        responses.get(f"{BASE}/Goal/{goal_id}/_history/3", json=goal)
    with pytest.raises(NotAllowedToApprove):
        decide(fhir, "30", "1", Decision("Practitioner/dr1", supersede={goal_id: "3"}), now=NOW)
    assert not [c for c in responses.calls if c.request.method == "POST"]
