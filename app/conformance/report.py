"""``conformance.json`` and ``conformance.html``: one static page (no script, no CDN), every text escaped.

The page shows the verdict, the agreement per measure and population, every disagreement with its class, reason
(cause or citation) and the plan items involved, the classified entries that no longer occur, and the cases
outside the measures' populations. Every text comes from the deck, the plans or the reviewed files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.conformance.deck import CATEGORIES
from app.conformance.run import ConformanceResult

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "conformance"
LABELS = {"care-gap": "care gap", "met": "met (numerator)", "denominator-exclusion": "denominator exclusion",
          "denominator-exception": "denominator exception", "outside": "outside the population"}


def write_report(result: ConformanceResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``conformance.json`` and ``conformance.html`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    paths = {"json": out / "conformance.json", "html": out / "conformance.html"}
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(data), encoding="utf-8")
    return paths


def render_html(data: dict[str, Any]) -> str:
    """The page for a ``conformance.json`` document (autoescaped: record and review texts are never markup)."""
    environment = Environment(loader=FileSystemLoader([TEMPLATES, TEMPLATES.parent]),
                              autoescape=select_autoescape(default=True))
    disagreements = [case for case in data["cases"] if case["agrees"] is False]
    disagreements.sort(key=lambda case: (case["classification"]["class"] != "unclassified",
                                         case["classification"]["class"], case["measure"], case["case"]))
    return environment.get_template("report.html").render(
        data=data, summary=data["summary"], categories=CATEGORIES, labels=LABELS, disagreements=disagreements,
        outside=[case for case in data["cases"] if case["agrees"] is None], percent=percent)


def summary_lines(result: ConformanceResult) -> list[str]:
    """The few lines ``carepath conformance`` prints: agreement per measure, known defects, the verdict."""
    summary = result.summary()
    lines = []
    for measure, row in summary["measures"].items():
        parts = [f"{LABELS[c]} {v['agree']}/{v['assessed']}" for c, v in row["categories"].items()
                 if v["assessed"]]
        total = row["total"]
        lines.append(f"{measure:<11} agreement {percent(total['agreement']):>6} ({total['agree']}/{total['assessed']};"
                     f" with reviewed differences {percent(total['agreementWithReviewedDifferences'])})  "
                     + ", ".join(parts))
    overall = summary["overall"]
    lines.append(f"{'all':<11} agreement {percent(overall['agreement']):>6} ({overall['agree']}/{overall['assessed']};"
                 f" with reviewed differences {percent(overall['agreementWithReviewedDifferences'])}); "
                 f"disagreements: {overall['defect']} known defects, {overall['guideline-difference']} guideline "
                 f"differences, {overall['deck-fault']} deck faults, {overall['unreviewed']} unreviewed, "
                 f"{overall['unclassified']} unclassified; {summary['stale']} classified entries no longer occur")
    return lines


def percent(value: float | None) -> str:
    """0.8123 -> '81.2 %'; None -> 'n/a'."""
    return "n/a" if value is None else f"{value * 100:.1f} %"
