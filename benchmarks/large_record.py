"""Benchmark: plan building is linear in the size of the record.

A patient with N Conditions of the same diagnosis (as some EHR exports repeat an encounter diagnosis) and N/10
HbA1c results is turned into facts and a plan, offline, for several N; prints seconds per step and the
seconds per 1,000 Conditions, which stays flat when the cost is linear.

    .venv/bin/python benchmarks/large_record.py [--sizes 4000 8000 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.context import facts_from_bundle  # noqa: E402  (after the path is set)
from app.engine import build_plan, load_pack_set  # noqa: E402

AS_OF = "2021-04-01"


def record(conditions: int) -> dict:
    """A Bundle: one Patient, ``conditions`` type 2 diabetes Conditions, a tenth as many HbA1c results."""
    entries = [{"resource": {"resourceType": "Patient", "id": "big", "gender": "female", "birthDate": "1960-01-01"}}]
    start = date(2000, 1, 1)
    for index in range(conditions):
        entries.append({"resource": {
            "resourceType": "Condition", "id": f"dm-{index}", "subject": {"reference": "Patient/big"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
            "onsetDateTime": (start + timedelta(days=index % 7000)).isoformat()}})
    for index in range(conditions // 10):
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"a1c-{index}", "status": "final",
            "subject": {"reference": "Patient/big"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
            "effectiveDateTime": (start + timedelta(days=index % 7700)).isoformat(),
            "valueQuantity": {"value": 7.0 + (index % 20) / 10, "unit": "%", "system": "http://unitsofmeasure.org",
                              "code": "%"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pack = load_pack_set()
    print(f"{'conditions':>10} {'facts s':>9} {'plan s':>8} {'total s':>8} {'s per 1,000':>12}  (median of "
          f"{args.repeat}; min-max total)")
    for size in args.sizes:
        bundle = record(size)
        facts_times, plan_times = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            facts = facts_from_bundle(bundle, pack.requirements, AS_OF)
            middle = time.perf_counter()
            plan = build_plan(facts, pack, AS_OF)
            facts_times.append(middle - started)
            plan_times.append(time.perf_counter() - middle)
        assert any(goal.id == "t2d.hba1c-goal" for goal in plan.goals), "the record must still give its plan"
        assert len(facts["conditions"]["diabetes"]["refs"]) == size  # every Condition still cited, once
        totals = [f + p for f, p in zip(facts_times, plan_times, strict=True)]
        total = statistics.median(totals)
        print(f"{size:>10,} {statistics.median(facts_times):>9.2f} {statistics.median(plan_times):>8.3f} "
              f"{total:>8.2f} {total / size * 1000:>12.3f}  ({min(totals):.2f}-{max(totals):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
