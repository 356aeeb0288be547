"""The plan the patient takes home (app/careplan/patient_copy.py): for every shared Synthea patient at the usual
test dates, ``carepath plan --format patient`` reads at grade 8 or lower (Flesch-Kincaid grade level, Kincaid
et al. 1975), holds no code, rule id or unexplained abbreviation, and states nothing the plan does not; Spanish
comes from the pack's translations."""

from __future__ import annotations

import json
import re
from functools import cache

from app.careplan import Edits
from app.careplan.patient_copy import from_careplan, from_plan, languages
from app.engine import load_pack_set
from tests.conftest import SYNTHEA
from tests.test_engine_schedule import DATES, _synthea_plans

#: Abbreviations a patient may meet only with their meaning beside them ("the A1C test").
EXPLAINED = {"A1C": "A1C test", "X-ray": "X-ray"}
CLINICAL_WORDS = re.compile(r"\b(HbA1c|eGFR|UACR|LDL|ASCVD|BMI|CKD|DSMES|SGLT2|GLP-1|ACE|ARB|PHQ|LDCT|FIT|"
                            r"mm\[Hg\]|mmHg|mL/min|RAS|CPIC|P2Y12|USPSTF|ADA|KDIGO|ACC/AHA)\b")
CODE = re.compile(r"\b\d{3,}-\d\b|https?://|\b[a-z0-9]+\.[a-z0-9-]+\b|\|")  # LOINC, URLs, rule ids, canonicals


def syllables(word: str) -> int:
    """Vowel groups, a final silent e dropped; at least one (a number or an initialism reads as one)."""
    word = word.lower()
    groups = re.findall(r"[aeiouy]+", word)
    count = len(groups) - (1 if word.endswith("e") and not word.endswith(("le", "ee")) and len(groups) > 1 else 0)
    return max(1, count)


def flesch_kincaid_grade(text: str) -> float:
    """0.39 (words / sentences) + 11.8 (syllables / words) - 15.59; a sentence ends at . ! ? or a line's end."""
    sentences = [s for s in re.split(r"[.!?:]+\s|\n+", text) if re.search(r"[A-Za-z0-9]", s)]
    words = re.findall(r"[A-Za-z0-9']+", text)
    return 0.39 * len(words) / len(sentences) + 11.8 * sum(map(syllables, words)) / len(words) - 15.59


@cache
def _words():
    return load_pack_set().patient_words


def test_flesch_kincaid__matches_the_published_examples():
    assert flesch_kincaid_grade("The cat sat on the mat.") < 0  # very easy text scores below grade 1
    hard = ("Intensification of antihypertensive pharmacotherapy necessitates individualized "
            "consideration of comorbidities.")
    assert flesch_kincaid_grade(hard) > 16


def test_patient_copy__the_pack_speaks_english_and_spanish():
    assert languages(_words()) == ["en", "es"]
    pack = load_pack_set()
    for template in pack.activity_definitions.values():
        assert set(template.patient_text) == {"en", "es"}, template.url


def _assert_plain(label: str, text: str) -> None:
    assert flesch_kincaid_grade(text) <= 8, (label, flesch_kincaid_grade(text), text)
    assert not CLINICAL_WORDS.search(text), (label, CLINICAL_WORDS.search(text))
    assert not CODE.search(text), (label, CODE.search(text))
    for abbreviation, explained in EXPLAINED.items():
        assert abbreviation not in text or explained in text, label


def test_cli__every_synthea_patient_gets_a_plain_copy_at_grade_8_or_lower(capsys):
    from app.cli import main

    paths = sorted(SYNTHEA.glob("*.json"))
    assert len(paths) == 25
    for path in paths:
        assert main(["plan", str(path), "--as-of", DATES[1], "--format", "patient"]) == 0
        _assert_plain(path.stem, capsys.readouterr().out)
    assert main(["plan", str(paths[0]), "--as-of", DATES[1], "--format", "patient", "--language", "fr"]) == 2
    assert "no patient copy in 'fr': the pack has en, es" in capsys.readouterr().err


def test_patient_copy__every_synthea_plan_at_both_dates_is_plain_in_english_and_complete_in_spanish():
    for label, plan in _synthea_plans():
        _assert_plain(label, from_plan(plan.to_dict(), _words(), "en").text())
        spanish = from_plan(plan.to_dict(), _words(), "es")
        assert all(plan.activity(i).patient_text["es"] in spanish.today for i in plan.schedule["thisVisit"]), label


def test_patient_copy__states_each_action_of_the_plan_once_and_nothing_else():
    for label, plan in _synthea_plans():
        data = plan.to_dict()
        copy = from_plan(data, _words(), "en")
        schedule = data["schedule"]
        assert copy.today == [plan.activity(i).patient_text["en"] for i in schedule["thisVisit"]], label
        assert [text for _when, text in copy.later] == \
            [plan.activity(item["id"]).patient_text["en"] for item in schedule["later"]], label
        assert len(copy.goals) == len(data["goals"]), label


