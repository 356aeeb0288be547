"""Unit normalisation with UCUM codes: every value a rule compares is converted to its key's canonical unit.

Quantities are read by their UCUM code (``valueQuantity.code`` when ``system`` is UCUM, else the ``unit``
text mapped through a short list of common spellings). Concentrations are parsed as UCUM
``<mass or substance>/<volume>`` terms (``mg/dL``, ``g/L``, ``mmol/L``, ``umol/L`` ...) and converted through
the analyte's molar mass when the canonical unit is a mass concentration. Anything else is looked up in
a table of exact UCUM codes per key. An unknown unit is a data-quality problem, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

UCUM = "http://unitsofmeasure.org"

# Molar masses (g/mol) used to turn mmol/L or umol/L into mg/dL. Glucose C6H12O6 180.16; cholesterol
# C27H46O 386.65 (also used for HDL and LDL cholesterol, which are reported as cholesterol content);
# creatinine C4H7N3O 113.12 (so 1 mg/dL = 88.4 umol/L, the factor laboratories publish).
MOLAR_MASS = {"glucose": 180.16, "cholesterol": 386.65, "creatinine": 113.12}

_MASS = {"g": 1.0, "mg": 1e-3, "ug": 1e-6, "ng": 1e-9}
_SUBSTANCE = {"mol": 1.0, "mmol": 1e-3, "umol": 1e-6, "nmol": 1e-9}
_VOLUME = {"L": 1.0, "dL": 0.1, "mL": 1e-3}
_CONCENTRATION = re.compile(r"^(?P<num>[mun]?(?:g|mol))/(?P<den>[dm]?L)$")


def finite_number(raw: Any) -> float | None:
    """``raw`` as a float when it is a JSON number a double holds: None for a boolean, a string, an infinity, NaN
    or an integer beyond 1e308 (valid JSON, and a FHIR decimal, but no measurement)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _hba1c_from_ifcc(mmol_per_mol: float) -> float:
    # IFCC-NGSP master equation: NGSP % = 0.09148 * IFCC mmol/mol + 2.152
    # (Hoelzel W et al., Clin Chem 2004;50:166-174; the equation NGSP publishes for converting results).
    return 0.09148 * mmol_per_mol + 2.152


@dataclass(frozen=True)
class UnitSpec:
    """The canonical unit of a key and the other UCUM codes accepted for it."""

    code: str
    display: str
    analyte: str | None = None
    factors: Mapping[str, float | Callable[[float], float]] | None = None
    unitless: bool = False
    #: Units read as the canonical one, with a data-quality note saying so (what many laboratories send).
    read_as: Mapping[str, str] | None = None


MASS_CONCENTRATION = "mg/dL"
UNITS: dict[str, UnitSpec] = {
    "hba1c": UnitSpec("%", "%", factors={"mmol/mol": _hba1c_from_ifcc}),
    "glucose": UnitSpec(MASS_CONCENTRATION, "mg/dL", analyte="glucose"),
    "total_cholesterol": UnitSpec(MASS_CONCENTRATION, "mg/dL", analyte="cholesterol"),
    "hdl": UnitSpec(MASS_CONCENTRATION, "mg/dL", analyte="cholesterol"),
    "ldl": UnitSpec(MASS_CONCENTRATION, "mg/dL", analyte="cholesterol"),
    "creatinine": UnitSpec(MASS_CONCENTRATION, "mg/dL", analyte="creatinine"),
    "sbp": UnitSpec("mm[Hg]", "mmHg"),
    "dbp": UnitSpec("mm[Hg]", "mmHg"),
    # Many laboratories report eGFR, which equations normalise to 1.73 m2 of body surface, as "mL/min".
    "egfr": UnitSpec("mL/min/{1.73_m2}", "mL/min/1.73m2", factors={"mL/min/1.73.m2": 1.0},
                     read_as={"mL/min": "unit 'mL/min' read as mL/min/1.73m2 (an eGFR is normalised to 1.73 m2; "
                                        "many laboratories omit it)"}),
    # 1 mg/mmol creatinine = 1 mg / 0.11312 g = 8.84 mg/g (creatinine 113.12 g/mol).
    "uacr": UnitSpec("mg/g", "mg/g", factors={"mg/mmol": 1000 / MOLAR_MASS["creatinine"], "ug/mg": 1.0,
                                               "mg/g{creat}": 1.0}),
    "weight": UnitSpec("kg", "kg", factors={"g": 1e-3, "[lb_av]": 0.45359237, "[oz_av]": 0.028349523125}),
    "height": UnitSpec("cm", "cm", factors={"m": 100.0, "mm": 0.1, "[in_i]": 2.54, "[ft_i]": 30.48}),
    "bmi": UnitSpec("kg/m2", "kg/m2"),
    "phq9": UnitSpec("{score}", "score", unitless=True),
    "polyp_size": UnitSpec("mm", "mm", factors={"cm": 10.0}),
}

