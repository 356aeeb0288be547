"""build_plan: facts + pack set + evaluation date -> Plan (with its visit schedule). Pure: no Flask, no HTTP, no
clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from app.engine.fhirpath import PATH_CACHE, is_true
from app.engine.model import Activity, FactUsed, Goal, Plan, Rationale
from app.engine.packs import PackSet
from app.engine.population import Population, child_scope_statement, coverage_statement
from app.engine.rules import ActivityTemplate, Area, FactPath, GoalRule, Rule, Template, add_duration
from app.engine.schedule import schedule_plan, visit_settings
from app.formats import human_date, mmhg
from app.refs import unique_refs

__all__ = ["add_duration", "build_plan"]


def build_plan(facts: Mapping[str, Any], pack_set: PackSet, as_of: date | str) -> Plan:
    """The care plan the packs propose for these facts on ``as_of``; every item carries its rationale."""
    plan = _Evaluation(facts, pack_set, _to_date(as_of)).run()
    plan.schedule = schedule_plan(plan, *visit_settings(pack_set.library))
    return plan


def _to_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


class _Evaluation:
    """One run of the packs over one patient's facts."""

    def __init__(self, facts: Mapping[str, Any], pack_set: PackSet, as_of: date | None) -> None:
        if as_of is None:
            raise ValueError("as_of must be a date (YYYY-MM-DD)")
        self.facts, self.pack_set, self.as_of = facts, pack_set, as_of
        self.env = {"facts": facts, "asOf": as_of.isoformat(), PATH_CACHE: {}}
        patient = facts.get("patient") or {}
        self.plan = Plan(as_of=as_of.isoformat(), patient_id=patient.get("id"), packs=pack_set.packs,
                         data_quality=list(facts.get("dataQuality") or []))
        self.missing = {item.get("key"): item for item in facts.get("missing") or []}
        self._used: dict[tuple[str, ...], FactUsed | None] = {}
        self._gap_keys: set[tuple[str, str | None]] = set()
        self._noted: list[FactPath] = []
        self._explained: set[str] = set()  # missing keys a rule's own gap message already explains

    def run(self) -> Plan:
        outside = [area for area in self.pack_set.areas if not self._effective(area)]
        if outside:
            self.plan.warnings.append({
                "rule_id": "pack-effective-period", "severity": "low", "refs": [],
                "message": f"the plan date {human_date(self.as_of)} is outside the effective period of "
                           + "; ".join(f"{a.pack.title} {a.pack.version} ({human_date(a.pack.effective_start)} to "
                                       f"{human_date(a.pack.effective_end) or 'open'})" for a in outside)})
        self._implausible_latest()
        self._contradictions()
        for area in self.pack_set.areas:
            self._guarded(area.id, area.title, self._area, area)
        self._population_statement()
        return self.plan

    def _outside(self, population: Population | None) -> tuple[str, str] | None:
        """Why the patient is outside ``population`` (kind, words), or None: the engine's own gate, whatever an
        area's or rule's applicability expressions say."""
        return population.outside(self.facts) if population is not None else None

    def _left_out(self, item: Area | Rule, population: Population, words: str) -> None:
        """Record an area or rule not applied because the patient is outside its population."""
        is_area = isinstance(item, Area)
        citation = item.citation if is_area else item.citations[0]
        source = f" ({citation.guideline}{', ' + citation.section if citation.section else ''})" if citation else ""
        entry: dict[str, Any] = {
            "rule_id": item.id, "kind": "area" if is_area else "rule", "title": item.title,
            "area": item.title if is_area else item.area, "area_id": item.id if is_area else item.area_id,
            "population": population.text(), "reason": f"for {population.text()}{source}; {words}",
            "citation": asdict(citation) if citation else None,
            "refs": list((self.facts.get("patient") or {}).get("refs") or []),
        }
        if is_area:
            entry["rules"] = [{"rule_id": rule.id, "title": rule.title} for rule in item.rules]
        self.plan.population["left_out"].append(entry)

    def _population_statement(self) -> None:
        """When no area's population holds the patient, the plan says so (and why) instead of staying silent."""
        areas = self.pack_set.areas
        left = {entry["area_id"] for entry in self.plan.population["left_out"] if entry["kind"] == "area"}
        if areas and any(area.id not in left for area in areas):
            self.plan.population["statement"] = child_scope_statement(
                [(area.title, area.population) for area in areas], self.facts, self.pack_set.out_of_scope)
            if self.plan.population["statement"]:  # some area applies: the statement is the scope, not a refusal
                self.plan.population["kind"] = "scope"
            return
        if not areas:
            return
        statement = coverage_statement([(area.title, area.population) for area in areas], self.facts,
                                       self.pack_set.out_of_scope)
        self.plan.population["statement"] = statement

    def _implausible_latest(self) -> None:
        """A warning for each key whose latest result is implausible (app/context/bounds.py): verify the record
        and measure again; the value is used for nothing, and an older plausible one may stand in for it."""
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.facts.get("dataQuality") or []:
            if entry.get("kind") == "implausible" and entry.get("date"):
                known = latest.get(entry["key"])
                if known is None or entry["date"] > known["date"]:
                    latest[entry["key"]] = entry
        for key, entry in sorted(latest.items()):
            measure = (self.facts.get("measures") or {}).get(key) or {}
            if measure.get("date") and measure["date"] > entry["date"]:
                continue  # a newer plausible result supersedes it
            self.plan.warnings.append({
                "rule_id": "data-implausible", "severity": "moderate", "refs": [entry["ref"]],
                "message": f"{entry['problem']} ({entry['date']}): please verify the record and measure again"
                           + (f"; the plan uses the earlier result of {measure['date']}" if measure.get("date")
                              else "")})

    def _contradictions(self) -> None:
        """A warning for each record that contradicts itself in a way the context resolved toward the safer
        reading (a lifelong condition recorded as active and ended: kept active): verify the record."""
        for entry in self.facts.get("dataQuality") or []:
            if entry.get("kind") == "contradiction":
                self.plan.warnings.append({"rule_id": "data-contradiction", "severity": "moderate",
                                           "refs": [entry["ref"]], "message": entry["problem"]})

    def _area(self, area: Area) -> bool:
        outside = self._outside(area.population)
        if outside is not None and area.population is not None:
            self._left_out(area, area.population, outside[1])
            return False
        if not is_true(area.condition(self.env)):
            return False
        texts = [text.render(self.env) for when, text in area.summaries if is_true(when(self.env))]
        if texts:
            self.plan.area_summaries.append({"area": area.title, "area_id": area.id, "pack_url": area.pack.url,
                                             "text": "; ".join(texts)})
        self._noted = []
        for rule in area.rules:
            self._guarded(rule.id, rule.title, self._apply, rule)
        for goal in area.goals:
            self._guarded(goal.id, goal.description, self._include_goal, goal)
        self._data_gaps()
        return True

    def _include_goal(self, goal: GoalRule) -> None:
        if goal.condition is None or is_true(goal.condition(self.env)):
            self.plan.goals.append(self._goal(goal))
            self._noted.extend(goal.inputs)

    def _guarded(self, item_id: str, title: str, step: Any, item: Any) -> Any:
        """Run one area, rule or goal; facts it cannot evaluate become a warning, never a crash or silence."""
        try:
            return step(item)
        except Exception as exc:  # fhirpathpy raises bare Exceptions on values of unexpected types
            self.plan.warnings.append({
                "rule_id": item_id, "severity": "moderate", "refs": [],
                "message": f"'{title}' could not be evaluated on this patient's data ({type(exc).__name__}: "
                           f"{exc}); it is neither proposed nor ruled out"})
            return None

    def _effective(self, area: Area) -> bool:
        start, end = _to_date(area.pack.effective_start), _to_date(area.pack.effective_end)
        return not ((start and self.as_of < start) or (end and self.as_of > end))

    def _data_gaps(self) -> None:
        """Missing facts that rules or goals which applied wanted to read (measures, scores, BP, smoking)."""
        for fact in self._noted:
            for key in _missing_keys(fact):
                if key in self.missing and key not in self._explained:
                    self._gap(key, self.missing[key].get("message", f"{key} missing"), None)

    def _gap(self, key: str, message: str, rule_id: str | None) -> None:
        if (key, rule_id) in self._gap_keys:
            return
        self._gap_keys.add((key, rule_id))
        gap: dict[str, Any] = {"key": key, "message": message}
        if rule_id:
            gap["rule_id"] = rule_id
        self.plan.gaps.append(gap)

    def _apply(self, rule: Rule) -> None:
        outside = self._outside(rule.population)
        if outside is not None and rule.population is not None:
            # A rule for pregnancy alone is not listed for every patient who is not pregnant: like any rule whose
            # situation does not arise, it is silent; a patient outside by age or sex, or pregnant where the rule
            # excludes pregnancy, is told which rule was left out and why.
            if not (outside[0] == "pregnancy" and rule.population.pregnancy == "only"):
                self._left_out(rule, rule.population, outside[1])
            return
        unseen = self._unseen(rule)
        if unseen is not None:
            # Data the server would not let carepath read is not data that is absent: "ask about tobacco use"
            # for a patient whose Observations could not be read would ask what the record may already say.
            self._gap(str(unseen.get("key")), str(unseen.get("message")), None)
            self.plan.warnings.append({
                "rule_id": rule.id, "severity": "low", "area": rule.area, "area_id": rule.area_id, "refs": [],
                "message": f"'{rule.title}' is neither proposed nor ruled out: {unseen.get('message')}"})
            return
        env = self.env
        for condition in rule.conditions:
            if not is_true(condition(env)):
                return
        for fact, message in rule.gaps:
            if fact.lookup(self.facts) in (None, [], {}):
                known = next((self.missing[k] for k in _missing_keys(fact) if k in self.missing), None)
                self._gap(fact.key, f"{message} ({known['message']})" if known else message, rule.id)
                self._explained.update(_missing_keys(fact))
        skip = {satisfied.fact.path for satisfied in rule.satisfied_by}
        self._noted.extend(fact for fact in rule.inputs if fact.gap and fact.path not in skip)
        for check in rule.exclusions:
            if is_true(check.condition(env)):
                reason = check.reason.render(env)
                self._not_recommended(rule, reason)
                if check.severity:
                    self._warn(rule, reason, check.severity, check.summary)
                if check.instead is not None:
                    self._activity(rule, check.instead, f"{rule.id}.instead")
                return
        fired = [check for check in rule.contraindications if is_true(check.condition(env))]
        if fired:
            reasons = [check.reason.render(env) for check in fired]
            for check, reason in zip(fired, reasons, strict=True):
                self._warn(rule, reason, check.severity or "high", check.summary)
            self._not_recommended(rule, "; ".join(reasons))
            for check in fired:
                if check.instead is not None:
                    self._activity(rule, check.instead, f"{rule.id}.instead")
            return
        lapsed: list[date] = []  # when earlier tests stopped keeping the rule up to date: overdue since then
        for satisfied in rule.satisfied_by:
            if satisfied.condition is not None and not is_true(satisfied.condition(env)):
                continue
            done = self._fact_date(satisfied.fact)
            if done is not None and add_duration(done, satisfied.interval) > self.as_of:
                next_due = add_duration(done, satisfied.interval)
                self._not_recommended(rule, f"{satisfied.label} on {human_date(done)} is within "
                                            f"{satisfied.interval.text()} (next due {human_date(next_due)})")
                return
            if done is not None:
                lapsed.append(add_duration(done, satisfied.interval))
        if rule.alert is not None:
            self._warn(rule, rule.alert[1].render(env), rule.alert[0], rule.alert_summary)
        if rule.activity is not None:
            self._activity(rule, rule.activity, rule.id, max(lapsed) if lapsed else None)

    def _unseen(self, rule: Rule) -> dict[str, Any] | None:
        """The ``missing`` entry of a fact the rule reads that could not be read at all (its search answered with
        an error or with something unreadable), or None."""
        for fact in (*rule.inputs, *(fact for fact, _ in rule.gaps), *(s.fact for s in rule.satisfied_by)):
            for key in _missing_keys(fact) or (fact.key,):
                entry = self.missing.get(key)
                if entry and entry.get("unreadable"):
                    return entry
        return None

    def _fact_date(self, fact: FactPath) -> date | None:
        value = fact.lookup(self.facts)
        if isinstance(value, list):
            dates = [_to_date(item.get("date") or item.get("authoredOn")) for item in value if isinstance(item, dict)]
            dates = [d for d in dates if d]
            return max(dates) if dates else None
        if isinstance(value, Mapping):
            return _to_date(value.get("date") or value.get("onset"))
        return None

    def _activity(self, rule: Rule, template: ActivityTemplate, activity_id: str,
                  overdue_since: date | None = None) -> None:
        due = self.as_of if rule.due_in is None else add_duration(self.as_of, rule.due_in)
        if rule.schedule_from and activity_id == rule.id:
            # each test the activity repeats is next due its interval after its latest result; one never recorded
            # is due now, and the activity is due when the first of them is
            next_dues = []
            for facts, interval in rule.schedule_from:
                dates = [d for d in (self._fact_date(fact) for fact in facts) if d]
                next_dues.append(add_duration(max(dates), interval) if dates else None)
            first = min((d for d in next_dues if d is not None), default=None)
            if first is not None and None not in next_dues:
                due = max(due, first)
            if first is not None and first < self.as_of:  # a test recorded once and not repeated in time
                overdue_since = first
        timing: dict[str, Any] = {"due": due.isoformat()}
        if rule.repeat:
            timing["repeat"] = {"frequency": rule.repeat.get("frequency", 1), "period": rule.repeat.get("period"),
                                "period_unit": rule.repeat.get("periodUnit")}
        rationale, choice = self._rationale(rule, rule.choices)
        self.plan.activities.append(Activity(
            id=activity_id, area=rule.area, area_id=rule.area_id, kind=template.kind, code=dict(template.code),
            description=template.description, timing=timing, goal_ids=list(rule.goal_ids), rationale=rationale,
            clinician_choice=choice, title=rule.title if activity_id == rule.id else template.title,
            priority=_priority(rule, template, activity_id == rule.id, overdue_since),
            patient_text=dict(template.patient_text)))

    # The rationale's facts_used share FactUsed objects; Plan.to_dict() copies them.

    def _goal(self, goal: GoalRule) -> Goal:
        rationale, choice = self._rationale(goal, goal.choices)
        addresses = []
        for fact in goal.addresses:
            value = fact.lookup(self.facts)
            if isinstance(value, Mapping):
                addresses.append({"key": fact.key, "display": value.get("display") or fact.label,
                                  "refs": list(value.get("refs") or [])})
        if not addresses:
            addresses.append({"key": goal.id.split(".")[0], "display": goal.addresses_text or goal.area, "refs": []})
        return Goal(id=goal.id, area=goal.area, area_id=goal.area_id, description=goal.description,
                    measure=dict(goal.measure),
                    targets=[dict(target) for target in goal.targets],
                    due=add_duration(self.as_of, goal.due).isoformat(), addresses=addresses,
                    rationale=rationale, editable_range=dict(goal.editable_range) if goal.editable_range else None,
                    clinician_choice=choice, patient_text=dict(goal.patient_text))

    def _rationale(self, item: Rule | GoalRule, choices: list) -> tuple[Rationale, bool]:
        used = [fact for fact in (self._fact_used(path) for path in item.inputs) if fact is not None]
        refs = unique_refs(ref for fact in used for ref in fact.refs)
        text = item.rationale.render(self.env)
        choice = False
        for note in choices:
            if note.condition is None or is_true(note.condition(self.env)):
                choice = True
                text = f"{text} Clinician's choice: {note.text.render(self.env)}"
        return Rationale(rule_id=item.id, pack_url=item.pack.url, pack_version=item.pack.version,
                         citation=item.citations[0], facts_used=used, refs=refs, text=text,
                         citations=list(item.citations)), choice

    def _fact_used(self, fact: FactPath) -> FactUsed | None:
        if fact.path not in self._used:
            self._used[fact.path] = _describe(fact, fact.lookup(self.facts))
        return self._used[fact.path]  # shared between items: FactUsed is never modified after this

    def _not_recommended(self, rule: Rule, reason: str) -> None:
        self.plan.not_recommended.append({
            "rule_id": rule.id, "title": rule.title, "area": rule.area, "area_id": rule.area_id, "reason": reason,
            "citation": asdict(rule.citations[0]),
            "refs": self._refs(rule)})

    def _warn(self, rule: Rule, message: str, severity: str, summary: Template | None = None) -> None:
        warning = {"rule_id": rule.id, "message": message, "severity": severity, "area": rule.area,
                   "area_id": rule.area_id, "refs": self._refs(rule)}
        if summary is not None:  # the card's summary, when the pack writes one
            warning["summary"] = summary.render(self.env)
        self.plan.warnings.append(warning)

    def _refs(self, rule: Rule) -> list[dict[str, Any]]:
        return unique_refs(ref for used in (self._fact_used(path) for path in rule.inputs) if used
                           for ref in used.refs)


