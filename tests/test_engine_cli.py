"""carepath plan / explain / pack check offline, on fixtures and the Synthea sample, with clear failures."""

from __future__ import annotations

import json
import shutil

import pytest

from app.cli import main
from app.engine import DEFAULT_PACK_DIR
from app.engine.packs import PEDIATRIC_PACK_DIR
from tests.conftest import SYNTHEA

DIABETIC = SYNTHEA / "Dirk_Kuhlman_1e503533-b8c2-42cb-a6d5-bbd7d70d07ad.json"


def test_plan__json_from_a_synthea_bundle(capsys):
    assert main(["plan", str(DIABETIC), "--as-of", "2020-06-01"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["as_of"] == "2020-06-01"
    assert {"t2d.hba1c-goal", "htn.bp-goal"} <= {goal["id"] for goal in plan["goals"]}
    assert all(a["rationale"]["citation"]["year"] for a in plan["activities"])
    # both bundled packs, each at its own version (the pediatric areas are recorded though none applies to him)
    assert {p["version"] for p in plan["packs"]} == {"2025.1.0", "2026.1.0"}
    assert not any(a["rationale"]["rule_id"].startswith("peds.") for a in plan["activities"])


def test_plan__text_format(capsys):
    assert main(["plan", str(DIABETIC), "--as-of", "2020-06-01", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "GOAL     t2d.hba1c-goal: HbA1c below 7 %" in out
    # 187.5/115.7 mmHg on the latest day: the severe-BP evaluation comes first, the monthly review waits for it
    assert "ACTIVITY htn.severe" in out and "ACTIVITY htn.treatment-review" not in out


def test_explain__reads_like_a_clinician_summary(capsys):
    assert main(["explain", str(DIABETIC), "--as-of", "2020-06-01"]) == 0
    out = capsys.readouterr().out
    assert "DIABETES" in out and "Why: " in out and "Evidence: HbA1c: " in out
    assert "Source: ADA Standards of Care in Diabetes" in out
    assert "10-year ASCVD risk" in out
    assert out.rstrip().endswith("nothing is ordered or prescribed.")


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"), ("{not json", "is not JSON"), ('{"resourceType": "Patient"}', "Bundle"),
])
def test_plan__bad_input_gets_a_clear_message(tmp_path, capsys, content, message):
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert main(["plan", str(path), "--as-of", "2020-06-01"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("patient", [
    None,  # no Patient at all
    {"resourceType": "Patient", "id": "p", "birthDate": 5},  # a Patient that fails validation beyond repair
])
def test_plan__a_patient_carepath_cannot_read_is_an_error_not_an_empty_plan(tmp_path, capsys, patient):
    condition = {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/p"},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}}
    entries = [{"resource": r} for r in (patient, condition) if r]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    assert main(["plan", str(path), "--as-of", "2020-06-01"]) == 2
    captured = capsys.readouterr()
    assert "no Patient carepath can read" in captured.err and captured.out == ""
    if patient:
        assert "birthDate" in captured.err


def test_pack_check__lists_every_value_set_with_its_size(capsys):
    assert main(["pack", "check"]) == 0
    out = capsys.readouterr().out
    assert "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.103.12.1001|" in out
    line = next(x for x in out.splitlines() if "113883.3.464.1003.103.12.1001|" in x)
    assert line.split()[0] == "451" and "Diabetes" in line


def test_pack_check__a_value_set_it_cannot_resolve_fails_it(tmp_path, capsys):
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    (folder / "valuesets" / "ValueSet-2.16.840.1.113883.3.464.1003.103.12.1001.json").unlink()
    assert main(["pack", "check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "value set http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.103.12.1001|" in err
    assert "not bundled" in err


def test_plan__bad_date_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["plan", str(DIABETIC), "--as-of", "June"])
    assert "is not a date" in capsys.readouterr().err


def test_pack_check__ok(capsys):
    assert main(["pack", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pack OK: 12 PlanDefinitions")  # the bundled packs: primary care (9) and pediatric (3)
    assert "http://carepath.dev/fhir/PlanDefinition/type-2-diabetes|2025.1.0" in out
    assert "http://carepath.dev/fhir/PlanDefinition/pediatric-blood-pressure|2026.1.0" in out
    assert "http://carepath.dev/fhir/Library/pediatric-data|2026.1.0" in out


def test_pack_check__one_folder_or_a_list(capsys):
    assert main(["pack", "check", str(DEFAULT_PACK_DIR)]) == 0
    assert capsys.readouterr().out.startswith("pack OK: 9 PlanDefinitions")
    assert main(["pack", "check", f"{DEFAULT_PACK_DIR},{PEDIATRIC_PACK_DIR}"]) == 0
    assert capsys.readouterr().out.startswith("pack OK: 12 PlanDefinitions")


def test_pack_check__broken_pack_names_file_and_action(tmp_path, capsys):
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK_DIR, folder)
    path = folder / "PlanDefinition-04-chronic-kidney-disease.json"
    plan = json.loads(path.read_text())
    plan["action"][0]["action"][1]["documentation"] = []
    path.write_text(json.dumps(plan))
    assert main(["pack", "check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "PlanDefinition-04-chronic-kidney-disease.json: action 'ckd.monitoring': no guideline citation" in err


def test_plan__broken_pack_is_reported_not_crashed(tmp_path, capsys):
    folder = tmp_path / "pack"
    folder.mkdir()
    assert main(["plan", str(DIABETIC), "--as-of", "2020-06-01", "--packs", str(folder)]) == 2
    assert "invalid guideline pack" in capsys.readouterr().err


@pytest.mark.parametrize(("fixture", "expected"), [
    ("clinical-pgx.json", ["SAFETY AND CONFLICTS",
                           "! [high] CYP2C19 poor metabolizer on clopidogrel 75 mg: reduced clopidogrel activation"]),
    ("clinical-data-quality.json", ["DATA NOT USED (quality problems)", "unit 'foo' unknown for Body weight"]),
    ("clinical-screened.json", ["CONSIDERED BUT NOT RECOMMENDED", "- Colorectal cancer screening (45 to 75): "
                                "Colonoscopy on 1 May 2019 is within 10 years (next due 1 May 2029)"]),
])
def test_explain__safety_quality_and_reasons_are_shown(capsys, fixture, expected):
    from tests.conftest import FIXTURES

    assert main(["explain", str(FIXTURES / fixture), "--as-of", "2025-06-01"]) == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out
    if "SAFETY AND CONFLICTS" in out:
        assert out.index("SAFETY AND CONFLICTS") < out.index("Why: ")
