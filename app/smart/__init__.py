"""SMART App Launch 2: carepath as a SMART client (EHR and standalone launch, refresh, scopes, launch context).

Public names::

    launch_required     decorator for views under /p/<launch_id>/...; sets g.launch
    Launch              g.launch: patient_id, encounter_id, fhir_user, scopes, can_read/can_write, fhir
    SmartClient         authorize_url / handle_callback / refresh, over the server-side store
    GrantedScopes       what a granted scope allows
"""

from app.smart.client import SmartClient
from app.smart.errors import RelaunchRequired, SmartError
from app.smart.launch import Launch, browser_id, get_smart, launch_required
from app.smart.scopes import GrantedScopes, requested_scope

__all__ = [
    "GrantedScopes",
    "Launch",
    "RelaunchRequired",
    "SmartClient",
    "SmartError",
    "browser_id",
    "get_smart",
    "launch_required",
    "requested_scope",
]
