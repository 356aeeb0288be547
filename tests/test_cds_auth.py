"""The CDS client's JWT (unit): every refusal is a 401 before any work; key sets come from configured URLs only."""

from __future__ import annotations

import pytest
import requests
import responses
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey

from app.cds.auth import CdsClient, CdsUnauthorized, ClientVerifier, KeySets, clients_from_config
from app.errors import ConfigError
from app.store import SqliteStore
from tests.cds_helpers import EHR_ISS, JWKS_URL, SERVICE_URL, CdsClientKeys

OTHER_JWKS = "https://ehr.example.org/keys/rotated.json"


@pytest.fixture
def keys():
    return CdsClientKeys()


@pytest.fixture
def verifier(tmp_path):
    clients = [CdsClient(EHR_ISS, JWKS_URL, (OTHER_JWKS,))]
    return ClientVerifier(clients, SqliteStore(tmp_path / "store.sqlite3", "secret"), KeySets(ttl=300))


@pytest.fixture
def mocked(keys):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("GET", JWKS_URL, json=keys.jwks())
        mock.add("GET", OTHER_JWKS, json=keys.jwks())
        yield mock


def test_cds_jwt__a_valid_token_gives_its_claims(verifier, keys, mocked):
    claims = verifier.verify(f"Bearer {keys.token()}", SERVICE_URL)
    assert claims["iss"] == EHR_ISS and claims["aud"] == SERVICE_URL


def test_cds_jwt__rs384_is_accepted_too(verifier, mocked):
    rsa = CdsClientKeys("RS384", kid="ehr-rsa")
    mocked.replace("GET", JWKS_URL, json=rsa.jwks())
    assert verifier.verify(f"Bearer {rsa.token()}", SERVICE_URL)["iss"] == EHR_ISS


def test_cds_jwt__jku_listed_on_the_client_is_used(verifier, keys, mocked):
    verifier.verify(f"Bearer {keys.token(jku=OTHER_JWKS)}", SERVICE_URL)
    assert [call.request.url for call in mocked.calls] == [OTHER_JWKS]


@pytest.mark.parametrize(("make", "message"), [
    (lambda k: None, "must carry"),
    (lambda k: "Basic abc", "must carry"),
    (lambda k: "Bearer not.a.jwt", "does not hold a signed JWT"),
    (lambda k: f"Bearer {k.token(aud='http://localhost/cds-services/other')}", "audience"),
    (lambda k: f"Bearer {k.token(exp_in=-100, iat_delta=-400)}", "expired"),
    (lambda k: f"Bearer {k.token(exp_in=3600)}", "5 minutes"),
    (lambda k: f"Bearer {k.token(drop=('jti',))}", "jti"),
    (lambda k: f"Bearer {k.token(drop=('iat',))}", "iat"),
    (lambda k: f"Bearer {k.token(iss='https://stranger.example')}", "issuer"),
    (lambda k: f"Bearer {k.token(jku='https://evil.example/jwks')}", "jku"),
    (lambda k: f"Bearer {k.token(kid='unpublished')}", "kid"),
    (lambda k: f"Bearer {CdsClientKeys().token()}", "signature"),  # same kid, another key
])
def test_cds_jwt__refusals(verifier, keys, mocked, make, message):
    with pytest.raises(CdsUnauthorized, match=message):
        verifier.verify(make(keys), SERVICE_URL)
    assert all(call.request.url in (JWKS_URL, OTHER_JWKS) for call in mocked.calls)  # never a caller's URL


def test_cds_jwt__hmac_and_none_are_refused(verifier, mocked):
    secret = OctKey.import_key("s" * 48)
    token = jose_jwt.encode({"alg": "HS256"}, {"iss": EHR_ISS, "aud": SERVICE_URL}, secret)
    with pytest.raises(CdsUnauthorized, match="ES384 or RS384"):
        verifier.verify(f"Bearer {token}", SERVICE_URL)


def test_cds_jwt__a_replayed_jti_is_refused(verifier, keys, mocked):
    token = keys.token(jti="once")
    verifier.verify(f"Bearer {token}", SERVICE_URL)
    with pytest.raises(CdsUnauthorized, match="replayed"):
        verifier.verify(f"Bearer {token}", SERVICE_URL)


