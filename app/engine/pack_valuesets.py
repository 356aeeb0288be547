"""``carepath pack valuesets``: move a pack folder's value sets to a new published release, and say what changes.

For each value set the pack's Library names (``codeFilter.valueSet``, ``url|version``):
- **published** (held by the old or the new release): taken from the new release at its version there, its
  expansion made whole as :func:`app.terminology.releases.complete` does for the authoring (the old release
  completes a truncated one); the report gives the version change, the codes added and removed (against what
  the pack bundles now), a new name or title under the same url (OID), and how a truncated expansion was
  completed. One the new release does not hold is **kept at its old version** (bundled as it is, named by its
  old ``url|version``): absent from a release means its measures left that release, not that VSAC retired it.
- **the pack's own** (extension ``valueset-kind``): ``own`` sets are left alone; ``derived`` and ``supplement``
  sets name their published sources (extension ``derived-from``). When a source changes they are reported for
  review, with the source's new codes a derived set does not hold and the codes it holds that the source
  dropped, or the supplement codes the new sources now list. Their codes are not changed: the rule that made
  them is the author's (for the bundled pack, ``python -m app.engine.authoring`` derives them again).

:func:`plan_move` computes the move (nothing written); :func:`write_move` writes it into a pack folder: the
Library's canonicals and the bundled ``valuesets/`` files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine.packs import read_pack_folder
from app.errors import PackError
from app.terminology.releases import Release, codes, complete, with_compose
from app.terminology.releases import canonical_of as _canonical
from app.terminology.resolve import library_value_sets
from app.terminology.valuesets import completion_parts, truncation

EXT = "http://carepath.dev/fhir/StructureDefinition/"
KIND, DERIVED_FROM = EXT + "valueset-kind", EXT + "derived-from"


@dataclass
class Move:
    """A computed move: the report, and the files (relative to the pack folder) that writing it rewrites."""

    report: dict[str, Any]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Pack:
    folder: Path
    library_file: str
    library: dict[str, Any]
    bundled: dict[str, tuple[str, dict[str, Any]]]  # url and url|version -> (relative file, resource)

    @property
    def base(self) -> str:
        """The base of the pack's canonicals (its Library's url before ``/Library/``)."""
        return str(self.library.get("url") or "").partition("/Library/")[0]

    def value_set(self, canonical: str) -> tuple[str, dict[str, Any]] | None:
        url, _, version = canonical.partition("|")
        return self.bundled.get(canonical) if version else self.bundled.get(url)


def plan_move(pack: str | Path, old: Release, new: Release) -> Move:
    """What moving ``pack`` from release ``old`` to release ``new`` changes (nothing is written)."""
    folder = _read(Path(pack))
    uses = _uses(folder.library)
    moved: dict[str, dict[str, Any]] = {}  # url -> the new release's resource, made whole
    entries, files, renames = [], {}, {}
    for canonical in library_value_sets(folder.library):
        entry, target, file = _published_entry(folder, canonical, old, new)
        if entry is None:
            continue
        entry["uses"] = uses.get(canonical, [])
        entries.append(entry)
        if target is not None:
            moved[target["url"]] = target
            new_canonical = _canonical(target)
            if new_canonical != canonical:
                renames[canonical] = new_canonical
            if entry["status"] == "updated" and file:
                files[file] = target
    derived = [found for canonical in library_value_sets(folder.library)
               if (found := _derived_entry(folder, canonical, old, new, moved, uses)) is not None]
    if renames or files:
        files[folder.library_file] = _rewritten_library(folder.library, renames)
    concepts = _concepts_losing_codes(folder, moved)
    report = {"pack": str(folder.folder), "library": _canonical(folder.library),
              "from": {"release": old.label, "folder": str(old.folder)},
              "to": {"release": new.label, "folder": str(new.folder)},
              "summary": _summary(entries, derived), "value_sets": entries, "derived": derived,
              "concepts_losing_codes": concepts, "written": False}
    return Move(report=report, files=files)


def write_move(move: Move, folder: str | Path) -> None:
    """Write the move's files into a pack folder (the pack itself, or a copy of it)."""
    for relative, resource in move.files.items():
        path = Path(folder) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _read(folder: Path) -> _Pack:
    resources = read_pack_folder(folder)
    libraries = [(where, r) for where, r in resources if r.get("resourceType") == "Library"]
    if len(libraries) != 1:
        raise PackError(f"{folder}: expected exactly one Library, found {len(libraries)}")
    bundled: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, resource in resources:
        if resource.get("resourceType") == "ValueSet" and isinstance(resource.get("url"), str):
            relative = Path(where).relative_to(folder).as_posix()
            bundled.setdefault(resource["url"], (relative, resource))
            bundled[_canonical(resource)] = (relative, resource)
    return _Pack(folder, Path(libraries[0][0]).relative_to(folder).as_posix(), libraries[0][1], bundled)


