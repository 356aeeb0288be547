"""Obesity, tobacco, depression, cancer and hepatitis C screening (USPSTF), pharmacogenomics (CPIC)."""

from __future__ import annotations

from typing import Any

from app.engine.authoring import guideline, plan_definition, rule
from app.engine.authoring.consequences import (
    AGE,
    COMFORT,
    FRAIL,
    FRAILTY_INPUTS,
    FRAILTY_SHOWN,
    HOSPICE,
    HOSPICE_INPUTS,
)

FEMALE = "%facts.patient.sex = 'female'"
PREGNANT = "%facts.conditions.pregnancy.exists()"
PALLIATIVE = (HOSPICE, "palliative or hospice care recorded: screening not proposed")
PALLIATIVE_INPUTS = HOSPICE_INPUTS
USPSTF = "https://www.uspreventiveservicestaskforce.org/uspstf/recommendation/"

OBESITY = guideline("USPSTF-OBESITY-2018", "USPSTF: Weight Loss to Prevent Obesity-Related Morbidity and "
                    "Mortality in Adults: Behavioral Interventions", "2018",
                    USPSTF + "obesity-in-adults-interventions")
WHO_BMI = guideline("WHO-BMI-2000", "WHO: Obesity: preventing and managing the global epidemic. Report of a WHO "
                    "consultation (WHO Technical Report Series 894)", "2000", "https://iris.who.int/handle/10665/42330")
TOBACCO = guideline("USPSTF-TOBACCO-2021", "USPSTF: Tobacco Smoking Cessation in Adults, Including Pregnant "
                    "Persons: Interventions", "2021",
                    USPSTF + "tobacco-use-in-adults-and-pregnant-women-counseling-and-interventions")
DEPRESSION = guideline("USPSTF-DEPRESSION-2023", "USPSTF: Screening for Depression and Suicide Risk in Adults",
                       "2023", USPSTF + "screening-depression-suicide-risk-adults")
DEPRESSION_YOUTH = guideline("USPSTF-DEPRESSION-YOUTH-2022", "USPSTF: Depression and Suicide Risk in Children and "
                             "Adolescents: Screening", "2022",
                             USPSTF + "screening-depression-suicide-risk-children-adolescents")
PHQ9 = guideline("PHQ9-2001", "Kroenke K, Spitzer RL, Williams JB. The PHQ-9: validity of a brief depression "
                 "severity measure. J Gen Intern Med 2001;16(9):606-613", "2001",
                 "https://doi.org/10.1046/j.1525-1497.2001.016009606.x")
COLORECTAL = guideline("USPSTF-CRC-2021", "USPSTF: Colorectal Cancer: Screening", "2021",
                       USPSTF + "colorectal-cancer-screening")
BREAST = guideline("USPSTF-BREAST-2024", "USPSTF: Breast Cancer: Screening", "2024",
                   USPSTF + "breast-cancer-screening")
CERVICAL = guideline("USPSTF-CERVICAL-2018", "USPSTF: Cervical Cancer: Screening", "2018",
                     USPSTF + "cervical-cancer-screening")
USMSTF = guideline("USMSTF-POLYP-2020", "Gupta S et al. Recommendations for Follow-Up After Colonoscopy and "
                   "Polypectomy: A Consensus Update by the US Multi-Society Task Force on Colorectal Cancer. "
                   "Gastroenterology 2020;158(4):1131-1153", "2020", "https://doi.org/10.1053/j.gastro.2019.10.026")
#: Colorectal polyp histology in the three groups of USMSTF 2020 Table 3 (library.POLYP_HISTOLOGY), from a Condition
#: or a pathology report's conclusion; the largest polyp's size (measures.polyp_size, mm).
POLYP_HISTOLOGY = ("polyp_advanced_histology", "polyp_adenoma_or_serrated", "polyp_hyperplastic")
POLYP_FINDINGS = [f"{section}.{key}" for key in POLYP_HISTOLOGY for section in ("conditions", "procedures")] + [
    "measures.polyp_size"]
POLYPS = " or ".join(["%facts.conditions.colorectal_polyp.exists()", "%facts.procedures.polypectomy.exists()",
                      *(f"%facts.{path}.exists()" for path in POLYP_FINDINGS)])
_SHOWN = ["conditions.colorectal_polyp", "procedures.polypectomy", *POLYP_FINDINGS[:-1]]
POLYPS_SHOWN = ("{{" + " | ".join(f"%facts.{path}.display" for path in _SHOWN) + " ?? polyp size recorded}}, {{"
                + " | ".join(f"%facts.{path}.{'onset' if path.startswith('conditions') else 'date'}" for path in _SHOWN)
                + " | %facts.measures.polyp_size.date}}")


def _at_last_colonoscopy(key: str) -> str:
    """True when a histology of ``key`` is recorded on or after the last colonoscopy (app.context.derived)."""
    return f"(true in (%facts.conditions.{key}.atLastColonoscopy | %facts.procedures.{key}.atLastColonoscopy))"


