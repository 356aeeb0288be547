"""A compact way to write guideline packs in Python, written out as the FHIR JSON carepath loads.

The JSON in ``packs/primary-care`` is what the engine reads and what a governance group publishes to a FHIR
server; these helpers only save typing. ``python -m app.engine.authoring`` rewrites the JSON from the
sources in this package, and ``tests/test_packs_content.py`` fails when the committed JSON is out of date.
"""

from __future__ import annotations

from typing import Any

from app.engine.rules import EXT

BASE = "http://carepath.dev/fhir"
VERSION = "2025.1.0"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"


def expression(text: str) -> dict[str, str]:
    """A FHIRPath Expression."""
    return {"language": "text/fhirpath", "expression": text}


def duration(value: int, unit: str) -> dict[str, Any]:
    """A UCUM Duration: (3, 'mo')."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def ext(name: str, **value: Any) -> dict[str, Any]:
    """A carepath extension with one value, e.g. ext('rationale', valueString='...')."""
    return {"url": EXT + name, **value}


def complex_ext(name: str, parts: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """A carepath extension with sub-extensions given as (url, value type, value)."""
    return {"url": EXT + name,
            "extension": [{"url": url, kind: value} for url, kind, value in parts if value is not None]}


def activity_definition(name: str, title: str, kind: str, description: str,
                        code: tuple[str, str, str] | None = None, *, version: str = VERSION) -> dict[str, Any]:
    """An ActivityDefinition: kind is carepath's activity kind (lab-order, referral, medication, ...)."""
    resource_kind = {"lab-order": "ServiceRequest", "referral": "ServiceRequest", "screening": "ServiceRequest",
                     "procedure": "ServiceRequest", "medication": "MedicationRequest"}.get(kind, "CommunicationRequest")
    concept: dict[str, Any] = {"text": title}
    if code:
        concept["coding"] = [{"system": code[0], "code": code[1], "display": code[2]}]
    return {
        "resourceType": "ActivityDefinition", "id": f"carepath-{name}", "url": f"{BASE}/ActivityDefinition/{name}",
        "version": version, "name": name.replace("-", "_"), "title": title, "status": "draft",
        "kind": resource_kind, "code": concept, "description": description,
        "extension": [ext("activity-kind", valueCode=kind)],
    }


def canonical(name: str, version: str = VERSION) -> str:
    """The versioned canonical of an ActivityDefinition of a pack (by default the primary-care pack's version)."""
    return f"{BASE}/ActivityDefinition/{name}|{version}"


def _inputs(paths: list[str], evidence: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    types = {"measures": "Observation", "bp": "Observation", "smoking": "Observation", "scores": "Observation",
             "conditions": "Condition", "medications": "MedicationRequest", "allergies": "AllergyIntolerance",
             "procedures": "Procedure", "patient": "Patient", "not_done": "MedicationRequest",
             "treatment": "MedicationRequest"}
    return [{"type": types[path.split(".")[0]],
             "extension": [ext("fact-path", valueString=path)]
             + ([ext("evidence-only", valueBoolean=True)] if path in evidence else [])} for path in paths]


def _citations(cite: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"type": "citation", "label": label, "citation": section} for label, section in cite]


def _choice(choice: str | tuple[str, str] | list[str | tuple[str, str]] | None) -> list[dict[str, Any]]:
    """clinician-choice extensions: one note, or a list of notes (text, or (text, condition))."""
    if choice is None:
        return []
    if isinstance(choice, list):
        return [found for item in choice for found in _choice(item)]
    text, condition = (choice, None) if isinstance(choice, str) else choice
    return [complex_ext("clinician-choice", [("text", "valueString", text),
                                             ("condition", "valueExpression",
                                              expression(condition) if condition else None)])]


Ages = tuple[int | None, int | None]  # (low, high) in completed years, bounds included; None: open
USAGE_CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"
GENDER = "http://hl7.org/fhir/administrative-gender"


def _years(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "a", "system": UCUM, "code": "a"}


def _age_range(ages: Ages) -> dict[str, Any]:
    """A FHIR Range of ages in years (UCUM ``a``)."""
    low, high = ages
    return {**({"low": _years(low)} if low is not None else {}), **({"high": _years(high)} if high is not None else {})}


