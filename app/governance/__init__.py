"""Pathway governance: what a proposed pack version changes, its sign-off and lifecycle (issue 25).

``build_report`` compares a proposed pack folder with the current one (rule changes with their citations,
conformance on a test deck, panel impact); ``sign_off`` records reviewers' decisions in the audit log and marks
the version active once enough distinct reviewers have signed; ``check_lifecycle`` keeps a draft out of the
sidebar, CDS Hooks and the cohort unless a setting names it for preview. ``docs/governance.md`` explains them.
"""
