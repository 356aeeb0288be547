"""The one formatter for each thing a clinician reads: dates, units, medicine names, blood pressure, summaries."""

from __future__ import annotations

from datetime import date

import pytest

from app.formats import ELLIPSIS, human_date, human_unit, medicine_name, mmhg, shorten


@pytest.mark.parametrize(("value", "shown"), [
    ("2021-03-12", "12 Mar 2021"), ("2021-03-12T10:00:00Z", "12 Mar 2021"), (date(2021, 3, 2), "2 Mar 2021"),
    ("2021-03", "Mar 2021"), ("not a date", "not a date"),
])
def test_human_date__day_month_year(value, shown):
    assert human_date(value) == shown


@pytest.mark.parametrize(("unit", "shown"), [
    ("mm[Hg]", "mmHg"), ("mL/min/1.73m2", "mL/min/1.73 m²"), ("mL/min/{1.73_m2}", "mL/min/1.73 m²"), ("%", "%"),
])
def test_human_unit__as_a_clinician_writes_it(unit, shown):
    assert human_unit(unit) == shown


@pytest.mark.parametrize(("name", "shown"), [
    ("insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML Injectable Suspension [Humulin]",
     "insulin human isophane / regular insulin human"),
    ("24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "metformin hydrochloride 500 mg"),
    ("Simvistatin 10 MG", "simvistatin 10 mg"),  # one ingredient keeps its strength (a statin's intensity)
    ("simvastatin 4 MG/ML Oral Suspension", "simvastatin 4 mg/mL"),
    ("Diabetes mellitus type 2 (disorder)", "Diabetes mellitus type 2 (disorder)"),  # not a product: as is
    ("atorvastatin", "atorvastatin"),
])
def test_medicine_name__ingredients_of_a_product(name, shown):
    assert medicine_name(name) == shown


@pytest.mark.parametrize(("value", "shown"), [(111.3, "111"), (139.6, "139"), (178, "178"), (None, "None")])
def test_mmhg__whole_numbers_that_keep_the_threshold_they_met(value, shown):
    assert mmhg(value) == shown


def test_shorten__never_mid_word():
    text = "HbA1c 3.03 % with insulin human isophane / regular insulin human: below 6.5 %, a hypoglycaemia risk"
    assert shorten(text, 200) == text
    cut = shorten(text, 60)
    assert len(cut) <= 60 and cut.endswith(ELLIPSIS) and text.startswith(cut.removesuffix(ELLIPSIS))
    assert not text[len(cut.removesuffix(ELLIPSIS))].isalnum()