def _population(ages: Ages | None, sex: str | None, pregnancy: str | None) -> list[dict[str, Any]]:
    """The ``population`` extension of an action: age Range, administrative-gender, pregnancy flag."""
    parts = [("age", "valueRange", _age_range(ages) if ages else None),
             ("sex", "valueCoding", {"system": GENDER, "code": sex} if sex else None),
             ("pregnancy", "valueCode", pregnancy)]
    return [complex_ext("population", parts)] if any(value for _name, _kind, value in parts) else []


def use_context(ages: Ages, sex: str | None = None) -> list[dict[str, Any]]:
    """PlanDefinition.useContext: usage-context-type ``age`` (valueRange) and ``gender`` (valueCodeableConcept)."""
    contexts = [{"code": {"system": USAGE_CONTEXT_TYPE, "code": "age"}, "valueRange": _age_range(ages)}]
    if sex:
        contexts.append({"code": {"system": USAGE_CONTEXT_TYPE, "code": "gender"},
                         "valueCodeableConcept": {"coding": [{"system": GENDER, "code": sex}]}})
    return contexts


def rule(rule_id: str, title: str, *, when: list[str], cite: list[tuple[str, str]], text: str,
         inputs: list[str], activity: str | None = None, goals: tuple[str, ...] = (),
         repeat: tuple[int, int, str] | None = None,
         schedule_from: tuple[tuple[str, ...], int, str] | list[tuple[tuple[str, ...], int, str]] | None = None,
         due_in: tuple[int, str] | None = None,
         exclusions: tuple[tuple, ...] = (), contraindications: tuple[tuple, ...] = (),
         satisfied_by: tuple[tuple, ...] = (), choice: str | tuple[str, str] | list | None = None,
         alert: tuple[str, str] | tuple[str, str, str] | None = None, gaps: tuple[tuple[str, str], ...] = (),
         evidence: tuple[str, ...] = (), ages: Ages | None = None, sex: str | None = None,
         pregnancy: str | None = None, version: str = VERSION) -> dict[str, Any]:
    """One PlanDefinition action. exclusions/contraindications: (condition, reason[, severity[, instead[, summary]]]);
    alert: (severity, message[, summary]).

    A ``summary`` is the warning's CDS card summary: at most 140 characters, the action first ("Verify HbA1c
    {{...}} % on insulin: hypoglycaemia risk"); without one a card shows the message shortened at a word.

    ``evidence`` lists inputs read only as evidence (prior tests): their absence is not a data gap.
    ``ages`` (low, high), ``sex`` (administrative-gender) and ``pregnancy`` (``excluded`` | ``only``) state whom
    the rule is for where it is narrower than its area (the ``population`` extension).
    """
    extension = [ext("rationale", valueString=text), *_population(ages, sex, pregnancy)]
    # one schedule-from per test the activity repeats (a list of them: the activity is due when the first is)
    for facts, value, unit in (schedule_from if isinstance(schedule_from, list) else
                               [schedule_from] if schedule_from else []):
        extension.append(complex_ext("schedule-from", [*(("fact", "valueString", f) for f in facts),
                                                       ("interval", "valueDuration", duration(value, unit))]))
    for name, checks in (("exclusion", exclusions), ("contraindication", contraindications)):
        for check in checks:
            condition, reason, severity, instead, summary = (*check, None, None, None)[:5]
            extension.append(complex_ext(name, [
                ("condition", "valueExpression", expression(condition)), ("reason", "valueString", reason),
                ("severity", "valueCode", severity),
                ("instead", "valueCanonical", canonical(instead, version) if instead else None),
                ("summary", "valueString", summary)]))
    for fact, value, unit, label, *condition in satisfied_by:
        extension.append(complex_ext("satisfied-by", [
            ("fact", "valueString", fact), ("interval", "valueDuration", duration(value, unit)),
            ("label", "valueString", label),
            ("condition", "valueExpression", expression(condition[0]) if condition else None)]))
    extension += _choice(choice)
    if alert:
        extension.append(complex_ext("alert", [("severity", "valueCode", alert[0]),
                                               ("message", "valueString", alert[1]),
                                               ("summary", "valueString", alert[2] if len(alert) > 2 else None)]))
    for fact, message in gaps:
        extension.append(complex_ext("gap", [("fact", "valueString", fact), ("message", "valueString", message)]))
    action: dict[str, Any] = {
        "id": rule_id, "title": title, "extension": extension,
        "condition": [{"kind": "applicability", "expression": expression(c)} for c in when],
        "input": _inputs(inputs, evidence), "documentation": _citations(cite),
    }
    if goals:
        action["goalId"] = list(goals)
    if repeat:
        action["timingTiming"] = {"repeat": {"frequency": repeat[0], "period": repeat[1], "periodUnit": repeat[2]}}
    if due_in:
        action["timingDuration"] = duration(*due_in)
    if activity:
        action["definitionCanonical"] = canonical(activity, version)
    return action


