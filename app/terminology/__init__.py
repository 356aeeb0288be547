"""Terminology: value sets (from a pack's files or a FHIR terminology server), membership tests with the code
systems' structure, and medicines recognised by ingredient (docs/facts.md, "Recognition")."""

from app.terminology.codes import code_of, key_of, system_of
from app.terminology.resolve import resolve_value_sets
from app.terminology.server import TerminologyServer
from app.terminology.valuesets import Concept, ValueSet, from_resource

__all__ = ["Concept", "TerminologyServer", "ValueSet", "code_of", "from_resource", "key_of", "resolve_value_sets",
           "system_of"]
