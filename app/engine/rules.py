"""Compiled guideline rules: what a pack's PlanDefinitions become once loaded and checked.

Each object keeps only what evaluation needs, with every FHIRPath expression and text template compiled
once. :mod:`app.engine.packs` builds them; :mod:`app.engine.evaluate` runs them.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from app.engine.fhirpath import CompiledExpression, compile_expression
from app.engine.model import Citation
from app.formats import human_date, is_iso_date, medicine_name, mmhg

if TYPE_CHECKING:
    from app.engine.population import Population

EXT = "http://carepath.dev/fhir/StructureDefinition/"
FACT_SECTIONS = ("patient", "measures", "bp", "conditions", "medications", "allergies", "procedures",
                 "smoking", "scores", "not_done", "treatment")
_PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}")
_OPTIONAL = re.compile(r"\[\[(.+?)\]\]", re.S)
#: Placeholders that hold a blood pressure (average or latest reading): shown in whole mmHg.
_BP_VALUE = re.compile(r"%facts\.bp(?:\.latest)?\.[sd]bp$")


@dataclass(frozen=True)
class Duration:
    """A FHIR Duration restricted to the units rules use: a, mo, wk, d."""

    value: int
    unit: str

    def text(self) -> str:
        """'10 years', '3 months'."""
        names = {"a": "year", "mo": "month", "wk": "week", "d": "day"}
        name = names[self.unit]
        return f"{self.value} {name}{'' if self.value == 1 else 's'}"


def add_duration(start: date, duration: Duration) -> date:
    """``start`` plus a whole number of years, months, weeks or days (month ends clamp: Jan 31 + 1 mo)."""
    if duration.unit in ("a", "mo"):
        months = duration.value * (12 if duration.unit == "a" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year += start.year
        day = min(start.day, calendar.monthrange(year, month + 1)[1])
        return date(year, month + 1, day)
    days = duration.value * (7 if duration.unit == "wk" else 1)
    return date.fromordinal(start.toordinal() + days)


@dataclass(frozen=True)
class FactPath:
    """Where a fact lives in the facts dict ('measures.hba1c'), and how to call it."""

    path: tuple[str, ...]
    label: str
    #: False for facts read only as evidence (a prior screening test): their absence is not a data gap.
    gap: bool = True

    @property
    def key(self) -> str:
        """The fact key: the last part of the path ('hba1c'), or the section for 'bp', 'smoking'."""
        return self.path[-1]

    def lookup(self, facts: Mapping[str, Any]) -> Any:
        """The fact's value in ``facts``, or None when absent."""
        node: Any = facts
        for part in self.path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node


class Template:
    """Text with ``{{ FHIRPath }}`` placeholders, compiled once.

    ``{{ FHIRPath :: .1f }}`` formats a number; ``{{ FHIRPath ?? none recorded }}`` says what an empty value reads
    as (default ``unknown``); ``[[ ... ]]`` is an optional segment, left out whole when a placeholder in it is
    empty ("[[Average BP {{%facts.bp.sbp}}/{{%facts.bp.dbp}} mmHg. ]]"), or replaced by the text after ``||``
    ("[[{{%facts.measures.uacr.value}} mg/g || none recorded]]").
    """

    def __init__(self, text: str, *, use_fast_path: bool = True) -> None:
        self.text = text
        #: Each segment: (text instead when a placeholder is empty, or None: not optional; parts); a part is text or
        #: (expression, number format, text when empty).
        self.segments: list[tuple[str | None, list[str | tuple[CompiledExpression, str, str]]]] = []
        position = 0
        for match in _OPTIONAL.finditer(text):
            self.segments.append((None, self._parts(text[position:match.start()], use_fast_path)))
            body, _, instead = match.group(1).partition("||")
            self.segments.append((instead.strip(), self._parts(body.rstrip() if instead else body, use_fast_path)))
            position = match.end()
        self.segments.append((None, self._parts(text[position:], use_fast_path)))

    @staticmethod
    def _parts(text: str, use_fast_path: bool) -> list[str | tuple[CompiledExpression, str, str]]:
        parts: list[str | tuple[CompiledExpression, str, str]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[position:match.start()])
            body, _, empty = match.group(1).partition("??")
            expression, _, spec = body.partition("::")
            parts.append((compile_expression(expression.strip(), use_fast_path=use_fast_path), spec.strip(),
                          empty.strip() or "unknown"))
            position = match.end()
        parts.append(text[position:])
        return parts

    @property
    def expressions(self) -> list[CompiledExpression]:
        """The compiled placeholders."""
        return [part[0] for _instead, parts in self.segments for part in parts if isinstance(part, tuple)]

    def render(self, env: Mapping[str, Any]) -> str:
        """The text with each placeholder replaced by its value; an optional segment with an empty one left out."""
        out = []
        for instead, parts in self.segments:
            rendered = []
            for part in parts:
                if isinstance(part, str):
                    rendered.append(part)
                    continue
                expression, spec, empty = part
                values = expression(env)
                if not values and instead is not None:
                    rendered = [instead]
                    break
                shown = (text_value(value, spec, expression.text) for value in values)
                rendered.append(", ".join(shown) if values else empty)
            out.extend(rendered)
        return "".join(out)


def text_value(value: Any, spec: str, source: str) -> str:
    """A fact value as a sentence shows it: dates as ``12 Mar 2021``, medicines by ingredient, blood pressure in
    whole mmHg (``source`` is the placeholder's expression); other values as :func:`format_value`."""
    if spec:
        return format_value(value, spec)
    if is_iso_date(value):
        return human_date(value)
    if isinstance(value, str):
        return medicine_name(value)
    if _BP_VALUE.search(source.strip()):
        return mmhg(value)
    return format_value(value)