ADVANCED = _at_last_colonoscopy("polyp_advanced_histology")
ADENOMA = _at_last_colonoscopy("polyp_adenoma_or_serrated")
HYPERPLASTIC = _at_last_colonoscopy("polyp_hyperplastic")
LARGEST = "%facts.measures.polyp_size.largestAtLastColonoscopy"
#: USMSTF 2020 Table 3: a polyp of 10 mm or more (adenoma or sessile serrated polyp: 3 years; hyperplastic: 3 to 5).
LARGE = f"iif({LARGEST} >= 10, true, false)"
#: USMSTF 2020 Table 3: piecemeal resection of an adenoma or sessile serrated polyp of 20 mm or more: 6 months.
PIECEMEAL_SIZE = f"iif({LARGEST} >= 20, true, false)"
#: The findings of the last colonoscopy that meet a 3-year row of USMSTF 2020 Table 3 by themselves: tubulovillous
#: or villous adenoma, sessile serrated polyp with dysplasia, traditional serrated adenoma; or a polyp of 10 mm or
#: more with adenoma, serrated or hyperplastic histology (hyperplastic: 3 to 5 years, the shorter proposed).
POLYP_3_YEARS = f"{ADVANCED} or ({LARGE} and ({ADENOMA} or {HYPERPLASTIC}))"
POLYP_INPUTS = ["conditions.colorectal_polyp", "procedures.polypectomy", "procedures.colonoscopy", *POLYP_FINDINGS,
                "conditions.colorectal_cancer", "procedures.total_colectomy", *HOSPICE_INPUTS]
POLYP_EVIDENCE = ("procedures.colonoscopy", "procedures.polypectomy", *POLYP_FINDINGS)
POLYP_EXCLUSIONS = (PALLIATIVE,
                    ("%facts.conditions.colorectal_cancer.exists()", "colorectal cancer recorded "
                     "({{%facts.conditions.colorectal_cancer.display}}): surveillance by the treating team's "
                     "schedule"),
                    ("%facts.procedures.total_colectomy.exists()", "total colectomy recorded "
                     "({{%facts.procedures.total_colectomy.date}})"))
ACP_CRC = guideline("ACP-CRC-2023", "Qaseem A et al. Screening for Colorectal Cancer in Asymptomatic Average-Risk "
                    "Adults: A Guidance Statement From the American College of Physicians (Version 2). Ann Intern Med "
                    "2023;176:1092-1100", "2023", "https://doi.org/10.7326/M23-0779")
ACP_BREAST = guideline("ACP-BREAST-2019", "Qaseem A et al. Screening for Breast Cancer in Average-Risk Women: A "
                       "Guidance Statement From the American College of Physicians. Ann Intern Med 2019;170:547-560",
                       "2019", "https://doi.org/10.7326/M18-2147")
LUNG = guideline("USPSTF-LUNG-2021", "USPSTF: Lung Cancer: Screening", "2021", USPSTF + "lung-cancer-screening")
HCV = guideline("USPSTF-HCV-2020", "USPSTF: Hepatitis C Virus Infection in Adolescents and Adults: Screening",
                "2020", USPSTF + "hepatitis-c-screening")
CPIC_CLOPIDOGREL = guideline("CPIC-CYP2C19-2022", "CPIC Guideline for CYP2C19 Genotype and Clopidogrel Therapy: "
                             "2022 Update (Clin Pharmacol Ther 2022;112(5):959-967)", "2022",
                             "https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/")
CPIC_STATIN = guideline("CPIC-SLCO1B1-2022", "CPIC Guideline for SLCO1B1, ABCG2, and CYP2C9 Genotypes and "
                        "Statin-Associated Musculoskeletal Symptoms (Clin Pharmacol Ther 2022;111(5):1007-1021)",
                        "2022", "https://cpicpgx.org/guidelines/cpic-guideline-for-statins/")


#: Weight-loss programmes aim at obesity-related morbidity and mortality (USPSTF 2018): in palliative or hospice
#: care comfort comes first (ADA 2025 §13, end-of-life care).
OBESITY_IN_HOSPICE = (HOSPICE, f"{COMFORT}: a weight-loss programme, aimed at obesity-related morbidity and mortality "
                               "(USPSTF 2018), is not proposed")


