"""``<meta http-equiv="refresh" content="0;url=...">`` to a tracker's host: the navigation
hands the tracker the visit, so without consent the ``content`` moves aside
(``data-consentgate-content``) and the page stays where it is."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from playwright.sync_api import Browser

from consentgate.html.handlers import refresh_url
from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict
from tests.browser_kit import third_party_requests

from .kit import BODY, HEAD, allow_all, deny_all, granting, run
from .test_fastscan import rewritten

CATALOG = Rules.compile(load_dict({}))
TO_PIXEL = b'<meta http-equiv="refresh" content="0;url=https://www.facebook.com/tr?id=1&amp;ev=PageView">'


def test_a_refresh_to_a_tracker_is_neutralised_without_consent() -> None:
    assert run(TO_PIXEL) == (
        b'<meta data-consentgate-blocked data-consentgate-category="marketing" data-consentgate-service="meta" '
        b'http-equiv="refresh" data-consentgate-content="0;url=https://www.facebook.com/tr?id=1&amp;ev=PageView">'
    )


def test_a_refresh_to_a_tracker_stays_once_granted() -> None:
    assert run(TO_PIXEL, granting("marketing")) == TO_PIXEL
    assert run(TO_PIXEL, allow_all) == TO_PIXEL


@pytest.mark.parametrize(
    "tag",
    [
        b'<meta http-equiv="refresh" content="5">',  # reloads the page itself
        b'<meta http-equiv="refresh" content="0;url=/next">',
        b'<meta http-equiv="refresh" content="0; url=https://news.example.com/">',  # a site nobody declares
        b'<meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
        b'<meta name="description" content="0;url=https://www.facebook.com/tr">',  # not a refresh
        b'<meta http-equiv="refresh" content="soon;url=https://www.facebook.com/tr">',  # no delay: ignored
    ],
)
def test_other_refreshes_and_metas_are_left_alone(tag: bytes) -> None:
    findings: list[Finding] = []
    assert run(tag, findings=findings) == tag
    assert findings == []


@pytest.mark.parametrize(
    "tag",
    [
        b"<meta http-equiv=refresh content=\"0; URL='https://connect.facebook.net/x'\">",
        b'<meta content="3,url=//www.facebook.com/tr" http-equiv="REFRESH">',
        b'<META HTTP-EQUIV="Refresh" CONTENT="0;URL=https:&#47;&#47;www.facebook.com&#47;tr">',
        b'<meta http-equiv="refresh" content="0.5 https://www.facebook.com/tr">',
    ],
)
def test_every_spelling_the_browser_reads_is_found(tag: bytes) -> None:
    out = run(tag)
    assert b"data-consentgate-content=" in out and b'data-consentgate-category="marketing"' in out


@pytest.mark.parametrize(
    ("content", "url"),
    [
        (b"0;url=https://a.example/x", b"https://a.example/x"),
        (b"  1 , URL = 'https://a.example/x' ", b"https://a.example/x"),
        (b'0;url="https://a.example/x"trailing', b"https://a.example/x"),
        (b"0", None),
        (b"0;", None),
        (b"x;url=https://a.example/", None),
        (b"0x;url=https://a.example/", None),
        (b"0 https://a.example/", b"https://a.example/"),
    ],
)
def test_the_refresh_target_is_read_as_the_browser_reads_it(content: bytes, url: bytes | None) -> None:
    assert refresh_url(content) == url


def test_a_refresh_before_the_charset_meta_is_found_while_the_head_snippet_is_placed() -> None:
    page = (
        b"<!doctype html><html><head>"
        + TO_PIXEL
        + b"<meta charset=utf-8><title>t</title></head><body></body></html>"
    )
    out = run(page, head=HEAD, body=BODY)
    assert b"data-consentgate-content=" in out and out.count(HEAD) == 1


@pytest.mark.parametrize("fast", [True, False])
def test_fast_and_exact_scanners_agree_on_refreshes(fast: bool) -> None:
    page = (
        b"<!doctype html><html><head><meta charset=utf-8>"
        b'<meta name="viewport" content="width=device-width"><meta http-equiv="X-UA-Compatible" content="IE=edge">'
        + TO_PIXEL
        + b"</head><body><p>x</p></body></html>"
    )
    expected, findings = rewritten(page, [len(page)], fast=False)
    out, fast_findings = rewritten(page, [5, 31, 2], fast=fast)
    assert out == expected and fast_findings == findings
    assert out.count(b"data-consentgate-content=") == 1


def test_the_refresh_is_reported_as_a_finding() -> None:
    findings: list[Finding] = []
    run(TO_PIXEL, findings=findings)
    assert [(f.tag, f.service_id, f.rule, f.action) for f in findings] == [
        ("meta", "meta", "host", "blocked")
    ]


@pytest.mark.browser
def test_chromium_follows_a_refresh_to_a_tracker_only_with_consent(browser: Browser) -> None:
    page = (
        b"<!doctype html><html><head><title>t</title>"
        b'<meta http-equiv="refresh" content="0;url=https://www.facebook.com/tr?id=1&amp;ev=PageView">'
        b"</head><body><p>Moved</p></body></html>"
    )
    tracker = "https://www.facebook.com/tr?id=1&ev=PageView"
    assert tracker in third_party_requests(browser, page, wait_ms=800), "the refresh must navigate as written"
    assert third_party_requests(browser, run(page, deny_all, rules=CATALOG), wait_ms=800) == []
    assert tracker in third_party_requests(
        browser, run(page, granting("marketing"), rules=CATALOG), wait_ms=800
    )


_URL_BYTES = st.binary(min_size=1, max_size=30).filter(
    # (A leading quote opens a quoted URL, a leading `;` or `,` is the separator's, character
    # references are undone first: each as the browser reads them.)
    lambda u: u[:1] not in (b'"', b"'", b";", b",") and u.strip(b" \t\n\f\r") == u and b"&" not in u
)


@given(st.binary(max_size=80))
def test_any_content_reads_as_a_url_of_its_own_bytes_or_none(content: bytes) -> None:
    url = refresh_url(content)  # never raises
    assert url is None or (url and url == url.strip(b" \t\n\f\r"))


@given(
    delay=st.from_regex(rb"\A[0-9]{1,3}(\.[0-9]{0,2})?\Z"),
    separator=st.sampled_from([b";", b",", b" ", b"; ", b" ,\t"]),
    key=st.sampled_from([b"url=", b"URL = ", b"Url=", b""]),
    quote=st.sampled_from([b"", b'"', b"'"]),
    url=_URL_BYTES,
)
def test_every_well_formed_refresh_gives_back_its_url(
    delay: bytes, separator: bytes, key: bytes, quote: bytes, url: bytes
) -> None:
    if quote:
        url = url.replace(quote, b"")
        assume(url)
    if not key and not quote:
        # Without `url=`, a URL that itself begins with "url" followed by `=` would be read as the key.
        assume(url[:3].lower() != b"url")
    assert refresh_url(delay + separator + key + quote + url + quote) == url
