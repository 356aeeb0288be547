"""The pediatric pack: blood pressure (AAP 2017), weight (CDC growth references, USPSTF 2024), lipid screening
(NHLBI 2011), anxiety screening (USPSTF 2022) and tobacco prevention (USPSTF 2020), for children and adolescents.

Written to ``packs/pediatric`` by ``python -m app.engine.authoring``. Depression screening from 12 stays in the
primary-care pack's Depression area (USPSTF 2022, one rule for adolescents and adults). Immunizations and
developmental screening are out of scope: the coverage statement says so on every child's plan.
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import (
    BASE,
    LOINC,
    activity_definition,
    ext,
    guideline,
    plan_definition,
    rule,
)
from app.engine.authoring import library as adult_library
from app.engine.authoring.cardiometabolic import AGE
from app.engine.authoring.patient_texts import with_guardian_frame, with_patient_texts
from app.engine.authoring.pediatric_tables import bp_table
from app.engine.authoring.prevention import USPSTF
from app.engine.authoring.valuesets import own
from app.terminology.releases import with_compose

VERSION = "2026.1.0"
LIBRARY = "pediatric-data"
#: What the pack does not cover, in its Library (``out-of-scope``): every child's plan says it (app.engine.population).
OUT_OF_SCOPE = "immunizations and developmental screening are not covered: follow the practice's schedule for them"

AAP_BP = guideline("AAP-BP-2017", "Flynn JT et al. Clinical Practice Guideline for Screening and Management of High "
                   "Blood Pressure in Children and Adolescents. Pediatrics 2017;140(3):e20171904", "2017",
                   "https://doi.org/10.1542/peds.2017-1904")
CDC_GROWTH = guideline("CDC-GROWTH-2000", "Kuczmarski RJ et al. 2000 CDC Growth Charts for the United States: Methods "
                       "and Development. Vital Health Stat 11(246), 2002; CDC extended BMI-for-age growth charts "
                       "(2022)", "2000", "https://www.cdc.gov/growthcharts/")
AAP_OBESITY = guideline("AAP-OBESITY-2023", "Hampl SE et al. Clinical Practice Guideline for the Evaluation and "
                        "Treatment of Children and Adolescents With Obesity. Pediatrics 2023;151(2):e2022060640",
                        "2023", "https://doi.org/10.1542/peds.2022-060640")
USPSTF_WEIGHT = guideline("USPSTF-CHILD-WEIGHT-2024", "USPSTF: High Body Mass Index in Children and Adolescents: "
                          "Interventions", "2024", USPSTF + "obesity-in-children-and-adolescents-screening")
NHLBI = guideline("NHLBI-2011", "Expert Panel on Integrated Guidelines for Cardiovascular Health and Risk Reduction in "
                  "Children and Adolescents: Summary Report. Pediatrics 2011;128(Suppl 5):S213-S256 (endorsed by the "
                  "AAP)", "2011", "https://doi.org/10.1542/peds.2009-2107C")
ANXIETY = guideline("USPSTF-ANXIETY-YOUTH-2022", "USPSTF: Anxiety in Children and Adolescents: Screening", "2022",
                    USPSTF + "screening-anxiety-children-adolescents")
TOBACCO_YOUTH = guideline("USPSTF-TOBACCO-YOUTH-2020", "USPSTF: Prevention and Cessation of Tobacco Use in Children "
                          "and Adolescents: Primary Care Interventions", "2020",
                          USPSTF + "tobacco-and-nicotine-use-prevention-in-children-and-adolescents-primary-care-"
                                   "interventions")

BP = "%facts.scores.bp_pediatric"
LIPIDS = ("measures.ldl", "measures.total_cholesterol", "measures.hdl")
BP_SHOWN = ("{{%facts.bp.sbp :: .0f}}/{{%facts.bp.dbp :: .0f}} mm Hg ({{%facts.bp.date}}, age "
            "{{%facts.scores.bp_pediatric.ageAtMeasure}})[[: systolic {{%facts.scores.bp_pediatric.sbpPercentile}}, "
            "diastolic {{%facts.scores.bp_pediatric.dbpPercentile}} percentile for a height at the "
            "{{%facts.scores.bp_pediatric.heightPercentile}}th percentile (table column "
            "{{%facts.scores.bp_pediatric.heightColumn}}th)]]")
TABLE_11 = ("AAP-BP-2017", "Table 11, patient evaluation and management according to BP level")
BMI_SHOWN = ("BMI {{%facts.scores.bmi_for_age.bmi :: .1f}} kg/m2 on {{%facts.scores.bmi_for_age.date}}: "
             "{{%facts.scores.bmi_for_age.percentile}}th percentile for age and sex (z "
             "{{%facts.scores.bmi_for_age.z}}), {{%facts.scores.bmi_for_age.class}}, "
             "{{%facts.scores.bmi_for_age.percentOf95th}} % of the 95th percentile")


def _rule(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return rule(*args, version=VERSION, **kwargs)


def _plan(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return plan_definition(*args, version=VERSION, library=LIBRARY, **kwargs)


def blood_pressure() -> dict[str, Any]:
    """Blood pressure in children (AAP 2017): annual measurement from 3; the category by the percentile tables
    (1-12) or the static thresholds (13 and older); the follow-up Table 11 gives."""
    return _plan(
        "pediatric-blood-pressure", "Blood pressure (children and adolescents)", guidelines=[AAP_BP],
        when=f"{AGE} >= 3 and {AGE} <= 17", ages=(3, 17),
        description="Children and adolescents 3 to 17: blood pressure measured every year (AAP 2017 Key Action "
                    "Statement 1); the category (normal, elevated, stage 1, stage 2) from the guideline's tables by "
                    "age, sex and height percentile up to 12 and from its static thresholds from 13 (Table 3), "
                    "and the follow-up Table 11 gives for each category.",
        summary=[(f"{BP}.category.exists()", "Blood pressure " + BP_SHOWN + ": {{%facts.scores.bp_pediatric.category}}"
                  " (AAP 2017, {{%facts.scores.bp_pediatric.method}}).")],
        rules=[
            _rule("peds.bp.measure", "Measure blood pressure (yearly from age 3)",
                  when=["%facts.bp.sbp.empty()"], activity="peds-bp-measurement", inputs=["bp", "measures.sbp"],
                  evidence=("measures.sbp",),
                  cite=[("AAP-BP-2017", "Key Action Statement 1: BP measured annually in children and adolescents 3 "
                                        "years and older")],
                  text="No blood pressure in the last 12 months: AAP 2017 measures it every year from age 3."),
            _rule("peds.bp.elevated", "Elevated blood pressure: lifestyle counselling, repeat in 6 months",
                  when=[f"{BP}.category = 'elevated'"], activity="peds-bp-lifestyle", due_in=(6, "mo"),
                  inputs=["bp", "measures.height"], cite=[TABLE_11],
                  text=f"Elevated blood pressure {BP_SHOWN}: lifestyle counselling (weight and nutrition) and a repeat "
                       "measurement by auscultation in 6 months (AAP 2017 Table 11)."),
            _rule("peds.bp.stage1", "Stage 1 hypertension range: repeat by auscultation in 1 to 2 weeks",
                  when=[f"{BP}.category = 'stage 1'"], activity="peds-bp-recheck", due_in=(2, "wk"),
                  inputs=["bp", "measures.height"], cite=[TABLE_11],
                  choice="AAP 2017 Table 11: repeat in 1 to 2 weeks with lifestyle counselling and upper and lower "
                         "extremity BP; if still in the stage 1 range, a third measurement in 3 months, then "
                         "ambulatory BP monitoring, diagnostic evaluation and treatment or referral.",
                  text=f"Blood pressure in the stage 1 range {BP_SHOWN}: one visit does not make a diagnosis; repeat "
                       "by auscultation within 1 to 2 weeks (AAP 2017 Table 11)."),
            _rule("peds.bp.stage2", "Stage 2 hypertension range: repeat and refer within 1 week",
                  when=[f"{BP}.category = 'stage 2'"], activity="peds-bp-referral", due_in=(1, "wk"),
                  inputs=["bp", "measures.height"], cite=[TABLE_11],
                  alert=("high", f"Blood pressure in the stage 2 range {BP_SHOWN}: if the child has symptoms, or the "
                                 "BP is more than 30 mm Hg above the 95th percentile (more than 180/120 mm Hg in an "
                                 "adolescent), send to an emergency department (AAP 2017 Table 11, note d)",
                         "Repeat BP and refer within 1 week: stage 2 range in a child; ED if symptomatic"),
                  text=f"Blood pressure in the stage 2 range {BP_SHOWN}: repeat the measurement and refer to "
                       "specialty care within 1 week (AAP 2017 Table 11)."),
            _rule("peds.bp.height-unknown", "Height needed to read the BP tables", ages=(3, 12),
                  when=["%facts.bp.sbp.exists()", f"{BP}.category.empty()"], inputs=["bp", "measures.height"],
                  cite=[("AAP-BP-2017", "Tables 4 and 5: BP levels by age, sex and height percentile")],
                  gaps=(("measures.height", "no height measured within a year of the blood pressure: the child's BP "
                                            "category (AAP 2017 tables by height percentile) cannot be read"),),
                  text="The AAP 2017 tables for ages 1 to 12 need the child's height percentile."),
        ],
    )


def weight() -> dict[str, Any]:
    """Weight (CDC 2000 BMI-for-age from 2, CDC 2022 extended; USPSTF 2024 behavioural intervention from 6)."""
    return _plan(
        "pediatric-weight", "Weight (children and adolescents)", guidelines=[CDC_GROWTH, AAP_OBESITY, USPSTF_WEIGHT],
        when=f"{AGE} >= 2 and {AGE} <= 17", ages=(2, 17),
        description="BMI-for-age percentile and z-score from 2 years (CDC 2000 growth charts; above the 95th "
                    "percentile the CDC 2022 extended BMI-for-age); classes as AAP 2023 states them (overweight "
                    "85th to below 95th, obesity 95th or more, severe obesity 120 % of the 95th percentile or more). "
                    "From 6 years with a BMI at the 95th percentile or more: a comprehensive, intensive behavioral "
                    "intervention (USPSTF 2024, B).",
        summary=[("%facts.scores.bmi_for_age.exists()", BMI_SHOWN + " (CDC 2000 growth reference).")],
        rules=[
            _rule("peds.weight.measure", "Measure weight and height (no BMI-for-age in the last 12 months)",
                  when=["%facts.scores.bmi_for_age.empty()"], activity="peds-bmi-measurement",
                  inputs=["measures.weight", "measures.height", "measures.bmi", "scores.bmi_for_age"],
                  evidence=("measures.weight", "measures.height", "measures.bmi"),
                  cite=[("AAP-OBESITY-2023", "Key Action Statement 1: measure height and weight, calculate BMI and "
                                             "assess BMI percentile at least annually")],
                  text="No BMI-for-age percentile from the last 12 months (a BMI, or a weight and height of the same "
                       "day, measured at 2 years or older: the CDC reference starts at 2): AAP 2023 assesses the BMI "
                       "percentile for age and sex at least once a year."),
            _rule("peds.weight.behavioral-intervention", "Comprehensive, intensive behavioral intervention",
                  ages=(6, 17), when=[f"{AGE} >= 6", "%facts.scores.bmi_for_age.percentile >= 95"],
                  activity="peds-weight-intervention", inputs=["measures.weight", "measures.height", "measures.bmi"],
                  cite=[("USPSTF-CHILD-WEIGHT-2024", "Recommendation (B): children and adolescents 6 years or older "
                                                     "with a high BMI (95th percentile or more for age and sex)"),
                        ("AAP-OBESITY-2023", "Table 1, BMI classification; Key Action Statement 5")],
                  choice="USPSTF 2024: interventions of 26 contact hours or more over up to 12 months, with the child "
                         "and the family; chosen with the family.",
                  text=f"{BMI_SHOWN}: offer or refer to a comprehensive, intensive behavioral intervention."),
        ],
    )


def prevention() -> dict[str, Any]:
    """Lipid screening (NHLBI 2011), anxiety screening (USPSTF 2022), tobacco prevention (USPSTF 2020)."""
    return _plan(
        "pediatric-prevention", "Screening and prevention (children and adolescents)",
        guidelines=[NHLBI, ANXIETY, TOBACCO_YOUTH], when=f"{AGE} >= 6 and {AGE} <= 21", ages=(6, 21),
        description="Universal lipid screening once between 9 and 11 and once between 17 and 21 (NHLBI 2011); "
                    "anxiety screening from 8 to 18 (USPSTF 2022, B); education or brief counselling to prevent "
                    "tobacco use in school-aged children and adolescents (USPSTF 2020, B).",
        rules=[
            _rule("peds.lipid.9-11", "Lipid screening once between 9 and 11", ages=(9, 11),
                  when=[f"{AGE} >= 9 and {AGE} <= 11", "%facts.scores.lipid_screen.done = false"],
                  activity="peds-lipid-screening", inputs=list(LIPIDS),
                  evidence=LIPIDS,
                  cite=[("NHLBI-2011", "Section 9, Lipids and lipoproteins: universal screening at 9 to 11 years "
                                       "(non-fasting non-HDL cholesterol or a fasting lipid profile)")],
                  text="No lipid result since the 9th birthday: NHLBI 2011 screens every child once between 9 and "
                       "11."),
            _rule("peds.lipid.17-21", "Lipid screening once between 17 and 21", ages=(17, 21),
                  when=[f"{AGE} >= 17 and {AGE} <= 21", "%facts.scores.lipid_screen.done = false"],
                  activity="peds-lipid-screening", inputs=list(LIPIDS),
                  evidence=LIPIDS,
                  cite=[("NHLBI-2011", "Section 9, Lipids and lipoproteins: universal screening again at 17 to 21 "
                                       "years")],
                  text="No lipid result since the 17th birthday: NHLBI 2011 screens once more between 17 and 21."),
            _rule("peds.anxiety.screening", "Anxiety screening (8 to 18)", ages=(8, 18),
                  when=[f"{AGE} >= 8 and {AGE} <= 18"], activity="peds-anxiety-screening",
                  inputs=["measures.gad7"],
                  satisfied_by=(("measures.gad7", 12, "mo", "GAD-7"),),
                  cite=[("USPSTF-ANXIETY-YOUTH-2022", "Recommendation (B): screening for anxiety in children and "
                                                      "adolescents aged 8 to 18 years")],
                  choice="USPSTF 2022 sets no screening interval; the 12-month look-back is this pack's local "
                         "policy, not a guideline threshold. The instrument (for example SCARED or GAD-7) is the "
                         "clinician's choice.",
                  text="No anxiety screening result in the last 12 months."),
            _rule("peds.tobacco.prevention", "Education or brief counselling to prevent tobacco use", ages=(6, 17),
                  when=[f"{AGE} >= 6 and {AGE} <= 17"], activity="peds-tobacco-prevention", inputs=["smoking"],
                  evidence=("smoking",),
                  cite=[("USPSTF-TOBACCO-YOUTH-2020", "Recommendation (B): interventions, including education or "
                                                      "brief counseling, to prevent initiation of tobacco use among "
                                                      "school-aged children and adolescents")],
                  choice="USPSTF 2020 gives no age to start and no interval; this pack starts at 6 (school age) "
                         "and proposes it at each plan. Whether it was given at this year's visit is the clinician's "
                         "to judge: the record carepath reads holds no coded counselling for it.",
                  text="School-aged child or adolescent: education or brief counselling to prevent starting tobacco "
                       "(including e-cigarettes)."),
        ],
    )


def activities() -> list[dict[str, Any]]:
    """The pediatric pack's ActivityDefinitions (codes only where a checked code exists)."""
    def a(*args: Any) -> dict[str, Any]:
        return activity_definition(*args, version=VERSION)

    return [
        a("peds-bp-measurement", "Blood pressure measurement", "screening",
          "Blood pressure by auscultation with a cuff of the right size (AAP 2017, Table 7 and Figure 2).",
          (LOINC, "85354-9", "Blood pressure panel with all children optional")),
        a("peds-bp-lifestyle", "Lifestyle counselling and a repeat BP in 6 months", "lifestyle",
          "Counselling on nutrition, physical activity and weight with the child and the family; repeat the "
          "blood pressure by auscultation in 6 months."),
        a("peds-bp-recheck", "Repeat blood pressure by auscultation in 1 to 2 weeks", "screening",
          "Repeat blood pressure by auscultation, with upper and lower extremity readings."),
        a("peds-bp-referral", "Repeat blood pressure and refer to pediatric specialty care within 1 week", "referral",
          "Repeat the blood pressure and refer to pediatric specialty care (nephrology or cardiology) within 1 week."),
        a("peds-bmi-measurement", "Weight and height measurement", "screening",
          "Weight and height, for the BMI-for-age percentile (CDC growth charts)."),
        a("peds-weight-intervention", "Family-based intensive behavioral intervention", "referral",
          "A comprehensive, intensive behavioral intervention (26 contact hours or more) with the child and the "
          "family."),
        a("peds-lipid-screening", "Lipid screening", "lab-order",
          "Non-fasting non-HDL cholesterol or a fasting lipid profile.",
          (LOINC, "57698-3", "Lipid panel with direct LDL - Serum or Plasma")),
        a("peds-anxiety-screening", "Anxiety screening", "screening",
          "A validated anxiety screening instrument for the child's age (for example SCARED or GAD-7)."),
        a("peds-tobacco-prevention", "Tobacco prevention education or brief counselling", "education",
          "Education or brief counselling, with the child and the family, to prevent starting tobacco or nicotine "
          "(including e-cigarettes)."),
    ]