def obesity() -> dict[str, Any]:
    """Obesity (USPSTF 2018): BMI 30 or more -> intensive behavioural intervention; a BMI below 18.5 (WHO 2000,
    underweight) -> assessment, the clinician's choice."""
    return plan_definition(
        "obesity", "Obesity", guidelines=[OBESITY, WHO_BMI], when=f"{AGE} >= 18", ages=(18, None),
        description="Adults with a BMI of 30 kg/m2 or more: offer or refer to intensive, multicomponent "
                    "behavioral interventions (USPSTF 2018, B). A BMI below 18.5 kg/m2 (underweight, WHO 2000) "
                    "without a follow-up plan: an assessment, as the clinician's choice.",
        rules=[rule("obesity.behavioral-intervention", "Intensive behavioral weight-loss intervention",
                    when=["%facts.scores.bmi.value >= 30"], activity="weight-behavioral-intervention",
                    inputs=["scores.bmi", "measures.weight", "not_done.weight_intervention", *HOSPICE_INPUTS],
                    evidence=("not_done.weight_intervention", *HOSPICE_INPUTS),
                    cite=[("USPSTF-OBESITY-2018", "Recommendation (B): adults with BMI 30 or higher")],
                    exclusions=((PREGNANT, "pregnancy: this recommendation covers nonpregnant adults"),
                                OBESITY_IN_HOSPICE),
                    choice=("a decision not to do a weight follow-up is recorded ({{%facts.not_done.weight_intervention"
                            ".date}}[[: {{%facts.not_done.weight_intervention.reasons.display}}]]): whether to offer "
                            "the programme now is the clinician's decision.",
                            "%facts.not_done.weight_intervention.exists()"),
                    text="BMI {{%facts.scores.bmi.value :: .1f}} kg/m² (30 or more): offer or refer to an "
                         "intensive, multicomponent behavioral intervention."),
               rule("obesity.low-bmi", "Assess a low BMI (below 18.5 kg/m2)",
                    when=["%facts.scores.bmi.value < 18.5"], activity="underweight-assessment",
                    inputs=["scores.bmi", "measures.weight", "procedures.underweight_follow_up",
                            "medications.underweight_medication", "not_done.underweight_follow_up", *HOSPICE_INPUTS],
                    evidence=("not_done.underweight_follow_up", *HOSPICE_INPUTS),
                    cite=[("WHO-BMI-2000", "Table 2.1, classification of adults according to BMI (underweight: "
                                           "below 18.50 kg/m2)")],
                    satisfied_by=(("procedures.underweight_follow_up", 12, "mo", "Follow-up for a low BMI"),),
                    exclusions=((PREGNANT, "pregnancy: the BMI classification is for nonpregnant adults"),
                                (HOSPICE, f"{COMFORT}: weight is followed in the palliative plan"),
                                ("%facts.medications.underweight_medication.exists()", "a medicine for a low BMI is "
                                 "prescribed ({{%facts.medications.underweight_medication.display}}): the follow-up "
                                 "is under way")),
                    choice=["WHO 2000 classifies a BMI below 18.5 kg/m2 as underweight but no guideline this pack "
                            "follows sets the follow-up: what to assess and when is the clinician's decision.",
                            ("a decision not to follow up the low BMI is recorded ({{%facts.not_done."
                             "underweight_follow_up.date}}[[: {{%facts.not_done.underweight_follow_up.reasons"
                             ".display}}]]).", "%facts.not_done.underweight_follow_up.exists()")],
                    text="BMI {{%facts.scores.bmi.value :: .1f}} kg/m2 (below 18.5, underweight by the WHO 2000 "
                         "classification) and no follow-up for it in the last 12 months: assess the cause and agree "
                         "a follow-up plan."),
               rule("obesity.measure-bmi", "Measure weight and height (no BMI in the last 12 months)",
                    when=["%facts.scores.bmi.empty()"], activity="bmi-measurement",
                    inputs=["scores.bmi", "measures.weight", "measures.height", "not_done.bmi", *HOSPICE_INPUTS],
                    evidence=("measures.weight", "measures.height", "not_done.bmi", *HOSPICE_INPUTS),
                    cite=[("USPSTF-OBESITY-2018", "Recommendation (B): adults with BMI 30 or higher")],
                    exclusions=((PREGNANT, "pregnancy: this recommendation covers nonpregnant adults"),
                                OBESITY_IN_HOSPICE),
                    choice=["USPSTF 2018 sets no interval for measuring BMI; the 12-month look-back is this pack's "
                            "local policy, not a guideline threshold.",
                            ("not measured on {{%facts.not_done.bmi.date}}"
                             "[[ ({{%facts.not_done.bmi.reasons.display}})]]: "
                             "whether to measure it now is the clinician's decision.", "%facts.not_done.bmi.exists()")],
                    text="No BMI (nor a recent weight and height) in the last 12 months: the recommendation finds "
                         "the adults it is for by a BMI of 30 or more, so weight and height are measured.")],
    )


# A status older than the smoking look-back (12 months, this pack's data-freshness policy) counts as absent: it is
# shown, and the question is asked again.
RECENT_STATUS = "%facts.smoking.withinLookback = true"
CURRENT = f"%facts.smoking.status = 'current' and {RECENT_STATUS}"


