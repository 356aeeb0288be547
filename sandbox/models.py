"""The sandbox EHR's in-memory records: registered clients, launch contexts, codes and tokens.

Everything lives in one process and is lost on restart (a development and test tool, like the public
SMART launcher). The :class:`Registry` is thread-safe and remembers every secret it issued, so tests can
prove none of them reached a log.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from sandbox.scopes import narrow, without_system

#: Error-simulation switches (like the SMART launcher's "simulate error"), chosen per launch or on consent.
SIMULATIONS = {
    "": "no error",
    "invalid_client": "token endpoint answers invalid_client",
    "expired_token": "the first access token is already expired (FHIR answers 401)",
    "deny_consent": "the user denies access (access_denied)",
    "scope_downgrade": "grant read scopes only (no create/update/delete)",
    "offsite_redirect": "FHIR reads answer 302 to a server the app must not call (its allow-list is tested)",
}


@dataclass
class Client(ClientMixin):
    """A registered SMART client: an app (authorization code) or, with ``system_scope``, a backend service.

    A backend client (SMART Backend Services) uses only the client_credentials grant, authenticated by
    ``private_key_jwt``; ``system_scope`` lists the ``system/`` scopes it may be granted.
    """

    client_id: str
    redirect_uris: list[str]
    auth_method: str = "none"  # none | client_secret_basic | private_key_jwt
    client_secret: str = ""
    jwks_uri: str = ""
    jwks: dict[str, Any] | None = None
    name: str = "carepath"
    system_scope: str = ""

    @property
    def backend(self) -> bool:
        """True for a backend-services registration (client_credentials, system scopes)."""
        return bool(self.system_scope)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if self.backend:  # None (nothing registered was asked) is authlib's invalid_scope
            return narrow(scope, self.system_scope) or None
        return without_system(scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.client_secret) and hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and not self.backend

    def check_grant_type(self, grant_type: str) -> bool:
        if self.backend:
            return grant_type == "client_credentials" and self.auth_method == "private_key_jwt"
        return grant_type in {"authorization_code", "refresh_token"}


@dataclass
class LaunchContext:
    """What the EHR knows when it launches the app: patient, encounter, user, display hints."""

    patient: str | None
    fhir_user: str | None  # e.g. "Practitioner/123"
    encounter: str | None = None
    need_patient_banner: bool = True
    smart_style_url: str | None = None
    intent: str | None = None
    simulate: str = ""
    #: CDS Hooks: the ``appContext`` of the card link that launched the app (passed in the token response).
    app_context: str | None = None
    #: CDS Hooks prefetch for this chart: full, partial, none, or off (no hook call).
    cds_prefetch: str = "full"
    #: The cards shown on this chart, by uuid (their links and feedback are taken from here, never from a form).
    cds_cards: dict[str, Any] = field(default_factory=dict)
    cds_service: str | None = None
    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    created: float = field(default_factory=time.time)


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    """A single-use code, bound to client, redirect URI, PKCE challenge, nonce and launch context."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    context: LaunchContext
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    expires_at: float = field(default_factory=lambda: time.time() + 300)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class Token(TokenMixin):
    """An issued access token (with its refresh token and launch context).

    A backend token (client_credentials) has ``backend`` set, an empty launch context, no refresh token.
    """

    client_id: str
    access_token: str
    scope: str
    context: LaunchContext
    expires_in: int
    refresh_token: str | None = None
    issued_at: float = field(default_factory=time.time)
    expired: bool = False  # the "expired_token" simulation
    revoked: bool = False
    code: str | None = None
    backend: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.expired or time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.context.fhir_user

    def get_client(self) -> Any:
        return self.client_id