GAD7 = own("gad7", "GAD-7 total score", "The LOINC GAD-7 total score (Spitzer RL et al., Arch Intern Med "
           "2006;166:1092-1097); no eCQM value set holds it.",
           [(LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]")])
#: The primary-care Library's keys this pack reads, with the same value sets and look-backs (one definition).
SHARED_KEYS = {("Observation", key) for key in ("sbp", "dbp", "bp_panel", "height", "weight", "bmi", "ldl",
                                                 "total_cholesterol", "hdl", "smoking")}


def library() -> dict[str, Any]:
    """The pediatric Library: the data it reads (shared keys from the primary-care Library, plus the GAD-7 score),
    the BP table and what is out of scope."""
    adult = adult_library.library()
    shared = [entry for entry in adult["dataRequirement"]
              if (entry["type"], _key(entry)) in SHARED_KEYS and not _not_done(entry)]
    gad7 = adult_library._requirement("Observation", "gad7", "GAD-7 total score", GAD7, 12, {}, [])
    return {
        "resourceType": "Library", "id": "carepath-pediatric-data", "url": f"{BASE}/Library/{LIBRARY}",
        "version": VERSION, "name": "pediatric_data", "title": "carepath pediatric: data requirements and tables",
        "status": "draft", "date": "2026-12-01", "publisher": "carepath clinical content",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type",
                             "code": "module-definition"}]},
        "description": "What the pediatric guideline pack reads (the primary-care Library's keys for blood pressure, "
                       "height, weight, BMI, lipids and smoking, with the same value sets, and the GAD-7 score), and "
                       "the AAP 2017 blood-pressure table it categorises with (tables/aap2017-bp.json).",
        "extension": [ext("out-of-scope", valueString=OUT_OF_SCOPE)],
        "relatedArtifact": [{"type": "documentation", "label": "AAP-BP-2017 Tables 4 and 5",
                             "display": "BP levels by age and height percentile, boys (Table 4) and girls (Table 5)",
                             "document": {"contentType": "application/json", "url": "tables/aap2017-bp.json",
                                          "title": "AAP 2017 BP table"}}],
        "dataRequirement": [*shared, gad7],
    }


