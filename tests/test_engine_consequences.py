"""What evidence in the record changes across the plan: hospice or palliative care, kidney replacement therapy,
frailty or advanced illness in older adults, reasons not to start a statin, treatment already given.

Each consequence is checked positive and negative on synthetic facts (docs/cases.md lists the clinical cases).
"""

from __future__ import annotations

import pytest

from app.engine import build_plan, load_pack_set
from app.engine.synthetic import make_facts

AS_OF = "2025-06-01"
BP_DRUG = {"antihypertensive": "amlodipine 5 MG Oral Tablet"}


@pytest.fixture(scope="module")
def pack_set():
    return load_pack_set()


def _plan(pack_set, **facts):
    return build_plan(make_facts(as_of=AS_OF, **facts), pack_set, AS_OF)


def _reasons(plan) -> dict[str, str]:
    return {item["rule_id"]: item["reason"] for item in plan.not_recommended}


def _citations(item) -> set[str]:
    return {f"{c.guideline} {c.year} {c.section}" for c in item.rationale.citations}


# -- hospice or palliative care ---------------------------------------------------------------------------------

def test_hospice__intensification_not_proposed_and_the_goals_of_care_review_cites_ada_section_13(pack_set):
    plan = _plan(pack_set, age=72, conditions=("diabetes", "hypertension", "palliative_care"), hba1c=8.4,
                 bp=(152, 90), medications={**BP_DRUG, "glucose_lowering": "glipizide 5 MG Oral Tablet"})
    reasons = _reasons(plan)
    assert "ADA 2025 §13 (end-of-life care)" in reasons["htn.treatment-review"]
    assert "palliative care" in reasons["htn.treatment-review"]  # the evidence is named
    review = plan.activity("t2d.goals-of-care")
    assert review.clinician_choice and review.kind == "medication"
    assert any("Section 13, Older Adults (end-of-life care)" in c for c in _citations(review))
    assert "on glipizide 5 mg." in review.rationale.text  # the ingredient, not the product
    assert {"t2d.hba1c-goal", "htn.bp-goal", "t2d.bp-goal"}.isdisjoint({g.id for g in plan.goals})
    assert any("no glycaemic or blood pressure goal is set" in s["text"] for s in plan.area_summaries)


def test_hospice__absent_or_outside_the_look_back_changes_nothing(pack_set):
    facts = dict(age=72, conditions=("diabetes", "hypertension"), hba1c=8.4, bp=(152, 90), medications=BP_DRUG)
    for extra in ({}, {"procedures": {"palliative_or_hospice_care": 2 * 365}}):
        plan = _plan(pack_set, **facts, **extra)
        ids = {a.id for a in plan.activities} | {g.id for g in plan.goals}
        assert {"htn.treatment-review", "htn.bp-goal", "t2d.hba1c-goal"} <= ids
        assert "htn.goals-of-care" not in ids
        assert not plan.activity("t2d.hba1c-test-not-at-goal").clinician_choice


def test_hospice__a_statin_is_neither_started_nor_reviewed_for_intensity(pack_set):
    plan = _plan(pack_set, age=66, conditions=("ascvd",), ldl=120, procedures={"palliative_or_hospice_care": 20},
                 medications={"statin": "atorvastatin 40 MG Oral Tablet"})
    ids = {a.id for a in plan.activities}
    assert "lipid.secondary-prevention.instead" not in ids and "lipid.goals-of-care" in ids
    assert "withdrawal of lipid-lowering therapy may be appropriate" in _reasons(plan)["lipid.secondary-prevention"]


# -- kidney replacement therapy ---------------------------------------------------------------------------------

def test_dialysis__statin_initiation_not_recommended_and_continuation_said_when_one_is_active(pack_set):
    plan = _plan(pack_set, age=60, conditions=("diabetes",), hba1c=7.0, procedures={"dialysis": 5})
    reason = _reasons(plan)["lipid.diabetes"]
    assert "initiation of a statin is not recommended (2018 AHA/ACC §4.5.4, III: no benefit)" in reason
    assert "continued" not in reason
    on_statin = _plan(pack_set, age=60, conditions=("diabetes",), hba1c=7.0, procedures={"dialysis": 5},
                      medications={"statin": "atorvastatin 20 MG Oral Tablet"})
    assert "the active atorvastatin 20 mg may reasonably be continued (IIb)" in _reasons(on_statin)[
        "lipid.diabetes"]
    assert "lipid.diabetes.instead" not in {a.id for a in on_statin.activities}


