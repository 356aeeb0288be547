"""Generated sentences never contradict their numbers, and no goal or treatment rests on data older than its rule
allows: every rule's text is rendered over every test case (engine cases, FHIR fixtures, the 25 Synthea
patients at two dates) and each stated comparison is checked against the value it names."""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache

import pytest

from app.context import facts_from_bundle
from app.context.dates import lookback_start
from app.context.requirements import merge
from app.engine import build_plan, load_pack_set
from app.engine.cases import AS_OF, CASES, FIXTURE_CASES, RECOGNITION_CASES
from app.engine.synthetic import make_facts
from tests.conftest import FIXTURES, SYNTHEA

NUM = r"(?<![\d.\-/])(\d+(?:\.\d+)?)"  # a number, not the tail of a date or of another number
PAIR = NUM + r"/(\d+(?:\.\d+)?)"  # systolic/diastolic
UNIT = r"\s*(?:%|mg/dL|mg/g|mL/min/1\.73 m²|kg/m²|mmHg)?"
DATE_NOTE = r"\s*(?:\(\d{1,2} [A-Z][a-z]{2} \d{4}\))?"  # "(13 Mar 2021)", as dates read
#: (pattern, check(match) -> bool): a number followed by the threshold the sentence says it meets.
CLAIMS = [
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*\((?:is\s+)?" + NUM + r"(?:\s*%| mg/dL| mg/g)? or more\b"),
     lambda m: float(m[1]) >= float(m[2])),
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*is\s+" + NUM + r"(?:\s*%| mg/dL| mg/g)? or more\b"),
     lambda m: float(m[1]) >= float(m[2])),
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*\(below " + NUM), lambda m: float(m[1]) < float(m[2])),
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*,?\s*is below " + NUM), lambda m: float(m[1]) < float(m[2])),
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*,?\s*(?:is\s+)?between " + NUM + " and " + NUM),
     lambda m: float(m[2]) <= float(m[1]) < float(m[3])),
    (re.compile(NUM + UNIT + DATE_NOTE + r"\s*\(" + NUM + " to " + NUM + r"\)"),
     lambda m: float(m[2]) <= float(m[1]) <= float(m[3])),
    (re.compile(PAIR + r" mmHg" + DATE_NOTE + r"\s*[:(,]?\s*\(?" + PAIR + " or more"),
     lambda m: float(m[1]) >= float(m[3]) or float(m[2]) >= float(m[4])),
]
STAGES = {  # 2017 ACC/AHA §3.1 categories the BP texts name, by systolic/diastolic average
    "Stage 2": lambda s, d: s >= 140 or d >= 90,
    "Stage 1": lambda s, d: (s >= 130 or d >= 80) and s < 140 and d < 90,
    "Elevated BP": lambda s, d: 120 <= s < 130 and d < 80,
}
STAGE = re.compile(r"(Stage 2|Stage 1|Elevated BP)[^(]{0,40}\(" + PAIR + " mmHg")


@cache
def _pack():
    return load_pack_set()


@cache
def _plans() -> list[tuple[str, object, dict]]:
    """(label, plan, facts) for every test case the product has."""
    pack = _pack()
    found = []
    for case in CASES:
        facts = make_facts(as_of=AS_OF, **case.facts)
        found.append((f"case {case.id}", build_plan(facts, pack, AS_OF), facts))
    for fixture in FIXTURE_CASES + RECOGNITION_CASES:
        facts = facts_from_bundle(json.loads((FIXTURES / fixture.file).read_text()), pack.requirements, fixture.as_of)
        found.append((f"fixture {fixture.file}", build_plan(facts, pack, fixture.as_of), facts))
    for path in sorted(SYNTHEA.glob("*.json")):
        bundle = json.loads(path.read_text())
        for as_of in ("2020-06-01", "2021-04-01"):
            facts = facts_from_bundle(bundle, pack.requirements, as_of)
            found.append((f"{path.stem[:20]} @ {as_of}", build_plan(facts, pack, as_of), facts))
    return found


