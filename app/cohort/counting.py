"""How the cohort report counts: what each planned activity is, and how a finding's values are grouped.

Each activity's category, whether that category is a care gap when due, and the kind of work it takes come from
the pack's reviewed ``cohort/activity-kinds.json``, keyed by ActivityDefinition name. Several packs loaded together
(primary care and pediatric) each bring their file; the files are merged into one mapping, and an activity, a
category or a kind of work two files define differently is refused. A pack without that file is counted by its
ActivityDefinitions' ``activity-kind`` (``_DEFAULT``), and the report says so. A rule's eligible
patients are those on whom it decided: it proposed its activity or said why not (``not_recommended``), so the
denominator of every rate can be recomputed from ``plans.ndjson``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import PackSet
from app.engine.packs import COHORT_FOLDER, DEFAULT_PACK_DIR, PackFolders, pack_folders
from app.errors import PackError

MAPPING_FILE = "activity-kinds.json"
WORK_KINDS = ("labs", "screenings", "exams", "referrals", "visits", "counselling")
_DATES = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?")
#: A measured value: a standalone decimal (not part of a name such as HbA1c, G3b or 1.73m2, nor a § number).
_VALUES = re.compile(r"(?<![\w.§])\d+\.\d+(?!\w|\.\d)")
_TEMPLATE_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
#: activity-kind -> (category, care gap, work), for a pack without a reviewed mapping.
_DEFAULT = {"lab-order": ("test", True, "labs"), "screening": ("screening", True, "screenings"),
            "referral": ("referral", True, "referrals"), "medication": ("treatment-start", True, "visits"),
            "procedure": ("evaluation", True, "visits"), "counselling": ("counselling", False, "counselling"),
            "education": ("education", False, "counselling"), "lifestyle": ("lifestyle", False, "counselling")}


@dataclass(frozen=True)
class ActivityKind:
    """How one activity counts: its category, whether due-and-not-done is a care gap, its kind of work."""

    category: str
    care_gap: bool
    work: str


@dataclass
class Counting:
    """The counting rules of one pack, small enough to ship to every Spark task."""

    kinds: dict[str, ActivityKind]  # plan activity id (rule id, or rule id + '.instead') -> kind
    categories: dict[str, dict[str, Any]]  # category -> {"label", "care_gap"}
    source: str
    work_kinds: tuple[str, ...] = WORK_KINDS
    kept_numbers: frozenset[str] = frozenset()  # numbers the pack's own texts state (thresholds): never bucketed
    mapping: list[dict[str, Any]] = field(default_factory=list)  # per ActivityDefinition, for the report

    def kind_of(self, activity: dict[str, Any]) -> ActivityKind:
        """How a plan's activity counts (an activity the pack did not define counts by its activity-kind)."""
        known = self.kinds.get(activity["id"])
        if known is not None:
            return known
        category, care_gap, work = _DEFAULT.get(activity.get("kind", ""), ("counselling", False, "visits"))
        return ActivityKind(category, care_gap, work)

    def finding_text(self, text: str, *, pack_text: bool = False) -> str:
        """A finding with its dates and measured values grouped, so one problem in many patients counts once:
        'eGFR 83.89 (G2) on 2021-03-13' -> 'eGFR 80-85 (G2) on (date)'. Names (HbA1c, G3b) and counts are kept,
        and in a text the pack wrote (``pack_text``: a warning) its thresholds too; a range a-b holds a, not b.
        Nothing is cut."""
        text = _DATES.sub("(date)", text).replace("((date))", "(date)")
        kept = self.kept_numbers if pack_text else frozenset()
        return _VALUES.sub(lambda m: m.group() if m.group() in kept else bucket(m.group()), text)


def eligible_rules(plan: dict[str, Any]) -> set[str]:
    """The rules that decided on this patient: each proposed an activity or recorded why not. Rules left out by
    their population (``plan["population"]["left_out"]``) or not applicable are not among them."""
    rules = {activity["rationale"]["rule_id"] for activity in plan.get("activities", [])}
    return rules | {item["rule_id"] for item in plan.get("not_recommended", [])}