def _uses(library: Mapping[str, Any]) -> dict[str, list[str]]:
    """canonical -> the '<resource type> <fact key>' of each data requirement naming it."""
    found: dict[str, list[str]] = {}
    for requirement in library.get("dataRequirement") or []:
        key = next((e.get("valueCode") for e in requirement.get("extension") or []
                    if e.get("url") == EXT + "fact-key"), None)
        for code_filter in requirement.get("codeFilter") or []:
            if code_filter.get("valueSet"):
                label = f"{requirement.get('type')} {key}"
                if label not in found.setdefault(code_filter["valueSet"], []):
                    found[code_filter["valueSet"]].append(label)
    return found


def _kind(resource: Mapping[str, Any] | None, url: str, base: str) -> str:
    """own | derived | supplement (the pack's, as its extension says) or published: a value set without the
    extension is the pack's own when its url is under the pack's base (that of its Library), else published."""
    marked = next((e.get("valueCode") for e in (resource or {}).get("extension") or [] if e.get("url") == KIND), None)
    if marked:
        return str(marked)
    return "own" if url.startswith(base + "/") else "published"


def _published_entry(folder: _Pack, canonical: str, old: Release,
                     new: Release) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
    """(report entry, the new release's resource made whole or None, bundled file) of a published value set;
    (None, None, None) for the pack's own."""
    url, _, version = canonical.partition("|")
    local = folder.value_set(canonical)
    file, current = local if local else (None, None)
    if _kind(current, url, folder.base) != "published":
        return None, None, None
    if current is None:
        found = old.get(url)
        current = complete(found, old) if found is not None and (not version or found.get("version") == version) \
            else None
    published = new.get(url)
    entry: dict[str, Any] = {"url": url, "title": (current or published or {}).get("title") or url,
                             "bundled": file is not None, "from_version": version or (current or {}).get("version"),
                             "to_version": None, "added": [], "removed": [], "renamed": None, "completion": None,
                             "missing": 0}
    if published is None:
        entry["status"] = "kept"
        entry["to_version"] = entry["from_version"]
        return entry, None, file
    target = with_compose(complete(published, new, [old]))
    before, after = codes(current) if current else {}, codes(target)
    entry.update(to_version=target.get("version"), title=target.get("title") or entry["title"],
                 added=[after[key] for key in sorted(after.keys() - before.keys())],
                 removed=[before[key] for key in sorted(before.keys() - after.keys())])
    if current and (current.get("name"), current.get("title")) != (target.get("name"), target.get("title")):
        entry["renamed"] = {"from": {"name": current.get("name"), "title": current.get("title")},
                            "to": {"name": target.get("name"), "title": target.get("title")}}
    if truncation(published):
        completion = completion_parts(target.get("expansion"))
        entry.update(completion=completion.get("text"), missing=completion.get("missing") or 0)
    changed = entry["added"] or entry["removed"] or entry["from_version"] != entry["to_version"] or entry["renamed"]
    entry["status"] = "updated" if changed else "unchanged"
    return entry, target, file


