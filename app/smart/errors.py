"""Errors of the SMART App Launch layer, all :class:`app.errors.CarepathError`::

    CarepathError
    └── SmartError                  a launch could not start or continue
        ├── UnknownIssuer           ``iss`` is not on the allow-list (no request was sent to it)
        ├── LaunchRequestInvalid    /launch or /callback was called without what it needs
        ├── DiscoveryFailed         ``.well-known/smart-configuration`` missing, unreachable or unusable
        ├── AuthorizationFailed     the EHR refused (denied consent, invalid client, bad code, PKCE, ...)
        ├── StateMismatch           the callback's ``state`` is unknown, used already, or from another browser
        ├── TokenInvalid            the token response or the id_token failed validation
        └── RelaunchRequired        the launch ended (expired, refresh failed, other browser): open it again

Each carries ``status`` (the HTTP status of the error page) and, for OAuth errors, the server's ``error``
code and ``description``; none ever carries a token.
"""

from __future__ import annotations

from app.errors import CarepathError


class SmartError(CarepathError):
    """A SMART launch could not start or continue."""

    title = "carepath could not be opened from the EHR"
    status = 400

    def __init__(self, message: str, *, error: str | None = None, description: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.description = description


class UnknownIssuer(SmartError):
    """The ``iss`` is not on carepath's allow-list; nothing was sent to it."""

    title = "carepath is not set up for this EHR"
    status = 403


class LaunchRequestInvalid(SmartError):
    """A launch or callback request lacks required parameters."""

    title = "This is not a valid launch of carepath"


class DiscoveryFailed(SmartError):
    """The EHR's SMART configuration could not be read or is unusable."""

    title = "carepath could not read the EHR's SMART configuration"
    status = 502


class AuthorizationFailed(SmartError):
    """The authorization server refused the request or the code exchange."""

    title = "The EHR did not authorize carepath"
    status = 403


class StateMismatch(SmartError):
    """The callback does not belong to an authorization this browser started."""

    title = "This sign-in could not be completed"


class TokenInvalid(SmartError):
    """The token response or id_token failed validation."""

    title = "The EHR's answer could not be trusted"
    status = 502


class RelaunchRequired(SmartError):
    """The launch is over; the user must open carepath again from the EHR."""

    title = "Your carepath session has ended"
    status = 401
