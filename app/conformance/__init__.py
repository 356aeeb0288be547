"""Conformance: a published eCQM test deck through carepath's own plan, judged case by case (issue 22).

``run_conformance(deck_dir, pack_set, review)`` plans every case by the road of ``carepath plan`` and compares
the plan with the case's expected populations (``compare``); the pack's reviewed files (``load_review``) say
which plan rules are each measure's action and how each disagreement is classified. ``write_report`` writes
``conformance.json`` and ``conformance.html``; ``run_changes`` compares two runs' documents (a pack version and
the next). ``docs/conformance.md`` explains the mapping and the classes.
"""

from app.conformance.changes import run_changes
from app.conformance.compare import FINDINGS, CaseResult
from app.conformance.deck import CATEGORIES, DeckError, read_deck
from app.conformance.report import render_html, summary_lines, write_report
from app.conformance.review import CLASSES, Review, ReviewError, load_review, review_folder
from app.conformance.run import FAILED, PASSED, UNUSABLE, ConformanceResult, run_conformance, template

__all__ = [
    "CATEGORIES",
    "CLASSES",
    "FAILED",
    "FINDINGS",
    "PASSED",
    "UNUSABLE",
    "CaseResult",
    "ConformanceResult",
    "DeckError",
    "Review",
    "ReviewError",
    "load_review",
    "read_deck",
    "render_html",
    "review_folder",
    "run_changes",
    "run_conformance",
    "summary_lines",
    "template",
    "write_report",
]
