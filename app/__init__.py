"""carepath: a SMART-on-FHIR app that drafts cited care plans for clinician review."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import config as default_config
from app import logs
from app.errors import ConfigError

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app: defaults, then ``CAREPATH_*`` environment variables, then ``test_config``."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(default_config)
    app.config.from_prefixed_env("CAREPATH")
    if test_config is not None:
        app.config.from_mapping(test_config)
    _check_config(app)
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    from app import security
    from app.views import health

    security.init_app(app)
    app.register_blueprint(health.bp)
    _register_optional_blueprints(app)
    if not app.testing:
        _prepare_in_background()
    return app


def _prepare_in_background() -> None:
    """Compile validation tables in the background, so that the first launch after a start is not slower, then
    freeze what the process holds out of the garbage collector's way."""
    import threading

    from app.context.resources import prepare

    threading.Thread(target=prepare, kwargs={"freeze": True}, name="carepath-prepare", daemon=True).start()


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
    from app.smart.discovery import normalize_base

    development = {normalize_base(url) for url in default_config.SMART_OPEN_SERVERS}
    open_servers = app.config.get("SMART_OPEN_SERVERS") or []
    if not isinstance(open_servers, list) or any(normalize_base(str(url)) in development for url in open_servers):
        raise ConfigError(
            "CAREPATH_SMART_OPEN_SERVERS still names the development FHIR server read without authorization "
            f"({', '.join(sorted(development))}): in production set it to [] (or to the servers meant to be read "
            "without authorization, as a JSON list)"
        )
