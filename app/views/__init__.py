"""Blueprints. Each feature module exposes ``bp``; :func:`register_all` wires them into the app."""

from __future__ import annotations

from flask import Flask


def register_all(app: Flask) -> None:
    """Register every feature blueprint (health is registered by the factory itself)."""
    from app.cds import views as cds
    from app.views import approval, governance, launch, names, patient, review

    names.init_app(app)

    app.register_blueprint(launch.bp)  # SMART launch, callback, JWKS, error pages
    app.register_blueprint(patient.bp)  # /p/<launch_id>/: the launch's landing page
    app.register_blueprint(review.bp)  # /p/<launch_id>/plan: review, edits, save the draft, download, print
    app.register_blueprint(approval.bp)  # /p/<launch_id>/careplans/<id>: approve or reject a saved draft
    app.register_blueprint(governance.bp)  # /governance, /p/<launch_id>/governance/preview: reviewers only
    app.register_blueprint(cds.bp)  # /cds-services: CDS Hooks discovery, service and feedback (JWT, no cookies)
