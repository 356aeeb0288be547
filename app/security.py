"""Cross-cutting web security: CSRF on every state-changing request and protective response headers."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, current_app, request, session

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HSTS_SECONDS = 365 * 24 * 3600
def csrf_token() -> str:
    """The session's CSRF token, created on first use; templates put it in every form."""
    token = session.get("_csrf")
    if not token:
        token = session["_csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> None:
    if request.method not in _UNSAFE_METHODS or current_app.config.get("CSRF_DISABLED"):
        return
    if request.endpoint and getattr(current_app.view_functions.get(request.endpoint), "csrf_exempt", False):
        return
    expected = session.get("_csrf")
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        abort(400, description="The form expired or did not come from carepath. Reload the page and try again.")


def csrf_exempt(view):
    """Mark a view that authenticates its POSTs another way (e.g. a client assertion)."""
    view.csrf_exempt = True
    return view


def _security_headers(response):
    frame_ancestors = current_app.config.get("FRAME_ANCESTORS", "'self'")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"object-src 'none'; base-uri 'none'; frame-ancestors {frame_ancestors}",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    if current_app.config.get("ENV") == "production":
        # Production is served over HTTPS only (README): browsers never try it over plain HTTP again for a year.
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
    return response


def init_app(app: Flask) -> None:
    """Install the CSRF check, the headers and the ``csrf_token`` template global."""
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
