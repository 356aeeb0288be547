"""The pack's Library: what to fetch (type + value sets) and which fact key each match feeds (docs/facts.md).

Every concept is a FHIR ValueSet named by canonical ``url|version`` in ``dataRequirement.codeFilter.valueSet``:
published VSAC value sets (2025 eCQM release, 2021 for those it no longer carries) wherever one fits, chosen
by OID where titles repeat (the measure the value set serves is named beside it), and pack-defined ones only
where none fits (:mod:`app.engine.authoring.valuesets` says the three kinds and why).
"""

from __future__ import annotations

from typing import Any

from app.context.requirements import DEFAULT_PATHS
from app.engine.authoring import BASE, UCUM, VERSION, ext
from app.engine.authoring.valuesets import (
    ICD10CM,
    LOINC,
    NCQA,
    RXNORM,
    SNOMED,
    by_moiety,
    derived,
    own,
    published,
    supplement,
    vsac,
)
from app.terminology import rxnorm
from app.terminology.releases import with_compose

ENCOUNTER_DISPOSITION = "hospitalization.dischargeDisposition"
GENE = "http://www.genenames.org/geneId"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _vital(name: str, title: str, codes: list[tuple[str, str]]) -> dict[str, Any]:
    return own(name, title, "The LOINC code the FHIR R4 vital-signs profile (Observation vital signs, "
                            "hl7.org/fhir/R4/observation-vitalsigns.html) requires; no 2021 eCQM value set holds it.",
               [(LOINC, code, display) for code, display in codes])


def _ingredient(name: str, title: str, rxcui: str, ingredient: str) -> dict[str, Any]:
    return own(name, title, f"The RxNorm ingredient {ingredient} (RxCUI {rxcui}) a rule names: no 2021 eCQM value "
                            "set is limited to it. Products are recognised by ingredient (match-ingredient).",
               [(RXNORM, rxcui, ingredient)])


def _stem(suffix: str) -> Any:
    return lambda concept: any(phrase.split()[0].endswith(suffix)
                               for phrase in rxnorm.ingredients(concept.get("display")))


def _ckd(concept: dict[str, Any]) -> bool:
    display = (concept.get("display") or "").lower()
    return (concept["system"].endswith("icd-10-cm") and concept["code"].startswith("N18")) or (
        concept["system"] == SNOMED and ("chronic kidney disease" in display or "end stage renal" in display
                                         or "end-stage renal" in display or "chronic renal" in display))


VALUE_SETS: dict[str, Any] = {}


def _register(*resources: dict[str, Any] | str) -> list[dict[str, Any]]:
    """The ValueSet resources for canonicals (published) or pack-defined resources; each kept for the pack."""
    found = []
    for item in resources:
        resource = with_compose(published(item) if isinstance(item, str) else item)
        VALUE_SETS[resource["url"]] = resource
        found.append(resource)
    return found


ACE_INGREDIENTS = derived("ace-inhibitor-ingredients", "ACE inhibitor ingredients",
                          vsac("2.16.840.1.113883.3.526.3.1489"),
                          "the ingredients whose WHO INN stem is -pril (angiotensin-converting enzyme inhibitors; WHO, "
                          "The use of stems in the selection of INN for pharmaceutical substances, 2018)",
                          _stem("pril"))
ARB_INGREDIENTS = derived("arb-ingredients", "Angiotensin II receptor blocker ingredients",
                          vsac("2.16.840.1.113883.3.526.3.1489"),
                          "the ingredients whose WHO INN stem is -sartan (angiotensin II receptor antagonists; WHO, "
                          "The use of stems in the selection of INN for pharmaceutical substances, 2018)",
                          _stem("sartan"))
HYPOGLYCEMICS = vsac("2.16.840.1.113762.1.4.1179.3")
# End of life, as the 2025 eCQM libraries Hospice (7.0.000) and PalliativeCare (2.0.000) name it. Titles repeat:
# "Hospice Diagnosis" 1165 is the OID Hospice.cql names (1166 holds the same three SNOMED CT codes); "Palliative
# Care Diagnosis" 1167 is the one PalliativeCare.cql names (1168 and 1169 are its SNOMED CT and ICD-10-CM halves);
# "Hospice Encounter" 1003 is the one Hospice.cql names (1001 and 1002 are subsets of it); "Hospice Care
# Ambulatory" 526.3.1584 is the one Hospice.cql names; 1108.15 (2025 version) holds three of its SNOMED CT codes,
# 170935008 "Full care by hospice" among them: both are read, so a pack naming either finds the same codes.
HOSPICE_DIAGNOSIS = vsac("2.16.840.1.113883.3.464.1003.1165")
PALLIATIVE_DIAGNOSIS = vsac("2.16.840.1.113883.3.464.1003.1167")
HOSPICE_ENCOUNTER = vsac("2.16.840.1.113883.3.464.1003.1003")
HOSPICE_AMBULATORY = [vsac("2.16.840.1.113883.3.526.3.1584"), vsac("2.16.840.1.113762.1.4.1108.15")]
HOSPICE_ASSESSMENT = own("hospice-assessment", "Hospice care [Minimum Data Set]", "The LOINC assessment item the 2025 "
                         "eCQM library Hospice (7.0.000) names as a direct reference code: answered Yes, it is hospice "
                         "care. No value set holds it.", [(LOINC, "45755-6", "Hospice care [Minimum Data Set]")])
YES = own("yes-answer", "Yes", "The answer Yes: SNOMED CT 373066001, the direct reference code the 2025 eCQM library "
          "Hospice (7.0.000) compares the Minimum Data Set item with, and LOINC's answer code LA33-6 (Yes) that LOINC "
          "answer lists use. No value set holds them.",
          [(SNOMED, "373066001", "Yes (qualifier value)"), (LOINC, "LA33-6", "Yes")])
PALLIATIVE_ASSESSMENT = own("palliative-assessment", "FACIT-Pal palliative care questionnaire", "The LOINC "
                            "questionnaire the 2025 eCQM library PalliativeCare (2.0.000) names as a direct reference "
                            "code: a completed one is palliative care, whatever its score. No value set holds it.",
                            [(LOINC, "71007-9", "Functional Assessment of Chronic Illness Therapy - Palliative Care "
                                               "Questionnaire (FACIT-Pal)")])
# Frailty and advanced illness: the 2021 sets the 2025 AdvancedIllnessandFrailty library still names, and the 2025
# sets that split them by code system (Frailty Diagnosis 113.11.1308 ICD-10-CM, 1309 SNOMED CT; Frailty Symptom
# 113.11.1310 ICD-10-CM, 1311 SNOMED CT; Advanced Illness 110.11.1150 ICD-10-CM, 1151 SNOMED CT; Frailty Device
# SNOMED 118.11.1220).
FRAILTY_DEVICE = [vsac("2.16.840.1.113883.3.464.1003.118.12.1300"), vsac("2.16.840.1.113883.3.464.1003.118.11.1220")]
FRAILTY_SYMPTOM = [vsac("2.16.840.1.113883.3.464.1003.113.12.1075"), vsac("2.16.840.1.113883.3.464.1003.113.11.1310"),
                   vsac("2.16.840.1.113883.3.464.1003.113.11.1311")]
EQUIPMENT_USED = own("medical-equipment-used", "Medical equipment used", "The LOINC assessment item the 2025 eCQM "
                     "library AdvancedIllnessandFrailty (1.23.000) names as a direct reference code: answered with a "
                     "Frailty Device, it is a criterion of frailty. No value set holds it.",
                     [(LOINC, "98181-1", "Medical equipment used")])
# Kidney failure: the value sets the 2025 CMS165 library names.
DIALYSIS_SERVICES = vsac("2.16.840.1.113883.3.464.1003.109.12.1013")
DEPRESSION_ASSESSMENT = own(
    "depression-screening-assessment", "Depression screening assessment", "The LOINC adult and adolescent depression "
    "screening assessments the depression screening measure CMS2 reads as direct reference codes; no published value "
    "set holds them.", [(LOINC, "73832-8", "Adult depression screening assessment"),
                        (LOINC, "73831-0", "Adolescent depression screening assessment")])
