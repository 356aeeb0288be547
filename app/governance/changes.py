"""What changed from one pack version to the next, rule by rule, each change with the citations behind it.

Works on the pack folders' FHIR JSON as written (not on the compiled pack), so that nothing a reviewer should
see is lost: a PlanDefinition's actions are its rules and its goals are goals; for each, the FHIRPath
expressions it evaluates (its thresholds), its texts and its citations are compared. Bundled ValueSets are
compared by their codes; ActivityDefinitions and the Library by their elements.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from app.engine.packs import pack_files, read_pack_folder
from app.terminology.releases import codes

#: Elements that say where and when a version was made, not what it recommends.
_BOOKKEEPING = frozenset({"version", "date", "status", "approvalDate", "lastReviewDate", "reviewer", "endorser",
                          "meta", "text"})
_CITATION_KEYS = ("documentation", "relatedArtifact", "valueRelatedArtifact")


def content_hashes(folder: str | Path) -> dict[str, str]:
    """The SHA-256 of each FHIR file of a pack folder, by path relative to it: what a report was made for."""
    folder = Path(folder)
    return {file.relative_to(folder).as_posix(): hashlib.sha256(file.read_bytes()).hexdigest()
            for file in pack_files(folder)}


def pack_changes(current: str | Path, proposed: str | Path) -> dict[str, Any]:
    """Rules, goals, value sets and other resources added, removed or changed from ``current`` to ``proposed``."""
    before, after = _indexed(current), _indexed(proposed)
    rules, goals, resources, value_sets = [], [], [], []
    for url in sorted(before.keys() | after.keys()):
        old, new = before.get(url), after.get(url)
        kind = (new or old or {}).get("resourceType")
        if kind == "PlanDefinition":
            rules += _element_changes("rule", _actions(old), _actions(new), old, new)
            goals += _element_changes("goal", _goals(old), _goals(new), old, new)
            guidelines = _field_changes(_guidelines(old), _guidelines(new))
            if guidelines:
                resources.append({"resource": url, "type": kind, "change": "changed", "citations": guidelines})
        elif kind == "ValueSet":
            change = _value_set_change(url, old, new)
            if change:
                value_sets.append(change)
        else:
            change = _resource_change(url, old, new)
            if change:
                resources.append(change)
    counts = {name: _count(items) for name, items in
              (("rules", rules), ("goals", goals), ("valueSets", value_sets), ("resources", resources))}
    return {"versions": {"current": _versions(before), "proposed": _versions(after)}, "counts": counts,
            "rules": rules, "goals": goals, "valueSets": value_sets, "resources": resources}


def _count(items: list[dict[str, Any]]) -> dict[str, int]:
    out = {"added": 0, "removed": 0, "changed": 0}
    for item in items:
        out[item["change"]] += 1
    return out


def _indexed(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Each resource of a pack folder by its canonical url (without version)."""
    return {str(resource.get("url") or f"{resource['resourceType']}/{resource.get('id')}"): resource
            for _file, resource in read_pack_folder(folder)}


