"""The pack's Library: what to fetch (type + value sets) and which fact key each match feeds (docs/facts.md).

Every concept is a FHIR ValueSet named by canonical ``url|version`` in ``dataRequirement.codeFilter.valueSet``:
published VSAC value sets (2025 eCQM release, 2021 for those it no longer carries) wherever one fits, chosen
by OID where titles repeat (the measure the value set serves is named beside it), and pack-defined ones only
where none fits (:mod:`app.engine.authoring.valuesets` says the three kinds and why).
"""

from __future__ import annotations

from typing import Any

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
CLOPIDOGREL = _ingredient("clopidogrel", "Clopidogrel", "32968", "clopidogrel")
STATIN_ALLERGEN = vsac("2.16.840.1.113762.1.4.1110.42")

# (resource type, fact key, label, value sets, look-back in months or None, options)
# options: path (code filter element), history (resolved conditions count), event (an Observation that
# records that something was done), ingredient (medicine products recognised by ingredient).
SPECS: list[tuple[str, str, str, list[Any], int | None, dict[str, Any]]] = [
    ("Observation", "hba1c", "HbA1c", [vsac("2.16.840.1.113883.3.464.1003.198.12.1013")], 12, {}),
    ("Observation", "bp_panel", "Blood pressure panel",
     [_vital("bp-panel", "Blood pressure panel", [("85354-9", "Blood pressure panel with all children optional"),
                                                  ("55284-4", "Blood pressure systolic and diastolic")])], 12, {}),
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
    ("Observation", "egfr", "eGFR",
     [own("egfr", "Estimated glomerular filtration rate", "LOINC eGFR results (MDRD, CKD-EPI with and without race, "
          "CKD-EPI 2021); no 2021 eCQM value set holds eGFR.",
          [(LOINC, "33914-3", "GFR/BSA.pred [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)"),
           (LOINC, "48642-3", "GFR/BSA.pred among non-blacks by Creatinine-based formula (MDRD)"),
           (LOINC, "48643-1", "GFR/BSA.pred among blacks by Creatinine-based formula (MDRD)"),
           (LOINC, "62238-1", "GFR/BSA.pred [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based "
                              "formula (CKD-EPI)"),
           (LOINC, "88293-6", "GFR/BSA.pred among blacks by Creatinine-based formula (CKD-EPI)"),
           (LOINC, "88294-4", "GFR/BSA.pred among non-blacks by Creatinine-based formula (CKD-EPI)"),
           (LOINC, "98979-8", "GFR/BSA.pred by Creatinine-based formula (CKD-EPI 2021)")])], 12, {}),
    ("Observation", "creatinine", "Serum creatinine", [vsac("2.16.840.1.113883.3.666.5.2363")], 12, {}),
    ("Observation", "uacr", "Urine albumin-to-creatinine ratio",
     [own("uacr", "Urine albumin-to-creatinine ratio", "Albumin/creatinine ratio tests only: the published 'Urine "
          "Protein Tests' (2.16.840.1.113883.3.464.1003.109.12.1024) also holds dipstick and total-protein tests "
          "whose values are not a UACR (KDIGO 2024 grades albuminuria by UACR in mg/g).",
          [(LOINC, "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine"),
           (LOINC, "14959-1", "Microalbumin/Creatinine [Mass Ratio] in Urine")])], 12, {}),
    ("Observation", "bmi", "BMI", [vsac("2.16.840.1.113883.3.600.1.1490")], 12, {}),
    # Two published weight value sets: 1045.159 (Body weight) holds measured and stated body weight only;
    # 121.12.1015 adds newborn first weight and pre-operative weights.
    ("Observation", "weight", "Body weight", [vsac("2.16.840.1.113762.1.4.1045.159")], 12, {}),
    ("Observation", "height", "Body height", [vsac("2.16.840.1.113883.3.464.1003.121.12.1014")], 60, {}),
    ("Observation", "smoking", "Smoking status", [vsac("2.16.840.1.113883.3.526.3.1278")], 12, {}),
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
    ("Procedure", "total_colectomy", "Total colectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1019")], None, {}),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [vsac("2.16.840.1.113883.3.464.1003.198.12.1005")],
     None, {}),
    ("Procedure", "retinal_exam", "Retinal or dilated eye exam", [vsac("2.16.840.1.113883.3.464.1003.115.12.1088")],
     12, {}),
    ("Procedure", "total_hysterectomy", "Hysterectomy with no residual cervix",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1014")], None, {}),
    ("Procedure", "pci", "Percutaneous coronary intervention", [vsac("2.16.840.1.113762.1.4.1045.67")], None, {}),
    ("Procedure", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113883.3.600.1.1579"), vsac("2.16.840.1.113883.3.464.1003.198.12.1135"),
      vsac("2.16.840.1.113883.3.526.3.1584"), vsac("2.16.840.1.113762.1.4.1116.365"),
      NCQA + "2.16.840.1.113883.3.464.1004.1762"], 12, {}),
    ("Encounter", "palliative_or_hospice_care", "Palliative or hospice care",
     [NCQA + "2.16.840.1.113883.3.464.1004.1761", vsac("2.16.840.1.113883.3.464.1003.101.12.1090")], 12, {}),
    ("Encounter", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113883.3.117.1.7.1.207"), vsac("2.16.840.1.113883.3.117.1.7.1.209")], 12,
     {"path": ENCOUNTER_DISPOSITION}),
    ("ServiceRequest", "palliative_or_hospice_care", "Palliative or hospice care",
     [vsac("2.16.840.1.113762.1.4.1116.365"), vsac("2.16.840.1.113883.3.464.1003.198.12.1135")], 12, {}),
    # Conditions
    ("Condition", "diabetes", "Diabetes", [vsac("2.16.840.1.113883.3.464.1003.103.12.1001")], None, {}),
    ("Condition", "type1_diabetes", "Type 1 diabetes", [vsac("2.16.840.1.113883.3.464.1003.103.12.1020")], None, {}),
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
    # A pregnancy condition with no clinicalStatus counts for 42 weeks from its onset or recording (post-term
    # pregnancy begins at 42 0/7 weeks: ACOG Committee Opinion 579, Definition of Term Pregnancy, 2013).
    ("Condition", "pregnancy", "Pregnancy", [vsac("2.16.840.1.113883.3.526.3.378")], None, {"lookback_weeks": 42}),
    ("Condition", "angioedema", "Angioedema",
     [own("angioedema", "Angioedema", "Angioedema (a contraindication to ACE inhibitors, KDIGO 2024 and product "
          "labelling): the SNOMED CT disorder and the ICD-10-CM category T78.3 with its subdivisions; no 2021 eCQM "
          "value set holds it.", [(SNOMED, "41291007", "Angioedema"), (ICD10CM, "T78.3", "Angioneurotic edema")])],
     None, {"history": True}),
    ("Condition", "palliative_care", "Palliative or hospice care", [vsac("2.16.840.1.113883.3.600.1.1575")], None, {}),
    ("Condition", "colorectal_cancer", "Colorectal cancer", [vsac("2.16.840.1.113883.3.464.1003.108.12.1001")], None,
     {"history": True}),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)",
     [vsac("2.16.840.1.113883.3.464.1003.198.12.1068")], None, {"history": True}),
    ("Condition", "no_cervix", "Absence of cervix", [vsac("2.16.840.1.113883.3.464.1003.111.12.1016")], None,
     {"history": True}),
    ("Condition", "hepatitis_c", "Hepatitis C",
     [own("hepatitis-c", "Hepatitis C", "ICD-10-CM hepatitis C categories (acute B17.1, chronic B18.2, unspecified "
          "B19.2) with their subdivisions; the only 2021 eCQM value set holding them is 'Liver Disease', far wider.",
          [(ICD10CM, "B17.1", "Acute hepatitis C"), (ICD10CM, "B18.2", "Chronic viral hepatitis C"),
           (ICD10CM, "B19.2", "Unspecified viral hepatitis C")])], None, {"history": True}),
    ("Condition", "depression", "Depression", [vsac("2.16.840.1.113883.3.600.145")], None, {}),
    # Frailty (diagnoses and symptoms) and advanced illness: the value sets of the eCQM exclusions for older adults
    # (CMS130, CMS125).
    ("Condition", "frailty", "Frailty", [vsac("2.16.840.1.113883.3.464.1003.113.12.1074"),
                                         vsac("2.16.840.1.113883.3.464.1003.113.12.1075")], None, {}),
    ("Device", "frailty", "Frailty", [vsac("2.16.840.1.113883.3.464.1003.118.12.1300")], None, {}),
    ("Observation", "frailty_finding", "Frailty finding", [vsac("2.16.840.1.113883.3.464.1003.113.12.1075")], 12,
     {"event": True}),
    ("Condition", "advanced_illness", "Advanced illness", [vsac("2.16.840.1.113883.3.464.1003.110.12.1082")], None,
     {}),
    # Kidney replacement therapy, reasons not to start a statin, and dementia medicines (eCQM value sets: CMS165,
    # CMS951, CMS347, CMS125/CMS130 advanced illness).
    ("Condition", "esrd", "End-stage renal disease", [vsac("2.16.840.1.113883.3.526.3.353")], None, {}),
    ("Procedure", "dialysis", "Dialysis", [vsac("2.16.840.1.113883.3.464.1003.109.12.1013")], 12, {}),
    ("Condition", "kidney_transplant", "Kidney transplant recipient",
     [vsac("2.16.840.1.113883.3.464.1003.109.12.1029")], None, {"history": True}),
    ("Procedure", "kidney_transplant", "Kidney transplant", [vsac("2.16.840.1.113883.3.464.1003.109.12.1012")], None,
     {}),
    ("Condition", "statin_muscle_symptoms", "Statin-associated muscle symptoms",
     [vsac("2.16.840.1.113762.1.4.1108.85")], None, {"history": True}),
    ("Condition", "rhabdomyolysis", "Rhabdomyolysis", [vsac("2.16.840.1.113762.1.4.1047.102")], None,
     {"history": True}),
    ("Condition", "liver_disease", "Liver disease", [vsac("2.16.840.1.113762.1.4.1047.42")], None, {}),
    ("Condition", "breastfeeding", "Breastfeeding", [vsac("2.16.840.1.113762.1.4.1047.73")], None, {}),
    ("MedicationRequest", "dementia_medication", "Dementia medication",
     [vsac("2.16.840.1.113883.3.464.1003.196.12.1510")], None, {"ingredient": True}),
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
    ("MedicationRequest", "statin", "Statin", [vsac("2.16.840.1.113762.1.4.1110.19"), STATIN_ALLERGEN], None,
     {"ingredient": True}),
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
    ("AllergyIntolerance", "ace_inhibitor", "ACE inhibitor allergy or intolerance", [ACE_INGREDIENTS], None,
     {"ingredient": True}),
    ("AllergyIntolerance", "arb", "ARB allergy or intolerance", [ARB_INGREDIENTS], None, {"ingredient": True}),
    ("AllergyIntolerance", "clopidogrel", "Clopidogrel allergy or intolerance", [CLOPIDOGREL], None,
     {"ingredient": True}),
]


