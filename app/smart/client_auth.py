"""How carepath authenticates to an EHR's token endpoint, on authlib's OAuth2Session.

- ``public``: no secret; the authorization code is bound to carepath by PKCE S256 alone.
- ``confidential-symmetric``: ``client_secret_basic`` (HTTP Basic with the client secret).
- ``confidential-asymmetric``: ``private_key_jwt`` (RFC 7523 client assertion signed RS384 or ES384, as
  SMART App Launch 2 "Client Authentication: Asymmetric" requires): unique ``jti``, ``exp`` at most five
  minutes ahead, ``kid`` of a key published at carepath's JWKS URL (``/.well-known/jwks.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey

from app.errors import ConfigError
from app.outbound import check, follow

__all__ = ["CLIENT_TYPES", "ClientCredentials", "NoRedirectSession", "SmartPrivateKeyJWT"]

CLIENT_TYPES = ("public", "confidential-symmetric", "confidential-asymmetric")
_AUTH_METHODS = {
    "public": "none",
    "confidential-symmetric": "client_secret_basic",
    "confidential-asymmetric": "private_key_jwt",
}
_KEY_TYPES = {"RS384": RSAKey, "ES384": ECKey}
_ENDPOINT = "the EHR's token endpoint"
#: SMART App Launch 2, asymmetric client authentication: "exp" no more than five minutes in the future.
ASSERTION_LIFETIME = 300


class SmartPrivateKeyJWT(PrivateKeyJWT):
    """authlib's ``private_key_jwt`` with SMART's constraints: fresh ``jti`` each time, 5-minute ``exp``, ``kid``."""

    def __init__(self, alg: str, kid: str) -> None:
        super().__init__(alg=alg)
        self.kid = kid

    def sign(self, auth: Any, token_endpoint: str) -> str:
        """A new signed client assertion for ``token_endpoint``."""
        # authlib stores a generated jti in the claims dict it is given: pass a new dict every time, so no
        # two assertions ever share a jti.
        return private_key_jwt_sign(
            auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint, alg=self.alg,
            claims={}, header={"kid": self.kid, "typ": "JWT"}, expires_in=ASSERTION_LIFETIME,
        )


class NoRedirectSession(OAuth2Session):
    """authlib's OAuth2Session without requests' automatic redirects: a token request carries the code, the PKCE
    verifier and the client's credentials, and goes only to the endpoint discovery named
    (:func:`app.outbound.follow` refuses a redirect of a POST with :class:`app.errors.FhirTransportError`)."""

    def request(self, method: str, url: str, withhold_token: bool = False, auth: Any = None,
                **kwargs: Any) -> requests.Response:
        """One request to ``url``, a redirect answered as :func:`app.outbound.follow` says."""
        kwargs["allow_redirects"] = False
        return follow(lambda target: super(NoRedirectSession, self).request(
            method, target, withhold_token=withhold_token, auth=auth, **kwargs),
            check(url, [url], what="a request", outside=_ENDPOINT), [url], method=method, outside=_ENDPOINT)


class ClientCredentials:
    """carepath's registration at the EHR, from the ``SMART_*`` settings; builds token-endpoint sessions."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.client_id = str(settings.get("CLIENT_ID") or "")
        self.client_type = str(settings.get("CLIENT_TYPE") or "public")
        self.redirect_uri = str(settings.get("REDIRECT_URI") or "")
        if not self.client_id:
            raise ConfigError("SMART_CLIENT_ID must name carepath's client id at the EHR")
        if self.client_type not in CLIENT_TYPES:
            raise ConfigError(f"SMART_CLIENT_TYPE must be one of {', '.join(CLIENT_TYPES)}, not "
                              f"{self.client_type!r}")
        if not self.redirect_uri:
            raise ConfigError("SMART_REDIRECT_URI must be carepath's registered callback URL")
        self.auth_method = _AUTH_METHODS[self.client_type]
        self._secret = str(settings.get("CLIENT_SECRET") or "")
        self.key: RSAKey | ECKey | None = None
        self.alg = str(settings.get("KEY_ALG") or "RS384")
        self.kid = ""
        if self.client_type == "confidential-symmetric" and not self._secret:
            raise ConfigError("SMART_CLIENT_TYPE confidential-symmetric needs SMART_CLIENT_SECRET")
        if self.client_type == "confidential-asymmetric":
            self.key = _load_private_key(settings, self.alg)
            self.kid = str(settings.get("KEY_ID") or "") or self.key.thumbprint()

    def session(self, *, scope: str | None = None, timeout: float = 10.0) -> NoRedirectSession:
        """An authlib OAuth2Session authenticating to token endpoints as this client, PKCE S256 on."""
        secret: Any = self.key if self.client_type == "confidential-asymmetric" else (self._secret or None)
        session = NoRedirectSession(
            client_id=self.client_id, client_secret=secret, token_endpoint_auth_method=self.auth_method,
            scope=scope, redirect_uri=self.redirect_uri, code_challenge_method="S256",
            default_timeout=timeout,
        )
        if self.client_type == "confidential-asymmetric":
            session.register_client_auth_method(SmartPrivateKeyJWT(self.alg, self.kid))
        return session

    def jwks(self) -> dict[str, Any]:
        """The public key set carepath publishes (empty unless the client is asymmetric)."""
        if self.key is None:
            return {"keys": []}
        public = dict(self.key.as_dict(private=False))
        public.update(kid=self.kid, alg=self.alg, use="sig", key_ops=["verify"])
        return {"keys": [public]}


def _load_private_key(settings: Mapping[str, Any], alg: str) -> RSAKey | ECKey:
    key_type = _KEY_TYPES.get(alg)
    if key_type is None:
        raise ConfigError(f"SMART_KEY_ALG must be RS384 or ES384 (SMART App Launch 2), not {alg!r}")
    text = str(settings.get("PRIVATE_KEY") or "")
    path = str(settings.get("PRIVATE_KEY_PATH") or "")
    if not text and path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"SMART_PRIVATE_KEY_PATH {path!r} cannot be read: {exc.strerror}") from exc
    if not text:
        raise ConfigError("SMART_CLIENT_TYPE confidential-asymmetric needs SMART_PRIVATE_KEY or "
                          "SMART_PRIVATE_KEY_PATH (a PEM or JWK private key)")
    data: Any = json.loads(text) if text.lstrip().startswith("{") else text
    try:
        key = key_type.import_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the SMART private key is not a valid {alg} private key") from exc
    if not key.is_private:
        raise ConfigError("the SMART private key holds only a public key")
    if alg == "ES384" and key.curve_name != "P-384":
        raise ConfigError("SMART_KEY_ALG ES384 needs a P-384 EC key")
    return key
