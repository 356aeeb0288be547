"""``carepath cohort diff``: which patients' plans change between two pack versions, and how.

Each patient is planned twice on Spark, once per pack, by the same ``plan_of`` as ``cohort run``. Everything a
clinician sees is compared (``SECTIONS``): goals, activities, the care gaps among them (as each pack's
``app.cohort.counting`` marks them), warnings, data the rules need and did not find, items not recommended with
their reasons, and rules left out by population. Items are matched by their id (the rule's id, stable across
versions of a pack; a warning by its rule and rank) and compared whole, the pack version stamped in a rationale
or named in a warning excepted (a new version that recommends the same thing is no change). Outputs:
``diff.ndjson`` (one changed patient per line) and ``diff-summary.json`` (counts per kind of item and change).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from datetime import date
from operator import add
from pathlib import Path
from typing import Any

import orjson

from app.cohort.counting import Counting, load_counting
from app.cohort.decoder import InputLimits
from app.cohort.plans import cached_pack_set, pack_token, plan_of
from app.cohort.sources import DEFAULT_LIMITS, resources_in_order
from app.engine.packs import pack_set_from_resources, read_pack_folder

#: section -> what the summary calls it; each is a list in the plan (``care_gaps`` is added by ``with_care_gaps``).
SECTIONS = {"goals": "goals", "activities": "activities", "care_gaps": "care gaps", "warnings": "warnings",
            "gaps": "data not found", "not_recommended": "not-recommended items and their reasons",
            "left_out": "rules left out by population", "schedule": "visit schedule"}


def plan_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """Added, removed and changed items of every section from plan ``before`` to plan ``after``; None when equal."""
    changes: dict[str, Any] = {}
    for section in SECTIONS:
        old, new = _keyed(before, section), _keyed(after, section)
        found = {
            "added": [_label(section, new[key]) for key in new if key not in old],
            "removed": [_label(section, old[key]) for key in old if key not in new],
            "changed": [{**_label(section, new[key]), "fields": sorted(f for f in new[key].keys() | old[key].keys()
                                                                       if new[key].get(f) != old[key].get(f))}
                        for key in new if key in old and new[key] != old[key]],
        }
        if any(found.values()):
            changes[section] = found
    return changes or None


def with_care_gaps(plan: dict[str, Any], counting: Counting, as_of: date) -> dict[str, Any]:
    """The plan with its open care gaps listed apart (``care_gaps``): due activities of a kind that is a care gap."""
    gaps = [{"id": activity["id"], "title": activity.get("title") or activity["description"],
             "due": activity["timing"].get("due")}
            for activity in plan.get("activities", [])
            if counting.kind_of(activity).care_gap and str(activity["timing"].get("due") or "9") <= as_of.isoformat()]
    return {**plan, "care_gaps": gaps}


def run_diff(spark: Any, source: str | Path, as_of: date, pack_a: str | Path, pack_b: str | Path,
             out: str | Path, *, partitions: int | None = None,
             limits: InputLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Plan every patient with both packs; write the changed patients and return the summary counts."""
    from app.cohort.spark import grouped_resources, local_uri, merge_parts

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    packs, countings = [], []
    for folder in (pack_a, pack_b):
        resources = read_pack_folder(folder)
        pack_set = pack_set_from_resources(resources)  # a broken pack fails here, before any work
        packs.append((pack_token(resources), resources, pack_set.packs))
        countings.append(load_counting(pack_set, folder))
    shared = spark.sparkContext.broadcast([(token, resources) for token, resources, _ in packs])
    groups, problems = grouped_resources(spark, source, partitions=partitions, limits=limits)

    def diff_partition(rows: Iterable[tuple[str, list[Any]]]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        pack_a_set, pack_b_set = (cached_pack_set(token, resources) for token, resources in shared.value)
        for patient_id, items in rows:
            try:
                resources = resources_in_order(items)
                before, after = (plan_of(resources, pack_set, as_of) for pack_set in (pack_a_set, pack_b_set))
            except Exception as exc:  # one patient's data, however odd, never costs the run
                problems.add({f"patients whose data cannot be planned ({type(exc).__name__})": 1})
                continue
            if before is None and after is None:
                continue
            changes = plan_changes(*(with_care_gaps(plan.to_dict(), counting, as_of) if plan else None
                                     for plan, counting in zip((before, after), countings, strict=True)))
            yield patient_id, changes

    from pyspark import StorageLevel

    results = groups.mapPartitions(diff_partition).persist(StorageLevel.MEMORY_AND_DISK)
    work = out / "_parts"
    shutil.rmtree(work, ignore_errors=True)
    try:
        changed = results.filter(lambda r: r[1] is not None)
        changed.map(lambda r: orjson.dumps({"patient_id": r[0], **r[1]}).decode()).saveAsTextFile(
            local_uri(work / "diff"))
        merge_parts(work / "diff", out / "diff.ndjson")
        counts = dict(results.flatMap(_count_keys).reduceByKey(add).collect())
        work.rmdir()
    finally:
        results.unpersist()
        shared.unpersist()
    sections = {section: {"patients": counts.pop(("section", section), 0),
                          **{change: counts.pop(("items", section, change), 0)
                             for change in ("added", "removed", "changed")}} for section in SECTIONS}
    summary = {"as_of": as_of.isoformat(), "pack_a": packs[0][2], "pack_b": packs[1][2],
               "compared": list(SECTIONS.values()), "sections": sections,
               "patients": counts.pop(("patients",), 0), "patients_changed": counts.pop(("changed",), 0),
               "changes": [{"section": k[0], "change": k[1], "id": k[2], "title": k[3], "patients": n}
                           for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
               "input_problems": dict(problems.value)}
    (out / "diff-summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as a few lines for the terminal."""
    versions = [", ".join(sorted({p["version"] for p in summary[key]})) for key in ("pack_a", "pack_b")]
    lines = [f"{summary['patients_changed']} of {summary['patients']} patients' plans change "
             f"(pack {versions[0]} -> {versions[1]}, as of {summary['as_of']}; compared: "
             f"{', '.join(summary['compared'])})"]
    lines += [f"  {SECTIONS[section]}: {n['patients']} patients ({n['added']} added, {n['removed']} removed, "
              f"{n['changed']} changed)" for section, n in summary["sections"].items() if n["patients"]]
    lines += [f"  {c['patients']:>6}  {SECTIONS.get(c['section'], c['section'])} {c['change']}: {c['title']} "
              f"({c['id']})" for c in summary["changes"]]
    return "\n".join(lines)


def _count_keys(row: tuple[str, dict[str, Any] | None]) -> Iterator[tuple[tuple[str, ...], int]]:
    _, changes = row
    yield ("patients",), 1
    if changes is None:
        return
    yield ("changed",), 1
    for section, found in changes.items():
        yield ("section", section), 1
        for change, items in found.items():
            yield ("items", section, change), len(items)
            for item in {(item["id"], item["title"]) for item in items}:
                yield (section, change, *item), 1


def _keyed(plan: dict[str, Any] | None, section: str) -> dict[str, dict[str, Any]]:
    """A section's items by a key stable across pack versions, each without the pack version it carries."""
    if section == "schedule":
        return _scheduled(plan)
    items = ((plan or {}).get("population") or {}).get("left_out", []) if section == "left_out" \
        else (plan or {}).get(section, [])
    versions = {str(pack.get("version")) for pack in (plan or {}).get("packs", []) if pack.get("version")}
    keyed: dict[str, dict[str, Any]] = {}
    for item in items:
        if section == "warnings" and versions:  # 'outside the effective period of Diabetes 2025.1.0' names it
            message = str(item.get("message", ""))
            for version in versions:
                message = message.replace(version, "(version)")
            item = {**item, "message": message}
        base = str(item.get("id") or item.get("rule_id") or item.get("key"))
        if section == "gaps" and item.get("rule_id"):
            base = f"{item['key']} ({item['rule_id']})"
        key, rank = base, 1
        while key in keyed:  # a rule may warn twice (two implausible results): by rank
            rank += 1
            key = f"{base} #{rank}"
        keyed[key] = _comparable(item)
    return keyed


def _scheduled(plan: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The visit schedule's items by activity id: when (this visit, or the later date) and the schedule's reason;
    a change of date or reason is a change, an activity newly put off (or brought into this visit) too."""
    schedule = (plan or {}).get("schedule") or {}
    titles = {a["id"]: a.get("title") or a.get("description") or a["id"] for a in (plan or {}).get("activities", [])}
    reasons = schedule.get("reasons") or {}
    items = {item_id: {"id": item_id, "title": titles.get(item_id, item_id), "when": "this visit",
                       "reason": str(reasons.get(item_id, ""))} for item_id in schedule.get("thisVisit") or []}
    for later in schedule.get("later") or []:
        items[later["id"]] = {"id": later["id"], "title": titles.get(later["id"], later["id"]),
                              "when": str(later.get("date", "")), "reason": str(later.get("reason", ""))}
    return items


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """An item without the pack version its rationale carries."""
    if "rationale" not in item:
        return dict(item)
    rationale = {k: v for k, v in item["rationale"].items() if k != "pack_version"}
    return {**item, "rationale": rationale}


def _label(section: str, item: dict[str, Any]) -> dict[str, str]:
    """What names an item in the outputs: its id and title (for a warning its severity), and the text a clinician
    reads (a warning's message, a reason, a missing datum's message)."""
    item_id = str(item.get("id") or item.get("rule_id") or item.get("key"))
    if section == "warnings":
        return {"id": item_id, "title": f"{item.get('severity')} warning", "text": str(item.get("message", ""))}
    if section == "gaps":
        return {"id": str(item.get("key")), "title": str(item.get("rule_id") or "data not found"),
                "text": str(item.get("message", ""))}
    label = {"id": item_id, "title": str(item.get("title") or item.get("description") or item_id)}
    if section == "schedule":
        label["text"] = f"{item['when']}: {item['reason']}" if item["reason"] else item["when"]
    if section in ("not_recommended", "left_out"):
        label["text"] = str(item.get("reason", ""))
    return label