def _sentences(plan) -> list[tuple[str, str]]:
    out = [(item.id, item.rationale.text) for item in [*plan.goals, *plan.activities]]
    out += [(n["rule_id"], n["reason"]) for n in plan.not_recommended if n.get("reason")]
    out += [(w["rule_id"], w[key]) for w in plan.warnings for key in ("message", "summary") if w.get(key)]
    return out


def contradictions(text: str) -> list[str]:
    """The comparisons ``text`` states that its own numbers do not meet."""
    found = []
    for pattern, holds in CLAIMS:
        for match in pattern.finditer(text):
            if not holds(match):
                found.append(match[0])
    for match in STAGE.finditer(text):
        if not STAGES[match[1]](float(match[2]), float(match[3])):
            found.append(match[0])
    return found


@pytest.mark.parametrize(("text", "wrong"), [
    ("eGFR 37.2 mL/min/1.73 m² (20 or more).", False),
    ("eGFR 17 mL/min/1.73 m² (20 or more).", True),
    ("UACR 45 mg/g (30 or more) with eGFR 50 (15 or more)", False),
    ("HbA1c 2.87 % (13 Mar 2021) is below 6.5 % while on insulin", False),
    ("HbA1c 7.1 % (13 Mar 2021) is below 6.5 % while on insulin", True),
    ("eGFR 44 mL/min/1.73 m² (10 Jan 2021) is between 30 and 45 on metformin", False),
    ("eGFR 46 mL/min/1.73 m² (10 Jan 2021) is between 30 and 45 on metformin", True),
    ("Stage 1 (113.9/81.5 mmHg) with 10-year ASCVD risk 2.6 % (below 10 %, PCE 2013)", False),
    ("Stage 1 (129/79 mmHg) at higher risk", True),
    ("average BP of 152/109 mmHg (140/90 or more, below the severe range)", False),
    ("average BP of 132/85 mmHg (140/90 or more, below the severe range)", True),
    ("Age 76 (40 to 75): moderate-intensity statin", True),
])
def test_contradictions__the_checker_finds_what_it_must(text, wrong):
    assert bool(contradictions(text)) is wrong


def test_plan_texts__no_sentence_contradicts_its_numbers():
    wrong = [f"{label}: {rule}: {found}" for label, plan, _facts in _plans()
             for rule, text in _sentences(plan) for found in contradictions(text)]
    assert not wrong, "\n".join(wrong[:20])


#: Activity kinds that act on a value (start, stop or change treatment, refer, set a goal): what they rest on must
#: be recent. Re-testing and screening may cite an old value: that it is old is their reason.
ACTING = {"medication", "referral", "lifestyle", "counselling", "education"}


def test_plan_facts__no_goal_or_treatment_rests_on_data_older_than_its_rule_allows():
    pack = _pack()
    wanted = merge(pack.requirements)
    lookbacks = {key: r.lookback for key, r in wanted.measures().items() if r.lookback}
    stale = []
    for label, plan, facts in _plans():
        as_of = date.fromisoformat(facts["asOf"])
        for item in [*plan.goals, *plan.activities]:
            is_goal = item in plan.goals
            if not is_goal and item.kind not in ACTING:
                continue
            # a goal shows the latest value of the measure it targets (context), whatever its date
            targeted = {key for key, r in wanted.measures().items() for t in (item.targets if is_goal else [])
                        if r.matches(t["measure"])}
            for used in item.rationale.facts_used:
                lookback = lookbacks.get(used.key) if used.key not in targeted else None
                if lookback and used.date and date.fromisoformat(used.date) < lookback_start(as_of, *lookback):
                    stale.append(f"{label}: {item.id} uses {used.key} of {used.date}")
    assert not stale, "\n".join(stale[:20])
