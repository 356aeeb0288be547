"""Value-set recognition: codes from the bundled 2021 VSAC value sets that are not the "usual" code still reach
the right plan (offline: Bundle -> facts -> plan), and no code recognised before value sets is lost.

Fixtures: ``fhir_fixtures/recognition-*.json``, one patient each (ids ``rec-``), evaluated as of 2021-04-01.
Variants that would not be valid FHIR, or that only shift a date, are made in memory from a fixture.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.context import facts_from_bundle
from app.context.requirements import merge
from app.engine import build_plan, load_pack_set
from app.formats import medicine_name
from tests.conftest import FIXTURES, ROOT

AS_OF = "2021-04-01"
VALUE_SETS = ROOT / "packs" / "primary-care" / "valuesets"
BASELINE = ROOT / "app" / "engine" / "authoring" / "recognition_baseline.json"
FULL_URL_BASE = "http://carepath.dev/fhir/"

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"

# Value sets (VSAC OIDs, bundled in packs/primary-care/valuesets/).
COLONOSCOPY = "2.16.840.1.113883.3.464.1003.108.12.1020"
FOBT = "2.16.840.1.113883.3.464.1003.198.12.1011"
COLON_CANCER = "2.16.840.1.113883.3.464.1003.108.12.1001"
TOTAL_COLECTOMY = "2.16.840.1.113883.3.464.1003.198.12.1019"
DIABETES = "2.16.840.1.113883.3.464.1003.103.12.1001"
TYPE1_DIABETES = "2.16.840.1.113883.3.464.1003.103.12.1020"
HBA1C = "2.16.840.1.113883.3.464.1003.198.12.1013"
LDL = "2.16.840.1.113883.3.526.3.1573"
MYOCARDIAL_INFARCTION = "2.16.840.1.113883.3.526.3.403"
STATIN_GROUPER = "2.16.840.1.113762.1.4.1110.19"
STATIN_ALLERGEN = "2.16.840.1.113762.1.4.1110.42"
ESSENTIAL_HYPERTENSION = "2.16.840.1.113883.3.464.1003.104.12.1011"
BP_MEDICATION = "2.16.840.1.113883.3.526.1577"
HOME_HOSPICE_DISCHARGE = "2.16.840.1.113883.3.117.1.7.1.209"
MAMMOGRAPHY = "2.16.840.1.113883.3.464.1003.108.12.1018"
CT_COLONOGRAPHY = "2.16.840.1.113883.3.464.1003.108.12.1038"


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack():
    return load_pack_set()


def _bundle(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"recognition-{name}.json").read_text())


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def _only(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = _resources(bundle, resource_type)
    assert len(found) == 1, f"expected one {resource_type} in {bundle['id']}, found {len(found)}"
    return found[0]


def _without(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    copied = copy.deepcopy(bundle)
    copied["entry"] = [e for e in copied["entry"] if e["resource"]["resourceType"] != resource_type]
    return copied


def _changed(name: str, resource_type: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The fixture with ``change`` applied to its only resource of ``resource_type``."""
    bundle = copy.deepcopy(_bundle(name))
    change(_only(bundle, resource_type))
    return bundle


class Outcome:
    """The facts and plan of one Bundle, with the plan's item ids at hand."""

    def __init__(self, pack, bundle: dict[str, Any]) -> None:
        self.facts = facts_from_bundle(bundle, pack.requirements, AS_OF)
        self.plan = build_plan(self.facts, pack, AS_OF)
        self.activities = {a.id for a in self.plan.activities}
        self.goals = {g.id for g in self.plan.goals}
        self.not_recommended = {n["rule_id"]: n for n in self.plan.not_recommended}
        self.warnings: dict[str, list[dict[str, Any]]] = {}
        for warning in self.plan.warnings:
            self.warnings.setdefault(warning["rule_id"], []).append(warning)

    def reason(self, rule_id: str) -> str:
        assert rule_id in self.not_recommended, (
            f"{rule_id} not in not_recommended {sorted(self.not_recommended)}; activities {sorted(self.activities)}")
        return self.not_recommended[rule_id]["reason"]

    def refs(self, rule_id: str) -> list[tuple[str, str]]:
        return [(r["type"], r["id"]) for r in self.not_recommended[rule_id]["refs"]]


