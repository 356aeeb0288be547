"""``cohort run`` on Spark: for every shared Synthea patient, the plan equals ``carepath plan`` for that patient.

Half the patients enter as Bulk Data ndjson (one file per type, resources keyed by their patient reference
and grouped by Spark), the other half as Bundle files: both input paths are checked in one Spark run.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date

import pytest

from app.cli import main
from app.cohort.run import run_cohort
from app.engine import load_pack_set
from app.engine.packs import DEFAULT_PACK_DIRS
from tests.cohort_data import single_plan, with_medication_resources, write_ndjson
from tests.conftest import SYNTHEA

AS_OF = date(2021, 4, 1)
#: Both bundled packs, as ``carepath plan`` loads them (``cohort run`` reads ``packs/primary-care`` unless told).
PACKS = ",".join(str(folder) for folder in DEFAULT_PACK_DIRS)


@pytest.fixture(scope="module")
def cohort(spark, tmp_path_factory):
    """One Spark run over the 25 Synthea patients (13 as ndjson, 12 as Bundles)."""
    bundles = sorted(SYNTHEA.glob("*.json"))
    source = tmp_path_factory.mktemp("panel")
    write_ndjson(bundles[::2], source / "export")
    for path in bundles[1::2]:
        (source / path.name).symlink_to(path)
    out = tmp_path_factory.mktemp("cohort")
    summary = run_cohort(spark, source, AS_OF, out, partitions=3, pack_dir=PACKS)
    return summary, out, bundles


def _cli_plan(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["plan", str(path), "--as-of", AS_OF.isoformat(), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cohort_run__every_plan_equals_carepath_plan(cohort, capsys):
    summary, out, bundles = cohort
    plans = [json.loads(line) for line in (out / "plans.ndjson").read_text(encoding="utf-8").splitlines()]
    by_patient = {plan["patient_id"]: plan for plan in plans}
    assert len(plans) == len(by_patient) == len(bundles) == summary.patients == 25
    for path in bundles:
        expected = _cli_plan(path, capsys)
        assert by_patient[expected["patient_id"]] == expected, path.name


def test_cohort_run__activity_table_and_outreach_list_follow_the_plans(cohort, spark):
    summary, out, _ = cohort
    plans = [json.loads(line) for line in (out / "plans.ndjson").read_text(encoding="utf-8").splitlines()]
    rows = spark.read.parquet(str(out / "activities.parquet")).collect()
    assert len(rows) == sum(len(plan["activities"]) for plan in plans)
    assert {"patient", "rule", "kind", "code", "due", "pack_version"} <= set(rows[0].asDict())
    first = plans[0]["activities"][0]
    assert any(row.patient == plans[0]["patient_id"] and row.rule == first["rationale"]["rule_id"]
               and row.due.isoformat() == first["timing"]["due"] for row in rows)
    with (out / "outreach.csv").open(encoding="utf-8") as handle:
        outreach = list(csv.DictReader(handle))
    counting = summary.counting  # a care gap: a due activity of a kind the pack marks as one (lifestyle is not)
    open_gap = {plan["patient_id"] for plan in plans
                if any(a["timing"]["due"] <= AS_OF.isoformat() and counting.kind_of(a).care_gap
                       for a in plan["activities"])}
    assert {row["patient_id"] for row in outreach} == open_gap
    assert len(outreach) == len(open_gap)  # each patient once: every partition's part written once
    assert summary.counts[("patients with open gaps",)] == len(open_gap)
    assert summary.counts[("patients",)] == len(plans)
    assert not (out / "_parts").exists()  # the executors' part files are merged and removed


def test_cohort_run__report_is_static_and_links_its_files(cohort):
    _, out, _ = cohort
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert 'href="outreach.csv"' in html and "<svg" in html
    assert "Care gaps by area and rule" in html and "Workload forecast" in html and "How this report counts" in html


def test_cohort_run__medications_referenced_by_id_reach_every_patient_that_prescribes_them(spark, tmp_path):
    """Medications name no patient: the join delivers each one to every patient whose MedicationRequest references
    it, so the plan is the plan of the same patient's Bundle, and the same as with the drug written inline."""
    pack_set = load_pack_set()
    chosen = []
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        stripped = {**bundle, "entry": [e for e in bundle["entry"]
                                        if e.get("resource", {}).get("resourceType") != "MedicationRequest"]}
        if single_plan(bundle, pack_set, AS_OF) != single_plan(stripped, pack_set, AS_OF):
            chosen.append(with_medication_resources(bundle))  # its plan depends on what is prescribed
        if len(chosen) == 3:
            break
    assert len(chosen) == 3
    shared = Counter(e["resource"]["id"] for b in chosen for e in b["entry"]
                     if e["resource"]["resourceType"] == "Medication")
    assert any(count > 1 for count in shared.values())  # one Medication prescribed to several patients
    files = []
    for index, bundle in enumerate(chosen):
        files.append(tmp_path / f"patient-{index}.json")
        files[-1].write_text(json.dumps(bundle), encoding="utf-8")
    write_ndjson(files, tmp_path / "export")
    lines = (tmp_path / "export" / "Medication.ndjson").read_text(encoding="utf-8").splitlines()
    (tmp_path / "export" / "Medication.ndjson").write_text("\n".join(dict.fromkeys(lines)) + "\n", encoding="utf-8")

    run_cohort(spark, tmp_path / "export", AS_OF, tmp_path / "out", partitions=2, report=False, pack_dir=PACKS)
    lines = (tmp_path / "out" / "plans.ndjson").read_text(encoding="utf-8").splitlines()
    plans = {plan["patient_id"]: plan for plan in map(json.loads, lines)}
    assert len(plans) == 3
    for bundle in chosen:
        expected = single_plan(bundle, pack_set, AS_OF)
        assert plans[expected["patient_id"]] == expected


def test_cohort_run__bad_lines_and_files_are_counted_by_name_and_the_run_completes(spark, tmp_path):
    import gzip

    from app.cohort.decoder import InputLimits

    source = tmp_path / "export"
    source.mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01", "gender": "female",
               "name": [{"given": "Ann"}]}  # given of the wrong type
    lines = [json.dumps(patient), '{"resourceType": ["Observation"]}', '{"resourceType": null}', "{oops",
             "[" * 5000 + "]" * 5000]
    (source / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    (source / "Condition.ndjson.gz").write_bytes(b"not gzip at all")
    (source / "Observation.ndjson.gz").write_bytes(gzip.compress(b"0" * 3_000_000))  # inflates beyond the cap
    (source / "Encounter.ndjson.gz").write_bytes(gzip.compress(json.dumps(
        {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": {"reference": "Patient/p1"}}
    ).encode()))
    summary = run_cohort(spark, source, AS_OF, tmp_path / "out", partitions=2, report=False,
                         limits=InputLimits(decompressed=1_000_000, document=1_000_000))
    assert summary.input_problems == {
        "Patient.ndjson: lines not a FHIR resource (resourceType is not a string)": 2,
        "Patient.ndjson: lines not JSON": 1,
        "Patient.ndjson: lines nested deeper than 256 levels": 1,
        "Condition.ndjson.gz: files named .gz that are not gzip": 1,
        "Observation.ndjson.gz: gzip inflating beyond 1000000 bytes (not read)": 1,
    }
    assert summary.counts.get(("patients",), 0) + sum(
        n for key, n in summary.counts.items() if key[0] == "quality" and key[1] == "Patient") == 1