def goal(goal_id: str, description: str, *, targets: list[tuple[str, str, str, float, str]], due: tuple[int, str],
         addresses: list[str], addresses_text: str, cite: tuple[str, str], text: str, inputs: list[str],
         condition: str | None = None, editable_range: tuple[float, float, str] | None = None,
         choice: str | tuple[str, str] | None = None) -> dict[str, Any]:
    """A PlanDefinition goal; targets are (LOINC code, display, comparator, value, unit)."""
    extension = [ext("rationale", valueString=text),
                 ext("citation", valueRelatedArtifact={"type": "citation", "label": cite[0], "citation": cite[1]}),
                 *(ext("input", valueString=path) for path in inputs)]
    if condition:
        extension.append(ext("condition", valueExpression=expression(condition)))
    if editable_range:
        low, high, unit = editable_range
        extension.append(ext("editable-range", valueRange={"low": {"value": low, "unit": unit},
                                                           "high": {"value": high, "unit": unit}}))
    extension += _choice(choice)
    return {
        "id": goal_id, "extension": extension, "description": {"text": description},
        "addresses": [{"text": addresses_text, "extension": [ext("fact-path", valueString=p)]} for p in addresses]
        or [{"text": addresses_text}],
        "target": [{"measure": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                    "detailQuantity": {"comparator": comparator, "value": value, "unit": unit, "system": UCUM,
                                       "code": unit.replace("mmHg", "mm[Hg]")},
                    "due": duration(*due)} for code, display, comparator, value, unit in targets],
    }


def guideline(label: str, display: str, year: str, url: str) -> dict[str, Any]:
    """A guideline the PlanDefinition cites; actions cite it by label plus a section."""
    return {"type": "citation", "label": label, "display": display, "url": url,
            "extension": [ext("citation-year", valueString=year)]}


def plan_definition(name: str, title: str, *, description: str, guidelines: list[dict[str, Any]],
                    when: str, rules: list[dict[str, Any]], ages: Ages, sex: str | None = None,
                    pregnancy: str | None = None, goals: list[dict[str, Any]] | None = None,
                    summary: list[tuple[str, str]] | None = None, version: str = VERSION,
                    library: str = "primary-care-data") -> dict[str, Any]:
    """One guideline area as a PlanDefinition with one top-level action group.

    ``ages`` (low, high) and ``sex`` are whom the area is for (useContext age and gender); ``pregnancy``
    (``excluded`` | ``only``) goes in the ``population`` extension, which useContext has no type for.
    """
    group: dict[str, Any] = {"id": name, "title": title,
                             "condition": [{"kind": "applicability", "expression": expression(when)}],
                             "action": rules}
    if summary:
        group["extension"] = [complex_ext("summary", [("condition", "valueExpression", expression(condition)),
                                                      ("text", "valueString", text)]) for condition, text in summary]
    return {
        "resourceType": "PlanDefinition", "id": f"carepath-{name}", "url": f"{BASE}/PlanDefinition/{name}",
        "version": version, "name": name.replace("-", "_"), "title": title, "status": "draft",
        "experimental": False, "date": "2025-06-01", "publisher": "carepath clinical content",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                             "code": "clinical-protocol"}]},
        "description": description, "useContext": use_context(ages, sex),
        **({"extension": _population(None, None, pregnancy)} if pregnancy else {}),
        "effectivePeriod": {"start": "2025-01-01"},
        "library": [f"{BASE}/Library/{library}|{version}"],
        "relatedArtifact": guidelines, "goal": goals or [], "action": [group],
    }