def _outcome(pack, bundle_or_name: dict[str, Any] | str) -> Outcome:
    bundle = _bundle(bundle_or_name) if isinstance(bundle_or_name, str) else bundle_or_name
    return Outcome(pack, bundle)


def _expansion(path: Path) -> set[tuple[str, str]]:
    resource = json.loads(path.read_text())
    found: set[tuple[str, str]] = set()

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("code") is not None:
                found.add((item.get("system"), item.get("code")))
            walk(item.get("contains") or [])

    walk((resource.get("expansion") or {}).get("contains") or [])
    return found


def _members(oid: str) -> set[tuple[str, str]]:
    return _expansion(VALUE_SETS / f"ValueSet-{oid}.json")


def _in_any_value_set(system: str, code: str) -> list[str]:
    return sorted(p.stem for p in VALUE_SETS.glob("ValueSet-*.json") if (system, code) in _expansion(p))


def _codes_in(bundle: dict[str, Any]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "system" in node and "code" in node:
                found.add((node["system"], node["code"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bundle)
    return found


# --- the fixtures themselves ---------------------------------------------------------------------------------


def test_fixtures__recognition_bundles_are_idempotent_transactions_with_rec_ids():
    paths = sorted(FIXTURES.glob("recognition-*.json"))
    assert len(paths) >= 17
    seen: dict[str, str] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name.startswith("recognition-"):
            continue
        for entry in json.loads(path.read_text()).get("entry", []):
            resource = entry.get("resource") or {}
            if resource.get("id"):
                seen[f"{resource['resourceType']}/{resource['id']}"] = path.name
    for path in paths:
        bundle = json.loads(path.read_text())
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction", path.name
        patients = _resources(bundle, "Patient")
        assert len(patients) == 1, f"{path.name}: one patient per file"
        own = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            key = f"{resource['resourceType']}/{resource['id']}"
            assert resource["id"].startswith("rec-"), key
            assert entry["request"] == {"method": "PUT", "url": key}, key
            assert entry["fullUrl"] == FULL_URL_BASE + key, f"{key}: fullUrl must be absolute (FHIR R4 Bundle)"
            assert key not in seen, f"{key} of {path.name} is also in {seen.get(key)}"
            seen[key] = path.name
            holder = resource.get("subject") or resource.get("patient")
            if resource["resourceType"] != "Patient":
                assert holder == {"reference": f"Patient/{patients[0]['id']}"}, key
                assert holder["reference"] in own, f"{key}: reference resolves inside the Bundle"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("recognition-*.json")), ids=lambda p: p.stem)
def test_fixtures__every_resource_is_valid_for_the_context_layer(pack, path):
    facts = facts_from_bundle(json.loads(path.read_text()), pack.requirements, AS_OF)
    assert facts["dataQuality"] == []
    assert facts["patient"]["id"] == json.loads(path.read_text())["id"]


#: (fixture, system, code, OID of the bundled value set that lists it)
LISTED = [
    ("colonoscopy-cpt", CPT, "44388", COLONOSCOPY),
    ("guaiac-fobt", LOINC, "2335-8", FOBT),
    ("caecum-cancer-history", ICD10CM, "C18.0", COLON_CANCER),
    ("total-colectomy-cpt", CPT, "44155", TOTAL_COLECTOMY),
    ("type1-diabetes", ICD10CM, "E10.9", DIABETES),
    ("type1-diabetes", ICD10CM, "E10.9", TYPE1_DIABETES),
    ("type1-diabetes", LOINC, "4548-4", HBA1C),
    ("type1-diabetes", LOINC, "18262-6", LDL),
    ("type1-diabetes-mi", SNOMED, "307140009", MYOCARDIAL_INFARCTION),
    ("statin-product", RXNORM, "1790679", STATIN_GROUPER),
    ("statin-product", ICD10CM, "E11.9", DIABETES),
    ("antihypertensive-products", ICD10CM, "I10", ESSENTIAL_HYPERTENSION),
    ("hospice-discharge", SNOMED, "428361000124107", HOME_HOSPICE_DISCHARGE),
    ("mammography-report", LOINC, "26175-0", MAMMOGRAPHY),
    ("ct-colonography-observation", LOINC, "79101-2", CT_COLONOGRAPHY),
    ("encounter-diagnosis", ICD10CM, "E11.9", DIABETES),
]
#: (fixture, system, code, value sets that must NOT list it: recognised another way, or not at all)
UNLISTED = [
    ("diabetes-subcode", ICD10CM, "E11.651", None),  # a subdivision of the listed E11.65
    ("statin-branded", RXNORM, "152923", None),  # simvastatin 40 MG Oral Tablet [Zocor]: by ingredient
    ("antihypertensive-products", RXNORM, "897718", None),  # verapamil ER: by ingredient
    ("antihypertensive-products", RXNORM, "866414", None),  # metoprolol succinate ER 50 mg tablet: by ingredient
    ("statin-allergy-product", RXNORM, "1790679", STATIN_ALLERGEN),  # a product; the allergen set lists ingredients
    ("statin-allergy-atorvastatin", RXNORM, "617311", STATIN_ALLERGEN),
    ("negatives", CPT, "73560", None),  # knee X-ray
    ("negatives", RXNORM, "308182", None),  # amoxicillin 250 MG Oral Capsule
    ("negatives", ICD10CM, "I10", DIABETES),
]


@pytest.mark.parametrize(("fixture", "system", "code", "oid"), LISTED, ids=[f"{f}-{c}" for f, _s, c, _o in LISTED])
def test_fixtures__codes_are_members_of_the_bundled_value_set(fixture, system, code, oid):
    assert (system, code) in _codes_in(_bundle(fixture))
    assert (system, code) in _members(oid), f"{system}|{code} is not in ValueSet-{oid}.json"


@pytest.mark.parametrize(("fixture", "system", "code", "oid"), UNLISTED,
                         ids=[f"{f}-{c}" for f, _s, c, _o in UNLISTED])
def test_fixtures__codes_recognised_otherwise_are_not_listed(fixture, system, code, oid):
    assert (system, code) in _codes_in(_bundle(fixture))
    if oid is None:
        assert _in_any_value_set(system, code) == []
    else:
        assert (system, code) not in _members(oid)


def test_fixtures__the_subcode_is_a_subdivision_of_a_listed_code():
    assert (ICD10CM, "E11.651") not in _members(DIABETES)
    assert (ICD10CM, "E11.65") in _members(DIABETES)


# --- 1, 2, 11: colorectal screening satisfied by tests recorded in uncommon codes ---------------------------


def test_colorectal_screening__cpt_colonoscopy_through_stoma_2016_satisfies_it(pack):
    outcome = _outcome(pack, "colonoscopy-cpt")

    assert outcome.facts["patient"]["ageYears"] == 60
    assert outcome.facts["procedures"]["colonoscopy"]["code"] == "44388"
    assert outcome.facts["procedures"]["colonoscopy"]["source"] == "Procedure"
    assert "screen.colorectal" not in outcome.activities
    assert outcome.reason("screen.colorectal") == (
        "Colonoscopy on 10 May 2016 is within 10 years (next due 10 May 2026)")
    assert outcome.refs("screen.colorectal") == [("Procedure", "rec-colonoscopy-cpt-procedure-1")]


def test_colorectal_screening__proposed_for_the_same_patient_without_the_colonoscopy(pack):
    outcome = _outcome(pack, _without(_bundle("colonoscopy-cpt"), "Procedure"))

    assert "colonoscopy" not in outcome.facts["procedures"]
    assert "screen.colorectal" in outcome.activities
    assert "screen.colorectal" not in outcome.not_recommended


def test_colorectal_screening__colonoscopy_more_than_10_years_ago_does_not_satisfy_it(pack):
    bundle = _changed("colonoscopy-cpt", "Procedure", lambda p: p.update(performedDateTime="2010-05-10"))
    outcome = _outcome(pack, bundle)

    assert outcome.facts["procedures"]["colonoscopy"]["date"] == "2010-05-10"
    assert "screen.colorectal" in outcome.activities


def test_colorectal_screening__guaiac_fobt_coded_negative_within_a_year_satisfies_it(pack):
    outcome = _outcome(pack, "guaiac-fobt")

    fit = outcome.facts["measures"]["fit"]
    assert fit["code"] == f"{LOINC}|2335-8"
    assert fit["valueCode"]["code"] == "260385009"
    assert "screen.colorectal" not in outcome.activities
    assert "2 Nov 2020 is within 1 year" in outcome.reason("screen.colorectal")
    assert outcome.refs("screen.colorectal") == [("Observation", "rec-guaiac-fobt-observation-1")]


def test_colorectal_screening__guaiac_fobt_reported_as_text_satisfies_it(pack):
    def as_text(observation: dict[str, Any]) -> None:
        del observation["valueCodeableConcept"]
        observation["valueString"] = "negative"

    outcome = _outcome(pack, _changed("guaiac-fobt", "Observation", as_text))

    assert outcome.facts["measures"]["fit"]["valueCode"] == {"text": "negative"}
    assert "screen.colorectal" not in outcome.activities
    assert "within 1 year" in outcome.reason("screen.colorectal")


def test_colorectal_screening__guaiac_fobt_older_than_a_year_does_not_satisfy_it(pack):
    bundle = _changed("guaiac-fobt", "Observation", lambda o: o.update(effectiveDateTime="2020-03-01"))
    outcome = _outcome(pack, bundle)

    assert "fit" in outcome.facts["measures"]
    assert "screen.colorectal" in outcome.activities


def test_colorectal_screening__ct_colonography_observation_2_years_ago_satisfies_it(pack):
    outcome = _outcome(pack, "ct-colonography-observation")

    event = outcome.facts["procedures"]["ct_colonography"]
    assert (event["code"], event["source"], event["date"]) == ("79101-2", "Observation", "2019-03-15")
    assert "ct_colonography" not in outcome.facts["measures"]  # an event, not a value
    assert "screen.colorectal" not in outcome.activities
    assert outcome.reason("screen.colorectal") == (
        "CT colonography on 15 Mar 2019 is within 5 years (next due 15 Mar 2024)")


# --- 3: exclusions from colorectal screening ----------------------------------------------------------------


def test_colorectal_screening__resolved_caecum_cancer_means_surveillance_not_screening(pack):
    outcome = _outcome(pack, "caecum-cancer-history")

    cancer = outcome.facts["conditions"]["colorectal_cancer"]
    assert (cancer["code"], cancer["status"]) == ("C18.0", "history")
    assert "screen.colorectal" not in outcome.activities
    reason = outcome.reason("screen.colorectal")
    assert "surveillance" in reason and "Malignant neoplasm of cecum" in reason


def test_colorectal_screening__cpt_total_colectomy_excludes_it(pack):
    outcome = _outcome(pack, "total-colectomy-cpt")

    assert outcome.facts["procedures"]["total_colectomy"]["code"] == "44155"
    assert "screen.colorectal" not in outcome.activities
    assert outcome.reason("screen.colorectal") == "total colectomy recorded (5 Mar 2014)"


# --- 4: type 1 diabetes ---------------------------------------------------------------------------------------


def test_diabetes__type1_e10_9_applies_the_diabetes_area_and_a_moderate_intensity_statin(pack):
    outcome = _outcome(pack, "type1-diabetes")

    assert set(outcome.facts["conditions"]) >= {"diabetes", "type1_diabetes"}
    assert outcome.facts["measures"]["hba1c"]["value"] == 8.2
    assert outcome.facts["measures"]["ldl"]["value"] == 120
    assert "t2d.hba1c-goal" in outcome.goals
    assert "t2d.hba1c-test-not-at-goal" in outcome.activities
    assert "t2d.hba1c-test-at-goal" not in outcome.activities
    assert "lipid.diabetes" in outcome.activities
    assert "lipid.secondary-prevention" not in outcome.activities
    # No clinical ASCVD or heart failure: the GLP-1 RA / SGLT2 rule does not apply at all.
    assert "t2d.cardiorenal-agent" not in outcome.activities
    assert "t2d.cardiorenal-agent" not in outcome.not_recommended


def test_diabetes__type1_with_acute_non_q_wave_mi_gets_high_intensity_statin_and_no_cardiorenal_agent(pack):
    outcome = _outcome(pack, "type1-diabetes-mi")

    assert outcome.facts["conditions"]["ascvd"]["code"] == "307140009"
    assert "lipid.secondary-prevention" in outcome.activities
    assert "lipid.diabetes" not in outcome.activities  # clinical ASCVD takes precedence
    assert "t2d.cardiorenal-agent" not in outcome.activities
    reason = outcome.reason("t2d.cardiorenal-agent")
    assert "type 1 diabetes" in reason and "Type 1 diabetes mellitus without complications" in reason


def test_ascvd__resolved_acute_mi_still_counts_as_clinical_ascvd(pack):
    def resolved(condition: dict[str, Any]) -> None:
        condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
        condition["abatementDateTime"] = "2019-07-20"

    bundle = copy.deepcopy(_bundle("type1-diabetes-mi"))
    mi = next(c for c in _resources(bundle, "Condition") if c["code"]["coding"][0]["code"] == "307140009")
    resolved(mi)
    outcome = _outcome(pack, bundle)

    assert outcome.facts["conditions"]["acs"]["status"] == "history"
    assert outcome.facts["conditions"]["ascvd"]["status"] == "history"  # CMS347, 2018 ACC/AHA: a history of MI
    assert "lipid.secondary-prevention" in outcome.activities
    assert "lipid.diabetes" not in outcome.activities


# --- 5: ICD-10-CM subdivision ---------------------------------------------------------------------------------


def test_diabetes__icd10cm_subdivision_of_a_listed_code_is_recognised_as_subcode(pack):
    outcome = _outcome(pack, "diabetes-subcode")

    diabetes = outcome.facts["conditions"]["diabetes"]
    assert (diabetes["code"], diabetes["matchedBy"], diabetes["status"]) == ("E11.651", "subcode", "active")
    assert "t2d.hba1c-goal" in outcome.goals
    assert "t2d.hba1c-test-due" in outcome.activities


def test_diabetes__subcode_match_is_shown_by_the_facts_cli(capsys):
    path = FIXTURES / "recognition-diabetes-subcode.json"

    assert main(["facts", str(path), "--as-of", AS_OF]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["conditions"]["diabetes"]["matchedBy"] == "subcode"


def test_diabetes__the_icd10cm_category_alone_is_not_a_listed_code(pack):
    bundle = _changed("diabetes-subcode", "Condition", lambda c: c["code"]["coding"][0].update(code="E11"))
    outcome = _outcome(pack, bundle)

    assert "diabetes" not in outcome.facts["conditions"]
    assert "t2d.hba1c-goal" not in outcome.goals


# --- 6: statins coded as products ------------------------------------------------------------------------------


def test_statin__listed_product_code_means_already_on_a_statin(pack):
    outcome = _outcome(pack, "statin-product")

    statin = outcome.facts["medications"]["statin"]
    assert [(s["code"], s.get("matchedBy")) for s in statin] == [("1790679", None)]
    assert "lipid.diabetes" not in outcome.activities
    assert "lipid.diabetes.instead" in outcome.activities  # statin review, not a start
    assert "simvastatin 4 mg/mL" in outcome.reason("lipid.diabetes")


def test_statin__branded_product_not_in_the_value_set_is_recognised_by_ingredient(pack):
    outcome = _outcome(pack, "statin-branded")

    statin = outcome.facts["medications"]["statin"]
    assert [(s["code"], s.get("matchedBy")) for s in statin] == [("152923", "ingredient")]
    assert [s["code"] for s in outcome.facts["medications"]["simvastatin"]] == ["152923"]
    assert "lipid.diabetes" not in outcome.activities
    assert "lipid.diabetes.instead" in outcome.activities
    assert "simvastatin 40 mg" in outcome.reason("lipid.diabetes")


def test_statin__stopped_product_is_not_current_therapy(pack):
    bundle = _changed("statin-branded", "MedicationRequest", lambda m: m.update(status="stopped"))
    outcome = _outcome(pack, bundle)

    assert "statin" not in outcome.facts["medications"]
    assert "lipid.diabetes" in outcome.activities


# --- 7: BP-lowering products -----------------------------------------------------------------------------------


def test_blood_pressure__extended_release_products_count_as_treatment(pack):
    outcome = _outcome(pack, "antihypertensive-products")

    treatment = outcome.facts["medications"]["antihypertensive"]
    assert sorted((m["code"], m.get("matchedBy")) for m in treatment) == [
        ("866414", "ingredient"), ("897718", "ingredient")]
    assert (outcome.facts["bp"]["sbp"], outcome.facts["bp"]["dbp"]) == (150, 95)
    assert not outcome.activities & {"htn.medication-stage1", "htn.medication-stage2", "htn.recheck-after-start",
                                     "htn.confirm-out-of-office"}
    assert "htn.treatment-review" in outcome.activities
    assert "htn.bp-goal" in outcome.goals


def test_blood_pressure__the_same_patient_untreated_is_offered_medication(pack):
    outcome = _outcome(pack, _without(_bundle("antihypertensive-products"), "MedicationRequest"))

    assert "htn.medication-stage2" in outcome.activities
    assert "htn.treatment-review" not in outcome.activities


# --- 8: statin allergy coded as a product ----------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "display"), [
    ("statin-allergy-product", "simvastatin 4 MG/ML Oral Suspension"),
    ("statin-allergy-atorvastatin", "atorvastatin 40 MG Oral Tablet"),
])
def test_statin_allergy__product_code_raises_the_contraindication(pack, fixture, display):
    outcome = _outcome(pack, fixture)

    allergy = outcome.facts["allergies"]["statin"]
    assert [(a["display"], a.get("matchedBy")) for a in allergy] == [(display, "ingredient")]
    assert "lipid.diabetes" not in outcome.activities
    shown = medicine_name(display)  # warnings name the ingredient and its strength
    assert outcome.reason("lipid.diabetes") == f"statin allergy or intolerance recorded: {shown}"
    assert [(w["severity"], w["message"]) for w in outcome.warnings["lipid.diabetes"]] == [
        ("high", f"statin allergy or intolerance recorded: {shown}")]
    assert ("AllergyIntolerance", f"rec-{fixture}-allergyintolerance-2") in outcome.refs("lipid.diabetes")