def _requirement(resource_type: str, key: str, label: str, value_set: dict[str, Any], months: int | None,
                 options: dict[str, Any]) -> dict[str, Any]:
    extension = [ext("fact-key", valueCode=key), ext("fact-label", valueString=label)]
    for name, flag in (("fact-history", "history"), ("fact-event", "event"), ("match-ingredient", "ingredient")):
        if options.get(flag):
            extension.append(ext(name, valueBoolean=True))
    path = options.get("path") or {"MedicationRequest": "medication", "Encounter": "type",
                                   "Device": "type"}.get(resource_type, "code")
    canonical = f"{value_set['url']}|{value_set['version']}" if value_set.get("version") else value_set["url"]
    requirement: dict[str, Any] = {"type": resource_type, "extension": extension,
                                   "codeFilter": [{"path": path, "valueSet": canonical}]}
    date_path = {"Observation": "effective", "Condition": "onset", "ServiceRequest": "authoredOn"}.get(resource_type,
                                                                                                      "date")
    if months:
        requirement["dateFilter"] = [{"path": date_path, "valueDuration": {"value": months, "unit": "mo",
                                                                           "system": UCUM, "code": "mo"}}]
    elif options.get("lookback_weeks"):
        requirement["dateFilter"] = [{"path": date_path, "valueDuration": {
            "value": options["lookback_weeks"], "unit": "wk", "system": UCUM, "code": "wk"}}]
    return requirement


def library() -> dict[str, Any]:
    """The Library resource (type module-definition): one dataRequirement per (type, fact key, value set)."""
    requirements = []
    for resource_type, key, label, value_sets, months, options in SPECS:
        chosen = _register(*value_sets)
        extra = supplement(resource_type, key, label, chosen)
        if extra is not None:
            chosen += _register(extra)
        for value_set in chosen:
            requirements.append(_requirement(resource_type, key, label, value_set, months, options))
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