def tobacco() -> dict[str, Any]:
    """Tobacco (USPSTF 2021): ask, advise, behavioral support, pharmacotherapy (not in pregnancy)."""
    section = ("USPSTF-TOBACCO-2021", "Recommendation (A): nonpregnant adults who use tobacco")
    return plan_definition(
        "tobacco", "Tobacco use", guidelines=[TOBACCO], when=f"{AGE} >= 18", ages=(18, None),
        description="Ask all adults about tobacco use; advise to stop; behavioral interventions; FDA-approved "
                    "pharmacotherapy for nonpregnant adults (USPSTF 2021).",
        rules=[
            rule("tobacco.ask", "Ask about tobacco use",
                 when=["%facts.smoking.status.empty() or %facts.smoking.status = 'unknown' or "
                       "%facts.smoking.withinLookback != true"],
                 activity="tobacco-ask", inputs=["smoking"], cite=[section],
                 text="[[Latest smoking status: {{%facts.smoking.status}} on {{%facts.smoking.date}}. || No smoking "
                      "status recorded.]] A status recorded more than 12 months ago counts as not known (shown, not "
                      "used). USPSTF 2021 asks all adults about tobacco use: ask, and advise and "
                      "support those who smoke."),
            rule("tobacco.counselling", "Advice to quit and behavioral support",
                 when=[CURRENT], activity="tobacco-counselling", inputs=["smoking"],
                 cite=[section, ("USPSTF-TOBACCO-2021", "Recommendation (A): pregnant persons (behavioral "
                                                        "interventions)")],
                 text="Current smoker ({{%facts.smoking.date}}): advise to stop and provide behavioral "
                      "interventions."),
            rule("tobacco.pharmacotherapy", "Cessation pharmacotherapy",
                 when=[CURRENT], activity="tobacco-pharmacotherapy",
                 inputs=["smoking", "medications.cessation_medication"], cite=[section],
                 exclusions=(("%facts.medications.cessation_medication.exists()", "already on "
                              "{{%facts.medications.cessation_medication.display}}"),),
                 contraindications=((PREGNANT, "pregnancy: evidence on cessation pharmacotherapy in pregnancy "
                                               "is insufficient (USPSTF 2021, I statement)", "moderate", None,
                                     "Weigh cessation medicines in pregnancy: evidence is insufficient (USPSTF I)"),),
                 choice="nicotine replacement, bupropion SR or varenicline, chosen with the patient.",
                 text="Current smoker: FDA-approved pharmacotherapy alongside behavioral support."),
        ],
    )


def depression() -> dict[str, Any]:
    """Depression (USPSTF 2022 screening of adolescents 12 to 18, USPSTF 2023 of adults; an adult's PHQ-9 of 10
    or more -> further assessment)."""
    return plan_definition(
        "depression", "Depression", guidelines=[DEPRESSION, DEPRESSION_YOUTH, PHQ9], when=f"{AGE} >= 12",
        ages=(12, None),
        description="Screen adolescents from 12 (USPSTF 2022, B) and adults (USPSTF 2023, B) for depression; an "
                    "adult's PHQ-9 of 10 or more calls for further assessment (Kroenke 2001).",
        rules=[
            # The PHQ-9 cut-off of 10 was validated in adults (Kroenke 2001); an adolescent's positive screen is
            # followed up by the clinician who reads the adolescent instrument.
            rule("depression.follow-up", "Further assessment for depression (PHQ-9 10 or more)", ages=(18, None),
                 when=["%facts.measures.phq9.value >= 10", "%facts.measures.phq9.withinLookback = true"],
                 activity="depression-assessment", inputs=["measures.phq9", "conditions.depression"],
                 cite=[("PHQ9-2001", "PHQ-9 score of 10 or more (moderate or worse; cut-off validated)"),
                       ("USPSTF-DEPRESSION-2023", "Practice considerations: positive screening results")],
                 text="PHQ-9 {{%facts.measures.phq9.value}} (10 or more) on {{%facts.measures.phq9.date}}: "
                      "further diagnostic assessment and follow-up."),
            *(_depression_screening(rule_id, ages, instrument, reason, cite, interval)
              for rule_id, ages, instrument, reason, cite, interval in DEPRESSION_SCREENINGS),
        ],
    )


#: The depression screening rule for each population, each citing its own USPSTF recommendation (a child's plan
#: cites the recommendation for children and adolescents only): (rule id, ages, title, bipolar-exclusion words,
#: citation, interval words).
DEPRESSION_SCREENINGS = [
    ("depression.screening", (18, None), "Depression screening (PHQ)", "asymptomatic adults (2023)",
     ("USPSTF-DEPRESSION-2023", "Recommendation (B): screening for depression in adults"), "USPSTF 2023 sets"),
    ("depression.screening-adolescent", (12, 17), "Depression screening (12 to 17)",
     "asymptomatic adolescents (2022)",
     ("USPSTF-DEPRESSION-YOUTH-2022", "Recommendation (B): screening for major depressive disorder in adolescents "
                                      "aged 12 to 18 years"), "USPSTF 2022 sets"),
]