def test_statin_allergy__refuted_product_allergy_is_ignored(pack):
    bundle = _changed("statin-allergy-atorvastatin", "AllergyIntolerance",
                      lambda a: a["verificationStatus"]["coding"][0].update(code="refuted"))
    outcome = _outcome(pack, bundle)

    assert "statin" not in outcome.facts["allergies"]
    assert "lipid.diabetes" in outcome.activities


# --- 9: hospice discharge disposition ---------------------------------------------------------------------------


def test_screening__discharge_home_for_hospice_care_excludes_cancer_screening(pack):
    outcome = _outcome(pack, "hospice-discharge")

    hospice = outcome.facts["procedures"]["palliative_or_hospice_care"]
    assert (hospice["code"], hospice["source"], hospice["withinLookback"]) == ("428361000124107", "Encounter", True)
    for rule_id in ("screen.colorectal", "screen.breast", "screen.cervical"):
        assert rule_id not in outcome.activities
        assert outcome.reason(rule_id) == "palliative or hospice care recorded: screening not proposed"
        assert outcome.refs(rule_id) == [("Encounter", "rec-hospice-discharge-encounter-1")]


def test_screening__hospice_discharge_more_than_12_months_ago_does_not_exclude_it(pack):
    bundle = _changed("hospice-discharge", "Encounter",
                      lambda e: e.update(period={"start": "2019-01-10", "end": "2019-01-20"}))
    outcome = _outcome(pack, bundle)

    assert outcome.facts["procedures"]["palliative_or_hospice_care"]["withinLookback"] is False
    assert {"screen.colorectal", "screen.breast"} <= outcome.activities


