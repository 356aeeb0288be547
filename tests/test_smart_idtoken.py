"""id_token validation: signature from the EHR's key set, iss, aud, exp, nonce; fhirUser extraction."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from app.smart.errors import TokenInvalid
from app.smart.idtoken import fhir_user_reference, validate_id_token

ISSUER = "https://ehr.example/fhir"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
JWKS = {"keys": [dict(KEY.as_dict(private=False), kid="k1")]}


def make_token(key=KEY, alg="RS256", **changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "carepath", "sub": "u1", "iat": now, "exp": now + 300, "nonce": "n1",
              "fhirUser": f"{ISSUER}/Practitioner/123"}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


def validate(token, nonce="n1"):
    return validate_id_token(token, jwks=JWKS, issuer=ISSUER, client_id="carepath", nonce=nonce)


def test_validate_id_token__accepts_a_good_token():
    claims = validate(make_token())
    assert claims["fhirUser"].endswith("/Practitioner/123")


@pytest.mark.parametrize(("changes", "nonce", "message"), [
    ({"iss": "https://other.example/fhir"}, "n1", "iss"),
    ({"aud": "someone-else"}, "n1", "aud"),
    ({"exp": int(time.time()) - 600}, "n1", "exp"),
    ({"nonce": "replayed"}, "n1", "nonce"),
    ({"nonce": None}, "n1", "nonce"),
    ({"sub": None}, "n1", "sub"),
    ({"aud": ["carepath", "other"]}, "n1", "azp"),
])
def test_validate_id_token__refuses_wrong_claims(changes, nonce, message):
    with pytest.raises(TokenInvalid, match=message):
        validate(make_token(**changes), nonce=nonce)


def test_validate_id_token__refuses_a_token_signed_by_another_key():
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(TokenInvalid, match="signature"):
        validate(make_token(key=other))


def test_validate_id_token__refuses_hmac_signed_with_the_public_key_material():
    forged = make_token(key=OctKey.import_key("k" * 32), alg="HS256")
    with pytest.raises(TokenInvalid, match="signature"):
        validate(forged)


def test_validate_id_token__refuses_unsigned_tokens():
    header, payload, _ = make_token().split(".")
    unsigned = "eyJhbGciOiJub25lIn0." + payload + "."
    with pytest.raises(TokenInvalid):
        validate(unsigned)
    with pytest.raises(TokenInvalid):
        validate(f"{header}.{payload}.")


@pytest.mark.parametrize(("claims", "expected"), [
    ({"fhirUser": f"{ISSUER}/Practitioner/123"}, "Practitioner/123"),
    ({"fhirUser": "Practitioner/123"}, "Practitioner/123"),
    ({"fhirUser": "https://elsewhere.example/fhir/Patient/9"}, "https://elsewhere.example/fhir/Patient/9"),
    ({"profile": f"{ISSUER}/PractitionerRole/7"}, "PractitionerRole/7"),  # SMART v1
    ({}, None),
    ({"fhirUser": 12}, None),
])
def test_fhir_user_reference__relative_when_on_the_server(claims, expected):
    assert fhir_user_reference(claims, ISSUER) == expected