def _derived_entry(folder: _Pack, canonical: str, old: Release, new: Release, moved: dict[str, dict[str, Any]],
                   uses: dict[str, list[str]]) -> dict[str, Any] | None:
    """The review entry of a derived or supplement value set whose published source changes (None otherwise)."""
    local = folder.value_set(canonical)
    if local is None:
        return None
    resource = local[1]
    kind = _kind(resource, resource["url"], folder.base)
    sources = [e["valueCanonical"] for e in resource.get("extension") or [] if e.get("url") == DERIVED_FROM]
    if kind not in ("derived", "supplement") or not sources:
        return None
    held = codes(resource)
    changes, source_added, source_removed, now_listed = [], {}, {}, {}
    for source in sources:
        url = source.partition("|")[0]
        before = _source_before(folder, source, old)
        # a source the new release does not hold is kept at its old version, as the published sets are
        after = moved.get(url) or (complete(new.get(url), new, [old]) if new.get(url) else before)
        if after is None:
            continue
        then, now = codes(before) if before else {}, codes(after)
        added, removed = now.keys() - then.keys(), then.keys() - now.keys()
        if added or removed or _canonical(after) != source:
            changes.append({"from": source, "to": _canonical(after), "added": len(added), "removed": len(removed)})
        source_added.update({key: now[key] for key in added})
        source_removed.update({key: then[key] for key in removed})
        now_listed.update({key: held[key] for key in held.keys() & now.keys()})
    if not changes:
        return None
    entry = {"url": resource["url"], "title": resource.get("title"), "kind": kind, "uses": uses.get(canonical, []),
             "sources": changes, "description": resource.get("description")}
    if kind == "derived":
        entry["review"] = {
            "source_codes_added": [source_added[k] for k in sorted(source_added.keys() - held.keys())],
            "held_codes_the_source_dropped": [held[k] for k in sorted(source_removed.keys() & held.keys())]}
    else:
        entry["review"] = {"codes_the_sources_now_list": [now_listed[k] for k in sorted(now_listed)]}
    return entry