# --- 10: mammography as a DiagnosticReport ---------------------------------------------------------------------


def test_breast_screening__mammography_diagnostic_report_satisfies_it(pack):
    outcome = _outcome(pack, "mammography-report")

    event = outcome.facts["procedures"]["mammography"]
    assert (event["code"], event["source"], event["date"]) == ("26175-0", "DiagnosticReport", "2020-05-20")
    assert "screen.breast" not in outcome.activities
    assert outcome.reason("screen.breast") == "Mammography on 20 May 2020 is within 2 years (next due 20 May 2022)"
    assert outcome.refs("screen.breast") == [("DiagnosticReport", "rec-mammography-report-diagnosticreport-1")]
    assert "screen.colorectal" in outcome.activities  # a mammogram is not a colorectal test


def test_breast_screening__preliminary_mammography_report_does_not_satisfy_it(pack):
    bundle = _changed("mammography-report", "DiagnosticReport", lambda r: r.update(status="preliminary"))
    outcome = _outcome(pack, bundle)

    assert "mammography" not in outcome.facts["procedures"]
    assert "screen.breast" in outcome.activities


# --- 12: Condition without clinicalStatus ----------------------------------------------------------------------


def test_condition_status__encounter_diagnosis_without_clinical_status_is_active(pack):
    outcome = _outcome(pack, "encounter-diagnosis")

    assert "clinicalStatus" not in _only(_bundle("encounter-diagnosis"), "Condition")
    assert outcome.facts["conditions"]["diabetes"]["status"] == "active"
    assert "t2d.hba1c-goal" in outcome.goals
    assert "lipid.diabetes" in outcome.activities


