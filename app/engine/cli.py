"""``carepath plan``, ``carepath explain`` and ``carepath pack check|publish|valuesets``: the engine offline.

``plan`` and ``explain`` read any patient Bundle (a Synthea transaction, a searchset, an export), derive its
facts with the context layer, and print the plan; they need no server. ``pack check`` validates a pack
folder (or the versions published on a FHIR server); ``pack publish`` PUTs a checked pack to a FHIR server;
``pack valuesets`` moves a pack's value sets to a new published release (:mod:`app.engine.pack_valuesets`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.cli_common import BundleFileError, fail, iso_date, read_bundle
from app.engine.explain import explain, plan_text
from app.engine.packs import DEFAULT_PACK_DIR, PackSet, load_pack_set, load_pack_set_from_server, pack_files
from app.errors import CarepathError, PackError


def add_engine_commands(commands: Any) -> None:
    """Register ``plan``, ``explain`` and ``pack`` on an argparse subparsers object."""
    for name, help_text in (("plan", "print the care plan of a patient Bundle (offline)"),
                            ("explain", "print the plan of a patient Bundle as a clinician reads it (offline)")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("bundle", type=Path, help="a FHIR Bundle file (Synthea transaction, searchset, export)")
        command.add_argument("--as-of", required=True, type=iso_date, help="evaluation date, YYYY-MM-DD")
        command.add_argument("--packs", default=None, help="pack folder, or folders separated by commas (default: the "
                                                           "bundled primary-care and pediatric packs)")
        if name == "plan":
            command.add_argument("--format", choices=("json", "text", "fhir", "patient"), default="json",
                                 help="output (default: json; fhir: the transaction Bundle saving the draft sends; "
                                      "patient: the plan in plain words for the patient)")
            command.add_argument("--language", default="en",
                                 help="with --format patient: the language (the pack's translations: en, es)")
        command.set_defaults(func=run_plan, explain=name == "explain")

    pack = commands.add_parser("pack", help="check or publish a guideline pack")
    actions = pack.add_subparsers(dest="pack_command", required=True)
    check = actions.add_parser("check", help="validate a pack folder, or packs published on a FHIR server")
    check.add_argument("folder", nargs="?", default=None,
                       help="pack folder, or folders separated by commas (default: the bundled packs)")
    check.add_argument("--fhir-base", help="check the published versions on this FHIR server instead")
    check.add_argument("--plan-definition", action="append", default=[], metavar="URL|VERSION",
                       help="PlanDefinition canonical to check on the server (repeatable)")
    check.add_argument("--library", action="append", default=[], metavar="URL|VERSION",
                       help="Library canonical on the server (repeatable: one per pack; each PlanDefinition joins "
                            "the Library it names)")
    check.set_defaults(func=run_pack_check)
    publish = actions.add_parser("publish", help="check a pack folder, then PUT its resources to a FHIR server")
    publish.add_argument("folder", type=Path, nargs="?", default=None,
                         help="pack folder (default: the bundled primary-care pack; publish packs/pediatric apart)")
    publish.add_argument("--fhir-base", required=True, help="FHIR base URL")
    publish.add_argument("--timeout", type=float, default=300.0,
                         help="seconds to wait for the server's answer to the one transaction (default 300: a "
                              "whole pack with its value sets is a large write)")
    publish.set_defaults(func=run_pack_publish)
    move = actions.add_parser("valuesets", help="move a pack's value sets to a new published release (report; "
                                                "--write to rewrite the pack)")
    move.add_argument("folder", type=Path, help="pack folder (its Library and valuesets/)")
    move.add_argument("--from", dest="old", required=True, type=Path, metavar="OLD_DIR",
                      help="the release the pack is on (folder of ValueSet JSON, e.g. ../shared/data/valuesets)")
    move.add_argument("--to", dest="new", required=True, type=Path, metavar="NEW_DIR",
                      help="the release to move to (e.g. ../shared/data/valuesets-2025)")
    move.add_argument("--write", action="store_true", help="rewrite the Library's canonicals and valuesets/ "
                                                           "(default: a dry run)")
    move.add_argument("--out", type=Path, default=None,
                      help="folder for valuesets-report.json and .md (and, with --ndjson, the moved pack and the "
                           "plan diff); default: the Markdown report on stdout")
    move.add_argument("--ndjson", type=Path, default=None,
                      help="a Bulk Data export folder: list the patients whose plan changes (cohort diff)")
    move.add_argument("--as-of", type=iso_date, default=None, help="with --ndjson: evaluation date, YYYY-MM-DD")
    move.add_argument("--master", default=None, help="with --ndjson: Spark master (default: local[*])")
    move.set_defaults(func=run_pack_valuesets)

    from app.governance.cli import add_sign_off_command

    add_sign_off_command(actions)


def run_plan(args: argparse.Namespace) -> int:
    """Facts from the Bundle, then the plan, printed as JSON, text, or an explanation."""
    from app.context import facts_from_bundle

    try:
        bundle = read_bundle(args.bundle)
    except BundleFileError as exc:
        return _fail(str(exc))
    try:
        pack_set = load_pack_set(args.packs)
        facts = facts_from_bundle(bundle, pack_set.requirements, args.as_of)
        if facts["patient"]["id"] is None:
            why = "; ".join(q["problem"] for q in facts["dataQuality"] if q["ref"]["type"] in ("Patient", None))
            return _fail(f"{args.bundle}: no Patient carepath can read" + (f" ({why})" if why else "")
                         + ": no plan made (an empty plan would read as 'nothing due')")
        from app.engine.evaluate import build_plan

        plan = build_plan(facts, pack_set, args.as_of)
    except PackError as exc:
        return _fail(f"invalid guideline pack:\n{exc.message}")
    except (ValueError, CarepathError) as exc:
        return _fail(f"{args.bundle}: {exc}")
    if args.explain:
        sys.stdout.write(explain(plan))
    elif args.format == "text":
        sys.stdout.write(plan_text(plan))
    elif args.format == "patient":
        from app.careplan.patient_copy import addressed_to_guardian, from_plan, languages

        if args.language not in languages(pack_set.patient_words):
            return _fail(f"no patient copy in {args.language!r}: the pack has "
                         f"{', '.join(languages(pack_set.patient_words)) or 'none'}")
        guardian = addressed_to_guardian(facts["patient"].get("ageYears"))
        sys.stdout.write(from_plan(plan.to_dict(), pack_set.patient_words, args.language, guardian=guardian).text())
    elif args.format == "fhir":
        from app.careplan.export import fhir_json
        from app.careplan.organization import configured_organization

        try:
            # The same setting the web app uses; the dry run never reads a PractitionerRole (it is offline).
            organization = configured_organization(os.environ.get("CAREPATH_ORGANIZATION_REFERENCE"),
                                                   os.environ.get("CAREPATH_ORGANIZATION_DISPLAY"))
            sys.stdout.write(fhir_json(plan.to_dict(), organization=organization))
        except CarepathError as exc:
            return _fail(f"{args.bundle}: {exc.message}")
    else:
        json.dump(plan.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


def run_pack_check(args: argparse.Namespace) -> int:
    """Validate; print a summary, or every problem with its file and action id."""
    try:
        if args.fhir_base:
            if not args.plan_definition or not args.library:
                return _fail("--fhir-base needs --library and at least one --plan-definition")
            from app.fhir import FhirClient

            pack_set = load_pack_set_from_server(FhirClient(args.fhir_base), args.plan_definition, args.library)
        else:
            pack_set = load_pack_set(args.folder)
    except PackError as exc:
        print(f"pack check FAILED:\n{exc.message}", file=sys.stderr)
        return 1
    except CarepathError as exc:
        return _fail(exc.message)
    print(summary(pack_set))
    return 0


def run_pack_publish(args: argparse.Namespace) -> int:
    """Check the folder, then send every resource as one transaction of PUTs (all or nothing)."""
    from app.fhir import FhirClient

    folder = args.folder or DEFAULT_PACK_DIR
    try:
        pack_set = load_pack_set(folder)
    except PackError as exc:
        print(f"pack check FAILED, nothing published:\n{exc.message}", file=sys.stderr)
        return 1
    entries = []
    for path in pack_files(Path(folder)):
        resource = json.loads(path.read_text(encoding="utf-8"))
        entries.append({"resource": resource, "request": {"method": "PUT",
                                                          "url": f"{resource['resourceType']}/{resource['id']}"}})
    try:
        client = FhirClient(args.fhir_base, timeout=args.timeout)
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries}, idempotent=True)
    except CarepathError as exc:
        return _fail(f"publishing to {args.fhir_base} failed: {exc.message}")
    print(f"published {len(entries)} resources to {args.fhir_base}\n{summary(pack_set)}")
    return 0


def run_pack_valuesets(args: argparse.Namespace) -> int:
    """Move a pack's value sets to a new release: the report (JSON and Markdown), the patients whose plan
    changes (``--ndjson``), and the rewritten pack (``--write``)."""
    import tempfile

    from app.engine.pack_valuesets import plan_move, report_markdown, write_move
    from app.terminology.releases import Release

    if args.ndjson and args.as_of is None:
        return _fail("--ndjson needs --as-of (the date the plans are made for)")
    try:
        move = plan_move(args.folder, Release(args.old), Release(args.new))
        with tempfile.TemporaryDirectory(prefix="carepath-valuesets-") as scratch:
            if args.ndjson:
                move.report["patients"] = _patients(args, move, Path(args.out or scratch))
            if args.write:
                write_move(move, args.folder)
                move.report["written"] = True
    except PackError as exc:
        return _fail(f"invalid guideline pack:\n{exc.message}")
    except (OSError, ValueError, CarepathError) as exc:
        return _fail(str(exc))
    text = report_markdown(move.report)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "valuesets-report.json").write_text(json.dumps(move.report, indent=2, ensure_ascii=False) + "\n",
                                                    encoding="utf-8")
    (args.out / "valuesets-report.md").write_text(text, encoding="utf-8")
    total = move.report["summary"]
    print(f"{total['updated']} value sets updated, {total['kept_at_old_version']} kept at their old version, "
          f"{total['codes_added']} codes added, {total['codes_removed']} removed"
          + (f"; {move.report['patients']['patients_changed']} patients' plans change" if args.ndjson else "")
          + ("; pack rewritten" if args.write else "; dry run") + f"\nreport: {args.out / 'valuesets-report.md'}")
    return 0


def _patients(args: argparse.Namespace, move: Any, work: Path) -> dict[str, Any]:
    """``cohort diff`` of the export between the pack as it is and the pack moved (a copy written to WORK/pack)."""
    import shutil

    from app.cohort.diff import run_diff
    from app.cohort.spark import spark_session
    from app.engine.pack_valuesets import write_move

    moved = work / "pack"
    shutil.rmtree(moved, ignore_errors=True)
    shutil.copytree(args.folder, moved)
    write_move(move, moved)
    summary = run_diff(spark_session(args.master), args.ndjson, args.as_of, args.folder, moved, work / "diff")
    lines = (work / "diff" / "diff.ndjson").read_text(encoding="utf-8").splitlines()
    return {**summary, "changed": sorted((json.loads(line) for line in lines), key=lambda p: p["patient_id"])}


def summary(pack_set: PackSet) -> str:
    """What a checked pack holds, with its exact versions."""
    lines = [f"pack OK: {len(pack_set.areas)} PlanDefinitions, "
             f"{sum(len(a.rules) for a in pack_set.areas)} rules, {sum(len(a.goals) for a in pack_set.areas)} goals, "
             f"{len({t.url for t in pack_set.activity_definitions.values()})} ActivityDefinitions, "
             f"{len(pack_set.data_requirements)} data requirements"]
    lines += [f"  {p['url']}|{p['version']}  {p['title']}" for p in pack_set.packs]
    lines.append(f"{len(pack_set.value_sets)} value sets (codes, title, source):")
    lines += [f"  {len(vs):>5}  {canonical}  {vs.title}  [{_source(vs.source)}]"
              + (f"  (completed: {vs.missing} codes known missing)" if vs.missing else
                 "  (completed)" if vs.completion else "")
              for canonical, vs in sorted(pack_set.value_sets.items())]
    completed = [(canonical, vs) for canonical, vs in sorted(pack_set.value_sets.items()) if vs.completion]
    if completed:
        lines.append("published expansions distributed truncated, and how they were completed:")
        lines += [f"  {canonical}: {vs.completion}" for canonical, vs in completed]
    return "\n".join(lines)


def _source(origin: str) -> str:
    """Where an expansion came from, short: the bundled file's name or the terminology server."""
    return Path(origin).name if origin.endswith(".json") else origin


def _fail(message: str) -> int:
    return fail("error", message)
