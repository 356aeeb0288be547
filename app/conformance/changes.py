"""What changed between two conformance runs (e.g. the active pack and a proposed version): per case and overall.

Works on the ``conformance.json`` documents, so a governance report can compare a stored run with a new one.
"""

from __future__ import annotations

from typing import Any


def run_changes(current: dict[str, Any], proposed: dict[str, Any]) -> dict[str, Any]:
    """Cases whose verdict, finding or class differ, each with both sides, and the overall agreement of each run."""
    before = {(case["measure"], case["case"]): case for case in current["cases"]}
    after = {(case["measure"], case["case"]): case for case in proposed["cases"]}
    changed = []
    for key in sorted(set(before) | set(after)):
        old, new = _verdict(before.get(key)), _verdict(after.get(key))
        if old != new:
            changed.append({"measure": key[0], "case": key[1], "current": old, "proposed": new,
                            "direction": _direction(old, new)})
    return {"current": current["summary"]["overall"], "proposed": proposed["summary"]["overall"],
            "knownDefects": {"current": current["summary"]["knownDefects"],
                             "proposed": proposed["summary"]["knownDefects"]},
            "changed": changed}


def _verdict(case: dict[str, Any] | None) -> dict[str, Any] | None:
    if case is None:
        return None
    return {"agrees": case["agrees"], "finding": case["finding"],
            "class": (case.get("classification") or {}).get("class")}


def _direction(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """``better`` (now agrees), ``worse`` (no longer agrees) or ``changed`` (another finding or class)."""
    if old and new and old["agrees"] is False and new["agrees"] is True:
        return "better"
    if old and new and old["agrees"] is True and new["agrees"] is False:
        return "worse"
    return "changed"