def test_condition_status__abatement_without_clinical_status_ends_it(pack):
    # Not valid FHIR R4 (con-4: an abated condition needs clinicalStatus inactive, resolved or remission), so it
    # is made in memory: systems that do not validate send it, and the abatement must still end the condition.
    bundle = _changed("encounter-diagnosis", "Condition", lambda c: c.update(abatementDateTime="2018-06-01"))
    outcome = _outcome(pack, bundle)

    assert "diabetes" not in outcome.facts["conditions"]
    assert not {g for g in outcome.goals if g.startswith("t2d.")}
    assert not {a for a in outcome.activities if a.startswith("t2d.")}
    assert "lipid.diabetes" not in outcome.activities


# --- 13: negatives -------------------------------------------------------------------------------------------


def test_recognition__knee_xray_is_not_a_colonoscopy(pack):
    outcome = _outcome(pack, "negatives")

    assert outcome.facts["procedures"] == {}
    assert "screen.colorectal" in outcome.activities
    assert "screen.colorectal" not in outcome.not_recommended


def test_recognition__hypertension_is_not_diabetes(pack):
    outcome = _outcome(pack, "negatives")

    assert set(outcome.facts["conditions"]) == {"hypertension"}
    assert not {g for g in outcome.goals if g.startswith("t2d.")}
    assert "htn.bp-goal" in outcome.goals


