"""What orders a visit: each rule's strength of recommendation, whether it answers an abnormal result now, and
which results it needs first. Written onto the PlanDefinition actions as extensions (``docs/packs.md``):

- ``strength`` (``scale``: USPSTF | ACC/AHA | ADA | KDIGO, ``grade``): the grade, class or level the rule's own
  cited guideline gives the recommendation. A rule not listed has no recorded strength and is ranked lowest:
  where the cited text gives no grade (practice points, definitions, drug labels, CPIC) or the grade depends on
  more than the rule knows, nothing is recorded rather than a grade invented.
- ``abnormal-now``: the rule answers a result out of range now (a raised blood pressure, an HbA1c above goal).
- ``overdue-now``: the rule's test is overdue whenever it applies (the engine dates other lapses itself).
- ``needs-result`` (fact keys): the action uses a fresh result of these; when the plan also orders that test
  now, the action is scheduled after the result.

Kept apart from the rules so that a change of grade is reviewed as one table; ``python -m app.engine.authoring``
writes them onto the actions.
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import complex_ext, duration, ext

#: rule id -> (scale, grade), with the recommendation that grades it.
STRENGTH: dict[str, tuple[str, str]] = {
    # ADA Standards of Care 2025 (evidence levels A, B, C, E).
    "t2d.hba1c-test-at-goal": ("ADA", "E"),  # §6, Rec 6.1: glycemic status at least twice a year (E)
    "t2d.hba1c-test-not-at-goal": ("ADA", "E"),  # §6, Rec 6.1: at least quarterly when not at goal (E)
    "t2d.hba1c-test-due": ("ADA", "E"),  # §6, Rec 6.1 (E)
    "t2d.kidney-tests": ("ADA", "B"),  # §11, Rec 11.1a: UACR and eGFR at least annually in type 2 (B)
    "t2d.retinal-exam": ("ADA", "B"),  # §12: dilated eye examination, then every 1 to 2 years or yearly (B)
    "t2d.dsmes": ("ADA", "A"),  # §5, Rec 5.1: all people with diabetes should take part in DSMES (A)
    "t2d.cardiorenal-agent": ("ADA", "A"),  # §9 and §10: SGLT2i / GLP-1 RA with ASCVD, HF or CKD (A)
    # 2017 ACC/AHA high blood pressure (class of recommendation I, IIa, IIb).
    "htn.lifestyle": ("ACC/AHA", "I"),  # §6: nonpharmacological interventions (COR I, LOE A)
    "htn.confirm-out-of-office": ("ACC/AHA", "I"),  # §4.2: out-of-office BP to confirm the diagnosis (COR I)
    "htn.second-occasion": ("ACC/AHA", "I"),  # §4.1: average of 2 or more readings on 2 or more occasions (COR I)
    "htn.recheck-elevated": ("ACC/AHA", "I"),  # §8.1.3: repeat BP evaluation within 3 to 6 months (COR I)
    "htn.recheck-stage1-low-risk": ("ACC/AHA", "I"),  # §8.1.3: repeat BP evaluation within 3 to 6 months (COR I)
    "htn.medication-stage1": ("ACC/AHA", "I"),  # §8.1.2: BP-lowering medication, stage 1 and risk 10 % (COR I)
    "htn.medication-stage2": ("ACC/AHA", "I"),  # §8.1.2: BP-lowering medication at 140/90 or more (COR I)
    "htn.recheck-after-start": ("ACC/AHA", "I"),  # §8.1.3: repeat evaluation in 1 month after starting (COR I)
    "htn.treatment-review": ("ACC/AHA", "I"),  # §8.2.1: monthly follow-up until control (COR I)
    # 2018 AHA/ACC blood cholesterol.
    "lipid.secondary-prevention": ("ACC/AHA", "I"),  # §4.1: high-intensity statin, clinical ASCVD to 75 (COR I)
    "lipid.secondary-prevention-over-75": ("ACC/AHA", "IIa"),  # §4.1: older than 75, reasonable (COR IIa)
    "lipid.severe-hypercholesterolemia": ("ACC/AHA", "I"),  # §4.2: LDL-C 190 or more, high-intensity (COR I)
    "lipid.diabetes": ("ACC/AHA", "I"),  # §4.3: diabetes 40 to 75, moderate-intensity statin (COR I)
    "lipid.diabetes-over-75": ("ACC/AHA", "IIb"),  # §4.3: older than 75, after a discussion (COR IIb)
    "lipid.primary-high-risk": ("ACC/AHA", "I"),  # §4.4.2: risk 20 % or more, LDL-C down 50 % (COR I)
    "lipid.primary-intermediate-risk": ("ACC/AHA", "I"),  # §4.4.2: risk 7.5 to 20 %, moderate intensity (COR I)
    "lipid.primary-borderline-risk": ("ACC/AHA", "IIb"),  # §4.4.2: risk 5 to 7.5 %, enhancers (COR IIb)
    "lipid.primary-low-risk": ("ACC/AHA", "I"),  # §4.4.2: risk below 5 %, emphasise lifestyle (COR I)
    # KDIGO 2024 CKD (1 = we recommend, 2 = we suggest; A to D = quality of evidence).
    "ckd.sglt2-inhibitor": ("KDIGO", "1A"),  # Recs 3.7.1 and 3.7.2: T2D and eGFR 20 or more; ACR 200+ or HF (1A)
    # USPSTF (grades A, B, C), as the cited recommendation states them.
    "obesity.behavioral-intervention": ("USPSTF", "B"),  # adults with BMI 30 or higher (B)
    "obesity.measure-bmi": ("USPSTF", "B"),  # the same recommendation: the BMI it is offered on (B)
    "tobacco.ask": ("USPSTF", "A"),  # ask all adults about tobacco use (A)
    "tobacco.counselling": ("USPSTF", "A"),  # behavioral interventions (A)
    "tobacco.pharmacotherapy": ("USPSTF", "A"),  # FDA-approved pharmacotherapy, nonpregnant adults (A)
    "depression.screening": ("USPSTF", "B"),  # adults (B, 2023)
    "depression.screening-adolescent": ("USPSTF", "B"),  # adolescents 12 to 18 (B, 2022)
    # A for 50 to 75, B for 45 to 49: the lower grade, so no patient's action is ranked above its evidence.
    "screen.colorectal": ("USPSTF", "B"),
    "screen.breast": ("USPSTF", "B"),  # biennial mammography, women 40 to 74 (B)
    "screen.cervical": ("USPSTF", "A"),  # ages 21 to 65 (A)
    "screen.lung": ("USPSTF", "B"),  # adults 50 to 80, 20 pack-years (B)
    "screen.hepatitis-c": ("USPSTF", "B"),  # adults 18 to 79 (B)
}

#: Rules that answer a result out of range now (the second rank of a visit, after safety).
ABNORMAL_NOW = frozenset({
    "htn.medication-stage1", "htn.medication-stage2", "htn.treatment-review", "htn.second-occasion",
    "htn.confirm-out-of-office", "t2d.hba1c-test-not-at-goal", "ckd.confirm", "ckd.nephrology-referral",
    "lipid.severe-hypercholesterolemia", "depression.follow-up",
})

#: Rules whose test or measurement is overdue whenever they apply (ranked with the abnormal ones): ADA 2025
#: Rec 6.1 (HbA1c at least twice a year; none within the look-back) and 2017 ACC/AHA §8.2.1 (no blood pressure
#: in 12 months on treatment or with hypertension).
OVERDUE_NOW = frozenset({"t2d.hba1c-test-due", "htn.measure-bp"})

#: rule id -> fact keys whose fresh result the action needs (KDIGO 2024 §3.7 and FDA labelling start or
#: review these drugs by eGFR; ADA 2025 §9 chooses the cardiorenal agent by eGFR and albuminuria).
NEEDS_RESULT: dict[str, tuple[str, ...]] = {
    "t2d.cardiorenal-agent": ("egfr", "uacr"),
    "ckd.sglt2-inhibitor": ("egfr",),
    "ckd.ras-inhibitor": ("egfr", "creatinine"),
    "ckd.metformin-review": ("egfr",),
    "ckd.nephrology-referral": ("egfr", "uacr"),
}


def with_priorities(plan_definition: dict[str, Any]) -> dict[str, Any]:
    """The PlanDefinition with each listed action's ``strength``, ``abnormal-now``, ``overdue-now`` and
    ``needs-result``."""
    for group in plan_definition.get("action", []):
        for action in group.get("action", []):
            rule_id = action.get("id", "")
            extension = action.setdefault("extension", [])
            if rule_id in STRENGTH:
                scale, grade = STRENGTH[rule_id]
                extension.append(complex_ext("strength", [("scale", "valueCode", scale),
                                                          ("grade", "valueCode", grade)]))
            if rule_id in ABNORMAL_NOW:
                extension.append(ext("abnormal-now", valueBoolean=True))
            if rule_id in OVERDUE_NOW:
                extension.append(ext("overdue-now", valueBoolean=True))
            extension.extend(ext("needs-result", valueCode=key) for key in NEEDS_RESULT.get(rule_id, ()))
    return plan_definition


#: How many actions one visit holds, and how close lab orders must fall to be one blood draw: the pack's
#: settings, on its Library (``visit-size``, ``blood-draw-window``).
VISIT_SIZE = 5
BLOOD_DRAW_WINDOW = (1, "mo")


def with_visit_settings(library: dict[str, Any]) -> dict[str, Any]:
    """The Library with the pack's visit settings."""
    library.setdefault("extension", []).extend([
        ext("visit-size", valueInteger=VISIT_SIZE),
        ext("blood-draw-window", valueDuration=duration(*BLOOD_DRAW_WINDOW)),
    ])
    return library
