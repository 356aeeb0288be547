"""carepath's exceptions.

Every error that crosses a module boundary is one of these, never a bare ``Exception``::

    CarepathError
    ├── ConfigError                 a setting is missing or wrong; the app refuses to start
    ├── FhirError                   anything that went wrong talking to a FHIR server
    │   ├── FhirTransportError      no usable HTTP answer
    │   │   ├── FhirTimeout         the server was too slow
    │   │   └── FhirUnavailable     the server could not be reached
    │   ├── FhirMalformedResponse   the answer was not the FHIR JSON we asked for
    │   ├── UnsafeUrl               a link pointed outside the server we talk to
    │   └── FhirStatusError         a non-2xx answer, with the server's OperationOutcome
    │       ├── FhirBadRequest          400
    │       ├── FhirUnauthorized        401 (token expired or revoked)
    │       ├── FhirForbidden           403 (scope not granted)
    │       ├── FhirNotFound            404, 410
    │       ├── FhirConflict            409
    │       ├── FhirPreconditionFailed  412 (someone changed the resource meanwhile)
    │       ├── FhirUnprocessable       422 (the server's validation refused it)
    │       ├── FhirTooManyRequests     429
    │       └── FhirServerError         5xx
    └── PackError                   a guideline pack failed validation
"""

from __future__ import annotations

from typing import Any


class CarepathError(Exception):
    """Base of every error carepath raises on purpose."""

    #: A sentence a clinician or an integrator can act on.
    title = "Something went wrong"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CarepathError):
    """A required setting is missing or invalid."""

    title = "carepath is not configured correctly"


class FhirError(CarepathError):
    """Talking to a FHIR server failed."""

    title = "The FHIR server could not be used"

    def __init__(self, message: str, *, url: str | None = None, method: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.method = method


class FhirTransportError(FhirError):
    """No usable HTTP answer came back."""


class FhirTimeout(FhirTransportError):
    """The server did not answer within the configured timeout."""

    title = "The FHIR server is too slow to answer"


class FhirUnavailable(FhirTransportError):
    """The server could not be reached (refused, DNS, TLS)."""

    title = "The FHIR server cannot be reached"


class FhirMalformedResponse(FhirError):
    """The server answered 2xx with something that is not the expected FHIR JSON."""

    title = "The FHIR server sent data carepath cannot read"


class UnsafeUrl(FhirError):
    """A URL (e.g. a Bundle ``next`` link) points outside the configured FHIR base."""

    title = "A link from the FHIR server was refused"


class FhirStatusError(FhirError):
    """A non-2xx answer; ``outcome`` holds the server's OperationOutcome when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        outcome: dict[str, Any] | None = None,
        url: str | None = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, url=url, method=method)
        self.status = status
        self.outcome = outcome
        self.headers = headers or {}

    @property
    def issues(self) -> list[str]:
        """The diagnostics of the OperationOutcome, as plain sentences."""
        return outcome_messages(self.outcome)


class FhirBadRequest(FhirStatusError):
    """400: the server refused the request as malformed."""

    title = "The FHIR server refused the request"


class FhirUnauthorized(FhirStatusError):
    """401: the access token is missing, expired or revoked."""

    title = "Your session with the EHR has expired"


class FhirForbidden(FhirStatusError):
    """403: the token lacks a scope, or the user may not see this."""

    title = "carepath was not granted access to this data"


class FhirNotFound(FhirStatusError):
    """404 or 410: the resource does not exist (any more)."""

    title = "The record was not found on the FHIR server"


class FhirConflict(FhirStatusError):
    """409: the request conflicts with the server's current state."""

    title = "The FHIR server reported a conflict"


class FhirPreconditionFailed(FhirStatusError):
    """412: ``If-Match`` failed; someone else changed the resource meanwhile."""

    title = "Someone else changed this record meanwhile"


class FhirUnprocessable(FhirStatusError):
    """422: the server's validation rejected the resource."""

    title = "The FHIR server rejected the data as invalid"


class FhirTooManyRequests(FhirStatusError):
    """429: the server asks us to slow down."""

    title = "The FHIR server is busy"


class FhirServerError(FhirStatusError):
    """5xx: the server failed."""

    title = "The FHIR server had an internal error"


class PackError(CarepathError):
    """A guideline pack is invalid; the message names the file and the action id."""

    title = "A guideline pack is invalid"


_STATUS_ERRORS: dict[int, type[FhirStatusError]] = {
    400: FhirBadRequest,
    401: FhirUnauthorized,
    403: FhirForbidden,
    404: FhirNotFound,
    409: FhirConflict,
    410: FhirNotFound,
    412: FhirPreconditionFailed,
    422: FhirUnprocessable,
    429: FhirTooManyRequests,
}


def status_error_class(status: int) -> type[FhirStatusError]:
    """The exception class for a non-2xx HTTP status."""
    if status >= 500:
        return FhirServerError
    return _STATUS_ERRORS.get(status, FhirStatusError)


def outcome_messages(outcome: dict[str, Any] | None) -> list[str]:
    """Human-readable lines from an OperationOutcome (diagnostics, else details.text)."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return []
    issues = outcome.get("issue")
    lines = []
    for issue in issues if isinstance(issues, list) else ():
        if not isinstance(issue, dict):
            continue
        details = issue.get("details")
        text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None) \
            or issue.get("code")
        if isinstance(text, str) and text:
            severity = issue.get("severity")
            lines.append(f"{severity if isinstance(severity, str) else 'error'}: {text}")
    return lines
