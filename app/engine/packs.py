"""Guideline packs: load FHIR PlanDefinitions, ActivityDefinitions and a Library; check them; compile them.

A pack is a folder of FHIR JSON files (or the same resources on a FHIR server). Loading checks every
PlanDefinition action and goal: an error names the file and the action id. ``docs/packs.md`` describes the
format for informaticists.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engine import parse
from app.engine.rules import ActivityTemplate, Area
from app.errors import FhirError, PackError
from app.fhir.decoding import UnreadableJson, load_file

PACKS_ROOT = Path(__file__).resolve().parent.parent.parent / "packs"
DEFAULT_PACK_DIR = PACKS_ROOT / "primary-care"
#: The children's pack (AAP 2017 blood pressure, CDC growth references, USPSTF and NHLBI prevention by age).
PEDIATRIC_PACK_DIR = PACKS_ROOT / "pediatric"
#: The packs a plan is built from unless ``PACK_DIR`` names others: each area states whom it is for, so the adult
#: rules never reach a child and the pediatric rules never reach an adult.
DEFAULT_PACK_DIRS = (DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR)
#: A pack's conformance review (``docs/conformance.md``): reviewed data about the pack, not FHIR resources of it.
REVIEW_FOLDER = "conformance"
#: How the cohort report counts the pack's activities (``app.cohort.counting``): reviewed data, not FHIR resources.
COHORT_FOLDER = "cohort"
#: Tables a pack's rules read through the context layer (the AAP 2017 BP table): data, not FHIR resources.
TABLES_FOLDER = "tables"


def pack_files(folder: Path) -> list[Path]:
    """The FHIR JSON files of a pack folder, sorted; its review folders (conformance, cohort) and tables are not
    FHIR resources of the pack."""
    return sorted(file for file in folder.rglob("*.json")
                  if file.relative_to(folder).parts[0] not in (REVIEW_FOLDER, COHORT_FOLDER, TABLES_FOLDER))


@dataclass
class PackSet:
    """The guideline areas a plan is built from, with the exact versions they came from."""

    areas: list[Area]
    library: dict[str, Any]
    activity_definitions: dict[str, ActivityTemplate] = field(default_factory=dict)
    fact_labels: dict[str, str] = field(default_factory=dict)
    #: canonical -> resolved ValueSet, for every value set the Library names.
    value_sets: dict[str, Any] = field(default_factory=dict)
    #: The Library's data requirements with their value sets resolved (what the context layer reads).
    requirements: list[Any] = field(default_factory=list)
    #: Every pack's Library when several packs are loaded together (``library`` is the first one's).
    libraries: list[dict[str, Any]] = field(default_factory=list)
    #: The pack folders this set was read from (:func:`load_pack_set`); empty when built from resources.
    folders: list[Path] = field(default_factory=list)
    #: ``packs`` of each pack joined (:func:`join_pack_sets`), for checks that are per pack (lifecycle).
    parts: list[list[dict[str, str]]] = field(default_factory=list)

    @property
    def packs_by_pack(self) -> list[list[dict[str, str]]]:
        """:attr:`packs` split by pack (each with its own Library last): one list for a single pack."""
        return self.parts or [self.packs]

    @property
    def out_of_scope(self) -> str:
        """What the packs say they do not cover (each Library's ``out-of-scope`` extension, e.g. the pediatric
        pack's immunizations and developmental screening), joined; "" when none says."""
        url = parse.EXT + "out-of-scope"
        said = [str(ext.get("valueString")) for library in (self.libraries or [self.library])
                for ext in library.get("extension") or [] if ext.get("url") == url and ext.get("valueString")]
        return "; ".join(dict.fromkeys(said))

    @property
    def patient_words(self) -> dict[str, dict[str, str]]:
        """The patient copy's frame from the Library (``patient-copy-<key>``): key -> language -> text."""
        prefix = parse.EXT + "patient-copy-"
        words: dict[str, dict[str, str]] = {}
        for library in reversed(self.libraries or [self.library]):  # the first pack's words win
            language = library.get("language") or "en"
            words.update({ext["url"].removeprefix(prefix): parse.translations({"extension": [ext]}, ext["url"]
                                                                              .removeprefix(parse.EXT), language)
                          for ext in library.get("extension") or [] if str(ext.get("url", "")).startswith(prefix)})
        return words

    @property
    def packs(self) -> list[dict[str, str]]:
        """[{url, version, title}] of every PlanDefinition, plus the Library."""
        out = [area.pack.as_dict() for area in self.areas]
        out += [{"url": library.get("url", ""), "version": library.get("version", ""),
                 "title": library.get("title", ""), "status": library.get("status", "")}
                for library in self.libraries or [self.library]]
        return out

    @property
    def data_requirements(self) -> list[dict[str, Any]]:
        """Every Library's dataRequirements (what the context layer fetches)."""
        return [entry for library in self.libraries or [self.library] for entry in library.get("dataRequirement", [])]


PackFolders = str | Path | Iterable[str | Path] | None


def pack_folders(path: PackFolders = None) -> list[Path]:
    """The folders a pack setting names: None -> :data:`DEFAULT_PACK_DIRS`; a folder; a list of folders; or a text
    with folders separated by commas (``PACK_DIR=packs/primary-care,packs/pediatric``)."""
    if path is None or (isinstance(path, str) and not path.strip()):
        return list(DEFAULT_PACK_DIRS)
    if isinstance(path, str):
        return [Path(part.strip()) for part in path.split(",") if part.strip()]
    if isinstance(path, Path):
        return [path]
    return [Path(part) for part in path]


def load_pack_set(path: PackFolders = None, *, use_fast_path: bool = True, terminology: Any = None) -> PackSet:
    """Load and check every resource of the pack folders (default: ``packs/primary-care`` and ``packs/pediatric``,
    see :func:`pack_folders`); value sets a pack does not bundle are expanded by ``terminology`` (a
    :class:`app.terminology.TerminologyServer`). Several folders are compiled one by one and joined
    (:func:`join_pack_sets`): one plan road, each area within its own population."""
    folders = pack_folders(path)
    sets = [_folder_pack_set(folder, use_fast_path=use_fast_path, terminology=terminology) for folder in folders]
    joined = sets[0] if len(sets) == 1 else join_pack_sets(sets)
    joined.folders = folders
    return joined


def _folder_pack_set(folder: Path, *, use_fast_path: bool, terminology: Any) -> PackSet:
    """One pack folder loaded and checked, or the same folder's compiled pack remembered from an earlier load.

    Reading, checking and compiling the bundled packs is most of a ``carepath plan`` run, and gives the same
    result for the same files: a pack that loaded without a problem is kept in ``CAREPATH_CACHE_DIR``
    (:func:`_pack_cache_entry`) with the SHA-256 of every file of the folder and of the code that loads it, and
    used again only while both are the same: a changed file or a changed loader loads and checks the pack again.
    Packs whose value sets a terminology server expands are not kept (the server's answer may change), nor packs
    compiled without the fast FHIRPath path (tests comparing the evaluators).

    The entry is a pickle, read back only when :func:`app.cache.read_own` finds it written by this same user and
    writable by nobody else, and only when the digest written before it is the folder's: the cache folder is the
    user's own, as trusted as carepath's code and settings (whoever can write it can already change what the
    user runs), and another account cannot plant an entry even in a shared ``CAREPATH_CACHE_DIR``. An entry that
    cannot be read, is stale or is not a pack set is ignored and written again.
    """
    entry, digest = _pack_cache_entry(folder) if terminology is None and use_fast_path else (None, b"")
    if entry is not None:
        from app.cache import read_own

        data = read_own(entry)
        if data is not None and data.startswith(digest):
            try:
                found = pickle.loads(data[len(digest):])  # noqa: S301 - the user's own entry, see above
            except Exception:  # a damaged or stale entry of any kind: load the pack again
                found = None
            if isinstance(found, PackSet):
                return found
    pack_set = pack_set_from_resources(read_pack_folder(folder), use_fast_path=use_fast_path,
                                       terminology=terminology)
    if entry is not None:
        from app.cache import prune, write_own

        try:
            data = pickle.dumps(pack_set, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            return pack_set
        write_own(entry, digest + data)
        prune(entry.parent, keep=_PACK_ENTRIES_KEPT)
    return pack_set


#: Compiled packs kept at most (each folder has one entry; the bundled packs' are about 1.4 MB): the oldest go.
_PACK_ENTRIES_KEPT = 16


def _pack_cache_entry(folder: Path) -> tuple[Path | None, bytes]:
    """Where the compiled pack of ``folder`` is kept (one entry per folder name as given: the pack's messages and
    value-set sources quote it), and the digest its content must start with: the SHA-256 of the folder's name and
    of every pack file's name and bytes, in a folder named by :func:`_loader_digest`. (None, b"") when caching is
    off or the folder cannot be read."""
    from app.cache import cache_dir

    code = _loader_digest()
    kept = cache_dir(f"packs-{code}") if code else None
    if kept is None or not folder.is_dir():
        return None, b""
    name = f"{folder}\0".encode()
    digest = hashlib.sha256(name)
    try:
        for file in pack_files(folder):
            content = file.read_bytes()
            digest.update(f"{file.relative_to(folder).as_posix()}\0{len(content)}\0".encode())
            digest.update(content)
    except OSError:
        return None, b""
    return kept / f"{hashlib.sha256(name).hexdigest()[:32]}.pickle", f"{digest.hexdigest()}\n".encode()


#: The code a compiled pack depends on (its classes and how they are built), by folder or file under ``app/``.
_LOADER_SOURCES = ("engine", "terminology", "context", "fhir", "errors.py", "formats.py", "refs.py", "cache.py")


@functools.cache
def _loader_digest() -> str:
    """A digest of the code that reads, checks and compiles a pack (every module of :data:`_LOADER_SOURCES`), of
    Python's version and of the FHIR models' version (they validated it): any change loads every pack again.
    Empty (no cache) when the source cannot be read, e.g. carepath's code shipped to a Spark executor as a zip."""
    import sys

    import fhir.resources  # the package alone (its version), not its models

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{sys.version}\0{getattr(fhir.resources, '__version__', 'unknown')}\0".encode())
    files = sorted(file for name in _LOADER_SOURCES
                   for file in ((root / name).glob("*.py") if not name.endswith(".py") else [root / name]))
    if not files:
        return ""
    try:
        for file in files:
            digest.update(f"{file.relative_to(root).as_posix()}\0".encode())
            digest.update(file.read_bytes())
    except OSError:
        return ""
    return digest.hexdigest()[:16]


def join_pack_sets(sets: list[PackSet]) -> PackSet:
    """Several packs as one: their areas in order, every Library's requirements; a rule id or an area used by two
    packs is refused (each rule must say which pack it comes from)."""
    problems: list[str] = []
    seen_rules: dict[str, str] = {}
    for pack_set in sets:
        for area in pack_set.areas:
            for rule in area.rules:
                if rule.id in seen_rules and seen_rules[rule.id] != area.pack.url:
                    problems.append(f"rule id '{rule.id}' is used by {seen_rules[rule.id]} and {area.pack.url}")
                seen_rules.setdefault(rule.id, area.pack.url)
    if problems:
        raise PackError("\n".join(problems))
    joined = PackSet(areas=[area for s in sets for area in s.areas], library=sets[0].library,
                     libraries=[s.library for s in sets], parts=[s.packs for s in sets])
    for pack_set in sets:
        joined.activity_definitions.update(pack_set.activity_definitions)
        joined.value_sets.update(pack_set.value_sets)
        joined.requirements.extend(pack_set.requirements)
        for key, label in pack_set.fact_labels.items():
            joined.fact_labels.setdefault(key, label)
    return joined


def read_pack_folder(path: PackFolders = None) -> list[tuple[str, dict[str, Any]]]:
    """Every resource of one pack folder (default: ``packs/primary-care``) as (file, JSON), sorted by file; several
    folders (a list, or folders separated by commas) one after the other, which :func:`pack_set_from_resources`
    compiles as one pack each; PackError names unreadable files."""
    if path is not None and not isinstance(path, Path) and len(folders := pack_folders(path)) > 1:
        return [item for folder in folders for item in read_pack_folder(folder)]
    folder = Path(path) if path else DEFAULT_PACK_DIR
    if not folder.is_dir():
        raise PackError(f"{folder}: no such pack folder")
    resources: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    for file in pack_files(folder):
        try:
            resource = load_file(file)
        except (OSError, UnreadableJson) as exc:
            problems.append(f"{file}: not readable JSON ({exc})")
            continue
        if not isinstance(resource, dict) or "resourceType" not in resource:
            problems.append(f"{file}: not a FHIR resource (no resourceType)")
            continue
        resources.append((str(file), resource))
    if problems:
        raise PackError("\n".join(problems))
    return resources


def load_pack_set_from_server(client: Any, canonicals: Iterable[str], library: str | Iterable[str], *,
                              use_fast_path: bool = True, terminology: Any = None) -> PackSet:
    """Load the PlanDefinitions named ``url|version`` (and what they use) from a FHIR server; its value sets are
    expanded by ``terminology``, by default the same server (``ValueSet/$expand``).

    ``library`` is one pack's Library canonical, or several (a list, or canonicals separated by commas): each pack
    is then compiled on its own, as from files, with the PlanDefinitions that name its Library (``library``), and the
    packs are joined (:func:`join_pack_sets`)."""
    libraries = [item.strip() for item in library.split(",") if item.strip()] if isinstance(library, str) \
        else [str(item) for item in library]
    fetched = {canonical: _fetch_canonical(client, "Library", canonical) for canonical in libraries}
    plan_definitions = [(canonical, _fetch_canonical(client, "PlanDefinition", canonical)) for canonical in canonicals]
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {canonical: [] for canonical in libraries}
    for canonical, resource in plan_definitions:
        named = _library_of(resource, libraries)
        if named is None and len(libraries) == 1 and not resource.get("library"):
            named = libraries[0]  # one pack: a PlanDefinition that names no Library uses the one given
        if named is None:
            named_there = ", ".join(resource.get("library") or []) or "none"
            raise PackError(f"PlanDefinition?url={canonical}: its library ({named_there}) is none of the Libraries "
                            f"named ({', '.join(libraries)})")
        groups[named].append((canonical, resource))
    if terminology is None:
        from app.terminology import TerminologyServer

        terminology = TerminologyServer(client)
    unused = [canonical for canonical, members in groups.items() if not members]
    if unused:
        raise PackError(f"Library?url={unused[0]}: none of the PlanDefinitions named uses it")
    sets = []
    for canonical, members in groups.items():
        resources = _published_pack(client, (canonical, fetched[canonical]), members)
        sets.append(pack_set_from_resources(resources, use_fast_path=use_fast_path, terminology=terminology))
    return sets[0] if len(sets) == 1 else join_pack_sets(sets)


def _library_of(plan_definition: Mapping[str, Any], libraries: list[str]) -> str | None:
    """Which of ``libraries`` (``url|version`` or ``url``) the PlanDefinition's ``library`` names, or None."""
    named = [str(item) for item in plan_definition.get("library") or []]
    for canonical in libraries:
        if canonical in named or ("|" not in canonical and canonical in (item.partition("|")[0] for item in named)):
            return canonical
    return None


def _published_pack(client: Any, library: tuple[str, dict[str, Any]],
                    plan_definitions: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """One pack's resources as (origin, JSON): its Library, its PlanDefinitions, then the ActivityDefinitions they
    name (each fetched once)."""
    resources = [(f"{client.base_url}/Library?url={library[0]}", library[1])]
    resources += [(f"{client.base_url}/PlanDefinition?url={canonical}", resource)
                  for canonical, resource in plan_definitions]
    seen: set[str] = set()
    for _canonical, resource in plan_definitions:
        for activity in parse.activity_canonicals(resource):
            if activity not in seen:
                seen.add(activity)
                resources.append((f"{client.base_url}/ActivityDefinition?url={activity}",
                                  _fetch_canonical(client, "ActivityDefinition", activity)))
    return resources


def _fetch_canonical(client: Any, resource_type: str, canonical: str) -> dict[str, Any]:
    url, _, version = canonical.partition("|")
    params = {"url": url, **({"version": version} if version else {})}
    try:
        found = client.search(resource_type, params)
    except FhirError as exc:
        raise PackError(f"{resource_type}?url={canonical}: the FHIR server refused it ({exc.message})") from exc
    resources = [item for item in found if item.get("resourceType") == resource_type]
    if len(resources) != 1:
        raise PackError(f"{resource_type}?url={canonical}: expected one published resource, "
                        f"found {len(resources)}")
    return resources[0]


def pack_set_from_resources(resources: Iterable[tuple[str, Mapping[str, Any]]], *,
                            use_fast_path: bool = True, terminology: Any = None) -> PackSet:
    """Check (FHIR R4 structure, then carepath's rules) and compile resources given as (origin, JSON).

    ValueSet resources among them are the pack's bundled value sets; any other value set the Library names is
    expanded by ``terminology``. Resources of several pack folders (several Libraries, each in its folder, as
    :func:`read_pack_folder` reads a list) are compiled one pack each and joined (:func:`join_pack_sets`).
    """
    resources = list(resources)
    groups = _by_pack_folder(resources)
    if len(groups) > 1:
        sets = [pack_set_from_resources(group, use_fast_path=use_fast_path, terminology=terminology)
                for group in groups.values()]
        joined = join_pack_sets(sets)
        joined.folders = list(groups)
        return joined
    bundled = [(where, res) for where, res in resources if res.get("resourceType") == "ValueSet"]
    resources = [(where, res) for where, res in resources if res.get("resourceType") != "ValueSet"]
    problems: list[str] = [problem for where, resource in resources for problem in _r4_problems(where, resource)]
    libraries = [(where, res) for where, res in resources if res.get("resourceType") == "Library"]
    plans = [(where, res) for where, res in resources if res.get("resourceType") == "PlanDefinition"]
    definitions: dict[str, ActivityTemplate] = {}
    for where, resource in resources:
        if resource.get("resourceType") == "ActivityDefinition":
            template = parse.activity_definition(where, resource, problems)
            if template:
                definitions[template.url] = template
                definitions[f"{template.url}|{template.version}"] = template
    if len(libraries) != 1:
        problems.append(f"pack: expected exactly one Library, found {len(libraries)}")
        raise PackError("\n".join(problems))
    library_where, library = libraries[0]
    labels = parse.library_labels(library_where, library, problems)
    if not plans:
        problems.append("pack: no PlanDefinition")
    areas: list[Area] = []
    rule_ids: dict[str, str] = {}
    for where, resource in plans:
        area = parse.plan_definition(where, resource, definitions, labels, problems,
                                     use_fast_path=use_fast_path)
        if area is None:
            continue
        for rule in area.rules:
            if rule.id in rule_ids:
                problems.append(f"{where}: action '{rule.id}': id already used in {rule_ids[rule.id]}")
            rule_ids[rule.id] = where
        areas.append(area)
    if problems:
        raise PackError("\n".join(problems))
    from app.context.requirements import requirements_from_library
    from app.terminology.resolve import library_value_sets, resolve_value_sets

    value_sets = resolve_value_sets(library_value_sets(library), bundled, terminology)
    requirements = requirements_from_library(dict(library), value_sets)
    return PackSet(areas=areas, library=dict(library), activity_definitions=definitions, fact_labels=labels,
                   value_sets=value_sets, requirements=requirements)


def _by_pack_folder(resources: list[tuple[str, Mapping[str, Any]]]) -> dict[Path, list[tuple[str, Any]]]:
    """Resources grouped by the pack folder they were read from (the folder of each Library file); one group (or
    none) when there is one Library, or when a resource lies in no Library's folder (then one pack is expected)."""
    roots = [Path(where).parent for where, resource in resources if resource.get("resourceType") == "Library"]
    if len(roots) < 2:
        return {}
    groups: dict[Path, list[tuple[str, Any]]] = {root: [] for root in roots}
    for where, resource in resources:
        root = next((root for root in roots if Path(where).is_relative_to(root)), None)
        if root is None:
            return {}
        groups[root].append((where, resource))
    return groups


def _r4_problems(where: str, resource: Mapping[str, Any]) -> list[str]:
    """FHIR R4 structure errors (fhir.resources R4B models, close enough for these resource types).

    Validating with the models is most of a pack's load time, so a resource found valid is remembered by the
    SHA-256 of its content (:func:`_r4_cache`): the same content is not validated again by the next process.
    """
    resource_type = resource.get("resourceType")
    if resource_type not in ("PlanDefinition", "ActivityDefinition", "Library"):
        return [f"{where}: {resource_type!r} is not a pack resource (PlanDefinition, ActivityDefinition, Library)"]
    cache = _r4_cache()
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    if cache is not None and (cache / digest).exists():
        return []
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        get_fhir_model_class(resource_type).model_validate(dict(resource))
    except ValidationError as exc:
        return [f"{where}: not valid FHIR R4 {resource_type}: {'.'.join(str(p) for p in error['loc'])}: "
                f"{error['msg']}" for error in exc.errors()[:10]]
    if cache is not None:
        with contextlib.suppress(OSError):  # a read-only home: validate again next time
            cache.mkdir(parents=True, exist_ok=True)
            (cache / digest).touch()
    return []


def _r4_cache() -> Path | None:
    """Where valid resources are remembered (:func:`app.cache.cache_dir`), keyed by the validating library's
    version too, so an upgrade validates everything again."""
    import fhir.resources  # the package alone (its version), not its models

    from app.cache import cache_dir

    return cache_dir(f"r4-valid-{getattr(fhir.resources, '__version__', 'unknown')}")


def load_configured_pack_set(config: Mapping[str, Any], client: Any = None) -> PackSet:
    """The packs the app's settings name: ``PACK_SOURCE`` files (``PACK_DIR``) or fhir (published canonicals);
    only active versions, and drafts ``PACK_ALLOW_DRAFT`` names (:mod:`app.governance.lifecycle`)."""
    from app import config as defaults
    from app.governance.lifecycle import check_lifecycle

    pack_set = _configured_pack_set(config, client)
    for packs in pack_set.packs_by_pack:  # each pack's version is signed off (or named for preview) on its own
        check_lifecycle(packs, config.get("PACK_ALLOW_DRAFT", defaults.PACK_ALLOW_DRAFT))
    return pack_set


def _configured_pack_set(config: Mapping[str, Any], client: Any) -> PackSet:
    source = config.get("PACK_SOURCE") or "files"
    terminology = None
    if config.get("TERMINOLOGY_URL"):
        from app.fhir import FhirClient
        from app.terminology import TerminologyServer

        cache = config.get("TERMINOLOGY_CACHE_DIR") or str(Path(config.get("VAR_DIR") or "var") / "terminology")
        terminology = TerminologyServer(FhirClient.from_config(config, base_url=config["TERMINOLOGY_URL"]), cache)
    if source == "files":
        return load_pack_set(config.get("PACK_DIR") or None, terminology=terminology)
    if source != "fhir":
        raise PackError(f"PACK_SOURCE must be 'files' or 'fhir', not {source!r}")
    canonicals, library = config.get("PACK_CANONICALS") or [], config.get("PACK_LIBRARY") or ""
    if isinstance(canonicals, str):
        canonicals = [item.strip() for item in canonicals.split(",") if item.strip()]
    if not canonicals or not library:
        raise PackError("PACK_SOURCE=fhir needs PACK_CANONICALS (PlanDefinition url|version list) and PACK_LIBRARY")
    if client is None:
        from app.fhir import FhirClient

        client = FhirClient.from_config(config, base_url=config.get("PACK_FHIR_BASE_URL") or None)
    return load_pack_set_from_server(client, canonicals, library, terminology=terminology)