def _depression_screening(rule_id: str, ages: tuple[int, int | None], title: str, whom: str,
                          cite: tuple[str, str], interval: str) -> dict[str, Any]:
    """Depression screening for one population (USPSTF 2023 adults, USPSTF 2022 adolescents 12 to 18)."""
    return rule(rule_id, title, ages=ages,
                when=["%facts.conditions.depression.empty()"],
                activity="depression-screening" if ages[0] >= 18 else "adolescent-depression-screening",
                inputs=["measures.phq9", "measures.phq2", "procedures.depression_screening",
                        "conditions.bipolar_disorder", "not_done.depression_screening"],
                evidence=("not_done.depression_screening",),
                exclusions=(("%facts.conditions.bipolar_disorder.exists()", "bipolar disorder recorded "
                             "({{%facts.conditions.bipolar_disorder.display}}): USPSTF screening is for " + whom +
                             "; mood symptoms are followed in the care of the recorded disorder"),),
                cite=[cite],
                satisfied_by=(("measures.phq9", 12, "mo", "PHQ-9"), ("measures.phq2", 12, "mo", "PHQ-2"),
                              ("procedures.depression_screening", 12, "mo", "Depression screening")),
                choice=[interval + " no screening interval; the 12-month look-back is this pack's local policy, not "
                        "a guideline threshold.",
                        ("not done on {{%facts.not_done.depression_screening.date}}[[ "
                         "({{%facts.not_done.depression_screening.reasons.display}})]]: whether to screen now is "
                         "the clinician's decision.", "%facts.not_done.depression_screening.exists()")],
                text="No depression screening result in the last 12 months.")


