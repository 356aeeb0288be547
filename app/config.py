"""Default settings. Each can be overridden by an environment variable ``CAREPATH_<NAME>``.

Values in the environment are parsed as JSON when they parse (``CAREPATH_FHIR_TIMEOUT=30`` is a number),
otherwise taken as strings. The README lists every setting.
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent

#: Signs the session cookie. Required (and must not be the default) when ``ENV`` is ``production``.
SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - a development default production refuses
#: ``development`` or ``production``; production refuses to start with a missing secret (SECRET_KEY, AUDIT_KEY) or
#: with the development open server in ``SMART_OPEN_SERVERS``, and sends HSTS.
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

# -- SMART App Launch ----------------------------------------------------------------------------
#: FHIR base URLs (``iss``) carepath accepts a launch from. Anything else gets an error page and no network
#: call (no SSRF, no secret sent to a stranger). Default: the sandbox EHR and, for open-server mode, local HAPI.
SMART_ALLOWED_ISS = ["http://127.0.0.1:8001/fhir", "http://127.0.0.1:8090/fhir"]
#: Allowed FHIR bases without authorization (e.g. the public HAPI sandbox): ``/launch?iss=<base>&patient=<id>``
#: reads directly, with no token; each must also be in ``SMART_ALLOWED_ISS``. Production refuses to start while
#: it names the local development server (the default): set ``[]`` or the servers meant.
SMART_OPEN_SERVERS = ["http://127.0.0.1:8090/fhir"]
#: Servers offered on the standalone-launch page: a list of ``{"name": ..., "iss": ...}`` (each allow-listed).
SMART_STANDALONE_SERVERS = [{"name": "carepath sandbox EHR", "iss": "http://127.0.0.1:8001/fhir"}]
#: The client id carepath was registered with at the EHR.
SMART_CLIENT_ID = "carepath"
#: ``public`` (PKCE only), ``confidential-symmetric`` (client_secret_basic) or ``confidential-asymmetric``
#: (private_key_jwt signed with SMART_PRIVATE_KEY; the public key is served at /.well-known/jwks.json).
SMART_CLIENT_TYPE = "public"
#: The client secret for ``confidential-symmetric``; never logged, never sent anywhere but the token endpoint.
SMART_CLIENT_SECRET = ""
#: Private key for ``confidential-asymmetric``: a PEM (or JWK JSON) string; wins over SMART_PRIVATE_KEY_PATH.
SMART_PRIVATE_KEY = ""
#: Path of a PEM (or JWK JSON) file holding the private key for ``confidential-asymmetric``.
SMART_PRIVATE_KEY_PATH = ""
#: Signing algorithm of the client assertion: ``RS384`` (RSA key) or ``ES384`` (P-384 EC key).
SMART_KEY_ALG = "RS384"
#: ``kid`` of the published key; empty means the key's RFC 7638 thumbprint.
SMART_KEY_ID = ""
#: Where the EHR sends the browser back after authorization; must be registered with the EHR.
SMART_REDIRECT_URI = "http://localhost:8000/callback"
#: ``v2`` (``patient/Observation.rs``) or ``v1`` (``patient/*.read``, ``patient/CarePlan.write``) scopes.
SMART_SCOPE_VERSION = "v2"
#: Resource types carepath reads (asked as ``.rs`` in v2; v1 asks ``patient/*.read``).
SMART_READ_TYPES = ["Patient", "Condition", "Observation", "MedicationRequest", "AllergyIntolerance",
                    "Procedure", "Encounter", "DiagnosticReport", "ServiceRequest", "DeviceRequest", "Device",
                    "AdverseEvent", "CarePlan", "Goal", "Provenance"]
#: Resource types read at user level (``user/Practitioner.rs``, v1 ``.read``), to name the signed-in clinician and the
#: authors of goals and notes; when the EHR does not grant it, people are named by their role, never by an id.
SMART_USER_READ_TYPES = ["Practitioner"]
#: Resource types carepath writes (asked as ``.cu`` in v2, ``.write`` in v1); without them it runs read-only.
SMART_WRITE_TYPES = ["CarePlan", "Goal", "Provenance"]
#: Ask ``offline_access`` (refresh tokens that outlive the session) instead of ``online_access``.
SMART_OFFLINE_ACCESS = False
#: Scopes added to the request as they are (e.g. ``"launch/encounter"``); space-separated.
SMART_EXTRA_SCOPES = ""
#: Seconds a launch (its tokens and context) stays usable in the store.
SMART_LAUNCH_TTL = 8 * 3600
#: Seconds an authorization request may take (state, PKCE verifier and nonce are kept that long, used once).
SMART_PENDING_TTL = 600
#: Refresh the access token when it expires within this many seconds.
SMART_REFRESH_MARGIN = 60
#: Seconds before a discovery, token or JWKS request is abandoned.
SMART_HTTP_TIMEOUT = 10
#: Seconds a server's ``.well-known/smart-configuration`` is cached in memory.
SMART_DISCOVERY_TTL = 300
#: Where launches and tokens are kept server-side: empty = SQLite file in VAR_DIR; ``sqlite:////abs/path.db``;
#: ``redis://host:6379/0`` for several app instances (needs the ``redis`` package). The audit log is apart (AUDIT_DB).
STORE_URL = ""

# -- CDS Hooks ----------------------------------------------------------------------------------------
#: The CDS clients (EHRs) whose signed requests carepath's CDS Hooks service accepts: a JSON list of
#: ``{"iss": ..., "jwks_url": ...}`` (optionally ``"jku": [...]``, more key-set URLs the client may name in its
#: JWT header). Keys are fetched only from these URLs. Default: the sandbox EHR.
CDS_CLIENTS = [{"iss": "http://127.0.0.1:8001", "jwks_url": "http://127.0.0.1:8001/cds/jwks"}]
#: Require the CDS client's signed JWT on every CDS Hooks request. ``false`` is for development only and is
#: refused when ``ENV`` is ``production``.
CDS_REQUIRE_JWT = True
#: carepath's public URL as the EHR calls it (e.g. ``https://carepath.example.org``): the JWT ``aud`` is checked
#: against ``<it>/cds-services/<id>`` and cards link to ``<it>/launch``. Empty = the URL of each request
#: (development only: production requires an https URL).
CDS_BASE_URL = ""
#: Seconds a CDS client's key set is cached (a JWT signed with an unknown ``kid`` refreshes it at most once a
#: minute).
CDS_JWKS_TTL = 300
#: Seconds the cards of one answer are remembered for their feedback (its area, patient and pack versions).
CDS_CARD_TTL = 7 * 24 * 3600

# -- guideline packs -------------------------------------------------------------------------------
#: Where guideline packs come from: ``files`` (PACK_DIR) or ``fhir`` (published on a FHIR server).
PACK_SOURCE = "files"
#: The pack folders of FHIR JSON files, separated by commas (each area states whom it is for, so several packs
#: build one plan); empty = the bundled ``packs/primary-care`` and ``packs/pediatric``.
PACK_DIR = ""
#: With PACK_SOURCE=fhir: the PlanDefinitions to use, as ``url|version`` canonicals (JSON list).
PACK_CANONICALS = []
#: With PACK_SOURCE=fhir: each pack's Library (data requirements), as ``url|version`` canonicals separated by
#: commas (one per pack, e.g. primary care and pediatric); each PlanDefinition joins the Library it names.
PACK_LIBRARY = ""
#: With PACK_SOURCE=fhir: the FHIR server the packs are published on; empty = FHIR_BASE_URL.
PACK_FHIR_BASE_URL = ""
#: Pack versions the sidebar, CDS Hooks and ``cohort run`` may use while still ``draft`` (not signed off), for
#: preview: each a Library canonical ``url|version`` (the whole pack version) or a PlanDefinition's. Any other
#: draft is refused at pack load. Default: the bundled example packs (primary care, pediatric), which no site's
#: committee has signed off.
PACK_ALLOW_DRAFT = ["http://carepath.dev/fhir/Library/primary-care-data|2025.1.0",
                    "http://carepath.dev/fhir/Library/pediatric-data|2026.1.0"]
#: How many distinct reviewers must sign off a pack version (``carepath pack sign-off``) before it becomes active.
GOVERNANCE_REVIEWERS = 2
#: The governance reviewers who may open ``/governance`` (the monitor, its MeasureReport) and preview a patient's
#: plan under a draft pack version: a JSON list of Practitioner (or PractitionerRole) references, each relative
#: (``Practitioner/123``: the fhirUser of a SMART launch from any server of SMART_ALLOWED_ISS) or absolute (that
#: server only). Only a launch the EHR authorized counts (never an open-server one). Empty = nobody.
GOVERNANCE_ALLOW = []
#: Draft pack versions a reviewer may preview a patient's plan with, beside the active one: a JSON list, each a
#: pack folder or a ``governance.json`` (its proposed folder, while it holds the files the report hashed). Empty =
#: the proposed folder of the latest report ``carepath governance report`` recorded in
#: ``VAR_DIR/governance/reports.json`` (none recorded: no preview).
GOVERNANCE_PREVIEW_PACKS = []
#: A FHIR terminology server that expands the value sets a pack names but does not bundle (``ValueSet/$expand``
#: at pack load, cached per value set version); empty = bundled value sets only.
TERMINOLOGY_URL = ""
#: Where expansions from TERMINOLOGY_URL are cached on disk; empty = ``VAR_DIR/terminology``.
TERMINOLOGY_CACHE_DIR = ""

# -- review, drafts and audit ----------------------------------------------------------------------
#: The organization carepath acts for, as a FHIR reference (``Organization/123``): written as
#: ``Provenance.agent.onBehalfOf``, which US Core requires for carepath (a Device) and for Practitioners.
#: Empty = the organization of the launching user's PractitionerRole, if the launch gives one; otherwise
#: ``onBehalfOf`` is left out and the Provenance does not meet US Core ``provenance-1``.
ORGANIZATION_REFERENCE = ""
#: The organization's name, written as the display of ORGANIZATION_REFERENCE.
ORGANIZATION_DISPLAY = ""
#: Evaluation date of the review page's plan (``YYYY-MM-DD``); empty = today. For demos on old sample data.
REVIEW_AS_OF = ""
#: The append-only audit log (SQLite file) of generated, saved, approved and rejected plans; empty =
#: ``VAR_DIR/audit.sqlite3``. UPDATE and DELETE are refused by the database itself.
AUDIT_DB = ""
#: The secret that keys each audit entry (HMAC-SHA256) and signs the checkpoints; never stored in the database.
#: Required in production; empty elsewhere = a development key that is no secret (``audit verify`` says so).
AUDIT_KEY = ""
#: File the signed checkpoints of the audit chain's head are appended to, one per entry (keep it outside the
#: database's reach, e.g. another volume); empty = ``VAR_DIR/audit-checkpoints.jsonl``.
AUDIT_CHECKPOINT_FILE = ""
#: A FHIR server ``carepath audit checkpoint`` also writes each checkpoint to (as an ``AuditEvent``), and
#: ``audit verify`` reads them back from; empty = none. Read without authorization when in SMART_OPEN_SERVERS,
#: otherwise with a SMART Backend Services token.
AUDIT_CHECKPOINT_FHIR_BASE_URL = ""

# -- cohort -----------------------------------------------------------------------------------------
#: Bytes a ``.gz`` input of ``carepath cohort run`` or ``diff`` may inflate to; a larger one (a gzip bomb) is not
#: read, and the report names it.
COHORT_MAX_DECOMPRESSED_BYTES = 4_000_000_000
#: Bytes of one document of a cohort's input (an ndjson line, a Bundle file): a larger one is not parsed, and the
#: report counts it.
COHORT_MAX_DOCUMENT_BYTES = 256_000_000
#: Most files ``carepath cohort export`` accepts in a manifest (output and error files together); a larger manifest
#: is refused before any download.
COHORT_EXPORT_MAX_FILES = 10000
#: Seconds a ``carepath cohort export`` download may go without receiving a byte; then it stops, and running the
#: same command again resumes the export (finished files are kept).
COHORT_EXPORT_STALL_SECONDS = 60
#: Bytes a second a ``carepath cohort export`` download must average over each COHORT_EXPORT_STALL_SECONDS: a
#: server that drips bytes, never silent long enough to time out, is stopped too (resumable the same way).
COHORT_EXPORT_MIN_RATE = 1024
#: The Python the executors of ``cohort run`` and ``diff`` run on a cluster, with the environment the job ships:
#: empty = the shipped environment's own ``./environment/bin/python`` (a link to the interpreter the driver's
#: venv was made from: the nodes need that Python at the same path); a command or path (``python3.11``) = that
#: Python on the nodes, of the driver's minor version, with the shipped packages on its path.
COHORT_EXECUTOR_PYTHON = ""
#: Seconds ``cohort run`` and ``diff`` wait for a TCP connection to the Spark master (``spark://``, ``k8s://``)
#: before they stop with a message naming it.
COHORT_CONNECT_TIMEOUT_SECONDS = 10
#: Seconds a cluster run may go without any executor (none joined yet, or every one lost) before it stops with a
#: message; a worker lost while others remain is retried by Spark.
COHORT_EXECUTOR_WAIT_SECONDS = 120
