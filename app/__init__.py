"""carepath: a SMART-on-FHIR app that drafts cited care plans for clinician review."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from app import config as default_config
from app import logs
from app.errors import ConfigError

# Flask is imported when an app is built: the command line's plan, facts and conformance never need it.
if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app: defaults, then ``CAREPATH_*`` environment variables, then ``test_config``."""
    from flask import Flask

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(default_config)
    app.config.from_prefixed_env("CAREPATH")
    if test_config is not None:
        app.config.from_mapping(test_config)
    _check_config(app)
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    from app import security, timing
    from app.views import health

    security.init_app(app)
    timing.init_app(app)
    app.register_blueprint(health.bp)
    _register_optional_blueprints(app)
    return app


def pack_set(app: Flask) -> Any:
    """The guideline packs the settings name (``PACK_SOURCE``: files or a FHIR server), loaded once per app and
    shared by the review page and the CDS Hooks service."""
    from app.engine.packs import load_configured_pack_set

    if "carepath_packs" not in app.extensions:
        app.extensions["carepath_packs"] = load_configured_pack_set(app.config)
    return app.extensions["carepath_packs"]


def warm_up(app: Flask) -> Flask:
    """Do before the first request what it would otherwise pay for: load the packs and their value sets, compile
    the validation tables and the page templates, then move all of it out of the garbage collector's way.

    Called by ``app.wsgi`` in the server's master process (gunicorn ``--preload``), so that the workers it forks
    share the result and the first launch after a start is as quick as the others.
    """
    import gc

    from app.context.resources import prepare

    pack_set(app)
    prepare()
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)
    gc.collect()
    gc.freeze()
    log.info("warmed up", extra={"packs": len(app.extensions["carepath_packs"].packs)})
    return app


def _register_optional_blueprints(app: Flask) -> None:
    """Blueprints of the launch, review and approval features, registered in the order they route."""
    from app.views import register_all

    register_all(app)


def _check_config(app: Flask) -> None:
    """Refuse to start, with a clear message, on a development secret in production or a malformed setting."""
    from app.careplan.organization import configured_organization

    configured_organization(app.config.get("ORGANIZATION_REFERENCE"), app.config.get("ORGANIZATION_DISPLAY"))
    if app.config["ENV"] != "production":
        return
    if app.config["SECRET_KEY"] in ("", None, default_config.SECRET_KEY):
        raise ConfigError(
            "CAREPATH_SECRET_KEY must be set to a long random value in production "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    from app.audit import DEVELOPMENT_KEY

    if app.config.get("AUDIT_KEY") in ("", None, DEVELOPMENT_KEY):
        raise ConfigError(
            "CAREPATH_AUDIT_KEY must be set to a long random value in production: it keys the audit log so that "
            "whoever can write the database cannot rewrite it unnoticed; keep it out of the database's host "
            "backups (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if not str(app.config.get("CDS_BASE_URL") or "").startswith("https://"):
        raise ConfigError(
            "CAREPATH_CDS_BASE_URL must be set in production to carepath's public https URL as the EHR calls it "
            "(e.g. https://carepath.example.org): the CDS client's JWT audience and the cards' links are built from "
            "it, never from a request's Host header"
        )
    from app.smart.discovery import normalize_base

    development = {normalize_base(url) for url in default_config.SMART_OPEN_SERVERS}
    open_servers = app.config.get("SMART_OPEN_SERVERS") or []
    if not isinstance(open_servers, list) or any(normalize_base(str(url)) in development for url in open_servers):
        raise ConfigError(
            "CAREPATH_SMART_OPEN_SERVERS still names the development FHIR server read without authorization "
            f"({', '.join(sorted(development))}): in production set it to [] (or to the servers meant to be read "
            "without authorization, as a JSON list)"
        )
