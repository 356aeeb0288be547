"""Client registration settings, the published JWKS, and private_key_jwt assertions (SMART constraints)."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from app.errors import ConfigError
from app.smart.client_auth import ClientCredentials

BASE = {"CLIENT_ID": "carepath", "REDIRECT_URI": "http://localhost:8000/callback"}
TOKEN_URL = "https://ehr.example/token"


def asymmetric(alg: str):
    key = RSAKey.generate_key(2048) if alg == "RS384" else ECKey.generate_key("P-384")
    return ClientCredentials({**BASE, "CLIENT_TYPE": "confidential-asymmetric", "KEY_ALG": alg,
                              "PRIVATE_KEY": key.as_pem(private=True).decode()}), key


@pytest.mark.parametrize(("settings", "message"), [
    ({"CLIENT_ID": ""}, "SMART_CLIENT_ID"),
    ({"CLIENT_TYPE": "confidential"}, "SMART_CLIENT_TYPE must be one of"),
    ({"REDIRECT_URI": ""}, "SMART_REDIRECT_URI"),
    ({"CLIENT_TYPE": "confidential-symmetric"}, "needs SMART_CLIENT_SECRET"),
    ({"CLIENT_TYPE": "confidential-asymmetric"}, "needs SMART_PRIVATE_KEY"),
    ({"CLIENT_TYPE": "confidential-asymmetric", "KEY_ALG": "RS256", "PRIVATE_KEY": "x"}, "RS384 or ES384"),
    ({"CLIENT_TYPE": "confidential-asymmetric", "PRIVATE_KEY": "not a key"}, "not a valid RS384 private key"),
    ({"CLIENT_TYPE": "confidential-asymmetric", "PRIVATE_KEY_PATH": "/nonexistent/key.pem"}, "cannot be read"),
    ({"CLIENT_TYPE": "confidential-asymmetric", "KEY_ALG": "ES384",
      "PRIVATE_KEY": ECKey.generate_key("P-256").as_pem(private=True).decode()}, "P-384"),
    ({"CLIENT_TYPE": "confidential-asymmetric",
      "PRIVATE_KEY": json.dumps(RSAKey.generate_key(2048).as_dict(private=False))}, "only a public key"),
])
def test_client_credentials__refuse_incomplete_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        ClientCredentials({**BASE, **settings})


def test_client_credentials__key_from_a_file(tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    credentials = ClientCredentials({**BASE, "CLIENT_TYPE": "confidential-asymmetric", "PRIVATE_KEY_PATH": str(path)})
    assert credentials.jwks()["keys"][0]["alg"] == "RS384"


@pytest.mark.parametrize("client_type", ["public", "confidential-symmetric"])
def test_jwks__is_empty_without_a_private_key(client_type):
    credentials = ClientCredentials({**BASE, "CLIENT_TYPE": client_type, "CLIENT_SECRET": "s"})
    assert credentials.jwks() == {"keys": []}


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_jwks__publishes_only_the_public_key(alg):
    credentials, _ = asymmetric(alg)
    (published,) = credentials.jwks()["keys"]
    assert published["alg"] == alg and published["kid"] == credentials.kid
    assert "d" not in published and "p" not in published


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_private_key_jwt__assertions_follow_smart_rules(alg):
    credentials, _ = asymmetric(alg)
    session = credentials.session()
    auth = session.client_auth("private_key_jwt")
    keys = KeySet.import_key_set(credentials.jwks())
    claims = []
    for _ in range(2):
        _, _, body = auth.auth_method(auth, "POST", TOKEN_URL, {}, "grant_type=authorization_code")
        fields = dict(part.split("=", 1) for part in body.split("&"))
        assert fields["client_assertion_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        token = jwt.decode(fields["client_assertion"], keys, algorithms=[alg])
        assert token.header["alg"] == alg and token.header["kid"] == credentials.kid
        claims.append(token.claims)
    now = time.time()
    for item in claims:
        assert item["iss"] == item["sub"] == "carepath"
        assert item["aud"] == TOKEN_URL
        assert item["exp"] - now <= 300
    assert claims[0]["jti"] != claims[1]["jti"]
