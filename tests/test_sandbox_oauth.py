"""The sandbox EHR's authorization server, driven with Flask's test client (no FHIR server needed)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from sandbox import DEMO_CLIENT_SECRET, create_sandbox
from sandbox.models import Client
from sandbox.oauth import downgrade
from tests.plugins.sandbox import form_fields

BASE = "http://127.0.0.1:8001"
FHIR = f"{BASE}/fhir"
REDIRECT = "http://localhost:8000/callback"
JWT_KEY = ECKey.generate_key("P-384", parameters={"kid": "app-key"})


@pytest.fixture
def sandbox_app():
    clients = [
        Client("public-app", [REDIRECT]),
        Client("secret-app", [REDIRECT], auth_method="client_secret_basic", client_secret=DEMO_CLIENT_SECRET),
        Client("jwt-app", [REDIRECT], auth_method="private_key_jwt",
               jwks={"keys": [dict(JWT_KEY.as_dict(private=False), kid="app-key")]}),
        Client("bulk-service", [], auth_method="private_key_jwt",
               jwks={"keys": [dict(JWT_KEY.as_dict(private=False), kid="app-key")]},
               system_scope="system/Patient.rs system/Condition.rs"),
    ]
    # Port 9 (discard) refuses connections at once: the consent page copes without a FHIR server.
    return create_sandbox({"FHIR_UPSTREAM": "http://127.0.0.1:9/fhir", "BASE_URL": BASE, "CLIENTS": clients})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_query(launch: str | None, challenge: str, client_id: str = "public-app", **changes) -> dict:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st-1",
             "scope": "openid fhirUser launch patient/*.cruds online_access", "aud": FHIR,
             "nonce": secrets.token_urlsafe(8),
             "code_challenge": challenge, "code_challenge_method": "S256"}
    if launch:
        query["launch"] = launch
    query.update(changes)
    return {k: v for k, v in query.items() if v is not None}


def new_launch(client, **extra) -> str:
    response = client.post("/api/launch", json={"patient": "pat-1", "fhir_user": "Practitioner/pr-1",
                                                "encounter": "enc-1", **extra})
    return response.get_json()["launch"]


def get_code(client, query: dict, decision: str = "allow") -> str:
    page = client.get("/auth/authorize?" + urlencode(query))
    assert page.status_code == 200, page.data[:300]
    fields = form_fields(page.get_data(as_text=True))
    fields["decision"] = decision
    answer = client.post("/auth/authorize?" + urlencode(query), data=fields)
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def exchange(client, code: str, verifier: str, client_id: str = "public-app", **extra):
    return client.post("/auth/token", data={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": REDIRECT, "code_verifier": verifier,
                                            "client_id": client_id, **extra})


def test_discovery__advertises_smart_capabilities(sandbox_app):
    document = sandbox_app.test_client().get("/fhir/.well-known/smart-configuration").get_json()
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert {"launch-ehr", "launch-standalone", "client-confidential-asymmetric"} <= set(document["capabilities"])
    assert document["issuer"] == FHIR


def test_code_flow__token_carries_context_and_a_verifiable_id_token(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    code = get_code(client, authorize_query(new_launch(client), challenge, nonce="n-1"))
    token = exchange(client, code, verifier).get_json()
    assert token["patient"] == "pat-1" and token["encounter"] == "enc-1"
    assert token["need_patient_banner"] is True and token["smart_style_url"].endswith("smart-style.json")
    keys = KeySet.import_key_set(client.get("/auth/jwks").get_json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256"
    assert id_token.claims["fhirUser"] == f"{FHIR}/Practitioner/pr-1"
    assert id_token.claims["nonce"] == "n-1" and id_token.claims["aud"] == ["public-app"]
    assert id_token.claims["iss"] == FHIR


def test_refresh__rotates_and_spends_the_old_refresh_token(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    token = exchange(client, get_code(client, authorize_query(new_launch(client), challenge)), verifier).get_json()
    refreshed = client.post("/auth/token", data={"grant_type": "refresh_token", "client_id": "public-app",
                                                 "refresh_token": token["refresh_token"]})
    assert refreshed.status_code == 200
    body = refreshed.get_json()
    assert body["refresh_token"] != token["refresh_token"] and body["patient"] == "pat-1"
    again = client.post("/auth/token", data={"grant_type": "refresh_token", "client_id": "public-app",
                                             "refresh_token": token["refresh_token"]})
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_code__is_single_use_and_a_replay_revokes_its_tokens(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    code = get_code(client, authorize_query(new_launch(client), challenge))
    token = exchange(client, code, verifier).get_json()
    replay = exchange(client, code, verifier)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    registry = sandbox_app.extensions["sandbox"].registry
    assert registry.token(token["access_token"]).is_revoked()


def test_pkce__wrong_verifier_is_refused_and_spends_the_code(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    code = get_code(client, authorize_query(new_launch(client), challenge))
    answer = exchange(client, code, secrets.token_urlsafe(48))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    retry = exchange(client, code, verifier)  # the right verifier after a failed one: the code is spent
    assert retry.status_code == 400 and retry.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("changes", "message"), [
    ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
    ({"code_challenge_method": "plain"}, "Only code_challenge_method=S256"),
])
def test_authorize__pkce_s256_is_mandatory(sandbox_app, changes, message):
    client = sandbox_app.test_client()
    query = authorize_query(new_launch(client), pkce()[1], **changes)
    answer = client.get("/auth/authorize?" + urlencode(query))
    assert answer.status_code == 302
    error = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert error["error"] == ["invalid_request"] and message in error["error_description"][0]
    assert error["state"] == ["st-1"]


@pytest.mark.parametrize(("changes", "launch", "status", "text"), [
    ({"aud": "https://other.example/fhir"}, True, 400, "aud"),
    ({"scope": "openid patient/*.rs"}, True, 400, "must ask for the &#39;launch&#39; scope"),
    ({"scope": "openid patient/*.rs"}, False, 400, "launch/patient"),
    ({"redirect_uri": "https://evil.example/cb"}, True, 400, "not supported by client"),
    ({"client_id": "nobody"}, True, 400, "does not exist"),
])
def test_authorize__bad_requests_are_refused_without_redirecting_to_strangers(sandbox_app, changes, launch,
                                                                              status, text):
    client = sandbox_app.test_client()
    query = authorize_query(new_launch(client) if launch else None, pkce()[1], **changes)
    answer = client.get("/auth/authorize?" + urlencode(query))
    assert answer.status_code == status
    assert text in answer.get_data(as_text=True)


def test_authorize__unknown_launch_is_refused(sandbox_app):
    answer = sandbox_app.test_client().get("/auth/authorize?" + urlencode(authorize_query("nope", pkce()[1])))
    assert answer.status_code == 400 and b"Unknown or expired launch" in answer.data


def test_consent__forged_post_is_refused(sandbox_app):
    client = sandbox_app.test_client()
    query = authorize_query(new_launch(client), pkce()[1])
    answer = client.post("/auth/authorize?" + urlencode(query), data={"decision": "allow", "consent_token": "x"})
    assert answer.status_code == 400 and b"Consent form expired" in answer.data


@pytest.mark.parametrize(("decision", "simulate"), [("deny", ""), ("allow", "deny_consent")])
def test_consent__denial_redirects_with_access_denied(sandbox_app, decision, simulate):
    client = sandbox_app.test_client()
    query = authorize_query(new_launch(client, simulate=simulate), pkce()[1])
    page = client.get("/auth/authorize?" + urlencode(query))
    fields = {**form_fields(page.get_data(as_text=True)), "decision": decision}
    answer = client.post("/auth/authorize?" + urlencode(query), data=fields)
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["access_denied"]


def test_simulation__scope_downgrade_and_invalid_client(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    code = get_code(client, authorize_query(new_launch(client, simulate="scope_downgrade"), challenge))
    assert exchange(client, code, verifier).get_json()["scope"].split()[-2:] == ["patient/*.rs", "online_access"]
    code = get_code(client, authorize_query(new_launch(client, simulate="invalid_client"), challenge))
    assert exchange(client, code, verifier).get_json()["error"] == "invalid_client"


def test_client_secret_basic__wrong_secret_is_refused(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    query = authorize_query(new_launch(client), challenge, client_id="secret-app")
    code = get_code(client, query)
    bad = base64.b64encode(b"secret-app:wrong").decode()
    answer = client.post("/auth/token", headers={"Authorization": f"Basic {bad}"},
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                               "code_verifier": verifier})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    good = base64.b64encode(f"secret-app:{DEMO_CLIENT_SECRET}".encode()).decode()
    answer = client.post("/auth/token", headers={"Authorization": f"Basic {good}"},
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                               "code_verifier": verifier})
    assert answer.status_code == 200


def assertion(key=JWT_KEY, alg="ES384", expires_in=240, jti=None, client_id="jwt-app") -> str:
    return private_key_jwt_sign(key, client_id=client_id, token_endpoint=f"{BASE}/auth/token", alg=alg,
                                claims={"jti": jti or secrets.token_urlsafe(16)}, header={"kid": "app-key"},
                                expires_in=expires_in)


@pytest.mark.parametrize(("make", "ok"), [
    (lambda: assertion(), True),
    (lambda: assertion(expires_in=3600), False),  # exp more than 5 minutes ahead
    (lambda: assertion(key=ECKey.generate_key("P-384")), False),  # not the registered key
    (lambda: assertion(key=RSAKey.generate_key(2048), alg="RS256"), False),  # RS256 is not allowed
])
def test_private_key_jwt__smart_rules_are_enforced(sandbox_app, make, ok):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    code = get_code(client, authorize_query(new_launch(client), challenge, client_id="jwt-app"))
    answer = client.post("/auth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": make()})
    assert (answer.status_code == 200) is ok, answer.get_json()


def test_private_key_jwt__a_jti_is_accepted_once(sandbox_app):
    client = sandbox_app.test_client()
    reused = assertion(jti="same-jti")
    statuses = []
    for _ in range(2):
        verifier, challenge = pkce()
        code = get_code(client, authorize_query(new_launch(client), challenge, client_id="jwt-app"))
        answer = client.post("/auth/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": reused})
        statuses.append(answer.get_json().get("error", answer.status_code))
    assert statuses == [200, "invalid_client"]


@pytest.mark.parametrize(("scope", "expected"), [
    ("launch patient/*.cruds", "launch patient/*.rs"),
    ("patient/CarePlan.cu patient/Observation.rs", "patient/Observation.rs"),
    ("patient/*.read patient/CarePlan.write", "patient/*.read"),
    ("patient/*.*", "patient/*.read"),
    ("patient/Observation.crs?category=laboratory", "patient/Observation.rs?category=laboratory"),
])
def test_downgrade__removes_every_write_permission(scope, expected):
    assert downgrade(scope) == expected


def test_authorize__a_replayed_nonce_is_refused(sandbox_app):
    client = sandbox_app.test_client()
    get_code(client, authorize_query(new_launch(client), pkce()[1], nonce="once"))
    answer = client.get("/auth/authorize?" + urlencode(authorize_query(new_launch(client), pkce()[1], nonce="once")))
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_request"]


def test_picker__explains_an_unreachable_fhir_server(sandbox_app):
    page = sandbox_app.test_client().get("/").get_data(as_text=True)
    assert "could not be read" in page
    assert re.search(r'name="form_token" value="[0-9a-f]{64}"', page)


# -- SMART Backend Services: client_credentials with a private_key_jwt assertion ---------------------------

def backend_token(client, scope: str | None = "system/*.rs", client_id: str = "bulk-service", **changes):
    data = {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(client_id=client_id), **changes}
    return client.post("/auth/token", data={k: v for k, v in data.items() if v is not None})


def test_discovery__advertises_backend_services(sandbox_app):
    document = sandbox_app.test_client().get("/fhir/.well-known/smart-configuration").get_json()
    assert "client_credentials" in document["grant_types_supported"]
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert {"RS384", "ES384"} <= set(document["token_endpoint_auth_signing_alg_values_supported"])
    assert "system/*.rs" in document["scopes_supported"]
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(document["capabilities"])


@pytest.mark.parametrize(("scope", "granted"), [
    ("system/*.rs", "system/Patient.rs system/Condition.rs"),  # cut down to the registration
    ("system/*.read", "system/Patient.read system/Condition.read"),  # SMART v1
    ("system/Patient.rs", "system/Patient.rs"),
    ("system/Patient.cruds system/Observation.rs", "system/Patient.rs"),  # no write, no unregistered type
    ("system/Patient.rs patient/*.rs launch openid", "system/Patient.rs"),  # nothing but system scopes
])
def test_client_credentials__grants_the_registered_system_scopes_for_five_minutes(sandbox_app, scope, granted):
    answer = backend_token(sandbox_app.test_client(), scope)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scope"] == granted and body["expires_in"] == 300 and body["token_type"] == "Bearer"
    assert "refresh_token" not in body and "patient" not in body and "id_token" not in body
    token = sandbox_app.extensions["sandbox"].registry.token(body["access_token"])
    assert token.backend and token.context.patient is None and token.client_id == "bulk-service"


@pytest.mark.parametrize("scope", ["system/Observation.rs", "patient/*.rs", None])
def test_client_credentials__no_registered_scope_asked_is_invalid_scope(sandbox_app, scope):
    answer = backend_token(sandbox_app.test_client(), scope)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["error"] == "invalid_scope" and "system/Patient.rs system/Condition.rs" in body["error_description"]


def test_client_credentials__needs_the_registered_key(sandbox_app):
    answer = backend_token(sandbox_app.test_client(), client_assertion=private_key_jwt_sign(
        ECKey.generate_key("P-384"), client_id="bulk-service", token_endpoint=f"{BASE}/auth/token", alg="ES384",
        claims={"jti": secrets.token_urlsafe(16)}, header={"kid": "app-key"}, expires_in=240))
    assert answer.status_code in (400, 401) and answer.get_json()["error"] == "invalid_client"
    assert "signature invalid" in answer.get_json()["error_description"]
    unsigned = sandbox_app.test_client().post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": "bulk-service", "scope": "system/*.rs"})
    assert unsigned.status_code in (400, 401) and unsigned.get_json()["error"] == "invalid_client"


def test_client_credentials__is_refused_to_app_clients(sandbox_app):
    answer = backend_token(sandbox_app.test_client(), client_id="jwt-app")
    assert answer.status_code == 400 and answer.get_json()["error"] == "unauthorized_client"


def test_code_flow__an_app_is_never_granted_system_scopes(sandbox_app):
    client = sandbox_app.test_client()
    verifier, challenge = pkce()
    query = authorize_query(new_launch(client), challenge, scope="launch patient/*.rs system/*.rs system/*.read")
    token = exchange(client, get_code(client, query), verifier).get_json()
    assert token["scope"] == "launch patient/*.rs"
    assert not sandbox_app.extensions["sandbox"].registry.token(token["access_token"]).backend


def test_authorize__a_backend_client_cannot_start_a_launch(sandbox_app):
    client = sandbox_app.test_client()
    query = authorize_query(new_launch(client), pkce()[1], client_id="bulk-service")
    answer = client.get("/auth/authorize?" + urlencode(query))
    assert answer.status_code == 400
