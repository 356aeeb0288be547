"""``carepath cohort diff``: which patients' plans change between two pack versions, and how.

Each patient is planned twice on Spark, once per pack, by the same ``plan_of`` as ``cohort run``. Goals and
activities are matched by their id (the rule's id, stable across versions of a pack) and compared whole, the
pack version stamped in their rationale excepted (a new version that recommends the same thing is no change).
Outputs: ``diff.ndjson`` (one changed patient per line) and ``diff-summary.json`` (counts per change).
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

from app.cohort.decoder import InputLimits
from app.cohort.plans import cached_pack_set, pack_token, plan_of
from app.cohort.sources import DEFAULT_LIMITS, resources_in_order
from app.engine.packs import pack_set_from_resources, read_pack_folder

SECTIONS = ("goals", "activities")


def plan_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """Added, removed and changed goals and activities from plan ``before`` to plan ``after``; None when equal."""
    changes: dict[str, Any] = {}
    for section in SECTIONS:
        old = {item["id"]: _comparable(item) for item in (before or {}).get(section, [])}
        new = {item["id"]: _comparable(item) for item in (after or {}).get(section, [])}
        found = {
            "added": [_label(new[key]) for key in new if key not in old],
            "removed": [_label(old[key]) for key in old if key not in new],
            "changed": [{**_label(new[key]), "fields": sorted(f for f in new[key].keys() | old[key].keys()
                                                              if new[key].get(f) != old[key].get(f))}
                        for key in new if key in old and new[key] != old[key]],
        }
        if any(found.values()):
            changes[section] = found
    return changes or None


def run_diff(spark: Any, source: str | Path, as_of: date, pack_a: str | Path, pack_b: str | Path,
             out: str | Path, *, partitions: int | None = None,
             limits: InputLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Plan every patient with both packs; write the changed patients and return the summary counts."""
    from app.cohort.spark import grouped_resources, merge_parts

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    packs = []
    for folder in (pack_a, pack_b):
        resources = read_pack_folder(folder)
        versions = pack_set_from_resources(resources).packs  # a broken pack fails here, before any work
        packs.append((pack_token(resources), resources, versions))
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
            changes = plan_changes(before.to_dict() if before else None, after.to_dict() if after else None)
            yield patient_id, changes

    from pyspark import StorageLevel

    results = groups.mapPartitions(diff_partition).persist(StorageLevel.MEMORY_AND_DISK)
    work = out / "_parts"
    shutil.rmtree(work, ignore_errors=True)
    try:
        changed = results.filter(lambda r: r[1] is not None)
        changed.map(lambda r: orjson.dumps({"patient_id": r[0], **r[1]}).decode()).saveAsTextFile(str(work / "diff"))
        merge_parts(work / "diff", out / "diff.ndjson")
        counts = dict(results.flatMap(_count_keys).reduceByKey(add).collect())
        work.rmdir()
    finally:
        results.unpersist()
        shared.unpersist()
    summary = {"as_of": as_of.isoformat(), "pack_a": packs[0][2], "pack_b": packs[1][2],
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
             f"(pack {versions[0]} -> {versions[1]}, as of {summary['as_of']})"]
    lines += [f"  {c['patients']:>6}  {c['section']} {c['change']}: {c['title']} ({c['id']})"
              for c in summary["changes"]]
    return "\n".join(lines)


def _count_keys(row: tuple[str, dict[str, Any] | None]) -> Iterator[tuple[tuple[str, ...], int]]:
    _, changes = row
    yield ("patients",), 1
    if changes is None:
        return
    yield ("changed",), 1
    for section, found in changes.items():
        for change, items in found.items():
            for item in items:
                yield (section, change, item["id"], item["title"]), 1


def _comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A goal or activity without the pack version its rationale carries."""
    rationale = {k: v for k, v in item.get("rationale", {}).items() if k != "pack_version"}
    return {**item, "rationale": rationale}


def _label(item: dict[str, Any]) -> dict[str, str]:
    return {"id": item["id"], "title": item.get("title") or item.get("description") or item["id"]}
