"""The clinical test cases: patient summary -> expected plan items. Tests run them; docs/cases.md shows them.

``python -m app.engine.cases > docs/cases.md`` regenerates the clinician-readable table from this data;
``tests/test_engine_cases.py`` runs every case through the engine and checks the committed table is current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

AS_OF = "2025-06-01"


@dataclass(frozen=True)
class Case:
    """One patient and what the plan must (and must not) contain."""

    id: str
    area: str
    facts: dict[str, Any]
    has: tuple[str, ...] = ()  # activity or goal ids that must be in the plan
    lacks: tuple[str, ...] = ()  # activity or goal ids that must not be
    not_recommended: tuple[str, ...] = ()  # rule ids listed as considered but not recommended
    warnings: tuple[str, ...] = ()  # rule ids that must raise a warning
    gaps: tuple[str, ...] = ()  # fact keys named as data gaps
    due: dict[str, str] = field(default_factory=dict)  # activity id -> expected due date
    no_warnings: tuple[str, ...] = ()  # rule ids that must not raise a warning
    choice: tuple[str, ...] = ()  # activity or goal ids that must be flagged the clinician's choice
    not_choice: tuple[str, ...] = ()  # activity or goal ids that must be in the plan without that flag
    outside: tuple[str, ...] = ()  # area or rule ids left out because the patient is outside their population


def c(case_id: str, area: str, has: tuple[str, ...] = (), lacks: tuple[str, ...] = (),
      not_recommended: tuple[str, ...] = (), warnings: tuple[str, ...] = (), gaps: tuple[str, ...] = (),
      due: dict[str, str] | None = None, no_warnings: tuple[str, ...] = (), choice: tuple[str, ...] = (),
      not_choice: tuple[str, ...] = (), outside: tuple[str, ...] = (), **facts: Any) -> Case:
    """A case; keyword arguments other than the expectations go to ``make_facts``."""
    return Case(case_id, area, facts, has, lacks, not_recommended, warnings, gaps, due or {}, no_warnings, choice,
                not_choice, outside)


DM = ("diabetes",)
T2D, HTN, LIPID, CKD, PREV, PGX = ("Type 2 diabetes", "Blood pressure", "ASCVD risk and statins",
                                   "Chronic kidney disease", "Prevention", "Pharmacogenomics")
EOL, KRT, FRAIL, REASONS = ("Hospice or palliative care (plan-wide)", "Dialysis, end-stage renal disease or a kidney "
                            "transplant (plan-wide)", "Frailty or advanced illness in older adults",
                            "Reasons not to start a treatment")
ON_BP_DRUG = {"antihypertensive": "amlodipine 5 MG Oral Tablet"}
WHOM = "Whom the packs are for (population)"
PEDS = "Children and adolescents (pediatric pack)"
#: Raised BP, type 2 diabetes, smoking: every adult area has something to say to this patient.
ADULT_FINDINGS = {"bp": (150, 95), "conditions": ("hypertension", "diabetes"), "hba1c": 8.2, "smoking": "current"}
ADULT_ITEMS = ("htn.medication-stage2", "htn.lifestyle", "htn.bp-goal", "t2d.hba1c-goal", "tobacco.counselling")
CASES: list[Case] = [
    # -- type 2 diabetes -------------------------------------------------------------------------
    c("t2d-at-goal", T2D, age=60, conditions=DM, hba1c=6.9, has=("t2d.hba1c-goal", "t2d.hba1c-test-at-goal"),
      lacks=("t2d.hba1c-test-not-at-goal",), due={"t2d.hba1c-test-at-goal": "2025-11-02"}),
    c("t2d-at-threshold", T2D, age=60, conditions=DM, hba1c=7.0, has=("t2d.hba1c-test-not-at-goal",),
      lacks=("t2d.hba1c-test-at-goal",), due={"t2d.hba1c-test-not-at-goal": "2025-08-02"}),
    c("t2d-stale-hba1c", T2D, age=60, conditions=DM, hba1c=(6.5, 400), has=("t2d.hba1c-test-due",),
      lacks=("t2d.hba1c-test-at-goal",), gaps=("hba1c",), due={"t2d.hba1c-test-due": AS_OF}),
    c("t2d-no-hba1c", T2D, age=60, conditions=DM, has=("t2d.hba1c-test-due", "t2d.hba1c-goal"), gaps=("hba1c",)),
    c("no-diabetes-no-diabetes-rules", T2D, age=60, hba1c=8.5,
      lacks=("t2d.hba1c-goal", "t2d.hba1c-test-not-at-goal", "t2d.foot-exam", "t2d.dsmes")),
    c("t2d-annual-care", T2D, age=50, conditions=DM, hba1c=7.5,
      has=("t2d.kidney-tests", "t2d.retinal-exam", "t2d.foot-exam", "t2d.dsmes")),
    # kidney tests resulted 100 days ago without a number carepath can read (a text ">60", a code): done, and
    # due a year later; one of the two missing: due now
    c("t2d-kidney-tests-resulted-not-numeric", T2D, age=50, conditions=DM, hba1c=7.5,
      procedures={"uacr_test": 100, "egfr_test": 100}, has=("t2d.kidney-tests",),
      due={"t2d.kidney-tests": "2026-02-21"}),
    c("t2d-kidney-tests-uacr-missing", T2D, age=50, conditions=DM, hba1c=7.5, egfr=80,
      procedures={"egfr_test": 100}, has=("t2d.kidney-tests",), due={"t2d.kidney-tests": AS_OF}),
    c("t2d-foot-exam-recent", T2D, age=50, conditions=DM, hba1c=7.5, procedures={"foot_exam": 100},
      has=("t2d.foot-exam",), due={"t2d.foot-exam": "2026-02-21"}),
    c("t2d-retinal-exam-recent", T2D, age=50, conditions=DM, hba1c=7.5, procedures={"retinal_exam": 200},
      has=("t2d.retinal-exam",), due={"t2d.retinal-exam": "2025-11-13"}),
    c("t2d-ascvd-cardiorenal", T2D, age=66, conditions=("diabetes", "ascvd"), hba1c=7.2,
      has=("t2d.cardiorenal-agent",)),
    c("t2d-ascvd-on-sglt2i", T2D, age=66, conditions=("diabetes", "ascvd"), hba1c=7.2,
      medications={"sglt2_inhibitor": "empagliflozin 10 MG Oral Tablet"}, lacks=("t2d.cardiorenal-agent",),
      not_recommended=("t2d.cardiorenal-agent",)),
    c("t2d-no-ascvd-no-cardiorenal", T2D, age=66, conditions=DM, hba1c=7.2, lacks=("t2d.cardiorenal-agent",)),
    c("t2d-pregnant-cardiorenal", T2D, age=34, conditions=("diabetes", "heart_failure", "pregnancy"), hba1c=7.2,
      lacks=("t2d.cardiorenal-agent",), warnings=("t2d.cardiorenal-agent",)),
    c("t2d-pregnant-no-hba1c-goal", T2D, age=32, conditions=("diabetes", "pregnancy"), hba1c=6.4,
      lacks=("t2d.hba1c-goal",), warnings=("t2d.pregnancy",)),
    c("t2d-no-bp-goal-without-hypertension", T2D, age=50, conditions=DM, hba1c=6.8, bp=(118, 76),
      lacks=("t2d.bp-goal", "htn.bp-goal")),
    c("t2d-insulin-hba1c-3", T2D, age=58, conditions=DM, hba1c=3.0,
      medications={"insulin": "insulin glargine 100 UNT/ML Injectable Solution"},
      has=("t2d.hypoglycemia-low-hba1c",), lacks=("t2d.hba1c-test-at-goal",),
      not_recommended=("t2d.hba1c-test-at-goal",), warnings=("t2d.hypoglycemia-low-hba1c",)),
    c("t2d-sulfonylurea-hba1c-6.4", T2D, age=70, conditions=DM, hba1c=6.4,
      medications={"sulfonylurea": "glipizide 5 MG Oral Tablet"},
      has=("t2d.hypoglycemia-low-hba1c",), warnings=("t2d.hypoglycemia-low-hba1c",)),
    c("t2d-metformin-only-hba1c-6.4", T2D, age=70, conditions=DM, hba1c=6.4,
      medications={"metformin": "metformin hydrochloride 500 MG Oral Tablet"},
      has=("t2d.hba1c-test-at-goal",), lacks=("t2d.hypoglycemia-low-hba1c",),
      no_warnings=("t2d.hypoglycemia-low-hba1c",)),
    c("t2d-insulin-hba1c-6.5", T2D, age=58, conditions=DM, hba1c=6.5,
      medications={"insulin": "insulin glargine 100 UNT/ML Injectable Solution"},
      has=("t2d.hba1c-test-at-goal",), lacks=("t2d.hypoglycemia-low-hba1c",)),
    c("t2d-insulin-hypoglycemia-recorded", T2D, age=58, conditions=("diabetes", "hypoglycemia"), hba1c=7.4,
      medications={"insulin": "insulin glargine 100 UNT/ML Injectable Solution"},
      has=("t2d.hypoglycemia-recorded", "t2d.hba1c-test-not-at-goal"), lacks=("t2d.hypoglycemia-low-hba1c",),
      warnings=("t2d.hypoglycemia-recorded",)),
    # -- blood pressure --------------------------------------------------------------------------
    c("bp-normal", HTN, age=45, bp=(119, 79), lacks=("htn.lifestyle", "htn.bp-goal", "htn.recheck-elevated")),
    c("bp-elevated-threshold", HTN, age=45, bp=(120, 79), has=("htn.lifestyle", "htn.recheck-elevated"),
      lacks=("htn.bp-goal", "htn.medication-stage1"), due={"htn.recheck-elevated": "2025-09-01"}),
    c("bp-stage1-threshold-low-risk", HTN, age=45, bp=(130, 79), ascvd10y=4.0,
      has=("htn.recheck-stage1-low-risk", "htn.bp-goal"),
      lacks=("htn.medication-stage1", "htn.confirm-out-of-office")),
    c("bp-stage1-single-occasion-confirm-only", HTN, age=45, bp=(135, 85, 1), ascvd10y=4.0,
      has=("htn.confirm-out-of-office",),
      lacks=("htn.bp-goal", "htn.recheck-stage1-low-risk", "htn.lifestyle", "htn.medication-stage1")),
    c("bp-elevated-single-occasion", HTN, age=45, bp=(125, 78, 1), has=("htn.second-occasion",),
      lacks=("htn.recheck-elevated", "htn.lifestyle", "htn.bp-goal", "htn.confirm-out-of-office")),
    c("bp-elevated-two-occasions", HTN, age=45, bp=(125, 78), has=("htn.recheck-elevated",),
      lacks=("htn.second-occasion", "htn.bp-goal")),
    c("bp-stage1-diastolic-threshold", HTN, age=45, bp=(125, 80), ascvd10y=4.0,
      has=("htn.recheck-stage1-low-risk",)),
    c("bp-stage1-risk-threshold", HTN, age=55, bp=(134, 84), ascvd10y=10.0, conditions=("hypertension",),
      has=("htn.medication-stage1", "htn.recheck-after-start"), lacks=("htn.recheck-stage1-low-risk",),
      due={"htn.recheck-after-start": "2025-07-01"}),
    c("bp-stage1-risk-under", HTN, age=55, bp=(134, 84), ascvd10y=9.9, conditions=("hypertension",),
      has=("htn.recheck-stage1-low-risk",), lacks=("htn.medication-stage1",)),
    c("bp-stage1-diabetes", HTN, age=55, bp=(132, 78), conditions=("hypertension", "diabetes"), hba1c=6.8,
      has=("htn.medication-stage1", "htn.bp-goal"), lacks=("t2d.bp-goal",)),
    c("bp-stage2-threshold", HTN, age=55, bp=(140, 70), conditions=("hypertension",),
      has=("htn.medication-stage2",), lacks=("htn.confirm-out-of-office",)),
    c("bp-single-reading-confirmed-at-home", HTN, age=55, bp=(150, 95, 1), out_of_office=(138, 86, "self-measured"),
      has=("htn.bp-goal", "htn.lifestyle"), lacks=("htn.confirm-out-of-office",)),
    c("bp-single-reading-white-coat-pattern", HTN, age=55, bp=(150, 95, 1), out_of_office=(126, 78, "ambulatory"),
      has=("htn.confirm-out-of-office",), choice=("htn.confirm-out-of-office",), lacks=("htn.bp-goal",)),
    c("bp-stage2-single-reading", HTN, age=55, bp=(150, 95, 1), has=("htn.confirm-out-of-office",),
      lacks=("htn.medication-stage2", "htn.recheck-after-start", "htn.bp-goal", "htn.lifestyle")),
    c("bp-stage2-single-reading-known-htn", HTN, age=55, bp=(150, 95, 1), conditions=("hypertension",),
      has=("htn.medication-stage2",)),
    c("bp-stage2-diastolic", HTN, age=55, bp=(128, 90), has=("htn.medication-stage2",)),
    c("bp-stage2-under", HTN, age=55, bp=(139, 89), ascvd10y=3.0, lacks=("htn.medication-stage2",)),
    c("bp-none-recent-treated", HTN, age=60, conditions=("hypertension",),
      medications={"antihypertensive": "Hydrochlorothiazide 25 MG"}, has=("htn.measure-bp",),
      lacks=("htn.treatment-review",)),
    c("bp-recent-treated", HTN, age=60, bp=(128, 78), conditions=("hypertension",),
      medications={"antihypertensive": "Hydrochlorothiazide 25 MG"}, lacks=("htn.measure-bp",)),
    c("bp-stage2-pregnant", HTN, age=30, sex="female", bp=(150, 95), conditions=("pregnancy",),
      has=("htn.pregnancy-raised",), lacks=("htn.medication-stage2", "htn.lifestyle", "htn.bp-goal"),
      not_recommended=("htn.medication-stage2", "htn.lifestyle"), warnings=("htn.pregnancy-raised",)),
    c("bp-severe-pregnant", HTN, age=30, sex="female", bp=(152, 110), conditions=("pregnancy",),
      has=("htn.pregnancy-severe",), lacks=("htn.pregnancy-raised", "htn.medication-stage2", "htn.bp-goal"),
      warnings=("htn.pregnancy-severe",)),
    c("bp-normal-pregnant", HTN, age=30, sex="female", bp=(124, 78), conditions=("pregnancy",),
      lacks=("htn.pregnancy-raised", "htn.pregnancy-severe", "htn.lifestyle", "htn.bp-goal"),
      not_recommended=("htn.lifestyle",)),
    c("bp-acei-in-pregnancy", HTN, age=32, sex="female", bp=(124, 76), conditions=("pregnancy", "hypertension"),
      medications={"ace_inhibitor": "lisinopril 10 MG Oral Tablet", "antihypertensive": "lisinopril 10 MG Oral Tablet"},
      warnings=("htn.raas-in-pregnancy",)),
    c("bp-acei-not-pregnant", HTN, age=32, sex="female", bp=(124, 76), conditions=("hypertension",),
      medications={"ace_inhibitor": "lisinopril 10 MG Oral Tablet", "antihypertensive": "lisinopril 10 MG Oral Tablet"},
      no_warnings=("htn.raas-in-pregnancy",)),
    c("bp-treated-not-at-goal", HTN, age=60, bp=(138, 82), conditions=("hypertension",),
      medications={"antihypertensive": "Hydrochlorothiazide 25 MG"},
      has=("htn.treatment-review",), lacks=("htn.medication-stage1", "htn.medication-stage2")),
    c("bp-treated-at-goal", HTN, age=60, bp=(128, 78), conditions=("hypertension",),
      medications={"antihypertensive": "Hydrochlorothiazide 25 MG"}, has=("htn.bp-goal",),
      lacks=("htn.treatment-review",)),
    c("bp-verapamil-arrhythmia-no-hypertension", HTN, age=60, bp=(118, 76), conditions=("arrhythmia",),
      medications={"antihypertensive": "verapamil hydrochloride 120 MG Oral Tablet"},
      has=("htn.indication-not-recorded",), lacks=("htn.bp-goal", "htn.treatment-review", "htn.lifestyle")),
    c("bp-metoprolol-angina-raised-single-occasion", HTN, age=60, bp=(142, 88, 1), conditions=("angina",),
      medications={"antihypertensive": "metoprolol tartrate 50 MG Oral Tablet"},
      has=("htn.indication-not-recorded", "htn.confirm-out-of-office"),
      lacks=("htn.bp-goal", "htn.treatment-review", "htn.medication-stage2")),
    c("bp-metoprolol-heart-failure-raised-two-occasions", HTN, age=60, bp=(142, 88), conditions=("heart_failure",),
      medications={"antihypertensive": "metoprolol succinate 50 MG Extended Release Oral Tablet"},
      has=("htn.treatment-review", "htn.bp-goal"), lacks=("htn.indication-not-recorded",)),
    c("bp-amlodipine-no-other-indication", HTN, age=60, bp=(138, 82, 1),
      medications={"antihypertensive": "amlodipine 5 MG Oral Tablet"},
      has=("htn.treatment-review", "htn.bp-goal"), lacks=("htn.indication-not-recorded", "htn.confirm-out-of-office")),
    c("bp-metoprolol-arrhythmia-with-hypertension", HTN, age=60, bp=(138, 82),
      conditions=("hypertension", "arrhythmia"),
      medications={"antihypertensive": "metoprolol tartrate 50 MG Oral Tablet"},
      has=("htn.treatment-review",), lacks=("htn.indication-not-recorded",)),
    c("bp-severe-systolic-180-treated", HTN, age=60, bp=(180, 100), conditions=("hypertension",),
      medications={"antihypertensive": "Hydrochlorothiazide 25 MG"}, has=("htn.severe", "htn.bp-goal"),
      lacks=("htn.treatment-review",), not_recommended=("htn.treatment-review",), warnings=("htn.severe",),
      due={"htn.severe": AS_OF}),
    c("bp-severe-diastolic-120-single-occasion", HTN, age=50, bp=(170, 120, 1), has=("htn.severe",),
      lacks=("htn.confirm-out-of-office", "htn.bp-goal"), not_recommended=("htn.confirm-out-of-office",),
      warnings=("htn.severe",)),
    c("bp-179-119-not-severe", HTN, age=60, bp=(179, 119), conditions=("hypertension",),
      has=("htn.medication-stage2", "htn.recheck-after-start"), lacks=("htn.severe",), no_warnings=("htn.severe",)),
    c("bp-severe-pregnant-obstetric-warning", HTN, age=30, sex="female", bp=(185, 100), conditions=("pregnancy",),
      warnings=("htn.pregnancy-severe",), no_warnings=("htn.severe",), lacks=("htn.bp-goal", "htn.severe")),
    # -- ASCVD risk and statins ------------------------------------------------------------------
    c("statin-secondary", LIPID, age=64, conditions=("ascvd",), ldl=110, has=("lipid.secondary-prevention",)),
    c("statin-secondary-on-statin", LIPID, age=64, conditions=("ascvd",), ldl=110,
      medications={"statin": "atorvastatin 40 MG Oral Tablet"}, lacks=("lipid.secondary-prevention",),
      has=("lipid.secondary-prevention.instead",), not_recommended=("lipid.secondary-prevention",),
      warnings=("lipid.secondary-prevention",)),
    c("statin-secondary-on-moderate-statin-raised", LIPID, age=64, conditions=("ascvd",), ldl=110,
      medications={"statin": "atorvastatin 20 MG Oral Tablet",
                   "statin_moderate_intensity": "atorvastatin 20 MG Oral Tablet"},
      lacks=("lipid.secondary-prevention",), has=("lipid.secondary-prevention.instead",),
      not_recommended=("lipid.secondary-prevention",)),
    c("statin-diabetes-on-low-statin-raised", LIPID, age=55, conditions=("diabetes",), ldl=110,
      medications={"statin": "simvastatin 10 MG Oral Tablet", "statin_low_intensity": "simvastatin 10 MG Oral Tablet"},
      lacks=("lipid.diabetes",), has=("lipid.diabetes.instead",), not_recommended=("lipid.diabetes",)),
    c("statin-secondary-over-75", LIPID, age=80, conditions=("ascvd",), ldl=110,
      has=("lipid.secondary-prevention-over-75",), lacks=("lipid.secondary-prevention",)),
    c("statin-ldl-190", LIPID, age=35, ldl=190, has=("lipid.severe-hypercholesterolemia",)),
    c("statin-ldl-189", LIPID, age=35, ldl=189, lacks=("lipid.severe-hypercholesterolemia",)),
    c("statin-diabetes-40", LIPID, age=40, conditions=DM, hba1c=6.8, ldl=100, has=("lipid.diabetes",)),
    c("statin-diabetes-39", LIPID, age=39, conditions=DM, hba1c=6.8, ldl=100, lacks=("lipid.diabetes",)),
    c("statin-diabetes-76", LIPID, age=76, conditions=DM, hba1c=6.8, ldl=100, lacks=("lipid.diabetes",)),
    c("statin-high-risk-20", LIPID, age=62, ldl=150, ascvd10y=20.0, has=("lipid.primary-high-risk",),
      lacks=("lipid.primary-intermediate-risk",)),
    c("statin-intermediate-19.9", LIPID, age=62, ldl=150, ascvd10y=19.9, has=("lipid.primary-intermediate-risk",),
      lacks=("lipid.primary-high-risk",)),
    c("statin-intermediate-7.5", LIPID, age=62, ldl=150, ascvd10y=7.5, has=("lipid.primary-intermediate-risk",)),
    c("statin-borderline-7.4", LIPID, age=62, ldl=150, ascvd10y=7.4, has=("lipid.primary-borderline-risk",),
      lacks=("lipid.primary-intermediate-risk",)),
    c("statin-borderline-5", LIPID, age=62, ldl=150, ascvd10y=5.0, has=("lipid.primary-borderline-risk",)),
    c("statin-low-4.9", LIPID, age=62, ldl=150, ascvd10y=4.9, has=("lipid.primary-low-risk",),
      lacks=("lipid.primary-borderline-risk",)),
    c("statin-ldl-under-70", LIPID, age=62, ldl=69, ascvd10y=12.0, lacks=("lipid.primary-intermediate-risk",)),
    c("statin-risk-unknown", LIPID, age=62, ldl=150, lacks=("lipid.primary-intermediate-risk",),
      gaps=("ascvd10y",)),
    c("statin-allergy", LIPID, age=62, ldl=150, ascvd10y=12.0, allergies={"statin": "atorvastatin"},
      lacks=("lipid.primary-intermediate-risk",), warnings=("lipid.primary-intermediate-risk",),
      not_recommended=("lipid.primary-intermediate-risk",)),
    c("statin-pregnancy", LIPID, age=35, sex="female", ldl=200, conditions=("pregnancy",),
      lacks=("lipid.severe-hypercholesterolemia",), warnings=("lipid.severe-hypercholesterolemia",)),
    c("statin-active-in-pregnancy", LIPID, age=35, sex="female", conditions=("pregnancy",),
      medications={"statin": "Simvastatin 20 MG Oral Tablet"}, warnings=("lipid.statin-in-pregnancy",)),
    c("statin-duplicate", LIPID, age=60, medications={"statin": "Simvastatin 20 MG + atorvastatin 40 MG"},
      warnings=("lipid.duplicate-statin",)),
    c("statin-single", LIPID, age=60, medications={"statin": "Simvastatin 20 MG Oral Tablet"},
      no_warnings=("lipid.duplicate-statin",)),
    # -- chronic kidney disease ------------------------------------------------------------------
    c("ckd-unconfirmed-egfr-59", CKD, age=60, egfr=59, uacr=10, has=("ckd.confirm",)),
    c("ckd-ras-prescribed-10-days-ago", CKD, age=62, conditions=("ckd",), egfr=48, uacr=60, creatinine=(1.4, 40),
      medications={"ras_inhibitor": "lisinopril 10 MG Oral Tablet", "ace_inhibitor": "lisinopril 10 MG Oral Tablet"},
      prescribed_days_ago={"ras_inhibitor": 10, "ace_inhibitor": 10}, has=("ckd.ras-monitoring",),
      due={"ckd.ras-monitoring": "2025-06-15"}),
    c("ckd-ras-creatinine-since", CKD, age=62, conditions=("ckd",), egfr=48, uacr=60, creatinine=(1.4, 3),
      medications={"ras_inhibitor": "lisinopril 10 MG Oral Tablet", "ace_inhibitor": "lisinopril 10 MG Oral Tablet"},
      prescribed_days_ago={"ras_inhibitor": 10, "ace_inhibitor": 10}, lacks=("ckd.ras-monitoring",)),
    c("ckd-ras-prescribed-200-days-ago", CKD, age=62, conditions=("ckd",), egfr=48, uacr=60, creatinine=(1.4, 40),
      medications={"ras_inhibitor": "lisinopril 10 MG Oral Tablet", "ace_inhibitor": "lisinopril 10 MG Oral Tablet"},
      lacks=("ckd.ras-monitoring",)),
    c("ckd-metformin-egfr-25", CKD, age=70, conditions=("ckd",), egfr=25, uacr=10,
      medications={"metformin": "metformin hydrochloride 500 MG Oral Tablet"},
      has=("ckd.metformin-contraindicated",), lacks=("ckd.metformin-review",),
      warnings=("ckd.metformin-contraindicated",)),
    c("ckd-metformin-egfr-37", CKD, age=70, conditions=("ckd",), egfr=37.2, uacr=10,
      medications={"metformin": "metformin hydrochloride 500 MG Oral Tablet"},
      has=("ckd.metformin-review",), lacks=("ckd.metformin-contraindicated",), warnings=("ckd.metformin-review",)),
    c("ckd-metformin-egfr-45", CKD, age=70, conditions=("ckd",), egfr=45, uacr=10,
      medications={"metformin": "metformin hydrochloride 500 MG Oral Tablet"},
      lacks=("ckd.metformin-review", "ckd.metformin-contraindicated")),
    c("ckd-egfr-25-no-metformin", CKD, age=70, conditions=("ckd",), egfr=25, uacr=10,
      lacks=("ckd.metformin-review", "ckd.metformin-contraindicated")),
    c("ckd-egfr-60-no-ckd", CKD, age=60, egfr=60, uacr=10, lacks=("ckd.confirm", "ckd.monitoring")),
    c("ckd-aki-creatinine-rise-48h", CKD, age=60, egfr=55, uacr=10, creatinine_series=[(1.3, 1), (0.9, 2)],
      has=("ckd.acute-kidney",), warnings=("ckd.acute-kidney",), lacks=("ckd.confirm",),
      not_recommended=("ckd.confirm",), due={"ckd.acute-kidney": AS_OF}),
    c("ckd-creatinine-rise-0.2-no-aki", CKD, age=60, egfr=55, uacr=10, creatinine_series=[(1.1, 1), (0.9, 2)],
      has=("ckd.confirm",), lacks=("ckd.acute-kidney",), no_warnings=("ckd.acute-kidney",)),
    c("ckd-akd-creatinine-fourfold-in-5-weeks", CKD, age=55, egfr=18.5, uacr=10,
      creatinine_series=[(3.02, 5), (0.74, 40)], has=("ckd.acute-kidney",), warnings=("ckd.acute-kidney",),
      lacks=("ckd.confirm",)),
    c("ckd-aki-suspends-ras-start", CKD, age=60, conditions=("ckd",), egfr=40, uacr=100,
      creatinine_series=[(1.9, 3), (1.2, 6)], has=("ckd.acute-kidney",), lacks=("ckd.ras-inhibitor", "ckd.monitoring"),
      not_recommended=("ckd.ras-inhibitor", "ckd.monitoring")),
    c("ckd-stable-creatinine-no-akd", CKD, age=60, conditions=("ckd",), egfr=38, uacr=10,
      creatinine_series=[(1.8, 5), (1.7, 60), (1.75, 120)], has=("ckd.monitoring",), lacks=("ckd.acute-kidney",),
      no_warnings=("ckd.acute-kidney",)),
    c("ckd-uacr-30-unconfirmed", CKD, age=60, egfr=80, uacr=30, has=("ckd.confirm",), lacks=("ckd.ras-inhibitor",)),
    c("ckd-uacr-30", CKD, age=60, conditions=("ckd",), egfr=80, uacr=30, has=("ckd.ras-inhibitor",)),
    c("ckd-monitoring", CKD, age=60, conditions=("ckd",), egfr=55, uacr=10, has=("ckd.monitoring",),
      lacks=("ckd.ras-inhibitor", "ckd.nephrology-referral")),
    c("ckd-uacr-29", CKD, age=60, conditions=("ckd",), egfr=55, uacr=29, lacks=("ckd.ras-inhibitor",)),
    c("ckd-ras-on-acei", CKD, age=60, conditions=("ckd",), egfr=55, uacr=100,
      medications={"ace_inhibitor": "lisinopril 10 MG Oral Tablet"}, lacks=("ckd.ras-inhibitor",),
      not_recommended=("ckd.ras-inhibitor",)),
    c("ckd-ras-angioedema", CKD, age=60, conditions=("ckd", "angioedema"), egfr=55, uacr=100,
      lacks=("ckd.ras-inhibitor",), warnings=("ckd.ras-inhibitor",)),
    c("ckd-ras-acei-allergy", CKD, age=60, conditions=("ckd",), egfr=55, uacr=100,
      allergies={"ace_inhibitor": "lisinopril"}, lacks=("ckd.ras-inhibitor",), warnings=("ckd.ras-inhibitor",)),
    c("ckd-ras-pregnancy", CKD, age=30, sex="female", conditions=("ckd", "pregnancy"), egfr=55, uacr=100,
      lacks=("ckd.ras-inhibitor",), warnings=("ckd.ras-inhibitor",)),
    c("ckd-sglt2-diabetes-egfr-20", CKD, age=60, conditions=("ckd", "diabetes"), hba1c=7.1, egfr=20, uacr=10,
      has=("ckd.sglt2-inhibitor", "ckd.nephrology-referral")),
    c("ckd-sglt2-egfr-19", CKD, age=60, conditions=("ckd", "diabetes"), hba1c=7.1, egfr=19, uacr=10,
      lacks=("ckd.sglt2-inhibitor",)),
    c("ckd-sglt2-uacr-200", CKD, age=60, conditions=("ckd",), egfr=45, uacr=200, has=("ckd.sglt2-inhibitor",)),
    c("ckd-sglt2-uacr-199", CKD, age=60, conditions=("ckd",), egfr=45, uacr=199, lacks=("ckd.sglt2-inhibitor",)),
    c("ckd-referral-egfr-29", CKD, age=60, conditions=("ckd",), egfr=29, uacr=10, has=("ckd.nephrology-referral",)),
    c("ckd-referral-egfr-30", CKD, age=60, conditions=("ckd",), egfr=30, uacr=10,
      lacks=("ckd.nephrology-referral",)),
    c("ckd-referral-uacr-299", CKD, age=60, conditions=("ckd",), egfr=70, uacr=299,
      lacks=("ckd.nephrology-referral",)),
    c("ckd-referral-uacr-300", CKD, age=60, conditions=("ckd",), egfr=70, uacr=300, has=("ckd.nephrology-referral",)),
    c("t2d-kidney-tests-deferred-to-ckd", CKD, age=60, conditions=("ckd", "diabetes"), hba1c=7.1, egfr=50,
      uacr=10, lacks=("t2d.kidney-tests",), not_recommended=("t2d.kidney-tests",), has=("ckd.monitoring",)),
    # -- obesity, tobacco, depression ------------------------------------------------------------
    c("obesity-bmi-30", PREV, age=40, bmi=30.0, has=("obesity.behavioral-intervention",)),
    c("obesity-bmi-29.9", PREV, age=40, bmi=29.9, lacks=("obesity.behavioral-intervention",)),
    c("obesity-pregnant", PREV, age=30, bmi=33, conditions=("pregnancy",),
      lacks=("obesity.behavioral-intervention",), not_recommended=("obesity.behavioral-intervention",)),
    c("tobacco-current", PREV, age=40, smoking="current", has=("tobacco.counselling", "tobacco.pharmacotherapy")),
    c("tobacco-never", PREV, age=40, smoking="never", lacks=("tobacco.counselling", "tobacco.ask")),
    c("tobacco-unknown", PREV, age=40, smoking=None, has=("tobacco.ask",), gaps=("smoking",)),
    c("tobacco-never-older-than-12-months", PREV, age=40, smoking=("never", 400), has=("tobacco.ask",)),
    c("tobacco-current-older-than-12-months", PREV, age=40, smoking=("current", 400), has=("tobacco.ask",),
      lacks=("tobacco.counselling", "tobacco.pharmacotherapy")),
    c("tobacco-never-11-months", PREV, age=40, smoking=("never", 330), lacks=("tobacco.ask",)),
    c("tobacco-pregnant", PREV, age=30, smoking="current", conditions=("pregnancy",),
      has=("tobacco.counselling",), lacks=("tobacco.pharmacotherapy",), warnings=("tobacco.pharmacotherapy",)),
    c("depression-phq9-10", PREV, age=40, phq9=10, has=("depression.follow-up",),
      not_recommended=("depression.screening",)),
    c("depression-phq9-9", PREV, age=40, phq9=9, lacks=("depression.follow-up", "depression.screening")),
    c("depression-unscreened", PREV, age=40, has=("depression.screening",)),
    c("depression-diagnosed", PREV, age=40, conditions=("depression",), lacks=("depression.screening",)),
    # -- screening -------------------------------------------------------------------------------
    c("crc-45", PREV, age=45, has=("screen.colorectal",)),
    c("crc-44", PREV, age=44, lacks=("screen.colorectal",)),
    c("crc-75", PREV, age=75, has=("screen.colorectal",)),
    c("crc-76", PREV, age=76, lacks=("screen.colorectal",)),
    c("crc-70-frail", PREV, age=70, conditions=("frailty",), has=("screen.colorectal",)),
    c("crc-colonoscopy-9y", PREV, age=60, procedures={"colonoscopy": 9 * 365}, lacks=("screen.colorectal",),
      not_recommended=("screen.colorectal",)),
    c("crc-colonoscopy-day-before-10y", PREV, age=60, procedures={"colonoscopy": 3652}, lacks=("screen.colorectal",)),
    c("crc-colonoscopy-10y", PREV, age=60, procedures={"colonoscopy": 3653}, has=("screen.colorectal",)),
    c("crc-fit-11-months", PREV, age=60, fit=(0, 330), lacks=("screen.colorectal",)),
    c("crc-fit-13-months", PREV, age=60, fit=(0, 400), has=("screen.colorectal",)),
    c("crc-polyps-recorded", PREV, age=60, conditions=("colorectal_polyp",), procedures={"colonoscopy": 400},
      has=("screen.polyp-surveillance",), lacks=("screen.colorectal",), not_recommended=("screen.colorectal",)),
    c("crc-polypectomy-colonoscopy-9y", PREV, age=60, procedures={"polypectomy": 9 * 365, "colonoscopy": 9 * 365},
      has=("screen.polyp-surveillance",), lacks=("screen.colorectal",)),
    c("crc-no-polyps-no-surveillance", PREV, age=60, procedures={"colonoscopy": 400},
      lacks=("screen.polyp-surveillance",)),
    # USMSTF 2020 Table 3 by the findings of the last colonoscopy (histology dated on or after it; largest size)
    c("polyp-advanced-histology-3y", PREV, age=60, procedures={"colonoscopy": 400, "polyp_advanced_histology": 395},
      has=("screen.polyp-surveillance-3y",), lacks=("screen.polyp-surveillance", "screen.colorectal"),
      due={"screen.polyp-surveillance-3y": "2027-04-27"}, choice=("screen.polyp-surveillance-3y",)),
    c("polyp-adenoma-10mm-3y", PREV, age=60, procedures={"colonoscopy": 400, "polyp_adenoma_or_serrated": 395},
      polyp_size=(10, 400), has=("screen.polyp-surveillance-3y",), lacks=("screen.polyp-surveillance",),
      due={"screen.polyp-surveillance-3y": "2027-04-27"}),
    c("polyp-adenoma-9mm-from-report", PREV, age=60, procedures={"colonoscopy": 400, "polyp_adenoma_or_serrated": 395},
      polyp_size=(9, 400), has=("screen.polyp-surveillance",), lacks=("screen.polyp-surveillance-3y",),
      choice=("screen.polyp-surveillance",)),
    c("polyp-hyperplastic-12mm-3y", PREV, age=60, procedures={"colonoscopy": 400, "polyp_hyperplastic": 395},
      polyp_size=(12, 400), has=("screen.polyp-surveillance-3y",), lacks=("screen.polyp-surveillance",)),
    c("polyp-hyperplastic-5mm-from-report", PREV, age=60, procedures={"colonoscopy": 400, "polyp_hyperplastic": 395},
      polyp_size=(5, 400), has=("screen.polyp-surveillance",), lacks=("screen.polyp-surveillance-3y",)),
    c("polyp-15mm-no-histology-from-report", PREV, age=60, procedures={"colonoscopy": 400, "polypectomy": 400},
      polyp_size=(15, 400), has=("screen.polyp-surveillance",), lacks=("screen.polyp-surveillance-3y",)),
    c("polyp-advanced-before-last-colonoscopy", PREV, age=60,
      procedures={"colonoscopy": 400, "polyp_advanced_histology": 2000}, has=("screen.polyp-surveillance",),
      lacks=("screen.polyp-surveillance-3y", "screen.colorectal")),
    c("polyp-advanced-no-colonoscopy", PREV, age=60, procedures={"polyp_advanced_histology": 400},
      has=("screen.polyp-surveillance",), lacks=("screen.polyp-surveillance-3y", "screen.colorectal")),
    c("polyp-advanced-palliative", PREV, age=60, conditions=("palliative_care",),
      procedures={"colonoscopy": 400, "polyp_advanced_histology": 395},
      lacks=("screen.polyp-surveillance-3y", "screen.polyp-surveillance"),
      not_recommended=("screen.polyp-surveillance-3y",)),
    c("crc-polyps-palliative", PREV, age=60, conditions=("colorectal_polyp", "palliative_care"),
      lacks=("screen.polyp-surveillance", "screen.colorectal"), not_recommended=("screen.polyp-surveillance",)),
    c("crc-colectomy", PREV, age=60, procedures={"total_colectomy": 2000}, lacks=("screen.colorectal",),
      not_recommended=("screen.colorectal",)),
    c("crc-palliative", PREV, age=60, conditions=("palliative_care",), lacks=("screen.colorectal", "screen.breast"),
      not_recommended=("screen.colorectal",)),
    c("crc-hospice-procedure", PREV, age=60, sex="female", procedures={"palliative_or_hospice_care": 30},
      lacks=("screen.colorectal", "screen.breast", "screen.cervical"), not_recommended=("screen.breast",)),
    c("crc-hospice-3-years-ago", PREV, age=60, procedures={"palliative_or_hospice_care": 3 * 365},
      has=("screen.colorectal",)),
    c("breast-40", PREV, age=40, sex="female", has=("screen.breast",)),
    c("breast-39", PREV, age=39, sex="female", lacks=("screen.breast",)),
    c("breast-74", PREV, age=74, sex="female", has=("screen.breast",)),
    c("breast-75", PREV, age=75, sex="female", lacks=("screen.breast",)),
    c("breast-male", PREV, age=50, sex="male", lacks=("screen.breast", "screen.cervical")),
    c("breast-mammogram-1y", PREV, age=50, sex="female", procedures={"mammography": 365},
      lacks=("screen.breast",), not_recommended=("screen.breast",)),
    c("breast-mammogram-2y", PREV, age=50, sex="female", procedures={"mammography": 731}, has=("screen.breast",)),
    c("breast-mastectomy", PREV, age=50, sex="female", conditions=("bilateral_mastectomy",),
      lacks=("screen.breast",)),
    c("breast-mastectomy-procedure", PREV, age=50, sex="female", procedures={"bilateral_mastectomy": 1000},
      lacks=("screen.breast",), not_recommended=("screen.breast",)),
    c("cervical-21", PREV, age=21, sex="female", has=("screen.cervical",)),
    c("cervical-20", PREV, age=20, sex="female", lacks=("screen.cervical",)),
    c("cervical-65", PREV, age=65, sex="female", has=("screen.cervical",)),
    c("cervical-66", PREV, age=66, sex="female", lacks=("screen.cervical",)),
    c("cervical-cytology-2y", PREV, age=35, sex="female", procedures={"cervical_cytology": 730},
      lacks=("screen.cervical",)),
    c("cervical-hpv-4y-age-35", PREV, age=35, sex="female", hpv_test=(0, 4 * 365), lacks=("screen.cervical",),
      not_recommended=("screen.cervical",)),
    c("cervical-hpv-4y-age-29", PREV, age=29, sex="female", hpv_test=(0, 4 * 365), has=("screen.cervical",)),
    c("cervical-hpv-6y-age-45", PREV, age=45, sex="female", hpv_test=(0, 6 * 365), has=("screen.cervical",)),
    c("cervical-pap-result-2y", PREV, age=45, sex="female", pap_test=(0, 730), lacks=("screen.cervical",)),
    c("cervical-hysterectomy", PREV, age=45, sex="female", procedures={"total_hysterectomy": 3000},
      lacks=("screen.cervical",), not_recommended=("screen.cervical",)),
    c("lung-eligible", PREV, age=50, smoking="current", pack_years=20, has=("screen.lung",)),
    c("lung-19-pack-years", PREV, age=60, smoking="current", pack_years=19, lacks=("screen.lung",)),
    c("lung-49", PREV, age=49, smoking="current", pack_years=30, lacks=("screen.lung",)),
    c("lung-81", PREV, age=81, smoking="current", pack_years=30, lacks=("screen.lung",)),
    c("lung-never", PREV, age=60, smoking="never", pack_years=30, lacks=("screen.lung",)),
    c("lung-pack-years-unknown", PREV, age=60, smoking="former", lacks=("screen.lung",), gaps=("pack_years",)),
    c("hcv-18", PREV, age=18, has=("screen.hepatitis-c",)),
    c("hcv-80", PREV, age=80, lacks=("screen.hepatitis-c",)),
    c("hcv-screened", PREV, age=40, hcv_antibody=(0, 1500), lacks=("screen.hepatitis-c",),
      not_recommended=("screen.hepatitis-c",)),
    # -- hospice or palliative care: comfort first (ADA 2025 §13, end-of-life care) ------------------
    c("eol-diabetes-bp-treated", EOL, age=70, conditions=("diabetes", "hypertension", "palliative_care"), hba1c=8.2,
      bp=(150, 92), medications={**ON_BP_DRUG, "glucose_lowering": "metformin hydrochloride 500 MG Oral Tablet"},
      has=("t2d.goals-of-care", "htn.goals-of-care", "t2d.hba1c-test-not-at-goal"),
      lacks=("t2d.hba1c-goal", "htn.bp-goal", "htn.treatment-review", "htn.lifestyle"),
      not_recommended=("htn.treatment-review", "htn.lifestyle"),
      choice=("t2d.goals-of-care", "htn.goals-of-care", "t2d.hba1c-test-not-at-goal", "t2d.kidney-tests",
              "t2d.retinal-exam")),
    c("eol-hospice-untreated-stage2", EOL, age=60, conditions=("hypertension",), bp=(162, 100),
      procedures={"palliative_or_hospice_care": 30},
      lacks=("htn.medication-stage2", "htn.recheck-after-start", "htn.bp-goal", "htn.goals-of-care"),
      not_recommended=("htn.medication-stage2", "htn.recheck-after-start")),
    c("eol-hospice-3-years-ago", EOL, age=60, conditions=("hypertension",), bp=(162, 100),
      procedures={"palliative_or_hospice_care": 3 * 365}, has=("htn.medication-stage2", "htn.bp-goal")),
    c("eol-ascvd-on-statin", EOL, age=66, conditions=("ascvd", "palliative_care"), ldl=120,
      medications={"statin": "atorvastatin 40 MG Oral Tablet"}, has=("lipid.goals-of-care",),
      lacks=("lipid.secondary-prevention", "lipid.secondary-prevention.instead"),
      not_recommended=("lipid.secondary-prevention",), choice=("lipid.goals-of-care",)),
    c("eol-diabetes-no-statin-start", EOL, age=60, conditions=("diabetes", "palliative_care"), hba1c=7.2, ldl=120,
      lacks=("lipid.diabetes", "lipid.goals-of-care"), not_recommended=("lipid.diabetes",)),
    c("eol-ckd-albuminuria", EOL, age=70, conditions=("ckd", "palliative_care"), egfr=40, uacr=250,
      lacks=("ckd.ras-inhibitor", "ckd.sglt2-inhibitor"), not_recommended=("ckd.ras-inhibitor", "ckd.sglt2-inhibitor"),
      has=("ckd.monitoring",), choice=("ckd.monitoring",)),
    c("eol-no-hcv-screening", EOL, age=40, conditions=("palliative_care",), lacks=("screen.hepatitis-c",),
      not_recommended=("screen.hepatitis-c",)),
    c("eol-depression-and-tobacco-kept", EOL, age=55, smoking="current", conditions=("palliative_care",),
      has=("depression.screening", "tobacco.counselling", "tobacco.pharmacotherapy")),
    # -- dialysis, end-stage renal disease or a kidney transplant --------------------------------------
    c("krt-dialysis-stage2", KRT, age=60, conditions=("hypertension",), bp=(150, 95), procedures={"dialysis": 10},
      lacks=("htn.medication-stage2", "htn.bp-goal", "htn.lifestyle"),
      not_recommended=("htn.medication-stage2", "htn.lifestyle")),
    c("krt-dialysis-over-a-year-ago", KRT, age=60, conditions=("hypertension",), bp=(150, 95),
      procedures={"dialysis": 400}, has=("htn.medication-stage2", "htn.bp-goal")),
    c("krt-dialysis-diabetes-statin", KRT, age=60, conditions=DM, hba1c=7.0, ldl=120, procedures={"dialysis": 10},
      lacks=("lipid.diabetes", "lipid.diabetes.instead", "t2d.kidney-tests"),
      not_recommended=("lipid.diabetes", "t2d.kidney-tests")),
    c("krt-esrd-ckd-rules", KRT, age=60, conditions=("ckd", "esrd"), egfr=18, uacr=400,
      lacks=("ckd.monitoring", "ckd.ras-inhibitor", "ckd.nephrology-referral"),
      not_recommended=("ckd.monitoring", "ckd.ras-inhibitor", "ckd.nephrology-referral")),
    c("krt-transplant-ckd-rules", KRT, age=55, conditions=("ckd", "kidney_transplant"), egfr=50, uacr=100,
      lacks=("ckd.ras-inhibitor", "ckd.monitoring"), not_recommended=("ckd.ras-inhibitor", "ckd.monitoring")),
    c("krt-transplant-statin-kept", KRT, age=60, conditions=("diabetes", "esrd", "kidney_transplant"), hba1c=7.0,
      ldl=120, has=("lipid.diabetes",)),
    c("krt-transplant-bp", KRT, age=55, conditions=("hypertension", "kidney_transplant"), bp=(138, 84),
      medications=ON_BP_DRUG, has=("htn.treatment-review", "htn.bp-goal"),
      choice=("htn.treatment-review", "htn.bp-goal")),
    # -- frailty or advanced illness in older adults ---------------------------------------------------
    c("frail-breast-screening", FRAIL, age=70, sex="female", conditions=("frailty",), has=("screen.breast",),
      choice=("screen.breast",)),
    c("not-frail-breast-screening", FRAIL, age=70, sex="female", has=("screen.breast",), not_choice=("screen.breast",)),
    c("frail-70-treated-bp", FRAIL, age=70, conditions=("hypertension", "frailty"), bp=(138, 84),
      medications=ON_BP_DRUG, has=("htn.treatment-review", "htn.bp-goal"),
      choice=("htn.treatment-review", "htn.bp-goal")),
    c("dementia-medicine-70-treated-bp", FRAIL, age=70, conditions=("hypertension",), bp=(138, 84),
      medications={**ON_BP_DRUG, "dementia_medication": "donepezil hydrochloride 5 MG Oral Tablet"},
      choice=("htn.treatment-review",)),
    c("frail-64-treated-bp", FRAIL, age=64, conditions=("hypertension", "frailty"), bp=(138, 84),
      medications=ON_BP_DRUG, not_choice=("htn.treatment-review", "htn.bp-goal")),
    c("not-frail-70-treated-bp", FRAIL, age=70, conditions=("hypertension",), bp=(138, 84), medications=ON_BP_DRUG,
      not_choice=("htn.treatment-review", "htn.bp-goal")),
    # -- reasons not to start a treatment ------------------------------------------------------------
    c("statin-muscle-symptoms", REASONS, age=64, conditions=("ascvd", "statin_muscle_symptoms"), ldl=110,
      has=("lipid.secondary-prevention.instead",), lacks=("lipid.secondary-prevention",),
      not_recommended=("lipid.secondary-prevention",), warnings=("lipid.secondary-prevention",)),
    c("statin-rhabdomyolysis", REASONS, age=50, conditions=("rhabdomyolysis",), ldl=200,
      has=("lipid.severe-hypercholesterolemia.instead",), lacks=("lipid.severe-hypercholesterolemia",),
      not_recommended=("lipid.severe-hypercholesterolemia",)),
    c("statin-past-muscle-symptoms", REASONS, age=64, conditions=("ascvd",),
      past_conditions=("statin_muscle_symptoms",), ldl=110, has=("lipid.secondary-prevention",),
      choice=("lipid.secondary-prevention",), lacks=("lipid.secondary-prevention.instead",)),
    c("statin-past-rhabdomyolysis", REASONS, age=50, past_conditions=("rhabdomyolysis",), ldl=200,
      has=("lipid.severe-hypercholesterolemia",), choice=("lipid.severe-hypercholesterolemia",),
      lacks=("lipid.severe-hypercholesterolemia.instead",)),
    c("statin-liver-disease", REASONS, age=64, conditions=("ascvd", "liver_disease"), ldl=110,
      has=("lipid.secondary-prevention",), choice=("lipid.secondary-prevention",)),
    c("statin-no-liver-disease", REASONS, age=64, conditions=("ascvd",), ldl=110,
      not_choice=("lipid.secondary-prevention",)),
    c("statin-breastfeeding", REASONS, age=32, sex="female", conditions=("breastfeeding",), ldl=200,
      lacks=("lipid.severe-hypercholesterolemia",), not_recommended=("lipid.severe-hypercholesterolemia",),
      warnings=("lipid.severe-hypercholesterolemia",)),
    c("statin-active-while-breastfeeding", REASONS, age=32, sex="female", conditions=("breastfeeding",),
      medications={"statin": "Simvastatin 20 MG Oral Tablet"}, warnings=("lipid.statin-while-breastfeeding",)),
    c("statin-documented-medical-reason-not-to", REASONS, age=62, ldl=150, ascvd10y=12.0,
      not_done={"statin": "Medical contraindication", "statin_medical_reason": "Medical contraindication"},
      lacks=("lipid.primary-intermediate-risk",), not_recommended=("lipid.primary-intermediate-risk",),
      no_warnings=("lipid.primary-intermediate-risk",)),
    c("statin-decision-not-to-without-a-recognised-reason", REASONS, age=62, ldl=150, ascvd10y=12.0,
      not_done={"statin": "Refusal of treatment by patient"}, has=("lipid.primary-intermediate-risk",),
      choice=("lipid.primary-intermediate-risk",)),
    c("statin-diabetes-older-than-75", REASONS, age=78, conditions=("diabetes",), ldl=120,
      has=("lipid.diabetes-over-75",), choice=("lipid.diabetes-over-75",), lacks=("lipid.diabetes",)),
    c("statin-older-than-75-primary-prevention", REASONS, age=80, ldl=140, has=("lipid.primary-over-75",),
      choice=("lipid.primary-over-75",)),
    # older than 75 with no LDL-C in the pack's 5-year look-back: the lipid profile first, the statin the
    # clinician's choice (2018 AHA/ACC §2.1 and §4.4.4); not with an LDL-C on record, nor on a statin
    c("statin-older-than-75-no-ldl", REASONS, age=80, lacks=("lipid.primary-over-75",),
      has=("lipid.primary-over-75-ldl-unknown",), choice=("lipid.primary-over-75-ldl-unknown",)),
    c("statin-older-than-75-recent-ldl-below-70", REASONS, age=80, ldl=60,
      lacks=("lipid.primary-over-75", "lipid.primary-over-75-ldl-unknown")),
    c("statin-older-than-75-no-ldl-on-a-statin", REASONS, age=80,
      medications={"statin": "simvastatin 10 MG Oral Tablet"},
      lacks=("lipid.primary-over-75-ldl-unknown",), has=("lipid.primary-over-75-ldl-unknown.instead",),
      not_recommended=("lipid.primary-over-75-ldl-unknown",)),
    c("statin-75-no-ldl-risk-unknown", REASONS, age=75, lacks=("lipid.primary-over-75-ldl-unknown",),
      gaps=("ascvd10y",)),
    c("low-bmi", REASONS, age=50, bmi=17.0, has=("obesity.low-bmi",), choice=("obesity.low-bmi",)),
    c("low-bmi-in-pregnancy", REASONS, age=30, sex="female", bmi=17.0, conditions=("pregnancy",),
      lacks=("obesity.low-bmi",)),
    c("normal-bmi", REASONS, age=50, bmi=22.0, lacks=("obesity.low-bmi", "obesity.behavioral-intervention")),
    c("bp-older-adult-in-a-nursing-home", REASONS, age=80, conditions=("hypertension",), housing="160734000",
      has=("htn.measure-bp",), choice=("htn.measure-bp",)),
    c("bp-older-adult-at-home", REASONS, age=80, conditions=("hypertension",), has=("htn.measure-bp",),
      not_choice=("htn.measure-bp",)),
    c("depression-screening-adolescent", REASONS, age=14, has=("depression.screening-adolescent",),
      lacks=("depression.follow-up", "depression.screening"), outside=("depression.screening",)),
    c("statin-declined-by-the-patient", REASONS, age=62, ldl=150, ascvd10y=12.0,
      not_done={"statin": "Patient requests alternative treatment",
                "statin_declined": "Patient requests alternative treatment"},
      has=("lipid.primary-intermediate-risk",), choice=("lipid.primary-intermediate-risk",)),
    c("statin-high-risk-no-ldl", REASONS, age=70, ascvd10y=22.0, has=("lipid.primary-high-risk-ldl-unknown",),
      choice=("lipid.primary-high-risk-ldl-unknown",), lacks=("lipid.primary-high-risk",)),
    c("bmi-not-recorded", REASONS, age=50, has=("obesity.measure-bmi",)),
    c("bmi-not-done-with-a-reason", REASONS, age=50, not_done={"bmi": "Procedure contraindicated"},
      choice=("obesity.measure-bmi",)),
    c("obesity-in-hospice", REASONS, age=60, bmi=34.0, conditions=("palliative_care",),
      lacks=("obesity.behavioral-intervention",), not_recommended=("obesity.behavioral-intervention",)),
    c("depression-screening-not-done-with-a-reason", REASONS, age=40,
      not_done={"depression_screening": "Depression screening declined"}, choice=("depression.screening",)),
    c("weight-follow-up-not-to-be-done", REASONS, age=60, bmi=34.0,
      not_done={"weight_intervention": "Procedure contraindicated"}, choice=("obesity.behavioral-intervention",)),
    c("depression-screening-bipolar", REASONS, age=40, conditions=("bipolar_disorder",),
      lacks=("depression.screening",), not_recommended=("depression.screening",)),
    c("statin-discussion-pregnant", REASONS, age=41, sex="female", conditions=("pregnancy",), ldl=150, ascvd10y=6.0,
      lacks=("lipid.primary-borderline-risk",), not_recommended=("lipid.primary-borderline-risk",)),
    c("ras-inhibitor-on-arni", REASONS, age=60, conditions=("ckd",), egfr=55, uacr=100,
      medications={"ras_inhibitor": "sacubitril 49 MG / valsartan 51 MG Oral Tablet"},
      lacks=("ckd.ras-inhibitor",), not_recommended=("ckd.ras-inhibitor",)),
    # -- pharmacogenomics ------------------------------------------------------------------------
    c("pgx-cyp2c19-poor-clopidogrel", PGX, age=62, cyp2c19="poor",
      medications={"clopidogrel": "Clopidogrel 75 MG Oral Tablet"}, has=("pgx.cyp2c19-clopidogrel",),
      warnings=("pgx.cyp2c19-clopidogrel",)),
    c("pgx-cyp2c19-intermediate-clopidogrel", PGX, age=62, cyp2c19="intermediate",
      medications={"clopidogrel": "Clopidogrel 75 MG Oral Tablet"}, has=("pgx.cyp2c19-clopidogrel",)),
    c("pgx-cyp2c19-likely-poor-clopidogrel", PGX, age=62, cyp2c19="likely_poor",
      medications={"clopidogrel": "Clopidogrel 75 MG Oral Tablet"}, has=("pgx.cyp2c19-clopidogrel",)),
    c("pgx-cyp2c19-normal-clopidogrel", PGX, age=62, cyp2c19="normal",
      medications={"clopidogrel": "Clopidogrel 75 MG Oral Tablet"}, lacks=("pgx.cyp2c19-clopidogrel",),
      no_warnings=("pgx.cyp2c19-clopidogrel",)),
    c("pgx-cyp2c19-poor-acs", PGX, age=62, cyp2c19="poor", conditions=("acs",),
      warnings=("pgx.cyp2c19-indication",)),
    c("pgx-slco1b1-poor-simvastatin", PGX, age=62, slco1b1="poor",
      medications={"simvastatin": "Simvastatin 20 MG Oral Tablet", "statin": "Simvastatin 20 MG Oral Tablet"},
      has=("pgx.slco1b1-simvastatin",), warnings=("pgx.slco1b1-simvastatin",)),
    c("pgx-slco1b1-decreased-simvastatin", PGX, age=62, slco1b1="decreased",
      medications={"simvastatin": "Simvastatin 40 MG Oral Tablet"}, has=("pgx.slco1b1-simvastatin",)),
    c("pgx-slco1b1-possible-decreased", PGX, age=62, slco1b1="possible_decreased",
      medications={"simvastatin": "Simvastatin 20 MG Oral Tablet"}, lacks=("pgx.slco1b1-simvastatin",)),
    c("pgx-slco1b1-normal-simvastatin", PGX, age=62, slco1b1="normal",
      medications={"simvastatin": "Simvastatin 20 MG Oral Tablet"}, lacks=("pgx.slco1b1-simvastatin",)),
    # -- whom the packs are for: adults (18 and over), or the ages and sex a rule's guideline states ------------
    c("adult-packs-17y-364d", WHOM, birth_date="2007-06-02", **ADULT_FINDINGS, lacks=ADULT_ITEMS,
      outside=("blood-pressure", "type-2-diabetes", "tobacco", "preventive-screening")),
    c("adult-packs-18th-birthday", WHOM, birth_date="2007-06-01", **ADULT_FINDINGS, has=ADULT_ITEMS),
    c("child-6y-bp-in-adult-range", WHOM, age=6, bp=(124, 82),
      lacks=("htn.lifestyle", "htn.bp-goal", "htn.confirm-out-of-office", "htn.recheck-stage1-low-risk"),
      outside=("blood-pressure",)),
    c("age-unknown", WHOM, age=None, **ADULT_FINDINGS, lacks=ADULT_ITEMS, outside=("blood-pressure",)),
    c("colorectal-44-outside-its-ages", WHOM, age=44, lacks=("screen.colorectal",), outside=("screen.colorectal",)),
    c("colorectal-76-outside-its-ages", WHOM, age=76, lacks=("screen.colorectal",), outside=("screen.colorectal",)),
    c("mammography-man-50", WHOM, age=50, sex="male", lacks=("screen.breast", "screen.cervical"),
      outside=("screen.breast", "screen.cervical")),
    c("pregnancy-rule-not-pregnant", WHOM, age=30, bp=(165, 112), conditions=("hypertension",),
      lacks=("htn.pregnancy-severe",), has=("htn.medication-stage2",)),
    # -- children and adolescents (the pediatric pack) ----------------------------------------------------
    # A boy of 10 (born 2015-01-01) 140 cm tall a month ago: the 50th height percentile, so AAP 2017 Table 4's
    # 50th-height column: elevated from 112/74, stage 1 from 116/77, stage 2 from 128/89 mm Hg.
    c("peds-bp-normal-10y", PEDS, age=10, sex="male", height=140.0, bp=(104, 64),
      lacks=("peds.bp.measure", "peds.bp.elevated", "peds.bp.stage1", "peds.bp.stage2", "htn.bp-goal"),
      outside=("blood-pressure",)),
    c("peds-bp-elevated-10y", PEDS, age=10, sex="male", height=140.0, bp=(113, 66), has=("peds.bp.elevated",),
      lacks=("peds.bp.stage1", "htn.lifestyle"), due={"peds.bp.elevated": "2025-12-01"}),
    c("peds-bp-stage1-10y", PEDS, age=10, sex="male", height=140.0, bp=(118, 70), has=("peds.bp.stage1",),
      lacks=("peds.bp.elevated", "peds.bp.stage2", "htn.recheck-stage1-low-risk"),
      due={"peds.bp.stage1": "2025-06-15"}),
    c("peds-bp-stage1-diastolic-10y", PEDS, age=10, sex="male", height=140.0, bp=(108, 78), has=("peds.bp.stage1",),
      lacks=("peds.bp.elevated",)),
    c("peds-bp-stage2-10y", PEDS, age=10, sex="male", height=140.0, bp=(130, 70), has=("peds.bp.stage2",),
      warnings=("peds.bp.stage2",), lacks=("peds.bp.stage1", "htn.medication-stage2"),
      due={"peds.bp.stage2": "2025-06-08"}),
    c("peds-bp-adolescent-static-stage1-14y", PEDS, age=14, bp=(132, 78), has=("peds.bp.stage1",),
      lacks=("peds.bp.height-unknown",)),
    c("peds-bp-adolescent-static-elevated-14y", PEDS, age=14, bp=(124, 76), has=("peds.bp.elevated",)),
    c("peds-bp-adolescent-static-normal-14y", PEDS, age=14, bp=(118, 76),
      lacks=("peds.bp.elevated", "peds.bp.stage1", "peds.bp.stage2", "peds.bp.measure")),
    c("peds-bp-no-height-8y", PEDS, age=8, bp=(100, 60), gaps=("height",),
      lacks=("peds.bp.elevated", "peds.bp.stage1", "peds.bp.stage2", "peds.bp.measure")),
    c("peds-bp-none-5y", PEDS, age=5, has=("peds.bp.measure", "peds.weight.measure")),
    c("peds-bp-2y-outside-its-ages", PEDS, age=2, has=("peds.weight.measure",), lacks=("peds.bp.measure",),
      outside=("pediatric-blood-pressure", "pediatric-prevention")),
    c("peds-weight-bmi-97th-8y", PEDS, age=8, sex="male", bmi=23.0, has=("peds.weight.behavioral-intervention",),
      lacks=("peds.weight.measure", "obesity.behavioral-intervention")),
    c("peds-weight-bmi-97th-5y-before-6", PEDS, age=5, bmi=20.5, lacks=("peds.weight.behavioral-intervention",),
      outside=("peds.weight.behavioral-intervention",)),
    c("peds-weight-bmi-50th-8y", PEDS, age=8, sex="male", bmi=16.0,
      lacks=("peds.weight.behavioral-intervention", "peds.weight.measure")),
    c("peds-lipid-10y-never", PEDS, age=10, has=("peds.lipid.9-11",), lacks=("lipid.primary-low-risk",)),
    c("peds-lipid-10y-done-since-9", PEDS, age=10, ldl=(100, 200), lacks=("peds.lipid.9-11",)),
    c("peds-lipid-10y-done-before-9", PEDS, age=10, ldl=(100, 600), has=("peds.lipid.9-11",)),
    c("peds-lipid-13y-between-windows", PEDS, age=13, lacks=("peds.lipid.9-11", "peds.lipid.17-21"),
      outside=("peds.lipid.9-11", "peds.lipid.17-21")),
    c("peds-lipid-18y-second-window", PEDS, age=18, has=("peds.lipid.17-21",), lacks=("peds.tobacco.prevention",),
      outside=("peds.tobacco.prevention", "pediatric-blood-pressure", "pediatric-weight")),
    c("peds-anxiety-8y", PEDS, age=8, has=("peds.anxiety.screening", "peds.tobacco.prevention")),
    c("peds-anxiety-7y-outside-its-ages", PEDS, age=7, lacks=("peds.anxiety.screening",),
      outside=("peds.anxiety.screening",)),
    c("peds-anxiety-gad7-recent", PEDS, age=12, gad7=(3, 60), lacks=("peds.anxiety.screening",)),
    c("peds-tobacco-5y-outside-its-ages", PEDS, age=5, lacks=("peds.tobacco.prevention",),
      outside=("pediatric-prevention",)),
]


@dataclass(frozen=True)
class FixtureCase:
    """A hand-made FHIR patient in fhir_fixtures/ and what its plan must contain (through the context layer)."""

    file: str
    patient_id: str
    summary: str
    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()
    not_recommended: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    as_of: str = AS_OF


FIXTURE_CASES: list[FixtureCase] = [
    FixtureCase("clinical-t2d-ckd.json", "cp-clin-t2d-ckd",
                "58 y woman, type 2 diabetes, CKD stage 3, HbA1c 7.9 then 7.4 %, eGFR 50, UACR 45 mg/g, BP 142/91 "
                "and 138/88 untreated, on atorvastatin 40 mg, current smoker, BMI 31.2",
                has=("t2d.hba1c-goal", "t2d.hba1c-test-not-at-goal", "htn.medication-stage2", "ckd.ras-inhibitor",
                     "ckd.sglt2-inhibitor", "lipid.diabetes.instead", "tobacco.pharmacotherapy",
                     "obesity.behavioral-intervention"),
                lacks=("t2d.hba1c-test-at-goal", "lipid.diabetes", "t2d.kidney-tests"),
                not_recommended=("lipid.diabetes", "t2d.kidney-tests")),
    FixtureCase("clinical-pregnant.json", "cp-clin-pregnant",
                "29 y pregnant woman, BP 152/96 and 148/94, LDL-C 201 mg/dL, current smoker",
                has=("htn.pregnancy-raised", "tobacco.counselling"),
                lacks=("htn.medication-stage2", "htn.lifestyle", "htn.bp-goal", "lipid.severe-hypercholesterolemia",
                       "tobacco.pharmacotherapy"),
                not_recommended=("htn.medication-stage2", "htn.lifestyle"),
                warnings=("htn.pregnancy-raised", "lipid.severe-hypercholesterolemia", "tobacco.pharmacotherapy")),
    FixtureCase("clinical-angioedema-ckd.json", "cp-clin-angioedema",
                "66 y man, CKD stage 4, eGFR 25, UACR 350 mg/g, history of angioedema, treated hypertension",
                has=("ckd.nephrology-referral", "ckd.sglt2-inhibitor"), lacks=("ckd.ras-inhibitor",),
                warnings=("ckd.ras-inhibitor",)),
    FixtureCase("clinical-screened.json", "cp-clin-screened",
                "60 y woman: colonoscopy 2019, mammogram 2024, cervical cytology 2023, HCV antibody 2016, PHQ-9 4",
                lacks=("screen.colorectal", "screen.breast", "screen.cervical", "screen.hepatitis-c",
                       "depression.screening"),
                not_recommended=("screen.colorectal", "screen.breast", "screen.cervical", "screen.hepatitis-c")),
    FixtureCase("clinical-screening-exclusions.json", "cp-clin-exclusions",
                "64 y woman: total colectomy, bilateral mastectomy (Z90.13), no cervix (Z90.710)",
                lacks=("screen.colorectal", "screen.breast", "screen.cervical"),
                not_recommended=("screen.colorectal", "screen.breast", "screen.cervical")),
    FixtureCase("clinical-pgx.json", "cp-clin-pgx",
                "61 y man after MI on clopidogrel and simvastatin 20 mg; CYP2C19 poor metabolizer, SLCO1B1 "
                "decreased function",
                has=("pgx.cyp2c19-clopidogrel", "pgx.slco1b1-simvastatin", "lipid.secondary-prevention.instead"),
                warnings=("pgx.cyp2c19-clopidogrel", "pgx.slco1b1-simvastatin")),
    FixtureCase("clinical-data-quality.json", "cp-clin-quality",
                "49 y man: refuted diabetes, HbA1c entered-in-error and preliminary, weight in unit 'foo', BMI 30, "
                "PHQ-9 12",
                has=("obesity.behavioral-intervention", "depression.follow-up"),
                lacks=("t2d.hba1c-goal", "t2d.hba1c-test-due")),
    FixtureCase("clinical-lung.json", "cp-clin-lung",
                "67 y woman, former smoker, 30 pack-years, low-dose CT 2023, colonoscopy 2018",
                has=("screen.lung", "screen.breast"), lacks=("screen.colorectal",),
                not_recommended=("screen.colorectal",)),
    FixtureCase("clinical-statin-allergy.json", "cp-clin-statin-allergy",
                "56 y man, treated hypertension (BP 134/82, 132/84), total cholesterol 240, HDL 38, LDL 160, "
                "current smoker, atorvastatin allergy",
                has=("htn.treatment-review", "tobacco.counselling"),
                lacks=("lipid.primary-high-risk", "lipid.primary-intermediate-risk"),
                warnings=("lipid.primary-high-risk",)),
]


#: The real-world coding cases (``fhir_fixtures/recognition-*.json``): codes from the value sets that are not
#: the "usual" one, evidence in Encounter, DiagnosticReport and Observation, Condition status semantics.
RECOGNITION_AS_OF = "2021-04-01"
RECOGNITION_CASES: list[FixtureCase] = [FixtureCase(f"recognition-{name}.json", f"rec-{name}", summary, *expected,
                                                    as_of=RECOGNITION_AS_OF) for name, summary, *expected in [
    ("colonoscopy-cpt", "60 y man: colonoscopy coded in CPT (44388, through stoma) in 2016",
     (), ("screen.colorectal",), ("screen.colorectal",)),
    ("guaiac-fobt", "55 y woman: guaiac FOBT (LOINC 2335-8) negative 5 months ago",
     ("screen.breast",), ("screen.colorectal",), ("screen.colorectal",)),
    ("ct-colonography-observation", "60 y man: CT colonography recorded as an Observation (LOINC) 2 years ago",
     (), ("screen.colorectal",), ("screen.colorectal",)),
    ("caecum-cancer-history", "60 y man: cancer of the caecum (ICD-10-CM C18.0), resolved",
     (), ("screen.colorectal",), ("screen.colorectal",)),
    ("total-colectomy-cpt", "60 y man: total colectomy coded in CPT (44155)",
     (), ("screen.colorectal",), ("screen.colorectal",)),
    ("type1-diabetes", "45 y man: type 1 diabetes (ICD-10-CM E10.9), HbA1c 8.2 %, LDL-C 120 mg/dL",
     ("t2d.hba1c-goal", "t2d.hba1c-test-not-at-goal", "lipid.diabetes"), ("t2d.cardiorenal-agent",)),
    ("type1-diabetes-mi", "45 y man: type 1 diabetes and an acute non-Q-wave MI (SNOMED 307140009)",
     ("lipid.secondary-prevention", "t2d.hba1c-goal"), ("lipid.diabetes", "t2d.cardiorenal-agent"),
     ("t2d.cardiorenal-agent",)),
    ("diabetes-subcode", "55 y woman: diabetes coded E11.651, a subdivision of the listed E11.65",
     ("t2d.hba1c-goal", "t2d.hba1c-test-due", "lipid.diabetes")),
    ("encounter-diagnosis", "55 y woman: type 2 diabetes (E11.9) as an encounter diagnosis without clinicalStatus",
     ("t2d.hba1c-goal", "t2d.hba1c-test-due")),
    ("statin-product", "50 y man, type 2 diabetes, on simvastatin oral suspension (RxNorm 1790679, a product)",
     ("lipid.diabetes.instead",), ("lipid.diabetes",), ("lipid.diabetes",)),
    ("statin-branded", "50 y man, type 2 diabetes, on Zocor 40 mg (RxNorm 152923, not in the 2021 value set)",
     ("lipid.diabetes.instead",), ("lipid.diabetes",), ("lipid.diabetes",)),
    ("antihypertensive-products", "55 y man, hypertension, BP 150/95, on verapamil ER (897718) and metoprolol ER "
     "(866414), products not in the 2021 value set", ("htn.treatment-review",), ("htn.medication-stage2",)),
    ("statin-allergy-product", "50 y woman, type 2 diabetes, statin allergy recorded with a product code (1790679)",
     (), ("lipid.diabetes",), ("lipid.diabetes",), ("lipid.diabetes",)),
    ("statin-allergy-atorvastatin", "50 y woman, type 2 diabetes, allergy to atorvastatin 40 mg tablets (617311)",
     (), ("lipid.diabetes",), ("lipid.diabetes",), ("lipid.diabetes",)),
    ("hospice-discharge", "65 y woman: discharged home for hospice care (Encounter discharge disposition) 6 months "
     "ago", (), ("screen.colorectal", "screen.breast", "screen.cervical"),
     ("screen.colorectal", "screen.breast", "screen.cervical")),
    ("mammography-report", "55 y woman: screening mammogram reported as a DiagnosticReport (LOINC) last year",
     (), ("screen.breast",), ("screen.breast",)),
    ("hospice-referral", "67 y woman: referral to hospice recorded as a ServiceRequest 2.5 months ago", (),
     ("screen.colorectal", "screen.breast"), ("screen.colorectal", "screen.breast")),
    ("frailty-device", "70 y man using a self-propelled wheelchair (Device, Frailty Device value set): colorectal "
     "screening stays proposed as the clinician's decision", ("screen.colorectal",)),
    ("negatives", "60 y man: knee X-ray (CPT), hypertension, amoxicillin: none is a colonoscopy, diabetes or statin",
     ("screen.colorectal", "htn.bp-goal"), ("t2d.hba1c-goal", "lipid.diabetes.instead")),
]]

_NAMES = {"hba1c": ("HbA1c", "%"), "ldl": ("LDL-C", "mg/dL"), "egfr": ("eGFR", ""), "uacr": ("UACR", "mg/g"),
          "bmi": ("BMI", ""), "phq9": ("PHQ-9", ""), "ascvd10y": ("10-year ASCVD risk", "%"),
          "pack_years": ("pack-years", ""), "fit": ("FIT", ""), "hcv_antibody": ("HCV antibody test", ""),
          "hpv_test": ("HPV test", ""), "pap_test": ("Pap test", ""), "height": ("height", "cm"),
          "weight": ("weight", "kg"), "gad7": ("GAD-7", "")}


def summarize(facts: dict[str, Any]) -> str:
    """A one-line patient summary a clinician can read."""
    parts = [f"{_age(facts)} {facts.get('sex', 'female')}"]
    for key, value in facts.items():
        if key in ("age", "sex", "birth_date"):
            continue
        name, unit = _NAMES.get(key, (key.replace("_", " "), ""))
        if key == "conditions":
            parts.append("; ".join(str(v).replace("_", " ") for v in value))
        elif key == "past_conditions":
            parts.append("; ".join(f"past {str(v).replace('_', ' ')} (no longer active)" for v in value))
        elif key in ("medications", "allergies"):
            parts.append(("allergy: " if key == "allergies" else "on ") + "; ".join(value.values()))
        elif key == "procedures":
            parts.append("; ".join(f"{k.replace('_', ' ')} {round(v / 365.25, 1)} y ago" for k, v in value.items()))
        elif key == "bp":
            parts.append(f"BP {value[0]}/{value[1]}")
        elif key == "smoking":
            parts.append(f"smoking {value or 'not recorded'}")
        elif key in ("cyp2c19", "slco1b1"):
            parts.append(f"{key.upper()} {value.replace('_', ' ')}")
        elif isinstance(value, tuple):
            when = f"{round(value[1] / 365.25, 1)} y ago" if value[1] >= 365 else f"{value[1]} days ago"
            shown = "" if value[0] == 0 and not unit else f" {value[0]} {unit}".rstrip()
            parts.append(f"{name}{shown} ({when})")
        else:
            parts.append(f"{name} {value} {unit}".strip())
    return ", ".join(parts)


def _age(facts: dict[str, Any]) -> str:
    """'50 y', '17 y (born 2007-06-02)', 'age unknown (no birth date)'."""
    if facts.get("birth_date"):
        from app.context.dates import age_on

        born = date.fromisoformat(facts["birth_date"])
        return f"{age_on(born, date.fromisoformat(AS_OF))} y (born {born.isoformat()})"
    age = facts.get("age", 50)
    return "age unknown (no birth date)" if age is None else f"{age} y"


def _titles() -> dict[str, str]:
    """Rule and goal ids -> what a clinician reads (from the bundled pack)."""
    from app.engine.packs import load_pack_set

    titles: dict[str, str] = {}
    for area in load_pack_set().areas:
        titles[area.id] = f"area: {area.title}"
        for rule in area.rules:
            titles[rule.id] = rule.title
            if any(check.instead is not None for check in rule.exclusions + rule.contraindications):
                titles[f"{rule.id}.instead"] = f"an alternative to '{rule.title}'"  # a case's plan names which
        for goal in area.goals:
            titles[goal.id] = f"goal: {goal.description}"
    return titles


def _named(ids: tuple[str, ...], titles: dict[str, str]) -> str:
    return "; ".join(f"{titles.get(item, item)} (`{item}`)" for item in ids) or "-"


def table() -> str:
    """docs/cases.md: every case as a row of the clinician-readable table."""
    from app.engine import build_plan, load_pack_set
    from app.engine.synthetic import make_facts

    base = _titles()
    pack_set = load_pack_set()
    lines = ["# Clinical test cases", "",
             "Generated by `python -m app.engine.cases > docs/cases.md` from `app/engine/cases.py`, the data "
             "`tests/test_engine_cases.py` runs through the engine (evaluation date "
             f"{AS_OF}; smoking 'never' unless stated). Items are named by their title in the pack and their "
             "rule id. Do not edit by hand.", ""]
    area = None
    for index, case in enumerate(CASES):
        if case.area != area:
            area = case.area
            lines += [f"## {area}", "", "| case | patient | plan must contain | must not contain | "
                      "considered, not recommended / warnings / gaps / due dates |", "|---|---|---|---|---|"]
        # an alternative (``.instead``) is named as the case's plan names it: a rule may have several
        plan = build_plan(make_facts(as_of=AS_OF, **case.facts), pack_set, AS_OF)
        titles = {**base, **{a.id: a.title for a in plan.activities if a.id.endswith(".instead")}}
        other = [*(f"not recommended: {titles.get(r, r)}" for r in case.not_recommended),
                 *(f"warning: {titles.get(w, w)}" for w in case.warnings),
                 *(f"no warning: {titles.get(w, w)}" for w in case.no_warnings),
                 *(f"clinician's choice: {titles.get(x, x)}" for x in case.choice),
                 *(f"not flagged clinician's choice: {titles.get(x, x)}" for x in case.not_choice),
                 *(f"gap: {g}" for g in case.gaps), *(f"due {v}: {titles.get(k, k)}" for k, v in case.due.items()),
                 *(f"outside its population: {titles.get(o, o)}" for o in case.outside)]
        lines.append(f"| {case.id} | {summarize(case.facts)} | {_named(case.has, titles)} | "
                     f"{_named(case.lacks, titles)} | {'; '.join(other) or '-'} |")
        if index == len(CASES) - 1 or CASES[index + 1].area != area:
            lines.append("")
    lines += _fixture_table(
        "FHIR fixtures through the context layer", FIXTURE_CASES, base,
        "The `fhir_fixtures/clinical-*.json` patients, read by `facts_from_bundle` offline and by `assemble` from the "
        f"local HAPI server (integration test), evaluated as of {AS_OF}.")
    lines.append("")
    lines += _fixture_table(
        "Real-world coding (recognition)", RECOGNITION_CASES, base,
        "The `fhir_fixtures/recognition-*.json` patients: codes taken from the bundled value sets that are not the "
        "usual one (CPT, ICD-10-CM subcodes, product-level RxNorm), evidence recorded in Encounter, DiagnosticReport "
        "and Observation, and Condition status as FHIR R4 defines it; offline and through the local HAPI server, "
        f"evaluated as of {RECOGNITION_AS_OF}.")
    lines.append("")
    return "\n".join(lines)


def _fixture_table(title: str, fixtures: list[FixtureCase], titles: dict[str, str], intro: str) -> list[str]:
    lines = [f"## {title}", "", intro, "",
             "| fixture | patient | plan must contain | must not contain | not recommended / warnings |",
             "|---|---|---|---|---|"]
    for fixture in fixtures:
        other = [*(f"not recommended: {titles.get(r, r)}" for r in fixture.not_recommended),
                 *(f"warning: {titles.get(w, w)}" for w in fixture.warnings)]
        lines.append(f"| {fixture.file} | {fixture.summary} | {_named(fixture.has, titles)} | "
                     f"{_named(fixture.lacks, titles)} | {'; '.join(other) or '-'} |")
    return lines


if __name__ == "__main__":
    print(table(), end="")
