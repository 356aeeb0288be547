"""Launch views: EHR launch, standalone launch, the OAuth callback, carepath's JWKS, and error pages.

``GET /launch?iss=...&launch=...``    EHR launch (SMART App Launch 2)
``GET /launch?iss=...&patient=...``   open-server mode (a FHIR server without authorization)
``GET /launch/standalone``            pick a configured server; ``POST`` starts a standalone launch
``GET /callback``                     the redirect URI: checks state, exchanges the code, opens the plan
``POST /p/<launch_id>/end``           end a launch early: its tokens and context are forgotten
``GET /.well-known/jwks.json``        public key for ``private_key_jwt`` (empty for other client types)
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.errors import CarepathError, FhirError, FhirStatusError, FhirUnauthorized
from app.smart import SmartClient, SmartError, browser_id, get_smart, launch_required
from app.smart.discovery import normalize_base
from app.smart.errors import LaunchRequestInvalid
from app.smart.launch import _EXTENSION, app_context_area_of, forget_launch, remember_launch, rotate_browser_id
from app.store import get_store

bp = Blueprint("launch", __name__)


@bp.record_once
def _init(state) -> None:  # type: ignore[no-untyped-def]
    init_app(state.app)


def init_app(app: Flask) -> None:
    """Create the app's SMART client over its store; a wrong ``SMART_*`` setting stops the app here."""
    app.extensions[_EXTENSION] = SmartClient(app.config, get_store(app))


@bp.get("/")
def index() -> ResponseReturnValue:
    """Say what carepath is and how to open it."""
    return render_template("launch/index.html")


@bp.get("/launch")
def launch() -> ResponseReturnValue:
    """Start an EHR launch (or an open-server launch) and send the browser to the EHR's authorize URL."""
    smart = get_smart()
    iss = request.args.get("iss")
    launch_token = request.args.get("launch")
    iss = smart.check_iss(iss)  # before anything else: an unknown iss is never contacted
    if not launch_token:
        if request.args.get("patient") is not None or smart.is_open_server(iss):
            launch_id = smart.open_server_launch(iss, request.args.get("patient"), browser_id=browser_id())
            remember_launch(launch_id)
            return redirect(url_for("review.review", launch_id=launch_id))
        raise LaunchRequestInvalid("The EHR opened carepath without a 'launch' parameter. Open carepath from "
                                   "the EHR again, or use the standalone launch page.")
    if len(launch_token) > 2048:
        raise LaunchRequestInvalid("The 'launch' parameter is too long.")
    return redirect(smart.authorize_url(iss, launch=launch_token, browser_id=browser_id()))


@bp.get("/launch/standalone")
def standalone() -> ResponseReturnValue:
    """List the FHIR servers carepath can be launched against on its own."""
    return render_template("launch/standalone.html", servers=_standalone_servers())


@bp.post("/launch/standalone")
def standalone_start() -> ResponseReturnValue:
    """Start a standalone launch (scope ``launch/patient``) against the chosen server."""
    chosen = request.form.get("iss", "")
    servers = {normalize_base(server["iss"]) for server in _standalone_servers()}
    if normalize_base(chosen) not in servers:
        raise LaunchRequestInvalid("Choose one of the servers listed on the standalone launch page.")
    return redirect(get_smart().authorize_url(chosen, launch=None, browser_id=browser_id()))


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    """Finish the authorization: state, code exchange, id_token; then a new browser id and the plan (at the area
    a CDS Hooks card named, when the EHR passed its appContext)."""
    smart = get_smart()
    launch_id = smart.handle_callback(request.args, browser_id=browser_id())
    remember_launch(launch_id)
    rotate_browser_id(smart)  # session fixation: a cookie known before the sign-in opens nothing after it
    area = app_context_area_of(smart.load(launch_id) or {})
    if area:
        return redirect(url_for("review.review", launch_id=launch_id, area=area, _anchor=f"area-{area}"))
    return redirect(url_for("review.review", launch_id=launch_id))


@bp.post("/p/<launch_id>/end")
@launch_required
def end_session(launch_id: str) -> ResponseReturnValue:
    """End a launch early: carepath forgets it and its tokens (CSRF-checked like every POST)."""
    get_smart().end(launch_id)
    forget_launch(launch_id)
    current_app.logger.info("smart launch ended", extra={"launch": launch_id[:8]})
    return render_template("launch/ended.html")


@bp.get("/.well-known/jwks.json")
def jwks() -> ResponseReturnValue:
    """carepath's public signing key set, for EHRs that authenticate it with ``private_key_jwt``."""
    response = jsonify(get_smart().credentials.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _standalone_servers() -> list[dict[str, str]]:
    allowed = set(get_smart().allowed_iss)
    servers = current_app.config.get("SMART_STANDALONE_SERVERS") or []
    return [dict(server) for server in servers if normalize_base(server.get("iss", "")) in allowed]


# -- error pages (never a token: messages are carepath's own sentences) ---------------------------

@bp.app_errorhandler(SmartError)
def smart_error(error: SmartError) -> ResponseReturnValue:
    """A launch problem, with what to do next."""
    current_app.logger.warning("launch refused", extra={"error_type": type(error).__name__,
                                                        "oauth_error": error.error})
    return render_template("errors/launch.html", error=error), error.status


@bp.app_errorhandler(FhirError)
def fhir_error(error: FhirError) -> ResponseReturnValue:
    """A FHIR server problem during a page (after a failed refresh, a 401 means: relaunch)."""
    status = 502
    if isinstance(error, FhirStatusError) and error.status in (401, 403, 404):
        status = error.status
    relaunch = isinstance(error, FhirUnauthorized)
    current_app.logger.warning("fhir error", extra={"error_type": type(error).__name__, "status": status,
                                                    "path": error.url, "method": error.method})
    return render_template("errors/fhir.html", error=error, relaunch=relaunch), status


@bp.app_errorhandler(CarepathError)
def carepath_error(error: CarepathError) -> ResponseReturnValue:
    """Any other carepath error."""
    current_app.logger.error("carepath error", exc_info=error, extra={"error_type": type(error).__name__})
    return render_template("errors/error.html", title=error.title, message=error.message), 500


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    """Plain HTTP errors (400 from CSRF, 404, 405) as pages, not Werkzeug's defaults."""
    if request.path.startswith("/health") or request.accept_mimetypes.best == "application/json":
        return error
    return render_template("errors/error.html", title=f"{error.code} {error.name}",
                           message=error.description), error.code or 500