def bucket(number: str) -> str:
    """The range a measured value falls in: 10 wide from 100, 5 from 10, 0.5 from 1, 0.1 below."""
    value = float(number)
    width = 10.0 if value >= 100 else 5.0 if value >= 10 else 0.5 if value >= 1 else 0.1
    low = round(value // width * width, 1)
    return f"{low:g}-{round(low + width, 1):g}"


def load_counting(pack_set: PackSet, pack_dir: PackFolders = None) -> Counting:
    """The counting rules for ``pack_set``, read from the ``cohort/activity-kinds.json`` of each of its folders
    (``pack_dir``: a folder or several, as :func:`app.engine.packs.pack_folders` reads them; by default the folders
    the set was loaded from, else the bundled primary-care pack); PackError names the file and the
    ActivityDefinition when a mapping is incomplete or wrong, or when two files map one activity differently."""
    names = {f"{rule.id}.instead" if instead else rule.id: template.url.rsplit("/", 1)[1]
             for area in pack_set.areas for rule in area.rules
             for template, instead in [(rule.activity, False)]
             + [(check.instead, True) for check in (*rule.exclusions, *rule.contraindications)]
             if template is not None}
    templates = {template.url.rsplit("/", 1)[1]: template for template in pack_set.activity_definitions.values()}
    folders = pack_folders(pack_dir) if pack_dir is not None else (pack_set.folders or [DEFAULT_PACK_DIR])
    paths = [Path(folder) / COHORT_FOLDER / MAPPING_FILE for folder in folders]
    found = [path for path in paths if path.is_file()]
    if found:
        by_name, categories, work_kinds, source = _merged_mappings(found, set(templates),
                                                                   every_folder=len(found) == len(paths))
    else:
        by_name, categories, work_kinds, source = {}, {}, WORK_KINDS, \
            "the ActivityDefinitions' activity-kind (the pack has no reviewed mapping)"
    unmapped = {name: ActivityKind(*_DEFAULT.get(t.kind, ("counselling", False, "visits")))
                for name, t in templates.items() if name not in by_name}
    if unmapped:
        by_name.update(unmapped)
        for kind in _DEFAULT.values():
            categories.setdefault(kind[0], {"label": kind[0], "care_gap": kind[1]})
        if found:
            source += "; the other packs' activities by their activity-kind (no reviewed mapping)"
    kept = {number for area in pack_set.areas for rule in area.rules for template in _texts(rule)
            for number in _TEMPLATE_NUMBERS.findall(template)}
    mapping = [{"activity": templates[name].title, "name": name, "category": kind.category,
                "care_gap": kind.care_gap, "work": kind.work} for name, kind in sorted(by_name.items())]
    return Counting(kinds={activity_id: by_name[name] for activity_id, name in names.items()},
                    categories=categories, source=source, work_kinds=work_kinds, kept_numbers=frozenset(kept),
                    mapping=mapping)


def _merged_mappings(paths: list[Path], defined: set[str], *, every_folder: bool) -> tuple[
        dict[str, ActivityKind], dict[str, Any], tuple[str, ...], str]:
    """One mapping from the files of several packs: each file checked on its own (its categories and kinds of work,
    its names ActivityDefinitions of the loaded packs), then joined; a name, category or kind of work defined
    differently by two files is refused. When ``every_folder`` has a file, every ActivityDefinition must be in one."""
    by_name: dict[str, ActivityKind] = {}
    where: dict[str, Path] = {}
    categories: dict[str, Any] = {}
    work_kinds: list[str] = []
    sources: list[str] = []
    problems: list[str] = []
    for path in paths:
        try:
            kinds, file_categories, file_work, source = _read_mapping(path, defined)
        except PackError as exc:
            problems.append(exc.message)
            continue
        sources.append(source)
        work_kinds += [kind for kind in file_work if kind not in work_kinds]
        for name, category in file_categories.items():
            if name in categories and categories[name] != category:
                problems.append(f"{path}: category '{name}' is defined differently in another pack's {MAPPING_FILE}")
            categories.setdefault(name, category)
        for name, kind in kinds.items():
            if name in by_name and by_name[name] != kind:
                problems.append(f"{path}: ActivityDefinition '{name}' is mapped differently in {where[name]}")
            by_name.setdefault(name, kind)
            where.setdefault(name, path)
    if every_folder:
        problems += [f"{' and '.join(str(p) for p in paths)}: ActivityDefinition '{name}' is not listed"
                     for name in sorted(defined - set(by_name))]
    if problems:
        raise PackError("\n".join(problems))
    return by_name, categories, tuple(work_kinds), "; ".join(sources)


def _read_mapping(path: Path, defined: set[str]) -> tuple[dict[str, ActivityKind], dict[str, Any],
                                                           tuple[str, ...], str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        categories, activities = data["categories"], data["activities"]
        work_kinds = tuple(data["work_kinds"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PackError(f"{path}: not a readable activity mapping ({type(exc).__name__}: {exc})") from exc
    problems = [f"{path}: category '{name}' needs a label and care_gap true or false"
                for name, category in categories.items()
                if not isinstance(category.get("care_gap"), bool) or not category.get("label")]
    problems += [f"{path}: '{name}' is not an ActivityDefinition of the pack"
                 for name in sorted(set(activities) - defined)]
    problems += [f"{path}: ActivityDefinition '{name}': category '{entry.get('category')}' or work "
                 f"'{entry.get('work')}' is not one the file defines"
                 for name, entry in sorted(activities.items())
                 if entry.get("category") not in categories or entry.get("work") not in work_kinds]
    if problems:
        raise PackError("\n".join(problems))
    review = data.get("review") or {}
    source = f"{path.parent.parent.name}/{path.parent.name}/{path.name} ({review.get('status', 'not reviewed')}, " \
             f"pack {review.get('pack_version', '?')})"
    kinds = {name: ActivityKind(entry["category"], categories[entry["category"]]["care_gap"], entry["work"])
             for name, entry in activities.items()}
    return kinds, categories, work_kinds, source


def _texts(rule: Any) -> list[str]:
    """The texts a rule's warnings and reasons are rendered from."""
    texts = [rule.alert[1].text] if rule.alert is not None else []
    return texts + [check.reason.text for check in (*rule.exclusions, *rule.contraindications)]
