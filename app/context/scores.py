"""Derived scores: 2013 Pooled Cohort Equations, CKD-EPI 2021 creatinine eGFR, BMI. Pure arithmetic.

Each function takes plain numbers and returns the score, or raises ValueError naming why it does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp, log

PCE_METHOD = "Pooled Cohort Equations (2013)"
CKD_EPI_METHOD = "CKD-EPI 2021 (race-free)"
BMI_METHOD = "weight/height^2"


@dataclass(frozen=True)
class _PceGroup:
    """Coefficients of one sex/race group (Goff DC Jr et al., 2013 ACC/AHA Guideline on the Assessment of
    Cardiovascular Risk, Circulation 2014;129(suppl 2):S49-S73; the coefficients and worked example of Table A)."""

    ln_age: float
    ln_age_sq: float
    ln_tc: float
    ln_age_ln_tc: float
    ln_hdl: float
    ln_age_ln_hdl: float
    ln_treated_sbp: float
    ln_age_ln_treated_sbp: float
    ln_untreated_sbp: float
    ln_age_ln_untreated_sbp: float
    smoker: float
    ln_age_smoker: float
    diabetes: float
    baseline_survival: float
    mean_sum: float


PCE_GROUPS = {
    ("female", "white"): _PceGroup(-29.799, 4.884, 13.540, -3.114, -13.578, 3.149, 2.019, 0.0, 1.957, 0.0,
                                   7.574, -1.665, 0.661, 0.9665, -29.18),
    ("female", "black"): _PceGroup(17.114, 0.0, 0.940, 0.0, -18.920, 4.475, 29.291, -6.432, 27.820, -6.087,
                                   0.691, 0.0, 0.874, 0.9533, 86.61),
    ("male", "white"): _PceGroup(12.344, 0.0, 11.853, -2.664, -7.990, 1.769, 1.797, 0.0, 1.764, 0.0,
                                 7.837, -1.795, 0.658, 0.9144, 61.18),
    ("male", "black"): _PceGroup(2.469, 0.0, 0.302, 0.0, -0.307, 0.0, 1.916, 0.0, 1.809, 0.0,
                                 0.549, 0.0, 0.645, 0.8954, 19.54),
}
# The equations were derived for adults 40-79 years old (Goff 2013); outside that range they do not apply.
PCE_AGES = (40, 79)


def pce_group(sex: str, race: str) -> tuple[str, str]:
    """The coefficient group: African American equations for Black patients, white equations otherwise.

    Goff 2013 (recommendation 1) advises the white equations for patients of other groups, noting they may
    over- or underestimate risk there.
    """
    if sex not in ("female", "male"):
        raise ValueError(f"sex {sex!r}: the equations need female or male")
    return sex, "black" if race == "black" else "white"


def pce_sum(*, age: float, sex: str, race: str, total_cholesterol: float, hdl: float, sbp: float,
            treated: bool, smoker: bool, diabetes: bool) -> float:
    """The individual sum of coefficient x value (Table A's "Individual Sum")."""
    c = PCE_GROUPS[pce_group(sex, race)]
    ln_age, ln_tc, ln_hdl, ln_sbp = log(age), log(total_cholesterol), log(hdl), log(sbp)
    total = (c.ln_age * ln_age + c.ln_age_sq * ln_age**2 + c.ln_tc * ln_tc + c.ln_age_ln_tc * ln_age * ln_tc
             + c.ln_hdl * ln_hdl + c.ln_age_ln_hdl * ln_age * ln_hdl
             + c.smoker * smoker + c.ln_age_smoker * ln_age * smoker + c.diabetes * diabetes)
    if treated:
        total += c.ln_treated_sbp * ln_sbp + c.ln_age_ln_treated_sbp * ln_age * ln_sbp
    else:
        total += c.ln_untreated_sbp * ln_sbp + c.ln_age_ln_untreated_sbp * ln_age * ln_sbp
    return total


def pce_risk(*, age: float, sex: str, race: str, total_cholesterol: float, hdl: float, sbp: float,
             treated: bool, smoker: bool, diabetes: bool) -> float:
    """10-year risk of a first hard ASCVD event, in percent: 1 - S10 ** exp(sum - mean sum)."""
    if not PCE_AGES[0] <= age <= PCE_AGES[1]:
        raise ValueError(f"age {age:g} outside {PCE_AGES[0]}-{PCE_AGES[1]}")
    c = PCE_GROUPS[pce_group(sex, race)]
    total = pce_sum(age=age, sex=sex, race=race, total_cholesterol=total_cholesterol, hdl=hdl, sbp=sbp,
                    treated=treated, smoker=smoker, diabetes=diabetes)
    return 100 * (1 - c.baseline_survival ** exp(total - c.mean_sum))


def ckd_epi_2021(*, creatinine_mg_dl: float, age: float, sex: str) -> float:
    """eGFR in mL/min/1.73m2 by the race-free 2021 CKD-EPI creatinine equation (Inker LA et al., N Engl J
    Med 2021;385:1737-1749): 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age x 1.012 [female],
    k = 0.7 (female) / 0.9 (male), a = -0.241 (female) / -0.302 (male). Adults only (18 and over)."""
    if age < 18:
        raise ValueError(f"age {age:g}: the equation is for adults (18 and over)")
    if sex == "female":
        kappa, alpha, factor = 0.7, -0.241, 1.012
    elif sex == "male":
        kappa, alpha, factor = 0.9, -0.302, 1.0
    else:
        raise ValueError(f"sex {sex!r}: the equation needs female or male")
    ratio = creatinine_mg_dl / kappa
    return 142 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938**age * factor


def bmi(*, weight_kg: float, height_cm: float) -> float:
    """Body mass index in kg/m2."""
    metres = height_cm / 100
    return weight_kg / (metres * metres)