def format_value(value: Any, spec: str = "") -> str:
    """A value as a clinician reads it: 7.0 -> '7', 8.43 -> '8.43' (or as the spec says)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if spec:
            return format(value, spec)
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value)


@dataclass
class Check:
    """An exclusion or a safety contraindication: when its condition holds, the rule does not propose."""

    condition: CompiledExpression
    reason: Template
    severity: str | None = None
    instead: ActivityTemplate | None = None
    #: The warning's card summary: short, the action first (a severity makes the check a warning).
    summary: Template | None = None


@dataclass
class SatisfiedBy:
    """A completed test that keeps a screening up to date for ``interval``."""

    fact: FactPath
    interval: Duration
    label: str
    condition: CompiledExpression | None = None


@dataclass
class ActivityTemplate:
    """An ActivityDefinition: what the activity is, coded."""

    url: str
    version: str
    title: str
    kind: str
    code: dict[str, Any]
    description: str
    #: What the activity means for the patient, by language (``patient-text``; the patient copy).
    patient_text: dict[str, str] = field(default_factory=dict)


@dataclass
class PackInfo:
    """The exact version of one PlanDefinition a plan used."""

    url: str
    version: str
    title: str
    file: str
    effective_start: str | None = None
    effective_end: str | None = None
    status: str = ""

    def as_dict(self) -> dict[str, str]:
        """{url, version, title, status} as plans record it."""
        return {"url": self.url, "version": self.version, "title": self.title, "status": self.status}


@dataclass
class ChoiceNote:
    """Where the guideline leaves the choice to the clinician, and when."""

    text: Template
    condition: CompiledExpression | None = None


@dataclass
class Rule:
    """One PlanDefinition action: conditions -> an activity (or an alert), with its reasons."""

    id: str
    title: str
    area: str
    pack: PackInfo
    conditions: list[CompiledExpression]
    citations: list[Citation]
    rationale: Template
    inputs: list[FactPath] = field(default_factory=list)
    activity: ActivityTemplate | None = None
    goal_ids: list[str] = field(default_factory=list)
    repeat: dict[str, Any] | None = None
    #: One (facts, interval) per test the activity repeats: each is next due its interval after the latest of its
    #: facts (at once when none is recorded); the activity is due when the first of them is.
    schedule_from: tuple[tuple[list[FactPath], Duration], ...] = ()
    due_in: Duration | None = None
    exclusions: list[Check] = field(default_factory=list)
    contraindications: list[Check] = field(default_factory=list)
    satisfied_by: list[SatisfiedBy] = field(default_factory=list)
    choices: list[ChoiceNote] = field(default_factory=list)
    alert: tuple[str, Template] | None = None
    #: The alert's card summary: short, the action first ("Verify HbA1c 3.03 % on insulin: hypoglycaemia risk").
    alert_summary: Template | None = None
    gaps: list[tuple[FactPath, str]] = field(default_factory=list)
    area_id: str = ""
    #: Whom the rule is for when narrower than its area (None: the area's population).
    population: Population | None = None
    #: (scale, grade) the cited guideline gives the recommendation (``strength``), or None: not recorded.
    strength: tuple[str, str] | None = None
    #: The rule answers a result out of range now (``abnormal-now``): ranked right after safety in a visit.
    abnormal_now: bool = False
    #: The rule's test or measurement is overdue whenever it applies (``overdue-now``; e.g. no HbA1c within
    #: its look-back); rules with ``satisfied-by`` or ``schedule-from`` are dated overdue by the engine.
    overdue_now: bool = False
    #: Fact keys whose fresh result the action needs first (``needs-result``).
    needs_result: tuple[str, ...] = ()


@dataclass
class GoalRule:
    """A PlanDefinition goal: proposed when its area applies (and its own condition, if any, holds)."""

    id: str
    area: str
    pack: PackInfo
    description: str
    measure: dict[str, Any]
    targets: list[dict[str, Any]]
    due: Duration
    addresses: list[FactPath]
    addresses_text: str
    citations: list[Citation]
    rationale: Template
    inputs: list[FactPath] = field(default_factory=list)
    condition: CompiledExpression | None = None
    editable_range: dict[str, Any] | None = None
    choices: list[ChoiceNote] = field(default_factory=list)
    area_id: str = ""
    #: The goal for the patient, by language (``patient-text``; ``{target}`` is its target in words).
    patient_text: dict[str, str] = field(default_factory=dict)


@dataclass
class Area:
    """A guideline area (one PlanDefinition): evaluated only when its condition holds."""

    id: str
    title: str
    pack: PackInfo
    condition: CompiledExpression
    rules: list[Rule]
    goals: list[GoalRule]
    summaries: list[tuple[CompiledExpression, Template]] = field(default_factory=list)
    input_keys: frozenset[str] = frozenset()
    #: Whom the area is for (the PlanDefinition's useContext): nothing of the area applies outside it.
    population: Population | None = None
    #: The guideline the area cites first (its population's source in the plan).
    citation: Citation | None = None


def compile_checked(text: str, where: str, problems: list[str], *, use_fast_path: bool = True
                    ) -> CompiledExpression | None:
    """Compile or record a problem naming ``where``."""
    try:
        return compile_expression(text, use_fast_path=use_fast_path)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None


def template_checked(text: str, where: str, problems: list[str], *, use_fast_path: bool = True
                     ) -> Template | None:
    """Compile a text template or record a problem naming ``where``."""
    try:
        return Template(text, use_fast_path=use_fast_path)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None
