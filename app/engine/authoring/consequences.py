"""What evidence in the record changes across the whole pack, written once and used by every area.

Hospice or palliative care, kidney failure treated by dialysis or a kidney transplant, frailty or advanced
illness in older adults, and reasons not to start a statin (docs/cases.md, "What the evidence changes"). Each
condition is total: true or false, never empty, so that ``(...).not()`` is safe in goal conditions. The texts
name the guideline, year and section that make the difference; the rules that use them cite it.
"""

from __future__ import annotations

from app.engine.authoring import guideline

AGE = "%facts.patient.ageYears"

# -- hospice or palliative care ----------------------------------------------------------------------------
HOSPICE = ("(%facts.conditions.palliative_care.exists() or "
           "true in %facts.procedures.palliative_or_hospice_care.withinLookback)")
HOSPICE_SHOWN = ("{{%facts.conditions.palliative_care.display | "
                 "%facts.procedures.palliative_or_hospice_care.display}}")
HOSPICE_INPUTS = ["conditions.palliative_care", "procedures.palliative_or_hospice_care"]
#: ADA Standards of Care 2025, Section 13 (Older Adults), end-of-life care: comfort, prevention of distressing
#: symptoms and preservation of quality of life and dignity are the primary goals; strict glucose and blood
#: pressure control are not necessary, regimens can be simplified, the intensity of lipid management can be
#: relaxed and withdrawal of lipid-lowering therapy may be appropriate.
END_OF_LIFE = ("ADA-2025", "Section 13, Older Adults (end-of-life care)")
COMFORT = (f"palliative or hospice care recorded ({HOSPICE_SHOWN}): ADA 2025 §13 (end-of-life care) puts comfort, "
           "prevention of distressing symptoms and quality of life first")
#: Treatment started or intensified for long-term risk reduction is not proposed in palliative or hospice care.
IN_HOSPICE_MONITORING = (f"{COMFORT}: whether this monitoring still serves the patient's goals is the clinician's "
                         "decision with the patient and family.", HOSPICE)
HBA1C_IN_HOSPICE = (f"{COMFORT}; Table 13.1 (very complex/poor health) advises against relying on HbA1c: whether to "
                    "keep testing is the clinician's decision with the patient and family.", HOSPICE)
NO_INTENSIFICATION = (HOSPICE, f"{COMFORT}; strict glucose and blood pressure control are not necessary and "
                               "regimens can be simplified: treatment is not started or intensified (see the "
                               "goals-of-care review)")

# -- kidney failure treated by dialysis, or a kidney transplant ---------------------------------------------
TRANSPLANT = "(%facts.conditions.kidney_transplant.exists() or %facts.procedures.kidney_transplant.exists())"
#: Dialysis in the look-back, or end-stage renal disease without a kidney transplant (ESRD is kidney failure
#: treated by dialysis or a transplant).
DIALYSIS = (f"(true in %facts.procedures.dialysis.withinLookback or "
            f"(%facts.conditions.esrd.exists() and {TRANSPLANT}.not()))")
KRT = f"({DIALYSIS} or {TRANSPLANT})"
KRT_SHOWN = ("{{%facts.conditions.esrd.display | %facts.procedures.dialysis.display | "
             "%facts.conditions.kidney_transplant.display | %facts.procedures.kidney_transplant.display}}")
KRT_INPUTS = ["conditions.esrd", "procedures.dialysis", "conditions.kidney_transplant",
              "procedures.kidney_transplant"]
KDIGO_SCOPE = ("KDIGO-CKD-2024", "Introduction, scope: not intended for people receiving dialysis or with a "
                                 "kidney transplant")
#: The CKD guideline's monitoring, referral and kidney-protective treatment are not for kidney replacement therapy.
KIDNEY_TEAM = (KRT, f"kidney failure treated by dialysis or a kidney transplant recorded ({KRT_SHOWN}): kidney care "
                    "follows the nephrology or transplant team; KDIGO 2024 (scope) is not intended for people "
                    "receiving dialysis or with a kidney transplant")
