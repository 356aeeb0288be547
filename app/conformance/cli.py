"""``carepath conformance DECK_DIR [--measures ...] [--out DIR]``: a published eCQM test deck through the plan."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli_common import fail
from app.errors import PackError

DEFAULT_OUT = Path("var") / "conformance"


def add_conformance_command(commands: Any) -> None:
    """Register ``conformance`` on an argparse subparsers object."""
    command = commands.add_parser("conformance", help="run a published eCQM test deck through the plan and "
                                                      "judge each case against the measure (offline)")
    command.add_argument("deck", type=Path, help="deck folder laid out as ../shared/data/ecqm-2023")
    command.add_argument("--measures", nargs="+", default=None, metavar="MEASURE",
                         help="only these measures of the deck (names or comma-separated lists)")
    command.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: %(default)s)")
    command.add_argument("--packs", type=Path, default=None,
                         help="pack folder (default: the bundled packs, primary care and pediatric; the review is "
                              "the primary-care pack's)")
    command.add_argument("--review", type=Path, default=None,
                         help="folder of measures.json and classification.json (default: PACKS/conformance)")
    command.add_argument("--strict", action="store_true",
                         help="also fail on known defects and on classified entries that no longer occur")
    command.add_argument("--write-template", type=Path, default=None, metavar="FILE",
                         help="write the classification file with every unclassified disagreement as 'unreviewed'")
    command.set_defaults(func=run_conformance_command)


def run_conformance_command(args: argparse.Namespace) -> int:
    """Run the deck, write the report, print the agreement; exit 0 / 1 (failing disagreement) / 2 (input)."""
    from app.conformance.deck import DeckError
    from app.conformance.report import summary_lines, write_report
    from app.conformance.review import ReviewError, load_review, review_folder
    from app.conformance.run import run_conformance, template
    from app.engine.packs import DEFAULT_PACK_DIR, load_pack_set

    measures = [name for value in args.measures or [] for name in value.split(",") if name] or None
    try:
        pack_set = load_pack_set(args.packs)
        review = load_review(args.review or review_folder(args.packs))
        result = run_conformance(args.deck, pack_set, review, measures=measures, strict=args.strict,
                                 pack_dir=args.packs or DEFAULT_PACK_DIR)
    except PackError as exc:
        return fail("error", f"invalid guideline pack:\n{exc.message}")
    except (DeckError, ReviewError) as exc:
        return fail("error", str(exc))
    paths = write_report(result, args.out)
    if args.write_template:
        args.write_template.write_text(json.dumps(template(result), indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        print(f"classification template: {args.write_template}")
    print("\n".join(summary_lines(result)))
    print(f"report: {paths['html']} and {paths['json']} ({result.seconds:.1f} s)")
    for failure in result.failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return result.status