def test_recognition__amoxicillin_is_not_a_statin(pack):
    outcome = _outcome(pack, "negatives")

    assert set(outcome.facts["medications"]) == {"other"}
    assert [m["code"] for m in outcome.facts["medications"]["other"]] == ["308182"]
    assert outcome.facts["dataQuality"] == []  # a readable RxNorm product that is simply in no class


# --- differential: every code recognised before value sets is still recognised -----------------------------


def _baseline() -> list[list[str]]:
    return json.loads(BASELINE.read_text())


def test_recognition__baseline_codes_still_match_the_pack_requirements(pack):
    wanted = merge(pack.requirements)
    rows = _baseline()
    lost = []
    for resource_type, key, system, code in rows:
        requirement = wanted.of(resource_type).get(key)
        if requirement is None:
            lost.append(f"{resource_type} {key}: no such key ({system}|{code})")
        elif not requirement.matches({"system": system, "code": code}):
            lost.append(f"{resource_type} {key}: {system}|{code} no longer matches")
    assert len(rows) > 300
    assert lost == [], f"{len(lost)} of {len(rows)} baseline codes lost:\n" + "\n".join(lost)


_RESOURCE = {
    "Condition": lambda coding: {
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [coding]}, "onsetDateTime": "2015-01-01"},
    "MedicationRequest": lambda coding: {"status": "active", "intent": "order",
                                         "medicationCodeableConcept": {"coding": [coding]},
                                         "authoredOn": "2020-01-01"},
    "AllergyIntolerance": lambda coding: {"code": {"coding": [coding]}},
    "Procedure": lambda coding: {"status": "completed", "code": {"coding": [coding]},
                                 "performedDateTime": "2021-01-01"},
}
_SECTION = {"Condition": "conditions", "MedicationRequest": "medications", "AllergyIntolerance": "allergies",
            "Procedure": "procedures"}