KDOQI_COMMENTARY = guideline("KDOQI-HTN-2019", "KDOQI US Commentary on the 2017 ACC/AHA Hypertension Guideline "
                             "(Am J Kidney Dis 2019;73(4):437-458)", "2019", "https://doi.org/10.1053/j.ajkd.2019.01.007")
KDOQI = ("KDOQI-HTN-2019", "Abstract: blood pressure targets and management strategies for patients receiving "
                           "dialysis are not discussed in the 2017 ACC/AHA guideline")
#: The 2017 ACC/AHA staging, goal and treatment steps do not cover dialysis (KDOQI commentary 2019).
DIALYSIS_BP = (DIALYSIS, f"end-stage renal disease or dialysis recorded ({KRT_SHOWN}): blood pressure targets and "
                         "treatment in dialysis are not discussed by the 2017 ACC/AHA guideline (KDOQI commentary "
                         "2019); blood pressure is managed with the nephrology and dialysis team")
TRANSPLANT_BP = (f"kidney transplant recipient ({KRT_SHOWN}): blood pressure treatment is agreed with the transplant "
                 "team.", f"{TRANSPLANT} and {DIALYSIS}.not()")

# -- frailty or advanced illness in older adults ------------------------------------------------------------
#: Frailty (diagnosis, symptom, device or recent finding), advanced illness, or a dementia medicine (which the
#: eCQM exclusions for older adults read as evidence of advanced illness).
FRAIL = ("(%facts.conditions.frailty.exists() or %facts.conditions.advanced_illness.exists() or "
         "true in %facts.procedures.frailty_finding.withinLookback or "
         "%facts.medications.dementia_medication.exists())")
FRAILTY_SHOWN = ("{{%facts.conditions.frailty.display | %facts.conditions.advanced_illness.display | "
                 "%facts.procedures.frailty_finding.display | %facts.medications.dementia_medication.display}}")
FRAILTY_INPUTS = ["conditions.frailty", "conditions.advanced_illness", "procedures.frailty_finding",
                  "medications.dementia_medication"]
#: Older adults as ADA 2025 §13 and the 2017 ACC/AHA guideline (§10.3.1) define them: 65 or older.
OLDER_FRAIL = f"({AGE} >= 65 and {FRAIL})"
OLDER_BP = ("ACC-AHA-HTN-2017", "Section 10.3.1, Older persons (high burden of comorbidity and limited life "
                                "expectancy)")
BP_JUDGEMENT = (f"frailty or advanced illness recorded at age {{{{{AGE}}}}} ({FRAILTY_SHOWN}): 2017 ACC/AHA §10.3.1: "
                "for adults 65 or older with a high burden of comorbidity and limited life expectancy, clinical "
                "judgment, patient preference and a team-based assessment of risk and benefit decide the intensity "
                "of BP lowering and the choice of drugs.", OLDER_FRAIL)
#: Living in a nursing home: the latest housing status answer is SNOMED CT 160734000 "Lives in a nursing home", the
#: direct reference code of the 2025 eCQM library AdvancedIllnessandFrailty (measures.housing_status).
LONG_TERM_CARE = ("(%facts.measures.housing_status.valueCode.code = '160734000' and "
                  "%facts.measures.housing_status.valueCode.system = 'http://snomed.info/sct')")
LONG_TERM_CARE_SHOWN = ("{{%facts.measures.housing_status.valueCode.display}}, housing status of "
                        "{{%facts.measures.housing_status.date}}")