# Kidney tests (ADA 2025 §11, KDIGO 2024): eGFR and the urine albumin-to-creatinine ratio, read as values (measures)
# and as tests resulted (events).
EGFR_TESTS = own(
    "egfr", "Estimated glomerular filtration rate", "LOINC eGFR results (MDRD, CKD-EPI with and without race, "
    "CKD-EPI 2021); no 2021 eCQM value set holds eGFR.",
    [(LOINC, "33914-3", "GFR/BSA.pred [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)"),
     (LOINC, "48642-3", "GFR/BSA.pred among non-blacks by Creatinine-based formula (MDRD)"),
     (LOINC, "48643-1", "GFR/BSA.pred among blacks by Creatinine-based formula (MDRD)"),
     (LOINC, "62238-1", "GFR/BSA.pred [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula "
                        "(CKD-EPI)"),
     (LOINC, "88293-6", "GFR/BSA.pred among blacks by Creatinine-based formula (CKD-EPI)"),
     (LOINC, "88294-4", "GFR/BSA.pred among non-blacks by Creatinine-based formula (CKD-EPI)"),
     (LOINC, "98979-8", "GFR/BSA.pred by Creatinine-based formula (CKD-EPI 2021)")])
UACR_TESTS = own(
    "uacr", "Urine albumin-to-creatinine ratio", "The quantitative albumin/creatinine ratio tests of the published "
    "'Urine Protein Tests' (2.16.840.1.113883.3.464.1003.109.12.1024): mass ratios and ratios, of a spot, a 12-hour "
    "or a 24-hour urine, by any detection limit (KDIGO 2024 grades albuminuria by this ratio, in mg/g or mg/mmol). "
    "Left out: its test-strip and presence results (semi-quantitative) and its protein, albumin-only and "
    "electrophoresis tests, whose values are not a UACR.",
    [(LOINC, "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
     (LOINC, "14959-1", "Microalbumin/Creatinine [Mass Ratio] in Urine"),
     (LOINC, "13705-9", "Albumin/Creatinine [Mass Ratio] in 24 hour Urine"),
     (LOINC, "14958-3", "Microalbumin/Creatinine [Mass Ratio] in 24 hour Urine"),
     (LOINC, "44292-1", "Microalbumin/Creatinine [Mass Ratio] in 12 hour Urine"),
     (LOINC, "32294-1", "Albumin/Creatinine [Ratio] in Urine"),
     (LOINC, "30000-4", "Microalbumin/Creatinine [Ratio] in Urine"),
     (LOINC, "59159-4", "Microalbumin/Creatinine [Ratio] in 24 hour Urine"),
     (LOINC, "76401-9", "Albumin/Creatinine [Ratio] in 24 hour Urine"),
     (LOINC, "77253-3", "Microalbumin/Creatinine [Ratio] in Urine by Detection limit <= 1.0 mg/L"),
     (LOINC, "77254-1", "Microalbumin/Creatinine [Ratio] in 24 hour Urine by Detection limit <= 1.0 mg/L"),
     (LOINC, "89998-9", "Albumin/Creatinine [Ratio] in Urine by Detection limit <= 3.0 mg/L")],
    sources=("http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.109.12.1024",))
# Follow-up of a high BMI (CMS69 2025: the grouper 600.1.1525 and the referrals 600.1.1527): an order not to do it
# with its reason feeds not_done.weight_intervention.
WEIGHT_FOLLOW_UP = [vsac("2.16.840.1.113883.3.600.1.1525"), vsac("2.16.840.1.113883.3.600.1.1527")]
UNDERWEIGHT_FOLLOW_UP = [vsac("2.16.840.1.113883.3.600.1.1551"), vsac("2.16.840.1.113883.3.600.1.1527")]
UNDERWEIGHT_MEDICINES = [vsac("2.16.840.1.113883.3.600.1.1499")]
PATIENT_REASONS = [vsac("2.16.840.1.113883.3.526.2.311"), vsac("2.16.840.1.113883.3.600.791")]
MEDICAL_REASONS = [vsac("2.16.840.1.113883.3.526.2.313"), vsac("2.16.840.1.113883.3.526.3.1007")]
# Statins, by intensity (the 2025 CMS347 library) and the grouper: what an order not to prescribe one names.
STATINS = [vsac("2.16.840.1.113762.1.4.1110.19"), vsac("2.16.840.1.113883.3.526.3.1572"),
           vsac("2.16.840.1.113883.3.526.3.1575"), vsac("2.16.840.1.113883.3.526.3.1574")]
# Laterality: the codes CMS125 (2025) compares a unilateral mastectomy's bodySite with, and the body structures
# of each breast that EHRs also record there.
LEFT_BREAST = own("left-side", "Left (breast)", "The SNOMED CT qualifier Left (7771000, the direct reference code of "
                  "CMS125 and the published value set 'Left' 2.16.840.1.113883.3.464.1003.122.12.1036) and the body "
                  "structure Left breast (80248007) that a bodySite may hold instead.",
                  [(SNOMED, "7771000", "Left (qualifier value)"), (SNOMED, "80248007", "Left breast structure")])
RIGHT_BREAST = own("right-side", "Right (breast)", "The SNOMED CT qualifier Right (24028007, the direct reference code "
                   "of CMS125 and the published value set 'Right' 2.16.840.1.113883.3.464.1003.122.12.1035) and the "
                   "body structure Right breast (73056007) that a bodySite may hold instead.",
                   [(SNOMED, "24028007", "Right (qualifier value)"), (SNOMED, "73056007", "Right breast structure")])
UNILATERAL_MASTECTOMY = NCQA + "2.16.840.1.113883.3.464.1004.1256"
UNSPECIFIED_SIDE_MASTECTOMY = vsac("2.16.840.1.113883.3.464.1003.198.12.1071")
CLOPIDOGREL = _ingredient("clopidogrel", "Clopidogrel", "32968", "clopidogrel")
STATIN_ALLERGEN = vsac("2.16.840.1.113762.1.4.1110.42")

# Colorectal polyp histology, in the three groups USMSTF 2020 Table 3 grades by: no 2021 or 2025 eCQM value set
# holds polyp histology. The SNOMED CT morphologies are those of the value set "Colorectal Histological Diagnosis"
# (HL7 Lithuania, Lithuanian Colorectal Cancer IG, ValueSet colorectal-histological-diagnosis) and the SNOMED CT
# disorders those of its "Polyp Predicted Histology" (ValueSet polyp-predicted-histology); the ICD-10-CM codes are
# the subdivisions of Z86.010 (personal history of colon polyps) of the FY2025 release.
LT_COLORECTAL = ("HL7 Lithuania, Lithuanian Colorectal Cancer Implementation Guide (build.fhir.org/ig/HL7LT/"
                 "ig-lt-colorectal)")
POLYP_HISTOLOGY = [
    ("polyp_advanced_histology", "Colorectal adenoma of advanced histology or serrated lesion with dysplasia",
     own("colorectal-polyp-advanced-histology", "Colorectal polyp histology: tubulovillous or villous adenoma, "
         "sessile serrated lesion with dysplasia, traditional serrated adenoma",
         "The histologies for which USMSTF 2020 (Table 3) sets 3 years whatever the size: the SNOMED CT morphologies "
         f"Tubulovillous adenoma, Villous adenoma, Sessile serrated adenoma with dysplasia and Traditional serrated "
         f"adenoma, as the value set Colorectal Histological Diagnosis of the {LT_COLORECTAL} lists them. No 2021 or "
         "2025 eCQM value set holds polyp histology.",
         [(SNOMED, "61722000", "Tubulovillous adenoma"), (SNOMED, "128859003", "Villous adenoma"),
          (SNOMED, "783210009", "Sessile serrated adenoma with dysplasia"),
          (SNOMED, "443734007", "Traditional serrated adenoma")])),
    ("polyp_adenoma_or_serrated", "Colorectal adenoma or sessile serrated lesion",
     own("colorectal-polyp-adenoma-or-serrated", "Colorectal polyp histology: adenoma or sessile serrated lesion",
         "Adenomas and sessile serrated lesions, whose USMSTF 2020 interval (Table 3) depends on their number and "
         "size: the SNOMED CT morphologies Benign tubular adenoma and Sessile serrated adenoma (value set Colorectal "
         f"Histological Diagnosis, {LT_COLORECTAL}), the disorders Adenoma of large intestine and Sessile serrated "
         "lesion of large intestine (its value set Polyp Predicted Histology), and ICD-10-CM Z86.0101 (Personal "
         "history of adenomatous and serrated colon polyps, a subdivision of Z86.010 since the FY2025 release). No "
         "2021 or 2025 eCQM value set holds polyp histology.",
         [(SNOMED, "1156654007", "Benign tubular adenoma"), (SNOMED, "443157008", "Sessile serrated adenoma"),
          (SNOMED, "399432003", "Adenoma of large intestine"),
          (SNOMED, "1230009008", "Sessile serrated lesion of large intestine"),
          (ICD10CM, "Z86.0101", "Personal history of adenomatous and serrated colon polyps")])),
    ("polyp_hyperplastic", "Colorectal hyperplastic polyp",
     own("colorectal-polyp-hyperplastic", "Colorectal polyp histology: hyperplastic polyp",
         "Hyperplastic polyps (USMSTF 2020 Table 3: 10 years below 10 mm, 3 to 5 years from 10 mm): the SNOMED CT "
         f"morphology Hyperplastic polyp (value set Colorectal Histological Diagnosis, {LT_COLORECTAL}), the disorder "
         "of large intestine caused by hyperplastic polyp (its value set Polyp Predicted Histology), and ICD-10-CM "
         "Z86.0102 (Personal history of hyperplastic colon polyps, FY2025 release). No 2021 or 2025 eCQM value set "
         "holds polyp histology.",
         [(SNOMED, "62047007", "Hyperplastic polyp"),
          (SNOMED, "721691004", "Disorder of large intestine caused by hyperplastic polyp"),
          (ICD10CM, "Z86.0102", "Personal history of hyperplastic colon polyps")])),
]
POLYP_SIZE = own("colorectal-polyp-size", "Colorectal polyp size (largest dimension)",
                 "The largest dimension of a polyp, in mm: LOINC 33756-8 (Polyp size greatest dimension by CAP cancer "
                 "protocols, what Synthea records with a polypectomy) and SNOMED CT 373197004 (Polyp size, largest "
                 f"dimension, the polyp finding's size in the {LT_COLORECTAL}). No 2021 or 2025 eCQM value set holds "
                 "polyp size.",
                 [(LOINC, "33756-8", "Polyp size greatest dimension by CAP cancer protocols"),
                  (SNOMED, "373197004", "Polyp size, largest dimension")])

# (resource type, fact key, label, value sets, look-back in months or None, options)
# options: path (code filter element), history (resolved conditions count), event (an Observation that
# records that something was done), ingredient (medicine products recognised by ingredient).
SPECS: list[tuple[str, str, str, list[Any], int | None, dict[str, Any]]] = [
    ("Observation", "hba1c", "HbA1c", [vsac("2.16.840.1.113883.3.464.1003.198.12.1013")], 12, {}),
    ("Observation", "bp_panel", "Blood pressure panel",
     [_vital("bp-panel", "Blood pressure panel", [("85354-9", "Blood pressure panel with all children optional"),
                                                  ("55284-4", "Blood pressure systolic and diastolic")])], 12, {}),
    # An average of several readings (US Core Average Blood Pressure profile): self-measured at home or ambulatory,
    # it confirms (or not) the office readings (2017 ACC/AHA §4.2, Table 11).
    ("Observation", "bp_average", "Average blood pressure",
     [own("bp-average", "Average blood pressure", "The LOINC panel of the US Core Average Blood Pressure profile "
          "(its components: 96608-5 Systolic blood pressure mean, 96609-3 Diastolic blood pressure mean); no eCQM "
          "value set holds it.", [(LOINC, "96607-7", "Blood pressure panel mean systolic and mean diastolic")])],
     12, {}),
    ("Observation", "sbp", "Systolic blood pressure",
     [_vital("systolic-bp", "Systolic blood pressure", [("8480-6", "Systolic blood pressure")])], 12, {}),
    ("Observation", "dbp", "Diastolic blood pressure",
     [_vital("diastolic-bp", "Diastolic blood pressure", [("8462-4", "Diastolic blood pressure")])], 12, {}),
    ("Observation", "total_cholesterol", "Total cholesterol",
     [own("total-cholesterol", "Total cholesterol", "The LOINC test the Pooled Cohort Equations take (2013 ACC/AHA "
          "risk assessment guideline); no 2021 eCQM value set holds total cholesterol.",
          [(LOINC, "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma")])], 60, {}),
    ("Observation", "hdl", "HDL cholesterol",
     [own("hdl-cholesterol", "HDL cholesterol", "The LOINC test the Pooled Cohort Equations take (2013 ACC/AHA risk "
          "assessment guideline); no 2021 eCQM value set holds HDL cholesterol.",
          [(LOINC, "2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma")])], 60, {}),
    # Two published "LDL" value sets: 526.3.1573 (LDL Cholesterol, CMS347 statin therapy) is the one of the
    # measure this pack's statin rules follow.
    ("Observation", "ldl", "LDL cholesterol", [vsac("2.16.840.1.113883.3.526.3.1573")], 60, {}),
    ("Observation", "egfr", "eGFR", [EGFR_TESTS], 12, {}),
    ("Observation", "creatinine", "Serum creatinine", [vsac("2.16.840.1.113883.3.666.5.2363")], 12, {}),
    ("Observation", "uacr", "Urine albumin-to-creatinine ratio", [UACR_TESTS], 12, {}),
    # The same tests as events: resulted, whatever the value's type (a result ">60" as text, a coded or boolean
    # one): the yearly kidney tests were done even when no number can be read from them (ADA 2025 §11; CMS951
    # counts a result that is present).
    ("Observation", "uacr_test", "Urine albumin-to-creatinine ratio test", [UACR_TESTS], 12,
     {"event": True, "resulted": True}),
    ("Observation", "egfr_test", "eGFR test", [EGFR_TESTS], 12, {"event": True, "resulted": True}),
    ("Observation", "bmi", "BMI", [vsac("2.16.840.1.113883.3.600.1.1490")], 12, {}),
    ("ServiceRequest", "weight_intervention", "Weight follow-up not to be done", WEIGHT_FOLLOW_UP, 12,
     {"not_done": True}),
    # A follow-up plan for a below-normal BMI, done or ordered (CMS69 2025: Follow Up for Below Normal BMI 600.1.1551,
    # Referrals Where Weight Assessment May Occur 600.1.1527).
    ("Procedure", "underweight_follow_up", "Follow-up for a low BMI", UNDERWEIGHT_FOLLOW_UP, 12, {}),
    ("ServiceRequest", "underweight_follow_up", "Follow-up for a low BMI", UNDERWEIGHT_FOLLOW_UP, 12, {}),
    ("MedicationRequest", "underweight_medication", "Medicine for a low BMI", UNDERWEIGHT_MEDICINES, None,
     {"ingredient": True}),
    # ... and one decided against, with its reason (CMS69 reads it as an exception): not_done.underweight_follow_up.
    ("ServiceRequest", "underweight_follow_up", "Follow-up for a low BMI not to be done", UNDERWEIGHT_FOLLOW_UP, 12,
     {"not_done": True}),
    ("MedicationRequest", "underweight_follow_up", "Medicine for a low BMI not to be given", UNDERWEIGHT_MEDICINES, 12,
     {"ingredient": True, "not_done": True}),
    # A BMI recorded as not done, with its reason (QI-Core notDone; CMS69 reads it as an exception).
    ("Observation", "bmi", "BMI not measured", [vsac("2.16.840.1.113883.3.600.1.1490")], 12, {"not_done": True}),
    # Two published weight value sets: 1045.159 (Body weight) holds measured and stated body weight only;
    # 121.12.1015 adds newborn first weight and pre-operative weights.
    ("Observation", "weight", "Body weight", [vsac("2.16.840.1.113762.1.4.1045.159")], 12, {}),
    ("Observation", "height", "Body height", [vsac("2.16.840.1.113883.3.464.1003.121.12.1014")], 60, {}),
    ("Observation", "smoking", "Smoking status", [vsac("2.16.840.1.113883.3.526.3.1278")], 12, {}),
    # A 10-year ASCVD risk the clinician's system already estimated and recorded: stands in for the risk when the
    # Pooled Cohort Equations cannot be computed from the record (CMS347 reads the same two LOINC codes directly).
    ("Observation", "ascvd_risk_recorded", "10-year ASCVD risk (recorded)",
     [own("ascvd-risk-recorded", "10-year ASCVD risk estimate (recorded)", "The LOINC observations of a 10-year "
          "atherosclerotic cardiovascular disease risk estimate that the statin measure CMS347 reads as direct "
          "reference codes; no published value set holds them.",
          [(LOINC, "79423-0", "Cardiovascular disease 10Y risk [Likelihood] ACC-AHA Pooled Cohort by Goff 2013"),
           (LOINC, "99055-6", "Cardiovascular disease 10Y risk [Likelihood]")])], 12, {}),
    ("Observation", "pack_years", "Cigarette pack-years",
     [own("pack-years", "Cigarette pack-years", "The SNOMED CT observable for pack-years (what Synthea and many EHRs "
          "record); no 2021 eCQM value set holds it.", [(SNOMED, "401201003", "Cigarette pack-years")])], None, {}),
    ("Observation", "phq9", "PHQ-9 total score", [vsac("2.16.840.1.113883.3.67.1.101.1.263")], 12, {}),
    ("Observation", "phq2", "PHQ-2 total score",
     [own("phq2", "PHQ-2 total score", "The LOINC PHQ-2 total score; no 2021 eCQM value set holds it.",
          [(LOINC, "55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]")])], 12, {}),
    ("Observation", "fit", "Stool blood test (FIT or guaiac FOBT)",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1011")], None, {}),
    ("Observation", "fit_dna", "Stool DNA-FIT (sDNA-FIT)", [vsac("2.16.840.1.113883.3.464.1003.108.12.1039")], None,
     {}),
    ("Observation", "hcv_antibody", "Hepatitis C antibody",
     [own("hcv-antibody", "Hepatitis C virus antibody test", "The LOINC HCV antibody test USPSTF 2020 screening uses; "
          "no 2021 eCQM value set holds it.", [(LOINC, "13955-0", "Hepatitis C virus Ab [Presence] in Serum")])],
     None, {}),
    ("Observation", "pap_test", "Cervical cytology (Pap test)", [vsac("2.16.840.1.113883.3.464.1003.108.12.1017")],
     None, {}),
    ("Observation", "hpv_test", "High-risk HPV test", [vsac("2.16.840.1.113883.3.464.1003.110.12.1059")], None, {}),
    ("Observation", "cyp2c19", "CYP2C19 phenotype",
     [own("cyp2c19-result", "CYP2C19 result", "Pharmacogenomic results naming CYP2C19 (LOINC genotype and "
          "phenotype panels, HGNC gene id); no 2021 eCQM value set holds pharmacogenomic results.",
          [(LOINC, "53040-2", "Genetic variation(s) of interest [Identifier]"),
           (LOINC, "84413-4", "Genotype display name"), (GENE, "HGNC:2621", "CYP2C19")])], None, {}),
    ("Observation", "slco1b1", "SLCO1B1 phenotype",
     [own("slco1b1-result", "SLCO1B1 result", "Pharmacogenomic results naming SLCO1B1 (LOINC genotype and "
          "phenotype panels, HGNC gene id); no 2021 eCQM value set holds pharmacogenomic results.",
          [(LOINC, "53040-2", "Genetic variation(s) of interest [Identifier]"), (LOINC, "51961-1", "Genetic variation"),
           (LOINC, "84413-4", "Genotype display name"), (GENE, "HGNC:10959", "SLCO1B1")])], None, {}),
    # Events: dated facts in ``procedures``, from whichever resource records them.
    ("Procedure", "colonoscopy", "Colonoscopy", [vsac("2.16.840.1.113883.3.464.1003.108.12.1020")], None, {}),
    ("Procedure", "flexible_sigmoidoscopy", "Flexible sigmoidoscopy",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1010")], None, {}),
    ("Procedure", "ct_colonography", "CT colonography",
     [own("ct-colonography-procedure", "CT colonography (procedure)", "The SNOMED CT procedure; the published CT "
          "Colonography value set (2.16.840.1.113883.3.464.1003.108.12.1038) holds the LOINC report codes only.",
          [(SNOMED, "418714002", "Computed tomography colonography")])], None, {}),
    ("DiagnosticReport", "ct_colonography", "CT colonography", [vsac("2.16.840.1.113883.3.464.1003.108.12.1038")],
     None, {}),
    ("Observation", "ct_colonography", "CT colonography", [vsac("2.16.840.1.113883.3.464.1003.108.12.1038")], None,
     {"event": True}),
    ("Procedure", "stool_blood_test", "Fecal occult blood test", [], None, {}),
    # Mammography as a procedure (SNOMED CT, CPT, HCPCS: NCQA's 1004.1168) and as a report or result (LOINC:
    # VSAC's 108.12.1018, CMS125).
    ("Procedure", "mammography", "Mammography", [NCQA + "2.16.840.1.113883.3.464.1004.1168"], None, {}),
    ("DiagnosticReport", "mammography", "Mammography", [vsac("2.16.840.1.113883.3.464.1003.108.12.1018")], None, {}),
    ("Observation", "mammography", "Mammography", [vsac("2.16.840.1.113883.3.464.1003.108.12.1018")], None,
     {"event": True}),
    ("Procedure", "cervical_cytology", "Cervical cytology", [], None, {}),
    ("Procedure", "ldct", "Low-dose CT of the chest",
     [own("ldct", "Low-dose CT of the chest for lung cancer screening", "The SNOMED CT procedure; no 2021 eCQM "
          "value set covers lung cancer screening.",
          [(SNOMED, "16334891000119106", "Low dose computed tomography of thorax")])], None, {}),
    ("Procedure", "hcv_test", "Hepatitis C antibody test", [], None, {}),
    ("Procedure", "foot_exam", "Diabetic foot examination",
     [own("diabetic-foot-exam", "Diabetic foot examination", "The SNOMED CT procedure; no 2021 eCQM value set "
          "covers the diabetic foot examination.", [(SNOMED, "401191002", "Diabetic foot examination")])], 12, {}),
    ("Procedure", "depression_screening", "Depression screening",
     [own("depression-screening", "Depression screening", "The SNOMED CT procedure; the published 'Encounter to "
          "Screen for Depression' (2.16.840.1.113883.3.600.1916) lists visit types, not a screening done.",
          [(SNOMED, "171207006", "Depression screening")])], 12, {}),
    # A screening recorded as the assessment itself, whatever its answer (CMS2 reads these two LOINC codes directly);
    # one recorded as not done, with its reason (QI-Core notDone): not_done.depression_screening.
    ("Observation", "depression_screening", "Depression screening", [DEPRESSION_ASSESSMENT], 12, {"event": True}),
    ("Observation", "depression_screening", "Depression screening not done", [DEPRESSION_ASSESSMENT], 12,
     {"not_done": True}),
    ("Procedure", "total_colectomy", "Total colectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1019")], None, {}),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1005")],
     None, {}),
    ("Procedure", "retinal_exam", "Retinal or dilated eye exam", [vsac("2.16.840.1.113883.3.464.1003.115.12.1088")],
     12, {}),
    ("Procedure", "total_hysterectomy", "Hysterectomy with no residual cervix",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1014")], None, {}),
    ("Procedure", "pci", "Percutaneous coronary intervention", [vsac("2.16.840.1.113762.1.4.1045.67")], None, {}),
    # Arterial revascularization is clinical ASCVD (2018 AHA/ACC cholesterol guideline, definition of clinical
    # ASCVD): the procedure value sets CMS347 reads for it (CABG Surgeries, PCI, Carotid Intervention, "CABG, PCI
    # Procedure"), each a revascularization the record may hold without a diagnosis.
    ("Procedure", "arterial_revascularization", "Arterial revascularization (CABG, PCI, carotid)",
     [vsac("2.16.840.1.113883.3.666.5.694"), vsac("2.16.840.1.113762.1.4.1045.67"),
      vsac("2.16.840.1.113883.3.117.1.7.1.204"), vsac("2.16.840.1.113762.1.4.1138.566")], None,
     {"implies": "ascvd"}),
    ("Procedure", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113883.3.600.1.1579"), vsac("2.16.840.1.113883.3.464.1003.198.12.1135"),
      vsac("2.16.840.1.113883.3.464.1003.198.11.1148"), *HOSPICE_AMBULATORY,
      vsac("2.16.840.1.113762.1.4.1116.365"), NCQA + "2.16.840.1.113883.3.464.1004.1762"], 12, {}),
    ("Encounter", "palliative_or_hospice_care", "Palliative or hospice care",
     [NCQA + "2.16.840.1.113883.3.464.1004.1761", vsac("2.16.840.1.113883.3.464.1003.101.12.1090"),
      HOSPICE_ENCOUNTER], 12, {}),
    ("Encounter", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113883.3.117.1.7.1.207"), vsac("2.16.840.1.113883.3.117.1.7.1.209")], 12,
     {"path": ENCOUNTER_DISPOSITION}),
    # An encounter for palliative or hospice care by its reason (ICD-10-CM Z51.5 "Encounter for palliative care").
    ("Encounter", "palliative_or_hospice_care", "Palliative or hospice care", [PALLIATIVE_DIAGNOSIS, HOSPICE_DIAGNOSIS],
     12, {"path": "reasonCode"}),
    ("ServiceRequest", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113762.1.4.1116.365"), vsac("2.16.840.1.113883.3.464.1003.198.12.1135"), *HOSPICE_AMBULATORY],
     12, {}),
    # Assessments: the Minimum Data Set hospice item answered Yes; a FACIT-Pal questionnaire (Hospice and
    # PalliativeCare libraries, 2025: final, amended or corrected only).
    ("Observation", "palliative_or_hospice_care", "Palliative or hospice care", [HOSPICE_ASSESSMENT], 12,
     {"event": True, "answer": YES}),
    ("Observation", "palliative_or_hospice_care", "Palliative or hospice care", [PALLIATIVE_ASSESSMENT], 12,
     {"event": True}),
    # Kidney failure treated by dialysis or a transplant (CMS165 2025 exclusions: any time before the evaluation).
    ("Procedure", "dialysis", "Dialysis", [DIALYSIS_SERVICES], None, {}),
    ("Encounter", "dialysis", "Dialysis",
     [DIALYSIS_SERVICES, vsac("2.16.840.1.113883.3.464.1003.109.12.1014")], None, {}),
    ("ServiceRequest", "dialysis", "Dialysis", [DIALYSIS_SERVICES], None, {}),
    ("Procedure", "kidney_transplant", "Kidney transplant", [vsac("2.16.840.1.113883.3.464.1003.109.12.1012")], None,
     {}),
    # Bilateral mastectomy recorded as two unilateral ones (CMS125 2025): a side-specific code, or a mastectomy
    # of unspecified side whose bodySite says the side.
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1133")],
     None, {"side": "left"}),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1134")],
     None, {"side": "right"}),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [UNILATERAL_MASTECTOMY], None,
     {"side": "left", "site": LEFT_BREAST}),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [UNILATERAL_MASTECTOMY], None,
     {"side": "right", "site": RIGHT_BREAST}),
    # Conditions
    # Lifelong (fact-lifelong): a record both active and ended (FHIR con-4 forbids it) keeps them active, and the
    # plan asks to verify it: dropping a diabetes on such a record would silently drop its monitoring (the safer
    # reading of conflicting data).
    ("Condition", "diabetes", "Diabetes", [vsac("2.16.840.1.113883.3.464.1003.103.12.1001")], None,
     {"lifelong": True}),
    ("Condition", "type1_diabetes", "Type 1 diabetes", [vsac("2.16.840.1.113883.3.464.1003.103.12.1020")], None,
     {"lifelong": True}),
    ("Condition", "hypertension", "Hypertension",
     [vsac("2.16.840.1.113883.3.464.1003.104.12.1011"), vsac("2.16.840.1.113883.3.600.263")], None, {}),
    ("Condition", "ckd", "Chronic kidney disease",
     [derived("chronic-kidney-disease", "Chronic kidney disease", vsac("2.16.840.1.113883.3.464.1003.109.12.1028"),
              "its ICD-10-CM N18 codes and its SNOMED CT codes for chronic kidney disease and end-stage renal "
              "disease, without the acute kidney failure codes (N17, acute renal failure) that are not CKD "
              "(KDIGO 2024 definition: abnormal kidney structure or function present for more than 3 months)",
              _ckd)], None, {}),
    # Clinical ASCVD as the CMS347 statin measure (2018 ACC/AHA cholesterol guideline) defines it: a history of
