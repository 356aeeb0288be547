"""``carepath facts BUNDLE.json --as-of DATE``."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.context.cli import requirements_for
from tests.conftest import FIXTURES

PCE = str(FIXTURES / "context-pce.json")
LIBRARY = str(FIXTURES.parent / "app" / "context" / "library.json")


def test_facts__prints_the_facts_as_json(capsys):
    assert main(["facts", PCE, "--as-of", "2020-06-01", "--library", LIBRARY]) == 0
    out, err = capsys.readouterr()
    facts = json.loads(out)
    assert facts["asOf"] == "2020-06-01" and facts["scores"]["ascvd10y"]["value"] == 2.1
    assert "requirements: app/context/library.json" in err


def test_facts__default_requirements_come_from_the_packs_else_carepaths_own(tmp_path, monkeypatch):
    import app.context.cli as cli

    monkeypatch.setattr(cli, "PACKS", tmp_path / "none")
    requirements, source = requirements_for(None)
    assert source == "app/context/library.json" and requirements
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "Library-x.json").write_text((FIXTURES.parent / "app/context/library.json").read_text())
    (pack / "PlanDefinition-x.json").write_text(json.dumps({"resourceType": "PlanDefinition"}))
    monkeypatch.setattr(cli, "PACKS", tmp_path)
    _requirements, source = requirements_for(None)
    assert source.endswith("Library-x.json")


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"),
    (json.dumps({"resourceType": "Patient"}), "not a FHIR Bundle"),
])
def test_facts__unreadable_input_gets_a_clear_message(tmp_path, capsys, content, message):
    path = tmp_path / "input.json"
    path.write_text(content)
    assert main(["facts", str(path), "--as-of", "2020-06-01"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err


def test_facts__a_missing_file_is_named(tmp_path, capsys):
    assert main(["facts", str(tmp_path / "absent.json"), "--as-of", "2020-06-01"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_facts__an_invalid_library_is_named(tmp_path, capsys):
    library = tmp_path / "Library-bad.json"
    library.write_text(json.dumps({"resourceType": "Library", "dataRequirement": [{"type": "Encounter"}]}))
    assert main(["facts", PCE, "--as-of", "2020-06-01", "--library", str(library)]) == 2
    err = capsys.readouterr().err
    assert "invalid data requirements" in err and "Library-bad.json" in err


def test_facts__the_date_must_be_a_date(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["facts", PCE, "--as-of", "2020-13-01"])
    assert exit_.value.code == 2
    assert "not a date" in capsys.readouterr().err