LONG_TERM_CARE_INPUTS = ["measures.housing_status"]
OLDER_IN_CARE = f"({AGE} >= 65 and {LONG_TERM_CARE})"
#: 2017 ACC/AHA §10.3.1 recommends the systolic goal below 130 mmHg for noninstitutionalized, ambulatory,
#: community-dwelling adults 65 or older: an older adult living in a nursing home is outside that recommendation.
BP_IN_CARE = (f"{LONG_TERM_CARE_SHOWN}, at age {{{{{AGE}}}}}: 2017 ACC/AHA §10.3.1 recommends the systolic goal "
              "below 130 mmHg for noninstitutionalized, ambulatory, community-dwelling adults 65 or older; for an "
              "older adult in long-term care, the intensity of BP lowering and the choice of drugs are the "
              "clinician's judgment with the patient's preferences and the care team.", OLDER_IN_CARE)
#: The older-adult notes of every BP rule: frailty or advanced illness, and residence in long-term care.
BP_OLDER = [BP_JUDGEMENT, BP_IN_CARE]
TABLE_13_1 = ("ADA-2025", "Section 13, Older Adults, Table 13.1 (goals by health status)")
DIABETES_BP_OLDER = ("with diabetes, ADA 2025 §13 Table 13.1 gives a blood pressure goal below 130/80 mmHg for "
                     "complex/intermediate health and below 140/90 mmHg for very complex/poor health (end-stage "
                     "chronic illness, moderate-to-severe cognitive impairment, two or more ADL impairments or "
                     "long-term care).", f"({OLDER_FRAIL} or {OLDER_IN_CARE}) and %facts.conditions.diabetes.exists()")
HBA1C_OLDER = (f"frailty or advanced illness recorded ({FRAILTY_SHOWN}) at 65 or older: ADA 2025 §13 Table 13.1 "
               "gives an HbA1c goal below 8.0 % for complex/intermediate health; for very complex/poor health "
               "(end-stage chronic illness, moderate-to-severe cognitive impairment, two or more ADL impairments or "
               "long-term care) it advises against relying on HbA1c and bases glucose decisions on avoiding "
               "hypoglycaemia and symptomatic hyperglycaemia.", OLDER_FRAIL)

# -- reasons not to start a statin (2018 AHA/ACC cholesterol guideline) --------------------------------------
STATIN_SAFETY = ("AHA-ACC-CHOL-2018", "Section 5, Statin safety and statin-associated side effects")
FDA_STATIN = guideline("FDA-STATIN-2021", "FDA Drug Safety Communication: FDA requests removal of strongest "
                       "warning against using cholesterol-lowering statins during pregnancy; still advises most "
                       "pregnant patients should stop taking statins; breastfeeding not recommended in patients who "
                       "require statins",
                       "2021", "https://www.fda.gov/drugs/drug-safety-and-availability/fda-requests-removal-strongest-"
                       "warning-against-using-cholesterol-lowering-statins-during-pregnancy")
STATIN_INTOLERANCE = "(%facts.conditions.statin_muscle_symptoms.exists() or %facts.conditions.rhabdomyolysis.exists())"
#: Muscle symptoms or rhabdomyolysis recorded as current (active, recurrence or relapse, not ended): no statin is
#: started before they are assessed. A past episode (resolved, inactive, or ended) leaves the start to the clinician
#: after that assessment (2018 AHA/ACC §5, recommendations 2 to 4).
MUSCLE_NOW = ("((%facts.conditions.statin_muscle_symptoms.exists() and "
              "%facts.conditions.statin_muscle_symptoms.status = 'active') or "
              "(%facts.conditions.rhabdomyolysis.exists() and %facts.conditions.rhabdomyolysis.status = 'active'))")
MUSCLE_PAST = f"{STATIN_INTOLERANCE} and {MUSCLE_NOW}.not()"
BREASTFEEDING = "%facts.conditions.breastfeeding.exists()"
STATIN_REASON_INPUTS = ["conditions.statin_muscle_symptoms", "conditions.rhabdomyolysis", "conditions.liver_disease",
                        "conditions.breastfeeding", "not_done.statin", "not_done.statin_medical_reason",
                        "not_done.statin_declined", *HOSPICE_INPUTS, *KRT_INPUTS]