def test_cds_jwt__key_set_down_is_a_refusal_not_a_crash(verifier, keys, mocked):
    mocked.replace("GET", JWKS_URL, status=503)
    with pytest.raises(CdsUnauthorized, match="key set"):
        verifier.verify(f"Bearer {keys.token()}", SERVICE_URL)
    mocked.replace("GET", JWKS_URL, body=requests.ConnectionError("down"))
    with pytest.raises(CdsUnauthorized, match="key set"):
        verifier.verify(f"Bearer {keys.token()}", SERVICE_URL)


def test_cds_jwt__key_sets_are_cached(verifier, keys, mocked):
    for _ in range(3):
        verifier.verify(f"Bearer {keys.token()}", SERVICE_URL)
    assert len(mocked.calls) == 1


def test_cds_jwt__a_rotated_key_is_found_by_refetching_once(verifier, mocked):
    first, second = CdsClientKeys(kid="k1"), CdsClientKeys(kid="k2")
    mocked.replace("GET", JWKS_URL, json=first.jwks())
    verifier.verify(f"Bearer {first.token()}", SERVICE_URL)
    mocked.replace("GET", JWKS_URL, json=second.jwks())
    verifier.key_sets._cache[JWKS_URL] = (verifier.key_sets._cache[JWKS_URL][0] - 120,
                                          verifier.key_sets._cache[JWKS_URL][1])
    verifier.verify(f"Bearer {second.token()}", SERVICE_URL)
    assert len(mocked.calls) == 2


def test_cds_jwt__service_answers_401_with_no_work_done(tmp_path, keys):
    from app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VAR_DIR": str(tmp_path),
                      "CDS_CLIENTS": [{"iss": EHR_ISS, "jwks_url": JWKS_URL}]})
    with responses.RequestsMock() as mock:  # no request at all is registered: a key-set fetch would fail loudly
        response = app.test_client().post("/cds-services/carepath-care-gaps", json={"hook": "patient-view"})
        assert not mock.calls
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("value", ["not json", {"iss": "x"}, [{"iss": "x"}], [{"iss": "x", "jwks_url": "u",
                                                                              "jku": "one"}]])
def test_cds_clients__malformed_settings_are_named(value):
    with pytest.raises(ConfigError, match="CDS_CLIENTS"):
        clients_from_config(value)


def test_cds_jwt__nbf_in_the_future_is_refused_and_a_past_one_accepted(verifier, keys, mocked):
    with pytest.raises(CdsUnauthorized, match="not valid yet"):
        verifier.verify(f"Bearer {keys.token(nbf_in=600)}", SERVICE_URL)
    assert verifier.verify(f"Bearer {keys.token(nbf_in=-10)}", SERVICE_URL)["iss"] == EHR_ISS


def test_cds_jwt__a_pinned_key_set_verifies_whatever_jku_is_named_and_nothing_is_fetched(tmp_path, keys):
    [client] = clients_from_config([{"iss": EHR_ISS, "jwks": keys.jwks()}])
    pinned = ClientVerifier([client], SqliteStore(tmp_path / "store.sqlite3", "secret"), KeySets(ttl=300))
    with responses.RequestsMock() as mock:  # nothing registered: any fetch would fail the test
        token = keys.token(jku="https://sandbox.cds-hooks.org/.well-known/jwks.json")
        assert pinned.verify(f"Bearer {token}", SERVICE_URL)["iss"] == EHR_ISS
        assert not mock.calls
    other = CdsClientKeys(kid="someone-else")
    with pytest.raises(CdsUnauthorized):
        pinned.verify(f"Bearer {other.token()}", SERVICE_URL)


def test_cds_clients__a_key_set_pinned_from_a_file(tmp_path, keys):
    import json

    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    [client] = clients_from_config([{"iss": EHR_ISS, "jwks_file": str(path)}])
    assert client.pinned is not None and client.jwks_url == ""


@pytest.mark.parametrize(("entry", "message"), [
    ({"iss": "x", "jwks": {"keys": []}}, "at least one key"),
    ({"iss": "x", "jwks": {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b", "d": "c"}]}}, "public keys"),
    ({"iss": "x", "jwks_file": "/nonexistent/jwks.json"}, "could not be read"),
    ({"iss": "x", "jwks": {"keys": [{"kty": "EC"}]}, "jwks_file": "f"}, "twice"),
])
def test_cds_clients__a_bad_pinned_key_set_is_named(entry, message):
    with pytest.raises(ConfigError, match=message):
        clients_from_config([entry])
