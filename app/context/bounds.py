"""Physiological bounds: values outside them are flagged "implausible, please verify" and not used.

These are data-quality guards, not clinical rules: they catch unit slips (a weight typed in grams, a
creatinine in umol/L labelled mg/dL) and typing errors, and stay far outside anything a living patient
shows so that no real value is ever dropped. Each bound is the widest documented extreme, rounded outward:

- weight 0.2-700 kg, height 20-280 cm: smallest surviving newborns (~0.25 kg, ~24 cm) and the heaviest
  (~635 kg) and tallest (272 cm) people on record (Guinness World Records).
- BMI 5-250 kg/m2: follows from the weight and height limits for adults and children.
- SBP 30-350, DBP 10-250 mmHg: below 30 systolic no pulse is measured by cuff; 370/360 mmHg is the highest
  pressure reported in humans (MacDougall et al., J Appl Physiol 1985, during maximal leg press), rounded down
  so that such a recording is still flagged for a cuff reading.
- HbA1c 2-25 %: outside the reportable range of NGSP-certified methods.
- glucose 5-3000 mg/dL: the highest reported survival is ~2650 mg/dL (case literature).
- total cholesterol 20-3000, LDL 1-2500, HDL 1-300 mg/dL: homozygous familial hypercholesterolaemia and
  cholestatic lipoprotein X reach ~1000-2000 mg/dL; HDL above 300 has not been reported.
- creatinine 0.05-40 mg/dL; eGFR 1-300 mL/min/1.73m2; UACR 0-50000 mg/g (nephrotic range tops ~30000).
- PHQ-9 0-27: the instrument's own scale (Kroenke et al., J Gen Intern Med 2001).
- PHQ-2 0-6: the instrument's own scale (Kroenke et al., Med Care 2003;41:1284-1292).

A value outside its bound is not used for goals, staging or scores; it is named in ``dataQuality`` as
"implausible, please verify" with its record, and when it is the latest result of its key the plan asks for it
to be verified and measured again.
"""

from __future__ import annotations

BOUNDS: dict[str, tuple[float, float]] = {
    "weight": (0.2, 700.0),
    "height": (20.0, 280.0),
    "bmi": (5.0, 250.0),
    "sbp": (30.0, 350.0),
    "dbp": (10.0, 250.0),
    "hba1c": (2.0, 25.0),
    "glucose": (5.0, 3000.0),
    "total_cholesterol": (20.0, 3000.0),
    "ldl": (1.0, 2500.0),
    "hdl": (1.0, 300.0),
    "creatinine": (0.05, 40.0),
    "egfr": (1.0, 300.0),
    "uacr": (0.0, 50000.0),
    "phq9": (0.0, 27.0),
    "phq2": (0.0, 6.0),
}


def implausible(key: str, value: float) -> str | None:
    """A sentence naming the bound ``value`` breaks, or None when it is plausible (or the key has none)."""
    bounds = BOUNDS.get(key)
    if bounds is None:
        return None
    low, high = bounds
    if value < low or value > high:
        return f"implausible, please verify: outside {low:g}-{high:g}; not used"
    return None
