"""``carepath facts BUNDLE.json --as-of DATE``: a patient Bundle's facts as JSON, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli_common import BundleFileError, fail, iso_date, read_bundle
from app.context import default_requirements, facts_from_bundle, requirements_from_library
from app.context.requirements import DEFAULT_LIBRARY, Requirement
from app.context.resources import validate_fully
from app.errors import PackError
from app.fhir.decoding import UnreadableJson, load_file
from app.terminology.resolve import library_value_sets, resolve_value_sets

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "packs"


def add_facts_command(commands: Any) -> None:
    """Register the ``facts`` subcommand on an argparse subparsers object."""
    facts = commands.add_parser("facts", help="print the facts of a patient Bundle as JSON (offline)")
    facts.add_argument("bundle", type=Path, help="a FHIR Bundle file (Synthea transaction, searchset, export)")
    facts.add_argument("--as-of", required=True, type=iso_date, help="evaluation date, YYYY-MM-DD")
    facts.add_argument("--library", type=Path, action="append",
                       help="a data-requirements Library file (repeatable; default: every Library under packs/, "
                            "else carepath's own requirement set)")
    facts.set_defaults(func=run_facts)


def run_facts(args: argparse.Namespace) -> int:
    """Print the facts; a clear message and exit status 2 for input carepath cannot read."""
    try:
        bundle = read_bundle(args.bundle)
    except BundleFileError as exc:
        return _fail(str(exc))
    try:
        requirements, source = requirements_for(args.library)
        facts = facts_from_bundle(bundle, requirements, args.as_of)
    except PackError as exc:
        return _fail(f"invalid data requirements: {exc}")
    except ValueError as exc:
        return _fail(f"{args.bundle}: {exc}")
    print(f"requirements: {source} ({len(requirements)} keys)", file=sys.stderr)
    json.dump(facts, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def requirements_for(libraries: list[Path] | None) -> tuple[list[Requirement], str]:
    """The requirements of the given Library files, else of the packs under ``packs/``, else carepath's own."""
    files = list(libraries or []) or _pack_libraries()
    if not files:
        return default_requirements(), str(DEFAULT_LIBRARY.relative_to(ROOT))
    requirements: list[Requirement] = []
    for file in files:
        try:
            library = load_file(file)
        except (OSError, UnreadableJson) as exc:
            raise PackError(f"{file}: not a readable JSON Library ({exc})") from exc
        if not isinstance(library, dict) or library.get("resourceType") != "Library":
            raise PackError(f"{file}: not a FHIR Library")
        invalid = validate_fully(library)  # its structure, before any of it is read
        if invalid:
            raise PackError(f"{file}: not a valid FHIR R4 Library ({invalid})")
        try:
            requirements += requirements_from_library(library, _bundled_value_sets(library, file.parent))
        except PackError as exc:
            raise PackError(f"{file}: {exc}") from exc
    return requirements, ", ".join(_shown(f) for f in files)


def _bundled_value_sets(library: dict, folder: Path) -> dict:
    """The value sets a Library names, resolved from the ValueSet files in its folder (a pack's valuesets/)."""
    bundled = []
    for file in sorted(folder.rglob("*.json")):
        try:
            resource = load_file(file)
        except (OSError, UnreadableJson):
            continue
        if isinstance(resource, dict) and resource.get("resourceType") == "ValueSet":
            bundled.append((str(file), resource))
    return resolve_value_sets(library_value_sets(library), bundled)


def _pack_libraries() -> list[Path]:
    found = []
    for file in sorted(PACKS.rglob("*.json")) if PACKS.is_dir() else []:
        try:
            resource = load_file(file)
        except (OSError, UnreadableJson):
            continue  # a broken pack file is `carepath pack check`'s to report
        if isinstance(resource, dict) and resource.get("resourceType") == "Library" and resource.get("dataRequirement"):
            found.append(file)
    return found


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _fail(message: str) -> int:
    return fail("carepath facts", message)
