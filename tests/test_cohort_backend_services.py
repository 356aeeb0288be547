"""``carepath cohort export`` from a protected Bulk Data server, over real HTTP: SMART Backend Services.

The sandbox EHR (authorization server and FHIR proxy) in front of the local HAPI server; carepath registered
there as a backend client with a freshly generated RS384 or ES384 key (the key set carepath itself publishes).
carepath's own token provider and CLI function do the client_credentials grant, the kick-off, the polling and
the downloads; the proxy grants nothing but the exports of the types the client registered for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey

from app.cli import build_parser
from app.cohort.auth import BackendServicesToken
from app.cohort.export import STATE_FILE
from app.smart.client_auth import ClientCredentials
from sandbox.models import Client
from tests.plugins.sandbox import form_fields

pytestmark = pytest.mark.integration

REDIRECT = "http://localhost:1/callback"
EVERY_TYPE = "system/*.rs"


def new_key(alg: str) -> str:
    """A fresh private key for the client assertion, as PEM."""
    key = RSAKey.generate_key(2048) if alg == "RS384" else ECKey.generate_key("P-384")
    return key.as_pem(private=True).decode()


def smart_settings(client_id: str, pem: str, alg: str) -> dict[str, Any]:
    """carepath's SMART_* settings (the namespace, without the prefix) for a backend client."""
    return {"CLIENT_ID": client_id, "CLIENT_TYPE": "confidential-asymmetric", "PRIVATE_KEY": pem, "KEY_ALG": alg,
            "REDIRECT_URI": REDIRECT}


def register_backend(sandbox: Any, alg: str, system_scope: str, *, published_pem: str | None = None) -> tuple[str, str]:
    """Register a backend client at the sandbox with the key set carepath publishes; (client id, private key).

    With ``published_pem`` the sandbox is given that key's set instead (a client signing with another key).
    """
    client_id = f"bulk-{alg.lower()}-{secrets.token_hex(4)}"
    pem = new_key(alg)
    jwks = ClientCredentials(smart_settings(client_id, published_pem or pem, alg)).jwks()
    sandbox.registry.register(Client(client_id, [], auth_method="private_key_jwt", jwks=jwks,
                                     system_scope=system_scope, name=f"carepath bulk test ({alg})"))
    return client_id, pem


def run_export(monkeypatch, tmp_path: Path, sandbox: Any, client_id: str, pem: str, alg: str, out: Path,
               *options: str) -> int:
    """``carepath cohort export`` through the sandbox's protected FHIR base: the function the CLI runs."""
    key_file = tmp_path / f"{client_id}.pem"
    key_file.write_text(pem, encoding="utf-8")
    key_file.chmod(0o600)
    for name, value in {"SMART_ALLOWED_ISS": json.dumps([sandbox.fhir_base]), "SMART_OPEN_SERVERS": "[]",
                        "SMART_CLIENT_ID": client_id, "SMART_CLIENT_TYPE": "confidential-asymmetric",
                        "SMART_PRIVATE_KEY_PATH": str(key_file), "SMART_KEY_ALG": alg}.items():
        monkeypatch.setenv(f"CAREPATH_{name}", value)
    args = build_parser().parse_args(["cohort", "export", "--fhir-base", sandbox.fhir_base, "--out", str(out),
                                      "--max-poll", "1", "--timeout", "300", *options])
    return args.func(args)


def issued_to(sandbox: Any, client_id: str) -> list[Any]:
    """The access tokens the sandbox issued to a client."""
    return [token for token in list(sandbox.registry.tokens.values()) if token.client_id == client_id]


def ndjson_ids(folder: Path, resource_type: str) -> set[str]:
    """The ids of the resources of one type in an export folder."""
    lines = [line for path in folder.glob(f"*.{resource_type}.ndjson") for line in path.read_text().splitlines()]
    return {json.loads(line)["id"] for line in lines if line.strip()}