def _versions(resources: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    return {url: str(r.get("version", "")) for url, r in resources.items()
            if r.get("resourceType") in ("PlanDefinition", "Library")}


def _actions(plan_definition: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every action with an id, nested ones included, each without its sub-actions."""
    found: dict[str, dict[str, Any]] = {}

    def walk(actions: list[Any]) -> None:
        for action in actions:
            if action.get("id"):
                found[action["id"]] = {k: v for k, v in action.items() if k != "action"}
            walk(action.get("action") or [])

    walk(list((plan_definition or {}).get("action") or []))
    return found


def _goals(plan_definition: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {goal["id"]: goal for goal in (plan_definition or {}).get("goal") or [] if goal.get("id")}


def _guidelines(plan_definition: Mapping[str, Any] | None) -> dict[str, Any]:
    return {a.get("label", ""): a for a in (plan_definition or {}).get("relatedArtifact") or []}


def _element_changes(kind: str, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
                     old_resource: Mapping[str, Any] | None, new_resource: Mapping[str, Any] | None
                     ) -> list[dict[str, Any]]:
    """Each rule (or goal) added, removed or changed, with what changed by kind and its citations."""
    out = []
    for element_id in sorted(before.keys() | after.keys()):
        old, new = before.get(element_id), after.get(element_id)
        if old == new:
            continue
        shown = new if new is not None else old
        resource = new_resource if new is not None else old_resource
        item: dict[str, Any] = {
            "kind": kind, "id": element_id, "resource": (resource or {}).get("url"),
            "title": _title(shown or {}),
            "change": "added" if old is None else "removed" if new is None else "changed",
            "citations": _citations(shown or {}, _guidelines(resource)) or _pack_citations(resource),
        }
        if old is not None and new is not None:
            item.update(_split(_field_changes(_leaves(old), _leaves(new))))
            old_citations = _citations(old, _guidelines(old_resource))
            if old_citations != item["citations"]:
                item["citationsBefore"] = old_citations
        else:
            item["conditions"] = [{"path": path, "expression": value} for path, value in _leaves(shown or {}).items()
                                  if _is_expression(path)]
        out.append(item)
    return out


def _title(element: Mapping[str, Any]) -> str:
    """An action's title, or a goal's description text."""
    description = element.get("description")
    if isinstance(description, dict):
        description = description.get("text")
    return str(element.get("title") or description or "")


def _split(changes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Field changes as thresholds (FHIRPath expressions), citations, texts and other elements."""
    groups: dict[str, list[dict[str, Any]]] = {"conditions": [], "citationChanges": [], "texts": [], "other": []}
    for change in changes:
        path = change["path"]
        if _is_expression(path):
            groups["conditions"].append(change)
        elif any(key in path for key in _CITATION_KEYS):
            groups["citationChanges"].append(change)
        elif isinstance(change.get("before", change.get("after")), str):
            groups["texts"].append(change)
        else:
            groups["other"].append(change)
    return groups


def _is_expression(path: str) -> bool:
    """A FHIRPath expression: ``condition.expression.expression`` or an extension's ``valueExpression``."""
    return path.endswith(("valueExpression.expression", "expression.expression"))


def _citations(element: Mapping[str, Any], guidelines: Mapping[str, Any]) -> list[dict[str, str]]:
    """The element's citations (``documentation``, or a goal's citation extension), each with its guideline."""
    artifacts = list(element.get("documentation") or [])
    artifacts += [ext["valueRelatedArtifact"] for ext in element.get("extension") or []
                  if isinstance(ext, dict) and "valueRelatedArtifact" in ext]
    out = []
    for artifact in artifacts:
        if artifact.get("type") != "citation":
            continue
        guideline = guidelines.get(artifact.get("label", ""), {})
        out.append({"label": str(artifact.get("label", "")), "guideline": str(guideline.get("display", "")),
                    "section": str(artifact.get("citation", "")),
                    "url": str(artifact.get("url") or guideline.get("url", ""))})
    return out


def _pack_citations(plan_definition: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """An element without its own citation (an area's group action) is cited by its PlanDefinition's guidelines."""
    return [{"label": str(label), "guideline": str(guideline.get("display", "")), "section": "",
             "url": str(guideline.get("url", ""))} for label, guideline in _guidelines(plan_definition).items()
            if guideline.get("type") == "citation"]


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON value flattened to {path: scalar}; list items are named by their ``url`` or ``id`` when they have
    one (so an extension added before another does not show as every later one changed), else by position."""
    out: dict[str, Any] = {}
    for key, item in _children(value):
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, dict | list):
            out.update(_leaves(item, path))
        else:
            out[path] = item
    return out


def _children(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        yield from ((k, v) for k, v in value.items() if k not in _BOOKKEEPING)
    elif isinstance(value, list):
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            name = str(index)
            if isinstance(item, dict) and isinstance(item.get("url") or item.get("id"), str):
                base = str(item.get("url") or item.get("id")).rsplit("/", 1)[-1]
                seen[base] = seen.get(base, 0) + 1
                name = f"{base}#{seen[base]}"
            yield name, item


def _field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path in sorted(before.keys() | after.keys()):
        if before.get(path) != after.get(path) or (path in before) != (path in after):
            change: dict[str, Any] = {"path": path}
            if path in before:
                change["before"] = before[path]
            if path in after:
                change["after"] = after[path]
            out.append(change)
    return out


def _value_set_change(url: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
                      ) -> dict[str, Any] | None:
    """A bundled value set's codes added and removed (and its version), or None when its codes are the same."""
    old_codes, new_codes = codes(old or {}), codes(new or {})
    added = [new_codes[key] for key in sorted(new_codes.keys() - old_codes.keys())]
    removed = [old_codes[key] for key in sorted(old_codes.keys() - new_codes.keys())]
    versions = {"before": (old or {}).get("version"), "after": (new or {}).get("version")}
    if not added and not removed and versions["before"] == versions["after"] and old is not None and new is not None:
        return None
    return {"url": url, "title": str((new or old or {}).get("title") or (new or old or {}).get("name") or ""),
            "change": "added" if old is None else "removed" if new is None else "changed",
            "version": versions, "codesAdded": added, "codesRemoved": removed}


def _resource_change(url: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
                     ) -> dict[str, Any] | None:
    """An ActivityDefinition or the Library: its elements that changed."""
    if old is not None and new is not None:
        fields = _field_changes(_leaves(old), _leaves(new))
        if not fields:
            return None
        return {"resource": url, "type": new.get("resourceType"), "title": str(new.get("title") or ""),
                "change": "changed", "fields": fields}
    shown = new or old or {}
    return {"resource": url, "type": shown.get("resourceType"), "title": str(shown.get("title") or ""),
            "change": "added" if old is None else "removed", "fields": []}