def test_recognition__baseline_codes_reach_the_facts(pack):
    """End to end for the coded types (a bare coding, no display): each baseline code alone in a Bundle feeds
    its key in the facts. Observation rows are values whose units matter; the test above covers their codes."""
    wanted = merge(pack.requirements)
    patient = {"resourceType": "Patient", "id": "rec-baseline", "gender": "male", "birthDate": "1960-01-01"}
    rows = [row for row in _baseline() if row[0] in _RESOURCE]
    lost = []
    for index, (resource_type, key, system, code) in enumerate(rows):
        resource = {"resourceType": resource_type, "id": f"rec-baseline-{index}",
                    "patient" if resource_type == "AllergyIntolerance" else "subject": {
                        "reference": "Patient/rec-baseline"},
                    **_RESOURCE[resource_type]({"system": system, "code": code})}
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"resource": patient}, {"resource": resource}]}
        facts = facts_from_bundle(bundle, wanted, AS_OF)
        if key not in facts[_SECTION[resource_type]]:
            lost.append(f"{resource_type} {key}: {system}|{code} -> {sorted(facts[_SECTION[resource_type]])}")
    assert len(rows) > 250
    assert lost == [], f"{len(lost)} of {len(rows)} baseline codes do not reach the facts:\n" + "\n".join(lost)