@pytest.fixture(scope="module")
def panel(loaded_hapi, sample_patients) -> dict[str, Any]:
    """A Group of the two sample patients on the local HAPI server."""
    group = {"resourceType": "Group", "id": "backend-services-panel", "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{patient['id']}"}} for patient in sample_patients]}
    loaded_hapi.update(group)
    return group


@pytest.mark.parametrize(("alg", "level"), [("RS384", "system"), ("ES384", "Group/backend-services-panel")])
def test_cohort_export__backend_services_through_the_sandbox(sandbox_ehr, loaded_hapi, hapi_url, panel,
                                                             sample_patients, monkeypatch, tmp_path, capsys, caplog,
                                                             assert_no_secret_logged, alg, level):
    caplog.set_level(logging.INFO)  # what carepath logs in production, whatever an earlier test set
    client_id, pem = register_backend(sandbox_ehr, alg, EVERY_TYPE)
    out = tmp_path / "export"

    status = run_export(monkeypatch, tmp_path, sandbox_ehr, client_id, pem, alg, out, "--level", level,
                        "--type", "Patient,Condition", "--quiet")

    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert printed.out.startswith("exported ")
    expected = ({patient["id"] for patient in sample_patients} if level.startswith("Group/")
                else {patient["id"] for patient in loaded_hapi.search("Patient")})
    assert ndjson_ids(out, "Patient") == expected
    assert ndjson_ids(out, "Condition"), "the sample patients have Conditions"
    # HAPI's absolute URLs came through rewritten: the client only ever talked to the sandbox
    state_text = (out / STATE_FILE).read_text(encoding="utf-8")
    state = json.loads(state_text)
    assert state["status_url"].startswith(f"{sandbox_ehr.fhir_base}/$export-poll-status?")
    manifest = state["manifest"]
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].startswith(f"{sandbox_ehr.fhir_base}/")
    assert manifest["output"] and all(item["url"].startswith(f"{sandbox_ehr.fhir_base}/Binary/")
                                      for item in manifest["output"])
    assert hapi_url not in state_text
    # a short-lived system token was issued, and never written, printed or logged
    tokens = issued_to(sandbox_ehr, client_id)
    assert tokens and all(token.backend and token.scope == EVERY_TYPE and token.expires_in == 300
                          for token in tokens)
    assert any(record.getMessage() == "fhir request" for record in caplog.records), "logging was not on"
    written = [path.read_text(encoding="utf-8", errors="replace") for path in out.rglob("*") if path.is_file()]
    for token in tokens:
        assert token.access_token not in printed.out + printed.err + caplog.text
        assert not [text for text in written if token.access_token in text]
    assert_no_secret_logged()


def test_cohort_export__an_assertion_signed_by_another_key_is_refused(sandbox_ehr, monkeypatch, tmp_path, capsys):
    client_id, pem = register_backend(sandbox_ehr, "RS384", EVERY_TYPE, published_pem=new_key("RS384"))
    out = tmp_path / "export"

    status = run_export(monkeypatch, tmp_path, sandbox_ehr, client_id, pem, "RS384", out, "--quiet")

    error = capsys.readouterr().err
    assert status == 2
    assert "cohort export: the token endpoint refused carepath's Backend Services request" in error
    assert f"as client '{client_id}'" in error and "invalid_client" in error and "signature invalid" in error
    assert not [path for path in out.rglob("*") if path.is_file()]
    assert issued_to(sandbox_ehr, client_id) == []


def test_cohort_export__a_type_the_client_is_not_registered_for_is_refused(sandbox_ehr, monkeypatch, tmp_path,
                                                                          capsys):
    client_id, pem = register_backend(sandbox_ehr, "ES384", "system/Patient.rs system/Condition.rs")
    out = tmp_path / "export"

    status = run_export(monkeypatch, tmp_path, sandbox_ehr, client_id, pem, "ES384", out, "--type",
                        "Patient,Observation", "--quiet")

    error = capsys.readouterr().err
    assert status == 2
    assert "cohort export: the server refused the export" in error
    assert "does not grant read and search on Observation (needs a scope like system/Observation.rs)" in error
    assert not [path for path in out.rglob("*") if path.is_file()]
    # carepath asked system/*.rs; the sandbox granted only what the registration holds
    assert [token.scope for token in issued_to(sandbox_ehr, client_id)] == ["system/Patient.rs system/Condition.rs"]