def test_dialysis__bp_rules_defer_to_the_dialysis_team_citing_why(pack_set):
    plan = _plan(pack_set, age=60, conditions=("hypertension", "esrd"), bp=(150, 95))
    assert "KDOQI commentary 2019" in _reasons(plan)["htn.medication-stage2"]
    assert "htn.bp-goal" not in {g.id for g in plan.goals}
    assert "htn.medication-stage2" in {a.id for a in _plan(pack_set, age=60, conditions=("hypertension",),
                                                           bp=(150, 95)).activities}


def test_kidney_transplant__ckd_rules_defer_but_statin_and_bp_treatment_stay(pack_set):
    plan = _plan(pack_set, age=58, conditions=("ckd", "esrd", "kidney_transplant", "diabetes", "hypertension"),
                 hba1c=7.0, egfr=48, uacr=120, bp=(142, 88), medications=BP_DRUG)
    reasons = _reasons(plan)
    assert "KDIGO 2024 (scope) is not intended for people receiving dialysis or with a kidney transplant" in reasons[
        "ckd.ras-inhibitor"]
    ids = {a.id for a in plan.activities}
    assert {"lipid.diabetes", "htn.treatment-review"} <= ids
    assert "agreed with the transplant team" in plan.activity("htn.treatment-review").rationale.text


# -- frailty or advanced illness in older adults ----------------------------------------------------------------

@pytest.mark.parametrize(("age", "conditions", "said"), [
    (65, ("frailty",), True), (80, ("advanced_illness",), True), (64, ("frailty",), False), (70, (), False)])
def test_frailty__older_adults_get_the_relaxed_goals_the_guidelines_give(pack_set, age, conditions, said):
    plan = _plan(pack_set, age=age, conditions=("diabetes", "hypertension", *conditions), hba1c=7.6, bp=(136, 82),
                 medications=BP_DRUG)
    goal = plan.goal("t2d.hba1c-goal").rationale.text
    assert ("advises against relying on HbA1c" in goal) is said
    bp_goal = plan.goal("htn.bp-goal").rationale.text
    assert ("2017 ACC/AHA §10.3.1" in bp_goal) is said
    assert ("below 140/90 mmHg for very complex/poor health" in bp_goal) is said
    assert ("clinical judgment, patient preference" in plan.activity("htn.treatment-review").rationale.text) is said


@pytest.mark.parametrize(("conditions", "medications", "said"), [
    (("frailty",), {}, True), ((), {"dementia_medication": "donepezil hydrochloride 10 MG Oral Tablet"}, True),
    ((), {}, False)])
def test_frailty__breast_screening_becomes_the_clinicians_decision_citing_acp_2019(pack_set, conditions, medications,
                                                                                    said):
    plan = _plan(pack_set, age=70, sex="female", conditions=conditions, medications=medications)
    screening = plan.activity("screen.breast")
    assert screening.clinician_choice is said
    assert ("ACP 2019 guidance advises stopping breast cancer screening" in screening.rationale.text) is said
    assert any("Guidance statement 3" in c for c in _citations(screening))


# -- reasons not to start a statin ------------------------------------------------------------------------------

def test_statin__documented_medical_reason_not_to_prescribe_is_followed_and_shown(pack_set):
    plan = _plan(pack_set, age=62, ldl=150, ascvd10y=12.0,
                 not_done={"statin": "Procedure contraindicated", "statin_medical_reason": "Procedure contraindicated"})
    reason = _reasons(plan)["lipid.primary-intermediate-risk"]
    assert reason.startswith("documented medical reason not to prescribe a statin (21 Feb 2025: Procedure "
                             "contraindicated)")
    [entry] = [n for n in plan.not_recommended if n["rule_id"] == "lipid.primary-intermediate-risk"]
    assert {"type": "MedicationRequest", "id": "cp-statin-medical-reason-not-done", "version": "1"} in entry["refs"]
    assert "lipid.primary-intermediate-risk" in {
        a.id for a in _plan(pack_set, age=62, ldl=150, ascvd10y=12.0).activities}


def test_statin__a_decision_not_to_prescribe_with_an_unrecognised_reason_is_the_clinicians_choice(pack_set):
    plan = _plan(pack_set, age=62, ldl=150, ascvd10y=12.0, not_done={"statin": "Refusal of treatment by patient"})
    statin = plan.activity("lipid.primary-intermediate-risk")
    assert statin is not None and statin.clinician_choice
    assert "a decision not to prescribe a statin is recorded (21 Feb 2025: Refusal of treatment by patient) with no " \
           "reason the plan recognises" in statin.rationale.text


