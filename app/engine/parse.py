"""Read one pack resource into compiled rules, recording every problem with its file and action id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.engine import population as populations
from app.engine.model import Citation
from app.engine.rules import (
    EXT,
    FACT_SECTIONS,
    ActivityTemplate,
    Area,
    Check,
    ChoiceNote,
    Duration,
    FactPath,
    GoalRule,
    PackInfo,
    Rule,
    SatisfiedBy,
    Template,
    compile_checked,
    template_checked,
)

ACTIVITY_KINDS = ("lab-order", "referral", "medication", "education", "lifestyle", "screening", "procedure",
                  "counselling")
SEVERITIES = ("high", "moderate", "low")
#: Strength-of-recommendation scales and their grades, strongest first (``strength`` extension).
STRENGTH_GRADES = {"USPSTF": ("A", "B", "C", "D", "I"), "ACC/AHA": ("I", "IIa", "IIb", "III"),
                   "ADA": ("A", "B", "C", "E"), "KDIGO": ("1A", "1B", "1C", "1D", "2A", "2B", "2C", "2D")}
STATUSES = ("draft", "active", "retired")
_UNITS = ("a", "mo", "wk", "d")
_SCORE_LABELS = {"ascvd10y": "10-year ASCVD risk", "egfr": "eGFR", "bmi": "BMI"}
_SECTION_TYPES = {"measures": "Observation", "conditions": "Condition", "medications": "MedicationRequest",
                  "allergies": "AllergyIntolerance", "procedures": "Procedure", "not_done": "NotDone"}


def extensions(element: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """The extensions of ``element`` named EXT + name."""
    return [ext for ext in element.get("extension", []) if ext.get("url") == EXT + name]


def extension_value(element: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """The value[x] of the first extension named ``name`` (full EXT url or a sub-extension's url)."""
    for ext in element.get("extension", []):
        if ext.get("url") in (EXT + name, name):
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return default


TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def translations(element: Mapping[str, Any], name: str, language: str = "en") -> dict[str, str]:
    """A translated text extension ``name`` as language -> text: its ``text`` (in ``language``, the resource's)
    and each FHIR ``translation`` (``lang``, ``content``) beside it; {} when the element has none."""
    found = extensions(element, name)
    if not found:
        return {}
    out: dict[str, str] = {}
    for part in found[0].get("extension") or []:
        if part.get("url") == "text" and isinstance(part.get("valueString"), str):
            out[language] = part["valueString"]
        elif part.get("url") == TRANSLATION:
            lang, content = extension_value(part, "lang"), extension_value(part, "content")
            if isinstance(lang, str) and isinstance(content, str):
                out[lang] = content
    return out


def activity_canonicals(plan: Mapping[str, Any]) -> list[str]:
    """Every ActivityDefinition canonical a PlanDefinition names (actions and 'instead' alternatives)."""
    out: list[str] = []

    def walk(actions: list[Mapping[str, Any]]) -> None:
        for action in actions:
            if action.get("definitionCanonical"):
                out.append(action["definitionCanonical"])
            for ext in extensions(action, "exclusion") + extensions(action, "contraindication"):
                if extension_value(ext, "instead"):
                    out.append(extension_value(ext, "instead"))
            walk(action.get("action", []))

    walk(plan.get("action", []))
    return out


def activity_definition(where: str, resource: Mapping[str, Any], problems: list[str]) -> ActivityTemplate | None:
    """An ActivityDefinition as an activity template."""
    kind = extension_value(resource, "activity-kind")
    missing = [name for name in ("url", "version", "title") if not resource.get(name)]
    if missing:
        problems.append(f"{where}: ActivityDefinition without {', '.join(missing)}")
        return None
    if kind not in ACTIVITY_KINDS:
        problems.append(f"{where}: ActivityDefinition '{resource['url']}': activity-kind {kind!r} "
                        f"is not one of {', '.join(ACTIVITY_KINDS)}")
        return None
    coding = (resource.get("code") or {}).get("coding") or [{}]
    code = {"system": coding[0].get("system"), "code": coding[0].get("code"),
            "display": coding[0].get("display") or (resource.get("code") or {}).get("text") or resource["title"]}
    return ActivityTemplate(url=resource["url"], version=resource["version"], title=resource["title"], kind=kind,
                            code=code, description=resource.get("description", resource["title"]),
                            patient_text=translations(resource, "patient-text", resource.get("language") or "en"))


def library_labels(where: str, library: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    """fact key -> label, from the Library's dataRequirements; checks each names its fact key."""
    labels: dict[str, str] = {}
    for index, requirement in enumerate(library.get("dataRequirement", [])):
        key = extension_value(requirement, "fact-key")
        if not key:
            problems.append(f"{where}: dataRequirement[{index}] has no fact-key extension")
            continue
        if not any(f.get("code") or f.get("valueSet") for f in requirement.get("codeFilter", [])):
            problems.append(f"{where}: dataRequirement[{index}] ('{key}') has no codeFilter value set or codes")
        label = extension_value(requirement, "fact-label") or key
        labels.setdefault(key, label)
        resource_type = requirement.get("type")
        if extension_value(requirement, "fact-not-done"):
            resource_type = "NotDone"  # records not to do something: ``not_done``, never the thing itself
        elif resource_type in ("Encounter", "DiagnosticReport", "ServiceRequest", "DeviceRequest") or \
                extension_value(requirement, "fact-event"):
            resource_type = "Procedure"  # events: dated facts in ``procedures`` whatever resource records them
        elif resource_type == "Device":
            resource_type = "Condition"  # a device in use (a wheelchair) is evidence of a state, like a condition
        elif resource_type == "AdverseEvent":
            resource_type = "AllergyIntolerance"  # an adverse reaction to a medicine feeds ``allergies``
        labels.setdefault(f"{resource_type}:{key}", label)
    return labels


def _editable_range(value: Mapping[str, Any] | None, citations: list[Citation]) -> dict[str, Any] | None:
    """A FHIR Range as the plan shows it: {low, high, unit, citation} (the goal's guideline and section)."""
    if not value:
        return None
    low, high = value.get("low") or {}, value.get("high") or {}
    cited = citations[0] if citations else None
    return {"low": low.get("value"), "high": high.get("value"), "unit": low.get("unit") or high.get("unit"),
            "citation": f"{cited.guideline}, {cited.section}" if cited else ""}


def pack_info(where: str, resource: Mapping[str, Any]) -> PackInfo:
    """The url/version/title of a PlanDefinition."""
    period = resource.get("effectivePeriod") or {}
    return PackInfo(url=resource.get("url", ""), version=resource.get("version", ""),
                    title=resource.get("title", ""), file=where,
                    effective_start=period.get("start"), effective_end=period.get("end"),
                    status=resource.get("status", ""))


class _Reader:
    """Reads one PlanDefinition; every problem names the file and the action or goal id."""

    def __init__(self, where: str, resource: Mapping[str, Any], definitions: Mapping[str, ActivityTemplate],
                 labels: Mapping[str, str], problems: list[str], use_fast_path: bool) -> None:
        self.where, self.resource, self.definitions = where, resource, definitions
        self.labels, self.problems, self.fast = labels, problems, use_fast_path
        self.guidelines: dict[str, Mapping[str, Any]] = {}
        self.area_population: populations.Population | None = None

    def problem(self, element_id: str, message: str) -> None:
        self.problems.append(f"{self.where}: action '{element_id}': {message}")

    def expression(self, element_id: str, value: Any, what: str):
        text = (value or {}).get("expression") if isinstance(value, Mapping) else value
        language = (value or {}).get("language", "text/fhirpath") if isinstance(value, Mapping) else "text/fhirpath"
        if not text:
            self.problem(element_id, f"{what} has no expression")
            return None
        if language != "text/fhirpath":
            self.problem(element_id, f"{what}: language {language!r} is not text/fhirpath")
            return None
        return compile_checked(text, f"{self.where}: action '{element_id}': {what}", self.problems,
                               use_fast_path=self.fast)

    def template(self, element_id: str, text: Any, what: str):
        if not isinstance(text, str) or not text:
            self.problem(element_id, f"{what} text is missing")
            return None
        return template_checked(text, f"{self.where}: action '{element_id}': {what}", self.problems,
                                use_fast_path=self.fast)

    def summary(self, element_id: str, ext: Mapping[str, Any], what: str) -> Template | None:
        """A warning's optional card summary (sub-extension ``summary``): what to do first, in a few words."""
        text = extension_value(ext, "summary")
        return None if text is None else self.template(element_id, text, what)

    def duration(self, element_id: str, value: Any, what: str) -> Duration | None:
        if not isinstance(value, Mapping) or value.get("code", value.get("unit")) not in _UNITS \
                or not isinstance(value.get("value"), int) or value["value"] <= 0:
            self.problem(element_id, f"{what}: a positive whole Duration in a, mo, wk or d is needed, got {value!r}")
            return None
        return Duration(value["value"], value.get("code", value.get("unit")))

    def fact(self, element_id: str, path: Any) -> FactPath | None:
        parts = tuple(path.split(".")) if isinstance(path, str) and path else ()
        if not parts or parts[0] not in FACT_SECTIONS or len(parts) > 3:
            self.problem(element_id, f"fact path {path!r} must start with one of {', '.join(FACT_SECTIONS)}")
            return None
        if parts[0] in _SECTION_TYPES and (
                len(parts) != 2 or f"{_SECTION_TYPES[parts[0]]}:{parts[1]}" not in self.labels):
            self.problem(element_id, f"fact path {path!r} names a key the Library does not declare")
            return None
        key = parts[1] if len(parts) > 1 else parts[0]
        typed = f"{_SECTION_TYPES.get(parts[0], '')}:{key}"
        label = _SCORE_LABELS.get(key) if parts[0] == "scores" else None
        label = label or self.labels.get(typed) or self.labels.get(key, key.replace("_", " "))
        return FactPath(parts, label)

    def citations(self, element_id: str, artifacts: list[Mapping[str, Any]]) -> list[Citation]:
        out = []
        for artifact in artifacts:
            if artifact.get("type") != "citation":
                continue
            guideline = self.guidelines.get(artifact.get("label", ""))
            if guideline is None:
                self.problem(element_id, f"citation label {artifact.get('label')!r} is not one of the "
                                         f"PlanDefinition's relatedArtifact labels")
                continue
            if not artifact.get("citation"):
                self.problem(element_id, "citation has no section ('citation' text)")
                continue
            out.append(Citation(guideline=guideline.get("display", ""),
                                year=str(extension_value(guideline, "citation-year", "")),
                                section=artifact["citation"], url=artifact.get("url") or guideline.get("url", "")))
        if not out:
            self.problem(element_id, "no guideline citation (documentation of type citation)")
        return out

    def inputs(self, element_id: str, element: Mapping[str, Any]) -> list[FactPath]:
        out = []
        for requirement in element.get("input", []):
            fact = self.fact(element_id, extension_value(requirement, "fact-path"))
            if fact:
                out.append(FactPath(fact.path, fact.label, gap=not extension_value(requirement, "evidence-only",
                                                                                     False)))
        return out

    def choices(self, element_id: str, element: Mapping[str, Any]) -> list[ChoiceNote]:
        out = []
        for ext in extensions(element, "clinician-choice"):
            text = self.template(element_id, extension_value(ext, "text"), "clinician-choice")
            condition = extension_value(ext, "condition")
            compiled = self.expression(element_id, condition, "clinician-choice condition") if condition else None
            if text:
                out.append(ChoiceNote(text=text, condition=compiled))
        return out

    def activity(self, element_id: str, canonical: str | None) -> ActivityTemplate | None:
        if not canonical:
            return None
        template = self.definitions.get(canonical)
        if template is None:
            self.problem(element_id, f"ActivityDefinition {canonical!r} is not in the pack")
        return template

    def checks(self, element_id: str, action: Mapping[str, Any], name: str) -> list[Check]:
        out = []
        for ext in extensions(action, name):
            condition = self.expression(element_id, extension_value(ext, "condition"), f"{name} condition")
            reason = self.template(element_id, extension_value(ext, "reason"), f"{name} reason")
            severity = extension_value(ext, "severity")
            if name == "contraindication" and severity not in SEVERITIES:
                self.problem(element_id, f"contraindication severity {severity!r} is not one of high, moderate, low")
            instead = self.activity(element_id, extension_value(ext, "instead"))
            summary = self.summary(element_id, ext, f"{name} summary")
            if condition and reason:
                out.append(Check(condition=condition, reason=reason, severity=severity, instead=instead,
                                 summary=summary))
        return out

    def rule(self, action: Mapping[str, Any], area: str, pack: PackInfo, goal_ids: set[str]) -> Rule | None:
        rule_id = action.get("id")
        if not rule_id:
            self.problems.append(f"{self.where}: an action of area '{area}' has no id")
            return None
        conditions = [self.expression(rule_id, c.get("expression"), "condition")
                      for c in action.get("condition", []) if c.get("kind") == "applicability"]
        if not conditions:
            self.problem(rule_id, "no applicability condition")
        citations = self.citations(rule_id, action.get("documentation", []))
        rationale = self.template(rule_id, extension_value(action, "rationale"), "rationale")
        activity = self.activity(rule_id, action.get("definitionCanonical"))
        alert = alert_summary = None
        for ext in extensions(action, "alert"):
            severity = extension_value(ext, "severity")
            message = self.template(rule_id, extension_value(ext, "message"), "alert message")
            alert_summary = self.summary(rule_id, ext, "alert summary")
            if severity not in SEVERITIES:
                self.problem(rule_id, f"alert severity {severity!r} is not one of high, moderate, low")
            elif message:
                alert = (severity, message)
        if activity is None and alert is None and not action.get("definitionCanonical") \
                and not extensions(action, "gap"):
            self.problem(rule_id, "no definitionCanonical, alert or gap: the action would do nothing")
        for goal_id in action.get("goalId", []):
            if goal_id not in goal_ids:
                self.problem(rule_id, f"goalId {goal_id!r} is not a goal of this PlanDefinition")
        schedule = []
        for ext in extensions(action, "schedule-from"):
            facts = [self.fact(rule_id, sub.get("valueString")) for sub in ext.get("extension", [])
                     if sub.get("url") == "fact"]
            interval = self.duration(rule_id, extension_value(ext, "interval"), "schedule-from interval")
            if facts and all(facts) and interval:
                schedule.append(([f for f in facts if f], interval))
        due_in = self.duration(rule_id, action["timingDuration"], "timingDuration") \
            if action.get("timingDuration") else None
        satisfied = []
        for ext in extensions(action, "satisfied-by"):
            fact = self.fact(rule_id, extension_value(ext, "fact"))
            interval = self.duration(rule_id, extension_value(ext, "interval"), "satisfied-by interval")
            condition = extension_value(ext, "condition")
            compiled = self.expression(rule_id, condition, "satisfied-by condition") if condition else None
            if fact and interval:
                satisfied.append(SatisfiedBy(fact, interval, extension_value(ext, "label") or fact.label, compiled))
        gaps = []
        for ext in extensions(action, "gap"):
            fact = self.fact(rule_id, extension_value(ext, "fact"))
            message = extension_value(ext, "message")
            if not message:
                self.problem(rule_id, "gap without a message")
            elif fact:
                gaps.append((fact, message))
        repeat = (action.get("timingTiming") or {}).get("repeat")
        population = self.population(rule_id, action)
        strength = self.strength(rule_id, action)
        if None in conditions or rationale is None or not citations:
            return None
        return Rule(
            id=rule_id, title=action.get("title") or rule_id, area=area, pack=pack,
            conditions=[c for c in conditions if c], citations=citations, rationale=rationale,
            inputs=self.inputs(rule_id, action), activity=activity, goal_ids=list(action.get("goalId", [])),
            repeat=dict(repeat) if repeat else None, schedule_from=tuple(schedule), due_in=due_in,
            exclusions=self.checks(rule_id, action, "exclusion"),
            contraindications=self.checks(rule_id, action, "contraindication"),
            satisfied_by=satisfied, choices=self.choices(rule_id, action), alert=alert,
            alert_summary=alert_summary, gaps=gaps,
            population=population, strength=strength,
            abnormal_now=bool(extension_value(action, "abnormal-now", False)),
            overdue_now=bool(extension_value(action, "overdue-now", False)),
            needs_result=tuple(str(e.get("valueCode")) for e in extensions(action, "needs-result")),
        )

    def strength(self, element_id: str, action: Mapping[str, Any]) -> tuple[str, str] | None:
        """The recommendation's (scale, grade), checked against the scale's grades; None when not recorded."""
        found = extensions(action, "strength")
        if not found:
            return None
        scale, grade = extension_value(found[0], "scale"), extension_value(found[0], "grade")
        if grade not in STRENGTH_GRADES.get(scale, ()):
            self.problem(element_id, f"strength {scale!r} {grade!r} is not a grade of "
                                     f"{', '.join(STRENGTH_GRADES)}")
            return None
        return scale, grade

    def population(self, element_id: str, action: Mapping[str, Any]) -> populations.Population | None:
        """The action's own population; it must lie within the area's and name facts the Library declares."""
        found: list[str] = []
        stated = populations.action_population(action, found, f"action '{element_id}'")
        for problem in found:
            self.problems.append(f"{self.where}: {problem}")
        if stated is None:
            return None
        if self.area_population is not None:
            for problem in stated.narrows(self.area_population):
                self.problem(element_id, f"population outside its area's: {problem}")
        self.check_pregnancy(element_id, stated)
        return stated

    def check_pregnancy(self, element_id: str, stated: populations.Population) -> None:
        """A population that names pregnancy needs the Library's pregnancy condition key."""
        if stated.pregnancy and f"Condition:{populations.PREGNANCY_KEY}" not in self.labels:
            self.problem(element_id, f"population names pregnancy but the Library declares no Condition key "
                                     f"'{populations.PREGNANCY_KEY}'")

    def goal(self, goal: Mapping[str, Any], area: str, pack: PackInfo) -> GoalRule | None:
        goal_id = goal.get("id") or "?"
        targets, measure, due = [], {}, None
        for target in goal.get("target", []):
            coding = ((target.get("measure") or {}).get("coding") or [{}])[0]
            quantity = target.get("detailQuantity") or {}
            if not coding.get("code") or "value" not in quantity or quantity.get("comparator") not in ("<", "<=",
                                                                                                       ">", ">="):
                self.problem(goal_id, "goal target needs a coded measure and a detailQuantity with a comparator")
                continue
            measure = measure or coding
            targets.append({"measure": {k: coding.get(k) for k in ("system", "code", "display")},
                            "comparator": quantity["comparator"], "value": quantity["value"],
                            "unit": quantity.get("unit")})
            due = due or self.duration(goal_id, target.get("due"), "goal target due")
        condition = extension_value(goal, "condition")
        citations = self.citations(goal_id, [extension_value(goal, "citation") or {}])
        rationale = self.template(goal_id, extension_value(goal, "rationale"), "goal rationale")
        addresses = [fact for fact in (self.fact(goal_id, path) for path in
                                       (extension_value(a, "fact-path") for a in goal.get("addresses", [])) if path)
                     if fact]
        if not goal.get("id") or not targets or due is None or rationale is None or not citations:
            if not goal.get("id"):
                self.problems.append(f"{self.where}: a goal of area '{area}' has no id")
            return None
        return GoalRule(
            id=goal_id, area=area, pack=pack, description=(goal.get("description") or {}).get("text", goal_id),
            measure={k: measure.get(k) for k in ("system", "code", "display")}, targets=targets, due=due,
            addresses=addresses,
            addresses_text=", ".join(a.get("text", "") for a in goal.get("addresses", []) if a.get("text")),
            citations=citations, rationale=rationale,
            inputs=[f for f in (self.fact(goal_id, e.get("valueString")) for e in extensions(goal, "input")) if f],
            condition=self.expression(goal_id, condition, "goal condition") if condition else None,
            editable_range=_editable_range(extension_value(goal, "editable-range"), citations),
            choices=self.choices(goal_id, goal),
            patient_text=translations(goal, "patient-text", self.resource.get("language") or "en"),
        )


def plan_definition(where: str, resource: Mapping[str, Any], definitions: Mapping[str, ActivityTemplate],
                    labels: Mapping[str, str], problems: list[str], *, use_fast_path: bool = True) -> Area | None:
    """One PlanDefinition as a guideline area (its one top-level action group holds the rules)."""
    before = len(problems)
    for name in ("url", "version", "title"):
        if not resource.get(name):
            problems.append(f"{where}: PlanDefinition has no {name}")
    if resource.get("status") not in STATUSES:
        problems.append(f"{where}: status {resource.get('status')!r} is not one of {', '.join(STATUSES)}")
    if not (resource.get("effectivePeriod") or {}).get("start"):
        problems.append(f"{where}: PlanDefinition has no effectivePeriod.start")
    groups = resource.get("action", [])
    if len(groups) != 1 or not groups[0].get("id"):
        problems.append(f"{where}: a PlanDefinition holds exactly one top-level action (the area) with an id")
        return None
    reader = _Reader(where, resource, definitions, labels, problems, use_fast_path)
    reader.guidelines = {a.get("label", ""): a for a in resource.get("relatedArtifact", [])
                         if a.get("type") == "citation"}
    for label, guideline in reader.guidelines.items():
        if not label or not guideline.get("display") or not extension_value(guideline, "citation-year"):
            problems.append(f"{where}: guideline citation {label!r} needs a label, a display and a citation-year")
    group = groups[0]
    pack = pack_info(where, resource)
    reader.area_population = populations.plan_definition_population(resource, problems, where)
    if reader.area_population is not None:
        reader.check_pregnancy(group["id"], reader.area_population)
    area_title = group.get("title") or resource.get("title", "")
    conditions = [c for c in group.get("condition", []) if c.get("kind") == "applicability"]
    if len(conditions) != 1:
        reader.problem(group["id"], "the area needs exactly one applicability condition")
        return None
    condition = reader.expression(group["id"], conditions[0].get("expression"), "area condition")
    summaries = []
    for ext in extensions(group, "summary"):
        when = reader.expression(group["id"], extension_value(ext, "condition"), "summary condition")
        text = reader.template(group["id"], extension_value(ext, "text"), "summary")
        if when and text:
            summaries.append((when, text))
    goals = [reader.goal(goal, area_title, pack) for goal in resource.get("goal", [])]
    goal_ids = {goal.get("id") for goal in resource.get("goal", [])}
    rules = [reader.rule(action, area_title, pack, goal_ids) for action in group.get("action", [])]
    if len(problems) > before or condition is None:
        return None
    keys = {fact.key for item in [*rules, *goals] if item for fact in item.inputs}
    for item in [*rules, *goals]:
        if item:
            item.area_id = group["id"]
    return Area(id=group["id"], title=area_title, pack=pack, condition=condition,
                rules=[r for r in rules if r], goals=[g for g in goals if g], summaries=summaries,
                input_keys=frozenset(keys), population=reader.area_population,
                citation=_first_guideline(reader.guidelines))


def _first_guideline(guidelines: Mapping[str, Mapping[str, Any]]) -> Citation | None:
    """The first guideline a PlanDefinition cites, as the source of its population (no section)."""
    for guideline in guidelines.values():
        year = str(extension_value(guideline, "citation-year", ""))
        return Citation(guideline=guideline.get("display", ""), year=year, section="", url=guideline.get("url", ""))
    return None