def _key(entry: dict[str, Any]) -> str | None:
    return next((e.get("valueCode") for e in entry.get("extension", []) if e["url"].endswith("/fact-key")), None)


def _not_done(entry: dict[str, Any]) -> bool:
    return any(e["url"].endswith("/fact-not-done") for e in entry.get("extension", []))


def value_sets(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """url -> ValueSet of every value set the pediatric Library names."""
    wanted = {entry["codeFilter"][0]["valueSet"].split("|")[0] for entry in resource["dataRequirement"]}
    found = {url: vs for url, vs in adult_library.value_sets().items() if url in wanted}
    found[GAD7["url"]] = with_compose(GAD7)
    return found


def resources() -> dict[str, Any]:
    """file name -> resource (or table) of the pediatric pack."""
    lib = library()
    out: dict[str, Any] = {"Library-pediatric-data.json": with_guardian_frame(lib)}
    for index, plan in enumerate((blood_pressure(), weight(), prevention()), start=1):
        out[f"PlanDefinition-{index:02d}-{plan['action'][0]['id']}.json"] = plan
    for activity in activities():
        out[f"ActivityDefinition-{activity['url'].rsplit('/', 1)[1]}.json"] = with_patient_texts(activity)
    for url, value_set in sorted(value_sets(lib).items()):
        out[f"valuesets/ValueSet-{url.rstrip('/').rsplit('/', 1)[1]}.json"] = value_set
    out["tables/aap2017-bp.json"] = bp_table()
    return out
