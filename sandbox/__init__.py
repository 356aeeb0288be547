"""The sandbox EHR: a development and test stand-in for a real EHR, in front of the local HAPI server.

What the public SMART launcher gives developers, offline: patient and practitioner pickers, a simulated
chart with carepath in a sidebar iframe (EHR launch), a standalone-launch entry, a SMART authorization
server (authlib, with SMART Backend Services for Bulk Data), and a FHIR proxy that enforces tokens and scopes.
Not part of the carepath app.

Run it with ``python -m sandbox`` (see ``sandbox/README.md``). Settings (``SANDBOX_*`` environment
variables, or a mapping given to :func:`create_sandbox`):

``FHIR_UPSTREAM``  the FHIR server behind the proxy (default ``http://127.0.0.1:8090/fhir``)
``BASE_URL``       the sandbox's own public URL (default ``http://127.0.0.1:8001``); FHIR base is ``/fhir``
``APP_URL``        carepath's URL (default ``http://localhost:8000``): launch URL, JWKS, redirect URIs
``CLIENTS``        client registrations (default: :func:`default_clients` for ``APP_URL``)
``TOKEN_TTL``      app access-token lifetime in seconds (default 3600; backend-services tokens live 300 s)
``CDS``            call the app's CDS Hooks service when a chart opens (default true)
``CDS_PREFETCH``   default prefetch of those calls: ``full``, ``partial`` or ``none`` (default full)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from joserfc.jwk import RSAKey

from sandbox.cds_client import PREFETCH_MODES, CdsHooksClient
from sandbox.models import Client, Registry

__all__ = ["Sandbox", "create_sandbox", "default_clients"]

HERE = Path(__file__).resolve().parent

#: The shared secret of the ``carepath-secret`` demo client (a sandbox value, published on purpose).
DEMO_CLIENT_SECRET = "carepath-sandbox-secret"  # noqa: S105


def default_clients(app_url: str) -> list[Client]:
    """The demo registrations of carepath: one per client type, and one backend client (Bulk Data export)."""
    redirect = [f"{app_url}/callback"]
    jwks_uri = f"{app_url}/.well-known/jwks.json"
    return [
        Client("carepath", redirect, auth_method="none", name="carepath (public client)"),
        Client("carepath-secret", redirect, auth_method="client_secret_basic", client_secret=DEMO_CLIENT_SECRET,
               name="carepath (confidential, client secret)"),
        Client("carepath-jwt", redirect, auth_method="private_key_jwt", jwks_uri=jwks_uri,
               name="carepath (confidential, private_key_jwt)"),
        Client("carepath-bulk", [], auth_method="private_key_jwt", jwks_uri=jwks_uri, system_scope="system/*.rs",
               name="carepath cohort export (backend services)"),
    ]


class Sandbox:
    """The sandbox's state, kept in ``app.extensions["sandbox"]``."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.upstream = str(settings.get("FHIR_UPSTREAM") or "http://127.0.0.1:8090/fhir").rstrip("/")
        self.base_url = str(settings.get("BASE_URL") or "http://127.0.0.1:8001").rstrip("/")
        self.app_url = str(settings.get("APP_URL") or "http://localhost:8000").rstrip("/")
        self.fhir_base = f"{self.base_url}/fhir"
        #: Where the "offsite_redirect" simulation sends an app's FHIR reads (a server off any allow-list).
        self.redirect_target = str(settings.get("REDIRECT_TARGET") or "http://127.0.0.1:9/elsewhere").rstrip("/")
        self.token_endpoint = f"{self.base_url}/auth/token"
        self.registry = Registry(list(settings.get("CLIENTS") or default_clients(self.app_url)))
        self.signing_key = RSAKey.generate_key(2048, parameters={"use": "sig"})
        self.secret = secrets.token_bytes(32)
        self.http = requests.Session()
        self.cds_enabled = str(settings.get("CDS", "true")).lower() not in {"false", "0", "off", "no"}
        self.cds_prefetch = str(settings.get("CDS_PREFETCH") or "full")
        if self.cds_prefetch not in PREFETCH_MODES:
            raise ValueError(f"SANDBOX_CDS_PREFETCH must be one of {', '.join(PREFETCH_MODES)}")
        self.cds = CdsHooksClient(self)


def create_sandbox(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the sandbox EHR app: defaults, then ``SANDBOX_*`` environment variables, then ``config``."""
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.from_prefixed_env("SANDBOX")
    app.config.from_mapping(config or {})
    settings = {key: app.config.get(key) for key in ("FHIR_UPSTREAM", "BASE_URL", "APP_URL", "CLIENTS", "CDS",
                                                     "CDS_PREFETCH")}
    sandbox = Sandbox(settings)
    from sandbox import authorize, ehr, oauth, proxy

    app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": int(app.config.get("TOKEN_TTL", 3600)),
                                             "refresh_token": int(app.config.get("TOKEN_TTL", 3600)),
                                             "client_credentials": oauth.BACKEND_TOKEN_TTL}
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.extensions["sandbox"] = sandbox

    sandbox.server = oauth.build_server(app, sandbox.registry, fhir_base=sandbox.fhir_base,
                                        token_endpoint=sandbox.token_endpoint, signing_key=sandbox.signing_key)
    sandbox.protect = proxy.protector(sandbox.registry)
    app.register_blueprint(authorize.bp)
    app.register_blueprint(proxy.bp)
    app.register_blueprint(ehr.bp)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; frame-src 'self' {sandbox.app_url}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
