"""The cohort's errors, under carepath's own hierarchy (``app.errors``)::

    CarepathError
    └── FhirError
        └── ExportFailed     a Bulk Data export that cannot complete: refused kick-off, failed job,
                             missing manifest, a file that cannot be downloaded, a timeout
"""

from __future__ import annotations

from app.errors import FhirError

__all__ = ["ExportFailed"]


class ExportFailed(FhirError):
    """A Bulk Data export did not complete; the message says why, with the server's diagnostics."""

    title = "The Bulk Data export failed"
