"""The launch a page belongs to: ``g.launch``, set by :func:`launch_required`.

Every page after a launch lives under ``/p/<launch_id>/...``. The launch id alone opens nothing: the
launch is bound to the browser that started it (a random id in carepath's signed, HttpOnly session
cookie, of which the store keeps only a hash), so a copied URL does not work in another browser, and two
tabs with two patients are two launches that never mix. Usage in a feature blueprint::

    @bp.get("/p/<launch_id>/plan")
    @launch_required
    def plan(launch_id: str):
        patient = g.launch.fhir.read("Patient", g.launch.patient_id)
        if not g.launch.can_write("CarePlan"): ...

``g.launch.fhir`` is an :class:`app.fhir.FhirClient` on the launch's FHIR server whose token provider
reads the stored token (refreshing it shortly before expiry) and whose ``on_unauthorized`` refreshes once
on a 401; a failed refresh raises :class:`RelaunchRequired`, rendered as a page asking to relaunch.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import current_app, g, session

from app.fhir import FhirClient
from app.smart.client import SmartClient, browser_hash
from app.smart.errors import RelaunchRequired
from app.smart.scopes import GrantedScopes

__all__ = ["Launch", "app_context_area", "browser_id", "forget_launch", "get_smart", "launch_required",
           "remember_launch", "rotate_browser_id"]

_EXTENSION = "carepath_smart"
_SESSION_KEY = "browser"
_LAUNCHES_KEY = "launches"
#: Launch ids a session remembers (the most recent), so that a rotated browser id takes them along.
_REMEMBERED_LAUNCHES = 16
_CSRF_KEY = "_csrf"
F = TypeVar("F", bound=Callable[..., Any])
#: The longest ``appContext`` read from a token response (a CDS Hooks card link's context is a few bytes).
APP_CONTEXT_LIMIT = 1024
_AREA_ID = re.compile(r"^[a-z0-9-]{1,64}$")


def app_context_area(app_context: Any) -> str | None:
    """The plan area a CDS Hooks card link opened carepath on: ``appContext`` (a JSON string of at most 1 KB)
    holding exactly ``{"area": "<id>"}``; None for anything else, which is ignored."""
    if not isinstance(app_context, str) or len(app_context) > APP_CONTEXT_LIMIT:
        return None
    try:
        parsed = json.loads(app_context)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or set(parsed) != {"area"}:
        return None
    area = parsed["area"]
    return area if isinstance(area, str) and _AREA_ID.match(area) else None


def get_smart() -> SmartClient:
    """The app's :class:`SmartClient` (created at startup by :func:`app.views.launch.init_app`)."""
    return current_app.extensions[_EXTENSION]


def browser_id(*, create: bool = True) -> str | None:
    """This browser's random id, kept in the session cookie (created on first use)."""
    value = session.get(_SESSION_KEY)
    if not value and create:
        value = session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return value


def remember_launch(launch_id: str) -> None:
    """Note a launch of this browser in its session (the most recent few)."""
    others = [known for known in session.get(_LAUNCHES_KEY) or [] if known != launch_id]
    session[_LAUNCHES_KEY] = [*others[-(_REMEMBERED_LAUNCHES - 1):], launch_id]


def forget_launch(launch_id: str) -> None:
    """Remove a launch from this browser's session."""
    session[_LAUNCHES_KEY] = [known for known in session.get(_LAUNCHES_KEY) or [] if known != launch_id]


def rotate_browser_id(smart: SmartClient) -> str:
    """Give this browser a new id and a new CSRF token, its remembered launches moved to the new id; returns it.

    Called when a sign-in completes: whoever knew or planted the old cookie (session fixation) holds nothing
    that opens the launch, nor a CSRF token that is still accepted. A form left open in another tab of this
    browser asks to be reloaded.
    """
    old = session.get(_SESSION_KEY)
    new = secrets.token_urlsafe(32)
    moved = [known for known in session.get(_LAUNCHES_KEY) or []
             if old and smart.rebind(known, old_browser=old, new_browser=new)]
    session[_SESSION_KEY] = new
    session[_LAUNCHES_KEY] = moved
    session.pop(_CSRF_KEY, None)
    return new