# MI, stroke or TIA counts as much as an active diagnosis, so resolved conditions count (fact-history).
    ("Condition", "ascvd", "Clinical ASCVD",
     [vsac("2.16.840.1.113883.3.526.3.403"), vsac("2.16.840.1.113762.1.4.1047.44"),
      vsac("2.16.840.1.113762.1.4.1047.46"), vsac("2.16.840.1.113762.1.4.1047.21")], None, {"history": True}),
    ("Condition", "acs", "Acute coronary syndrome / myocardial infarction", [vsac("2.16.840.1.113883.3.526.3.403")],
     None, {"history": True}),
    ("Condition", "heart_failure", "Heart failure", [vsac("2.16.840.1.113883.3.526.3.376")], None, {}),
    # Other conditions BP-lowering medicines are prescribed for (beta blockers, calcium-channel blockers): a medicine
    # counts as hypertension treatment only with hypertension or without them (app.context.diagnoses).
    ("Condition", "arrhythmia", "Arrhythmia", [vsac("2.16.840.1.113883.3.526.3.366")], None, {}),
    ("Condition", "angina", "Angina", [vsac("2.16.840.1.113762.1.4.1047.47")], None, {}),
    # A pregnancy condition with no clinicalStatus counts for 42 weeks from its onset or recording (post-term
    # pregnancy begins at 42 0/7 weeks: ACOG Committee Opinion 579, Definition of Term Pregnancy, 2013).
    ("Condition", "pregnancy", "Pregnancy", [vsac("2.16.840.1.113883.3.526.3.378")], None, {"lookback_weeks": 42}),
    ("Condition", "angioedema", "Angioedema",
     [own("angioedema", "Angioedema", "Angioedema (a contraindication to ACE inhibitors, KDIGO 2024 and product "
          "labelling): the SNOMED CT disorder and the ICD-10-CM category T78.3 with its subdivisions; no 2021 eCQM "
          "value set holds it.", [(SNOMED, "41291007", "Angioedema"), (ICD10CM, "T78.3", "Angioneurotic edema")])],
     None, {"history": True}),
    ("Condition", "palliative_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113883.3.600.1.1575"), PALLIATIVE_DIAGNOSIS, HOSPICE_DIAGNOSIS], None, {}),
    # Kidney failure (CMS165 2025: End Stage Renal Disease, Chronic Kidney Disease Stage 5 526.3.1002, the OID it
    # names among the three titled so; Kidney Transplant Recipient).
    ("Condition", "esrd", "End-stage renal disease",
     [vsac("2.16.840.1.113883.3.526.3.353"), vsac("2.16.840.1.113883.3.526.3.1002")], None, {}),
    ("Condition", "kidney_transplant", "Kidney transplant recipient",
     [vsac("2.16.840.1.113883.3.464.1003.109.12.1029")], None, {"history": True}),
    # Statin contraindications and exceptions, as CMS347 (2025) names them: "Statin Associated Muscle Symptoms"
    # (2021 release, 1108.85), "Rhabdomyolysis", "Breastfeeding", and "Liver Disease" (1047.42, the set CMS347
    # reads; "Chronic Liver Disease" 199.12.1035, of another measure, lacks its acute and chronic viral hepatitis
    # codes).
    # A past episode is read too (history), with its status: the 2018 ACC/AHA cholesterol guideline (section 5,
    # statin safety) asks to assess muscle symptoms and predisposing factors before a statin is started; a current
    # episode stops a start until then, a past one makes the start the clinician's choice.
    ("Condition", "statin_muscle_symptoms", "Statin-associated muscle symptoms",
     [vsac("2.16.840.1.113762.1.4.1108.85")], None, {"history": True}),
    ("Condition", "rhabdomyolysis", "Rhabdomyolysis", [vsac("2.16.840.1.113762.1.4.1047.102")], None,
     {"history": True}),
    # with the viral hepatitis A and B sets CMS347 reads in the same exception ("Has Hepatitis or Liver Disease
    # Diagnosis": 110.12.1024, 2025 release; 67.1.101.1.269, 2021 release)
    ("Condition", "liver_disease", "Liver disease",
     [vsac("2.16.840.1.113762.1.4.1047.42"), vsac("2.16.840.1.113883.3.464.1003.110.12.1024"),
      vsac("2.16.840.1.113883.3.67.1.101.1.269")], None, {}),
    ("Condition", "breastfeeding", "Breastfeeding", [vsac("2.16.840.1.113762.1.4.1047.73")], None, {}),
    ("Condition", "colorectal_cancer", "Colorectal cancer", [vsac("2.16.840.1.113883.3.464.1003.108.12.1001")], None,
     {"history": True}),
    # Polyps or adenomas of the colon or rectum, current or past: surveillance after polypectomy (USMSTF 2020)
    # replaces average-risk screening.
    ("Condition", "colorectal_polyp", "Colorectal polyp or adenoma",
     [own("colorectal-polyp", "Colorectal polyp or adenoma", "Polyps and benign neoplasms of the colon and rectum, "
          "and a personal history of colonic polyps: the ICD-10-CM categories D12 (benign neoplasm of colon, rectum, "
          "anus and anal canal), K62.1 (rectal polyp), K63.5 (polyp of colon) and Z86.010 (personal history of colonic "
          "polyps) with their subdivisions, and the SNOMED CT disorder Polyp of colon; no 2021 or 2025 eCQM value set "
          "holds colorectal polyps.",
          [(ICD10CM, "D12", "Benign neoplasm of colon, rectum, anus and anal canal"),
           (ICD10CM, "K62.1", "Rectal polyp"),
           (ICD10CM, "K63.5", "Polyp of colon"), (ICD10CM, "Z86.010", "Personal history of colonic polyps"),
           (SNOMED, "68496003", "Polyp of colon")])], None, {"history": True}),
    ("Procedure", "polypectomy", "Polypectomy of the colon or rectum",
     [own("colorectal-polypectomy", "Polypectomy of the colon or rectum", "The SNOMED CT procedure rectal "
          "polypectomy (what Synthea records); no 2021 or 2025 eCQM value set holds polypectomy.",
          [(SNOMED, "274031008", "Rectal polypectomy")])], None, {}),
    # The findings USMSTF 2020 (Table 3) grades surveillance by, where the record codes them: histology (a Condition,
    # or a pathology DiagnosticReport's conclusionCode) and the largest polyp's size (an Observation in mm). No
    # published code for the number of polyps or for piecemeal resection was found: they are never read.
    *((resource_type, key, label, [value_set], None, options)
      for key, label, value_set in POLYP_HISTOLOGY
      for resource_type, options in (("Condition", {"history": True}),
                                     ("DiagnosticReport", {"path": "conclusionCode"}))),
    ("Observation", "polyp_size", "Polyp size (largest dimension)", [POLYP_SIZE], None, {}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1068")], None, {"history": True}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1069")], None, {"side": "left"}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1070")], None, {"side": "right"}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [UNSPECIFIED_SIDE_MASTECTOMY], None, {"side": "left", "site": LEFT_BREAST}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [UNSPECIFIED_SIDE_MASTECTOMY], None, {"side": "right", "site": RIGHT_BREAST}),
    ("Condition", "no_cervix", "Absence of cervix", [vsac("2.16.840.1.113883.3.464.1003.111.12.1016")], None,
     {"history": True}),
    ("Condition", "hepatitis_c", "Hepatitis C",
     [own("hepatitis-c", "Hepatitis C", "ICD-10-CM hepatitis C categories (acute B17.1, chronic B18.2, unspecified "
          "B19.2) with their subdivisions; the only 2021 eCQM value set holding them is 'Liver Disease', far wider.",
          [(ICD10CM, "B17.1", "Acute hepatitis C"), (ICD10CM, "B18.2", "Chronic viral hepatitis C"),
           (ICD10CM, "B19.2", "Unspecified viral hepatitis C")])], None, {"history": True}),
    ("Condition", "depression", "Depression", [vsac("2.16.840.1.113883.3.600.145")], None, {}),
    # Bipolar Disorder 67.1.101.1.128: of the three 2025 sets titled so, the one both releases hold (the widest);
    # a disorder in remission counts too (it stays a diagnosed mood disorder).
    ("Condition", "bipolar_disorder", "Bipolar disorder", [vsac("2.16.840.1.113883.3.67.1.101.1.128")], None,
     {"history": True}),
    # Frailty (diagnoses and symptoms) and advanced illness: the value sets of the eCQM exclusions for older adults
    # (CMS130, CMS125).
    ("Condition", "frailty", "Frailty", [vsac("2.16.840.1.113883.3.464.1003.113.12.1074"),
                                         vsac("2.16.840.1.113883.3.464.1003.113.11.1308"),
                                         vsac("2.16.840.1.113883.3.464.1003.113.11.1309"), *FRAILTY_SYMPTOM], None,
     {}),
    ("Device", "frailty", "Frailty", FRAILTY_DEVICE, None, {}),
    # Dated frailty criteria (AdvancedIllnessandFrailty 2025): a symptom observed, a frailty device ordered (an
    # order, not doNotPerform) or reported in use, a frailty encounter.
    ("Observation", "frailty_finding", "Frailty finding", FRAILTY_SYMPTOM, 12, {"event": True}),
    ("Observation", "frailty_finding", "Frailty finding", [EQUIPMENT_USED], 12,
     {"event": True, "answer": FRAILTY_DEVICE}),
    # Housing status: the latest answer is the patient's status (AdvancedIllnessandFrailty 2025 reads the last
    # one; "Lives in a nursing home" 160734000 is its direct reference code): a coded measure, not an event.
    ("Observation", "housing_status", "Housing status",
     [own("housing-status", "Housing status", "The LOINC item the 2025 eCQM library AdvancedIllnessandFrailty "
          "(1.23.000) names as a direct reference code; its latest answer (e.g. SNOMED CT 160734000 Lives in a "
          "nursing home) is the patient's housing status. No value set holds it.",
          [(LOINC, "71802-3", "Housing status")])], None, {}),
    ("DeviceRequest", "frailty_finding", "Frailty finding", FRAILTY_DEVICE, 12, {}),
    ("Encounter", "frailty_finding", "Frailty finding", [vsac("2.16.840.1.113883.3.464.1003.101.12.1088")], 12, {}),
    # Emergency and inpatient care (CMS165 2025 leaves out BPs taken there: Emergency Department Visit 117.1.7.1.292,
    # Encounter Inpatient 666.5.307), by type or by class (v3 ActCode EMER, and IMP with its specialisations ACUTE
    # and NONAC): a BP taken there is not an office reading (2017 ACC/AHA §4.1, Table 8).
    ("Encounter", "acute_care", "Emergency or inpatient care",
     [vsac("2.16.840.1.113883.3.117.1.7.1.292"), vsac("2.16.840.1.113883.3.666.5.307")], 12, {}),
    ("Encounter", "acute_care", "Emergency or inpatient care",
     [own("acute-care-class", "Emergency or inpatient encounter class", "The v3 ActCode encounter classes of "
          "emergency care (EMER) and inpatient care (IMP and its specialisations ACUTE and NONAC), which FHIR R4 "
          "Encounter.class takes from v3 ActEncounterCode.",
          [(ACT_CODE, "EMER", "emergency"), (ACT_CODE, "IMP", "inpatient encounter"),
           (ACT_CODE, "ACUTE", "inpatient acute"), (ACT_CODE, "NONAC", "inpatient non-acute")])], 12,
     {"path": "class"}),
    ("Condition", "advanced_illness", "Advanced illness", [vsac("2.16.840.1.113883.3.464.1003.110.12.1082"),
                                                           vsac("2.16.840.1.113883.3.464.1003.110.11.1150"),
                                                           vsac("2.16.840.1.113883.3.464.1003.110.11.1151")], None,
     {}),
    # Hypoglycaemia in the last 12 months, active or resolved (ADA 2025 §6: a hypoglycaemic event calls for a
    # review of the treatment regimen).
    ("Condition", "hypoglycemia", "Hypoglycemia",
     [own("hypoglycemia", "Hypoglycemia", "Hypoglycaemia diagnoses: the ICD-10-CM categories for hypoglycaemia "
          "(E16.0 drug-induced, E16.1 other, E16.2 unspecified) and for diabetes with hypoglycaemia (E10.64, E11.64, "
          "E13.64), with their subdivisions, and the SNOMED CT disorder; no 2021 eCQM value set holds hypoglycaemia "
          "diagnoses (the 'Hypoglycemics' value sets are medicines).",
          [(ICD10CM, "E16.0", "Drug-induced hypoglycemia without coma"), (ICD10CM, "E16.1", "Other hypoglycemia"),
           (ICD10CM, "E16.2", "Hypoglycemia, unspecified"), (ICD10CM, "E10.64", "Type 1 diabetes with hypoglycemia"),
           (ICD10CM, "E11.64", "Type 2 diabetes with hypoglycemia"),
           (ICD10CM, "E13.64", "Other specified diabetes with hypoglycemia"),
           (SNOMED, "302866003", "Hypoglycemia")])], 12, {"history": True}),
    # Medicines (and medicine allergies): products recognised by value set, then by ingredient.
    # A statin order completed in the last 12 months counts as recent therapy, shown as completed (CMS347 counts a
    # statin ordered in the period whatever its status): a start is not proposed over it, its use is confirmed.
    ("MedicationRequest", "statin", "Statin", [vsac("2.16.840.1.113762.1.4.1110.19"), STATIN_ALLERGEN], None,
     {"ingredient": True, "completed_months": 12}),
    # The same orders by the intensity of their product (2018 AHA/ACC Table 3, as the published CMS347 value sets
    # list the products: High 526.3.1572, Moderate 526.3.1575, Low 526.3.1574; a suspension is in Low and Moderate,
    # its dose decides). A product in none of them (recognised by ingredient only) has no known intensity.
    ("MedicationRequest", "statin_high_intensity", "High-intensity statin",
     [vsac("2.16.840.1.113883.3.526.3.1572")], None, {"completed_months": 12}),
    ("MedicationRequest", "statin_moderate_intensity", "Moderate-intensity statin",
     [vsac("2.16.840.1.113883.3.526.3.1575")], None, {"completed_months": 12}),
    ("MedicationRequest", "statin_low_intensity", "Low-intensity statin",
     [vsac("2.16.840.1.113883.3.526.3.1574")], None, {"completed_months": 12}),
    # An order not to prescribe a statin, with its reason (CMS347 2025 reads MedicationNotRequested of the three
    # intensities): not_done.statin, never a statin.
    ("MedicationRequest", "statin", "Statin not to be prescribed", STATINS, None,
     {"ingredient": True, "not_done": True}),
    ("ServiceRequest", "statin", "Statin not to be prescribed", STATINS, None, {"not_done": True}),
    # ... and those whose reason is the patient's own (Patient Reason 526.2.311, the 2025 version CMS347 names;
    # Patient Declined 600.791): a decision to revisit with the patient, not a medical reason (docs/packs.md).
    ("MedicationRequest", "statin_declined", "Statin declined by the patient", STATINS, None,
     {"ingredient": True, "not_done": True, "reason": PATIENT_REASONS}),
    ("ServiceRequest", "statin_declined", "Statin declined by the patient", STATINS, None,
     {"not_done": True, "reason": PATIENT_REASONS}),
    # ... and those whose reason is a medical one (Medical Reason 526.2.313, the 2025 version, and 526.3.1007): the
    # plan follows the documented decision; an order not to prescribe with no reason, or one it recognises as neither
    # medical nor the patient's, is shown and left to the clinician.
    ("MedicationRequest", "statin_medical_reason", "Statin not prescribed for a medical reason", STATINS, None,
     {"ingredient": True, "not_done": True, "reason": MEDICAL_REASONS}),
    ("ServiceRequest", "statin_medical_reason", "Statin not prescribed for a medical reason", STATINS, None,
     {"not_done": True, "reason": MEDICAL_REASONS}),
    # Dementia medicines (AdvancedIllnessandFrailty 2025 names 196.12.1510; 196.11.1517 is its 2025 version):
    # an active order is evidence of advanced illness (fact-implies).
    ("MedicationRequest", "dementia_medication", "Dementia medication",
     [vsac("2.16.840.1.113883.3.464.1003.196.12.1510"), vsac("2.16.840.1.113883.3.464.1003.196.11.1517")], None,
     {"ingredient": True, "implies": "advanced_illness"}),
    ("MedicationRequest", "simvastatin", "Simvastatin",
     [_ingredient("simvastatin", "Simvastatin", "36567", "simvastatin")], None, {"ingredient": True}),
    ("MedicationRequest", "clopidogrel", "Clopidogrel", [CLOPIDOGREL], None, {"ingredient": True}),
    ("MedicationRequest", "ace_inhibitor", "ACE inhibitor", [ACE_INGREDIENTS], None, {"ingredient": True}),
    ("MedicationRequest", "arb", "Angiotensin receptor blocker", [ARB_INGREDIENTS], None, {"ingredient": True}),
    ("MedicationRequest", "ras_inhibitor", "ACE inhibitor, ARB or ARNI",
     [vsac("2.16.840.1.113883.3.526.3.1139"), vsac("2.16.840.1.113883.3.526.3.1489")], None, {"ingredient": True}),
    ("MedicationRequest", "antihypertensive", "BP-lowering medication",
     [vsac("2.16.840.1.113883.3.526.1577"), vsac("2.16.840.1.113883.3.526.3.1139"),
      vsac("2.16.840.1.113883.3.526.3.1489"), vsac("2.16.840.1.113883.3.526.3.1493")], None, {"ingredient": True}),
    ("MedicationRequest", "glucose_lowering", "Glucose-lowering medication", [HYPOGLYCEMICS], None,
     {"ingredient": True}),
    ("MedicationRequest", "insulin", "Insulin",
     [derived("insulin", "Insulin", HYPOGLYCEMICS, "the members whose ingredient is an insulin", by_moiety("insulin"))],
     None, {"ingredient": True}),
    ("MedicationRequest", "sulfonylurea", "Sulfonylurea",
     [derived("sulfonylurea", "Sulfonylureas", HYPOGLYCEMICS, "the members whose ingredient is a sulfonylurea "
              "(ADA Standards of Care 2025, section 9, table 9.2: glimepiride, glipizide, glyburide; older agents "
              "chlorpropamide, tolazamide, tolbutamide)",
              by_moiety("glimepiride", "glipizide", "glyburide", "chlorpropamide", "tolazamide", "tolbutamide"))],
     None, {"ingredient": True}),
    ("MedicationRequest", "metformin", "Metformin",
     [derived("metformin", "Metformin", HYPOGLYCEMICS, "the members whose ingredients include metformin",
              by_moiety("metformin"))], None, {"ingredient": True}),
    ("MedicationRequest", "sglt2_inhibitor", "SGLT2 inhibitor",
     [own("sglt2-inhibitors", "SGLT2 inhibitors", "The RxNorm ingredients of the SGLT2 inhibitors the ADA Standards "
          "of Care 2025 (section 9) and KDIGO 2024 recommend; no 2021 eCQM value set is limited to the class. "
          "Products are recognised by ingredient.",
          [(RXNORM, "1545653", "empagliflozin"), (RXNORM, "1488564", "dapagliflozin"),
           (RXNORM, "1373458", "canagliflozin")])], None, {"ingredient": True}),
    ("MedicationRequest", "glp1_ra", "GLP-1 receptor agonist",
     [own("glp1-receptor-agonists", "GLP-1 receptor agonists", "The RxNorm ingredients of the GLP-1 receptor agonists "
          "with proven cardiovascular benefit the ADA Standards of Care 2025 (section 10) name; no 2021 eCQM value "
          "set is limited to the class. Products are recognised by ingredient.",
          [(RXNORM, "475968", "liraglutide"), (RXNORM, "1991302", "semaglutide"), (RXNORM, "1551291", "dulaglutide")])],
     None, {"ingredient": True}),
    ("MedicationRequest", "cessation_medication", "Tobacco cessation medication",
     [vsac("2.16.840.1.113883.3.526.3.1190")], None, {"ingredient": True}),
    ("AllergyIntolerance", "statin", "Statin allergy or intolerance", [STATIN_ALLERGEN], None, {"ingredient": True}),
    # An adverse reaction to a statin recorded as an AdverseEvent (QI-Core; CMS347 reads it with the Statin
    # Allergen value set as an exception) is read as an intolerance of the class.
    ("AdverseEvent", "statin", "Statin allergy or intolerance", [STATIN_ALLERGEN], None, {"ingredient": True}),
    ("AllergyIntolerance", "ace_inhibitor", "ACE inhibitor allergy or intolerance", [ACE_INGREDIENTS], None,
     {"ingredient": True}),
    ("AllergyIntolerance", "arb", "ARB allergy or intolerance", [ARB_INGREDIENTS], None, {"ingredient": True}),
    ("AllergyIntolerance", "clopidogrel", "Clopidogrel allergy or intolerance", [CLOPIDOGREL], None,
     {"ingredient": True}),
]


