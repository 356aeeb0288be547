"""Diabetes (type 1 and type 2) and blood pressure (ADA 2025, 2017 ACC/AHA).

Every threshold sits next to its citation (guideline, year, section). Where a guideline leaves a choice to
the clinician, the rule proposes and says so (clinician-choice).
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import goal, guideline, plan_definition, rule
from app.engine.authoring.consequences import (
    BP_OLDER,
    COMFORT,
    DIABETES_BP_OLDER,
    DIALYSIS,
    DIALYSIS_BP,
    END_OF_LIFE,
    FRAILTY_INPUTS,
    HBA1C_IN_HOSPICE,
    HBA1C_OLDER,
    HOSPICE,
    HOSPICE_INPUTS,
    HOSPICE_SHOWN,
    IN_HOSPICE_MONITORING,
    KDOQI_COMMENTARY,
    KIDNEY_TEAM,
    KRT,
    KRT_INPUTS,
    KRT_SHOWN,
    LONG_TERM_CARE_INPUTS,
    NO_INTENSIFICATION,
    OLDER_BP,
    TABLE_13_1,
    TRANSPLANT_BP,
)

AGE = "%facts.patient.ageYears"
PREGNANT = "%facts.conditions.pregnancy.exists()"
BP_MISSING = "%facts.bp.sbp.empty()"
T1D = "%facts.conditions.type1_diabetes.exists()"

ADA = guideline("ADA-2025", "ADA Standards of Care in Diabetes—2025 (Diabetes Care 2025;48 Suppl 1)", "2025",
                "https://diabetesjournals.org/care/issue/48/Supplement_1")
HTN = guideline("ACC-AHA-HTN-2017", "2017 ACC/AHA Guideline for the Prevention, Detection, Evaluation, and "
                "Management of High Blood Pressure in Adults", "2017", "https://doi.org/10.1161/HYP.0000000000000065")
CHOL = guideline("AHA-ACC-CHOL-2018", "2018 AHA/ACC Guideline on the Management of Blood Cholesterol", "2018",
                 "https://doi.org/10.1161/CIR.0000000000000625")
PCE = guideline("PCE-2013", "2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk (Pooled Cohort "
                "Equations)", "2013", "https://doi.org/10.1161/01.cir.0000437741.48606.98")
USPSTF_STATIN = guideline("USPSTF-STATIN-2022", "USPSTF: Statin Use for the Primary Prevention of Cardiovascular "
                          "Disease in Adults", "2022", "https://www.uspreventiveservicestaskforce.org/uspstf/"
                          "recommendation/statin-use-in-adults-preventive-medication")
KDIGO = guideline("KDIGO-CKD-2024", "KDIGO 2024 Clinical Practice Guideline for the Evaluation and Management of "
                  "Chronic Kidney Disease (Kidney Int 2024;105(4S):S117-S314)", "2024",
                  "https://kdigo.org/guidelines/ckd-evaluation-and-management/")

HBA1C = "%facts.measures.hba1c"
HBA1C_RECENT = f"{HBA1C}.withinLookback = true"
HBA1C_STALE = f"{HBA1C}.withinLookback.exists().not() or {HBA1C}.withinLookback = false"
HYPO_DRUG = "(%facts.medications.insulin.exists() or %facts.medications.sulfonylurea.exists())"
HYPO_DRUG_NAMES = "{{%facts.medications.insulin.display | %facts.medications.sulfonylurea.display}}"
HYPO_CLASS = "{{iif(%facts.medications.insulin.exists(), 'insulin', 'a sulfonylurea')}}"  # for a card's summary
# ADA 2025 §6: a goal lower than 7 %, such as 6.5 %, only when reached safely without significant hypoglycaemia;
# 6.5 % is also the lower end of the goal range a clinician may set here (editable_range below).
BELOW_GOAL_RANGE = f"{HBA1C_RECENT} and {HBA1C}.value < 6.5"
GLYCEMIC = ("ADA-2025", "Section 6, Glycemic Goals and Hypoglycemia")
OLDER = ("ADA-2025", "Section 13, Older Adults (treatment deintensification)")


def diabetes() -> dict[str, Any]:
    """Diabetes, type 1 and type 2 (ADA Standards of Care 2025); type-2-only recommendations say so."""
    glycemic = ("ADA-2025", "Section 6, Glycemic Goals and Hypoglycemia")
    return plan_definition(
        "type-2-diabetes", "Diabetes",
        description="Glycemic goal and monitoring, kidney, eye and foot surveillance, education for adults with "
                    "type 1 or type 2 diabetes, and cardiorenal agents in type 2 diabetes (ADA Standards of Care in "
                    "Diabetes 2025).",
        guidelines=[ADA], when="%facts.conditions.diabetes.exists()", ages=(18, None),
        summary=[(f"{HBA1C}.value.exists()", "Latest HbA1c {{%facts.measures.hba1c.value}} % on "
                  "{{%facts.measures.hba1c.date}}"),
                 (f"{HBA1C}.value.empty()", "No HbA1c on record"),
                 (HOSPICE, f"{COMFORT}: no glycaemic or blood pressure goal is set")],
        goals=[
            goal("t2d.hba1c-goal", "HbA1c below 7 %", targets=[("4548-4", "Hemoglobin A1c/Hemoglobin.total in "
                                                                 "Blood", "<", 7.0, "%")],
                 due=(3, "mo"), addresses=["conditions.diabetes"], addresses_text="Diabetes",
                 cite=glycemic, inputs=["measures.hba1c", "patient"], editable_range=(6.5, 8.0, "%"),
                 condition=f"{PREGNANT}.not() and {HOSPICE}.not()",
                 text="ADA 2025 §6: an HbA1c goal below 7 % is appropriate for many nonpregnant adults without "
                      "significant hypoglycemia; below 6.5 % may be acceptable if reached safely, and a less "
                      "stringent goal (such as below 8 %) may fit limited life expectancy or when harms outweigh "
                      "benefits. Reviewed at the next HbA1c (at least quarterly while not at goal).",
                 choice=[("the patient is 65 or older: ADA 2025 §13 (Older Adults) suggests below 8.0 % for "
                          "complex or intermediate health (multiple chronic illnesses, cognitive impairment or "
                          "functional dependence); carepath cannot judge health status from the record.",
                          f"{AGE} >= 65"), HBA1C_OLDER]),
        ],
        rules=[
            rule("t2d.pregnancy", "Diabetes in pregnancy", pregnancy="only",
                 when=[PREGNANT], inputs=["conditions.diabetes", "conditions.pregnancy"],
                 cite=[("ADA-2025", "Section 15, Management of Diabetes in Pregnancy")],
                 alert=("moderate", "pregnancy: glycemic goals and agents differ in pregnancy (ADA 2025 §15); the "
                                    "HbA1c goal of this pack (for nonpregnant adults) is not proposed",
                        "Set glycaemic goals for pregnancy (ADA 2025 §15): this pack's HbA1c goal is not proposed"),
                 text="Diabetes in pregnancy."),
            rule("t2d.hypoglycemia-low-hba1c", "Review for de-intensification (HbA1c below 6.5 % on insulin or "
                 "a sulfonylurea)",
                 when=[HYPO_DRUG, BELOW_GOAL_RANGE], activity="deintensification-review",
                 inputs=["measures.hba1c", "medications.insulin", "medications.sulfonylurea", "patient"],
                 cite=[GLYCEMIC, OLDER],
                 alert=("high", f"HbA1c {{{{%facts.measures.hba1c.value}}}} % on {{{{%facts.measures.hba1c.date}}}} "
                                f"with {HYPO_DRUG_NAMES}: below 6.5 %, a value this low on insulin or a sulfonylurea "
                                "is a hypoglycaemia risk or a measurement problem; verify the result and review the "
                                "regimen", f"Verify HbA1c {{{{%facts.measures.hba1c.value}}}} % on {HYPO_CLASS}: "
                                           "hypoglycaemia risk; review the regimen"),
                 text=f"HbA1c {{{{%facts.measures.hba1c.value}}}} % ({{{{%facts.measures.hba1c.date}}}}) is below "
                      f"6.5 % while on {HYPO_DRUG_NAMES}. ADA 2025 §6: goals below 7 % only when reached safely "
                      "without significant hypoglycaemia; §13: de-intensify hypoglycaemia-causing medicines when "
                      "the risk outweighs the benefit. Verify the HbA1c (assay or red-cell problems can lower it) "
                      "and ask about hypoglycaemia."),
            rule("t2d.hypoglycemia-recorded", "Review for de-intensification (hypoglycaemia recorded)",
                 when=[HYPO_DRUG, "%facts.conditions.hypoglycemia.exists()"], activity="deintensification-review",
                 inputs=["conditions.hypoglycemia", "medications.insulin", "medications.sulfonylurea"],
                 cite=[GLYCEMIC, OLDER],
                 alert=("high", f"hypoglycaemia recorded ({{{{%facts.conditions.hypoglycemia.display}}}}, "
                                f"{{{{%facts.conditions.hypoglycemia.onset}}}}) while on {HYPO_DRUG_NAMES}: review "
                                "for de-intensification",
                        f"Review {HYPO_CLASS} for de-intensification: hypoglycaemia recorded"),
                 text=f"Hypoglycaemia recorded ({{{{%facts.conditions.hypoglycemia.display}}}}, "
                      f"{{{{%facts.conditions.hypoglycemia.onset}}}}) while on {HYPO_DRUG_NAMES}. ADA 2025 §6: "
                      "re-evaluate the treatment regimen after hypoglycaemia; §13: de-intensify "
                      "hypoglycaemia-causing medicines when the risk outweighs the benefit."),
            rule("t2d.hba1c-test-at-goal", "HbA1c at least twice a year (at goal)",
                 when=[HBA1C_RECENT, f"{HBA1C}.value < 7"], activity="hba1c-test", goals=("t2d.hba1c-goal",),
                 repeat=(1, 6, "mo"), schedule_from=(("measures.hba1c",), 6, "mo"), inputs=["measures.hba1c"],
                 exclusions=((f"{HYPO_DRUG} and ({BELOW_GOAL_RANGE} or %facts.conditions.hypoglycemia.exists())",
                              "not 'at goal': HbA1c {{%facts.measures.hba1c.value}} % with a hypoglycaemia-causing "
                              "medicine is a safety finding (see the de-intensification review)"),),
                 cite=[glycemic], choice=HBA1C_IN_HOSPICE,
                 text="Latest HbA1c {{%facts.measures.hba1c.value}} % on {{%facts.measures.hba1c.date}} meets the "
                      "goal (below 7 %): assess glycemic status at least twice a year."),
            rule("t2d.hba1c-test-not-at-goal", "HbA1c every 3 months (not at goal)",
                 when=[HBA1C_RECENT, f"{HBA1C}.value >= 7"], activity="hba1c-test", goals=("t2d.hba1c-goal",),
                 repeat=(1, 3, "mo"), schedule_from=(("measures.hba1c",), 3, "mo"), inputs=["measures.hba1c"],
                 cite=[glycemic], choice=HBA1C_IN_HOSPICE,
                 text="Latest HbA1c {{%facts.measures.hba1c.value}} % on {{%facts.measures.hba1c.date}} is not at "
                      "goal (7 % or more): assess glycemic status at least quarterly until at goal."),
            rule("t2d.hba1c-test-due", "HbA1c now (none in the last 12 months)",
                 when=[HBA1C_STALE], activity="hba1c-test", goals=("t2d.hba1c-goal",), inputs=["measures.hba1c"],
                 cite=[glycemic], choice=HBA1C_IN_HOSPICE,
                 text="No HbA1c in the last 12 months (latest: {{%facts.measures.hba1c.date}}): test now."),
            rule("t2d.kidney-tests", "UACR and eGFR every year",
                 when=["true"], activity="uacr-egfr-test", repeat=(1, 1, "a"), schedule_from=KIDNEY_TESTS_SCHEDULE,
                 inputs=["measures.uacr", "scores.egfr", *KIDNEY_TESTS_DONE, *KRT_INPUTS, *HOSPICE_INPUTS],
                 evidence=(*KIDNEY_TESTS_DONE, *KRT_INPUTS, *HOSPICE_INPUTS),
                 cite=[("ADA-2025", "Section 11, Chronic Kidney Disease and Risk Management (screening)")],
                 exclusions=(KIDNEY_TEAM,
                             ("%facts.conditions.ckd.exists()",
                              "kidney monitoring is planned by the chronic kidney disease area")),
                 choice=[("type 1 diabetes: ADA 2025 §11 asks for yearly UACR and eGFR from 5 years after "
                          "diagnosis (type 1 diabetes recorded since {{%facts.conditions.type1_diabetes.onset}}).",
                          T1D), IN_HOSPICE_MONITORING],
                 text="ADA 2025 §11: assess urinary albumin (spot UACR) and eGFR at least once a year in type 2 "
                      f"diabetes and in type 1 diabetes of 5 years or more. {KIDNEY_TESTS_SHOWN}"),
            rule("t2d.retinal-exam", "Dilated retinal examination",
                 when=["true"], activity="retinal-exam", repeat=(1, 1, "a"),
                 schedule_from=(("procedures.retinal_exam",), 12, "mo"),
                 inputs=["conditions.diabetes", "procedures.retinal_exam"], evidence=("procedures.retinal_exam",),
                 cite=[("ADA-2025", "Section 12, Retinopathy, Neuropathy, and Foot Care (retinopathy "
                                    "screening)")],
                 choice=["with no retinopathy on one or more annual exams and glycemia well controlled, "
                         "screening every 1 to 2 years may be considered; in type 1 diabetes the first examination "
                         "is due within 5 years of onset (ADA 2025 §12).", IN_HOSPICE_MONITORING],
                 text="ADA 2025 §12: dilated and comprehensive eye examination by an ophthalmologist or "
                      "optometrist, at diagnosis of type 2 diabetes and within 5 years of the onset of type 1 "
                      "diabetes, then every year. Last recorded: "
                      "{{%facts.procedures.retinal_exam.date ?? none on record}}."),
            rule("t2d.foot-exam", "Comprehensive foot evaluation every year",
                 when=["true"], activity="foot-exam", repeat=(1, 1, "a"),
                 schedule_from=(("procedures.foot_exam",), 12, "mo"), inputs=["procedures.foot_exam"],
                 evidence=("procedures.foot_exam",),
                 cite=[("ADA-2025", "Section 12, Retinopathy, Neuropathy, and Foot Care (foot care)")],
                 text="ADA 2025 §12: comprehensive foot evaluation at least annually. Last recorded: "
                      "{{%facts.procedures.foot_exam.date ?? none on record}}."),
            rule("t2d.dsmes", "Diabetes self-management education and support",
                 when=["true"], activity="dsmes", inputs=["conditions.diabetes"],
                 cite=[("ADA-2025", "Section 5, Facilitating Positive Health Behaviors and Well-being "
                                    "(DSMES)")],
                 text="ADA 2025 §5: all people with diabetes should take part in DSMES, at diagnosis, every year "
                      "and/or when not meeting goals, when complicating factors arise, and at transitions of "
                      "care."),
            rule("t2d.cardiorenal-agent", "GLP-1 RA or SGLT2 inhibitor with proven cardiovascular benefit",
                 when=["%facts.conditions.ascvd.exists() or %facts.conditions.heart_failure.exists()"],
                 activity="cardiorenal-agent", goals=("t2d.hba1c-goal",),
                 inputs=["conditions.ascvd", "conditions.heart_failure", "conditions.type1_diabetes",
                         "medications.sglt2_inhibitor", "medications.glp1_ra", *HOSPICE_INPUTS, *KRT_INPUTS],
                 evidence=tuple(HOSPICE_INPUTS + KRT_INPUTS),
                 cite=[("ADA-2025", "Section 9, Pharmacologic Approaches to Glycemic Treatment"),
                       ("ADA-2025", "Section 10, Cardiovascular Disease and Risk Management")],
                 exclusions=((T1D, "type 1 diabetes recorded ({{%facts.conditions.type1_diabetes.display}}): the ADA "
                                   "2025 §9/§10 recommendation of a GLP-1 RA or SGLT2 inhibitor with proven "
                                   "cardiovascular benefit is for type 2 diabetes"),
                             ("%facts.medications.sglt2_inhibitor.exists() or %facts.medications.glp1_ra.exists()",
                              "already on a cardiorenal agent: {{%facts.medications.sglt2_inhibitor.display | "
                              "%facts.medications.glp1_ra.display}}"),
                             NO_INTENSIFICATION),
                 contraindications=((PREGNANT, "pregnancy: ADA 2025 §15 prefers insulin in pregnancy; "
                                               "GLP-1 RA / SGLT2 inhibitor not proposed", "high", None,
                                     "Do not start a GLP-1 RA or SGLT2 inhibitor in pregnancy: insulin is preferred"),),
                 choice=["agent chosen with the patient: with established ASCVD a GLP-1 RA or SGLT2 inhibitor "
                         "with demonstrated cardiovascular benefit; with heart failure an SGLT2 inhibitor "
                         "(ADA 2025 §9, §10).",
                         (f"kidney failure treated by dialysis or a kidney transplant recorded ({KRT_SHOWN}): KDIGO "
                          "2024 (§3.7) recommends SGLT2 inhibitors down to an eGFR of 20 and is not intended for "
                          "people receiving dialysis or with a kidney transplant; the agent is chosen with the "
                          "nephrology or transplant team.", KRT)],
                 text="Type 2 diabetes with {{%facts.conditions.ascvd.display | "
                      "%facts.conditions.heart_failure.display}}: an agent with proven cardiovascular benefit is "
                      "recommended independent of HbA1c."),
            rule("t2d.goals-of-care", "Review glucose-lowering treatment against the goals of care",
                 when=[HOSPICE, "%facts.medications.glucose_lowering.exists()"], activity="goals-of-care-review",
                 inputs=[*HOSPICE_INPUTS, "medications.glucose_lowering", "measures.hba1c"],
                 evidence=("measures.hba1c",), cite=[END_OF_LIFE, TABLE_13_1],
                 choice="the regimen is simplified or de-intensified with the patient and family; Table 13.1 (very "
                        "complex/poor health): glucose decisions avoid hypoglycaemia and symptomatic "
                        "hyperglycaemia rather than aim at an HbA1c.",
                 text=f"Palliative or hospice care recorded ({HOSPICE_SHOWN}) on "
                      "{{%facts.medications.glucose_lowering.display}}. ADA 2025 §13 (end-of-life care): comfort, "
                      "prevention of distressing symptoms and quality of life and dignity are the primary goals; "
                      "strict glucose control is not necessary and the regimen can be simplified."),
        ],
    )


STAGE2 = "(%facts.bp.sbp >= 140 or %facts.bp.dbp >= 90)"
STAGE1 = "((%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80) and %facts.bp.sbp < 140 and %facts.bp.dbp < 90)"
ELEVATED = "(%facts.bp.sbp >= 120 and %facts.bp.sbp < 130 and %facts.bp.dbp < 80)"
RAISED = "(%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80)"
HIGH_RISK = ("(%facts.conditions.ascvd.exists() or %facts.conditions.diabetes.exists() or "
             "%facts.conditions.ckd.exists() or %facts.scores.ascvd10y.value >= 10)")
LOW_RISK = ("(%facts.conditions.ascvd.empty() and %facts.conditions.diabetes.empty() and "
            "%facts.conditions.ckd.empty() and %facts.scores.ascvd10y.value < 10)")
# The yearly kidney tests (ADA 2025 §11; KDIGO 2024 Practice Point 2.1.1): each is due a year after its latest
# result, a resulted test counting even when no number can be read from it (shown, with a request to read the lab
# report); the activity is due when the first of the two is.
KIDNEY_TESTS_DONE = ["procedures.uacr_test", "procedures.egfr_test"]
KIDNEY_TESTS_SCHEDULE = [(("measures.uacr", "procedures.uacr_test"), 12, "mo"),
                         (("measures.egfr", "measures.creatinine", "procedures.egfr_test"), 12, "mo")]


def _unread(test: str, value_date: str) -> str:
    """The date of a test resulted after its latest numeric value (or with none): empty otherwise."""
    return (f"iif({value_date}.empty() or %facts.procedures.{test}.date > {value_date}, "
            f"%facts.procedures.{test}.date)")


KIDNEY_TESTS_SHOWN = (
    "Latest UACR: [[{{%facts.measures.uacr.value}} mg/g ({{%facts.measures.uacr.date}}) || no numeric result]]"
    f"[[; a UACR resulted on {{{{{_unread('uacr_test', '%facts.measures.uacr.date')}}}}} has no value carepath can "
    "read as a number: see the lab report]]. eGFR: [[{{%facts.scores.egfr.value}} mL/min/1.73 m² || no numeric "
    "result in the last 12 months]][[; an eGFR resulted on "
    f"{{{{{_unread('egfr_test', '%facts.measures.egfr.date')}}}}} has no value carepath can read as a number: see "
    "the lab report]].")


# A BP-lowering medicine treats hypertension only with that diagnosis or when nothing else it is given for is
# recorded (app.context.diagnoses: treatment.hypertension.status).
TREATED = "%facts.treatment.hypertension.status = 'treated'"
UNTREATED = "(%facts.treatment.hypertension.empty() or %facts.treatment.hypertension.status != 'treated')"
INDICATION_NOT_RECORDED = "%facts.treatment.hypertension.status = 'indication-not-recorded'"
# 2017 ACC/AHA §4.1 (Table 8): BP is classified on the average of 2 or more readings on 2 or more occasions; a
# diagnosis is a recorded Condition, such readings of 130/80 or more (conditions.hypertension_by_readings), or
# treatment of hypertension.
DIAGNOSED = ("(%facts.conditions.hypertension.exists() or %facts.conditions.hypertension_by_readings.exists() or "
             f"{TREATED})")
UNDIAGNOSED = ("(%facts.conditions.hypertension.empty() and %facts.conditions.hypertension_by_readings.empty() and "
               f"{UNTREATED})")
CLASSIFIED = "%facts.bp.occasions >= 2"
SINGLE_OCCASION = "%facts.bp.occasions < 2"
NOT_PREGNANT = f"{PREGNANT}.not()"
# 2017 ACC/AHA §11.2: a severe BP elevation is above 180/120 mmHg; carepath warns from 180/120 inclusive (the
# safer reading), on the latest day's readings so that an earlier occasion cannot average it away.
SEVERE = "(%facts.bp.latest.sbp >= 180 or %facts.bp.latest.dbp >= 120)"
SEVERE_CITE = ("ACC-AHA-HTN-2017", "Section 11.2, Hypertensive crises: emergencies and urgencies (severe BP "
                                   "elevation, >180/120 mmHg)")
LATEST_BP = "{{%facts.bp.latest.sbp}}/{{%facts.bp.latest.dbp}} mmHg ({{%facts.bp.latest.date}})"
SEVERE_FIRST = (SEVERE, f"severe blood pressure {LATEST_BP}: suspended until the prompt evaluation for target-organ "
                        "damage that 2017 ACC/AHA §11.2 calls for")
# (conditions.hypertension_by_readings is derived from ``bp``, whose readings the rationale cites)
BP_INPUTS = ["bp", "conditions.hypertension", "treatment.hypertension"]
#: Evidence that changes the BP rules (hospice, kidney replacement therapy, frailty): shown when present.
CONTEXT_INPUTS = [*HOSPICE_INPUTS, *KRT_INPUTS, *FRAILTY_INPUTS, *LONG_TERM_CARE_INPUTS]
CONTEXT_EVIDENCE = tuple(CONTEXT_INPUTS)
RISK_INPUTS = ["scores.ascvd10y", "conditions.ascvd", "conditions.diabetes", "conditions.ckd"]
RISK_TEXT = ("[[10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
             "({{%facts.scores.ascvd10y.basis}})|| 10-year ASCVD risk not "
             "computed]]")
FIGURE4 = ("ACC-AHA-HTN-2017", "Sections 8.1.2 (BP treatment threshold and use of CVD risk estimation) and 8.1.3 "
           "(follow-up after initial BP evaluation)")
OUT_OF_OFFICE_BP = ("{{%facts.bp.outOfOffice.sbp}}/{{%facts.bp.outOfOffice.dbp}} mmHg "
                    "({{%facts.bp.outOfOffice.setting}}, {{%facts.bp.outOfOffice.date}})")
#: An out-of-office average below 130/80 mmHg (2017 ACC/AHA Table 11: the home and daytime ambulatory value that
#: corresponds to an office 130/80) beside raised office readings.
WHITE_COAT = ("(%facts.bp.outOfOffice.sbp < 130 and %facts.bp.outOfOffice.dbp < 80)")
WHITE_COAT_CITE = ("ACC-AHA-HTN-2017", "Section 4.3, Masked and white coat hypertension; Table 11, corresponding "
                                       "values of office, home and ambulatory BP")
DIAGNOSIS_CITE = ("ACC-AHA-HTN-2017", "Section 4.1 and Table 8, step 6 (average of 2 or more readings on 2 or more "
                                      "occasions); Section 4.2, out-of-office BP to confirm the diagnosis")
HTN_PREGNANCY = ("ACC-AHA-HTN-2017", "Special patient groups: pregnancy (ACE inhibitors, ARBs and direct renin "
                                     "inhibitors: class III, harm)")
ACOG = guideline("ACOG-PB222-2020", "ACOG Practice Bulletin No. 222: Gestational Hypertension and Preeclampsia "
                 "(Obstet Gynecol 2020;135:e237-e260)", "2020", "https://doi.org/10.1097/AOG.0000000000003891")
ACOG_DEFINITION = ("ACOG-PB222-2020", "Definitions: hypertension in pregnancy is a systolic BP of 140 mmHg or more or "
                                      "a diastolic BP of 90 mmHg or more; 160/110 mmHg or more is severe range")
#: The adult, non-pregnant staging and treatment of the 2017 ACC/AHA guideline does not apply in pregnancy.
IN_PREGNANCY = (PREGNANT, "pregnancy: blood pressure in pregnancy is assessed and treated by obstetric care (ACOG "
                          "Practice Bulletin 222, 2020), not by the non-pregnant adult staging of the 2017 ACC/AHA "
                          "guideline")


def _bp_summary() -> list[tuple[str, str]]:
    """Area summary: categories only from 2 or more occasions and never in pregnancy (ACOG terms there)."""
    adult = f"{NOT_PREGNANT} and {CLASSIFIED}"
    return [(f"{adult} and {STAGE2}", "Stage 2 hypertension range"),
            (f"{adult} and {STAGE1}", "Stage 1 hypertension range"),
            (f"{adult} and {ELEVATED}", "Elevated blood pressure"),
            (f"{adult} and %facts.bp.sbp < 120 and %facts.bp.dbp < 80", "Blood pressure in the normal range"),
            (f"{NOT_PREGNANT} and %facts.bp.sbp.exists()", "average {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg of "
             "{{%facts.bp.readings}} reading(s) on {{%facts.bp.occasions}} occasion(s) up to {{%facts.bp.date}} "
             "(2017 ACC/AHA §3.1 categories)"),
            (f"{NOT_PREGNANT} and {SINGLE_OCCASION}", "readings from a single occasion: not classified (the "
             "guideline classifies on the average of 2 or more readings on 2 or more occasions)"),
            (f"{PREGNANT} and %facts.bp.sbp.exists()", "pregnancy: average {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg "
             "up to {{%facts.bp.date}}, read against ACOG Practice Bulletin 222 (2020), not adult staging"),
            (SEVERE, f"severe blood pressure {LATEST_BP}"),
            ("%facts.conditions.hypertension.empty() and %facts.conditions.hypertension_by_readings.exists()",
             "hypertension by readings: {{%facts.conditions.hypertension_by_readings.display}}"),
            (INDICATION_NOT_RECORDED, "{{%facts.treatment.hypertension.display}}: indication not recorded"),
            (BP_MISSING, "no recent blood pressure reading"),
            (HOSPICE, f"{COMFORT}: BP lowering is not started or intensified and no BP goal is set"),
            (DIALYSIS, f"end-stage renal disease or dialysis recorded ({KRT_SHOWN}): blood pressure is managed "
                       "with the nephrology and dialysis team")]


def blood_pressure() -> dict[str, Any]:
    """Blood pressure (2017 ACC/AHA): diagnosis first (2 occasions, a recorded diagnosis or treatment), then
    staging, goal and treatment; severe values are warnings that suspend routine follow-up."""
    return plan_definition(
        "blood-pressure", "Blood pressure",
        description="Severe values, diagnosis (readings on 2 or more occasions or out-of-office confirmation), then "
                    "staging, goal, lifestyle, medication thresholds by stage and ASCVD risk, and follow-up "
                    "intervals (2017 ACC/AHA high blood pressure guideline).",
        guidelines=[HTN, ADA, ACOG, KDOQI_COMMENTARY], ages=(18, None),
        when="%facts.conditions.hypertension.exists() or %facts.medications.antihypertensive.exists() or "
             f"%facts.bp.sbp >= 120 or %facts.bp.dbp >= 80 or {SEVERE}",
        summary=_bp_summary(),
        goals=[goal("htn.bp-goal", "Blood pressure below 130/80 mmHg",
                    targets=[("8480-6", "Systolic blood pressure", "<", 130, "mmHg"),
                             ("8462-4", "Diastolic blood pressure", "<", 80, "mmHg")],
                    due=(1, "mo"), addresses=["conditions.hypertension"],
                    addresses_text="High blood pressure",
                    cite=("ACC-AHA-HTN-2017", "Section 8.1.5, BP goal for patients with hypertension"),
                    inputs=BP_INPUTS,
                    condition=f"{NOT_PREGNANT} and {HOSPICE}.not() and {DIALYSIS}.not() and {DIAGNOSED}",
                    choice=[*BP_OLDER, DIABETES_BP_OLDER, TRANSPLANT_BP],
                    text="2017 ACC/AHA §8.1.5 (and ADA 2025 §10 with diabetes): for patients with hypertension "
                         "({{%facts.conditions.hypertension.display | %facts.conditions.hypertension_by_readings"
                         ".display | %facts.treatment.hypertension.display}}), goal below 130/80 mmHg. "
                         "Reassessed monthly until controlled (§8.2.1).")],
        rules=[
            rule("htn.measure-bp", "Measure blood pressure (none in the last 12 months)",
                 when=[BP_MISSING, "%facts.conditions.hypertension.exists() or "
                                   "%facts.medications.antihypertensive.exists()"],
                 activity="bp-recheck",
                 inputs=["conditions.hypertension", "medications.antihypertensive", "measures.sbp",
                         *CONTEXT_INPUTS],
                 evidence=("measures.sbp", *CONTEXT_EVIDENCE), exclusions=(IN_PREGNANCY, DIALYSIS_BP),
                 cite=[("ACC-AHA-HTN-2017", "Section 8.2.1, Follow-up after initiating antihypertensive drug "
                                            "therapy")],
                 choice=[*BP_OLDER, IN_HOSPICE_MONITORING, TRANSPLANT_BP],
                 text="Hypertension or BP-lowering treatment ({{%facts.conditions.hypertension.display | "
                      "%facts.medications.antihypertensive.display}}) with no office blood pressure reading in the "
                      "last 12 months[[ (latest {{%facts.measures.sbp.date}}) || (none on record)]][[; readings "
                      "taken in emergency or inpatient care ({{%facts.bp.acuteCare.date}}) are not office readings "
                      "(§4.1, Table 8)]]: measure it; older readings are not used for staging or goals."),
            rule("htn.confirm-out-of-office", "Confirm the diagnosis: home or ambulatory BP, or a second occasion",
                 when=[UNDIAGNOSED, RAISED], activity="bp-out-of-office", inputs=BP_INPUTS + CONTEXT_INPUTS,
                 evidence=CONTEXT_EVIDENCE, exclusions=(IN_PREGNANCY, SEVERE_FIRST, NO_INTENSIFICATION, DIALYSIS_BP),
                 cite=[DIAGNOSIS_CITE, WHITE_COAT_CITE],
                 choice=(f"an out-of-office average of {OUT_OF_OFFICE_BP} is below 130/80 mmHg, which corresponds "
                         "to an office 130/80 (§4.2, Table 11): the raised office readings may be white coat "
                         "hypertension, for which periodic home or ambulatory monitoring is reasonable (§4.3); "
                         "whether to confirm again now is the clinician's decision.", WHITE_COAT),
                 text="BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg from {{%facts.bp.readings}} reading(s) on "
                      "{{%facts.bp.occasions}} occasion and no hypertension diagnosis[[ ({{%facts.medications"
                      ".antihypertensive.display}} recorded without its indication)]]: the guideline diagnoses "
                      "hypertension on the average of 2 or more readings on 2 or more occasions (§4.1, Table 8), "
                      "and recommends out-of-office readings to confirm it (§4.2). No goal, stage-based follow-up or "
                      "medication is proposed until the diagnosis is confirmed."),
            rule("htn.lifestyle", "Nonpharmacological BP-lowering measures",
                 when=[f"{DIAGNOSED} or ({CLASSIFIED} and (%facts.bp.sbp >= 120 or %facts.bp.dbp >= 80))"],
                 activity="bp-lifestyle", goals=("htn.bp-goal",), inputs=BP_INPUTS + CONTEXT_INPUTS,
                 evidence=CONTEXT_EVIDENCE, exclusions=(IN_PREGNANCY, NO_INTENSIFICATION, DIALYSIS_BP),
                 cite=[("ACC-AHA-HTN-2017", "Section 6, Nonpharmacological interventions")],
                 text="[[Average BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg. ]]Weight loss if overweight, a "
                      "heart-healthy (DASH-type) diet, less sodium, more potassium, physical activity and "
                      "moderate alcohol are recommended for elevated BP and hypertension."),
            rule("htn.recheck-elevated", "Reassess BP in 3 to 6 months (elevated BP)",
                 when=[ELEVATED, CLASSIFIED, UNTREATED], activity="bp-recheck", due_in=(3, "mo"),
                 inputs=BP_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 exclusions=(IN_PREGNANCY, NO_INTENSIFICATION, DIALYSIS_BP),
                 cite=[FIGURE4], choice="the guideline gives 3 to 6 months; carepath proposes 3.",
                 text="Elevated BP ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg, {{%facts.bp.occasions}} occasions): "
                      "nonpharmacological therapy and reassessment in 3 to 6 months."),
            rule("htn.recheck-stage1-low-risk", "Reassess BP in 3 to 6 months (stage 1, lower risk)",
                 when=[STAGE1, UNTREATED, LOW_RISK, DIAGNOSED], activity="bp-recheck", due_in=(3, "mo"),
                 inputs=BP_INPUTS + RISK_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 exclusions=(IN_PREGNANCY, SEVERE_FIRST, NO_INTENSIFICATION, DIALYSIS_BP),
                 cite=[FIGURE4],
                 choice="the guideline gives 3 to 6 months; carepath proposes 3.",
                 text="Stage 1 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg) with 10-year ASCVD risk "
                      "{{%facts.scores.ascvd10y.value :: .1f}} % (below 10 %, PCE 2013) and no clinical CVD, "
                      "diabetes or CKD: nonpharmacological therapy, reassess in 3 to 6 months."),
            rule("htn.medication-stage1", "Start BP-lowering medication (stage 1, higher risk)",
                 when=[STAGE1, UNTREATED, HIGH_RISK, DIAGNOSED], activity="bp-medication", goals=("htn.bp-goal",),
                 inputs=BP_INPUTS + RISK_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 9, Hypertension in patients with comorbidities (chronic "
                                                   "kidney disease; diabetes mellitus)"), HTN_PREGNANCY],
                 exclusions=(IN_PREGNANCY, NO_INTENSIFICATION, DIALYSIS_BP),
                 choice=["first-line classes are thiazide diuretics, ACE inhibitors, ARBs and calcium channel "
                         "blockers (§8.1.6); the agent is the clinician's choice.", *BP_OLDER, TRANSPLANT_BP],
                 text="Stage 1 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg) at higher risk: "
                      "{{%facts.conditions.ascvd.display | %facts.conditions.diabetes.display | "
                      f"%facts.conditions.ckd.display ?? 10-year risk 10 % or more}}}}; {RISK_TEXT}. The guideline "
                      "starts medication at stage 1 with clinical CVD, diabetes, CKD, or a 10-year risk of 10 % or "
                      "more: BP-lowering medication plus lifestyle, reassess in 1 month."),
            rule("htn.medication-stage2", "Start BP-lowering medication (stage 2)",
                 when=[STAGE2, UNTREATED, DIAGNOSED], activity="bp-medication", goals=("htn.bp-goal",),
                 inputs=BP_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 8.1.6, Choice of initial medication (initial "
                                                     "combination therapy)"), HTN_PREGNANCY],
                 exclusions=(IN_PREGNANCY, NO_INTENSIFICATION, DIALYSIS_BP),
                 choice=["two first-line agents of different classes are recommended when the average BP is more "
                         "than 20/10 mmHg above goal (§8.1.6).", *BP_OLDER, TRANSPLANT_BP],
                 text="Stage 2 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg): BP-lowering medication plus "
                      "lifestyle, reassess in 1 month."),
            rule("htn.recheck-after-start", "Reassess BP in 1 month (stage 2, or stage 1 at higher risk)",
                 when=[UNTREATED, DIAGNOSED, f"{STAGE2} or ({STAGE1} and {HIGH_RISK})"], activity="bp-recheck",
                 due_in=(1, "mo"), inputs=BP_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 exclusions=(IN_PREGNANCY, SEVERE_FIRST, NO_INTENSIFICATION, DIALYSIS_BP),
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 8.2.1, Follow-up after initiating "
                                                     "antihypertensive drug therapy")],
                 text="BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg, in the stage 2 range or in the stage 1 range at "
                      "higher risk: repeat BP evaluation in 1 month, then monthly until controlled once treatment "
                      "starts."),
            rule("htn.pregnancy-raised", "Raised blood pressure in pregnancy: obstetric care", pregnancy="only",
                 when=[PREGNANT, "%facts.bp.sbp >= 140 or %facts.bp.dbp >= 90",
                       "%facts.bp.sbp < 160 and %facts.bp.dbp < 110"],
                 activity="obstetric-bp-care", inputs=["conditions.pregnancy", "bp"], cite=[ACOG_DEFINITION],
                 alert=("high", "pregnancy with BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg ({{%facts.bp.date}}): "
                                "140/90 or more, hypertension in pregnancy; refer to obstetric care",
                        "Refer to obstetric care: BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg in pregnancy"),
                 text="Pregnancy with an average BP of {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg (140/90 or more, "
                      "below the severe range): ACOG Practice Bulletin 222 defines hypertension in pregnancy at this "
                      "level; evaluation (gestational hypertension, preeclampsia) belongs to obstetric care."),
            rule("htn.pregnancy-severe", "Severe-range blood pressure in pregnancy: urgent obstetric care",
                 pregnancy="only",
                 when=[PREGNANT, "%facts.bp.sbp >= 160 or %facts.bp.dbp >= 110"],
                 activity="obstetric-bp-care", inputs=["conditions.pregnancy", "bp"], cite=[ACOG_DEFINITION],
                 alert=("high", "pregnancy with BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg ({{%facts.bp.date}}): "
                                "severe range (160/110 or more); urgent obstetric evaluation",
                        "Urgent obstetric evaluation: BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg in pregnancy"),
                 text="Pregnancy with an average BP of {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg (160/110 or more): "
                      "severe-range hypertension in pregnancy (ACOG Practice Bulletin 222); urgent obstetric "
                      "evaluation."),
            rule("htn.raas-in-pregnancy", "ACE inhibitor or ARB active in pregnancy", pregnancy="only",
                 when=[PREGNANT, "%facts.medications.ace_inhibitor.exists() or %facts.medications.arb.exists()"],
                 inputs=["conditions.pregnancy", "medications.ace_inhibitor", "medications.arb"], cite=[HTN_PREGNANCY],
                 alert=("high", "active {{%facts.medications.ace_inhibitor.display | %facts.medications.arb.display}} "
                                "during pregnancy: ACE inhibitors and ARBs should not be used in pregnancy",
                        "Review the ACE inhibitor or ARB: not to be used in pregnancy"),
                 text="Pregnancy with an active ACE inhibitor or ARB."),
            rule("htn.treatment-review", "Review adherence and intensify BP treatment",
                 when=[TREATED, RAISED],
                 activity="bp-treatment-review", goals=("htn.bp-goal",), due_in=(1, "mo"),
                 inputs=BP_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 exclusions=(IN_PREGNANCY, SEVERE_FIRST, NO_INTENSIFICATION, DIALYSIS_BP),
                 choice=[*BP_OLDER, TRANSPLANT_BP],
                 cite=[("ACC-AHA-HTN-2017", "Section 8.2.1, Follow-up after initiating antihypertensive drug "
                                            "therapy")],
                 text="On {{%facts.treatment.hypertension.display}} with BP {{%facts.bp.sbp}}/"
                      "{{%facts.bp.dbp}} mmHg (goal below 130/80): review adherence and response, monthly "
                      "until controlled."),
            rule("htn.goals-of-care", "Review BP-lowering treatment against the goals of care",
                 when=[HOSPICE, "%facts.medications.antihypertensive.exists()"], activity="goals-of-care-review",
                 inputs=[*HOSPICE_INPUTS, "medications.antihypertensive", "bp"], evidence=("bp",),
                 cite=[END_OF_LIFE, OLDER_BP],
                 choice="BP-lowering medicines are simplified or stopped with the patient and family when they no "
                        "longer serve comfort.",
                 text=f"Palliative or hospice care recorded ({HOSPICE_SHOWN}) on "
                      "{{%facts.medications.antihypertensive.display}}. ADA 2025 §13 (end-of-life care, people with "
                      "diabetes): strict blood pressure control is not necessary; 2017 ACC/AHA §10.3.1 (65 or older "
                      "with limited life expectancy): clinical judgment and patient preference decide the intensity "
                      "of BP lowering."),
            rule("htn.severe", "Severe blood pressure: evaluate now",
                 when=[SEVERE, NOT_PREGNANT], activity="severe-bp-evaluation", inputs=["bp", *BP_INPUTS[1:]],
                 cite=[SEVERE_CITE],
                 alert=("high", f"blood pressure {LATEST_BP}: 180/120 or more, severe (2017 ACC/AHA §11.2); "
                                "evaluate now for target-organ damage",
                        "Evaluate now for target-organ damage: BP {{%facts.bp.latest.sbp}}/{{%facts.bp.latest.dbp}} "
                        "mmHg, severe"),
                 text=f"Latest blood pressure {LATEST_BP}: 180/120 or more. 2017 ACC/AHA §11.2 treats a BP above "
                      "180/120 mmHg as a severe elevation (carepath warns from 180/120 inclusive, the safer reading): "
                      "repeat the measurement and evaluate now for new or worsening "
                      "target-organ damage (a hypertensive emergency needs immediate care). Until then the routine "
                      "rules it contradicts (out-of-office confirmation, rechecks in 1 to 6 months, monthly treatment "
                      "review) are suspended."),
            rule("htn.second-occasion", "Measure BP on a second occasion (elevated reading, single occasion)",
                 when=[UNDIAGNOSED, SINGLE_OCCASION, ELEVATED], activity="bp-recheck",
                 inputs=BP_INPUTS + CONTEXT_INPUTS, evidence=CONTEXT_EVIDENCE,
                 exclusions=(IN_PREGNANCY, NO_INTENSIFICATION, DIALYSIS_BP), cite=[DIAGNOSIS_CITE],
                 choice="the guideline sets no interval for the second occasion; at the next visit.",
                 text="BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg from a single occasion: the guideline "
                      "classifies BP (elevated, stage 1 or 2) only on the average of 2 or more readings on 2 or more "
                      "occasions (§4.1, Table 8); measure it again on another occasion before any category-based "
                      "advice."),
            rule("htn.indication-not-recorded", "Record the indication of the BP-lowering medicine",
                 when=[INDICATION_NOT_RECORDED], activity="bp-indication-review",
                 inputs=["treatment.hypertension", "medications.antihypertensive", "conditions.arrhythmia",
                         "conditions.angina", "conditions.heart_failure", "conditions.hypertension"],
                 cite=[("ACC-AHA-HTN-2017", "Section 9, Hypertension in patients with comorbidities (stable ischemic "
                                            "heart disease, heart failure, atrial fibrillation: the same drug classes "
                                            "treat them)"),
                       ("ACC-AHA-HTN-2017", "Section 8.1.5, BP goal for patients with hypertension")],
                 text="{{%facts.treatment.hypertension.display}}: indication not recorded. The record shows "
                      "{{%facts.treatment.hypertension.otherIndications}} and no hypertension diagnosis. carepath's "
                      "rule: {{%facts.treatment.hypertension.rule}}. It is therefore not read as hypertension "
                      "treatment (no BP goal or intensification from it); record what it is prescribed for."),
        ],
    )