def test_patient_copy__spanish_uses_the_packs_translations_and_dates():
    _, plan = next((label, plan) for label, plan in _synthea_plans() if label.startswith("Josue_Sipes")
                   and label.endswith("2021-04-01"))
    copy = from_plan(plan.to_dict(), _words(), "es")
    text = copy.text()
    assert text.startswith("Su plan de cuidado\n") and "visita del 1 de abril de 2021" in text
    assert "Cerca del 15 de abril de 2021: Una conversación sobre una medicina para la diabetes" in text
    assert "Mantener su presión arterial por debajo de 130/80." in text
    assert not re.search(r"\b(the|your|blood)\b", text)  # no English left in


def test_patient_copy__follows_the_clinicians_edits():
    _, plan = next((label, plan) for label, plan in _synthea_plans() if label.startswith("Josue_Sipes")
                   and label.endswith("2021-04-01"))
    data = plan.to_dict()
    edits = Edits(deselected=frozenset({"t2d.dsmes"}), goal_targets={"t2d.hba1c-goal": 8.0},
                  moves={"t2d.foot-exam": "2021-05-20"}, author="Practitioner/dr1")
    copy = from_plan(data, _words(), "en", edits=edits, contact="Dr Ana Ruiz", final=True)
    text = copy.text()
    assert "Classes and support" not in text  # unticked: not in the copy
    assert "below 8 %" in text and "below 7 %" not in text
    assert "Around May 20, 2021: A check of your feet" in text
    assert "ask for Dr Ana Ruiz" in text and "not final" not in text


def test_patient_copy__of_the_saved_careplan_says_only_what_the_record_holds():
    from app.careplan import draft_bundle

    _, plan = next((label, plan) for label, plan in _synthea_plans() if label.startswith("Josue_Sipes")
                   and label.endswith("2021-04-01"))
    data = plan.to_dict()
    edits = Edits(deselected=frozenset({"t2d.dsmes"}), goal_targets={"t2d.hba1c-goal": 8.0},
                  author="Practitioner/dr1")
    resources = [e["resource"] for e in draft_bundle(data, edits, now="2021-04-01T10:00:00Z")["entry"]]
    careplan = next(r for r in resources if r["resourceType"] == "CarePlan")
    goals = [r for r in resources if r["resourceType"] == "Goal"]
    saved = from_careplan(careplan, goals, _words(), "es")
    proposed = from_plan(data, _words(), "es", edits=edits)
    assert (saved.today, saved.later, sorted(saved.goals)) == (proposed.today, proposed.later, sorted(proposed.goals))
    assert saved.notice  # a draft: the copy says it is not final
    careplan["status"] = "active"
    careplan["activity"][0]["detail"]["status"] = "cancelled"  # rejected at approval
    approved = from_careplan(careplan, goals, _words(), "en")
    assert not approved.notice and len(approved.today) == len(proposed.today) - 1
    assert json.dumps(careplan).count("patient-text") == len(careplan["activity"])


def test_patient_copy__a_childs_copy_is_written_to_the_parent_or_guardian(capsys):
    from app.cli import main

    for path in sorted(SYNTHEA.glob("*.json")):
        if not path.name.startswith(("Ardith_Welch", "Jorge_Brekke", "Maximina_Hauck", "Noel_Reynolds")):
            continue
        assert main(["plan", str(path), "--as-of", "2021-04-01", "--format", "patient"]) == 0
        english = capsys.readouterr().out
        assert english.startswith("Your child's care plan\n"), path.stem
        assert "It is written for you, the parent or guardian." in english
        assert "Questions? Call your child's clinic" in english
        items = [line for line in english.splitlines() if line.startswith("- ")]
        assert items and all("your child" in line for line in items), (path.stem, items)
        assert not re.search(r"\byour (mood|weight|blood|cholesterol)\b", english), path.stem
        _assert_plain(path.stem, english)
        assert main(["plan", str(path), "--as-of", "2021-04-01", "--format", "patient", "--language", "es"]) == 0
        spanish = capsys.readouterr().out
        assert spanish.startswith("El plan de cuidado de su hijo o hija\n") and "como madre, padre o tutor" in spanish
        assert all("su hijo o hija" in line for line in spanish.splitlines() if line.startswith("- ")), path.stem


def test_patient_copy__an_adults_copy_is_written_to_the_patient():
    adult = next(plan for label, plan in _synthea_plans() if label.startswith("Josue_Sipes"))
    copy = from_plan(adult.to_dict(), _words(), "en", guardian=False)
    assert copy.title == "Your care plan" and "parent or guardian" not in copy.text()
    child = from_plan(adult.to_dict(), _words(), "en", guardian=True)
    assert child.title == "Your child's care plan" and child.contact.startswith("Questions? Call your child's")


def test_addressed_to_guardian__under_18_only_and_never_for_an_unknown_age():
    from app.careplan.patient_copy import addressed_to_guardian

    assert addressed_to_guardian(17) and addressed_to_guardian(0)
    assert not addressed_to_guardian(18) and not addressed_to_guardian(None) and not addressed_to_guardian(True)


def test_patient_copy__every_childrens_activity_speaks_of_the_child():
    pack = load_pack_set()
    for template in pack.activity_definitions.values():
        name = template.url.rsplit("/", 1)[1]
        if name.startswith("peds-") or name == "adolescent-depression-screening":
            assert "your child" in template.patient_text["en"], name
            assert "su hijo o hija" in template.patient_text["es"], name