class Registry:
    """All sandbox state, guarded by one lock."""

    def __init__(self, clients: list[Client] | None = None) -> None:
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {client.client_id: client for client in clients or []}
        self.launches: dict[str, LaunchContext] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.used_codes: dict[str, list[Token]] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.jtis: dict[str, float] = {}
        self.nonces: set[str] = set()
        #: every secret handed out or passed through (codes, tokens, id_tokens, nonces, states): tests grep the
        #: logs for them.
        self.issued: list[str] = []
        self.token_requests = 0
        #: Bulk Data exports started through the proxy: ("job", job id) and ("file", Binary id) -> client id.
        self.exports: dict[tuple[str, str], str] = {}

    def register(self, client: Client) -> None:
        """Add or replace a client registration."""
        with self._lock:
            self.clients[client.client_id] = client

    def client(self, client_id: str) -> Client | None:
        """A registered client."""
        with self._lock:
            return self.clients.get(client_id)

    def add_launch(self, context: LaunchContext) -> LaunchContext:
        """Keep a launch context; its id is the ``launch`` parameter."""
        with self._lock:
            self.launches[context.id] = context
        return context

    def launch(self, launch_id: str | None) -> LaunchContext | None:
        """A launch context by id (valid for one hour)."""
        with self._lock:
            context = self.launches.get(launch_id or "")
        return context if context and time.time() - context.created < 3600 else None

    def save_code(self, code: AuthorizationCode, *, state: str | None = None) -> None:
        """Keep an authorization code until it is used or expires (its request's nonce and state are secrets
        too: remembered with the issued ones, so that tests can check no log holds them)."""
        with self._lock:
            self.codes[code.code] = code
            self.issued.append(code.code)
            if code.nonce:
                self.nonces.add(code.nonce)
                self.issued.append(code.nonce)
            if state:
                self.issued.append(state)

    def use_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code if valid for ``client_id``; a replayed code revokes what it had issued."""
        with self._lock:
            if code in self.used_codes:
                for token in self.used_codes[code]:
                    token.revoked = True
                return None
            item = self.codes.get(code)
            if item is None or item.client_id != client_id or item.expires_at < time.time():
                return None
            return item

    def consume_code(self, code: AuthorizationCode) -> None:
        """Mark a code used (a second use is a replay)."""
        with self._lock:
            self.codes.pop(code.code, None)
            self.used_codes.setdefault(code.code, [])

    def save_token(self, token: Token) -> None:
        """Keep an issued token."""
        with self._lock:
            self.tokens[token.access_token] = token
            self.issued.append(token.access_token)
            if token.refresh_token:
                self.refresh_tokens[token.refresh_token] = token
                self.issued.append(token.refresh_token)
            if token.code is not None:
                self.used_codes.setdefault(token.code, []).append(token)

    def token(self, access_token: str) -> Token | None:
        """A token by its access token."""
        with self._lock:
            return self.tokens.get(access_token)

    def by_refresh_token(self, refresh_token: str) -> Token | None:
        """A live token by its refresh token."""
        with self._lock:
            token = self.refresh_tokens.get(refresh_token)
        return token if token and not token.revoked else None

    def revoke_all(self) -> None:
        """Revoke every token (tests: a failed refresh)."""
        with self._lock:
            for token in self.tokens.values():
                token.revoked = True

    def use_jti(self, client_id: str, jti: str, expires: float) -> bool:
        """True the first time a client assertion id is seen (until it expires)."""
        now = time.time()
        with self._lock:
            self.jtis = {key: exp for key, exp in self.jtis.items() if exp > now}
            key = f"{client_id}:{jti}"
            if key in self.jtis:
                return False
            self.jtis[key] = max(expires, now + 60)
            return True

    def note_export(self, kind: str, key: str, client_id: str) -> None:
        """Record that an export job or one of its files (``kind`` "job" or "file") belongs to ``client_id``."""
        with self._lock:
            self.exports.setdefault((kind, key), client_id)

    def export_owner(self, kind: str, key: str) -> str | None:
        """The client that started an export job, or whose export produced a file; None when unknown."""
        with self._lock:
            return self.exports.get((kind, key))

    def nonce_used(self, nonce: str) -> bool:
        """True when a code was already issued for this OpenID Connect nonce (a replayed request)."""
        with self._lock:
            return nonce in self.nonces

    def note_issued(self, secret: str) -> None:
        """Remember a secret handed out (id_token)."""
        with self._lock:
            self.issued.append(secret)