def _concepts_losing_codes(folder: _Pack, moved: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per data requirement's concept ('<type> <fact key>'), the codes none of its value sets lists after the move
    that one listed before: what the pack stops recognising (a code a set drops but a sibling set keeps is not
    lost)."""
    before: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    after: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for canonical, labels in _uses(folder.library).items():
        local = folder.value_set(canonical)
        if local is None:
            continue
        then = codes(local[1])
        now = codes(moved[local[1]["url"]]) if local[1]["url"] in moved else then
        for label in labels:
            before.setdefault(label, {}).update(then)
            after.setdefault(label, {}).update(now)
    lost = []
    for label, then in before.items():
        gone = sorted(then.keys() - after[label].keys())
        if gone:
            lost.append({"concept": label, "codes": [then[key] for key in gone]})
    return lost


def _source_before(folder: _Pack, source: str, old: Release) -> dict[str, Any] | None:
    """The published source as the derived set was made from: the pack's bundled copy of that canonical, else the
    old release's (at that version when it holds it)."""
    local = folder.value_set(source)
    if local is not None and _canonical(local[1]) == source:
        return local[1]
    url = source.partition("|")[0]
    found = old.get(url)
    return complete(found, old) if found is not None else None


def _rewritten_library(library: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """The Library with each codeFilter canonical moved to its new ``url|version``."""
    requirements = []
    for requirement in library.get("dataRequirement") or []:
        filters = [{**f, "valueSet": renames.get(f.get("valueSet"), f.get("valueSet"))}
                   if f.get("valueSet") else f for f in requirement.get("codeFilter") or []]
        requirements.append({**requirement, "codeFilter": filters} if "codeFilter" in requirement else requirement)
    return {**library, "dataRequirement": requirements}


def _summary(entries: list[dict[str, Any]], derived: list[dict[str, Any]]) -> dict[str, int]:
    return {"published": len(entries),
            "updated": sum(e["status"] == "updated" for e in entries),
            "version_changed": sum(e["status"] == "updated" and e["from_version"] != e["to_version"]
                                   for e in entries),
            "unchanged": sum(e["status"] == "unchanged" for e in entries),
            "kept_at_old_version": sum(e["status"] == "kept" for e in entries),
            "renamed": sum(bool(e["renamed"]) for e in entries),
            "completed": sum(bool(e["completion"]) for e in entries),
            "codes_added": sum(len(e["added"]) for e in entries),
            "codes_removed": sum(len(e["removed"]) for e in entries),
            "derived_to_review": len(derived)}




def report_markdown(report: Mapping[str, Any], *, codes_shown: int = 12) -> str:
    """The report as Markdown a reviewer reads: the summary, one table row per value set, then the details
    (codes added and removed, at most ``codes_shown`` per list: the JSON report holds them all)."""
    total = report["summary"]
    lines = [f"# Value sets of {report['library']}: {report['from']['release']} -> {report['to']['release']}", "",
             f"Pack folder `{report['pack']}`; {'written' if report['written'] else 'dry run (nothing written)'}.",
             "", f"{total['published']} published value sets: {total['updated']} updated "
             f"({total['version_changed']} to a new version), {total['unchanged']} unchanged, "
             f"{total['kept_at_old_version']} kept at their old version (absent from {report['to']['release']}), "
             f"{total['renamed']} renamed, {total['completed']} truncated expansions completed; "
             f"{total['codes_added']} codes added, {total['codes_removed']} removed; "
             f"{total['derived_to_review']} derived or supplement value sets to review.", "",
             "| value set | used for | version | codes added | codes removed | status |", "|---|---|---|---|---|---|"]
    for entry in report["value_sets"]:
        version = entry["from_version"] if entry["from_version"] == entry["to_version"] else \
            f"{entry['from_version']} -> {entry['to_version']}"
        status = {"kept": f"kept at {entry['from_version']}", "updated": "updated", "unchanged": "unchanged"}[
            entry["status"]] + (" (renamed)" if entry["renamed"] else "") + (
            f" (completed, {entry['missing']} known missing)" if entry["completion"] else "")
        lines.append(f"| {_cell(entry['title'])} `{entry['url'].rsplit('/', 1)[-1]}` | "
                     f"{_cell(', '.join(entry['uses']))} | {version} | {len(entry['added'])} | "
                     f"{len(entry['removed'])} | {status} |")
    lines += _details(report, codes_shown)
    patients = report.get("patients")
    if patients is not None:
        lines += ["", f"## Patients whose plan changes ({patients['patients_changed']} of {patients['patients']}, "
                      f"as of {patients['as_of']})", ""]
        for patient in patients["changed"]:
            parts = [f"{section} {change}: " + ", ".join(item["id"] for item in items)
                     for section, found in patient.items() if section != "patient_id"
                     for change, items in found.items() if items]
            lines.append(f"- `{patient['patient_id']}`: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def _details(report: Mapping[str, Any], shown: int) -> list[str]:
    lines: list[str] = []
    for entry in report["value_sets"]:
        notes = []
        if entry["renamed"]:
            notes.append(f"renamed: {entry['renamed']['from']['title']!r} ({entry['renamed']['from']['name']}) -> "
                         f"{entry['renamed']['to']['title']!r} ({entry['renamed']['to']['name']})")
        if entry["completion"]:
            notes.append(entry["completion"])
        notes += [f"codes {label} ({len(entry[label])}): {_codes(entry[label], shown)}"
                  for label in ("added", "removed") if entry[label]]
        if notes:
            lines += ["", f"### {entry['title']} ({entry['url']})", "", *(f"- {note}" for note in notes)]
    for entry in report["derived"]:
        lines += ["", f"### To review: {entry['title']} ({entry['kind']}, {entry['url']})", ""]
        lines += [f"- source {s['from']} -> {s['to']}: {s['added']} codes added, {s['removed']} removed"
                  for s in entry["sources"]]
        lines += [f"- {label.replace('_', ' ')} ({len(found)}): {_codes(found, shown)}"
                  for label, found in entry["review"].items() if found]
    if report["concepts_losing_codes"]:
        lines += ["", "## Codes the pack stops recognising", "",
                  "Listed before by one of the concept's value sets, by none after the move:", ""]
        lines += [f"- {item['concept']} ({len(item['codes'])}): {_codes(item['codes'], shown)}"
                  for item in report["concepts_losing_codes"]]
    return lines


def _codes(concepts: list[dict[str, Any]], shown: int) -> str:
    """'SNOMED 123 'display', ... and N more' (displays cut at 60 characters)."""
    def one(concept: dict[str, Any]) -> str:
        display = concept.get("display") or ""
        display = display if len(display) <= 60 else display[:57] + "..."
        return f"{_system(concept['system'])} {concept['code']}" + (f" '{display}'" if display else "")

    more = f" and {len(concepts) - shown} more" if len(concepts) > shown else ""
    return ", ".join(one(c) for c in concepts[:shown]) + more


def _system(system: str | None) -> str:
    """A code system's short name for the text report."""
    names = {"http://snomed.info/sct": "SNOMED", "http://loinc.org": "LOINC", "http://hl7.org/fhir/sid/icd-10-cm":
             "ICD-10-CM", "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
             "http://www.ama-assn.org/go/cpt": "CPT", "http://terminology.hl7.org/CodeSystem/icd9cm": "ICD-9-CM",
             "http://hl7.org/fhir/sid/icd-9-cm": "ICD-9-CM"}
    return names.get(system or "", system or "?")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")
