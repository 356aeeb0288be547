"""The monitor as a FHIR R4 ``MeasureReport`` (type ``summary``), for a site's own dashboards.

One ``group`` per rule and pack version (its ``code`` the rule id, the pack version in an extension), with the
populations the monitor counts (proposed, accepted, rejected, CDS accepted, overridden; codes of carepath's
``governance-population`` system, the measure-population codes having no meaning here) and, as
``measureScore``, the share of decisions that accepted the rule. A broken audit chain makes the report's
``status`` ``error`` and names the break: the counts are still there, as on the monitor page. Counts only: no
patient reference, no ``subject``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

MEASURE = "http://carepath.dev/fhir/Measure/rule-acceptance"
POPULATION_SYSTEM = "http://carepath.dev/fhir/CodeSystem/governance-population"
RULE_SYSTEM = "http://carepath.dev/fhir/CodeSystem/pack-rule"
PACK_VERSION_URL = "http://carepath.dev/fhir/StructureDefinition/pack-version"
FLAGGED_URL = "http://carepath.dev/fhir/StructureDefinition/flagged-for-review"
CHAIN_URL = "http://carepath.dev/fhir/StructureDefinition/audit-chain-problem"
#: population code -> (the monitor row's field, display).
POPULATIONS = {
    "proposed": ("proposed", "Proposed in a plan"),
    "accepted": ("accepted", "Accepted at approval"),
    "rejected": ("rejected", "Rejected in the sidebar (not selected, or rejected at approval)"),
    "cds-accepted": ("cdsAccepted", "CDS card accepted"),
    "overridden": ("overridden", "CDS card overridden"),
}


def measure_report(document: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """The MeasureReport of a monitor document (:func:`app.governance.monitor.monitor`)."""
    now = now or datetime.now(UTC)
    chain = document["chain"]
    period = document.get("period") or {}
    start = document.get("since") or period.get("start") or now.date().isoformat()
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "status": "complete" if chain["intact"] else "error",
        "type": "summary",
        "measure": MEASURE,
        "date": now.isoformat(timespec="seconds"),
        "period": {"start": start, "end": period.get("end") or now.isoformat(timespec="seconds")},
        "group": [_group(row) for row in document["rules"]],
    }
    if not chain["intact"]:
        report["extension"] = [{"url": CHAIN_URL, "valueString": f"audit chain broken: {chain['problem']}"}]
    return report


def _group(row: Mapping[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = {
        "extension": [{"url": PACK_VERSION_URL, "valueString": row["packVersion"]},
                      {"url": FLAGGED_URL, "valueBoolean": bool(row["flagged"])}],
        "code": {"coding": [{"system": RULE_SYSTEM, "code": row["rule"]}],
                 "text": f"{row['rule']} (pack {row['packVersion']})"},
        "population": [{"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code, "display": display}]},
                        "count": int(row[field])} for code, (field, display) in POPULATIONS.items()],
    }
    decisions = row["accepted"] + row["rejected"] + row["cdsAccepted"] + row["overridden"]
    if decisions:
        share = (row["accepted"] + row["cdsAccepted"]) / decisions
        group["measureScore"] = {"value": round(share, 4), "unit": "1", "system": "http://unitsofmeasure.org",
                                 "code": "1"}
    return group
