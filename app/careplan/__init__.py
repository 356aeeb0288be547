"""Plan + clinician edits -> FHIR R4 CarePlan, Goals and Provenance; saving, resuming and approving drafts.

What carepath writes (the contract for integrators; ``carepath plan BUNDLE --as-of DATE --format fhir`` prints it):

- One transaction Bundle: Goals (``lifecycleStatus=proposed``), the CarePlan (``status=draft``,
  ``intent=plan``, US Core category ``assess-plan``) and a Provenance, each a conditional create
  (``ifNoneExist``), so a retry or a double click finds the same draft. Without transaction support the same
  entries go one by one, and what this call created is deleted again if a later one fails.
- ``CarePlan.identifier`` (system ``http://carepath.dev/fhir/careplan-id``) is a hash of the patient, the pack
  versions and the exact versions of every source resource; Goals carry ``.../goal-id`` identifiers derived
  from it; the Provenance carries a ``.../provenance-key`` tag with the same value.
- ``meta.tag`` ``http://carepath.dev/fhir/CodeSystem/origin|carepath`` tells carepath's resources from the
  CarePlans and Goals already in the record (Synthea's, or another system's).
- Every goal and activity carries the extension ``.../StructureDefinition/rationale``: rule id, pack
  ``url|version``, citation (text and URL), the facts used, the rule's text and the exact source versions;
  activities also carry ``.../rationale-item`` (the plan item id) and ``reasonReference`` to the sources.
- Clinician edits are marked with ``.../StructureDefinition/clinician-edit`` (author + what changed); the
  clinician's note is an Annotation with ``authorReference``; the Provenance names the clinician as enterer.
- Editing a saved draft of the same plan: PUTs with ``If-Match`` on the version the clinician's page showed (the
  draft keeps its notes and contributors; a Provenance with activity UPDATE names the clinician). A draft the page
  did not show (someone saved meanwhile) is never overwritten: the clinician is shown who saved it and how it
  differs, with their entries kept (:mod:`app.careplan.saving`).
- Every save and decision stamps the CarePlan with the extension ``.../StructureDefinition/write-request`` (a
  request id, the author, the time; :mod:`app.careplan.marker`). carepath reads the record back after every write
  (:mod:`app.careplan.delivery`): the id tells "this write committed" (its answer lost, or a retry refused because
  the first attempt committed) from another clinician's write; "Saved" is said only when the record holds what
  was submitted.
- Regenerated after new data: the new CarePlan ``replaces`` the open draft, which is ``revoked`` (its proposed
  Goals ``cancelled``) in the same transaction, with ``If-Match``.
- Approval (``If-Match`` on the version reviewed): CarePlan ``active``, Goals ``accepted`` (agreed by the
  clinician; FHIR's ``active`` means being sought, which the approval cannot know), rejected activities
  ``cancelled`` with ``statusReason``, and a Provenance naming the clinician as verifier. Rejecting the whole
  plan: ``revoked`` with the reason in a note and in the Provenance, Goals ``rejected``.
- Goals already in the record (any author; :mod:`app.careplan.existing`) for a measure a carepath goal also sets
  are shown at review and offered at approval: "keep both" (the default) changes nothing; "mark superseded" sets
  that Goal ``lifecycleStatus=cancelled`` with ``statusReason`` ``superseded by carepath plan CarePlan/<id>``
  (If-Match on the version the clinician read) in the approval's transaction, and the verifier Provenance
  targets it. The approval note says which goals were marked and which kept.
"""

from app.careplan.bundle import Replacement, draft_bundle, now_instant
from app.careplan.model import TAG, Edits, PlanEditError, plan_key

__all__ = ["TAG", "Edits", "PlanEditError", "Replacement", "draft_bundle", "now_instant", "plan_key"]
