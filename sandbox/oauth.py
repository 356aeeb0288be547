"""The sandbox's SMART authorization server, on authlib's server components.

- ``AuthorizationServer`` (authlib.integrations.flask_oauth2) with the authorization-code grant, PKCE
  (``CodeChallenge``, S256 only and required for every client), OpenID Connect (``OpenIDCode``: RS256
  id_token with ``fhirUser``) and the refresh-token grant (refresh tokens rotate on use).
- Client authentication: ``none`` (public), ``client_secret_basic``, and ``private_key_jwt`` through
  authlib's ``JWTBearerClientAssertion`` restricted to RS384/ES384 with a 5-minute ``exp`` cap and
  single-use ``jti``, the client's key set fetched from its registered JWKS URL.
- The token response carries the SMART launch context (``patient``, ``encounter``, ``need_patient_banner``,
  ``smart_style_url``, ``intent``).
- SMART Backend Services: the client-credentials grant for backend registrations, authenticated by the same
  ``private_key_jwt`` verification as apps; ``system/`` scopes cut down to the registration's
  (:func:`sandbox.scopes.narrow`); a short-lived token, no refresh token, no launch context.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, InvalidScopeError, OAuth2Error, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from sandbox.models import AuthorizationCode, Client, LaunchContext, Registry, Token

TOKEN_AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]
ASSERTION_ALGORITHMS = ["RS384", "ES384"]
#: Lifetime of a backend-services access token, seconds (SMART Backend Services recommends five minutes).
BACKEND_TOKEN_TTL = 300


class S256Challenge(CodeChallenge):
    """PKCE required on every authorization request, S256 only ("plain" is refused)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartClientAssertion(JWTBearerClientAssertion):
    """``private_key_jwt`` as SMART App Launch 2 defines it (RS384/ES384, exp <= 5 min, unique jti)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, registry: Registry, token_endpoint: str) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.registry = registry
        self.token_endpoint = token_endpoint

    def get_audiences(self) -> list[str]:
        return [self.token_endpoint]

    def validate_jti(self, claims: Any, jti: str) -> bool:
        return self.registry.use_jti(str(claims["sub"]), jti, float(claims.get("exp", 0)))

    def resolve_client_public_key(self, client: Client) -> KeySet:
        document = client.jwks
        if document is None:
            try:
                response = requests.get(client.jwks_uri, timeout=5)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise InvalidClientError(description="The client's JWKS URL could not be read.") from exc
        return KeySet.import_key_set(document)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        self.registry.note_issued(assertion)  # a credential passing through: tests check no log holds it
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(description="Client assertion signature invalid (RS384 or ES384, with a "
                                                 "key of the registered JWKS).") from exc
        self.verify_claims(token.claims)
        if float(token.claims["exp"]) > time.time() + 300 + self.leeway:
            raise InvalidClientError(description="Client assertion exp is more than 5 minutes ahead.")
        return token.claims


class SmartContext:
    """Adds the launch context to token responses (authorization code and refresh)."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.add_context)

    @staticmethod
    def add_context(grant: Any, response: Any) -> None:
        _, token, _ = response
        request = grant.request
        source = request.authorization_code or getattr(request, "refresh_token", None)
        context: LaunchContext = source.context
        token["patient"] = context.patient
        if context.encounter:
            token["encounter"] = context.encounter
        token["need_patient_banner"] = context.need_patient_banner
        if context.smart_style_url:
            token["smart_style_url"] = context.smart_style_url
        if context.intent:
            token["intent"] = context.intent
        if context.app_context:
            token["appContext"] = context.app_context  # CDS Hooks: the card link's appContext, as given
        if token.get("id_token"):
            grant.server.registry.note_issued(token["id_token"])


