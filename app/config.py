"""Default settings. Each can be overridden by an environment variable ``CAREPATH_<NAME>``.

Values in the environment are parsed as JSON when they parse (``CAREPATH_FHIR_TIMEOUT=30`` is a number),
otherwise taken as strings. The README lists every setting.
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent

#: Signs the session cookie. Required (and must not be the default) when ``ENV`` is ``production``.
SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - a development default production refuses
#: ``development`` or ``production``; production refuses to start with a missing secret.
ENV = "development"
#: Where carepath keeps its local state (session store, audit log) unless a setting names another place.
VAR_DIR = str(_ROOT / "var")

# -- FHIR ----------------------------------------------------------------------------------------
#: The FHIR server used when carepath is not launched by an EHR (the local HAPI server by default).
FHIR_BASE_URL = "http://127.0.0.1:8090/fhir"
#: Seconds before a FHIR request is abandoned.
FHIR_TIMEOUT = 15
#: How often an idempotent request is retried on connection errors, 429, 502, 503, 504.
FHIR_RETRIES = 3
#: First retry wait in seconds; doubles each time unless the server sends Retry-After.
FHIR_BACKOFF = 0.5
#: ``_count`` asked of every search.
FHIR_PAGE_COUNT = 200

#: Bundles ``carepath load`` uploads when given no path: the Synthea sample patients and the fixtures.
SAMPLE_DATA = [str(_ROOT.parent / "shared" / "data" / "synthea"), str(_ROOT / "fhir_fixtures")]

# -- logging -------------------------------------------------------------------------------------
#: Python logging level name.
LOG_LEVEL = "INFO"
#: ``json`` (one object per line) or ``text``.
LOG_FORMAT = "json"

# -- web security ----------------------------------------------------------------------------------
#: Who may frame carepath (the EHRs it runs inside), for ``Content-Security-Policy: frame-ancestors``.
FRAME_ANCESTORS = "'self' http://127.0.0.1:8001"
#: Name of the session cookie (it holds only the browser's launch ids and the CSRF token, never a token).
SESSION_COOKIE_NAME = "carepath_session"
#: ``None``: the cookie must reach carepath inside an EHR iframe on another site.
SESSION_COOKIE_SAMESITE = "None"
#: Secure cookies only (browsers treat http://localhost as secure for development).
SESSION_COOKIE_SECURE = True
#: Not readable by scripts.
SESSION_COOKIE_HTTPONLY = True
#: CHIPS partitioned cookie: the only kind Chromium keeps in a cross-site iframe.
SESSION_COOKIE_PARTITIONED = True