def screening() -> dict[str, Any]:
    """Preventive screening (USPSTF): colorectal, breast, cervical, lung, hepatitis C."""
    return plan_definition(
        "preventive-screening", "Preventive screening",
        guidelines=[COLORECTAL, ACP_CRC, USMSTF, BREAST, ACP_BREAST, CERVICAL, LUNG, HCV], when=f"{AGE} >= 18",
        ages=(18, None),
        description="Cancer and hepatitis C screening for adults by age, sex and risk, with test-specific "
                    "intervals and the recognised exclusions (USPSTF).",
        rules=[
            rule("screen.colorectal", "Colorectal cancer screening (45 to 75)", ages=(45, 75),
                 when=[f"{AGE} >= 45 and {AGE} <= 75"], activity="colorectal-screening",
                 inputs=["procedures.colonoscopy", "procedures.ct_colonography",
                         "procedures.flexible_sigmoidoscopy", "measures.fit", "procedures.stool_blood_test",
                         "measures.fit_dna", "conditions.colorectal_cancer", "procedures.total_colectomy",
                         "conditions.colorectal_polyp", "procedures.polypectomy", *POLYP_FINDINGS, *PALLIATIVE_INPUTS,
                         *FRAILTY_INPUTS],
                 evidence=(*FRAILTY_INPUTS, *POLYP_FINDINGS),
                 cite=[("USPSTF-CRC-2021", "Recommendations: ages 50 to 75 (A) and 45 to 49 (B); screening "
                                           "strategies and intervals"),
                       ("ACP-CRC-2023", "Guidance statement 4: discontinue screening in adults older than 75 or "
                                        "with a life expectancy of 10 years or less")],
                 exclusions=(PALLIATIVE,
                             ("%facts.conditions.colorectal_cancer.exists()", "colorectal cancer recorded, "
                              "current or past ({{%facts.conditions.colorectal_cancer.display}}, "
                              "{{%facts.conditions.colorectal_cancer.status}}): post-cancer surveillance by the "
                              "treating team's schedule, not average-risk screening (USPSTF 2021 applies to "
                              "average-risk adults without a history of colorectal cancer)"),
                             ("%facts.procedures.total_colectomy.exists()", "total colectomy recorded "
                              "({{%facts.procedures.total_colectomy.date}})"),
                             (POLYPS, f"colorectal polyps recorded ({POLYPS_SHOWN}): surveillance after polypectomy "
                                      "at the interval the findings set (USMSTF 2020), not average-risk screening "
                                      "and not its 10-year colonoscopy interval")),
                 satisfied_by=(("procedures.colonoscopy", 10, "a", "Colonoscopy"),
                               ("procedures.ct_colonography", 5, "a", "CT colonography"),
                               ("procedures.flexible_sigmoidoscopy", 5, "a", "Flexible sigmoidoscopy"),
                               ("measures.fit_dna", 3, "a", "sDNA-FIT (every 1 to 3 years)"),
                               ("measures.fit", 1, "a", "Stool blood test (FIT or guaiac FOBT)"),
                               ("procedures.stool_blood_test", 1, "a", "Fecal occult blood test")),
                 choice=["test chosen with the patient: colonoscopy every 10 years, CT colonography or flexible "
                         "sigmoidoscopy every 5 years, sDNA-FIT every 1 to 3 years, FIT or high-sensitivity "
                         "gFOBT every year.",
                         (f"frailty or advanced illness recorded ({FRAILTY_SHOWN}): ACP 2023 guidance advises stopping "
                          "screening when life expectancy is 10 years or less; whether to screen is the "
                          "clinician's decision with the patient.", FRAIL)],
                 text="Age {{%facts.patient.ageYears}}: colorectal cancer screening, no test within its "
                      "interval on record."),
            rule("screen.polyp-surveillance-3y", "Surveillance colonoscopy 3 years after the last one (polyp findings)",
                 when=[POLYPS, POLYP_3_YEARS], activity="polyp-surveillance",
                 schedule_from=(("procedures.colonoscopy",), 3, "a"), inputs=POLYP_INPUTS, evidence=POLYP_EVIDENCE,
                 cite=[("USMSTF-POLYP-2020", "Table 3: 3 years after an adenoma of 10 mm or more, a tubulovillous or "
                                             "villous adenoma, a sessile serrated polyp of 10 mm or more or with "
                                             "dysplasia, a traditional serrated adenoma; 3 to 5 years after a "
                                             "hyperplastic polyp of 10 mm or more"),
                       ("USMSTF-POLYP-2020", "Table 3: more than 10 adenomas, 1 year; piecemeal resection of an "
                                             "adenoma or sessile serrated polyp of 20 mm or more, 6 months")],
                 exclusions=POLYP_EXCLUSIONS,
                 choice=["USMSTF 2020 Table 3 sets a shorter interval after more than 10 adenomas at one "
                         "examination (1 year) or the piecemeal resection of an adenoma or sessile serrated polyp of "
                         "20 mm or more (6 months): the number of polyps and the resection technique are not in the "
                         "record carepath reads, so whether either applies is read from the colonoscopy report.",
                         ("a hyperplastic polyp is recorded: if it is the polyp of 10 mm or more, Table 3 gives 3 to "
                          "5 years; 3 years, the shorter, is proposed.", f"{HYPERPLASTIC} and {ADVANCED}.not()"),
                         ("a polyp of {{%facts.measures.polyp_size.largestAtLastColonoscopy}} mm is recorded: if it "
                          "was removed piecemeal, Table 3 sets 6 months.", PIECEMEAL_SIZE)],
                 text="For adults with colorectal polyps found at colonoscopy (USMSTF 2020). Last colonoscopy "
                      "{{%facts.procedures.colonoscopy.date}}; its findings in the record: "
                      "{{%facts.procedures.colonoscopy.polypFindings}}. USMSTF 2020 Table 3 sets 3 years after an "
                      "adenoma of 10 mm or more, a tubulovillous or villous adenoma, a sessile serrated polyp of 10 "
                      "mm or more or with dysplasia, or a traditional serrated adenoma: surveillance colonoscopy 3 "
                      "years after the last one. Not in the record: "
                      "{{%facts.procedures.colonoscopy.polypFindingsMissing}}.[[ Recorded before the last "
                      "colonoscopy, not used: {{%facts.procedures.colonoscopy.polypFindingsBefore}}.]]"),
            rule("screen.polyp-surveillance", "Surveillance colonoscopy after polyps (interval from the last report)",
                 when=[POLYPS, f"({POLYP_3_YEARS}).not()"], activity="polyp-surveillance",
                 inputs=POLYP_INPUTS, evidence=POLYP_EVIDENCE,
                 cite=[("USMSTF-POLYP-2020", "Recommendations for follow-up after colonoscopy with polypectomy: "
                                             "intervals by the number, size and histology of the polyps removed "
                                             "(Table 3)")],
                 exclusions=POLYP_EXCLUSIONS,
                 choice=[("surveillance interval to be set from the last colonoscopy and pathology report: the "
                          "findings USMSTF 2020 grades them by (number, size, histology) are not in the record "
                          "carepath reads.", "%facts.procedures.colonoscopy.polypFindings.empty()"),
                         ("surveillance interval to be set from the last colonoscopy and pathology report: the "
                          "findings in the record ({{%facts.procedures.colonoscopy.polypFindings}}) do not decide the "
                          "USMSTF 2020 interval without {{%facts.procedures.colonoscopy.polypFindingsMissing}} "
                          "(Table 3: 1 to 2 tubular adenomas under 10 mm, 7 to 10 years; 3 to 4, 3 to 5 years; 5 to "
                          "10, 3 years; more than 10 adenomas, 1 year; 1 to 2 sessile serrated polyps under 10 mm, 5 "
                          "to 10 years; fewer than 20 hyperplastic polyps under 10 mm, 10 years).",
                          "%facts.procedures.colonoscopy.polypFindings.exists()")],
                 text=f"For adults with colorectal polyps on record. Colorectal polyps recorded ({POLYPS_SHOWN}); "
                      "last colonoscopy: {{%facts.procedures.colonoscopy.date ?? none on record}}. USMSTF 2020 sets "
                      "the next colonoscopy by what was found (number, size and histology of the polyps); the "
                      "10-year interval of average-risk screening is not assumed.[[ Findings of the last colonoscopy "
                      "in the record: {{%facts.procedures.colonoscopy.polypFindings}}.]][[ Recorded before it, not "
                      "used: {{%facts.procedures.colonoscopy.polypFindingsBefore}}.]]"),
            rule("screen.breast", "Screening mammography every 2 years (40 to 74)", ages=(40, 74), sex="female",
                 when=[FEMALE, f"{AGE} >= 40 and {AGE} <= 74"], activity="mammography", repeat=(1, 2, "a"),
                 inputs=["procedures.mammography", "conditions.bilateral_mastectomy", "procedures.bilateral_mastectomy",
                         *PALLIATIVE_INPUTS, *FRAILTY_INPUTS],
                 evidence=tuple(FRAILTY_INPUTS),
                 cite=[("USPSTF-BREAST-2024", "Recommendation (B): biennial mammography, women 40 to 74"),
                       ("ACP-BREAST-2019", "Guidance statement 3: discontinue screening in average-risk women aged 75 "
                                           "or older or with a life expectancy of 10 years or less")],
                 exclusions=(PALLIATIVE, ("%facts.conditions.bilateral_mastectomy.exists() or "
                                          "%facts.procedures.bilateral_mastectomy.exists()",
                                          "bilateral mastectomy recorded")),
                 satisfied_by=(("procedures.mammography", 2, "a", "Mammography"),),
                 choice=(f"frailty or advanced illness recorded ({FRAILTY_SHOWN}): ACP 2019 guidance advises stopping "
                         "breast cancer screening when life expectancy is 10 years or less; whether to screen is the "
                         "clinician's decision with the patient.", FRAIL),
                 text="Woman aged {{%facts.patient.ageYears}}: biennial screening mammography."),
            rule("screen.cervical", "Cervical cancer screening (21 to 65)", ages=(21, 65), sex="female",
                 when=[FEMALE, f"{AGE} >= 21 and {AGE} <= 65"], activity="cervical-screening",
                 inputs=["procedures.cervical_cytology", "measures.pap_test", "measures.hpv_test",
                         "conditions.no_cervix", "procedures.total_hysterectomy", *PALLIATIVE_INPUTS],
                 cite=[("USPSTF-CERVICAL-2018", "Recommendations: ages 21 to 29 and 30 to 65 (A)")],
                 exclusions=(PALLIATIVE,
                             ("%facts.conditions.no_cervix.exists()", "absence of the cervix recorded "
                              "({{%facts.conditions.no_cervix.display}})"),
                             ("%facts.procedures.total_hysterectomy.exists()", "hysterectomy with no residual "
                              "cervix recorded "
                              "({{%facts.procedures.total_hysterectomy.date}}): screening not indicated unless "
                              "there is a history of high-grade precancer or cervical cancer")),
                 satisfied_by=(("procedures.cervical_cytology", 3, "a", "Cervical cytology"),
                               ("measures.pap_test", 3, "a", "Cervical cytology"),
                               ("measures.hpv_test", 5, "a", "High-risk HPV test (from age 30)", f"{AGE} >= 30")),
                 choice=("from age 30: cytology every 3 years, high-risk HPV testing alone every 5 years, or "
                         "co-testing every 5 years.", f"{AGE} >= 30"),
                 text="Woman aged {{%facts.patient.ageYears}}: cervical cytology every 3 years."),
            rule("screen.lung", "Annual low-dose CT for lung cancer (50 to 80, 20 pack-years)", ages=(50, 80),
                 when=[f"{AGE} >= 50 and {AGE} <= 80", "%facts.measures.pack_years.value >= 20",
                       "%facts.smoking.status = 'current' or %facts.smoking.status = 'former'"],
                 activity="lung-ldct", repeat=(1, 1, "a"),
                 inputs=["smoking", "measures.pack_years", "procedures.ldct", *PALLIATIVE_INPUTS, *FRAILTY_INPUTS],
                 evidence=tuple(FRAILTY_INPUTS),
                 cite=[("USPSTF-LUNG-2021", "Recommendation (B): adults 50 to 80 with a 20 pack-year history "
                                            "who smoke now or quit within the past 15 years")],
                 exclusions=(PALLIATIVE,),
                 satisfied_by=(("procedures.ldct", 1, "a", "Low-dose CT"),),
                 choice=[("former smoker: eligible only if quit within the past 15 years; the quit date is not "
                          "in the data carepath reads.", "%facts.smoking.status = 'former'"),
                         (f"frailty or advanced illness recorded ({FRAILTY_SHOWN}): USPSTF 2021 stops screening "
                          "once a health problem substantially limits life expectancy or the ability or "
                          "willingness to have curative lung surgery; the clinician decides.", FRAIL)],
                 text="Age {{%facts.patient.ageYears}}, {{%facts.measures.pack_years.value}} pack-years, "
                      "{{%facts.smoking.status}} smoker: annual low-dose CT."),
            rule("screen.lung-pack-years-unknown", "Pack-years unknown", ages=(50, 80),
                 when=[f"{AGE} >= 50 and {AGE} <= 80",
                       "%facts.smoking.status = 'current' or %facts.smoking.status = 'former'",
                       "%facts.measures.pack_years.value.empty()"],
                 inputs=["smoking", "measures.pack_years"],
                 cite=[("USPSTF-LUNG-2021", "Recommendation (B): eligibility by pack-years")],
                 gaps=(("measures.pack_years", "pack-years not recorded: lung cancer screening eligibility "
                                               "(20 pack-years or more) not assessed"),),
                 text="Lung screening eligibility needs the pack-year history."),
            rule("screen.hepatitis-c", "Hepatitis C screening once (18 to 79)", ages=(18, 79),
                 when=[f"{AGE} >= 18 and {AGE} <= 79"], activity="hcv-screening",
                 inputs=["measures.hcv_antibody", "procedures.hcv_test", "conditions.hepatitis_c", *PALLIATIVE_INPUTS],
                 evidence=("measures.hcv_antibody",),
                 cite=[("USPSTF-HCV-2020", "Recommendation (B): adults 18 to 79")],
                 exclusions=(("%facts.conditions.hepatitis_c.exists()", "hepatitis C already diagnosed"), PALLIATIVE,
                             ("%facts.measures.hcv_antibody.exists() or %facts.procedures.hcv_test.exists()",
                              "already screened once ({{%facts.measures.hcv_antibody.date | "
                              "%facts.procedures.hcv_test.date}}); repeat only with ongoing risk")),
                 text="Adult aged {{%facts.patient.ageYears}} with no hepatitis C screening on record: screen "
                      "once."),
        ],
    )