@dataclass
class Launch:
    """What a page knows about its launch. Tokens are not here: ``fhir`` fetches them from the store."""

    launch_id: str
    iss: str
    patient_id: str
    encounter_id: str | None
    fhir_user: str | None
    need_patient_banner: bool
    smart_style_url: str | None
    intent: str | None
    scopes: GrantedScopes
    open_server: bool
    #: The plan area a CDS Hooks card link asked for (``appContext``), or None.
    app_context_area: str | None = None
    read_types: list[str] = field(default_factory=list)
    write_types: list[str] = field(default_factory=list)
    _smart: SmartClient | None = field(default=None, repr=False)
    _fhir: FhirClient | None = field(default=None, repr=False)

    @property
    def fhir_base(self) -> str:
        """The FHIR base URL (same as ``iss``)."""
        return self.iss

    @property
    def fhir_user_type(self) -> str | None:
        """``Practitioner``, ``PractitionerRole``, ``Patient``, ``RelatedPerson``... or None."""
        parts = (self.fhir_user or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and parts[-2] else None

    def can_read(self, resource_type: str) -> bool:
        """Reading ``resource_type`` was granted (always true on an open server)."""
        return self.open_server or self.scopes.can_read(resource_type)

    def can_write(self, resource_type: str) -> bool:
        """Creating and updating ``resource_type`` were granted (on an open server: as the server allows)."""
        return self.open_server or self.scopes.can_write(resource_type)

    @property
    def read_only(self) -> bool:
        """True when any type carepath writes (``SMART_WRITE_TYPES``) may not be written."""
        return any(not self.can_write(name) for name in self.write_types)

    @property
    def unreadable(self) -> list[str]:
        """The types carepath needs (``SMART_READ_TYPES``) that it may not read."""
        return [name for name in self.read_types if not self.can_read(name)]

    @property
    def unwritable(self) -> list[str]:
        """The types carepath writes (``SMART_WRITE_TYPES``) that it may not write."""
        return [name for name in self.write_types if not self.can_write(name)]

    @property
    def fhir(self) -> FhirClient:
        """A FHIR client for this launch, with the stored token and one refresh on 401."""
        if self._fhir is None:
            smart = self._smart or get_smart()
            last_token: dict[str, str | None] = {"value": None}

            def token() -> str | None:
                last_token["value"] = smart.access_token(self.launch_id)
                return last_token["value"]

            def on_unauthorized() -> bool:
                if self.open_server:
                    return False
                smart.refresh(self.launch_id, stale_token=last_token["value"])
                return True

            self._fhir = FhirClient.from_config(current_app.config, base_url=self.iss, token=token,
                                                on_unauthorized=on_unauthorized)
        return self._fhir

    @classmethod
    def from_record(cls, record: dict[str, Any], smart: SmartClient | None = None) -> Launch:
        """Build from a stored launch record (tokens are left behind)."""
        settings = smart.settings if smart else {}
        return cls(
            launch_id=record["launch_id"], iss=record["iss"], patient_id=record["patient_id"],
            encounter_id=record.get("encounter_id"), fhir_user=record.get("fhir_user"),
            need_patient_banner=bool(record.get("need_patient_banner", True)),
            smart_style_url=record.get("smart_style_url"), intent=record.get("intent"),
            scopes=GrantedScopes(record.get("scope") or ""), open_server=bool(record.get("open_server")),
            app_context_area=app_context_area_of(record),
            read_types=list(settings.get("READ_TYPES") or []), write_types=list(settings.get("WRITE_TYPES") or []),
            _smart=smart,
        )


def app_context_area_of(record: dict[str, Any]) -> str | None:
    """The stored launch's CDS Hooks area (checked again: the record may predate the check)."""
    area = record.get("app_context_area")
    return area if isinstance(area, str) and _AREA_ID.match(area) else None


def load_launch(launch_id: str) -> Launch:
    """The launch ``launch_id`` if it belongs to this browser; :class:`RelaunchRequired` otherwise."""
    smart = get_smart()
    record = smart.load(launch_id) if launch_id and len(launch_id) <= 64 else None
    owner = browser_id(create=False)
    if record is None or not owner or not secrets.compare_digest(record.get("browser", ""), browser_hash(owner)):
        raise RelaunchRequired("This carepath page belongs to a launch that has ended or was opened in another "
                               "browser. Open carepath again from the EHR.")
    return Launch.from_record(record, smart)


def launch_required(view: F) -> F:
    """Resolve ``launch_id`` from the URL, check it belongs to this browser, and set ``g.launch``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.launch = load_launch(str(kwargs.get("launch_id", "")))
        return view(*args, **kwargs)

    return cast(F, wrapped)
