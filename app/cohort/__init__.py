"""Population mode: a panel's plans on Spark, from a FHIR Bulk Data export (issue 17).

The core knows nothing of Flask: ``sources`` (ndjson and Bundles keyed per patient), ``plans`` (one patient,
by the app's own context and engine), ``workload`` (kinds of work and due months), ``spark`` (grouping),
``run`` / ``report`` / ``charts`` (outputs), ``diff`` (pack versions), ``export`` / ``auth`` (Bulk Data),
``generate`` (synthetic panels). ``cli`` is the command line.
"""

from app.cohort.diff import plan_changes  # Spark itself is imported only where a job runs
from app.cohort.errors import ExportFailed
from app.cohort.export import ExportOptions, bulk_export
from app.cohort.plans import plan_of

__all__ = ["ExportFailed", "ExportOptions", "bulk_export", "plan_changes", "plan_of"]