def build_server(app: Any, registry: Registry, *, fhir_base: str, token_endpoint: str,
                 signing_key: RSAKey) -> AuthorizationServer:
    """The authorization server of ``app``, wired to ``registry``."""

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

        def save_authorization_code(self, code: str, request: Any) -> None:
            context: LaunchContext = request.user
            data = request.payload.data
            scope = request.scope or ""
            if context.simulate == "scope_downgrade":
                scope = downgrade(scope)
            registry.save_code(AuthorizationCode(
                code=code, client_id=request.client.client_id, redirect_uri=request.payload.redirect_uri,
                scope=scope, context=context, code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"), nonce=data.get("nonce"),
            ), state=request.payload.state)

        def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
            return registry.use_code(code, client.client_id)

        def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
            registry.consume_code(authorization_code)

        def authenticate_user(self, authorization_code: AuthorizationCode) -> LaunchContext:
            return authorization_code.context

        def validate_token_request(self) -> None:
            try:
                super().validate_token_request()  # with the PKCE verifier check (an after-hook)
            except OAuth2Error:
                # A code whose exchange failed (a wrong PKCE verifier above all) is spent: it cannot be retried.
                found = getattr(self.request, "authorization_code", None)
                if found is not None:
                    registry.consume_code(found)
                raise
            if self.request.authorization_code.context.simulate == "invalid_client":
                raise InvalidClientError(description="Simulated error: invalid client.")

    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            return registry.by_refresh_token(refresh_token)

        def authenticate_user(self, refresh_token: Token) -> LaunchContext:
            return refresh_token.context

        def revoke_old_credential(self, refresh_token: Token) -> None:
            refresh_token.revoked = True

    class BackendGrant(grants.ClientCredentialsGrant):
        """SMART Backend Services: a backend client's own token, with the system scopes it registered for."""

        TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

        def validate_requested_scope(self) -> None:
            client, scope = self.request.client, self.request.payload.scope
            if not client.get_allowed_scope(scope):
                raise InvalidScopeError(description=f"None of the requested scopes ({scope or 'none'}) is granted "
                                                    f"to this client; it may ask for {client.system_scope}.")

    class SmartOpenIDCode(OpenIDCode):
        def exists_nonce(self, nonce: str, request: Any) -> bool:
            return registry.nonce_used(nonce)

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return signing_key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            return {"iss": fhir_base, "aud": [client.client_id]}

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": signing_key.kid or signing_key.thumbprint(), "typ": "JWT"}

        def generate_user_info(self, user: LaunchContext, scope: str) -> dict[str, Any]:
            fhir_user = user.fhir_user or ""
            claims: dict[str, Any] = {"sub": fhir_user.replace("/", "-") or "anonymous"}
            if fhir_user and "fhirUser" in scope.split():
                claims["fhirUser"] = f"{fhir_base}/{fhir_user}"
            return claims

    def save_token(token: dict[str, Any], request: Any) -> None:
        if request.payload.grant_type == "client_credentials":
            registry.save_token(Token(
                client_id=request.client.client_id, access_token=token["access_token"],
                scope=token.get("scope", ""), context=LaunchContext(patient=None, fhir_user=None),
                expires_in=int(token.get("expires_in", BACKEND_TOKEN_TTL)), backend=True,
            ))
            return
        source = request.authorization_code or getattr(request, "refresh_token", None)
        context: LaunchContext = source.context
        first = request.authorization_code is not None
        registry.save_token(Token(
            client_id=request.client.client_id, access_token=token["access_token"], scope=token.get("scope", ""),
            context=context, expires_in=int(token.get("expires_in", 3600)),
            refresh_token=token.get("refresh_token"),
            expired=first and context.simulate == "expired_token",
            code=request.authorization_code.code if first else None,
        ))

    server = AuthorizationServer(app, query_client=registry.client, save_token=save_token)
    server.registry = registry  # type: ignore[attr-defined]
    server.register_client_auth_method("private_key_jwt", SmartClientAssertion(registry, token_endpoint))
    server.register_grant(CodeGrant, [S256Challenge(required=True), SmartOpenIDCode(require_nonce=False),
                                      SmartContext()])
    server.register_grant(RefreshGrant, [SmartContext()])
    server.register_grant(BackendGrant)
    return server


def downgrade(scope: str) -> str:
    """The scope with every write permission removed (the "scope_downgrade" simulation)."""
    kept = []
    for item in scope.split():
        if "/" in item and "." in item:
            prefix, perms = item.rsplit(".", 1)
            perms, _, query = perms.partition("?")
            if perms in {"write"}:
                continue
            if perms in {"read", "*"}:
                kept.append(f"{prefix}.read")
                continue
            letters = "".join(letter for letter in perms if letter in "rs")
            if letters:
                kept.append(f"{prefix}.{letters}" + (f"?{query}" if query else ""))
            continue
        kept.append(item)
    return " ".join(kept)
