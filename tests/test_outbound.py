"""The one URL check of every outbound request, against a table of hostile URLs, and its redirect rule."""

from __future__ import annotations

import pytest
import requests
import responses

from app.errors import FhirTransportError, UnsafeUrl
from app.outbound import MAX_REDIRECTS, check, follow, normalize, on_base, origin, remove_dot_segments

BASE = "http://host.example/fhir"
LOOPBACK = "http://127.0.0.1:8080/fhir"

#: (URL, base, why it must be refused).
HOSTILE = [
    # Dot segments, plain and disguised: the request would land outside the base.
    (f"{BASE}/../secret/x.ndjson", BASE, "dot segments"),
    (f"{BASE}/Binary/../../secret/x.ndjson", BASE, "dot segments deeper in"),
    (f"{BASE}/%2e%2e/secret/x.ndjson", BASE, "encoded dot segment"),
    (f"{BASE}/%2E%2E/secret", BASE, "encoded dot segment, upper case"),
    (f"{BASE}/.%2e/secret", BASE, "half-encoded dot segment"),
    (f"{BASE}/%252e%252e/secret", BASE, "double-encoded dot segment"),
    (f"{BASE}/..;/secret", BASE, "dot segment behind a path parameter"),
    (f"{BASE}/..%2fsecret", BASE, "encoded slash"),
    (f"{BASE}/..%5Csecret", BASE, "encoded backslash"),
    (f"{BASE}/..\\secret", BASE, "backslash"),
    (f"{BASE}/%zz", BASE, "malformed percent-encoding"),
    ("http://host.example/fhirx/secret", BASE, "a longer path that only starts like the base"),
    ("http://host.example/", BASE, "the host's root"),
    # Someone else's host, however it is spelt.
    ("http://evil.example/fhir/x", BASE, "another host"),
    ("http://host.example@evil.example/fhir/x", BASE, "user information naming the allowed host"),
    ("http://evil.example@host.example/fhir/x", BASE, "user information, even before the allowed host"),
    ("http://host.example:pw@host.example/fhir/x", BASE, "a password"),
    ("http://host.example\\@evil.example/fhir/x", BASE, "backslash in the authority"),
    ("http://evil.example#@host.example/fhir/x", BASE, "fragment hiding the real host"),
    ("http://evil.example?@host.example/fhir/x", BASE, "query hiding the real host"),
    ("http://host.example.evil.example/fhir/x", BASE, "the allowed host as a subdomain"),
    ("http://host.example./fhir/x", BASE, "trailing dot host"),
    ("http://%68ost.example/fhir/x", BASE, "percent-encoded host"),
    ("http://h\u043est.example/fhir/x", BASE, "a look-alike letter in the host"),
    ("http://host.exa mple/fhir/x", BASE, "a space in the host"),
    ("//evil.example/fhir/x", BASE, "scheme-relative"),
    ("http:/host.example/fhir/x", BASE, "no authority"),
    ("http:///fhir/x", BASE, "empty host"),
    # Other ports and schemes.
    ("http://host.example:8080/fhir/x", BASE, "another port"),
    ("http://host.example:443/fhir/x", BASE, "https's port on http"),
    ("http://host.example:99999/fhir/x", BASE, "a port out of range"),
    ("http://host.example:abc/fhir/x", BASE, "a port that is not a number"),
    ("https://host.example/fhir/x", BASE, "http to https"),
    ("http://secure.example/fhir/x", "https://secure.example/fhir", "https to http"),
    ("ftp://host.example/fhir/x", BASE, "ftp"),
    ("file:///etc/passwd", BASE, "a file"),
    ("javascript:alert(1)", BASE, "javascript"),
    ("Patient/1", BASE, "a relative reference is not a URL"),
    # The loopback address in other notations.
    ("http://2130706433:8080/fhir/x", LOOPBACK, "decimal IP"),
    ("http://0x7f000001:8080/fhir/x", LOOPBACK, "hexadecimal IP"),
    ("http://0177.0.0.1:8080/fhir/x", LOOPBACK, "octal IP"),
    ("http://127.1:8080/fhir/x", LOOPBACK, "short IP"),
    ("http://[::1]:8080/fhir/x", LOOPBACK, "IPv6 loopback"),
    ("http://[::ffff:127.0.0.1]:8080/fhir/x", LOOPBACK, "IPv4-mapped IPv6"),
    ("http://[::1%25eth0]:8080/fhir/x", "http://[::1]:8080/fhir", "an IPv6 zone"),
    ("http://localhost:8080/fhir/x", LOOPBACK, "localhost for 127.0.0.1"),
    # Characters that some parsers drop and others keep.
    (f"{BASE}/x\r\nHost: evil.example", BASE, "CR LF"),
    (f"{BASE}/x\t", BASE, "a tab"),
    (f"\x00{BASE}/x", BASE, "a NUL before the scheme"),
    (f" {BASE}/x", BASE, "a leading space"),
]

