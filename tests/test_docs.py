"""The README's configuration table is generated from app/config.py and kept in step with it."""

from __future__ import annotations

from app.settings_doc import BEGIN, END, settings, table
from tests.conftest import ROOT


def test_readme__configuration_table_is_up_to_date():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    current = readme[readme.index(BEGIN): readme.index(END) + len(END)]
    assert current == table(), "run: python -m app.settings_doc and paste the table into README.md"


def test_settings_doc__every_setting_is_documented():
    undocumented = [name for name, _default, doc in settings() if not doc]
    assert undocumented == []