# Spellings seen in real feeds for the same UCUM unit (unit text, or a code without the UCUM system).
_ALIASES = {
    "mg/dl": "mg/dL", "mmol/l": "mmol/L", "umol/l": "umol/L", "µmol/l": "umol/L", "μmol/l": "umol/L",
    "g/l": "g/L", "mg/l": "mg/L", "mmhg": "mm[Hg]", "mm hg": "mm[Hg]", "lb": "[lb_av]", "lbs": "[lb_av]",
    "[lb_us]": "[lb_av]", "in": "[in_i]", "inch": "[in_i]", "inches": "[in_i]", "[in_us]": "[in_i]",
    "ft": "[ft_i]", "oz": "[oz_av]", "kg/m^2": "kg/m2", "kg/(m2)": "kg/m2", "kg/m²": "kg/m2",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}", "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}", "ml/min/1.73m^2": "mL/min/{1.73_m2}", "mg/mmol": "mg/mmol",
    "mmol/mol": "mmol/mol", "%": "%", "score": "{score}", "{score}": "{score}", "1": "{score}",
}


class UnitError(ValueError):
    """A unit that cannot be converted to the key's canonical unit."""


def ucum_code(quantity: Mapping[str, Any]) -> str | None:
    """The UCUM code of a FHIR Quantity: its code when the system is UCUM, else its unit text normalised."""
    code = quantity.get("code")
    if code and quantity.get("system") in (UCUM, None):
        return _ALIASES.get(str(code).lower(), str(code)) if quantity.get("system") is None else str(code)
    unit = quantity.get("unit")
    if unit is None:
        return None
    return _ALIASES.get(str(unit).strip().lower(), str(unit).strip())


def read_as_note(key: str, unit: str | None) -> str | None:
    """The data-quality note for a unit :func:`to_canonical` reads as the canonical one, else None."""
    spec = UNITS.get(key)
    return (spec.read_as or {}).get(unit or "") if spec else None


def to_canonical(key: str, value: float, unit: str | None) -> float:
    """``value`` in ``unit`` (a UCUM code) expressed in the canonical unit of ``key``; raises UnitError."""
    spec = UNITS.get(key)
    if spec is None:
        return value
    if unit is None or unit == "":
        if spec.unitless:
            return value
        raise UnitError(f"no unit given for {key}")
    if unit == spec.code or (spec.unitless and unit in {"{score}", "1", "{Score}"}):
        return value
    if spec.read_as and unit in spec.read_as:
        return value
    if spec.factors and unit in spec.factors:
        factor = spec.factors[unit]
        return factor(value) if callable(factor) else value * factor
    if spec.code == MASS_CONCENTRATION:
        converted = _concentration_to_mg_dl(value, unit, spec.analyte)
        if converted is not None:
            return converted
    raise UnitError(f"unit {unit!r} unknown")


def _concentration_to_mg_dl(value: float, unit: str, analyte: str | None) -> float | None:
    match = _CONCENTRATION.match(unit)
    if not match:
        return None
    numerator, volume = match["num"], _VOLUME[match["den"]]
    if numerator in _MASS:
        grams_per_litre = value * _MASS[numerator] / volume
    elif analyte in MOLAR_MASS:
        grams_per_litre = value * _SUBSTANCE[numerator] * MOLAR_MASS[analyte] / volume
    else:
        return None
    return grams_per_litre * 1000 / 10  # g/L -> mg/L -> mg/dL
