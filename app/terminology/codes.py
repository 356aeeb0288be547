"""Code systems: one spelling per system, and the structure of the ones whose codes say where they sit.

Records name a code system by its canonical URL or by its HL7 OID (``urn:oid:...``), and a few systems have
older URLs. The aliases below are the identifiers the HL7 Terminology (THO) and the VSAC publish for the
same system; they are identities, not clinical content.
"""

from __future__ import annotations

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CVX = "http://hl7.org/fhir/sid/cvx"

#: Other names of the same systems -> the canonical URL used throughout carepath.
_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "http://snomed.info/sct/": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "http://hl7.org/fhir/sid/icd-10-us": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.4": ICD10PCS,
    "https://www.cms.gov/Medicare/Coding/ICD10/index.html": ICD10PCS,
    "http://www.cms.gov/Medicare/Coding/ICD10/index.html": ICD10PCS,
    "urn:oid:2.16.840.1.113883.6.103": ICD9CM,
    "urn:oid:2.16.840.1.113883.6.104": ICD9CM,  # ICD-9-CM volume 3 (procedures): VSAC lists them under ICD9CM
    "http://terminology.hl7.org/CodeSystem/icd9cm": ICD9CM,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.285": HCPCS,
    "urn:oid:2.16.840.1.113883.6.14": HCPCS,
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS,
    "https://www.cms.gov/Medicare/Coding/MedHCPCSGenInfo/index.html": HCPCS,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
}
_ICD10_SYSTEMS = frozenset({ICD10CM, "http://hl7.org/fhir/sid/icd-10"})


def system_of(system: object) -> str | None:
    """The canonical URL of a code system as a record names it (None when it names none)."""
    if not isinstance(system, str) or not system:
        return None
    return _ALIASES.get(system, system)


def code_of(system: str | None, code: object) -> str | None:
    """A code as carepath compares it: ICD-10 upper case with its dot after the category (``e119`` -> ``E11.9``),
    ICD-9-CM upper case without dots; other systems' codes as they are (trimmed). None for anything that is not
    a non-empty string."""
    if not isinstance(code, str):
        return None
    code = code.strip()
    if not code:
        return None
    if system in _ICD10_SYSTEMS:
        code = code.upper().replace(" ", "")
        if "." not in code and len(code) > 3:
            code = f"{code[:3]}.{code[3:]}"
    elif system == ICD9CM:
        # ICD-9-CM puts its dot after 3 characters for diagnoses, 4 for E codes and 2 for procedures, and
        # records often drop it: compared without it.
        code = code.upper().replace(" ", "").replace(".", "")
    return code


def key_of(system: object, code: object) -> tuple[str, str] | None:
    """(canonical system, normalised code), or None when either is missing."""
    canonical = system_of(system)
    normalised = code_of(canonical, code)
    if canonical is None or normalised is None:
        return None
    return canonical, normalised


def ancestors(system: str, code: str) -> tuple[str, ...]:
    """The codes a code is a subdivision of, by the code system's own structure, nearest first.

    ICD-10-CM (and ICD-10) codes are hierarchical by position: ``E10.649`` is a kind of ``E10.64``, ``E10.6``
    and ``E10`` (the category, three characters). Other systems say nothing by their codes' shape: none.
    """
    if system not in _ICD10_SYSTEMS:
        return ()
    bare = code.replace(".", "")
    found = []
    for length in range(len(bare) - 1, 2, -1):
        head = bare[:length]
        found.append(head if length == 3 else f"{head[:3]}.{head[3:]}")
    return tuple(found)
