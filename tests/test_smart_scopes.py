"""Scopes: what carepath asks (v2 default, v1 by configuration) and what a granted scope allows."""

from __future__ import annotations

import pytest

from app.smart.scopes import GrantedScopes, requested_scope

SETTINGS = {"READ_TYPES": ["Patient", "Observation", "CarePlan"], "WRITE_TYPES": ["CarePlan", "Goal"]}


def test_requested_scope__v2_ehr_launch():
    assert requested_scope(SETTINGS, standalone=False).split() == [
        "openid", "fhirUser", "launch", "online_access", "patient/Patient.rs", "patient/Observation.rs",
        "patient/CarePlan.crus", "patient/Goal.cu",
    ]


def test_requested_scope__user_level_read_of_practitioners_to_name_people():
    v2 = requested_scope({**SETTINGS, "USER_READ_TYPES": ["Practitioner"]}, standalone=False).split()
    v1 = requested_scope({**SETTINGS, "USER_READ_TYPES": ["Practitioner"], "SCOPE_VERSION": "v1"},
                         standalone=False).split()
    assert v2[-1] == "user/Practitioner.rs" and v1[-1] == "user/Practitioner.read"
    assert GrantedScopes(" ".join(v2)).can_read("Practitioner")


def test_requested_scope__standalone_asks_launch_patient_and_offline_access_when_configured():
    scopes = requested_scope({**SETTINGS, "OFFLINE_ACCESS": True}, standalone=True).split()
    assert "launch/patient" in scopes and "launch" not in scopes
    assert "offline_access" in scopes and "online_access" not in scopes


def test_requested_scope__v1_by_configuration():
    scopes = requested_scope({**SETTINGS, "SCOPE_VERSION": "v1", "EXTRA_SCOPES": "launch/encounter"},
                             standalone=False).split()
    assert scopes[-4:] == ["patient/*.read", "patient/CarePlan.write", "patient/Goal.write", "launch/encounter"]


@pytest.mark.parametrize(("granted", "resource_type", "can_read", "can_write"), [
    ("patient/Observation.rs", "Observation", True, False),
    ("patient/Observation.r", "Observation", True, False),
    ("patient/CarePlan.cu", "CarePlan", False, True),
    ("patient/CarePlan.c", "CarePlan", False, False),  # create without update cannot approve
    ("patient/CarePlan.crus", "CarePlan", True, True),
    ("patient/*.read", "Condition", True, False),
    ("patient/*.read patient/CarePlan.write", "CarePlan", True, True),
    ("patient/*.*", "Goal", True, True),
    ("patient/*.cruds", "Goal", True, True),
    ("user/Observation.read", "Observation", True, False),
    ("system/Observation.read", "Observation", False, False),  # not for a user-facing launch
    ("patient/Observation.rs?category=laboratory", "Observation", True, False),
    ("patient/Observation.rs", "Condition", False, False),
    ("launch openid fhirUser", "Patient", False, False),
    ("patient/observation.rs", "Observation", False, False),  # types are case-sensitive
])
def test_granted_scopes__read_and_write(granted, resource_type, can_read, can_write):
    scopes = GrantedScopes(granted)
    assert scopes.can_read(resource_type) is can_read
    assert scopes.can_write(resource_type) is can_write


def test_granted_scopes__names_what_it_cannot_do():
    scopes = GrantedScopes("openid patient/Patient.rs patient/Observation.rs patient/CarePlan.rs")
    assert "openid" in scopes
    assert scopes.unreadable(["Patient", "Observation", "Condition"]) == ["Condition"]
    assert scopes.unwritable(["CarePlan", "Goal"]) == ["CarePlan", "Goal"]
    assert str(GrantedScopes("a b a")) == "a b"