#: (URL, base, the URL carepath sends): the same server, spelt another way.
SAME = [
    ("http://HOST.Example/fhir/Patient/1", BASE, "http://host.example/fhir/Patient/1"),
    ("HTTP://host.example:80/fhir/Patient/1", BASE, "http://host.example/fhir/Patient/1"),
    ("http://host.example:/fhir/Patient/1", BASE, "http://host.example/fhir/Patient/1"),
    ("https://host.example:443/fhir/Patient/1", "https://host.example/fhir", "https://host.example/fhir/Patient/1"),
    (f"{BASE}/Patient/1#section", BASE, "http://host.example/fhir/Patient/1"),
    (f"{BASE}/Binary/../Patient/1", BASE, "http://host.example/fhir/Patient/1"),
    (f"{BASE}/./Patient/%31", BASE, "http://host.example/fhir/Patient/1"),
    (f"{BASE}/Binary/%2e%2e/Patient/1", BASE, "http://host.example/fhir/Patient/1"),
    (f"{BASE}/Binary/%7e%41%2a", BASE, "http://host.example/fhir/Binary/~A%2A"),
    (BASE, BASE, BASE),
    (f"{BASE}/", BASE, f"{BASE}/"),
    (f"{BASE}?_getpages=x&_offset=2", BASE, f"{BASE}?_getpages=x&_offset=2"),
    (f"{BASE}/Observation?code=http://loinc.org|4548-4&x=../..", BASE,
     f"{BASE}/Observation?code=http://loinc.org|4548-4&x=../.."),
    ("http://[::1]:8080/fhir/Patient/1", "http://[::1]:8080/fhir", "http://[::1]:8080/fhir/Patient/1"),
    ("http://127.0.0.1:8080/fhir/Patient/1", LOOPBACK, "http://127.0.0.1:8080/fhir/Patient/1"),
    ("http://host.example/any/path", "http://host.example", "http://host.example/any/path"),
]


@pytest.mark.parametrize(("url", "base", "why"), HOSTILE, ids=[why for _, _, why in HOSTILE])
def test_check__refuses_a_hostile_url(url, base, why):
    assert not on_base(url, base)
    with pytest.raises(UnsafeUrl, match="refused a link outside the servers carepath may use"):
        check(url, [base])


@pytest.mark.parametrize(("url", "base", "sent"), SAME)
def test_check__accepts_the_same_server_and_sends_the_normal_form(url, base, sent):
    assert on_base(url, base)
    assert check(url, [base]) == sent


def test_check__the_issue_example_is_not_on_the_fhir_base():
    assert normalize("http://host/fhir/../secret/x.ndjson") == "http://host/secret/x.ndjson"
    assert not on_base("http://host/fhir/../secret/x.ndjson", "http://host/fhir")


def test_check__any_of_several_bases_will_do():
    assert check("https://files.example.net/exports/1.ndjson", [BASE, "https://files.example.net/exports"]) \
        == "https://files.example.net/exports/1.ndjson"


def test_check__the_message_names_the_door_and_never_the_query():
    with pytest.raises(UnsafeUrl) as raised:
        check("https://evil.example/fhir/Patient?name=Smith", [BASE], what="a next link",
              outside="the FHIR server carepath was opened with")
    assert raised.value.message == ("refused a next link outside the FHIR server carepath was opened with "
                                    "(https://evil.example/fhir/Patient)")
    assert "Smith" not in raised.value.message and "Smith" not in (raised.value.url or "")


