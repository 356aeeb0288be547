"""``carepath plan BUNDLE --as-of DATE --format fhir``: the draft Bundle, offline and deterministic."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.conftest import ROOT, SYNTHEA

TIMESTAMP = re.compile(r'"(created|recorded|time)": "[^"]+"')


@pytest.fixture(scope="module")
def synthea_bundle():
    return sorted(SYNTHEA.glob("*.json"))[0]


def _run(*argv):
    """The real command in its own process (its logging set-up stays out of the test session)."""
    done = subprocess.run([sys.executable, "-m", "app.cli", "plan", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


def test_plan_fhir__prints_the_transaction_bundle_saving_would_send(synthea_bundle):
    code, out, _err = _run(synthea_bundle, "--as-of", "2024-01-01", "--format", "fhir")
    assert code == 0
    bundle = json.loads(out)
    Bundle.model_validate(bundle)
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert types[-2:] == ["CarePlan", "Provenance"] and set(types[:-2]) <= {"Goal"}
    careplan = bundle["entry"][-2]
    assert careplan["resource"]["status"] == "draft" and careplan["request"]["ifNoneExist"].startswith("identifier=")


def test_plan_fhir__same_input_same_bytes_apart_from_timestamps(synthea_bundle):
    first = _run(synthea_bundle, "--as-of", "2024-01-01", "--format", "fhir")[1]
    second = _run(synthea_bundle, "--as-of", "2024-01-01", "--format", "fhir")[1]
    assert TIMESTAMP.sub("", first) == TIMESTAMP.sub("", second)


def test_plan_fhir__a_bundle_without_patient_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    code, out, err = _run(empty, "--as-of", "2024-01-01", "--format", "fhir")
    assert code == 2 and out == "" and "error:" in err
