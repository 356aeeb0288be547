"""Bulk Data ``$export`` client against a server played by ``responses``: error paths, polling, URLs, resume."""

from __future__ import annotations

import io
import json

import pytest
import responses
import urllib3

from app.cohort.errors import ExportFailed
from app.cohort.export import STATE_FILE, ExportOptions, bulk_export
from app.errors import UnsafeUrl
from app.fhir import FhirClient

BASE = "https://fhir.example.org/r4"
STATUS = f"{BASE}/$export-poll-status?_jobId=42"
KICK_OFF = f"{BASE}/$export"
PATIENTS = '{"resourceType":"Patient","id":"p1"}\n'
OBSERVATIONS = '{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}}\n'
OUTCOME = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "processing", "diagnostics": "the export job ran out of disk"}]}


def _client(token: str | None = None) -> FhirClient:
    return FhirClient(BASE, token=(lambda: token) if token else None, sleep=lambda seconds: None, retries=1)


def _manifest(*urls: str, requires_token: bool = True) -> dict:
    return {"transactionTime": "2026-01-01T00:00:00Z", "request": KICK_OFF, "requiresAccessToken": requires_token,
            "output": [{"type": url.rsplit("/", 1)[1], "url": url} for url in urls], "error": []}


def _kick_off_accepted() -> None:
    responses.get(KICK_OFF, status=202, headers={"Content-Location": STATUS})


def _export(tmp_path, token=None, sleeps=None, **options):
    return bulk_export(_client(token), tmp_path, ExportOptions(**options), progress=False,
                       token=(lambda: token) if token else None,
                       sleep=(sleeps.append if sleeps is not None else lambda s: None))


@responses.activate
@pytest.mark.parametrize("status", [400, 403, 500])
def test_bulk_export__kick_off_refused_names_the_servers_reason(tmp_path, status):
    responses.get(KICK_OFF, status=status, json=OUTCOME)
    with pytest.raises(ExportFailed, match=r"refused the export.*ran out of disk"):
        _export(tmp_path)


@responses.activate
def test_bulk_export__kick_off_without_async_answer_is_refused(tmp_path):
    responses.get(KICK_OFF, status=200, json={"resourceType": "Bundle"})
    with pytest.raises(ExportFailed, match="202 Accepted"):
        _export(tmp_path)


@responses.activate
def test_bulk_export__polls_honouring_retry_after_then_downloads(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, status=202, headers={"Retry-After": "7", "X-Progress": "10 %"})
    responses.get(STATUS, status=202, headers={"Retry-After": "300"})
    responses.get(STATUS, status=202)
    responses.get(STATUS, status=200, json=_manifest(f"{BASE}/Binary/Patient", f"{BASE}/Binary/Observation"))
    responses.get(f"{BASE}/Binary/Patient", body=PATIENTS)
    responses.get(f"{BASE}/Binary/Observation", body=OBSERVATIONS)
    sleeps: list[float] = []
    state = _export(tmp_path, token="secret-token", sleeps=sleeps, max_poll=60, types=("Patient", "Observation"))
    assert sleeps == [7, 60, 2.0]  # Retry-After, Retry-After capped at --max-poll, the default without one
    kick_off = responses.calls[0].request
    assert kick_off.headers["Prefer"] == "respond-async" and "_type=Patient%2CObservation" in kick_off.url
    assert (tmp_path / "000.Patient.ndjson").read_text() == PATIENTS
    assert (tmp_path / "001.Observation.ndjson").read_text() == OBSERVATIONS
    downloads = [c.request for c in responses.calls if "/Binary/" in c.request.url]
    assert all(r.headers["Authorization"] == "Bearer secret-token" for r in downloads)  # requiresAccessToken
    assert "secret-token" not in (tmp_path / STATE_FILE).read_text()
    assert len(state["files"]) == 2


@responses.activate
def test_bulk_export__failed_job_reports_its_operation_outcome(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, status=500, json=OUTCOME)
    with pytest.raises(ExportFailed, match=r"export job failed \(500\): the export job ran out of disk"):
        _export(tmp_path)


