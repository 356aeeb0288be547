"""g.launch: what a page may do, from the granted scopes (or an open server), and whom it belongs to."""

from __future__ import annotations

import pytest

from app.smart.launch import Launch

READ = ["Patient", "Observation", "Condition"]
WRITE = ["CarePlan", "Goal"]


def make_launch(scope: str, *, open_server: bool = False, fhir_user: str | None = "Practitioner/1") -> Launch:
    record = {"launch_id": "L", "iss": "https://ehr.example/fhir", "patient_id": "p1", "fhir_user": fhir_user,
              "scope": scope, "open_server": open_server, "need_patient_banner": True}
    launch = Launch.from_record(record)
    launch.read_types, launch.write_types = READ, WRITE
    return launch


@pytest.mark.parametrize(("scope", "read_only", "unreadable", "unwritable"), [
    ("patient/*.cruds", False, [], []),
    ("patient/*.rs", True, [], ["CarePlan", "Goal"]),
    ("patient/*.read patient/CarePlan.write patient/Goal.write", False, [], []),
    ("patient/Patient.rs patient/Observation.rs patient/CarePlan.cu", True, ["Condition"], ["Goal"]),
    ("", True, READ, WRITE),
])
def test_launch__read_only_and_what_it_cannot_see(scope, read_only, unreadable, unwritable):
    launch = make_launch(scope)
    assert launch.read_only is read_only
    assert launch.unreadable == unreadable
    assert launch.unwritable == unwritable


def test_launch__open_server_reads_and_writes_as_the_server_allows():
    launch = make_launch("", open_server=True)
    assert launch.can_read("Condition") and launch.can_write("CarePlan") and not launch.read_only


@pytest.mark.parametrize(("fhir_user", "kind"), [
    ("Practitioner/1", "Practitioner"), ("PractitionerRole/2", "PractitionerRole"), ("Patient/p1", "Patient"),
    (None, None), ("https://elsewhere.example/fhir/RelatedPerson/3", "RelatedPerson"), ("Practitioner", None),
])
def test_launch__fhir_user_type(fhir_user, kind):
    assert make_launch("patient/*.rs", fhir_user=fhir_user).fhir_user_type == kind


def test_launch__repr_holds_no_token():
    record = {"launch_id": "L", "iss": "https://ehr.example/fhir", "patient_id": "p1", "scope": "",
              "access_token": "AT-secret", "refresh_token": "RT-secret"}
    assert "secret" not in repr(Launch.from_record(record))