def test_statin__muscle_symptoms_lead_to_reassessment_not_a_standard_start(pack_set):
    plan = _plan(pack_set, age=64, conditions={"ascvd": "Old myocardial infarction",
                                               "statin_muscle_symptoms": "Myalgia caused by statin"}, ldl=110)
    alternative = plan.activity("lipid.secondary-prevention.instead")
    assert alternative.title == "Assess muscle symptoms before a statin"
    assert "current muscle symptoms or rhabdomyolysis recorded (Myalgia caused by statin)" in \
        _reasons(plan)["lipid.secondary-prevention"]
    assert any(w["rule_id"] == "lipid.secondary-prevention" and w["severity"] == "moderate" for w in plan.warnings)


@pytest.mark.parametrize("key, display", [("statin_muscle_symptoms", "Myalgia caused by statin"),
                                          ("rhabdomyolysis", "Crush syndrome")])
def test_statin__a_past_muscle_episode_makes_the_start_the_clinicians_choice(pack_set, key, display):
    """2018 AHA/ACC §5: assess before a start, rechallenge after a side effect that was not severe; a resolved
    episode (of any cause: the record rarely says) neither blocks the statin nor lets it pass unremarked."""
    plan = _plan(pack_set, age=64, conditions={"ascvd": "Old myocardial infarction"}, past_conditions={key: display},
                 ldl=110)
    statin = plan.activity("lipid.secondary-prevention")
    assert statin is not None and statin.clinician_choice
    assert f"muscle symptoms or rhabdomyolysis recorded in the past ({display}, no longer active)" in \
        statin.rationale.text
    assert "recommendation 4" in statin.rationale.text
    assert key in {fact.key for fact in statin.rationale.facts_used}
    assert plan.activity("lipid.secondary-prevention.instead") is None
    assert "lipid.secondary-prevention" not in _reasons(plan)


@pytest.mark.parametrize("facts, rule, raised", [
    # clinical ASCVD at 64 wants high intensity (2018 §4.1): a moderate product is raised, a high one reviewed
    ({"conditions": ("ascvd",), "medications": {"statin": "atorvastatin 20 MG Oral Tablet",
                                                "statin_moderate_intensity": "atorvastatin 20 MG Oral Tablet"}},
     "lipid.secondary-prevention", True),
    ({"conditions": ("ascvd",), "medications": {"statin": "atorvastatin 40 MG Oral Tablet",
                                                "statin_high_intensity": "atorvastatin 40 MG Oral Tablet"}},
     "lipid.secondary-prevention", False),
    # a statin of unknown intensity (recognised by ingredient only) is reviewed, never raised blindly
    ({"conditions": ("ascvd",), "medications": {"statin": "simvastatin"}}, "lipid.secondary-prevention", False),
    # diabetes at 64 wants at least moderate intensity (2018 §4.3): a low product is raised, a moderate one reviewed
    ({"conditions": ("diabetes",), "hba1c": 7.0,
      "medications": {"statin": "simvastatin 10 MG Oral Tablet",
                      "statin_low_intensity": "simvastatin 10 MG Oral Tablet"}},
     "lipid.diabetes", True),
    ({"conditions": ("diabetes",), "hba1c": 7.0,
      "medications": {"statin": "simvastatin 20 MG Oral Tablet",
                      "statin_moderate_intensity": "simvastatin 20 MG Oral Tablet"}}, "lipid.diabetes", False),
])
def test_statin__one_of_lower_intensity_than_the_indication_is_raised_not_restarted(pack_set, facts, rule, raised):
    plan = _plan(pack_set, age=64, ldl=110, **facts)
    assert plan.activity(rule) is None  # never a second statin start
    instead = plan.activity(f"{rule}.instead")
    assert instead.title == ("Raise statin intensity" if raised else "Review current statin")
    assert ("raise the dose or switch unless a higher intensity was not tolerated" in _reasons(plan)[rule]) is raised


def test_statin__no_raise_over_recorded_muscle_symptoms(pack_set):
    plan = _plan(pack_set, age=64, ldl=110, conditions={"ascvd": "Old myocardial infarction",
                                                        "statin_muscle_symptoms": "Myalgia caused by statin"},
                 medications={"statin": "atorvastatin 20 MG Oral Tablet",
                              "statin_moderate_intensity": "atorvastatin 20 MG Oral Tablet"})
    assert plan.activity("lipid.secondary-prevention.instead").title != "Raise statin intensity"