def _canonical(value_set: dict[str, Any]) -> str:
    return f"{value_set['url']}|{value_set['version']}" if value_set.get("version") else value_set["url"]


def _requirement(resource_type: str, key: str, label: str, value_set: dict[str, Any], months: int | None,
                 options: dict[str, Any], extras: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    extension = [ext("fact-key", valueCode=key), ext("fact-label", valueString=label)]
    for name, flag in (("fact-history", "history"), ("fact-event", "event"), ("match-ingredient", "ingredient"),
                       ("fact-lifelong", "lifelong"), ("fact-not-done", "not_done"), ("fact-resulted", "resulted")):
        if options.get(flag):
            extension.append(ext(name, valueBoolean=True))
    for name, option in (("fact-side", "side"), ("fact-implies", "implies")):
        if options.get(option):
            extension.append(ext(name, valueCode=options[option]))
    if options.get("completed_months"):
        extension.append(ext("fact-completed-within", valueDuration={
            "value": options["completed_months"], "unit": "mo", "system": UCUM, "code": "mo"}))
    path = options.get("path") or DEFAULT_PATHS.get(resource_type, "code")
    code_filter = [{"path": path, "valueSet": _canonical(value_set)}]
    # Further filters on other elements, all of which must match (an Observation's coded answer, a body site).
    code_filter += [{"path": extra_path, "valueSet": _canonical(extra)} for extra_path, extra in extras]
    requirement: dict[str, Any] = {"type": resource_type, "extension": extension, "codeFilter": code_filter}
    date_path = {"Observation": "effective", "Condition": "onset", "ServiceRequest": "authoredOn"}.get(resource_type,
                                                                                                      "date")
    if months:
        requirement["dateFilter"] = [{"path": date_path, "valueDuration": {"value": months, "unit": "mo",
                                                                           "system": UCUM, "code": "mo"}}]
    elif options.get("lookback_weeks"):
        requirement["dateFilter"] = [{"path": date_path, "valueDuration": {
            "value": options["lookback_weeks"], "unit": "wk", "system": UCUM, "code": "wk"}}]
    return requirement


def _combinations(extras: list[tuple[str, list[dict[str, Any]]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Every choice of one value set per further element (one empty choice when there is none)."""
    found: list[list[tuple[str, dict[str, Any]]]] = [[]]
    for path, value_sets in extras:
        found = [[*chosen, (path, value_set)] for chosen in found for value_set in value_sets]
    return found


def library() -> dict[str, Any]:
    """The Library resource (type module-definition): one dataRequirement per (type, fact key, value set)."""
    requirements = []
    for resource_type, key, label, value_sets, months, options in SPECS:
        chosen = _register(*value_sets)
        extras = [(path, _register(*(options[name] if isinstance(options[name], list) else [options[name]])))
                  for path, name in (("value", "answer"), ("bodySite", "site"), ("reasonCode", "reason"))
                  if options.get(name)]
        plain = not extras and not options.get("side") and not options.get("not_done")
        extra = supplement(resource_type, key, label, chosen) if plain else None
        if extra is not None:
            chosen += _register(extra)
        for value_set in chosen:
            # one entry per answer (or site) value set too: several codeFilters on one element would be AND-ed
            for combination in _combinations(extras):
                requirements.append(_requirement(resource_type, key, label, value_set, months, options, combination))
    return {
        "resourceType": "Library", "id": "carepath-primary-care-data", "url": f"{BASE}/Library/primary-care-data",
        "version": VERSION, "name": "primary_care_data", "title": "carepath primary care: data requirements",
        "status": "draft", "date": "2025-06-01", "publisher": "carepath clinical content",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type",
                             "code": "module-definition"}]},
        "description": "What the primary-care guideline packs read: resource types, value sets, and the fact key "
                       "each match feeds (docs/facts.md). Look-back windows are this pack's data-freshness policy. "
                       "The value sets are bundled in valuesets/ (published VSAC expansions, 2025 eCQM release and "
                       "2021 for those it no longer carries, and the pack's own, each saying why).",
        "dataRequirement": requirements,
    }


def value_sets() -> dict[str, dict[str, Any]]:
    """url -> ValueSet resource of every value set the Library names (after :func:`library` ran)."""
    if not VALUE_SETS:
        library()
    return dict(VALUE_SETS)


__all__ = ["library", "value_sets"]