# CPIC 2022 treats "likely" phenotypes like the phenotype they name.
POOR_CYP2C19 = ("%facts.measures.cyp2c19.phenotype in ('poor' | 'intermediate' | 'likely_poor' | "
                "'likely_intermediate')")
POOR_SLCO1B1 = "%facts.measures.slco1b1.phenotype in ('decreased' | 'poor')"


def pharmacogenomics() -> dict[str, Any]:
    """Pharmacogenomics (CPIC 2022): CYP2C19-clopidogrel, SLCO1B1-simvastatin."""
    clopidogrel = ("CPIC-CYP2C19-2022", "Therapeutic recommendations, cardiovascular indications (ACS/PCI)")
    statin = ("CPIC-SLCO1B1-2022", "Simvastatin dosing recommendations by SLCO1B1 phenotype")
    return plan_definition(
        "pharmacogenomics", "Pharmacogenomics", guidelines=[CPIC_CLOPIDOGREL, CPIC_STATIN], ages=(18, None),
        when="%facts.measures.cyp2c19.exists() or %facts.measures.slco1b1.exists()",
        description="Genotype-guided prescribing for clopidogrel (CYP2C19) and simvastatin (SLCO1B1), from "
                    "phenotype Observations encoded as the HL7 Genomics Reporting IG describes (CPIC 2022).",
        rules=[
            rule("pgx.cyp2c19-clopidogrel", "Alternative antiplatelet (CYP2C19 and clopidogrel)",
                 when=[POOR_CYP2C19, "%facts.medications.clopidogrel.exists()"],
                 activity="antiplatelet-alternative",
                 inputs=["measures.cyp2c19", "medications.clopidogrel", "conditions.acs", "procedures.pci"],
                 cite=[clopidogrel],
                 alert=("high", "CYP2C19 {{%facts.measures.cyp2c19.phenotype}} metabolizer on "
                                "{{%facts.medications.clopidogrel.display}}: reduced clopidogrel activation",
                        "Consider an alternative to clopidogrel: CYP2C19 {{%facts.measures.cyp2c19.phenotype}} "
                        "metabolizer"),
                 choice="prasugrel or ticagrelor at standard dose if there is no contraindication.",
                 text="CYP2C19 {{%facts.measures.cyp2c19.phenotype}} metabolizer: avoid standard-dose "
                      "clopidogrel for cardiovascular indications."),
            rule("pgx.cyp2c19-indication", "CYP2C19 result relevant to a clopidogrel indication",
                 when=[POOR_CYP2C19, "%facts.medications.clopidogrel.empty()",
                       "%facts.conditions.acs.exists() or %facts.procedures.pci.exists()"],
                 inputs=["measures.cyp2c19", "conditions.acs", "procedures.pci"], cite=[clopidogrel],
                 alert=("moderate", "CYP2C19 {{%facts.measures.cyp2c19.phenotype}} metabolizer with "
                                    "{{%facts.conditions.acs.display | %facts.procedures.pci.display}}: if a P2Y12 "
                                    "inhibitor is needed, avoid standard-dose clopidogrel",
                        "Avoid standard-dose clopidogrel: CYP2C19 {{%facts.measures.cyp2c19.phenotype}} metabolizer"),
                 text="Clopidogrel indication with a CYP2C19 loss-of-function phenotype."),
            rule("pgx.slco1b1-simvastatin", "Alternative statin or dose (SLCO1B1 and simvastatin)",
                 when=[POOR_SLCO1B1, "%facts.medications.simvastatin.exists()"], activity="statin-alternative",
                 inputs=["measures.slco1b1", "medications.simvastatin"], cite=[statin],
                 alert=("high", "SLCO1B1 {{%facts.measures.slco1b1.phenotype}} function on "
                                "{{%facts.medications.simvastatin.display}}: higher risk of statin-associated "
                                "musculoskeletal symptoms",
                        "Review simvastatin: SLCO1B1 {{%facts.measures.slco1b1.phenotype}} function, muscle "
                        "symptom risk"),
                 choice="an alternative statin by desired intensity, or the simvastatin dose limit given in the "
                        "CPIC 2022 table for this phenotype.",
                 text="SLCO1B1 {{%facts.measures.slco1b1.phenotype}} function with active simvastatin."),
        ],
    )