def test_statin__liver_disease_makes_the_start_the_clinicians_judgement(pack_set):
    plan = _plan(pack_set, age=64, conditions={"ascvd": "Old myocardial infarction", "liver_disease": "Cirrhosis"},
                 ldl=110)
    statin = plan.activity("lipid.secondary-prevention")
    assert statin.clinician_choice and "liver disease recorded (Cirrhosis)" in statin.rationale.text
    assert any("Section 5, Statin safety" in c for c in _citations(statin))


def test_statin__breastfeeding_is_a_safety_contraindication(pack_set):
    plan = _plan(pack_set, age=30, sex="female", conditions=("breastfeeding",), ldl=210)
    assert "lipid.severe-hypercholesterolemia" not in {a.id for a in plan.activities}
    assert any(w["rule_id"] == "lipid.severe-hypercholesterolemia" and "FDA 2021" in w["message"]
               for w in plan.warnings)


# -- a treatment already given is not started again -------------------------------------------------------------

ALREADY = [
    ("lipid.secondary-prevention", dict(age=60, conditions=("ascvd",), ldl=110), {"statin": "rosuvastatin 20 MG"}),
    ("lipid.severe-hypercholesterolemia", dict(age=40, ldl=200), {"statin": "rosuvastatin 20 MG"}),
    ("lipid.diabetes", dict(age=55, conditions=("diabetes",), hba1c=7.0), {"statin": "rosuvastatin 20 MG"}),
    ("lipid.primary-high-risk", dict(age=65, ldl=150, ascvd10y=22.0), {"statin": "rosuvastatin 20 MG"}),
    ("lipid.primary-intermediate-risk", dict(age=65, ldl=150, ascvd10y=12.0), {"statin": "rosuvastatin 20 MG"}),
    ("ckd.ras-inhibitor", dict(age=60, conditions=("ckd",), egfr=55, uacr=100), {"arb": "losartan 50 MG"}),
    ("ckd.ras-inhibitor", dict(age=60, conditions=("ckd",), egfr=55, uacr=100),
     {"ras_inhibitor": "sacubitril 24 MG / valsartan 26 MG"}),
    ("ckd.sglt2-inhibitor", dict(age=60, conditions=("ckd",), egfr=45, uacr=250), {"sglt2_inhibitor": "dapagliflozin"}),
    ("t2d.cardiorenal-agent", dict(age=60, conditions=("diabetes", "ascvd"), hba1c=7.2), {"glp1_ra": "semaglutide"}),
    ("htn.medication-stage2", dict(age=55, conditions=("hypertension",), bp=(150, 95)), BP_DRUG),
    ("tobacco.pharmacotherapy", dict(age=40, smoking="current"), {"cessation_medication": "varenicline 1 MG"}),
]


@pytest.mark.parametrize(("rule_id", "facts", "medications"), ALREADY,
                         ids=[f"{rule}-{next(iter(given))}" for rule, _, given in ALREADY])
def test_start_rules__not_proposed_to_a_patient_already_treated(pack_set, rule_id, facts, medications):
    assert rule_id in {a.id for a in _plan(pack_set, **facts).activities}
    treated = _plan(pack_set, **facts, medications=medications)
    assert rule_id not in {a.id for a in treated.activities}


def test_statin__declined_by_the_patient_is_offered_again_as_the_clinicians_choice(pack_set):
    plan = _plan(pack_set, age=62, ldl=150, ascvd10y=12.0,
                 not_done={"statin": "Patient requests alternative treatment",
                           "statin_declined": "Patient requests alternative treatment"})
    statin = plan.activity("lipid.primary-intermediate-risk")
    assert statin is not None and statin.clinician_choice
    assert "the patient declined a statin (21 Feb 2025: Patient requests alternative treatment)" \
        in statin.rationale.text
    assert "§4.4.1" in statin.rationale.text
    assert "lipid.primary-intermediate-risk" not in _reasons(plan)


