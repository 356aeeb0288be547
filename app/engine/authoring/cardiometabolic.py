"""Type 2 diabetes, blood pressure, ASCVD risk and statins, chronic kidney disease.

Every threshold sits next to its citation (guideline, year, section). Where a guideline leaves a choice to
the clinician, the rule proposes and says so (clinician-choice).
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import goal, guideline, plan_definition, rule

AGE = "%facts.patient.ageYears"
PREGNANT = "%facts.conditions.pregnancy.exists()"
BP_MISSING = "%facts.bp.sbp.empty()"

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


def diabetes() -> dict[str, Any]:
    """Type 2 diabetes (ADA Standards of Care 2025)."""
    glycemic = ("ADA-2025", "Section 6, Glycemic Goals and Hypoglycemia")
    return plan_definition(
        "type-2-diabetes", "Type 2 diabetes",
        description="Glycemic goal and monitoring, kidney, eye and foot surveillance, education, cardiorenal "
                    "agents for adults with type 2 diabetes (ADA Standards of Care in Diabetes 2025).",
        guidelines=[ADA], when="%facts.conditions.diabetes.exists()",
        summary=[(f"{HBA1C}.value.exists()", "Latest HbA1c {{%facts.measures.hba1c.value}} % on "
                  "{{%facts.measures.hba1c.date}}"),
                 (f"{HBA1C}.value.empty()", "No HbA1c on record")],
        goals=[
            goal("t2d.hba1c-goal", "HbA1c below 7 %", targets=[("4548-4", "Hemoglobin A1c/Hemoglobin.total in "
                                                                 "Blood", "<", 7.0, "%")],
                 due=(3, "mo"), addresses=["conditions.diabetes"], addresses_text="Type 2 diabetes",
                 cite=glycemic, inputs=["measures.hba1c", "patient"], editable_range=(6.5, 8.0, "%"),
                 text="ADA 2025 §6: an HbA1c goal below 7 % is appropriate for many nonpregnant adults without "
                      "significant hypoglycemia; below 6.5 % may be acceptable if reached safely, and a less "
                      "stringent goal (such as below 8 %) may fit limited life expectancy or when harms outweigh "
                      "benefits. Reviewed at the next HbA1c (at least quarterly while not at goal).",
                 choice=("the patient is 65 or older: ADA 2025 §13 (Older Adults) suggests below 8.0 % for "
                         "complex or intermediate health (multiple chronic illnesses, cognitive impairment or "
                         "functional dependence); carepath cannot judge health status from the record.",
                         f"{AGE} >= 65")),
            goal("t2d.bp-goal", "Blood pressure below 130/80 mmHg",
                 targets=[("8480-6", "Systolic blood pressure", "<", 130, "mmHg"),
                          ("8462-4", "Diastolic blood pressure", "<", 80, "mmHg")],
                 due=(3, "mo"), addresses=["conditions.diabetes"], addresses_text="Type 2 diabetes",
                 cite=("ADA-2025", "Section 10, Cardiovascular Disease and Risk Management (blood pressure "
                                   "goals)"), inputs=["bp"],
                 condition="%facts.conditions.hypertension.empty() and %facts.medications.antihypertensive.empty()"
                           f" and ({BP_MISSING} or (%facts.bp.sbp < 130 and %facts.bp.dbp < 80))",
                 text="ADA 2025 §10: blood pressure goal below 130/80 mmHg for people with diabetes, if it can be "
                      "safely attained. (When blood pressure is raised or treated, the blood pressure area sets "
                      "this goal instead.)"),
        ],
        rules=[
            rule("t2d.hba1c-test-at-goal", "HbA1c at least twice a year (at goal)",
                 when=[HBA1C_RECENT, f"{HBA1C}.value < 7"], activity="hba1c-test", goals=("t2d.hba1c-goal",),
                 repeat=(1, 6, "mo"), schedule_from=(("measures.hba1c",), 6, "mo"), inputs=["measures.hba1c"],
                 cite=[glycemic],
                 text="Latest HbA1c {{%facts.measures.hba1c.value}} % on {{%facts.measures.hba1c.date}} meets the "
                      "goal (below 7 %): assess glycemic status at least twice a year."),
            rule("t2d.hba1c-test-not-at-goal", "HbA1c every 3 months (not at goal)",
                 when=[HBA1C_RECENT, f"{HBA1C}.value >= 7"], activity="hba1c-test", goals=("t2d.hba1c-goal",),
                 repeat=(1, 3, "mo"), schedule_from=(("measures.hba1c",), 3, "mo"), inputs=["measures.hba1c"],
                 cite=[glycemic],
                 text="Latest HbA1c {{%facts.measures.hba1c.value}} % on {{%facts.measures.hba1c.date}} is not at "
                      "goal (7 % or more): assess glycemic status at least quarterly until at goal."),
            rule("t2d.hba1c-test-due", "HbA1c now (none in the last 12 months)",
                 when=[HBA1C_STALE], activity="hba1c-test", goals=("t2d.hba1c-goal",), inputs=["measures.hba1c"],
                 cite=[glycemic],
                 text="No HbA1c in the last 12 months (latest: {{%facts.measures.hba1c.date}}): test now."),
            rule("t2d.kidney-tests", "UACR and eGFR every year",
                 when=["true"], activity="uacr-egfr-test", repeat=(1, 1, "a"),
                 schedule_from=(("measures.uacr", "measures.egfr", "measures.creatinine"), 12, "mo"),
                 inputs=["measures.uacr", "scores.egfr"],
                 cite=[("ADA-2025", "Section 11, Chronic Kidney Disease and Risk Management (screening)")],
                 exclusions=(("%facts.conditions.ckd.exists()",
                              "kidney monitoring is planned by the chronic kidney disease area"),),
                 text="ADA 2025 §11: assess urinary albumin (spot UACR) and eGFR at least once a year in type 2 "
                      "diabetes. Latest UACR {{%facts.measures.uacr.value}} mg/g "
                      "({{%facts.measures.uacr.date}}), eGFR {{%facts.scores.egfr.value}} mL/min/1.73m2."),
            rule("t2d.retinal-exam", "Dilated retinal examination",
                 when=["true"], activity="retinal-exam", repeat=(1, 1, "a"),
                 schedule_from=(("procedures.retinal_exam",), 12, "mo"),
                 inputs=["conditions.diabetes", "procedures.retinal_exam"], evidence=("procedures.retinal_exam",),
                 cite=[("ADA-2025", "Section 12, Retinopathy, Neuropathy, and Foot Care (retinopathy "
                                    "screening)")],
                 choice="with no retinopathy on one or more annual exams and glycemia well controlled, "
                        "screening every 1 to 2 years may be considered (ADA 2025 §12).",
                 text="ADA 2025 §12: dilated and comprehensive eye examination by an ophthalmologist or "
                      "optometrist in type 2 diabetes. Last recorded: {{%facts.procedures.retinal_exam.date}}."),
            rule("t2d.foot-exam", "Comprehensive foot evaluation every year",
                 when=["true"], activity="foot-exam", repeat=(1, 1, "a"),
                 schedule_from=(("procedures.foot_exam",), 12, "mo"), inputs=["procedures.foot_exam"],
                 evidence=("procedures.foot_exam",),
                 cite=[("ADA-2025", "Section 12, Retinopathy, Neuropathy, and Foot Care (foot care)")],
                 text="ADA 2025 §12: comprehensive foot evaluation at least annually. Last recorded: "
                      "{{%facts.procedures.foot_exam.date}}."),
            rule("t2d.dsmes", "Diabetes self-management education and support",
                 when=["true"], activity="dsmes", inputs=["conditions.diabetes", "measures.hba1c"],
                 cite=[("ADA-2025", "Section 5, Facilitating Positive Health Behaviors and Well-being "
                                    "(DSMES)")],
                 text="ADA 2025 §5: all people with diabetes should take part in DSMES, at diagnosis, every year "
                      "and/or when not meeting goals, when complicating factors arise, and at transitions of "
                      "care."),
            rule("t2d.cardiorenal-agent", "GLP-1 RA or SGLT2 inhibitor with proven cardiovascular benefit",
                 when=["%facts.conditions.ascvd.exists() or %facts.conditions.heart_failure.exists()"],
                 activity="cardiorenal-agent", goals=("t2d.hba1c-goal",),
                 inputs=["conditions.ascvd", "conditions.heart_failure", "medications.sglt2_inhibitor",
                         "medications.glp1_ra"],
                 cite=[("ADA-2025", "Section 9, Pharmacologic Approaches to Glycemic Treatment"),
                       ("ADA-2025", "Section 10, Cardiovascular Disease and Risk Management")],
                 exclusions=(("%facts.medications.sglt2_inhibitor.exists() or %facts.medications.glp1_ra.exists()",
                              "already on a cardiorenal agent: {{%facts.medications.sglt2_inhibitor.display | "
                              "%facts.medications.glp1_ra.display}}"),),
                 contraindications=((PREGNANT, "pregnancy: ADA 2025 §15 prefers insulin in pregnancy; "
                                               "GLP-1 RA / SGLT2 inhibitor not proposed", "high"),),
                 choice="agent chosen with the patient: with established ASCVD a GLP-1 RA or SGLT2 inhibitor "
                        "with demonstrated cardiovascular benefit; with heart failure an SGLT2 inhibitor "
                        "(ADA 2025 §9, §10).",
                 text="Type 2 diabetes with {{%facts.conditions.ascvd.display | "
                      "%facts.conditions.heart_failure.display}}: an agent with proven cardiovascular benefit is "
                      "recommended independent of HbA1c."),
        ],
    )


STAGE2 = "(%facts.bp.sbp >= 140 or %facts.bp.dbp >= 90)"
STAGE1 = "((%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80) and %facts.bp.sbp < 140 and %facts.bp.dbp < 90)"
ELEVATED = "(%facts.bp.sbp >= 120 and %facts.bp.sbp < 130 and %facts.bp.dbp < 80)"
HIGH_RISK = ("(%facts.conditions.ascvd.exists() or %facts.conditions.diabetes.exists() or "
             "%facts.conditions.ckd.exists() or %facts.scores.ascvd10y.value >= 10)")
LOW_RISK = ("(%facts.conditions.ascvd.empty() and %facts.conditions.diabetes.empty() and "
            "%facts.conditions.ckd.empty() and %facts.scores.ascvd10y.value < 10)")
UNTREATED = "%facts.medications.antihypertensive.empty()"
BP_INPUTS = ["bp", "conditions.hypertension", "medications.antihypertensive"]
RISK_INPUTS = ["scores.ascvd10y", "conditions.ascvd", "conditions.diabetes", "conditions.ckd"]
FIGURE4 = ("ACC-AHA-HTN-2017", "Sections 8.1.2 (BP treatment threshold and use of CVD risk estimation) and 8.1.3 "
           "(follow-up after initial BP evaluation)")
PREGNANCY_BP = (PREGNANT, "pregnancy: the guideline recommends methyldopa, nifedipine and/or labetalol and no ACE "
                          "inhibitor, ARB or direct renin inhibitor; BP treatment in pregnancy is left to the "
                          "clinician", "high")
HTN_PREGNANCY = ("ACC-AHA-HTN-2017", "Special patient groups: pregnancy (ACE inhibitors, ARBs and direct renin "
                                     "inhibitors: class III, harm)")


def blood_pressure() -> dict[str, Any]:
    """Blood pressure (2017 ACC/AHA): staging from the average of the latest readings, goal, treatment."""
    return plan_definition(
        "blood-pressure", "Blood pressure",
        description="Staging, goal, lifestyle, medication thresholds by stage and ASCVD risk, and follow-up "
                    "intervals (2017 ACC/AHA high blood pressure guideline).",
        guidelines=[HTN, ADA],
        when="%facts.conditions.hypertension.exists() or %facts.medications.antihypertensive.exists() or "
             "%facts.bp.sbp >= 120 or %facts.bp.dbp >= 80",
        summary=[(STAGE2, "Stage 2 hypertension range"), (STAGE1, "Stage 1 hypertension range"),
                 (ELEVATED, "Elevated blood pressure"),
                 ("%facts.bp.sbp < 120 and %facts.bp.dbp < 80", "Blood pressure in the normal range"),
                 ("%facts.bp.sbp.exists()", "average {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg of "
                  "{{%facts.bp.readings}} reading(s) up to {{%facts.bp.date}} (2017 ACC/AHA §3.1 categories)"),
                 ("%facts.bp.readings < 2 or %facts.bp.occasions < 2", "readings from a single occasion: the "
                  "guideline classifies on the average of 2 or more readings on 2 or more occasions"),
                 (BP_MISSING, "no recent blood pressure reading")],
        goals=[goal("htn.bp-goal", "Blood pressure below 130/80 mmHg",
                    targets=[("8480-6", "Systolic blood pressure", "<", 130, "mmHg"),
                             ("8462-4", "Diastolic blood pressure", "<", 80, "mmHg")],
                    due=(1, "mo"), addresses=["conditions.hypertension"], addresses_text="High blood pressure",
                    cite=("ACC-AHA-HTN-2017", "Section 8.1.5, BP goal for patients with hypertension"),
                    inputs=BP_INPUTS,
                    condition="%facts.conditions.hypertension.exists() or "
                              "%facts.medications.antihypertensive.exists() or "
                              "%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80",
                    text="2017 ACC/AHA §8.1.5 (and ADA 2025 §10 with diabetes): goal below 130/80 mmHg. "
                         "Reassessed monthly until controlled (§8.2.1).")],
        rules=[
            rule("htn.lifestyle", "Nonpharmacological BP-lowering measures",
                 when=["%facts.bp.sbp >= 120 or %facts.bp.dbp >= 80 or %facts.conditions.hypertension.exists()"],
                 activity="bp-lifestyle", goals=("htn.bp-goal",), inputs=BP_INPUTS,
                 cite=[("ACC-AHA-HTN-2017", "Section 6, Nonpharmacological interventions")],
                 text="Average BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg: weight loss if overweight, a "
                      "heart-healthy (DASH-type) diet, less sodium, more potassium, physical activity and "
                      "moderate alcohol are recommended for elevated BP and hypertension."),
            rule("htn.confirm-out-of-office", "Confirm with home or ambulatory BP readings",
                 when=["%facts.conditions.hypertension.empty()", UNTREATED,
                       "%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80"],
                 activity="bp-out-of-office", inputs=BP_INPUTS,
                 cite=[("ACC-AHA-HTN-2017", "Section 4.2, Out-of-office and self-monitoring of BP")],
                 text="BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg ({{%facts.bp.readings}} reading(s)) without "
                      "a hypertension diagnosis: out-of-office readings are recommended to confirm it."),
            rule("htn.recheck-elevated", "Reassess BP in 3 to 6 months (elevated BP)",
                 when=[ELEVATED, UNTREATED], activity="bp-recheck", due_in=(3, "mo"), inputs=BP_INPUTS,
                 cite=[FIGURE4], choice="the guideline gives 3 to 6 months; carepath proposes 3.",
                 text="Elevated BP ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg): nonpharmacological therapy and "
                      "reassessment in 3 to 6 months."),
            rule("htn.recheck-stage1-low-risk", "Reassess BP in 3 to 6 months (stage 1, lower risk)",
                 when=[STAGE1, UNTREATED, LOW_RISK], activity="bp-recheck", due_in=(3, "mo"),
                 inputs=BP_INPUTS + RISK_INPUTS, cite=[FIGURE4],
                 choice="the guideline gives 3 to 6 months; carepath proposes 3.",
                 text="Stage 1 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg) with 10-year ASCVD risk "
                      "{{%facts.scores.ascvd10y.value :: .1f}} % (below 10 %, PCE 2013) and no clinical CVD, "
                      "diabetes or CKD: nonpharmacological therapy, reassess in 3 to 6 months."),
            rule("htn.medication-stage1", "Start BP-lowering medication (stage 1, higher risk)",
                 when=[STAGE1, UNTREATED, HIGH_RISK], activity="bp-medication", goals=("htn.bp-goal",),
                 inputs=BP_INPUTS + RISK_INPUTS,
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 9, Hypertension in patients with comorbidities (chronic "
                                                   "kidney disease; diabetes mellitus)"), HTN_PREGNANCY],
                 contraindications=(PREGNANCY_BP,),
                 choice="first-line classes are thiazide diuretics, ACE inhibitors, ARBs and calcium channel "
                        "blockers (§8.1.6); the agent is the clinician's choice.",
                 text="Stage 1 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg) with clinical CVD, diabetes, CKD or "
                      "10-year ASCVD risk of 10 % or more ({{%facts.scores.ascvd10y.value :: .1f}} %, PCE "
                      "2013): BP-lowering medication plus lifestyle, reassess in 1 month."),
            rule("htn.medication-stage2", "Start BP-lowering medication (stage 2)",
                 when=[STAGE2, UNTREATED], activity="bp-medication", goals=("htn.bp-goal",), inputs=BP_INPUTS,
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 8.1.6, Choice of initial medication (initial "
                                                     "combination therapy)"), HTN_PREGNANCY],
                 contraindications=(PREGNANCY_BP,),
                 choice="two first-line agents of different classes are recommended when the average BP is more "
                        "than 20/10 mmHg above goal (§8.1.6).",
                 text="Stage 2 ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg): BP-lowering medication plus "
                      "lifestyle, reassess in 1 month."),
            rule("htn.recheck-after-start", "Reassess BP in 1 month (stage 2, or stage 1 at higher risk)",
                 when=[UNTREATED, f"{STAGE2} or ({STAGE1} and {HIGH_RISK})"], activity="bp-recheck",
                 due_in=(1, "mo"), inputs=BP_INPUTS,
                 cite=[FIGURE4, ("ACC-AHA-HTN-2017", "Section 8.2.1, Follow-up after initiating "
                                                     "antihypertensive drug therapy")],
                 text="Stage 2, or stage 1 at higher risk ({{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg): repeat BP "
                      "evaluation in 1 month, then monthly until controlled once treatment starts."),
            rule("htn.raas-in-pregnancy", "ACE inhibitor or ARB active in pregnancy",
                 when=[PREGNANT, "%facts.medications.ace_inhibitor.exists() or %facts.medications.arb.exists()"],
                 inputs=["conditions.pregnancy", "medications.ace_inhibitor", "medications.arb"], cite=[HTN_PREGNANCY],
                 alert=("high", "active {{%facts.medications.ace_inhibitor.display | %facts.medications.arb.display}} "
                                "during pregnancy: ACE inhibitors and ARBs should not be used in pregnancy"),
                 text="Pregnancy with an active ACE inhibitor or ARB."),
            rule("htn.treatment-review", "Review adherence and intensify BP treatment",
                 when=["%facts.medications.antihypertensive.exists()",
                       "%facts.bp.sbp >= 130 or %facts.bp.dbp >= 80"],
                 activity="bp-treatment-review", goals=("htn.bp-goal",), due_in=(1, "mo"), inputs=BP_INPUTS,
                 cite=[("ACC-AHA-HTN-2017", "Section 8.2.1, Follow-up after initiating antihypertensive drug "
                                            "therapy")],
                 text="On {{%facts.medications.antihypertensive.display}} with BP {{%facts.bp.sbp}}/"
                      "{{%facts.bp.dbp}} mmHg (goal below 130/80): review adherence and response, monthly "
                      "until controlled."),
        ],
    )


ON_STATIN = "%facts.medications.statin.exists()"
NO_ASCVD = "%facts.conditions.ascvd.empty()"
PRIMARY = (f"{AGE} >= 40 and {AGE} <= 75 and {NO_ASCVD} and %facts.conditions.diabetes.empty() and "
           "%facts.measures.ldl.value >= 70 and %facts.measures.ldl.value < 190")
RISK = "%facts.scores.ascvd10y.value"
LIPID_INPUTS = ["measures.ldl", "scores.ascvd10y", "medications.statin", "allergies.statin"]


def _statin_checks(intensity: str) -> dict[str, Any]:
    return {
        "exclusions": ((ON_STATIN, "statin not started: active {{%facts.medications.statin.display}} "
                                   f"MedicationRequest (check it is {intensity})", "low", "statin-review"),),
        "contraindications": (
            ("%facts.allergies.statin.exists()", "statin allergy or intolerance recorded: "
                                                 "{{%facts.allergies.statin.display}}", "high"),
            (PREGNANT, "pregnancy: statins are not started in pregnancy", "high")),
    }


def cholesterol() -> dict[str, Any]:
    """ASCVD risk and statins (2018 AHA/ACC cholesterol, 2013 PCE, USPSTF 2022)."""
    return plan_definition(
        "ascvd-statins", "ASCVD risk and statins",
        description="Statin benefit groups: clinical ASCVD, LDL-C 190 mg/dL or more, diabetes 40-75, and "
                    "primary prevention by 10-year ASCVD risk band (2018 AHA/ACC, 2013 PCE, USPSTF 2022).",
        guidelines=[CHOL, PCE, USPSTF_STATIN, ADA],
        when=f"({AGE} >= 40 and {AGE} <= 75) or %facts.conditions.ascvd.exists() or "
             f"%facts.measures.ldl.value >= 190 or {ON_STATIN}",
        summary=[(f"{RISK}.exists()", "10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % (PCE 2013)"),
                 ("%facts.conditions.ascvd.exists()", "clinical ASCVD: {{%facts.conditions.ascvd.display}}"),
                 ("%facts.measures.ldl.value.exists()", "LDL-C {{%facts.measures.ldl.value}} mg/dL on "
                  "{{%facts.measures.ldl.date}}")],
        rules=[
            rule("lipid.secondary-prevention", "High-intensity statin (clinical ASCVD, 75 or younger)",
                 when=["%facts.conditions.ascvd.exists()", f"{AGE} <= 75"], activity="statin-high",
                 inputs=["conditions.ascvd", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.1, Secondary ASCVD prevention")], **_statin_checks(
                     "high-intensity"),
                 text="Clinical ASCVD ({{%facts.conditions.ascvd.display}}), age {{%facts.patient.ageYears}}: "
                      "high-intensity statin to lower LDL-C by 50 % or more."),
            rule("lipid.secondary-prevention-over-75", "Statin (clinical ASCVD, older than 75)",
                 when=["%facts.conditions.ascvd.exists()", f"{AGE} > 75"], activity="statin",
                 inputs=["conditions.ascvd", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.1, Secondary ASCVD prevention")],
                 choice="older than 75: moderate- or high-intensity statin is reasonable after weighing risk "
                        "reduction, adverse effects, drug interactions, frailty and patient preferences.",
                 **_statin_checks("of suitable intensity"),
                 text="Clinical ASCVD ({{%facts.conditions.ascvd.display}}) at age {{%facts.patient.ageYears}}."),
            rule("lipid.severe-hypercholesterolemia", "High-intensity statin (LDL-C 190 mg/dL or more)",
                 when=[NO_ASCVD, f"{AGE} >= 20 and {AGE} <= 75", "%facts.measures.ldl.value >= 190"],
                 activity="statin-high", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.2, Severe hypercholesterolemia (LDL-C 190 mg/dL or "
                                             "higher)")], **_statin_checks("high-intensity"),
                 text="LDL-C {{%facts.measures.ldl.value}} mg/dL ({{%facts.measures.ldl.date}}) is 190 or more, "
                      "age 20 to 75: maximally tolerated (high-intensity) statin without risk calculation."),
            rule("lipid.diabetes", "Moderate-intensity statin (diabetes, 40 to 75)",
                 when=[NO_ASCVD, "%facts.conditions.diabetes.exists()", f"{AGE} >= 40 and {AGE} <= 75",
                       "%facts.measures.ldl.value.empty() or %facts.measures.ldl.value < 190"],
                 activity="statin-moderate", inputs=["conditions.diabetes", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.3, Diabetes mellitus in adults"),
                       ("ADA-2025", "Section 10, Cardiovascular Disease and Risk Management (statin "
                                    "treatment)")], **_statin_checks("at least moderate-intensity"),
                 choice="with multiple ASCVD risk factors a high-intensity statin is reasonable (2018 §4.3).",
                 text="Diabetes at age {{%facts.patient.ageYears}} (40 to 75): moderate-intensity statin "
                      "regardless of 10-year risk."),
            rule("lipid.primary-high-risk", "High-intensity statin (10-year risk 20 % or more)",
                 when=[PRIMARY, f"{RISK} >= 20"], activity="statin-high", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention, adults 40 to 75 with LDL-C "
                                             "70 to 189 mg/dL"), ("PCE-2013", "Pooled Cohort Equations")],
                 **_statin_checks("high-intensity"),
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % (PCE 2013) is 20 % or more "
                      "with LDL-C {{%facts.measures.ldl.value}} mg/dL: statin to lower LDL-C by 50 % or more."),
            rule("lipid.primary-intermediate-risk", "Moderate-intensity statin (10-year risk 7.5 to <20 %)",
                 when=[PRIMARY, f"{RISK} >= 7.5 and {RISK} < 20"], activity="statin-moderate",
                 inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention, adults 40 to 75 with LDL-C "
                                             "70 to 189 mg/dL"),
                       ("USPSTF-STATIN-2022", "Recommendation: 10-year risk 10 % or more (B), 7.5 to <10 % (C)"),
                       ("PCE-2013", "Pooled Cohort Equations")], **_statin_checks("at least moderate-intensity"),
                 choice="intermediate risk: start after a clinician-patient risk discussion; risk-enhancing "
                        "factors favor a statin (2018 §4.4.2). USPSTF 2022: offer at 10 % or more with a CVD risk "
                        "factor; selectively at 7.5 to <10 %.",
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % (PCE 2013), LDL-C "
                      "{{%facts.measures.ldl.value}} mg/dL."),
            rule("lipid.primary-borderline-risk", "Risk discussion about a statin (10-year risk 5 to <7.5 %)",
                 when=[PRIMARY, f"{RISK} >= 5 and {RISK} < 7.5", f"{ON_STATIN}.not()"],
                 activity="statin-discussion", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention (borderline risk)")],
                 choice="borderline risk: risk-enhancing factors may justify a moderate-intensity statin.",
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % (PCE 2013) is borderline "
                      "(5 to <7.5 %)."),
            rule("lipid.primary-low-risk", "Heart-healthy lifestyle (10-year risk below 5 %)",
                 when=[PRIMARY, f"{RISK} < 5"], activity="heart-healthy-lifestyle", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention (low risk)")],
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % (PCE 2013) is below 5 %: "
                      "lifestyle to reduce risk factors; no statin proposed."),
            rule("lipid.risk-unknown", "10-year ASCVD risk could not be computed",
                 when=[f"{AGE} >= 40 and {AGE} <= 75", NO_ASCVD, "%facts.conditions.diabetes.empty()",
                       f"{RISK}.empty()", "%facts.measures.ldl.value.empty() or %facts.measures.ldl.value < 190"],
                 inputs=LIPID_INPUTS, cite=[("AHA-ACC-CHOL-2018", "Section 4.4.1, Evaluation and risk assessment"),
                       ("PCE-2013", "Pooled Cohort Equations (inputs)")],
                 gaps=(("scores.ascvd10y", "10-year ASCVD risk not computed (the Pooled Cohort Equations need "
                                           "total and HDL cholesterol, systolic BP, BP treatment, diabetes and "
                                           "smoking): primary-prevention statin bands not assessed"),),
                 text="Primary prevention, age 40 to 75: risk bands need the 10-year ASCVD risk."),
            rule("lipid.duplicate-statin", "Two active statins",
                 when=["%facts.medications.statin.count() > 1"], inputs=["medications.statin"],
                 cite=[("AHA-ACC-CHOL-2018", "Table 3, High-, moderate- and low-intensity statin therapy")],
                 alert=("moderate", "{{%facts.medications.statin.count()}} active statin prescriptions "
                                    "({{%facts.medications.statin.display}}): check for duplicate therapy"),
                 text="More than one active statin."),
            rule("lipid.statin-in-pregnancy", "Statin active in pregnancy",
                 when=[PREGNANT, ON_STATIN], inputs=["medications.statin", "conditions.pregnancy"],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.5, Other populations at risk (women: statins and pregnancy)")],
                 alert=("high", "active {{%facts.medications.statin.display}} during pregnancy: the guideline "
                                "advises stopping a statin as soon as pregnancy is discovered"),
                 text="Pregnancy with an active statin."),
        ],
    )


EGFR = "%facts.scores.egfr.value"
UACR = "%facts.measures.uacr.value"
CKD_INPUTS = ["scores.egfr", "measures.uacr", "conditions.ckd"]


def kidney() -> dict[str, Any]:
    """Chronic kidney disease (KDIGO 2024)."""
    return plan_definition(
        "chronic-kidney-disease", "Chronic kidney disease",
        description="Staging by eGFR (G) and albuminuria (A), monitoring, RAS inhibition, SGLT2 inhibitors and "
                    "nephrology referral (KDIGO 2024).",
        guidelines=[KDIGO],
        when=f"%facts.conditions.ckd.exists() or {EGFR} < 60 or {UACR} >= 30",
        summary=[(f"{EGFR} >= 90", "G1 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 60 and {EGFR} < 90", "G2 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 45 and {EGFR} < 60", "G3a (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 30 and {EGFR} < 45", "G3b (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 15 and {EGFR} < 30", "G4 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} < 15", "G5 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR}.empty()", "eGFR unknown"),
                 (f"{UACR} < 30", "A1 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR} >= 30 and {UACR} < 300", "A2 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR} >= 300", "A3 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR}.empty()", "albuminuria unknown"),
                 ("true", "KDIGO 2024 G and A categories")],
        rules=[
            rule("ckd.confirm", "Repeat eGFR and UACR to confirm chronicity",
                 when=["%facts.conditions.ckd.empty()"], activity="ckd-confirm",
                 schedule_from=(("measures.egfr", "measures.creatinine", "measures.uacr"), 3, "mo"),
                 inputs=CKD_INPUTS, cite=[("KDIGO-CKD-2024", "Chapter 1, definition of CKD (abnormality present "
                                                            "for more than 3 months)")],
                 text="eGFR {{%facts.scores.egfr.value}} mL/min/1.73m2 and UACR {{%facts.measures.uacr.value}} "
                      "mg/g without a CKD diagnosis: CKD requires the abnormality to last more than 3 months."),
            rule("ckd.monitoring", "eGFR and albuminuria at least every year",
                 when=["%facts.conditions.ckd.exists()"], activity="uacr-egfr-test", repeat=(1, 1, "a"),
                 schedule_from=(("measures.uacr", "measures.egfr", "measures.creatinine"), 12, "mo"),
                 inputs=CKD_INPUTS,
                 cite=[("KDIGO-CKD-2024", "Chapter 2, Practice Points 2.1.1 and 2.1.2 (monitoring)")],
                 choice="more often when the risk of progression is higher and the result changes treatment "
                        "(Practice Point 2.1.2).",
                 text="CKD: assess albuminuria and GFR at least annually."),
            rule("ckd.ras-inhibitor", "ACE inhibitor or ARB (albuminuria)",
                 when=["%facts.conditions.ckd.exists()", f"{UACR} >= 30", f"{EGFR} >= 15"], activity="ras-inhibitor",
                 inputs=[
                     *CKD_INPUTS, "conditions.diabetes", "medications.ace_inhibitor", "medications.arb",
                     "allergies.ace_inhibitor", "conditions.angioedema"],
                 cite=[("KDIGO-CKD-2024", "Chapter 3, Section 3.6 (renin-angiotensin system inhibitors)")],
                 exclusions=(("%facts.medications.ace_inhibitor.exists() or %facts.medications.arb.exists()",
                              "already on a RAS inhibitor: {{%facts.medications.ace_inhibitor.display | "
                              "%facts.medications.arb.display}}"),),
                 contraindications=(
                     (PREGNANT, "pregnancy: ACE inhibitors and ARBs are contraindicated", "high"),
                     ("%facts.conditions.angioedema.exists()", "history of angioedema "
                      "({{%facts.conditions.angioedema.display}}): ACE inhibitor contraindicated; any RAS "
                      "inhibitor only on the clinician's judgement", "high"),
                     ("%facts.allergies.ace_inhibitor.exists()", "ACE inhibitor allergy or intolerance: "
                      "{{%facts.allergies.ace_inhibitor.display}}", "high")),
                 choice="moderately increased albuminuria (A2) without diabetes is a suggestion (2C) rather than "
                        "a recommendation; titrate to the highest approved dose tolerated.",
                 text="UACR {{%facts.measures.uacr.value}} mg/g (30 or more) with eGFR "
                      "{{%facts.scores.egfr.value}} (15 or more): RAS inhibitor."),
            rule("ckd.sglt2-inhibitor", "SGLT2 inhibitor (CKD)",
                 when=["%facts.conditions.ckd.exists()", f"{EGFR} >= 20",
                       f"%facts.conditions.diabetes.exists() or {UACR} >= 200 or "
                       "%facts.conditions.heart_failure.exists()"],
                 activity="sglt2-inhibitor", inputs=[*CKD_INPUTS, "conditions.diabetes",
                                                     "conditions.heart_failure", "medications.sglt2_inhibitor"],
                 cite=[("KDIGO-CKD-2024", "Chapter 3, Section 3.7 (SGLT2 inhibitors)")],
                 exclusions=(("%facts.medications.sglt2_inhibitor.exists()", "already on "
                              "{{%facts.medications.sglt2_inhibitor.display}}"),),
                 contraindications=((PREGNANT, "pregnancy: SGLT2 inhibitor not proposed", "high"),),
                 text="CKD with eGFR {{%facts.scores.egfr.value}} (20 or more) and type 2 diabetes, UACR of 200 "
                      "mg/g or more, or heart failure: SGLT2 inhibitor."),
            rule("ckd.nephrology-referral", "Referral to nephrology",
                 when=[f"{EGFR} < 30 or {UACR} >= 300"], activity="nephrology-referral", inputs=CKD_INPUTS,
                 cite=[("KDIGO-CKD-2024", "Chapter 5, Section 5.1, referral to specialist kidney care services")],
                 text="eGFR {{%facts.scores.egfr.value}} (below 30) or UACR {{%facts.measures.uacr.value}} mg/g "
                      "(300 or more): refer to specialist kidney care. (The 5-year kidney failure risk, "
                      "Practice Point 2.2.1, is not computed by carepath.)"),
        ],
    )
