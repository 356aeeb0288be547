"""The Plan and its parts: what the review page, the FHIR writer and the audit log consume.

Every goal and activity carries a :class:`Rationale`: the rule and pack version that produced it, the
guideline citation, the facts used (values, units, dates) and the FHIR references they came from.
``Plan.to_dict()`` gives JSON-able data and ``Plan.from_dict()`` reverses it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Ref = dict[str, Any]  # {"type": "Observation", "id": "o1", "version": "2"}


@dataclass
class Citation:
    """Where a rule comes from: guideline, year, section, link."""

    guideline: str
    year: str
    section: str
    url: str


@dataclass
class FactUsed:
    """One fact a rule read, as the clinician should see it."""

    key: str
    label: str
    value: Any
    unit: str | None = None
    date: str | None = None
    refs: list[Ref] = field(default_factory=list)


@dataclass
class Rationale:
    """Why a goal or an activity is in the plan."""

    rule_id: str
    pack_url: str
    pack_version: str
    citation: Citation
    facts_used: list[FactUsed] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    text: str = ""
    citations: list[Citation] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rationale:
        """Rebuild from :meth:`Plan.to_dict` output."""
        return cls(
            rule_id=data["rule_id"], pack_url=data["pack_url"], pack_version=data["pack_version"],
            citation=Citation(**data["citation"]),
            facts_used=[FactUsed(**item) for item in data.get("facts_used", [])],
            refs=list(data.get("refs", [])), text=data.get("text", ""),
            citations=[Citation(**item) for item in data.get("citations", [])],
        )


@dataclass
class Goal:
    """A measurable target (e.g. HbA1c < 7 %) the plan proposes."""

    id: str
    area: str
    description: str
    measure: dict[str, Any]
    targets: list[dict[str, Any]]
    due: str
    addresses: list[dict[str, Any]]
    rationale: Rationale
    editable_range: dict[str, Any] | None = None
    clinician_choice: bool = False
    area_id: str = ""
    #: The goal for the patient, by language; ``{target}`` stands for its target in words.
    patient_text: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> dict[str, Any]:
        """The first (usually only) target: {comparator, value, unit, measure}."""
        return self.targets[0]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Goal:
        """Rebuild from :meth:`Plan.to_dict` output."""
        values = {k: v for k, v in data.items() if k not in ("rationale", "target")}
        return cls(**values, rationale=Rationale.from_dict(data["rationale"]))


@dataclass
class Activity:
    """Something to do: a lab order, referral, medication, education, lifestyle change, screening..."""

    id: str
    area: str
    kind: str
    code: dict[str, Any]
    description: str
    timing: dict[str, Any]
    goal_ids: list[str]
    rationale: Rationale
    clinician_choice: bool = False
    title: str = ""
    area_id: str = ""
    #: What the visit schedule ranks it by: strength {scale, grade} or None, abnormal, overdue_since, the
    #: results it needs first (``needs``) and, for a lab order, the results it gives (``provides``).
    priority: dict[str, Any] = field(default_factory=dict)
    #: What the activity means for the patient, by language (the pack's ``patient-text``).
    patient_text: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Activity:
        """Rebuild from :meth:`Plan.to_dict` output."""
        values = {k: v for k, v in data.items() if k != "rationale"}
        return cls(**values, rationale=Rationale.from_dict(data["rationale"]))


@dataclass
class Plan:
    """A personalized care plan: goals, activities, gaps, what was not recommended and why, warnings."""

    as_of: str
    patient_id: str | None
    packs: list[dict[str, Any]]
    goals: list[Goal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    not_recommended: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    data_quality: list[dict[str, Any]] = field(default_factory=list)
    area_summaries: list[dict[str, Any]] = field(default_factory=list)
    #: Whom the packs did not cover: ``statement`` (None, or why no area applied) and ``left_out`` (each area
    #: or rule not applied because the patient is outside its population, with the reason).
    population: dict[str, Any] = field(default_factory=lambda: {"statement": None, "left_out": []})
    #: This visit and later (:mod:`app.engine.schedule`): ``thisVisit`` ids, ``later`` [{id, date, reason}],
    #: ``reasons`` (id -> why this visit), ``bloodDraws`` [{date, ids}], ``visitSize``.
    schedule: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data; goals also carry ``target`` (their first target) for convenience."""
        data = asdict(self)
        for goal in data["goals"]:
            goal["target"] = goal["targets"][0] if goal["targets"] else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a Plan from :meth:`to_dict` output."""
        return cls(
            as_of=data["as_of"], patient_id=data.get("patient_id"), packs=list(data.get("packs", [])),
            goals=[Goal.from_dict(item) for item in data.get("goals", [])],
            activities=[Activity.from_dict(item) for item in data.get("activities", [])],
            gaps=list(data.get("gaps", [])), not_recommended=list(data.get("not_recommended", [])),
            warnings=list(data.get("warnings", [])), data_quality=list(data.get("data_quality", [])),
            area_summaries=list(data.get("area_summaries", [])),
            population=dict(data.get("population") or {"statement": None, "left_out": []}),
            schedule=dict(data.get("schedule") or {}),
        )

    def activity(self, activity_id: str) -> Activity | None:
        """The activity with this id, if the plan has it."""
        return next((item for item in self.activities if item.id == activity_id), None)

    def goal(self, goal_id: str) -> Goal | None:
        """The goal with this id, if the plan has it."""
        return next((item for item in self.goals if item.id == goal_id), None)
