"""UCUM unit normalisation, physiological bounds and FHIR dates."""

from __future__ import annotations

from datetime import date

import pytest

from app.context.bounds import implausible
from app.context.dates import When, describe_lookback, lookback_start, months_before
from app.context.units import UnitError, to_canonical, ucum_code


@pytest.mark.parametrize(("key", "value", "unit", "expected"), [
    ("glucose", 5.5, "mmol/L", 99.09),            # 5.5 mmol/L x 180.16 g/mol / 10
    ("glucose", 99, "mg/dL", 99.0),
    ("glucose", 0.99, "g/L", 99.0),
    ("total_cholesterol", 5.2, "mmol/L", 201.06),  # cholesterol 386.65 g/mol
    ("hdl", 1.3, "mmol/L", 50.26),
    ("ldl", 3.0, "mmol/L", 116.0),
    ("creatinine", 88.4, "umol/L", 1.0),           # 1 mg/dL = 88.4 umol/L
    ("creatinine", 1.2, "mg/dL", 1.2),
    ("hba1c", 53, "mmol/mol", 7.0),                # NGSP = 0.09148 x IFCC + 2.152
    ("hba1c", 48, "mmol/mol", 6.54),
    ("weight", 180, "[lb_av]", 81.65),
    ("weight", 70500, "g", 70.5),
    ("height", 70, "[in_i]", 177.8),
    ("height", 1.75, "m", 175.0),
    ("uacr", 3.0, "mg/mmol", 26.52),
    ("egfr", 60, "mL/min/{1.73_m2}", 60.0),
    ("egfr", 37.2, "mL/min", 37.2),  # as many laboratories send it; facts add a data-quality note
    ("sbp", 120, "mm[Hg]", 120.0),
    ("phq9", 12, None, 12.0),
])
def test_to_canonical__converts_to_the_key_unit(key, value, unit, expected):
    assert round(to_canonical(key, value, unit), 2) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("key", "unit"), [
    ("hba1c", "foo"), ("egfr", "mL/min/m2"), ("weight", "mg/dL"), ("glucose", None), ("sbp", "kPa"),
    ("total_cholesterol", "mmol/mol"),
])
def test_to_canonical__refuses_unknown_units(key, unit):
    with pytest.raises(UnitError):
        to_canonical(key, 1.0, unit)


@pytest.mark.parametrize(("quantity", "expected"), [
    ({"value": 1, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}, "mg/dL"),
    ({"value": 1, "unit": "mg/dl"}, "mg/dL"),
    ({"value": 1, "unit": "lbs"}, "[lb_av]"),
    ({"value": 1, "unit": "mmHg"}, "mm[Hg]"),
    ({"value": 1, "unit": "µmol/L"}, "umol/L"),
    ({"value": 1, "code": "mmol/l"}, "mmol/L"),
    ({"value": 1, "system": "http://example.org/local-units", "code": "MGDL", "unit": "mg/dL"}, "mg/dL"),
    ({"value": 1}, None),
])
def test_ucum_code__reads_codes_and_common_spellings(quantity, expected):
    assert ucum_code(quantity) == expected


@pytest.mark.parametrize(("key", "value", "flagged"), [
    ("weight", 7000, True), ("weight", 62.5, False), ("sbp", 400, True), ("sbp", 30, False),
    ("hba1c", 1.5, True), ("phq9", 28, True), ("phq9", 27, False), ("unknown_key", 1e9, False),
])
def test_implausible__flags_only_values_outside_the_bounds(key, value, flagged):
    assert (implausible(key, value) is not None) is flagged


@pytest.mark.parametrize(("text", "day", "utc"), [
    ("2020-06-01T23:30:00-05:00", "2020-06-01", "2020-06-02T04:30:00+00:00"),
    ("2020-06-02T00:30:00+02:00", "2020-06-02", "2020-06-01T22:30:00+00:00"),
    ("2020-06-01T10:00:00Z", "2020-06-01", "2020-06-01T10:00:00+00:00"),
    ("2020-06", "2020-06-01", "2020-06-01T00:00:00+00:00"),
    ("2020", "2020-01-01", "2020-01-01T00:00:00+00:00"),
])
def test_when__keeps_the_local_day_and_orders_in_utc(text, day, utc):
    when = When(text)
    assert when.day.isoformat() == day
    assert when.instant.isoformat() == utc


@pytest.mark.parametrize(("as_of", "value", "unit", "start"), [
    ("2020-06-01", 12, "mo", "2019-06-02"),
    ("2024-12-31", 12, "mo", "2024-01-01"),
    ("2020-03-31", 1, "mo", "2020-03-01"),
    ("2020-06-01", 10, "a", "2010-06-02"),
    ("2020-06-01", 2, "wk", "2020-05-19"),
    ("2020-06-01", 30, "d", "2020-05-03"),
])
def test_lookback_start__calendar_arithmetic(as_of, value, unit, start):
    assert lookback_start(date.fromisoformat(as_of), value, unit).isoformat() == start


def test_lookback_start__refuses_unknown_units():
    with pytest.raises(ValueError, match="not understood"):
        lookback_start(date(2020, 1, 1), 1, "fortnight")


def test_months_before__crosses_years():
    assert months_before(date(2020, 1, 15), 13) == date(2018, 12, 15)


@pytest.mark.parametrize(("value", "unit", "text"), [
    (12, "mo", "the last 12 months"), (1, "a", "the last year"), (10, "a", "the last 10 years"),
])
def test_describe_lookback__reads_as_a_sentence(value, unit, text):
    assert describe_lookback(value, unit) == text
