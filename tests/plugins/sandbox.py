"""The sandbox EHR and carepath served for real over HTTP, and a scripted browser that launches through them.

- ``sandbox_ehr``: the sandbox EHR (``sandbox/``) on ``http://127.0.0.1:<port>``, in front of local HAPI.
- ``carepath_servers``: carepath apps on ``http://localhost:<port>`` (another *site* than the EHR), one
  per client type (public, client secret, private_key_jwt RS384 / ES384), each registered at the sandbox.
- ``browser``: a ``requests`` session that acts like a browser (keeps Secure cookies on loopback HTTP,
  as Chromium treats localhost as a secure context) with ``launch()`` the way flaskr's AuthActions logs in.
- ``captured_logs``: every log record of the run, formatted by carepath's redacting JSON formatter, in a
  file; ``assert_no_secret_logged`` greps it for every code and token the sandbox ever issued.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey
from werkzeug.serving import make_server

from app import create_app
from app.logs import JsonFormatter

CLIENT_TYPES = ("public", "confidential-symmetric", "asymmetric-RS384", "asymmetric-ES384")


class Served:
    """A WSGI app served by werkzeug in a thread; ``url`` uses ``host_name`` (e.g. localhost)."""

    def __init__(self, host_name: str) -> None:
        self.app: Any = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host_name}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _dispatch(self, environ, start_response):  # type: ignore[no-untyped-def]
        return self.app(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def captured_logs(tmp_path_factory) -> Iterator[Path]:
    """Every log record of the session, as carepath writes them (JSON, redacted), in one file."""
    path = tmp_path_factory.mktemp("logs") / "run.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(min(previous or logging.WARNING, logging.INFO))  # what carepath logs in production
    yield path
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()


@pytest.fixture(scope="session")
def sandbox_ehr(loaded_hapi, hapi_url, captured_logs) -> Iterator[Any]:
    """The sandbox EHR on 127.0.0.1 in front of the local HAPI server; yields its ``Sandbox`` state."""
    from sandbox import create_sandbox

    served = Served("127.0.0.1")
    app = create_sandbox({"FHIR_UPSTREAM": hapi_url, "BASE_URL": served.url, "APP_URL": "http://localhost:1",
                          "CLIENTS": []})
    served.app = app
    sandbox = app.extensions["sandbox"]
    sandbox.served = served
    yield sandbox
    served.stop()


@dataclass
class Carepath:
    """A carepath app served on localhost, registered at the sandbox under ``client_id``."""

    app: Any
    url: str
    client_id: str

    @property
    def store(self) -> Any:
        from app.store import get_store

        return get_store(self.app)


@pytest.fixture(scope="session")
def carepath_servers(sandbox_ehr, hapi_url, tmp_path_factory) -> Iterator[Callable[[str], Carepath]]:
    """``carepath(client_type)``: a served carepath app of that client type (started once per type).

    Types: those of ``CLIENT_TYPES``, plus ``public-v1`` (a public client asking SMART v1 scopes).
    """
    from sandbox.models import Client

    started: dict[str, tuple[Served, Carepath]] = {}

    def carepath(client_type: str = "public") -> Carepath:
        if client_type in started:
            return started[client_type][1]
        served = Served("localhost")
        client_id = f"carepath-test-{client_type}"
        settings: dict[str, Any] = {
            "TESTING": True, "SECRET_KEY": f"test-{client_type}", "VAR_DIR": str(tmp_path_factory.mktemp("var")),
            "SMART_ALLOWED_ISS": [sandbox_ehr.fhir_base, hapi_url], "SMART_OPEN_SERVERS": [hapi_url],
            "SMART_STANDALONE_SERVERS": [{"name": "sandbox", "iss": sandbox_ehr.fhir_base}],
            "SMART_CLIENT_ID": client_id, "SMART_REDIRECT_URI": f"{served.url}/callback",
            "FHIR_BASE_URL": hapi_url, "FRAME_ANCESTORS": f"'self' {sandbox_ehr.base_url}",
            # the sandbox calls carepath's CDS Hooks service when a chart opens, signed with its own key
            "CDS_CLIENTS": [{"iss": sandbox_ehr.base_url, "jwks_url": sandbox_ehr.cds.jwks_url}],
        }
        registration = Client(client_id, [f"{served.url}/callback"], name=f"carepath test ({client_type})")
        if client_type == "confidential-symmetric":
            settings.update(SMART_CLIENT_TYPE=client_type, SMART_CLIENT_SECRET="test-secret-symmetric")
            registration.auth_method, registration.client_secret = "client_secret_basic", "test-secret-symmetric"
        elif client_type.startswith("asymmetric-"):
            alg = client_type.split("-")[1]
            key = RSAKey.generate_key(2048) if alg == "RS384" else ECKey.generate_key("P-384")
            settings.update(SMART_CLIENT_TYPE="confidential-asymmetric", SMART_KEY_ALG=alg,
                            SMART_PRIVATE_KEY=key.as_pem(private=True).decode())
            registration.auth_method, registration.jwks_uri = "private_key_jwt", f"{served.url}/.well-known/jwks.json"
        else:
            settings["SMART_CLIENT_TYPE"] = "public"
        if client_type == "public-v1":
            settings["SMART_SCOPE_VERSION"] = "v1"
        app = create_app(settings)
        served.app = app
        sandbox_ehr.registry.register(registration)
        started[client_type] = (served, Carepath(app, served.url, client_id))
        return started[client_type][1]

    yield carepath
    for served, _ in started.values():
        served.stop()


_LOOPBACK = {"localhost", "127.0.0.1"}
_return_ok_secure = DefaultCookiePolicy.return_ok_secure


def _return_ok_secure_on_loopback(self, cookie, request) -> bool:  # type: ignore[no-untyped-def]
    if (urlsplit(request.get_full_url()).hostname or "") in _LOOPBACK:
        return True
    return _return_ok_secure(self, cookie, request)


@pytest.fixture(autouse=True, scope="session")
def _secure_cookies_on_loopback() -> Iterator[None]:
    """Like Chromium, send Secure cookies to http://localhost and http://127.0.0.1 (secure contexts).

    requests copies its cookie jar into fresh jars with the default policy on every request and redirect,
    so the policy itself is patched, for loopback hosts only.
    """
    DefaultCookiePolicy.return_ok_secure = _return_ok_secure_on_loopback  # type: ignore[method-assign]
    yield
    DefaultCookiePolicy.return_ok_secure = _return_ok_secure  # type: ignore[method-assign]


def secure_on_loopback_session() -> requests.Session:
    """A requests session (Secure cookies reach loopback hosts thanks to the session-wide patch above)."""
    return requests.Session()


def form_fields(page: str) -> dict[str, str]:
    """Hidden inputs and the first option of each select of an HTML page."""
    fields = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    for name, body in re.findall(r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        options = re.findall(r'<option value="([^"]*)"', body)
        if options:
            fields.setdefault(name, html.unescape(options[0]))
    return fields


def form_action(page: str) -> str:
    """The action of the page's first POST form."""
    match = re.search(r'<form method="post" action="([^"]*)"', page)
    assert match, "no form on the page"
    return html.unescape(match.group(1))


