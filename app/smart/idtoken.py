"""Validate the OpenID Connect ``id_token`` of a SMART token response, to learn who the user is (``fhirUser``).

Signature with the EHR's published keys (``jwks_uri``), then ``iss``, ``aud``, ``exp``, ``iat`` and the
``nonce`` carepath sent. SMART App Launch 2 requires servers to support RS256; ES256/RS384/ES384 are
accepted too, ``none`` and HMAC never (a public HMAC "key" would be the client secret or nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.errors import FhirError
from app.outbound import get, normalize, on_base
from app.smart.errors import TokenInvalid

__all__ = ["ID_TOKEN_ALGORITHMS", "fetch_jwks", "fhir_user_reference", "validate_id_token"]

ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "RS384", "ES384"]


def fetch_jwks(url: str, *, session: requests.Session, timeout: float) -> dict[str, Any]:
    """The JSON Web Key Set at ``url`` (the EHR's ``jwks_uri``)."""
    try:
        response = get(session, url, [url], timeout=timeout, outside="the EHR's jwks_uri")
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError, FhirError) as exc:
        raise TokenInvalid("carepath could not read the EHR's signing keys to check who signed in.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise TokenInvalid("The EHR's jwks_uri does not hold a JSON Web Key Set.")
    return document


def validate_id_token(
    id_token: str, *, jwks: Mapping[str, Any], issuer: str, client_id: str, nonce: str | None, leeway: int = 60
) -> dict[str, Any]:
    """The verified claims of ``id_token``; :class:`TokenInvalid` says which check failed."""
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token = jwt.decode(id_token, key_set, algorithms=ID_TOKEN_ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenInvalid("The EHR's id_token signature could not be verified.") from exc
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "sub": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    try:
        jwt.JWTClaimsRegistry(leeway=leeway, **options).validate(token.claims)
    except JoseError as exc:
        claim = getattr(exc, "claim", None) or "a claim"
        raise TokenInvalid(f"The EHR's id_token failed the check of {claim}.") from exc
    audience = token.claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and token.claims.get("azp") != client_id:
        raise TokenInvalid("The EHR's id_token was issued to several clients without naming carepath (azp).")
    return dict(token.claims)


def fhir_user_reference(claims: Mapping[str, Any], fhir_base: str) -> str | None:
    """``fhirUser`` (or SMART v1's ``profile``) as ``Type/id`` when it lies on ``fhir_base``, else as given."""
    value = claims.get("fhirUser") or claims.get("profile")
    if not isinstance(value, str) or not value:
        return None
    if "://" in value and on_base(value, fhir_base):
        base_path = urlsplit(normalize(fhir_base)).path.rstrip("/")
        path = urlsplit(normalize(value)).path
        value = path[len(base_path) + 1:] if path.startswith(base_path + "/") else value
    parts = value.split("/")
    if len(parts) >= 2 and "://" not in value:
        return "/".join(parts[-2:]) if parts[-2] and parts[-1] else None
    return value