@responses.activate
def test_bulk_export__output_url_elsewhere_is_refused_before_any_download(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient", "https://files.example.net/Observation"))
    with pytest.raises(UnsafeUrl, match="outside the FHIR server"):
        _export(tmp_path)
    assert not [c for c in responses.calls if "Binary" in c.request.url or "example.net" in c.request.url]
    assert not list(tmp_path.glob("*.ndjson"))


@responses.activate
def test_bulk_export__allowed_file_prefix_is_downloaded_without_token_when_not_required(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest("https://files.example.net/exports/Patient", requires_token=False))
    responses.get("https://files.example.net/exports/Patient", body=PATIENTS)
    _export(tmp_path, token="secret-token", allowed_file_prefixes=("https://files.example.net/exports",))
    assert (tmp_path / "000.Patient.ndjson").read_text() == PATIENTS
    assert "Authorization" not in responses.calls[-1].request.headers


@responses.activate
def test_bulk_export__resumes_after_an_interruption_without_downloading_finished_files(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient", f"{BASE}/Binary/Observation"))
    responses.get(f"{BASE}/Binary/Patient", body=PATIENTS)
    responses.get(f"{BASE}/Binary/Observation", status=404, json=OUTCOME)
    with pytest.raises(ExportFailed, match=r"downloading 001\.Observation\.ndjson failed"):
        _export(tmp_path)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["status_url"] == STATUS and list(state["files"]) == [f"{BASE}/Binary/Patient"]

    responses.reset()  # the second run may only fetch the missing file: no kick-off, no poll, no Patient file
    responses.get(f"{BASE}/Binary/Observation", body=OBSERVATIONS)
    _export(tmp_path)
    assert [c.request.url for c in responses.calls] == [f"{BASE}/Binary/Observation"]
    assert (tmp_path / "001.Observation.ndjson").read_text() == OBSERVATIONS


@responses.activate
def test_bulk_export__an_interrupted_poll_resumes_the_same_job(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, status=202, headers={"Retry-After": "1"})
    with pytest.raises(ExportFailed, match="not complete after"):
        _export(tmp_path, timeout=0)
    responses.reset()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient"))
    responses.get(f"{BASE}/Binary/Patient", body=PATIENTS)
    _export(tmp_path)
    assert KICK_OFF not in [c.request.url.split("?")[0] for c in responses.calls]


# -- redirects and dot segments: no file from off the allow-list ------------------------------------------

@responses.activate
@pytest.mark.parametrize("status", [301, 302, 307])
@pytest.mark.parametrize("location", ["https://evil.example/secret/Patient.ndjson",
                                      f"{BASE}/../secret/Patient.ndjson", "https://files.example.net/exports/x"])
def test_bulk_export__a_file_redirected_off_its_base_is_refused_and_never_fetched(tmp_path, status, location):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient"))
    responses.get(f"{BASE}/Binary/Patient", status=status, headers={"Location": location})
    with pytest.raises(ExportFailed, match=r"downloading 000\.Patient\.ndjson failed: refused a redirect"):
        _export(tmp_path, token="secret-token", allowed_file_prefixes=("https://files.example.net/exports",))
    assert [c.request.url for c in responses.calls][-1] == f"{BASE}/Binary/Patient"
    assert not [c for c in responses.calls if "secret/" in c.request.url or "example.net" in c.request.url]
    assert not list(tmp_path.glob("*.ndjson"))


@responses.activate
def test_bulk_export__a_file_redirected_on_the_same_server_is_downloaded(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient"))
    responses.get(f"{BASE}/Binary/Patient", status=302, headers={"Location": f"{BASE}/Binary/Patient-1"})
    responses.get(f"{BASE}/Binary/Patient-1", body=PATIENTS)
    _export(tmp_path, token="secret-token")
    assert (tmp_path / "000.Patient.ndjson").read_text() == PATIENTS


@responses.activate
def test_bulk_export__a_file_redirect_loop_is_bounded(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient"))
    responses.get(f"{BASE}/Binary/Patient", status=307, headers={"Location": f"{BASE}/Binary/Patient"})
    with pytest.raises(ExportFailed, match="redirects"):
        _export(tmp_path)
    assert len([c for c in responses.calls if "/Binary/" in c.request.url]) == 6


@responses.activate
@pytest.mark.parametrize("url", [f"{BASE}/../secret/x.ndjson", f"{BASE}/%2e%2e/secret/x.ndjson",
                                 "https://files.example.net/exports/../../secret/x.ndjson"])
def test_bulk_export__a_file_url_with_dot_segments_off_the_base_is_refused_before_any_download(tmp_path, url):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(url))
    with pytest.raises(UnsafeUrl, match="outside the FHIR server"):
        _export(tmp_path, allowed_file_prefixes=("https://files.example.net/exports",))
    assert [c.request.url for c in responses.calls] == [f"{KICK_OFF}?_outputFormat=application%2Ffhir%2Bndjson",
                                                          STATUS]


@responses.activate
def test_bulk_export__a_status_url_redirected_elsewhere_is_refused(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, status=302, headers={"Location": "https://evil.example/manifest.json"})
    with pytest.raises(UnsafeUrl, match="refused a redirect"):
        _export(tmp_path)
    assert not [c for c in responses.calls if "evil" in c.request.url]


class StallingBody(io.BufferedReader):
    """A file body that sends its first bytes, then nothing until the read times out (a stalled download)."""

    def __init__(self, first: bytes) -> None:
        super().__init__(io.BytesIO(first))
        self.sent = False

    def read(self, *args):
        if self.sent:
            raise urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.")
        self.sent = True
        return super().read(*args)

    read1 = read


@responses.activate
@pytest.mark.parametrize(("body", "reason"), [
    ('{"output": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than 256 levels"),
    ("<html>done</html>", "not JSON"),
    ("[]", "not a JSON object"),
])
def test_bulk_export__a_manifest_carepath_cannot_read_fails_clearly(tmp_path, body, reason):
    _kick_off_accepted()
    responses.get(STATUS, status=200, body=body)
    with pytest.raises(ExportFailed, match=f"manifest cannot be read: {reason}"):
        _export(tmp_path)
    assert "manifest" not in json.loads((tmp_path / STATE_FILE).read_text())  # polled again on the next run


@responses.activate
@pytest.mark.parametrize(("files", "refused"), [(3, False), (4, True)])
def test_bulk_export__a_manifest_may_list_at_most_max_files(tmp_path, files, refused):
    _kick_off_accepted()
    urls = [f"{BASE}/Binary/Patient{index}" for index in range(files - 1)]
    manifest = {**_manifest(*urls), "error": [{"type": "OperationOutcome", "url": f"{BASE}/Binary/errors"}]}
    responses.get(STATUS, json=manifest)
    for url in [*urls, f"{BASE}/Binary/errors"]:
        responses.get(url, body=PATIENTS)
    if refused:
        with pytest.raises(ExportFailed, match=r"lists 4 files, more than the 3 .*COHORT_EXPORT_MAX_FILES"):
            _export(tmp_path, max_files=3)
        assert not [c for c in responses.calls if "/Binary/" in c.request.url]
    else:
        assert len(_export(tmp_path, max_files=3)["files"]) == 3


@responses.activate
def test_bulk_export__a_stalled_download_fails_clearly_and_the_next_run_resumes(tmp_path):
    _kick_off_accepted()
    responses.get(STATUS, json=_manifest(f"{BASE}/Binary/Patient", f"{BASE}/Binary/Observation"))
    responses.get(f"{BASE}/Binary/Patient", body=PATIENTS)
    responses.get(f"{BASE}/Binary/Observation", body=StallingBody(OBSERVATIONS[:10].encode()))
    with pytest.raises(ExportFailed, match=r"001\.Observation\.ndjson stopped after \d+ bytes \(no data for 5 s"):
        _export(tmp_path, stall=5)
    assert not (tmp_path / "001.Observation.ndjson").exists()
    responses.reset()
    responses.get(f"{BASE}/Binary/Observation", body=OBSERVATIONS)
    _export(tmp_path, stall=5)
    assert [c.request.url for c in responses.calls] == [f"{BASE}/Binary/Observation"]
    assert (tmp_path / "001.Observation.ndjson").read_text() == OBSERVATIONS


class DrippingBody(io.BufferedReader):
    """A file body that gives one byte per read, never silent long enough to time out (a slow drip)."""

    def __init__(self, content: bytes) -> None:
        super().__init__(io.BytesIO(content))

    def read(self, size=-1):
        return super().read(1)

    def read1(self, size=-1):
        return super().read(1)


@responses.activate
@pytest.mark.parametrize(("seconds_per_byte", "stopped"), [(0.5, True), (0.0001, False)])
def test_bulk_export__a_dripping_download_below_the_minimum_rate_is_stopped(tmp_path, seconds_per_byte, stopped):
    from app.cohort.export import _download

    responses.get(f"{BASE}/Binary/Observation", body=DrippingBody(OBSERVATIONS.encode()))
    ticks = iter(range(10**6))
    clock = lambda: next(ticks) * seconds_per_byte  # noqa: E731 - a clock that advances per chunk read
    target = tmp_path / "001.Observation.ndjson"
    options = ExportOptions(stall=5, min_rate=1024)
    if stopped:  # 2 bytes a second: far below 1024
        with pytest.raises(ExportFailed, match=r"001\.Observation\.ndjson was too slow: \d+ bytes in 5 s, below 1024 "
                                               r"bytes a second \(COHORT_EXPORT_MIN_RATE\)"):
            _download(_client(), f"{BASE}/Binary/Observation", target, options, clock=clock)
        assert not target.exists()
    else:
        assert _download(_client(), f"{BASE}/Binary/Observation", target, options, clock=clock) == \
            len(OBSERVATIONS.encode())
        assert target.read_text() == OBSERVATIONS


def test_bulk_export__files_are_downloaded_with_the_stall_time_as_timeout(tmp_path):
    from app.cohort.export import _file_clients

    clients = _file_clients(_client(), [{"url": f"{BASE}/Binary/Patient", "type": "Patient"}],
                            ExportOptions(stall=7), False, None)
    assert clients[f"{BASE}/Binary/Patient"].timeout == 7


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m\u202eevil\x00"


def test_terminal_text__leaves_out_control_characters():
    from app.cli_common import terminal_text

    assert terminal_text(ESCAPES) == "]0;pwned[2J[31mred1mevil"
    assert terminal_text("exported 2 files, 0.1 MB, into out/ (é, 中)") == "exported 2 files, 0.1 MB, into out/ (é, 中)"


@responses.activate
def test_cohort_export_cli__a_servers_escape_sequences_never_reach_the_terminal(tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("CAREPATH_SMART_ALLOWED_ISS", json.dumps([BASE]))
    monkeypatch.setenv("CAREPATH_SMART_OPEN_SERVERS", json.dumps([BASE]))
    monkeypatch.setenv("CAREPATH_FHIR_RETRIES", "0")
    responses.get(KICK_OFF, status=202, headers={"Content-Location": STATUS + "&x=" + "%1B%5B2J"})
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                               "diagnostics": ESCAPES}]}
    responses.get(STATUS + "&x=%1B%5B2J", status=202, headers={"X-Progress": ESCAPES, "Retry-After": "0"})
    responses.get(STATUS + "&x=%1B%5B2J", status=500, json=outcome)
    status = main(["cohort", "export", "--fhir-base", BASE, "--out", str(tmp_path)])  # one poll: 0.5 s
    captured = capsys.readouterr()
    assert status == 2 and "in progress: ]0;pwned" in captured.err and "failed (500): ]0;pwned" in captured.err
    assert not any(ch in captured.err + captured.out for ch in "\x1b\x07\x9b\u202e\x00")