@pytest.mark.parametrize(("path", "result"), [
    # RFC 3986 section 5.2.4's own examples, and the edges.
    ("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"), ("/fhir/../secret/x", "/secret/x"),
    ("/..", "/"), ("/../../a", "/a"), ("/fhir/.", "/fhir/"), ("/fhir/..", "/"), ("", ""), ("/a//b/../c", "/a//c"),
])
def test_remove_dot_segments__as_rfc_3986_says(path, result):
    assert remove_dot_segments(path) == result


def test_origin__scheme_host_and_port_only():
    assert origin("HTTPS://EHR.example:443/fhir/x?y") == "https://ehr.example"
    assert origin("http://127.0.0.1:8001/fhir") == "http://127.0.0.1:8001"


# -- follow: the redirect rule, on a plain session --------------------------------------------------


def _get(url: str) -> requests.Response:
    return requests.get(url, allow_redirects=False, timeout=5)


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", [
    "https://evil.example/fhir/x", "/secret/x", "../../secret/x", "/fhir/%2e%2e/secret/x", "//evil.example/fhir/x",
    "http://host.example@evil.example/fhir/x", "https://host.example/fhir/x", "http://host.example:8080/fhir/x",
    "/\\evil.example/fhir", "/fhir/x\r\nX: y",
])
def test_follow__a_redirect_off_the_base_is_refused_and_its_target_never_contacted(status, target):
    responses.get(f"{BASE}/Patient/1", status=status, headers={"Location": target})
    with pytest.raises(UnsafeUrl, match=f"refused a redirect from {BASE}/Patient/1"):
        follow(_get, f"{BASE}/Patient/1", [BASE])
    assert [call.request.url for call in responses.calls] == [f"{BASE}/Patient/1"]


@responses.activate
def test_follow__a_redirect_on_the_base_is_followed_in_normal_form():
    responses.get(f"{BASE}/Patient/1", status=302, headers={"Location": "/fhir/Binary/../Patient/2"})
    responses.get(f"{BASE}/Patient/2", json={"resourceType": "Patient", "id": "2"})
    assert follow(_get, f"{BASE}/Patient/1", [BASE]).json()["id"] == "2"


@responses.activate
def test_follow__a_redirect_loop_is_bounded():
    responses.get(f"{BASE}/a", status=302, headers={"Location": f"{BASE}/b"})
    responses.get(f"{BASE}/b", status=307, headers={"Location": f"{BASE}/a"})
    with pytest.raises(FhirTransportError, match=f"more than {MAX_REDIRECTS} redirects"):
        follow(_get, f"{BASE}/a", [BASE])
    assert len(responses.calls) == MAX_REDIRECTS + 1


@responses.activate
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_follow__a_write_is_never_sent_again_even_to_the_same_base(status):
    responses.post(f"{BASE}/CarePlan", status=status, headers={"Location": f"{BASE}/CarePlan/2"})
    with pytest.raises(FhirTransportError, match="was not sent again"):
        follow(lambda url: requests.post(url, json={}, allow_redirects=False, timeout=5), f"{BASE}/CarePlan",
               [BASE], method="POST")
    assert len(responses.calls) == 1


# -- a door: the web launch in open-server mode ------------------------------------------------------------


@pytest.mark.parametrize("location", ["http://evil.test/fhir/Patient/p1", "http://fhir.test/secret/Patient/p1",
                                      "/fhir/%2e%2e/secret/Patient/p1"])
def test_open_server_launch__a_redirect_elsewhere_is_the_usual_error_page_and_never_followed(tmp_path, location):
    import re

    from app import create_app

    server = "http://fhir.test/fhir"
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "VAR_DIR": str(tmp_path), "FHIR_RETRIES": 0,
                      "SMART_ALLOWED_ISS": [server], "SMART_OPEN_SERVERS": [server]})
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, re.compile(r"http://fhir\.test/fhir(/.*)?(\?.*)?"), status=302,
                 headers={"Location": location})
        plan_page = client.get(f"https://localhost/launch?iss={server}&patient=p1").headers["Location"]
        response = client.get("https://localhost" + plan_page)
        page = response.get_data(as_text=True)
        assert response.status_code == 502
        assert "A link from the FHIR server was refused" in page and "Traceback" not in page
        assert mock.calls and all(call.request.url.startswith(server + "/") for call in mock.calls)
