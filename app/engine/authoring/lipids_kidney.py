"""ASCVD risk and statins (2018 AHA/ACC, 2013 PCE, USPSTF 2022) and chronic kidney disease (KDIGO 2024).

Every threshold sits next to its citation (guideline, year, section).
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import guideline, plan_definition, rule
from app.engine.authoring.cardiometabolic import (
    ADA,
    AGE,
    CHOL,
    KDIGO,
    KIDNEY_TESTS_DONE,
    KIDNEY_TESTS_SCHEDULE,
    KIDNEY_TESTS_SHOWN,
    PCE,
    PREGNANT,
    USPSTF_STATIN,
)
from app.engine.authoring.consequences import (
    BREASTFEEDING,
    COMFORT,
    DIALYSIS,
    END_OF_LIFE,
    FDA_STATIN,
    HOSPICE,
    HOSPICE_INPUTS,
    HOSPICE_SHOWN,
    IN_HOSPICE_MONITORING,
    KDIGO_SCOPE,
    KIDNEY_TEAM,
    KRT,
    KRT_INPUTS,
    KRT_SHOWN,
    MUSCLE_NOW,
    MUSCLE_PAST,
    NO_INTENSIFICATION,
    OLDER_FRAIL,
    STATIN_INTOLERANCE,
    STATIN_REASON_INPUTS,
    STATIN_SAFETY,
)

ON_STATIN = "%facts.medications.statin.exists()"
NO_ASCVD = "%facts.conditions.ascvd.empty()"
#: Primary prevention by 10-year risk (2018 AHA/ACC §4.4.2): 40 to 75, no clinical ASCVD, no diabetes, and an LDL-C
#: of 70 to 189 mg/dL (PRIMARY); the group without its LDL-C condition (PRIMARY_GROUP) when none is recent.
PRIMARY_GROUP = f"{AGE} >= 40 and {AGE} <= 75 and {NO_ASCVD} and %facts.conditions.diabetes.empty()"
PRIMARY = f"{PRIMARY_GROUP} and %facts.measures.ldl.recentValue >= 70 and %facts.measures.ldl.recentValue < 190"
PRIMARY_CITE = ("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention, adults 40 to 75 with LDL-C 70 to 189 mg/dL")
#: Primary prevention older than 75 (2018 AHA/ACC §4.4.4): the recommendation is for an LDL-C of 70 to 189 mg/dL.
OLDER_PRIMARY_CITE = ("AHA-ACC-CHOL-2018", "Section 4.4.4, Primary prevention in other age groups (older adults: "
                                           "LDL-C 70 to 189 mg/dL, initiating a moderate-intensity statin may be "
                                           "reasonable, IIb)")
RISK = "%facts.scores.ascvd10y.value"
#: The current statin's intensity (by its product) is read only where a rule raises a lower one: evidence, whose
#: absence is no data gap.
INTENSITY_INPUTS = ["medications.statin_high_intensity", "medications.statin_moderate_intensity",
                    "medications.statin_low_intensity"]
LIPID_INPUTS = ["measures.ldl", "scores.ascvd10y", "medications.statin", "allergies.statin", *STATIN_REASON_INPUTS,
                *INTENSITY_INPUTS]
LIPID_EVIDENCE = (*STATIN_REASON_INPUTS, *INTENSITY_INPUTS)
STATIN_SHOWN = "[[; the active {{%facts.medications.statin.display}} may reasonably be continued (IIb)]]"
#: Reasons the record gives not to start a statin, in the order the plan reports them (the first that holds).
STATIN_EXCLUSIONS = (
    (HOSPICE, f"{COMFORT}; a statin is not started: the intensity of lipid management can be relaxed and withdrawal of "
              "lipid-lowering therapy may be appropriate (ADA 2025 §13, people with diabetes); net clinical benefit is "
              "weighed in the clinician-patient risk discussion (2018 AHA/ACC §5)"),
    (DIALYSIS, f"end-stage renal disease or dialysis recorded ({KRT_SHOWN}): in adults with advanced kidney disease "
               "who require dialysis, initiation of a statin is not recommended (2018 AHA/ACC §4.5.4, III: no benefit)"
               f"{STATIN_SHOWN}"),
    ("%facts.not_done.statin_medical_reason.exists()",
     "documented medical reason not to prescribe a statin ({{%facts.not_done.statin_medical_reason.date}}"
     "[[: {{%facts.not_done.statin_medical_reason.reasons.display}}]]): the plan follows it (2018 AHA/ACC §5: "
     "statin therapy follows a clinician-patient risk discussion)"),
)
#: Muscle symptoms or rhabdomyolysis: while current, they are assessed before any statin (2018 AHA/ACC §5,
#: recommendations 2 and 3); a past episode is the clinician's choice (STATIN_CHOICES).
MUSCLE_SHOWN = "{{%facts.conditions.statin_muscle_symptoms.display | %facts.conditions.rhabdomyolysis.display}}"
STATIN_SIDE_EFFECTS = (
    MUSCLE_NOW, f"current muscle symptoms or rhabdomyolysis recorded ({MUSCLE_SHOWN}): 2018 AHA/ACC §5 asks for a "
                "thorough assessment of the symptoms, of nonstatin causes and of predisposing factors before a statin "
                "is started; when a statin-associated side effect was not severe, a rechallenge with a modified "
                "dosing regimen, an alternate statin or nonstatin therapy; no statin is started until then",
    "moderate", "statin-intolerance-review", "Assess muscle symptoms before a statin: none is started until then")
#: Liver disease: 2018 AHA/ACC §5 finds a statin reasonable in chronic, stable liver disease; stability is the
#: clinician's judgement.
STATIN_CHOICES = [
    (f"muscle symptoms or rhabdomyolysis recorded in the past ({MUSCLE_SHOWN}, no longer active): before a statin is "
     "started, 2018 AHA/ACC §5 asks to assess such symptoms, their nonstatin causes and the predisposing factors "
     "(recommendations 2 and 3); after a statin-associated side effect that was not severe it recommends a "
     "rechallenge with a modified dosing regimen, an alternate statin or a combination with nonstatin therapy "
     "(recommendation 4). Whether the episode was caused by a statin, and how severe it was (rhabdomyolysis is "
     "severe), decides whether and how to start: the clinician's judgement.", MUSCLE_PAST),
    ("the patient declined a statin ({{%facts.not_done.statin_declined.date}}[[: "
     "{{%facts.not_done.statin_declined.reasons.display}}]]): the decision is the patient's; 2018 AHA/ACC §4.4.1 "
     "asks for a clinician-patient risk discussion before a statin is started, where it can be revisited.",
     "%facts.not_done.statin_declined.exists()"),
    ("a decision not to prescribe a statin is recorded ({{%facts.not_done.statin.date}}[[: "
     "{{%facts.not_done.statin.reasons.display}}]]) with no reason the plan recognises as medical or as the patient's "
     "(published Medical Reason and Patient Reason value sets): whether to prescribe now is the clinician's decision "
     "after the clinician-patient risk discussion (2018 AHA/ACC §4.4.1).",
     "%facts.not_done.statin.exists() and %facts.not_done.statin_medical_reason.empty() and "
     "%facts.not_done.statin_declined.empty()"),
    ("liver disease recorded ({{%facts.conditions.liver_disease.display}}): in chronic, stable liver disease a "
     "statin is reasonable after baseline hepatic measurements and with a monitoring schedule (2018 AHA/ACC §5); "
     "whether the liver disease is chronic and stable is the clinician's judgement.",
     "%facts.conditions.liver_disease.exists()"),
    ("diabetes with frailty or advanced illness at 65 or older: ADA 2025 §13 Table 13.1 (very complex/poor health) "
     "asks to consider the likelihood of benefit with a statin.",
     f"{OLDER_FRAIL} and %facts.conditions.diabetes.exists()"),
]


#: A current statin whose product is of lower intensity than a rule wants (the published intensity value sets): the
#: rule still applies, to raise the intensity (2018 AHA/ACC §4.1 and §4.2: "initiated or continued" at high
#: intensity; §4.3 and §4.4.2: at least moderate). A product of unknown intensity is a statin to review instead.
HIGH_INTENSITY = "%facts.medications.statin_high_intensity"
BELOW_INTENSITY = {
    "high-intensity": ("(%facts.medications.statin_moderate_intensity.exists() or "
                       f"%facts.medications.statin_low_intensity.exists()) and {HIGH_INTENSITY}.empty()"),
    "at least moderate-intensity": ("%facts.medications.statin_low_intensity.exists() and "
                                    "%facts.medications.statin_moderate_intensity.empty() and "
                                    f"{HIGH_INTENSITY}.empty()"),
}
#: What a rule says when the active statin is of a lower intensity than it wants: not a new start, a raise.
RAISE = {
    "high-intensity": "the active {{%facts.medications.statin.display}} is not a high-intensity product (2018 "
                      "AHA/ACC Table 3, as the published intensity value sets list products): the guideline's "
                      "high-intensity statin is initiated or continued, so raise the dose or switch unless a higher "
                      "intensity was not tolerated",
    "at least moderate-intensity": "the active {{%facts.medications.statin.display}} is a low-intensity product "
                                   "(2018 AHA/ACC Table 3, as the published intensity value sets list products): "
                                   "the guideline asks for at least a moderate-intensity statin, so raise the dose "
                                   "or switch unless a higher intensity was not tolerated",
}


def _statin_checks(intensity: str, *, raise_lower: bool = False) -> dict[str, Any]:
    """Exclusions and contraindications every statin start shares; ``intensity`` names the one the rule wants.

    A statin already taken excludes the start. With ``raise_lower`` (rules whose guideline says the intensity is
    "initiated or continued"), one whose product is of a lower intensity than the rule wants (BELOW_INTENSITY)
    turns it into a raise of that statin (RAISE) instead of a review.
    """
    raise_check: tuple[tuple, ...] = ()
    if raise_lower:
        # Never a raise over a recorded intolerance, allergy or medical reason: those keep their own entries below.
        raise_when = (f"{ON_STATIN} and {BELOW_INTENSITY[intensity]} and {STATIN_INTOLERANCE}.not() and "
                      "%facts.allergies.statin.empty() and %facts.not_done.statin_medical_reason.empty()")
        raise_check = ((raise_when, RAISE[intensity], "low", "statin-intensify",
                        "Raise the statin's intensity: {{%facts.medications.statin.display}} is below the indication"),)
    return {
        "exclusions": (STATIN_EXCLUSIONS[0], STATIN_EXCLUSIONS[1], *raise_check,
                       (ON_STATIN, "statin not started: {{%facts.medications.statin.display}} prescription[[ "
                                   "({{%facts.medications.statin.note}})]] (check it is "
                                   f"{intensity})", "low", "statin-review"),
                       *STATIN_EXCLUSIONS[2:], STATIN_SIDE_EFFECTS),
        "contraindications": (
            ("%facts.allergies.statin.exists()", "statin allergy or intolerance recorded: "
                                                 "{{%facts.allergies.statin.display}}", "high", None,
             "Do not start a statin: allergy or intolerance recorded"),
            (PREGNANT, "pregnancy: statins are not started in pregnancy", "high", None,
             "Do not start a statin in pregnancy"),
            (BREASTFEEDING, "breastfeeding recorded ({{%facts.conditions.breastfeeding.display}}): a statin is not "
                            "started while breastfeeding (FDA 2021: breastfeeding is not recommended with a statin; "
                            "many can wait until breastfeeding ends)", "moderate", None,
             "Do not start a statin while breastfeeding")),
        "evidence": LIPID_EVIDENCE,
    }


def cholesterol() -> dict[str, Any]:
    """ASCVD risk and statins (2018 AHA/ACC cholesterol, 2013 PCE, USPSTF 2022)."""
    return plan_definition(
        "ascvd-statins", "ASCVD risk and statins",
        description="Statin benefit groups: clinical ASCVD, LDL-C 190 mg/dL or more, diabetes 40-75 (and older "
                    "than 75 after a risk discussion), and primary prevention by 10-year ASCVD risk band (2018 "
                    "AHA/ACC, 2013 PCE, USPSTF 2022).",
        guidelines=[CHOL, PCE, USPSTF_STATIN, ADA, FDA_STATIN], ages=(18, None),
        when=f"({AGE} >= 40 and {AGE} <= 75) or %facts.conditions.ascvd.exists() or "
             f"%facts.measures.ldl.recentValue >= 190 or {ON_STATIN} or "
             f"({AGE} > 75 and (%facts.conditions.diabetes.exists() or %facts.measures.ldl.recentValue >= 70 or "
             "%facts.measures.ldl.recentValue.empty()))",
        summary=[(f"{RISK}.exists()", "10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                  "({{%facts.scores.ascvd10y.basis}})"),
                 ("%facts.conditions.ascvd.exists()", "clinical ASCVD: {{%facts.conditions.ascvd.display}}"),
                 ("%facts.measures.ldl.value.exists()", "LDL-C {{%facts.measures.ldl.value}} mg/dL on "
                  "{{%facts.measures.ldl.date}}"),
                 (HOSPICE, f"{COMFORT}: no statin is started")],
        rules=[
            rule("lipid.secondary-prevention", "High-intensity statin (clinical ASCVD, 75 or younger)",
                 ages=(None, 75),
                 when=["%facts.conditions.ascvd.exists()", f"{AGE} <= 75"], activity="statin-high",
                 inputs=["conditions.ascvd", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.1, Secondary ASCVD prevention"), STATIN_SAFETY],
                 choice=STATIN_CHOICES, **_statin_checks("high-intensity", raise_lower=True),
                 text="Clinical ASCVD ({{%facts.conditions.ascvd.display}}), age {{%facts.patient.ageYears}}: "
                      "high-intensity statin to lower LDL-C by 50 % or more."),
            rule("lipid.secondary-prevention-over-75", "Statin (clinical ASCVD, older than 75)", ages=(76, None),
                 when=["%facts.conditions.ascvd.exists()", f"{AGE} > 75"], activity="statin",
                 inputs=["conditions.ascvd", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.1, Secondary ASCVD prevention"), STATIN_SAFETY],
                 choice=["older than 75: moderate- or high-intensity statin is reasonable after weighing risk "
                         "reduction, adverse effects, drug interactions, frailty and patient preferences.",
                         *STATIN_CHOICES],
                 **_statin_checks("of suitable intensity"),
                 text="Clinical ASCVD ({{%facts.conditions.ascvd.display}}) at age {{%facts.patient.ageYears}}."),
            rule("lipid.severe-hypercholesterolemia", "High-intensity statin (LDL-C 190 mg/dL or more)",
                 ages=(20, 75),
                 when=[NO_ASCVD, f"{AGE} >= 20 and {AGE} <= 75", "%facts.measures.ldl.recentValue >= 190"],
                 activity="statin-high", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.2, Severe hypercholesterolemia (LDL-C 190 mg/dL or "
                                             "higher)"), STATIN_SAFETY],
                 choice=STATIN_CHOICES, **_statin_checks("high-intensity", raise_lower=True),
                 text="LDL-C {{%facts.measures.ldl.value}} mg/dL ({{%facts.measures.ldl.date}}) is 190 or more, "
                      "age 20 to 75: maximally tolerated (high-intensity) statin without risk calculation."),
            rule("lipid.diabetes", "Moderate-intensity statin (diabetes, 40 to 75)", ages=(40, 75),
                 when=[NO_ASCVD, "%facts.conditions.diabetes.exists()", f"{AGE} >= 40 and {AGE} <= 75",
                       "%facts.measures.ldl.recentValue.empty() or %facts.measures.ldl.recentValue < 190"],
                 activity="statin-moderate", inputs=["conditions.diabetes", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.3, Diabetes mellitus in adults"),
                       ("ADA-2025", "Section 10, Cardiovascular Disease and Risk Management (statin "
                                    "treatment)"), STATIN_SAFETY],
                 **_statin_checks("at least moderate-intensity", raise_lower=True),
                 choice=["with multiple ASCVD risk factors a high-intensity statin is reasonable (2018 §4.3).",
                         *STATIN_CHOICES],
                 text="Diabetes at age {{%facts.patient.ageYears}} (40 to 75): moderate-intensity statin "
                      "regardless of 10-year risk."),
            rule("lipid.diabetes-over-75", "Statin after a risk discussion (diabetes, older than 75)",
                 ages=(76, None),
                 when=[NO_ASCVD, "%facts.conditions.diabetes.exists()", f"{AGE} > 75",
                       "%facts.measures.ldl.recentValue.empty() or %facts.measures.ldl.recentValue < 190"],
                 activity="statin-moderate", inputs=["conditions.diabetes", *LIPID_INPUTS],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.3, Diabetes mellitus in adults (older than 75 years: "
                                             "initiating a statin after a clinician-patient discussion, IIb)"),
                       STATIN_SAFETY], **_statin_checks("of suitable intensity"),
                 choice=["older than 75 with diabetes: 2018 AHA/ACC §4.3 finds it may be reasonable to start a "
                         "statin after a clinician-patient discussion of potential benefits and risks; whether to "
                         "start is that decision.", *STATIN_CHOICES],
                 text="Diabetes at age {{%facts.patient.ageYears}} (older than 75), no clinical ASCVD and no statin: "
                      "a statin may be reasonable after discussing benefits and risks with the patient."),
            rule("lipid.primary-over-75", "Moderate-intensity statin after a risk discussion (older than 75)",
                 ages=(76, None),
                 when=[NO_ASCVD, "%facts.conditions.diabetes.empty()", f"{AGE} > 75",
                       "%facts.measures.ldl.recentValue >= 70 and %facts.measures.ldl.recentValue < 190"],
                 activity="statin-moderate", inputs=LIPID_INPUTS,
                 cite=[OLDER_PRIMARY_CITE, STATIN_SAFETY],
                 **_statin_checks("of suitable intensity"),
                 choice=["older than 75: 2018 AHA/ACC §4.4.4 finds starting a moderate-intensity statin may be "
                         "reasonable, and stopping one may be reasonable when functional decline, multimorbidity, "
                         "frailty or reduced life expectancy limits its benefit; the decision follows a "
                         "clinician-patient risk discussion.", *STATIN_CHOICES],
                 text="Age {{%facts.patient.ageYears}} (older than 75), no clinical ASCVD or diabetes, LDL-C "
                      "{{%facts.measures.ldl.value}} mg/dL ({{%facts.measures.ldl.date}}): a moderate-intensity "
                      "statin may be reasonable after discussing benefits and risks."),
            rule("lipid.primary-over-75-ldl-unknown", "Moderate-intensity statin after a risk discussion (older "
                 "than 75, no LDL-C)", ages=(76, None),
                 when=[NO_ASCVD, "%facts.conditions.diabetes.empty()", f"{AGE} > 75",
                       "%facts.measures.ldl.recentValue.empty()"],
                 activity="statin-moderate", inputs=LIPID_INPUTS,
                 cite=[OLDER_PRIMARY_CITE,
                       ("AHA-ACC-CHOL-2018", "Section 2.1, Measurements of LDL-C and non-HDL-C (adults 20 or older "
                                             "not on lipid-lowering therapy: a lipid profile documents baseline "
                                             "LDL-C, I)"), STATIN_SAFETY],
                 **_statin_checks("of suitable intensity"),
                 choice=["older than 75 with no recent LDL-C: 2018 AHA/ACC §4.4.4 finds a moderate-intensity statin "
                         "may be reasonable for an LDL-C of 70 to 189 mg/dL, and §2.1 recommends a lipid profile to "
                         "document it in adults not on lipid-lowering therapy; whether to start, after the lipid "
                         "profile and a clinician-patient risk discussion, is the clinician's decision (not starting "
                         "may be reasonable when functional decline, multimorbidity, frailty or reduced life "
                         "expectancy limits the benefit).", *STATIN_CHOICES],
                 text="Age {{%facts.patient.ageYears}} (older than 75), no clinical ASCVD or diabetes, and no LDL-C "
                      "in the last 5 years (this pack's look-back)[[ (latest {{%facts.measures.ldl.value}} mg/dL on "
                      "{{%facts.measures.ldl.date}})]][[; 10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} "
                      "% ({{%facts.scores.ascvd10y.basis}})]]: measure a lipid profile; a moderate-intensity statin "
                      "may then be reasonable after discussing benefits and risks."),
            rule("lipid.primary-high-risk", "High-intensity statin (10-year risk 20 % or more)", ages=(40, 75),
                 when=[PRIMARY, f"{RISK} >= 20"], activity="statin-high", inputs=LIPID_INPUTS,
                 cite=[PRIMARY_CITE, ("PCE-2013", "Pooled Cohort Equations"),
                       STATIN_SAFETY],
                 choice=STATIN_CHOICES, **_statin_checks("high-intensity", raise_lower=True),
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                      "({{%facts.scores.ascvd10y.basis}}) is 20 % or more "
                      "with LDL-C {{%facts.measures.ldl.value}} mg/dL: statin to lower LDL-C by 50 % or more."),
            rule("lipid.primary-high-risk-ldl-unknown", "High-intensity statin (10-year risk 20 % or more, no LDL-C)",
                 ages=(40, 75),
                 when=[PRIMARY_GROUP, "%facts.measures.ldl.recentValue.empty()", f"{RISK} >= 20"],
                 activity="statin-high", inputs=LIPID_INPUTS,
                 cite=[PRIMARY_CITE,
                       ("AHA-ACC-CHOL-2018", "Section 4.4.1, Evaluation and risk assessment"), STATIN_SAFETY],
                 choice=["no recent LDL-C on record: the guideline's recommendation is for LDL-C of 70 to 189 mg/dL, "
                         "so a lipid profile confirms the group and gives the baseline for the 50 % reduction; "
                         "whether to start before it is the clinician's decision.", *STATIN_CHOICES],
                 **_statin_checks("high-intensity"),
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                      "({{%facts.scores.ascvd10y.basis}}) is 20 % or more, with no recent LDL-C: statin to lower "
                      "LDL-C by 50 % or more once the lipid profile confirms the group."),
            rule("lipid.primary-intermediate-risk", "Moderate-intensity statin (10-year risk 7.5 to <20 %)",
                 ages=(40, 75),
                 when=[PRIMARY, f"{RISK} >= 7.5 and {RISK} < 20"], activity="statin-moderate",
                 inputs=LIPID_INPUTS,
                 cite=[PRIMARY_CITE,
                       ("USPSTF-STATIN-2022", "Recommendation: 10-year risk 10 % or more (B), 7.5 to <10 % (C)"),
                       ("PCE-2013", "Pooled Cohort Equations"), STATIN_SAFETY],
                 **_statin_checks("at least moderate-intensity"),
                 choice=["intermediate risk: start after a clinician-patient risk discussion; risk-enhancing "
                         "factors favor a statin (2018 §4.4.2). USPSTF 2022: offer at 10 % or more with a CVD risk "
                         "factor; selectively at 7.5 to <10 %.", *STATIN_CHOICES],
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                      "({{%facts.scores.ascvd10y.basis}}), LDL-C "
                      "{{%facts.measures.ldl.value}} mg/dL."),
            rule("lipid.primary-borderline-risk", "Risk discussion about a statin (10-year risk 5 to <7.5 %)",
                 ages=(40, 75),
                 when=[PRIMARY, f"{RISK} >= 5 and {RISK} < 7.5", f"{ON_STATIN}.not()"],
                 activity="statin-discussion", inputs=LIPID_INPUTS, evidence=LIPID_EVIDENCE,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention (borderline risk)"), STATIN_SAFETY],
                 exclusions=(*STATIN_EXCLUSIONS,
                             (f"{PREGNANT} or {BREASTFEEDING}", "pregnancy or breastfeeding recorded: a statin is not "
                              "started now (2018 AHA/ACC §4.5, women; FDA 2021); the discussion can follow")),
                 choice="borderline risk: risk-enhancing factors may justify a moderate-intensity statin.",
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                      "({{%facts.scores.ascvd10y.basis}}) is borderline "
                      "(5 to <7.5 %)."),
            rule("lipid.primary-low-risk", "Heart-healthy lifestyle (10-year risk below 5 %)", ages=(40, 75),
                 when=[PRIMARY, f"{RISK} < 5"], activity="heart-healthy-lifestyle", inputs=LIPID_INPUTS,
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.4.2, Primary prevention (low risk)")],
                 text="10-year ASCVD risk {{%facts.scores.ascvd10y.value :: .1f}} % "
                      "({{%facts.scores.ascvd10y.basis}}) is below 5 %: "
                      "lifestyle to reduce risk factors; no statin proposed."),
            rule("lipid.risk-unknown", "10-year ASCVD risk could not be computed", ages=(40, 75),
                 when=[f"{AGE} >= 40 and {AGE} <= 75", NO_ASCVD, "%facts.conditions.diabetes.empty()",
                       f"{RISK}.empty()",
                       "%facts.measures.ldl.recentValue.empty() or %facts.measures.ldl.recentValue < 190"],
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
                                    "({{%facts.medications.statin.display}}): check for duplicate therapy",
                        "Check for duplicate statin therapy: {{%facts.medications.statin.count()}} active "
                        "prescriptions"),
                 text="More than one active statin."),
            rule("lipid.statin-in-pregnancy", "Statin active in pregnancy", pregnancy="only",
                 when=[PREGNANT, ON_STATIN], inputs=["medications.statin", "conditions.pregnancy"],
                 cite=[("AHA-ACC-CHOL-2018", "Section 4.5, Other populations at risk (women: statins and pregnancy)")],
                 alert=("high", "active {{%facts.medications.statin.display}} during pregnancy: the guideline "
                                "advises stopping a statin as soon as pregnancy is discovered",
                        "Stop the statin: pregnancy ({{%facts.medications.statin.display}} active)"),
                 text="Pregnancy with an active statin."),
            rule("lipid.statin-while-breastfeeding", "Statin active while breastfeeding",
                 when=[BREASTFEEDING, ON_STATIN], inputs=["medications.statin", "conditions.breastfeeding"],
                 cite=[("FDA-STATIN-2021", "Breastfeeding not recommended in patients who require statins")],
                 alert=("moderate", "active {{%facts.medications.statin.display}} while breastfeeding "
                                    "({{%facts.conditions.breastfeeding.display}}): FDA 2021 advises not to breastfeed "
                                    "while taking a statin; many can stop the statin until breastfeeding ends",
                        "Review the statin while breastfeeding: FDA 2021 advises against both"),
                 text="Breastfeeding with an active statin."),
            rule("lipid.goals-of-care", "Review lipid-lowering treatment against the goals of care",
                 when=[HOSPICE, ON_STATIN], activity="goals-of-care-review",
                 inputs=[*HOSPICE_INPUTS, "medications.statin"], cite=[END_OF_LIFE],
                 choice="stopping or continuing the statin is decided with the patient and family.",
                 text=f"Palliative or hospice care recorded ({HOSPICE_SHOWN}) on "
                      "{{%facts.medications.statin.display}}. ADA 2025 §13 (end-of-life care, people with diabetes): "
                      "the intensity of lipid management can be relaxed and withdrawal of lipid-lowering therapy may "
                      "be appropriate."),
        ],
    )


EGFR = "%facts.scores.egfr.value"
# Staging, treatment and referral read only results within the look-back (recentValue); texts show the value.
UACR = "%facts.measures.uacr.recentValue"
CKD_INPUTS = ["scores.egfr", "measures.uacr", "conditions.ckd", *KRT_INPUTS]
CKD_EVIDENCE = tuple(KRT_INPUTS)
# KDIGO 2024 Chapter 1: CKD is a diagnosis on record, or a GFR below 60 or albuminuria (UACR 30 mg/g or more)
# present for more than 3 months (a run of abnormal results spanning more than 90 days).
CKD_PRESENT = "(%facts.conditions.ckd.exists() or %facts.conditions.ckd_by_results.exists())"
FDA_METFORMIN = guideline("FDA-METFORMIN-2016", "FDA Drug Safety Communication: FDA revises warnings regarding use "
                          "of the diabetes medicine metformin in certain patients with reduced kidney function", "2016",
                          "https://www.fda.gov/drugs/drug-safety-and-availability/fda-drug-safety-communication-fda-"
                          "revises-warnings-regarding-use-diabetes-medicine-metformin-certain")
METFORMIN_INPUTS = ["medications.metformin", "scores.egfr"]
KDIGO_AKI = guideline("KDIGO-AKI-2012", "KDIGO Clinical Practice Guideline for Acute Kidney Injury (Kidney Int Suppl "
                      "2012;2(1):1-138)", "2012", "https://kdigo.org/guidelines/acute-kidney-injury/")
# KDIGO 2012 AKI §2.1.1 and §2.5 (Table 11): acute kidney injury or disease shown by the creatinine or eGFR series
# (app.context.diagnoses); the eGFR of a kidney that is not at steady state neither stages nor confirms CKD.
ACUTE = "%facts.conditions.acute_kidney_by_results.exists()"
ACUTE_FIRST = (ACUTE, "{{%facts.conditions.acute_kidney_by_results.kind}} by results "
                      "({{%facts.conditions.acute_kidney_by_results.latest.date}}): suspended while the acute change "
                      "is evaluated; an eGFR that is changing acutely does not stage or confirm chronic kidney disease "
                      "(KDIGO 2012 AKI §2.5)")
EGFR_CONFLICT = "%facts.scores.egfr.conflict.exists()"


def kidney() -> dict[str, Any]:
    """Chronic kidney disease (KDIGO 2024)."""
    return plan_definition(
        "chronic-kidney-disease", "Chronic kidney disease",
        description="Staging by eGFR (G) and albuminuria (A), monitoring, RAS inhibition, SGLT2 inhibitors and "
                    "nephrology referral (KDIGO 2024).",
        guidelines=[KDIGO, ADA, FDA_METFORMIN, KDIGO_AKI], ages=(18, None),
        when=f"%facts.conditions.ckd.exists() or {EGFR} < 60 or {UACR} >= 30 or {ACUTE} or {EGFR_CONFLICT}",
        summary=[(f"{EGFR} >= 90", "G1 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 60 and {EGFR} < 90", "G2 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 45 and {EGFR} < 60", "G3a (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 30 and {EGFR} < 45", "G3b (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} >= 15 and {EGFR} < 30", "G4 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR} < 15", "G5 (eGFR {{%facts.scores.egfr.value}})"),
                 (f"{EGFR}.empty()", "no eGFR"),
                 (f"{UACR} < 30", "A1 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR} >= 30 and {UACR} < 300", "A2 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR} >= 300", "A3 (UACR {{%facts.measures.uacr.value}} mg/g)"),
                 (f"{UACR}.empty()", "albuminuria not assessed (no UACR)"),
                 (ACUTE, "{{%facts.conditions.acute_kidney_by_results.display}}"),
                 (EGFR_CONFLICT, "{{%facts.scores.egfr.conflict.message}}"),
                 ("true", "KDIGO 2024 G and A categories"),
                 (KRT, f"kidney failure treated by dialysis or a kidney transplant recorded ({KRT_SHOWN}): care "
                       "follows the nephrology or transplant team (KDIGO 2024 is not intended for people receiving "
                       "dialysis or with a kidney transplant)")],
        rules=[
            rule("ckd.confirm", "Repeat eGFR and UACR to confirm chronicity",
                 when=[f"{CKD_PRESENT}.not()", f"{EGFR} < 60 or {UACR} >= 30"], activity="ckd-confirm",
                 schedule_from=(("measures.egfr", "measures.creatinine", "measures.uacr"), 3, "mo"),
                 inputs=CKD_INPUTS, evidence=CKD_EVIDENCE, exclusions=(KIDNEY_TEAM, ACUTE_FIRST),
                 cite=[("KDIGO-CKD-2024", "Chapter 1, definition of CKD (abnormality present for more than 3 months)"),
                       KDIGO_SCOPE],
                 text="[[eGFR {{%facts.scores.egfr.value}} mL/min/1.73 m² on {{%facts.scores.egfr.date}} || no eGFR]] "
                      "and [[UACR {{%facts.measures.uacr.recentValue}} mg/g || no recent UACR]], with no CKD "
                      "diagnosis and no abnormal result lasting more than 3 months yet[[ (low eGFR since "
                      "{{%facts.scores.egfr.lowSince}})]][[ (albuminuria since {{%facts.measures.uacr.highSince}})]]: "
                      "KDIGO 2024 defines CKD by an "
                      "abnormality lasting more than 3 months; repeat the tests 3 months after the first abnormal "
                      "one."),
            rule("ckd.monitoring", "eGFR and albuminuria at least every year",
                 when=[CKD_PRESENT], activity="uacr-egfr-test", repeat=(1, 1, "a"), schedule_from=KIDNEY_TESTS_SCHEDULE,
                 inputs=[*CKD_INPUTS, *KIDNEY_TESTS_DONE, *HOSPICE_INPUTS],
                 evidence=(*CKD_EVIDENCE, *KIDNEY_TESTS_DONE, *HOSPICE_INPUTS),
                 cite=[("KDIGO-CKD-2024", "Chapter 2, Practice Points 2.1.1 and 2.1.2 (monitoring)"), KDIGO_SCOPE],
                 exclusions=(KIDNEY_TEAM, ACUTE_FIRST),
                 choice=["more often when the risk of progression is higher and the result changes treatment "
                         "(Practice Point 2.1.2).", IN_HOSPICE_MONITORING],
                 text="CKD ([[{{%facts.conditions.ckd.display}} || shown by results]][[; eGFR below 60 since "
                      "{{%facts.scores.egfr.lowSince}}]][[; UACR 30 mg/g or more since "
                      "{{%facts.measures.uacr.highSince}}]]): assess albuminuria and GFR at least annually. "
                      f"{KIDNEY_TESTS_SHOWN}"),
            rule("ckd.ras-inhibitor", "ACE inhibitor or ARB (albuminuria)",
                 when=[CKD_PRESENT, f"{UACR} >= 30", f"{EGFR} >= 15"], activity="ras-inhibitor",
                 inputs=[
                     *CKD_INPUTS, "conditions.diabetes", "medications.ace_inhibitor", "medications.arb",
                     "medications.ras_inhibitor", "allergies.ace_inhibitor", "conditions.angioedema", *HOSPICE_INPUTS],
                 evidence=CKD_EVIDENCE + tuple(HOSPICE_INPUTS),
                 cite=[("KDIGO-CKD-2024", "Chapter 3, Section 3.6 (renin-angiotensin system inhibitors)"), KDIGO_SCOPE],
                 exclusions=(("%facts.medications.ace_inhibitor.exists() or %facts.medications.arb.exists() or "
                              "%facts.medications.ras_inhibitor.exists()",
                              "already on a RAS inhibitor: {{%facts.medications.ace_inhibitor.display | "
                              "%facts.medications.arb.display | %facts.medications.ras_inhibitor.display}}"),
                             KIDNEY_TEAM, ACUTE_FIRST, NO_INTENSIFICATION),
                 contraindications=(
                     (PREGNANT, "pregnancy: ACE inhibitors and ARBs are contraindicated", "high", None,
                      "Do not start an ACE inhibitor or ARB in pregnancy"),
                     ("%facts.conditions.angioedema.exists()", "history of angioedema "
                      "({{%facts.conditions.angioedema.display}}): ACE inhibitor contraindicated; any RAS "
                      "inhibitor only on the clinician's judgement", "high", None,
                      "Do not start an ACE inhibitor: history of angioedema"),
                     ("%facts.allergies.ace_inhibitor.exists()", "ACE inhibitor allergy or intolerance: "
                      "{{%facts.allergies.ace_inhibitor.display}}", "high", None,
                      "Do not start an ACE inhibitor: allergy or intolerance recorded")),
                 choice="moderately increased albuminuria (A2) without diabetes is a suggestion (2C) rather than "
                        "a recommendation; titrate to the highest approved dose tolerated.",
                 text="UACR {{%facts.measures.uacr.value}} mg/g (30 or more) with eGFR "
                      "{{%facts.scores.egfr.value}} (15 or more): RAS inhibitor."),
            rule("ckd.ras-monitoring", "Check BP, creatinine and potassium (RAS inhibitor prescribed recently)",
                 when=["%facts.prescribed.ras_inhibitor.daysAgo <= 28",
                       "%facts.measures.creatinine.empty() or "
                       "%facts.measures.creatinine.daysAgo >= %facts.prescribed.ras_inhibitor.daysAgo"],
                 activity="ras-monitoring", due_in=(2, "wk"),
                 inputs=["medications.ras_inhibitor", "measures.creatinine", "scores.egfr"],
                 evidence=("measures.creatinine",),
                 cite=[("KDIGO-CKD-2024", "Chapter 3, Section 3.6 (practice points: monitor blood pressure, serum "
                                          "creatinine and serum potassium within 2-4 weeks of starting a RAS "
                                          "inhibitor or increasing its dose)")],
                 choice="the record cannot tell a start or dose increase from a renewal: if "
                        "{{%facts.prescribed.ras_inhibitor.display}} is a renewal at an unchanged dose, this "
                        "check is not needed.",
                 text="{{%facts.prescribed.ras_inhibitor.display}} prescribed on "
                      "{{%facts.prescribed.ras_inhibitor.date}} and no creatinine since: KDIGO 2024 monitors blood "
                      "pressure, creatinine and potassium 2 to 4 weeks after a RAS inhibitor is started or its dose "
                      "increased."),
            rule("ckd.sglt2-inhibitor", "SGLT2 inhibitor (CKD)",
                 when=[CKD_PRESENT, f"{EGFR} >= 20",
                       f"(%facts.conditions.diabetes.exists() and %facts.conditions.type1_diabetes.empty()) or "
                       f"{UACR} >= 200 or %facts.conditions.heart_failure.exists()"],
                 activity="sglt2-inhibitor", inputs=[*CKD_INPUTS, "conditions.diabetes", "conditions.type1_diabetes",
                                                     "conditions.heart_failure", "medications.sglt2_inhibitor",
                                                     *HOSPICE_INPUTS],
                 evidence=CKD_EVIDENCE + tuple(HOSPICE_INPUTS),
                 cite=[("KDIGO-CKD-2024", "Chapter 3, Section 3.7 (SGLT2 inhibitors)"), KDIGO_SCOPE],
                 exclusions=(("%facts.medications.sglt2_inhibitor.exists()", "already on "
                              "{{%facts.medications.sglt2_inhibitor.display}}"), KIDNEY_TEAM, ACUTE_FIRST,
                             NO_INTENSIFICATION),
                 contraindications=((PREGNANT, "pregnancy: SGLT2 inhibitor not proposed", "high", None,
                                     "Do not start an SGLT2 inhibitor in pregnancy"),),
                 text="CKD with eGFR {{%facts.scores.egfr.value}} mL/min/1.73 m² (20 or more). KDIGO 2024 §3.7 "
                      "recommends an SGLT2 inhibitor with type 2 diabetes, with UACR of 200 mg/g or more, or with "
                      "heart failure. Recorded: diabetes: {{%facts.conditions.diabetes.display ?? none recorded}}; "
                      "UACR: "
                      "[[{{%facts.measures.uacr.recentValue}} mg/g || none recent]]; heart failure: "
                      "{{%facts.conditions.heart_failure.display ?? none recorded}}."),
            rule("ckd.metformin-contraindicated", "Stop metformin (eGFR below 30)",
                 when=["%facts.medications.metformin.exists()", f"{EGFR} < 30"], activity="metformin-review",
                 inputs=METFORMIN_INPUTS,
                 cite=[("FDA-METFORMIN-2016", "Labeling: contraindicated in patients with an eGFR below 30 "
                                              "mL/min/1.73 m²"),
                       ("ADA-2025", "Section 11, Chronic Kidney Disease and Risk Management")],
                 alert=("high", "{{%facts.medications.metformin.display}} with eGFR {{%facts.scores.egfr.value}} "
                                "({{%facts.scores.egfr.date}}): metformin is contraindicated below 30 mL/min/1.73 m²",
                        "Stop metformin: eGFR {{%facts.scores.egfr.value}} is below 30"),
                 text="eGFR {{%facts.scores.egfr.value}} mL/min/1.73 m² ({{%facts.scores.egfr.date}}) is below 30 "
                      "on {{%facts.medications.metformin.display}}: the labelling contraindicates metformin at this "
                      "kidney function."),
            rule("ckd.metformin-review", "Review metformin (eGFR 30 to 44)",
                 when=["%facts.medications.metformin.exists()", f"{EGFR} >= 30 and {EGFR} < 45"],
                 activity="metformin-review", inputs=METFORMIN_INPUTS,
                 cite=[("FDA-METFORMIN-2016", "Labeling: starting metformin with an eGFR of 30 to 45 is not "
                                              "recommended; when the eGFR falls below 45, assess the benefits and "
                                              "risks of continuing"),
                       ("ADA-2025", "Section 11, Chronic Kidney Disease and Risk Management")],
                 alert=("moderate", "{{%facts.medications.metformin.display}} with eGFR "
                                    "{{%facts.scores.egfr.value}} ({{%facts.scores.egfr.date}}), between 30 and 45: "
                                    "assess the benefits and risks of continuing",
                        "Review metformin: eGFR {{%facts.scores.egfr.value}} is between 30 and 45"),
                 text="eGFR {{%facts.scores.egfr.value}} mL/min/1.73 m² ({{%facts.scores.egfr.date}}) is between 30 "
                      "and 45 on {{%facts.medications.metformin.display}}: the labelling asks to assess the "
                      "benefits and risks of continuing, and not to start metformin at this level."),
            rule("ckd.nephrology-referral", "Referral to nephrology",
                 when=[CKD_PRESENT, f"{EGFR} < 30 or {UACR} >= 300"], activity="nephrology-referral",
                 inputs=CKD_INPUTS, evidence=CKD_EVIDENCE, exclusions=(KIDNEY_TEAM,),
                 cite=[("KDIGO-CKD-2024", "Chapter 5, Section 5.1, referral to specialist kidney care services"),
                       KDIGO_SCOPE],
                 text="[[eGFR {{%facts.scores.egfr.value}} mL/min/1.73 m² || no eGFR]], [[UACR "
                      "{{%facts.measures.uacr.recentValue}} mg/g || no recent UACR]]: KDIGO 2024 refers to "
                      "specialist kidney care at an eGFR below 30 or a UACR of 300 mg/g or more. (The 5-year "
                      "kidney failure risk, Practice Point 2.2.1, is not computed by carepath.)"),
            rule("ckd.acute-kidney", "Acute kidney injury or disease by results: evaluate now",
                 when=[ACUTE], activity="acute-kidney-evaluation",
                 inputs=["measures.creatinine", "scores.egfr", "conditions.ckd"],
                 cite=[("KDIGO-AKI-2012", "Section 2.1.1, definition of AKI (serum creatinine up 0.3 mg/dL or more "
                                          "within 48 hours, or 1.5 times baseline within 7 days)"),
                       ("KDIGO-AKI-2012", "Section 2.5, Table 11, acute kidney diseases and disorders (AKD: creatinine "
                                          "more than 50 % or GFR down 35 % or more, for less than 3 months)"),
                       ("KDIGO-AKI-2012", "Recommendation 2.3.1, evaluate AKI promptly to determine the cause")],
                 alert=("high", "{{%facts.conditions.acute_kidney_by_results.display}}: evaluate now",
                        "Evaluate now: {{iif(%facts.conditions.acute_kidney_by_results.kind = 'AKI', 'acute kidney "
                        "injury', 'acute kidney disease')}} by results"),
                 text="{{%facts.conditions.acute_kidney_by_results.display}}. KDIGO 2012 asks for prompt evaluation of "
                      "the cause, with special attention to reversible causes: repeat the creatinine now, assess "
                      "volume status and obstruction, and review nephrotoxic and renally cleared medicines. The "
                      "chronic kidney disease rules this contradicts (confirmation in 3 months, yearly monitoring, "
                      "starting a RAS inhibitor or an SGLT2 inhibitor) are suspended until it is explained."),
            rule("ckd.egfr-conflict", "Repeat creatinine and eGFR (same-day results disagree)",
                 when=[EGFR_CONFLICT], activity="egfr-repeat", inputs=["scores.egfr", "measures.creatinine"],
                 cite=[("KDIGO-CKD-2024", "Chapter 1, GFR categories G1 to G5 (Figure: prognosis of CKD by GFR and "
                                          "albuminuria categories)")],
                 alert=("moderate", "{{%facts.scores.egfr.conflict.message}}: repeat the test",
                        "Repeat creatinine and eGFR: reported {{%facts.scores.egfr.value}} and computed "
                        "{{%facts.scores.egfr.conflict.value}} disagree"),
                 text="{{%facts.scores.egfr.conflict.message}}. carepath's check (no guideline defines how large a "
                      "difference matters): CKD-EPI 2021 recomputed from the same day's creatinine, compared with the "
                      "reported eGFR by KDIGO 2024 GFR category; a different category is a disagreement. Repeat "
                      "creatinine and eGFR before relying on either."),
        ],
    )