def _priority(rule: Rule, template: ActivityTemplate, own: bool, overdue_since: date | None) -> dict[str, Any]:
    """What the visit schedule ranks an activity by (:mod:`app.engine.schedule`). The strength, abnormality and
    needed results are those of the rule's own action; an alternative ('instead') carries none of them."""
    provides = sorted({fact.key for fact in rule.inputs if fact.path[0] in ("measures", "scores")}) \
        if template.kind == "lab-order" else []
    strength = {"scale": rule.strength[0], "grade": rule.strength[1]} if own and rule.strength else None
    return {"strength": strength, "abnormal": own and rule.abnormal_now, "overdue": own and rule.overdue_now,
            "overdue_since": overdue_since.isoformat() if overdue_since else None,
            "needs": list(rule.needs_result) if own else [], "provides": provides}


def _missing_keys(fact: FactPath) -> tuple[str, ...]:
    """The keys under which the context layer names this fact when it is missing (docs/facts.md)."""
    section = fact.path[0]
    if section == "bp":
        return ("bp", "sbp", "dbp", "bp_panel")
    if section == "scores":
        return (f"scores.{fact.key}", fact.key)
    if section in ("measures", "smoking"):
        return (fact.key,)
    return ()


def _describe(fact: FactPath, value: Any) -> FactUsed | None:
    """A fact as the rationale shows it: label, value, unit, date and source references."""
    if value in (None, [], {}):
        return None
    section = fact.path[0]
    if isinstance(value, list):
        items = [item for item in value if isinstance(item, Mapping)]
        refs = [ref for item in items for ref in item.get("refs") or []]
        dates = sorted(str(item.get("authoredOn") or item.get("date") or "")[:10] for item in items)
        return FactUsed(key=fact.key, label=fact.label, value="; ".join(str(i.get("display", "")) for i in items),
                        date=dates[-1] if dates and dates[-1] else None, refs=refs)
    if not isinstance(value, Mapping):
        return FactUsed(key=fact.key, label=fact.label, value=value)
    refs = list(value.get("refs") or [])
    if section == "not_done":  # a record not to do something: never confused with the thing's own key
        return FactUsed(key=f"not_done.{fact.key}", label=fact.label, value=value.get("display"),
                        date=value.get("date"), refs=refs)
    if section == "patient":
        return FactUsed(key="patient", label="Patient", value=f"{value.get('ageYears')} y, {value.get('sex')}",
                        refs=refs)
    if section == "bp":
        shown = f"{mmhg(value.get('sbp'))}/{mmhg(value.get('dbp'))}"
        readings = value.get("readings")
        label = f"Blood pressure (average of {readings} readings)" if readings and readings > 1 else "Blood pressure"
        return FactUsed(key="bp", label=label, value=shown, unit="mm[Hg]", date=value.get("date"), refs=refs)
    if section == "smoking":
        return FactUsed(key="smoking", label="Smoking status", value=value.get("status"), date=value.get("date"),
                        refs=refs)
    if section == "scores":
        label = f"{fact.label} ({value['method']})" if value.get("method") else fact.label
        return FactUsed(key=fact.key, label=label, value=value.get("value"), unit=value.get("unit"), refs=refs)
    shown = value.get("value")
    if shown is None:
        shown = value.get("phenotype") or value.get("display") or (value.get("valueCode") or {}).get("display")
    return FactUsed(key=fact.key, label=fact.label, value=shown, unit=value.get("unit"),
                    date=value.get("date") or value.get("onset"), refs=refs)