# --- through a FHIR server ----------------------------------------------------------------------------------


def _plan_ids(plan) -> dict[str, list[str]]:
    return {"goals": sorted(g.id for g in plan.goals), "activities": sorted(a.id for a in plan.activities),
            "not_recommended": sorted(n["rule_id"] for n in plan.not_recommended),
            "warnings": sorted(w["rule_id"] for w in plan.warnings)}


def test_bundle__references_to_urn_uuid_full_urls_reach_the_patient_whose_id_differs(pack):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1c0b0e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "id": "rec-alias", "gender": "female", "birthDate": "1960-01-01"},
         "request": {"method": "PUT", "url": "Patient/rec-alias"}},
        {"fullUrl": "urn:uuid:6f1c0b0e-0000-4000-8000-000000000002",
         "resource": {"resourceType": "Condition", "id": "rec-alias-dm", "code": {"coding": [
             {"system": ICD10CM, "code": "E11.9"}]},
             "subject": {"reference": "urn:uuid:6f1c0b0e-0000-4000-8000-000000000001"}},
         "request": {"method": "PUT", "url": "Condition/rec-alias-dm"}}]}
    facts = facts_from_bundle(bundle, pack.requirements, AS_OF)
    assert facts["patient"]["id"] == "rec-alias"
    assert facts["conditions"]["diabetes"]["refs"] == [{"type": "Condition", "id": "rec-alias-dm", "version": None}]