# -- the proxy, request by request ------------------------------------------------------------------


def app_token(sandbox: Any, patient: str, scope: str) -> dict[str, Any]:
    """An app's token from a real EHR launch (authorization code with PKCE) of a public client."""
    client_id = "bulk-test-app"
    sandbox.registry.register(Client(client_id, [REDIRECT], name="an app"))
    launch = requests.post(f"{sandbox.base_url}/api/launch", json={"patient": patient}, timeout=30).json()["launch"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorize = f"{sandbox.base_url}/auth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
        "state": secrets.token_urlsafe(8), "aud": sandbox.fhir_base, "launch": launch,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    page = requests.get(authorize, timeout=60)
    assert page.status_code == 200, page.text[:300]
    answer = requests.post(authorize, data={**form_fields(page.text), "decision": "allow"}, allow_redirects=False,
                           timeout=60)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token = requests.post(sandbox.token_endpoint, data={"grant_type": "authorization_code", "code": code,
                                                        "redirect_uri": REDIRECT, "code_verifier": verifier,
                                                        "client_id": client_id}, timeout=30)
    assert token.status_code == 200, token.text
    return token.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json", "Prefer": "respond-async"}


def assert_forbidden(response: requests.Response, text: str) -> None:
    assert response.status_code == 403, response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "forbidden"
    assert text in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("path", "refusal"), [
    ("$export", "System-level interactions are not allowed with a SMART app token."),
    ("Patient/$export", "Operation $export is not available to SMART apps"),
    ("Group/backend-services-panel/$export", "Operation $export is not available to SMART apps"),
])
def test_proxy__an_app_token_cannot_start_an_export(sandbox_ehr, sample_patients, panel, path, refusal):
    token = app_token(sandbox_ehr, sample_patients[0]["id"], "launch patient/*.rs system/*.rs")
    assert token["scope"] == "launch patient/*.rs"  # an app is never granted system scopes
    response = requests.get(f"{sandbox_ehr.fhir_base}/{path}", params={"_type": "Patient"},
                            headers=bearer(token["access_token"]), timeout=30)
    assert_forbidden(response, refusal)