class Browser:
    """A scripted user: opens a chart in the sandbox EHR, consents, and lands on carepath's page."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.session = secure_on_loopback_session()

    def new_launch(self, patient: str, *, practitioner: str | None = None, simulate: str = "",
                   fhir_user: str | None = None, need_patient_banner: bool = True) -> str:
        """Create an EHR launch at the sandbox; returns carepath's launch URL (iss + launch)."""
        body = {"patient": patient, "simulate": simulate, "need_patient_banner": need_patient_banner}
        if practitioner:
            body["practitioner"] = practitioner
        if fhir_user:
            body["fhir_user"] = fhir_user
        response = requests.post(f"{self.sandbox.base_url}/api/launch", json=body, timeout=30)
        response.raise_for_status()
        return response.json()["launch_url"]

    def to_consent(self, url: str) -> requests.Response:
        """Follow ``url`` (carepath's /launch or the standalone POST) to the EHR's consent page."""
        response = self.session.get(url, timeout=60)
        assert response.status_code == 200, response.text[:500]
        return response

    def consent(self, page: requests.Response, decision: str = "allow", *, follow: bool = True,
                **choices: str) -> requests.Response:
        """Answer the consent page; with ``follow`` the browser follows the redirects back into carepath."""
        fields = form_fields(page.text)
        fields.update(choices)
        fields["decision"] = decision
        return self.session.post(urljoin(page.url, form_action(page.text)), data=fields, timeout=60,
                                 allow_redirects=follow)

    def launch(self, carepath: Carepath, patient: str, *, decision: str = "allow", **kwargs: Any) -> requests.Response:
        """A whole EHR launch of ``carepath`` for ``patient``; returns the final response."""
        self.sandbox.app_url = carepath.url  # the EHR launches (and may frame) this carepath
        url = self.new_launch(patient, **kwargs)
        return self.consent(self.to_consent(url), decision)


@pytest.fixture
def browser(sandbox_ehr) -> Browser:
    """A fresh scripted browser (its own cookies)."""
    return Browser(sandbox_ehr)


@pytest.fixture
def browser_factory(sandbox_ehr) -> Callable[[], Browser]:
    """Make more browsers (e.g. a second user)."""
    return lambda: Browser(sandbox_ehr)


@pytest.fixture(scope="session")
def sample_patients(loaded_hapi) -> list[dict[str, str]]:
    """Two sample patients of the local HAPI server with a family name: ``{"id", "family"}``."""
    found = []
    page = next(loaded_hapi.search_pages("Patient", {"_count": 50, "_sort": "_id"}))
    for patient in (entry["resource"] for entry in page.get("entry", [])):
        names = patient.get("name") or []
        if names and names[0].get("family"):
            found.append({"id": patient["id"], "family": names[0]["family"]})
        if len(found) == 2:
            break
    assert len(found) == 2, "the local HAPI server holds fewer than two named patients"
    return found


@pytest.fixture(scope="session")
def sample_practitioner(loaded_hapi) -> str:
    """The id of a named Practitioner of the sample data on the local HAPI server (tests also create unnamed
    ones: which comes first depends on the order tests ran in)."""
    page = next(loaded_hapi.search_pages("Practitioner", {"_count": 200, "_sort": "_id"}))
    named = [entry["resource"]["id"] for entry in page.get("entry", []) if entry["resource"].get("name")]
    assert named, "no named Practitioner on the local HAPI server"
    return named[0]


@pytest.fixture
def assert_no_secret_logged(sandbox_ehr, captured_logs) -> Iterator[Callable[[], None]]:
    """Check (at teardown, and when called) that no code or token the sandbox issued reached the logs."""

    def check() -> None:
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = captured_logs.read_text(encoding="utf-8")
        leaked = [secret[:6] + "..." for secret in list(sandbox_ehr.registry.issued) if secret in text]
        assert not leaked, f"secrets found in the logs: {leaked}"

    yield check
    check()
