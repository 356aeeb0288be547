"""Server-Timing: each step of a page's cost in a header, nothing outside a request."""

from __future__ import annotations

import subprocess
import sys

from app import timing


def test_timing__steps_outside_a_request_are_not_collected():
    with timing.step("facts"):
        pass
    timing.add("fhir", 5.0)  # nothing to add to: no error, nothing kept


def test_timing__a_request_sends_its_steps_as_server_timing(app):
    @app.get("/timed")
    def timed():
        timing.add("fhir", 12.25)
        timing.add("fhir", 1.0)
        with timing.step("engine"):
            pass
        return "ok"

    response = app.test_client().get("/timed")
    value = response.headers["Server-Timing"]
    assert value.startswith("fhir;dur=13.2, engine;dur=") or value.startswith("fhir;dur=13.3, engine;dur=")
    assert "Server-Timing" not in app.test_client().get("/health").headers


def test_wsgi__the_server_entry_point_loads_packs_and_templates_before_any_request(tmp_path):
    code = ("from app.wsgi import app; import gc; "
            "print(len(app.extensions['carepath_packs'].packs), len(app.jinja_env.cache), gc.get_freeze_count() > 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                            env={"CAREPATH_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    packs, templates, frozen = result.stdout.split()
    assert int(packs) >= 9 and int(templates) >= 10 and frozen == "True"
