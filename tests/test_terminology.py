"""app.terminology: code systems, RxNorm names, value sets read from the published VSAC files, and resolution
through a pack or a terminology server (played with ``responses``)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from app.errors import PackError
from app.fhir.client import FhirClient
from app.terminology import rxnorm
from app.terminology.codes import CPT, ICD9CM, ICD10CM, LOINC, RXNORM, SNOMED, ancestors, key_of, system_of
from app.terminology.resolve import resolve_value_sets
from app.terminology.server import PAGE, TerminologyServer
from app.terminology.valuesets import Concept, ValueSet, from_resource

VALUESETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "valuesets"
VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"

STATINS = "2.16.840.1.113762.1.4.1110.19"  # Statin Grouper
HYPERTENSION_DRUGS = "2.16.840.1.113883.3.526.1577"  # Pharmacologic Therapy for Hypertension
HYPOGLYCEMICS = "2.16.840.1.113762.1.4.1179.3"  # Hypoglycemics
DIABETES = "2.16.840.1.113883.3.464.1003.103.12.1001"  # Diabetes
COLONOSCOPY = "2.16.840.1.113883.3.464.1003.108.12.1020"  # Colonoscopy
COLON_CANCER = "2.16.840.1.113883.3.464.1003.108.12.1001"  # Malignant Neoplasm of Colon
MYOCARDIAL_INFARCTION = "2.16.840.1.113883.3.526.3.403"  # Myocardial Infarction
FOBT = "2.16.840.1.113883.3.464.1003.198.12.1011"  # Fecal Occult Blood Test (FOBT)
TOTAL_COLECTOMY_CPT = "2.16.840.1.113883.3.464.1003.198.11.1036"  # Total Colectomy (CPT), compose only
TOTAL_COLECTOMY_ICD9 = "2.16.840.1.113883.3.464.1003.198.11.1136"  # Total Colectomy (ICD-9-CM procedures), compose only

ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"


@cache
def resource(oid: str) -> dict[str, Any]:
    """A published ValueSet file (most are named ``valueset-<OID>.json``, a few ``<OID>.json``)."""
    for name in (f"valueset-{oid}.json", f"{oid}.json"):
        path = VALUESETS / name
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no published value set {oid} in {VALUESETS}")


@cache
def vsac(oid: str) -> ValueSet:
    return from_resource(resource(oid), source="shared/data/valuesets")


def concept(oid: str, by_ingredient: bool = False) -> Concept:
    return Concept([vsac(oid)], by_ingredient=by_ingredient)


# -- codes ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("system", "canonical"), [
    (ICD10CM_OID, ICD10CM),
    (SNOMED_OID, SNOMED),
    (CPT_OID, CPT),
    ("urn:oid:2.16.840.1.113883.6.88", RXNORM),
    ("urn:oid:2.16.840.1.113883.6.1", LOINC),
    ("http://snomed.info/sct/", SNOMED),
    (SNOMED, SNOMED),
    ("http://example.org/local-codes", "http://example.org/local-codes"),
])
def test_system_of__aliases_name_the_canonical_system(system, canonical):
    assert system_of(system) == canonical


@pytest.mark.parametrize("system", [None, "", 42])
def test_system_of__no_system_is_none(system):
    assert system_of(system) is None


@pytest.mark.parametrize(("system", "code", "key"), [
    (ICD10CM, "e119", (ICD10CM, "E11.9")),
    (ICD10CM_OID, "e119", (ICD10CM, "E11.9")),
    (ICD10CM, "E11.9", (ICD10CM, "E11.9")),
    (ICD10CM, " e11.9 ", (ICD10CM, "E11.9")),
    (ICD10CM, "E1165", (ICD10CM, "E11.65")),
    (ICD10CM, "E11", (ICD10CM, "E11")),
    (SNOMED_OID, "44054006", (SNOMED, "44054006")),
    (CPT_OID, "44388", (CPT, "44388")),
    (LOINC, "2335-8", (LOINC, "2335-8")),
])
def test_key_of__normalises_system_and_icd10_code(system, code, key):
    assert key_of(system, code) == key


@pytest.mark.parametrize(("system", "code"), [(None, "E11.9"), (ICD10CM, None), (ICD10CM, "  "), (SNOMED, 44054006)])
def test_key_of__missing_system_or_code_is_none(system, code):
    assert key_of(system, code) is None


# ICD-9-CM's dot sits after 3 characters for diagnoses, 4 for E codes and 2 for procedures: compared without it.
@pytest.mark.parametrize(("system", "code", "key"), [
    ("urn:oid:2.16.840.1.113883.6.104", "4582", (ICD9CM, "4582")),
    (ICD9CM, "45.82", (ICD9CM, "4582")),
    (ICD9CM, "E8490", (ICD9CM, "E8490")),
    (ICD9CM, "e849.0", (ICD9CM, "E8490")),
    ("urn:oid:2.16.840.1.113883.6.103", "250.00", (ICD9CM, "25000")),
])
def test_key_of__icd9cm_codes_with_or_without_their_dot(system, code, key):
    assert key_of(system, code) == key


@pytest.mark.parametrize(("system", "code", "found"), [
    (ICD10CM, "E10.649", ("E10.64", "E10.6", "E10")),
    (ICD10CM, "E11.9", ("E11",)),
    (ICD10CM, "T38.3X5A", ("T38.3X5", "T38.3X", "T38.3", "T38")),
    (ICD10CM, "E11", ()),
    (SNOMED, "44054006", ()),
    (LOINC, "2335-8", ()),
])
def test_ancestors__icd10cm_by_position_nearest_first_and_none_elsewhere(system, code, found):
    assert ancestors(system, code) == found


# -- RxNorm names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "ingredients", "moieties"), [
    ("simvastatin 20 MG Oral Tablet", ("simvastatin",), ("simvastatin",)),  # SCD
    ("pravastatin sodium 40 MG Oral Tablet", ("pravastatin sodium",), ("pravastatin",)),  # precise ingredient
    ("atorvastatin 40 MG Oral Tablet [Lipitor]", ("atorvastatin",), ("atorvastatin",)),  # SBD
    ("24 HR metoprolol succinate 50 MG Extended Release Oral Tablet", ("metoprolol succinate",), ("metoprolol",)),
    ("0.4 ML enoxaparin sodium 100 MG/ML Prefilled Syringe", ("enoxaparin sodium",), ("enoxaparin",)),
    ("amlodipine 5 MG / benazepril hydrochloride 10 MG Oral Capsule", ("amlodipine", "benazepril hydrochloride"),
     ("amlodipine", "benazepril")),
    ("24 HR hydrochlorothiazide 12.5 MG / metoprolol succinate 25 MG Extended Release Oral Tablet [Dutoprol]",
     ("hydrochlorothiazide", "metoprolol succinate"), ("hydrochlorothiazide", "metoprolol")),
    ("lisinopril", ("lisinopril",), ("lisinopril",)),  # an ingredient (IN) alone
    # Synthea capitalises the first word of an ingredient only: the salt is not where the ingredient starts
    ("24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", ("metformin hydrochloride",),
     ("metformin",)),
    ("Naproxen sodium 220 MG Oral Tablet", ("naproxen sodium",), ("naproxen",)),
    ("", (), ()),
    ("   ", (), ()),
    (None, (), ()),
    (42, (), ()),
    (["simvastatin"], (), ()),
])
def test_rxnorm__reads_normalised_names(name, ingredients, moieties):
    assert rxnorm.ingredients(name) == ingredients
    assert rxnorm.moieties(name) == moieties


@pytest.mark.parametrize(("name", "ingredients"), [
    ("{7 (inert ingredients 1 MG Oral Tablet) / 21 (levonorgestrel 0.15 MG Oral Tablet) } Pack",
     ("levonorgestrel",)),
    ("{21 (ethinyl estradiol 0.03 MG / levonorgestrel 0.15 MG Oral Tablet) / 7 (inert ingredients 1 MG Oral Tablet) }"
     " Pack [Seasonale]", ("ethinyl estradiol", "levonorgestrel")),
])
def test_rxnorm__pack_lists_each_part(name, ingredients):
    assert rxnorm.ingredients(name) == ingredients
    assert "levonorgestrel" in rxnorm.moieties(name)


def test_rxnorm__placebo_tablets_of_a_pack_are_no_active_moiety():
    name = "{7 (inert ingredients 1 MG Oral Tablet) / 21 (levonorgestrel 0.15 MG Oral Tablet) } Pack"
    assert rxnorm.moieties(name) == ("levonorgestrel",)


# Real RxNorm names (codes from the 2021 value sets, the last from the Synthea sample) with prefixes before the
# ingredient: quantity factors, qualitative distinctions, dose prefixes, NDA numbers.
MISREAD = [
    ("Modified 24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", ("metformin",),
     "1807915, Hypoglycemics: a release qualifier before the quantity factor gives ('modified',)"),
    ("Osmotic 24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", ("metformin",),
     "1807917, Hypoglycemics: gives ('osmotic',)"),
    ("1 MG Dose 1.5 ML semaglutide 1.34 MG/ML Pen Injector", ("semaglutide",),
     "1991316, Hypoglycemics: a dose prefix before the quantity factor gives ('dose',)"),
    ("0.25 MG, 0.5 MG Dose 1.5 ML semaglutide 1.34 MG/ML Pen Injector", ("semaglutide",),
     "1991306, Hypoglycemics: gives (), so this member is missed by its ingredient"),
    ("40/60 Release 24 HR methylphenidate hydrochloride 10 MG Extended Release Oral Capsule", ("methylphenidate",),
     "1806200, ADHD Medications: gives ()"),
    ("3-Month 1.5 ML leuprolide acetate 20 MG/ML Prefilled Syringe", ("leuprolide",), "1946519: gives ()"),
    ("{1 (118 ML) (dextromethorphan hydrobromide 1 MG/ML / phenylephrine hydrochloride 0.5 MG/ML Oral Solution) / "
     "1 (118 ML) (diphenhydramine hydrochloride 1.25 MG/ML / phenylephrine hydrochloride 0.5 MG/ML Oral Solution) "
     "} Pack", ("dextromethorphan", "phenylephrine", "diphenhydramine"),
     "1730190: a pack part with its own quantity '(118 ML)' gives ()"),
    ("5-hydroxytryptophan 100 MG Oral Capsule", ("5-hydroxytryptophan",),
     "410503: an ingredient whose name starts with a digit gives ()"),
    ("insulin, regular, human 100 UNT/ML Injectable Solution", ("insulin",),
     "311034, Hypoglycemics: the comma stays, ('insulin,',), a moiety apart from 'insulin' (insulin glargine)"),
    ("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector", ("epinephrine",),
     "1870230, Synthea: an NDA prefix before the quantity factor gives ('nda020800',)"),
]


@pytest.mark.parametrize(("name", "moieties"), [
    pytest.param(name, moieties, id=re.match(r"\d+", why).group()) for name, moieties, why in MISREAD
])
def test_rxnorm__reads_real_names_with_prefixes(name, moieties):
    assert rxnorm.moieties(name) == moieties


def test_from_resource__hypoglycemics_learn_no_qualifier_as_moiety():
    assert not {"modified", "osmotic", "dose"} & vsac(HYPOGLYCEMICS).moieties


# -- value sets: from_resource --------------------------------------------------------------------------------------

def test_from_resource__statin_grouper_members_and_moieties():
    statins = vsac(STATINS)
    assert (statins.url, statins.version, statins.title) == (VSAC + STATINS, "20210220", "Statin Grouper")
    assert statins.canonical == f"{VSAC}{STATINS}|20210220"
    assert len(statins) == 53
    assert {system for system, _ in statins.members} == {RXNORM}
    # Only single-ingredient members teach a moiety: ezetimibe and amlodipine occur only in combinations.
    assert statins.moieties == {"atorvastatin", "fluvastatin", "lovastatin", "pitavastatin", "pravastatin",
                                "rosuvastatin", "simvastatin"}


def test_from_resource__published_compose_without_expansion():
    colectomy = vsac(TOTAL_COLECTOMY_CPT)
    assert "expansion" not in resource(TOTAL_COLECTOMY_CPT)
    assert (CPT, "44150") in colectomy.members
    assert len(colectomy) == 11


def test_from_resource__enumerated_compose_normalises_codes():
    value_set = from_resource({
        "resourceType": "ValueSet", "url": "http://example.org/ValueSet/t2dm", "version": "1", "name": "T2DM",
        "compose": {"include": [
            {"system": ICD10CM_OID, "concept": [{"code": "e119"}, {"code": "E11.65"}]},
            {"system": SNOMED, "concept": [{"code": "44054006", "display": "Diabetes mellitus type 2"}]},
        ]},
    }, source="packs/demo/valuesets/t2dm.json")
    assert value_set.members == {(ICD10CM, "E11.9"), (ICD10CM, "E11.65"), (SNOMED, "44054006")}
    assert (value_set.title, value_set.source, value_set.moieties) == ("T2DM", "packs/demo/valuesets/t2dm.json",
                                                                       frozenset())


def test_from_resource__nested_expansion_is_flattened():
    value_set = from_resource({"resourceType": "ValueSet", "url": "http://example.org/ValueSet/nested", "expansion": {
        "contains": [{"system": SNOMED, "abstract": True, "contains": [
            {"system": SNOMED, "code": "44054006"}, {"system": SNOMED, "code": "46635009"}]}]}})
    assert value_set.members == {(SNOMED, "44054006"), (SNOMED, "46635009")}


@pytest.mark.parametrize("compose", [
    {"include": [{"system": SNOMED, "filter": [{"property": "concept", "op": "is-a", "value": "73211009"}]}]},
    {"include": [{"valueSet": [VSAC + DIABETES]}]},
    {"include": [{"system": SNOMED}]},
    {"include": [{"system": SNOMED, "concept": [{"code": "73211009"}]}],
     "exclude": [{"system": SNOMED, "concept": [{"code": "46635009"}]}]},
    {},
], ids=["filter", "value-set", "whole-system", "exclude", "empty"])
def test_from_resource__compose_needing_a_server_raises(compose):
    with pytest.raises(ValueError, match=re.escape("http://example.org/ValueSet/x")):
        from_resource({"resourceType": "ValueSet", "url": "http://example.org/ValueSet/x", "compose": compose})


@pytest.mark.parametrize("document", [
    {"resourceType": "CodeSystem", "url": "http://example.org/x"},
    {"resourceType": "ValueSet", "expansion": {"contains": [{"system": SNOMED, "code": "44054006"}]}},
    ["not", "a", "resource"],
])
def test_from_resource__not_a_usable_value_set_raises(document):
    with pytest.raises(ValueError):
        from_resource(document)


# -- value sets: membership on the published files ------------------------------------------------------------------

@pytest.mark.parametrize(("oid", "system", "code"), [
    (STATINS, RXNORM, "1790679"),  # simvastatin 4 MG/ML Oral Suspension
    (DIABETES, ICD10CM, "E10.9"),  # type 1 diabetes mellitus without complications
    (DIABETES, SNOMED, "44054006"),  # diabetes mellitus type 2 (disorder)
    (DIABETES, ICD10CM_OID, "E11.9"),  # written with the OID of ICD-10-CM
    (DIABETES, ICD10CM_OID, "e119"),  # and without its dot
    (COLONOSCOPY, CPT, "44388"),
    (COLONOSCOPY, CPT_OID, "44388"),
    (COLON_CANCER, ICD10CM, "C18.0"),  # malignant neoplasm of cecum
    (MYOCARDIAL_INFARCTION, SNOMED, "307140009"),  # acute non-Q wave infarction
    (MYOCARDIAL_INFARCTION, SNOMED_OID, "22298006"),  # myocardial infarction
    (FOBT, LOINC, "2335-8"),  # hemoglobin.gastrointestinal [presence] in stool
])
def test_concept__listed_code_matches_by_code(oid, system, code):
    assert concept(oid).match({"system": system, "code": code}) == "code"
    assert concept(oid, by_ingredient=True).match({"system": system, "code": code}) == "code"


@pytest.mark.parametrize(("oid", "system", "code"), [
    (DIABETES, ICD10CM, "E11.6499"),  # made up: a subdivision of E11.649 (listed)
    (DIABETES, ICD10CM_OID, "e116499"),
    (DIABETES, ICD10CM, "E10.91"),  # made up: a subdivision of E10.9 (listed)
    (COLON_CANCER, ICD10CM, "C18.01"),  # made up: a subdivision of C18.0 (listed)
])
def test_concept__subdivision_of_listed_icd10cm_code_matches_as_subcode(oid, system, code):
    assert key_of(system, code) not in vsac(oid).members
    assert concept(oid).match({"system": system, "code": code}) == "subcode"


@pytest.mark.parametrize(("oid", "system", "code"), [
    (DIABETES, ICD10CM, "I10"),  # essential hypertension
    (DIABETES, SNOMED, "38341003"),  # hypertensive disorder
    (DIABETES, ICD10CM, "E11"),  # the category header: its subdivisions are listed, not it
    (DIABETES, ICD10CM, "44054006"),  # a listed SNOMED code under the wrong system
    (DIABETES, SNOMED, "440540061"),  # SNOMED codes say nothing by their shape
    (COLONOSCOPY, CPT, "73562"),  # radiologic examination, knee, 3 views
    (FOBT, SNOMED, "2335-8"),
    (STATINS, RXNORM, "999999999"),  # no display: nothing to read an ingredient from
])
def test_concept__unlisted_code_does_not_match(oid, system, code):
    assert concept(oid, by_ingredient=True).match({"system": system, "code": code}) is None


def test_concept__ignores_codings_without_code_or_system():
    diabetes = concept(DIABETES)
    assert diabetes.match({"code": "E11.9"}) is None
    assert diabetes.match({"system": ICD10CM}) is None
    assert diabetes.match({}) is None


def test_concept__union_of_value_sets():
    union = Concept([vsac(DIABETES), vsac(COLONOSCOPY)])
    assert union.match({"system": ICD10CM, "code": "E11.9"}) == "code"
    assert union.match({"system": CPT, "code": "44388"}) == "code"
    assert union.match({"system": LOINC, "code": "2335-8"}) is None


# -- medicines by ingredient ----------------------------------------------------------------------------------------

NEW_SIMVASTATIN = {"system": RXNORM, "code": "999999999", "display": "simvastatin 20 MG Oral Tablet"}


def test_concept__unlisted_statin_product_matches_by_ingredient_only_when_asked():
    assert key_of(RXNORM, NEW_SIMVASTATIN["code"]) not in vsac(STATINS).members
    assert concept(STATINS, by_ingredient=True).match(NEW_SIMVASTATIN) == "ingredient"
    assert concept(STATINS).match(NEW_SIMVASTATIN) is None


def test_concept__name_stands_in_for_a_missing_display():
    coding = {"system": RXNORM, "code": "999999999"}
    assert concept(STATINS, by_ingredient=True).match(coding, name="Simvastatin 20 MG Oral Tablet") == "ingredient"
    assert concept(STATINS).match(coding, name="Simvastatin 20 MG Oral Tablet") is None


@pytest.mark.parametrize(("display", "expected"), [
    ("ezetimibe 10 MG Oral Tablet", None),  # only in ezetimibe / simvastatin members: not a statin
    ("amlodipine 10 MG Oral Tablet", None),  # only in amlodipine / atorvastatin members
    ("ezetimibe 10 MG / simvastatin 20 MG Oral Tablet [Vytorin]", "ingredient"),  # names simvastatin
    ("rosuvastatin calcium 40 MG Oral Tablet [Crestor]", "ingredient"),
    ("metformin hydrochloride 500 MG Oral Tablet", None),
])
def test_concept__statin_by_ingredient_needs_a_statin_moiety(display, expected):
    coding = {"system": RXNORM, "code": "999999999", "display": display}
    assert concept(STATINS, by_ingredient=True).match(coding) == expected


@pytest.mark.parametrize(("code", "display"), [
    ("897718", "24 HR verapamil hydrochloride 240 MG Extended Release Oral Tablet"),
    ("866414", "24 HR metoprolol succinate 50 MG Extended Release Oral Tablet"),
])
def test_concept__hypertension_drug_absent_from_expansion_matches_by_ingredient(code, display):
    assert (RXNORM, code) not in vsac(HYPERTENSION_DRUGS).members  # not in the 2021 expansion
    coding = {"system": RXNORM, "code": code, "display": display}
    assert concept(HYPERTENSION_DRUGS, by_ingredient=True).match(coding) == "ingredient"
    assert concept(HYPERTENSION_DRUGS).match(coding) is None


@pytest.mark.parametrize("code", ["897624", "866436"])  # 24 HR verapamil 240 MG ER capsule; metoprolol 50 MG ER tablet
def test_concept__hypertension_drug_in_expansion_matches_by_code(code):
    assert concept(HYPERTENSION_DRUGS, by_ingredient=True).match({"system": RXNORM, "code": code}) == "code"


def test_concept__ingredient_fallback_is_empty_for_value_sets_without_medicines():
    diabetes = concept(DIABETES, by_ingredient=True)
    assert diabetes.moieties == frozenset()
    assert diabetes.match({"system": RXNORM, "code": "999999999", "display": "metformin 500 MG Oral Tablet"}) is None


# -- resolution: bundled, or a terminology server -------------------------------------------------------------------

TX = "http://tx.test/fhir"
EXPAND = f"{TX}/ValueSet/$expand"
REMOTE = "http://example.org/fhir/ValueSet/lipid-lowering"
CODES = [{"system": RXNORM, "code": code, "display": display} for code, display in [
    ("617312", "atorvastatin 10 MG Oral Tablet"),
    ("314231", "simvastatin 10 MG Oral Tablet"),
    ("349556", "ezetimibe 10 MG Oral Tablet"),
]]


def tx_client() -> FhirClient:
    return FhirClient(TX, retries=0, sleep=lambda _seconds: None)


def expand_page(offset: int, contains: list[dict[str, Any]], version: str = "2024-01") -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": REMOTE, "version": version, "title": "Lipid lowering",
            "expansion": {"total": 3, "offset": offset, "contains": contains}}


def page_params(offset: int, version: str | None) -> dict[str, str]:
    params = {"url": REMOTE, "offset": str(offset), "count": str(PAGE)}
    return {**params, "valueSetVersion": version} if version else params


def register_two_pages(version: str | None) -> None:
    responses.get(EXPAND, json=expand_page(0, CODES[:2]), match=[matchers.query_param_matcher(page_params(0, version))])
    responses.get(EXPAND, json=expand_page(2, CODES[2:]), match=[matchers.query_param_matcher(page_params(2, version))])


def test_resolve_value_sets__bundled_value_set_is_used():
    origin = "packs/demo/valuesets/statins.json"
    resolved = resolve_value_sets([VSAC + STATINS, f"{VSAC}{STATINS}|20210220"], bundled=[(origin, resource(STATINS))])
    assert set(resolved) == {VSAC + STATINS, f"{VSAC}{STATINS}|20210220"}
    assert resolved[VSAC + STATINS].members == vsac(STATINS).members
    assert resolved[VSAC + STATINS].source == origin


def test_resolve_value_sets__missing_without_server_names_each_canonical():
    missing = "http://example.org/fhir/ValueSet/not-bundled"
    with pytest.raises(PackError) as raised:
        resolve_value_sets([VSAC + STATINS, missing, f"{VSAC}{DIABETES}|19990101"],
                           bundled=[("statins.json", resource(STATINS)), ("diabetes.json", resource(DIABETES))])
    assert missing in raised.value.message
    assert f"{VSAC}{DIABETES}|19990101" in raised.value.message  # bundled, but another version
    assert f"{VSAC}{STATINS}:" not in raised.value.message


def test_resolve_value_sets__bundled_compose_needing_a_server_names_the_file():
    filtered = {"resourceType": "ValueSet", "url": REMOTE, "compose": {"include": [
        {"system": SNOMED, "filter": [{"property": "concept", "op": "is-a", "value": "73211009"}]}]}}
    with pytest.raises(PackError, match=r"lipid-lowering: packs/demo/valuesets/x\.json"):
        resolve_value_sets([REMOTE], bundled=[("packs/demo/valuesets/x.json", filtered)])


@responses.activate
def test_resolve_value_sets__server_expands_page_by_page_then_disk_cache_serves(tmp_path):
    register_two_pages("2024-01")
    canonical = f"{REMOTE}|2024-01"
    resolved = resolve_value_sets([canonical], server=TerminologyServer(tx_client(), cache_dir=tmp_path))
    value_set = resolved[canonical]
    assert len(value_set) == 3
    assert value_set.members == {(RXNORM, "617312"), (RXNORM, "314231"), (RXNORM, "349556")}
    assert value_set.moieties == {"atorvastatin", "simvastatin", "ezetimibe"}
    assert value_set.source == f"terminology server {TX}"
    assert len(responses.calls) == 2
    assert len(list(tmp_path.glob("*.json"))) == 1

    again = TerminologyServer(tx_client(), cache_dir=tmp_path).expand(REMOTE, "2024-01")
    assert again.members == value_set.members
    assert len(responses.calls) == 2  # read from the disk cache, no HTTP


@responses.activate
def test_terminology_server__remembers_expansion_in_memory():
    register_two_pages(None)
    server = TerminologyServer(tx_client())
    first = server.expand(REMOTE)
    assert server.expand(REMOTE) is first
    assert len(responses.calls) == 2


@responses.activate
def test_terminology_server__unversioned_expansion_is_cached_under_the_reported_version(tmp_path):
    register_two_pages(None)
    assert len(TerminologyServer(tx_client(), cache_dir=tmp_path).expand(REMOTE)) == 3
    assert len(TerminologyServer(tx_client(), cache_dir=tmp_path).expand(REMOTE, "2024-01")) == 3
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize("status", [404, 500])
def test_resolve_value_sets__server_error_names_the_value_set(status):
    responses.get(EXPAND, status=status, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "not-found", "diagnostics": "unknown value set"}]})
    with pytest.raises(PackError) as raised:
        resolve_value_sets([REMOTE], server=TerminologyServer(tx_client()))
    assert f"value set {REMOTE}" in raised.value.message
    assert str(status) in raised.value.message
    # after the refused $expand, the server was asked for the ValueSet it holds (none here)
    assert len(responses.calls) == 2 and "/ValueSet?url=" in responses.calls[1].request.url


@responses.activate
def test_terminology_server__refused_expand_falls_back_to_the_stored_value_set():
    responses.get(EXPAND, status=500, json={"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "HAPI-0831: too many codes (maximum 1,000)"}]})
    stored = {"resourceType": "ValueSet", "url": REMOTE, "version": "7", "expansion": {"contains": [
        {"system": "http://snomed.info/sct", "code": "1"}, {"system": "http://snomed.info/sct", "code": "2"}]}}
    responses.get(EXPAND.replace("/$expand", ""), json={"resourceType": "Bundle", "type": "searchset",
                                                        "entry": [{"resource": stored}]})
    value_set = TerminologyServer(tx_client()).expand(REMOTE, "7")
    assert len(value_set) == 2 and "stored ValueSet" in value_set.source


@responses.activate
@pytest.mark.parametrize("answer", [
    {"resourceType": "OperationOutcome", "issue": []},
    {"resourceType": "ValueSet", "url": REMOTE, "version": "1"},  # no expansion, no compose
], ids=["not-a-value-set", "no-expansion"])
def test_resolve_value_sets__unusable_expansion_names_the_value_set(answer):
    responses.get(EXPAND, json=answer)
    with pytest.raises(PackError, match=re.escape(f"value set {REMOTE}")):
        resolve_value_sets([REMOTE], server=TerminologyServer(tx_client()))


def test_from_resource__a_code_of_the_definition_missing_from_an_older_expansion_is_a_member():
    """2025 'Patient Reason' defines 1296859006 (a newer SNOMED CT concept) that its distributed expansion lacks: a
    terminology server expanding the definition counts it, and so does the bundled copy."""
    sct = "http://snomed.info/sct"
    resource = {"resourceType": "ValueSet", "url": "http://example.org/vs", "version": "1",
                "compose": {"include": [{"system": sct, "concept": [{"code": "183945002"}, {"code": "1296859006"}]}]},
                "expansion": {"total": 1, "contains": [{"system": sct, "code": "183945002"}]}}
    members = from_resource(resource).members
    assert {(sct, "183945002"), (sct, "1296859006")} <= members
    no_compose = {key: value for key, value in resource.items() if key != "compose"}
    assert (sct, "1296859006") not in from_resource(no_compose).members