def test_measure_bp__left_to_obstetric_care_in_pregnancy_and_the_clinicians_choice_in_frailty(pack_set):
    hypertension = dict(conditions=("hypertension",), bp=None)
    assert not _plan(pack_set, age=55, **hypertension).activity("htn.measure-bp").clinician_choice
    frail = _plan(pack_set, age=81, conditions=("hypertension", "frailty"), bp=None).activity("htn.measure-bp")
    assert frail.clinician_choice and "§10.3.1" in frail.rationale.text
    pregnant = _plan(pack_set, age=30, conditions=("hypertension", "pregnancy"), bp=None)
    assert plan_ids(pregnant).isdisjoint({"htn.measure-bp"})
    assert "obstetric care" in _reasons(pregnant)["htn.measure-bp"]


def test_depression_screening__not_proposed_with_a_recorded_bipolar_disorder(pack_set):
    assert _plan(pack_set, age=40).activity("depression.screening") is not None
    plan = _plan(pack_set, age=40, conditions=("bipolar_disorder",))
    assert plan.activity("depression.screening") is None
    assert "asymptomatic adults" in _reasons(plan)["depression.screening"]


def plan_ids(plan) -> set[str]:
    return {a.id for a in plan.activities}


# -- BMI and obesity ------------------------------------------------------------------------------------------------

def test_obesity__no_recent_bmi_proposes_measuring_it_a_documented_reason_makes_it_the_clinicians_choice(pack_set):
    plan = _plan(pack_set, age=50)
    measure = plan.activity("obesity.measure-bmi")
    assert measure is not None and "not measured on" not in measure.rationale.text
    assert _plan(pack_set, age=50, bmi=24.0).activity("obesity.measure-bmi") is None
    declined = _plan(pack_set, age=50, not_done={"bmi": "Procedure contraindicated"}).activity("obesity.measure-bmi")
    assert declined.clinician_choice
    assert "not measured on 21 Feb 2025 (Procedure contraindicated)" in declined.rationale.text
    assert "obesity.measure-bmi" in _reasons(_plan(pack_set, age=30, conditions=("pregnancy",)))


def test_obesity__in_hospice_no_weight_loss_programme(pack_set):
    assert _plan(pack_set, age=60, bmi=34.0).activity("obesity.behavioral-intervention") is not None
    plan = _plan(pack_set, age=60, bmi=34.0, conditions=("palliative_care",))
    assert plan.activity("obesity.behavioral-intervention") is None
    assert "is not proposed" in _reasons(plan)["obesity.behavioral-intervention"]


# -- a recorded 10-year risk of 20 % or more with no LDL-C ----------------------------------------------------------

def test_statin__high_risk_without_ldl_is_offered_as_the_clinicians_choice_pending_a_lipid_profile(pack_set):
    plan = _plan(pack_set, age=70, ascvd10y=22.0)
    statin = plan.activity("lipid.primary-high-risk-ldl-unknown")
    assert statin is not None and statin.clinician_choice and "lipid profile" in statin.rationale.text
    with_ldl = _plan(pack_set, age=70, ascvd10y=22.0, ldl=120)
    assert with_ldl.activity("lipid.primary-high-risk-ldl-unknown") is None
    assert with_ldl.activity("lipid.primary-high-risk") is not None
    assert _plan(pack_set, age=70, ascvd10y=12.0).activity("lipid.primary-high-risk-ldl-unknown") is None
    in_hospice = _plan(pack_set, age=70, ascvd10y=22.0, conditions=("palliative_care",))
    assert "lipid.primary-high-risk-ldl-unknown" in _reasons(in_hospice)


# -- documented reasons not to screen or follow up ------------------------------------------------------------------

def test_depression_screening__not_done_with_a_reason_is_the_clinicians_choice_with_the_reason_shown(pack_set):
    plan = _plan(pack_set, age=40, not_done={"depression_screening": "Depression screening declined"})
    screening = plan.activity("depression.screening")
    assert screening.clinician_choice
    assert "not done on 21 Feb 2025 (Depression screening declined)" in screening.rationale.text
    assert "not done on" not in _plan(pack_set, age=40).activity("depression.screening").rationale.text


def test_obesity__a_decision_not_to_follow_up_makes_the_programme_the_clinicians_choice(pack_set):
    assert not _plan(pack_set, age=60, bmi=34.0).activity("obesity.behavioral-intervention").clinician_choice
    plan = _plan(pack_set, age=60, bmi=34.0, not_done={"weight_intervention": "Procedure contraindicated"})
    programme = plan.activity("obesity.behavioral-intervention")
    assert programme.clinician_choice and "Procedure contraindicated" in programme.rationale.text
