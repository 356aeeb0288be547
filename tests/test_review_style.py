"""The EHR's smart_style_url: fetched server-side from the launch's own server only, values sanitised."""

from __future__ import annotations

import pytest
import responses

from app.views.review import _fetch_style, style_css

ISS = "https://ehr.test/fhir"


@pytest.mark.parametrize(("style", "css"), [
    ({"color_highlight": "#0a7c59"}, ":root { --accent: #0a7c59; }\n"),
    ({"color_text": "rgb(20, 20, 20)"}, ":root { --ink: rgb(20, 20, 20); } body { color: rgb(20, 20, 20); }\n"),
    ({"font_family_body": "Georgia, serif"}, "body { font-family: Georgia, serif; }\n"),
    ({"color_highlight": "red; } body { background: url(https://evil.test/x) "}, "\n"),
    ({"color_background": "url(https://evil.test/pixel)"}, "\n"),
    ({"font_family_body": "x</style><script>"}, "\n"),
    ({"color_highlight": 12}, "\n"),
])
def test_style_css__only_plain_colours_and_font_names(style, css):
    assert style_css(style) == css


@responses.activate
def test_fetch_style__reads_the_style_from_the_launch_server():
    responses.get("https://ehr.test/smart-style.json", json={"color_highlight": "#123456"})
    assert _fetch_style("https://ehr.test/smart-style.json", ISS) == {"color_highlight": "#123456"}


@responses.activate
@pytest.mark.parametrize("url", ["https://evil.test/style.json", "http://ehr.test/style.json",
                                 "https://ehr.test:8443/style.json", None, ""])
def test_fetch_style__never_contacts_another_server(url):
    assert _fetch_style(url, ISS) == {}
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("reply", [{"status": 500}, {"body": "not json"}, {"json": ["a", "list"]},
                                   {"status": 302, "headers": {"Location": "https://evil.test/"}}])
def test_fetch_style__a_broken_style_means_default_colours(reply):
    responses.get("https://ehr.test/style.json", **reply)
    assert _fetch_style("https://ehr.test/style.json", ISS) == {}
