"""The pack's Library: what to fetch (type + codes) and which fact key each match feeds (docs/facts.md).

Codes come from the sample data (Synthea) or from published value sets (eCQM, HL7 IGs) checked while
writing (cervical screening: the eCQM CMS124 value sets); medication classes list the RxNorm clinical drugs
seen in the data plus the ingredient codes, so an allergy or an order coded at ingredient level matches too.
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import BASE, ICD10, LOINC, RXNORM, SNOMED, UCUM, VERSION, ext

STATIN_INGREDIENTS = ["83367", "36567", "301542", "42463", "6472", "41127", "861634"]
ACE_INHIBITOR_INGREDIENTS = ["29046", "3827", "35296", "1998", "18867", "35208", "50166", "54552", "38454", "30131"]
ARB_INGREDIENTS = ["52175", "69749", "83818", "214354", "321064", "73494"]
OTHER_BP_INGREDIENTS = ["17767", "5487", "2409", "6918", "1202", "20352", "7417", "3443", "11170"]

PAP_TESTS = ["10524-7", "18500-9", "19762-4", "19764-0", "19765-7", "19766-5", "19774-9", "33717-0", "47527-7",
             "47528-5"]
HPV_TESTS = ["21440-3", "30167-1", "38372-9", "59263-4", "59264-2", "59420-0", "69002-4", "71431-1", "75694-0",
             "77379-6", "77399-4", "77400-0", "82354-2", "82456-5", "82675-0", "95539-3"]
ABSENT_CERVIX = ["10738891000119107", "248911005", "37687000", "428078001", "429290001", "429763009", "473171009",
                 "723171001"]
HYSTERECTOMY_NO_CERVIX = [
    "116140006", "116142003", "116143008", "116144002", "1163275000", "176697007", "236888001", "236891001",
    "24293001", "287924009", "307771009", "35955002", "361222003", "361223008", "387626007", "414575003",
    "41566006", "440383008", "446446002", "446679008", "46226009", "708877008", "708878003", "739671004",
    "739672006", "739673001", "739674007", "740514001", "740515000", "767610009", "767611008", "767612001",
    "82418001", "86477000", "88144003"]

# eCQM CMS130 (colorectal), CMS125 (breast) and CMS131 (diabetic eye exam) value sets
COLONOSCOPY = [
    "1209098000", "1217313001", "12350003", "1304042004", "1304043009", "1304044003", "1304045002", "1304049008",
    "1304050008", "174158000", "174173004", "174179000", "174185007", "235150006", "25732003", "302052009",
    "367535003", "443998000", "444783004", "446521004", "446745002", "447021001", "48021000087103",
    "48031000087101", "609197007", "709421007", "710293001", "711307001", "73761001", "771568007", "789778002",
    "8180007"]
FLEXIBLE_SIGMOIDOSCOPY = ["1217117008", "396226005", "44441009"]
TOTAL_COLECTOMY = [
    "26390003", "303401008", "307666008", "307667004", "307669001", "31130001", "36192008", "44751009", "456004",
    "713165008", "787108001", "787109009", "787874000", "787875004", "787876003", "80294005", "858579005"]
BILATERAL_MASTECTOMY = [
    "136071000119101", "14693006", "14714006", "17086001", "22418005", "27865001", "428529004", "456903003",
    "52314009", "59860000", "60633004", "726636007", "76468001"]
RETINAL_EXAM = [
    "6615001", "252779009", "252780007", "252781006", "252782004", "252783009", "252784003", "252788000",
    "252789008", "252790004", "274795007", "274798009", "308110009", "314971001", "314972008", "410451008",
    "410452001", "410453006", "410455004", "420213007", "425816006", "427478009", "722161008"]

# (resource type, fact key, label, [(system, code)], look-back in months or None)
REQUIREMENTS: list[tuple[str, str, str, list[tuple[str, str]], int | None]] = [
    ("Observation", "hba1c", "HbA1c", [(LOINC, "4548-4"), (LOINC, "17856-6")], 12),
    ("Observation", "bp_panel", "Blood pressure panel", [(LOINC, "85354-9"), (LOINC, "55284-4")], 12),
    ("Observation", "sbp", "Systolic blood pressure", [(LOINC, "8480-6")], 12),
    ("Observation", "dbp", "Diastolic blood pressure", [(LOINC, "8462-4")], 12),
    ("Observation", "total_cholesterol", "Total cholesterol", [(LOINC, "2093-3")], 60),
    ("Observation", "hdl", "HDL cholesterol", [(LOINC, "2085-9")], 60),
    ("Observation", "ldl", "LDL cholesterol", [(LOINC, "18262-6"), (LOINC, "13457-7"), (LOINC, "2089-1")], 60),
    ("Observation", "egfr", "eGFR", [(LOINC, "33914-3"), (LOINC, "62238-1"), (LOINC, "98979-8")], 12),
    ("Observation", "creatinine", "Serum creatinine", [(LOINC, "2160-0"), (LOINC, "38483-4")], 12),
    ("Observation", "uacr", "Urine albumin-to-creatinine ratio", [(LOINC, "9318-7"), (LOINC, "14959-1")], 12),
    ("Observation", "bmi", "BMI", [(LOINC, "39156-5")], 12),
    ("Observation", "weight", "Body weight", [(LOINC, "29463-7")], 12),
    ("Observation", "height", "Body height", [(LOINC, "8302-2")], 60),
    ("Observation", "smoking", "Smoking status", [(LOINC, "72166-2")], 12),
    ("Observation", "pack_years", "Cigarette pack-years", [(SNOMED, "401201003")], None),
    ("Observation", "phq9", "PHQ-9 total score", [(LOINC, "44261-6")], 12),
    ("Observation", "phq2", "PHQ-2 total score", [(LOINC, "55758-7")], 12),
    ("Observation", "fit", "Fecal immunochemical test", [(LOINC, "29771-3"), (LOINC, "57905-2")], None),
    ("Observation", "fit_dna", "Stool DNA-FIT (sDNA-FIT)", [(LOINC, "77353-1"), (LOINC, "77354-9")], None),
    ("Observation", "hcv_antibody", "Hepatitis C antibody", [(LOINC, "13955-0")], None),
    # Cervical cytology and HPV tests: the eCQM CMS124 "Pap Test" and "HPV Test" value sets.
    ("Observation", "pap_test", "Cervical cytology (Pap test)", [(LOINC, code) for code in PAP_TESTS], None),
    ("Observation", "hpv_test", "High-risk HPV test", [(LOINC, code) for code in HPV_TESTS], None),
    ("Observation", "cyp2c19", "CYP2C19 phenotype",
     [(LOINC, "53040-2"), (LOINC, "84413-4"), ("http://www.genenames.org/geneId", "HGNC:2621")], None),
    ("Observation", "slco1b1", "SLCO1B1 phenotype",
     [(LOINC, "53040-2"), (LOINC, "51961-1"), (LOINC, "84413-4"), ("http://www.genenames.org/geneId", "HGNC:10959")],
     None),
    ("Procedure", "colonoscopy", "Colonoscopy", [(SNOMED, code) for code in COLONOSCOPY], None),
    ("Procedure", "flexible_sigmoidoscopy", "Flexible sigmoidoscopy",
     [(SNOMED, code) for code in FLEXIBLE_SIGMOIDOSCOPY], None),
    ("Procedure", "ct_colonography", "CT colonography", [(SNOMED, "418714002")], None),
    ("Procedure", "stool_blood_test", "Fecal occult blood test", [(SNOMED, "1015401000000102")], None),
    ("Procedure", "mammography", "Mammography", [(SNOMED, "71651007")], None),
    ("Procedure", "cervical_cytology", "Cervical cytology",
     [(SNOMED, "90226004")], None),
    ("Procedure", "ldct", "Low-dose CT of the chest", [(SNOMED, "16334891000119106")], None),
    ("Procedure", "hcv_test", "Hepatitis C antibody test", [(SNOMED, "104375008")], None),
    ("Procedure", "foot_exam", "Diabetic foot examination", [(SNOMED, "401191002")], 12),
    ("Procedure", "depression_screening", "Depression screening", [(SNOMED, "171207006")], 12),
    ("Procedure", "total_colectomy", "Total colectomy", [(SNOMED, code) for code in TOTAL_COLECTOMY], None),
    ("Procedure", "bilateral_mastectomy", "Bilateral mastectomy", [(SNOMED, c) for c in BILATERAL_MASTECTOMY], None),
    ("Procedure", "retinal_exam", "Retinal or dilated eye exam", [(SNOMED, code) for code in RETINAL_EXAM], 12),
    ("Procedure", "total_hysterectomy", "Hysterectomy with no residual cervix",
     [(SNOMED, code) for code in HYSTERECTOMY_NO_CERVIX], None),
    ("Procedure", "pci", "Percutaneous coronary intervention", [(SNOMED, "415070008")], None),
    ("Procedure", "palliative_or_hospice_care", "Palliative or hospice care",
     [(SNOMED, "103735009"), (SNOMED, "385763009"), (SNOMED, "170935008"), (SNOMED, "170936009")], 12),
    ("Condition", "diabetes", "Type 2 diabetes",
     [(SNOMED, "44054006"), (SNOMED, "368581000119106"), (SNOMED, "422034002"), (SNOMED, "90781000119102"),
      (ICD10, "E11.9"), (ICD10, "E11.65"), (ICD10, "E11.21"), (ICD10, "E11.22"), (ICD10, "E11.29"),
      (ICD10, "E11.40"), (ICD10, "E11.42"), (ICD10, "E11.319"), (ICD10, "E11.649"), (ICD10, "E11.69"),
      (ICD10, "E11.8")], None),
    ("Condition", "hypertension", "Hypertension", [(SNOMED, "38341003"), (SNOMED, "59621000"), (ICD10, "I10")],
     None),
    ("Condition", "ckd", "Chronic kidney disease",
     [(SNOMED, "431855005"), (SNOMED, "431856006"), (SNOMED, "433144002"), (SNOMED, "431857002"),
      (SNOMED, "433146000"), (SNOMED, "46177005"), (SNOMED, "709044004"), (SNOMED, "127013003"),
      (ICD10, "N18.1"), (ICD10, "N18.2"), (ICD10, "N18.3"), (ICD10, "N18.30"), (ICD10, "N18.31"),
      (ICD10, "N18.32"), (ICD10, "N18.4"), (ICD10, "N18.5"), (ICD10, "N18.6"), (ICD10, "N18.9")], None),
    ("Condition", "ascvd", "Clinical ASCVD",
     [(SNOMED, "53741008"), (SNOMED, "22298006"), (SNOMED, "399211009"), (SNOMED, "401303003"),
      (SNOMED, "401314000"), (SNOMED, "230690007"), (SNOMED, "414545008"), (ICD10, "I25.10"), (ICD10, "I25.2"),
      (ICD10, "I21.9"), (ICD10, "I63.9"), (ICD10, "I73.9"), (ICD10, "Z86.73"), (ICD10, "G45.9")], None),
    ("Condition", "acs", "Acute coronary syndrome / myocardial infarction",
     [(SNOMED, "22298006"), (SNOMED, "401303003"), (SNOMED, "401314000"), (SNOMED, "399211009"),
      (ICD10, "I21.9"), (ICD10, "I21.4"), (ICD10, "I25.2")], None),
    ("Condition", "heart_failure", "Heart failure",
     [(SNOMED, "84114007"), (SNOMED, "88805009"), (SNOMED, "42343007"), (ICD10, "I50.9"), (ICD10, "I50.22"),
      (ICD10, "I50.32")], None),
    ("Condition", "pregnancy", "Pregnancy",
     [(SNOMED, "72892002"), (SNOMED, "77386006"), (ICD10, "Z33.1"), (ICD10, "Z34.00"), (ICD10, "Z34.90")], None),
    ("Condition", "angioedema", "Angioedema", [(SNOMED, "41291007"), (ICD10, "T78.3XXA")], None),
    ("Condition", "palliative_care", "Palliative or hospice care", [(ICD10, "Z51.5")], None),
    ("Condition", "colorectal_cancer", "Colorectal cancer",
     [(SNOMED, "363406005"), (SNOMED, "93761005"), (SNOMED, "109838007"), (ICD10, "C18.9"), (ICD10, "C19"),
      (ICD10, "C20")], None),
    ("Condition", "bilateral_mastectomy", "Absence of both breasts (bilateral mastectomy)", [(ICD10, "Z90.13")],
     None),
    ("Condition", "no_cervix", "Absence of cervix",
     [(ICD10, "Z90.710"), (ICD10, "Z90.712"), (ICD10, "Q51.5")] + [(SNOMED, code) for code in ABSENT_CERVIX], None),
    ("Condition", "hepatitis_c", "Hepatitis C", [(ICD10, "B18.2"), (ICD10, "B17.10"), (ICD10, "B19.20")], None),
    ("Condition", "depression", "Depression",
     [(SNOMED, "35489007"), (SNOMED, "370143000"), (ICD10, "F32.9"), (ICD10, "F32.A"), (ICD10, "F33.9")], None),
    ("MedicationRequest", "statin", "Statin",
     [(RXNORM, "312961"), (RXNORM, "316672"), (RXNORM, "617310"), (RXNORM, "617311"), (RXNORM, "259255")]
     + [(RXNORM, code) for code in STATIN_INGREDIENTS], None),
    ("MedicationRequest", "simvastatin", "Simvastatin",
     [(RXNORM, "312961"), (RXNORM, "316672"), (RXNORM, "36567")], None),
    ("MedicationRequest", "clopidogrel", "Clopidogrel", [(RXNORM, "309362"), (RXNORM, "32968")], None),
    ("MedicationRequest", "ace_inhibitor", "ACE inhibitor",
     [(RXNORM, "311353"), (RXNORM, "311354"), (RXNORM, "314076"), (RXNORM, "314077")]
     + [(RXNORM, code) for code in ACE_INHIBITOR_INGREDIENTS], None),
    ("MedicationRequest", "arb", "Angiotensin receptor blocker", [(RXNORM, code) for code in ARB_INGREDIENTS],
     None),
    ("MedicationRequest", "antihypertensive", "BP-lowering medication",
     [(RXNORM, "197361"), (RXNORM, "316049"), (RXNORM, "316052"), (RXNORM, "311353"), (RXNORM, "311354"),
      (RXNORM, "314076"), (RXNORM, "314077")]
     + [(RXNORM, code) for code in ACE_INHIBITOR_INGREDIENTS + ARB_INGREDIENTS + OTHER_BP_INGREDIENTS], None),
    ("MedicationRequest", "sglt2_inhibitor", "SGLT2 inhibitor",
     [(RXNORM, "1545653"), (RXNORM, "1488564"), (RXNORM, "1373458")], None),
    ("MedicationRequest", "glp1_ra", "GLP-1 receptor agonist",
     [(RXNORM, "475968"), (RXNORM, "1991302"), (RXNORM, "1551291")], None),
    ("MedicationRequest", "cessation_medication", "Tobacco cessation medication",
     [(RXNORM, "591622"), (RXNORM, "42347"), (RXNORM, "7407")], None),
    ("AllergyIntolerance", "statin", "Statin allergy or intolerance",
     [(RXNORM, code) for code in STATIN_INGREDIENTS], None),
    ("AllergyIntolerance", "ace_inhibitor", "ACE inhibitor allergy or intolerance",
     [(RXNORM, code) for code in ACE_INHIBITOR_INGREDIENTS], None),
    ("AllergyIntolerance", "arb", "ARB allergy or intolerance", [(RXNORM, code) for code in ARB_INGREDIENTS], None),
    ("AllergyIntolerance", "clopidogrel", "Clopidogrel allergy or intolerance", [(RXNORM, "32968")], None),
]


def library() -> dict[str, Any]:
    """The Library resource (type module-definition) with one dataRequirement per (type, fact key)."""
    requirements = []
    for resource_type, key, label, codes, months in REQUIREMENTS:
        requirement: dict[str, Any] = {
            "type": resource_type,
            "extension": [ext("fact-key", valueCode=key), ext("fact-label", valueString=label)],
            "codeFilter": [{"path": "code" if resource_type != "MedicationRequest" else "medication",
                            "code": [{"system": system, "code": code} for system, code in codes]}],
        }
        if months:
            requirement["dateFilter"] = [{"path": "effective" if resource_type == "Observation" else "date",
                                          "valueDuration": {"value": months, "unit": "mo", "system": UCUM,
                                                            "code": "mo"}}]
        requirements.append(requirement)
    return {
        "resourceType": "Library", "id": "carepath-primary-care-data", "url": f"{BASE}/Library/primary-care-data",
        "version": VERSION, "name": "primary_care_data", "title": "carepath primary care: data requirements",
        "status": "draft", "date": "2025-06-01", "publisher": "carepath clinical content",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type",
                             "code": "module-definition"}]},
        "description": "What the primary-care guideline packs read: resource types, codes, and the fact key each "
                       "match feeds (docs/facts.md). Look-back windows are this pack's data-freshness policy.",
        "dataRequirement": requirements,
    }