def test_proxy__an_export_job_and_its_files_belong_to_the_client_that_started_it(sandbox_ehr, sample_patients,
                                                                                 hapi_url):
    owner_id, owner_pem = register_backend(sandbox_ehr, "ES384", "system/Patient.rs")
    other_id, other_pem = register_backend(sandbox_ehr, "RS384", EVERY_TYPE)
    owner = BackendServicesToken(sandbox_ehr.fhir_base, smart_settings(owner_id, owner_pem, "ES384"),
                                 scope=EVERY_TYPE).token()
    other = BackendServicesToken(sandbox_ehr.fhir_base, smart_settings(other_id, other_pem, "RS384"),
                                 scope=EVERY_TYPE).token()
    app = app_token(sandbox_ehr, sample_patients[0]["id"], "launch patient/*.rs")["access_token"]
    assert owner and other

    kick_off = requests.get(f"{sandbox_ehr.fhir_base}/$export", params={"_type": "Patient"}, headers=bearer(owner),
                            timeout=30)
    assert kick_off.status_code == 202, kick_off.text
    status_url = kick_off.headers["Content-Location"]
    assert status_url.startswith(f"{sandbox_ehr.fhir_base}/$export-poll-status?_jobId=")
    polls = []
    deadline = time.monotonic() + 300
    while not polls or polls[-1].status_code == 202:
        assert time.monotonic() < deadline, "the export did not complete in 300 s"
        if polls:
            time.sleep(0.5)  # between polls of a job that is still running (the condition is its status)
        polls.append(requests.get(status_url, headers=bearer(owner), timeout=30))
    assert polls[-1].status_code == 200, polls[-1].text
    # polls answered while the job ran carry HAPI's progress headers (a unit test of the proxy covers them
    # whatever HAPI's speed: the first poll may already find the job complete)
    assert all("Retry-After" in poll.headers for poll in polls if poll.status_code == 202)
    manifest = polls[-1].json()
    assert hapi_url not in polls[-1].text
    file_url = manifest["output"][0]["url"]
    assert file_url.startswith(f"{sandbox_ehr.fhir_base}/Binary/")

    download = requests.get(file_url, headers={**bearer(owner), "Accept": "application/fhir+ndjson"}, timeout=60)
    assert download.status_code == 200 and download.text.startswith('{"resourceType":"Patient"')
    refusals = {other: ("This file is not one of this client's exports.",
                        "This export job is not one of this client's exports."),
                app: ("Bulk Data export files are served only to the backend client that started the export.",
                      "System-level interactions are not allowed with a SMART app token.")}
    for token, (file_refusal, job_refusal) in refusals.items():  # another client gets neither job nor files
        for accept in ("application/fhir+json", "application/fhir+ndjson"):
            assert_forbidden(requests.get(file_url, headers={**bearer(token), "Accept": accept}, timeout=30),
                             file_refusal)
        assert_forbidden(requests.get(status_url, headers=bearer(token), timeout=30), job_refusal)
        assert_forbidden(requests.delete(status_url, headers=bearer(token), timeout=30), job_refusal)
    # a system token gets Bulk Data and nothing more: no reads, searches, or types it was not granted
    patient = sample_patients[0]["id"]
    assert_forbidden(requests.get(f"{sandbox_ehr.fhir_base}/Patient/{patient}", headers=bearer(owner), timeout=30),
                     "may only run Bulk Data exports")
    assert_forbidden(requests.get(f"{sandbox_ehr.fhir_base}/Condition", params={"patient": patient},
                                  headers=bearer(owner), timeout=30), "may only run Bulk Data exports")
    assert_forbidden(requests.get(f"{sandbox_ehr.fhir_base}/$export", headers=bearer(owner), timeout=30),
                     "system/*.rs")
    assert_forbidden(requests.get(f"{sandbox_ehr.fhir_base}/Patient/$export", params={"_type": "Patient,Condition"},
                                  headers=bearer(owner), timeout=30), "system/Condition.rs")


def test_proxy__an_export_file_is_refused_to_an_app_token_before_its_owner_polled_the_job(sandbox_ehr,
                                                                                          sample_patients, hapi_url):
    owner_id, owner_pem = register_backend(sandbox_ehr, "ES384", "system/Patient.rs")
    owner = BackendServicesToken(sandbox_ehr.fhir_base, smart_settings(owner_id, owner_pem, "ES384"),
                                 scope="system/Patient.rs").token()
    app = app_token(sandbox_ehr, sample_patients[0]["id"], "launch patient/*.rs")["access_token"]
    kick_off = requests.get(f"{sandbox_ehr.fhir_base}/$export", params={"_type": "Patient"}, headers=bearer(owner),
                            timeout=30)
    assert kick_off.status_code == 202, kick_off.text
    # the job's manifest is read from HAPI itself, so the sandbox has not yet seen which files the job made
    status_url = kick_off.headers["Content-Location"].replace(sandbox_ehr.fhir_base, hapi_url)
    deadline, answer = time.monotonic() + 300, None
    while answer is None or answer.status_code == 202:
        assert time.monotonic() < deadline, "the export did not complete in 300 s"
        if answer is not None:
            time.sleep(0.5)  # between polls of a job that is still running (the condition is its status)
        answer = requests.get(status_url, timeout=30)
    assert answer.status_code == 200, answer.text
    file_id = answer.json()["output"][0]["url"].rsplit("/Binary/", 1)[1]
    for accept in ("application/fhir+json", "application/fhir+ndjson"):
        refused = requests.get(f"{sandbox_ehr.fhir_base}/Binary/{file_id}", timeout=30,
                               headers={**bearer(app), "Accept": accept})
        assert refused.status_code == 403, (accept, refused.text)
