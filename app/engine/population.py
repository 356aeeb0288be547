"""Whom a guideline area or rule is for: an age range, the sexes, pregnancy; read from FHIR, checked on a patient.

A PlanDefinition states its population with the standard ``useContext`` (usage-context-type ``age`` as a
``valueRange`` in UCUM ``a``, ``gender`` as an administrative-gender ``valueCodeableConcept``) and, for pregnancy,
the carepath extension ``population``; a rule (an action) narrows it with the same extension (sub-extensions
``age``, ``sex``, ``pregnancy``). ``docs/packs.md`` shows both. The engine applies nothing to a patient outside a
population: :meth:`Population.outside` says why a patient is outside, in words a clinician reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.rules import EXT

USAGE_CONTEXT_TYPE = "http://terminology.hl7.org/CodeSystem/usage-context-type"
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
UCUM = "http://unitsofmeasure.org"
GENDERS = ("male", "female", "other", "unknown")
#: ``excluded``: for people who are not pregnant; ``only``: for pregnant people; absent: either.
PREGNANCY = ("excluded", "only")
#: The condition fact key that says a patient is pregnant (docs/facts.md, fixed keys).
PREGNANCY_KEY = "pregnancy"
_SEX_WORDS = {"female": "women", "male": "men"}


@dataclass(frozen=True)
class Population:
    """An age range in completed years (bounds included), the sexes (empty: any) and a pregnancy flag."""

    age_low: float | None = None
    age_high: float | None = None
    sexes: tuple[str, ...] = ()
    pregnancy: str | None = None

    @property
    def states_age(self) -> bool:
        """True when an age range is stated."""
        return self.age_low is not None or self.age_high is not None

    def text(self) -> str:
        """'adults aged 18 and over', 'women aged 40 to 74', 'pregnant people'."""
        adult = self.age_low is not None and self.age_low >= 18
        noun = " or ".join(_SEX_WORDS.get(sex, sex) for sex in self.sexes) or ("adults" if adult else "people")
        prefix = {"only": "pregnant ", "excluded": "nonpregnant "}.get(self.pregnancy or "", "")
        return f"{prefix}{noun}{self._ages()}"

    def _ages(self) -> str:
        low, high = _number(self.age_low), _number(self.age_high)
        if low and high:
            return f" aged {low} to {high}"
        if low:
            return f" aged {low} and over"
        return f" aged {high} or younger" if high else ""

    def outside(self, facts: Mapping[str, Any]) -> tuple[str, str] | None:
        """(kind, words) when the patient is outside: kind ``age``, ``sex`` or ``pregnancy``; None when inside."""
        patient = facts.get("patient") or {}
        if self.states_age:
            age = patient.get("ageYears")
            if age is None:
                return "age", "the patient's age is not known (no date of birth on record)"
            if not isinstance(age, int | float) or isinstance(age, bool):
                return "age", f"the patient's age could not be read ({age!r})"
            if (self.age_low is not None and age < self.age_low) or (self.age_high is not None and age > self.age_high):
                return "age", f"the patient is {_number(age)} year{'' if age == 1 else 's'} old"
        if self.sexes:
            sex = patient.get("sex") or "unknown"
            if sex not in self.sexes:
                return "sex", ("the patient's sex is not recorded" if sex == "unknown"
                               else f"the patient's recorded sex is {sex}")
        pregnant = bool((facts.get("conditions") or {}).get(PREGNANCY_KEY))
        if self.pregnancy == "excluded" and pregnant:
            return "pregnancy", "pregnancy is recorded"
        if self.pregnancy == "only" and not pregnant:
            return "pregnancy", "no pregnancy is recorded"
        return None

    def narrows(self, wider: Population) -> list[str]:
        """What of this (a rule's) population lies outside ``wider`` (its area's): a rule that could never apply."""
        problems = []
        if wider.age_low is not None and self.age_high is not None and self.age_high < wider.age_low:
            problems.append(f"ages up to {_number(self.age_high)} lie below the area's {_number(wider.age_low)}")
        if wider.age_high is not None and self.age_low is not None and self.age_low > wider.age_high:
            problems.append(f"ages from {_number(self.age_low)} lie above the area's {_number(wider.age_high)}")
        if wider.sexes and self.sexes and not set(self.sexes) & set(wider.sexes):
            problems.append(f"sex {', '.join(self.sexes)} is not among the area's {', '.join(wider.sexes)}")
        if wider.pregnancy and self.pregnancy and wider.pregnancy != self.pregnancy:
            problems.append(f"pregnancy '{self.pregnancy}' contradicts the area's '{wider.pregnancy}'")
        return problems


CHILD_UNTIL = 18


def coverage_statement(areas: list[tuple[str, Population | None]], facts: Mapping[str, Any],
                       out_of_scope: str = "") -> str:
    """What a plan says when the patient is outside every area's population (``areas``: title and population of
    each): for a child younger than every area, which ages the packs cover and that none covers the child's age,
    then what the packs say they do not cover (``out_of_scope``, from their Libraries); for an unknown age, to
    check the date of birth."""
    lows = [population.age_low for _title, population in areas if population and population.age_low is not None]
    age = (facts.get("patient") or {}).get("ageYears")
    readable = isinstance(age, int | float) and not isinstance(age, bool)
    if not lows or (readable and not 0 <= age < min(lows)):
        return ("this patient is outside the population of every guideline area carepath has; no area was applied "
                "(each area's reason is listed)")
    covered = _covered(areas)
    if not readable:
        known = "is not known (no date of birth on record)" if age is None else f"could not be read ({age!r})"
        return f"carepath's guideline packs cover {covered}; the patient's age {known}, so no guideline area was " \
               "applied: check the date of birth"
    years = f"{_number(age)} year{'' if age == 1 else 's'}"
    return (f"carepath's guideline packs cover {covered}; none covers this age: the patient is {years} old, so no "
            f"guideline area was applied" + (f"; {out_of_scope}" if out_of_scope else ""))


def child_scope_statement(areas: list[tuple[str, Population | None]], facts: Mapping[str, Any],
                          out_of_scope: str = "") -> str | None:
    """For a patient under 18 inside some area: what the packs cover for the child's age, and what they say they
    do not (``out_of_scope``, from their Libraries: the pediatric pack's immunizations and developmental screening);
    None for adults or an unknown age."""
    age = (facts.get("patient") or {}).get("ageYears")
    if not isinstance(age, int | float) or isinstance(age, bool) or age >= CHILD_UNTIL:
        return None
    applied = sorted(title for title, population in areas if population is None or population.outside(facts) is None)
    return (f"carepath's pediatric guidance for this age covers: {', '.join(applied)}"
            + (f"; {out_of_scope}" if out_of_scope else ""))


def _covered(areas: list[tuple[str, Population | None]]) -> str:
    """'adults (18 and over)', or 'adults (18 and over), and from 12: Depression' when some areas start younger."""
    lows = sorted({population.age_low for _title, population in areas if population and population.age_low is not None})
    adult = [low for low in lows if low >= 18]
    words = [f"adults ({_number(adult[0])} and over)"] if adult else []
    for low in (low for low in lows if low < 18):
        titles = sorted(title for title, population in areas if population and population.age_low == low)
        words.append(f"from {_number(low)}: {', '.join(titles)}")
    return ", and ".join(words)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def plan_definition_population(resource: Mapping[str, Any], problems: list[str], where: str) -> Population | None:
    """The population a PlanDefinition states (useContext age and gender, the ``population`` extension for
    pregnancy), or None with a problem when it states no age range."""
    age: tuple[float | None, float | None] | None = None
    sexes: list[str] = []
    for context in resource.get("useContext") or []:
        coding = (context.get("code") or {}) if isinstance(context, Mapping) else {}
        if coding.get("system") != USAGE_CONTEXT_TYPE:
            continue
        if coding.get("code") == "age":
            age = _age_range(context.get("valueRange"), problems, f"{where}: useContext age")
        elif coding.get("code") == "gender":
            sexes += _genders(context.get("valueCodeableConcept"), problems, f"{where}: useContext gender")
    extension = _population_extensions(resource, problems, where)
    if extension and (extension[0].get("age") or extension[0].get("sex")):
        problems.append(f"{where}: a PlanDefinition states age and sex in useContext (usage-context-type age, "
                        "gender), not in the population extension")
    if age is None:
        problems.append(f"{where}: PlanDefinition states no population: a useContext of usage-context-type 'age' "
                        "(valueRange in years, UCUM 'a') is required")
        return None
    pregnancy = extension[0].get("pregnancy") if extension else None
    return Population(age[0], age[1], tuple(sexes), pregnancy)


def action_population(action: Mapping[str, Any], problems: list[str], where: str) -> Population | None:
    """The population an action states with the ``population`` extension, or None when it states none."""
    found = _population_extensions(action, problems, where)
    if not found:
        return None
    parts = found[0]
    low, high = parts.get("age") or (None, None)
    return Population(low, high, tuple(parts.get("sex") or ()), parts.get("pregnancy"))


def _population_extensions(element: Mapping[str, Any], problems: list[str], where: str) -> list[dict[str, Any]]:
    """Each ``population`` extension of ``element`` as {age, sex, pregnancy}; problems name what is wrong."""
    found = []
    for ext in element.get("extension") or []:
        if not isinstance(ext, Mapping) or ext.get("url") != EXT + "population":
            continue
        parts: dict[str, Any] = {"sex": []}
        for sub in ext.get("extension") or []:
            name = sub.get("url") if isinstance(sub, Mapping) else None
            if name == "age":
                parts["age"] = _age_range(sub.get("valueRange"), problems, f"{where}: population age")
            elif name == "sex":
                parts["sex"] += _genders({"coding": [sub.get("valueCoding") or {}]}, problems,
                                         f"{where}: population sex")
            elif name == "pregnancy" and sub.get("valueCode") in PREGNANCY:
                parts["pregnancy"] = sub["valueCode"]
            else:
                problems.append(f"{where}: population part {name!r} is not age (valueRange), sex (valueCoding) or "
                                f"pregnancy (valueCode {' | '.join(PREGNANCY)})")
        found.append(parts)
    if len(found) > 1:
        problems.append(f"{where}: more than one population extension")
    return found


def _age_range(value: Any, problems: list[str], what: str) -> tuple[float | None, float | None] | None:
    if not isinstance(value, Mapping):
        problems.append(f"{what}: a valueRange is needed")
        return None
    bounds = []
    for name in ("low", "high"):
        quantity = value.get(name)
        if quantity is None:
            bounds.append(None)
            continue
        number = quantity.get("value") if isinstance(quantity, Mapping) else None
        if quantity.get("code") != "a" or quantity.get("system") != UCUM or not isinstance(number, int | float) \
                or number < 0:
            problems.append(f"{what}: {name} must be a non-negative number of years (UCUM 'a'), got {quantity!r}")
            return None
        bounds.append(number)
    low, high = bounds
    if low is None and high is None:
        problems.append(f"{what}: the range has neither low nor high")
        return None
    if low is not None and high is not None and low > high:
        problems.append(f"{what}: low {low} is above high {high}")
        return None
    return low, high


def _genders(concept: Any, problems: list[str], what: str) -> list[str]:
    codes = []
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    for coding in codings if isinstance(codings, list) else []:
        coding = coding if isinstance(coding, Mapping) else {}
        if coding.get("system") == GENDER_SYSTEM and coding.get("code") in GENDERS:
            codes.append(coding["code"])
        else:
            problems.append(f"{what}: {coding!r} is not an administrative-gender code ({', '.join(GENDERS)})")
    if not codes:
        problems.append(f"{what}: no administrative-gender code")
    return codes
