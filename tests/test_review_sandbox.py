"""Review and approval through real SMART launches: the sandbox EHR's authorization and scope-checking proxy."""

from __future__ import annotations

import re

import pytest

from tests.careplan_sample import remove_carepath_plans

pytestmark = pytest.mark.integration


def _launch_id(response) -> str:
    assert response.status_code == 200, response.text[:300]
    return response.url.split("/p/")[1].split("/")[0]


def test_review__scope_downgrade_runs_read_only_and_offers_the_bundle(carepath_servers, browser, sample_patients,
                                                                      sample_practitioner, assert_no_secret_logged):
    carepath = carepath_servers("public")
    patient = sample_patients[0]["id"]
    launch_id = _launch_id(browser.launch(carepath, patient, practitioner=sample_practitioner,
                                          simulate="scope_downgrade"))
    page = browser.session.get(f"{carepath.url}/p/{launch_id}/plan", timeout=60)
    assert page.status_code == 200
    assert 'id="read-only"' in page.text and "did not grant writing" in page.text and 'id="save"' not in page.text
    download = browser.session.get(f"{carepath.url}/p/{launch_id}/plan/bundle.json", timeout=60)
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("application/fhir+json")
    bundle = download.json()
    careplan = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert careplan["subject"] == {"reference": f"Patient/{patient}"} and careplan["status"] == "draft"
    printable = browser.session.get(f"{carepath.url}/p/{launch_id}/plan/print", timeout=60)
    assert printable.status_code == 200 and "<form" not in printable.text
    # A save forced past the page is refused by carepath, not sent to the EHR.
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.session.get(
        f"{carepath.url}/p/{launch_id}/plan", timeout=60).text)
    refused = browser.session.post(f"{carepath.url}/p/{launch_id}/plan",
                                   data={"csrf_token": csrf.group(1) if csrf else "", "plan_key": "x"}, timeout=60)
    assert refused.status_code in (400, 403)
    assert_no_secret_logged()


def test_approval__a_patient_user_views_but_cannot_save_or_approve(carepath_servers, browser, browser_factory,
                                                                  sample_patients, sample_practitioner, loaded_hapi):
    carepath = carepath_servers("public")
    patient = sample_patients[1]["id"]
    remove_carepath_plans(loaded_hapi, patient)
    doctor_launch = _launch_id(browser.launch(carepath, patient, practitioner=sample_practitioner))
    page = browser.session.get(f"{carepath.url}/p/{doctor_launch}/plan", timeout=60).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    fields["keep"] = re.findall(r'name="keep" value="([^"]+)"', page)
    saved = browser.session.post(f"{carepath.url}/p/{doctor_launch}/plan", data=fields, timeout=60)
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    page = browser.session.get(f"{carepath.url}/p/{doctor_launch}/plan", timeout=60).text
    careplan_id = re.search(r'/careplans/([A-Za-z0-9\-.]+)"', page).group(1)

    patient_browser = browser_factory()
    patient_launch = _launch_id(patient_browser.launch(carepath, patient, fhir_user=f"Patient/{patient}"))
    review = patient_browser.session.get(f"{carepath.url}/p/{patient_launch}/plan", timeout=60).text
    assert 'id="save"' not in review and "patients and related persons can view" in review
    view = patient_browser.session.get(f"{carepath.url}/p/{patient_launch}/careplans/{careplan_id}", timeout=60)
    assert view.status_code == 200 and 'id="view-only"' in view.text and 'id="approve"' not in view.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', review)
    token = csrf.group(1) if csrf else ""
    refused = patient_browser.session.post(
        f"{carepath.url}/p/{patient_launch}/careplans/{careplan_id}/decision",
        data={"csrf_token": token, "version": "1", "action": "approve", "confirm": "yes"}, timeout=60)
    assert refused.status_code in (400, 403)  # no form token at all for a patient, and 403 if one is forged
    still = browser.session.get(f"{carepath.url}/p/{doctor_launch}/careplans/{careplan_id}", timeout=60).text
    assert 'id="plan-status">draft<' in still


def test_launch__a_server_redirecting_off_the_allow_list_is_refused_and_never_called(carepath_servers, browser,
                                                                                     sample_patients,
                                                                                     sample_practitioner,
                                                                                     sandbox_ehr):
    """The sandbox EHR answers every FHIR read with a 302 to a recording server off carepath's allow-list: the
    clinician gets carepath's refusal, and the recording server receives nothing."""
    import http.server
    import threading

    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            self.wfile.write(b'{"resourceType": "Bundle", "type": "searchset", "entry": []}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    previous = sandbox_ehr.redirect_target
    sandbox_ehr.redirect_target = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        carepath = carepath_servers("public")
        answer = browser.launch(carepath, sample_patients[0]["id"], practitioner=sample_practitioner,
                                simulate="offsite_redirect")
        page = answer.text
        assert answer.status_code == 502, (answer.status_code, page[:300])
        assert "A link from the FHIR server was refused" in page and "Traceback" not in page
        assert hits == []  # nothing was sent to the redirect's target
    finally:
        sandbox_ehr.redirect_target = previous
        server.shutdown()
        server.server_close()
