"""Event-handler attributes (``onload``, ``onerror``, ``onclick``...) whose code loads or calls
a tracker: judged as an inline script would be, and moved aside (``data-consentgate-onload``)
until the tracker's category is granted. Handlers that name no tracker stay as they are."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playwright.sync_api import Browser

from consentgate.html.handlers import may_hold_handler
from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict
from tests.browser_kit import third_party_requests

from .kit import BODY, HEAD, allow_all, deny_all, granting, run
from .test_fastscan import rewritten

CATALOG = Rules.compile(load_dict({}))
FB_LOADER = (
    b"var s=document.createElement('script');s.src='https://connect.facebook.net/en_US/fbevents.js';"
    b"document.head.appendChild(s)"
)
GTM_LOADER = (
    b"var j=document.createElement('script');j.async=true;"
    b"j.src='https://www.googletagmanager.com/gtm.js?id=GTM-X';document.head.appendChild(j)"
)
PIXEL_ONLOAD = b'<img src="/x.gif" alt="" onload="' + FB_LOADER + b'">'
BODY_ONLOAD = b"<body onload=\"fbq('init','1')\"><p>Hello</p></body>"
PRELOAD_ONLOAD = b'<link rel=preload as=script href=/a.js onload="' + GTM_LOADER + b'">'


def test_an_image_onload_that_loads_the_meta_pixel_is_moved_aside_without_consent() -> None:
    out = run(PIXEL_ONLOAD)
    assert out == (
        b'<img data-consentgate-blocked data-consentgate-category="marketing" '
        b'data-consentgate-service="meta" src="/x.gif" alt="" data-consentgate-onload="' + FB_LOADER + b'">'
    )


def test_a_body_onload_that_calls_the_pixel_is_moved_aside_without_consent() -> None:
    out = run(BODY_ONLOAD)
    assert out.startswith(b'<body data-consentgate-blocked data-consentgate-category="marketing"')
    assert b"data-consentgate-onload=\"fbq('init','1')\"" in out
    assert b" onload=" not in out


def test_a_preload_link_whose_onload_inserts_google_tag_manager_is_moved_aside() -> None:
    out = run(PRELOAD_ONLOAD)
    assert b'data-consentgate-category="analytics"' in out
    assert b"data-consentgate-onload=" in out and b" onload=" not in out
    assert b"href=/a.js" in out  # the site's own file still preloads


def test_a_handler_of_a_granted_category_stays_byte_for_byte() -> None:
    assert run(PIXEL_ONLOAD, granting("marketing")) == PIXEL_ONLOAD
    assert run(PRELOAD_ONLOAD, granting("analytics")) == PRELOAD_ONLOAD


@pytest.mark.parametrize(
    "tag",
    [
        b'<img src="/a.png" onclick="openLightbox(this)">',
        b"<link rel=preload as=style href=/a.css onload=\"this.onload=null;this.rel='stylesheet'\">",
        b'<body onload="setupZoom()">',
        b'<form action="/search" onsubmit="return check(this)">',
        b'<img src="/a.png" onerror="this.src=\'/fallback.png\'">',
        b'<img src="/a.png" one="fbq(1)">',  # not an event handler
    ],
)
def test_handlers_that_name_no_tracker_are_left_alone(tag: bytes) -> None:
    findings: list[Finding] = []
    assert run(tag, findings=findings) == tag
    assert findings == []


def test_only_the_handlers_that_name_a_tracker_move() -> None:
    tag = b'<img src="/x.gif" onerror="fbq(\'track\',\'Lead\')" onload="ok()">'
    out = run(tag)
    assert b"data-consentgate-onerror=\"fbq('track','Lead')\"" in out
    assert b' onload="ok()"' in out


def test_character_references_do_not_hide_the_tracker_in_a_handler() -> None:
    out = run(b'<img src="/x.gif" onload="fbq&#40;&quot;init&quot;,1)">')
    assert b"data-consentgate-onload=" in out and b'data-consentgate-category="marketing"' in out


def test_handler_names_are_read_in_any_case() -> None:
    out = run(b"<IMG SRC=/x.gif ONLOAD=\"fbq('init')\">")
    assert b"data-consentgate-onload=" in out and b"ONLOAD" not in out


def test_a_script_whose_onload_calls_a_tracker_waits_with_its_handler() -> None:
    """A neutralised script fires no load event, and the runtime revives it with its handler:
    the script and the handler wait for the handler's category together."""
    tag = b"<script src=\"/app.js\" onload=\"fbq('init','1')\"></script>"
    out = run(tag)
    assert out == (
        b'<script type="text/plain" data-consentgate-blocked data-consentgate-category="marketing" '
        b'data-consentgate-service="meta" data-consentgate-src="/app.js" onload="fbq(\'init\',\'1\')"></script>'
    )
    assert run(tag, granting("marketing")) == tag


def test_a_tracker_src_and_a_tracker_handler_wait_for_the_most_sensitive_of_the_two() -> None:
    tag = b'<img src="https://www.google-analytics.com/collect?v=1" onload="fbq(\'init\')">'
    out = run(tag, granting("analytics"))
    # the image may load, its handler may not
    assert out.startswith(b'<img data-consentgate-blocked data-consentgate-category="marketing"')
    assert b'src="https://www.google-analytics.com/collect?v=1"' in out
    both = run(tag)
    assert b'data-consentgate-category="marketing"' in both
    assert b"data-consentgate-src=" in both and b"data-consentgate-onload=" in both


def test_a_handler_is_reported_as_a_finding() -> None:
    findings: list[Finding] = []
    run(BODY_ONLOAD, findings=findings)
    assert [(f.tag, f.service_id, f.action) for f in findings] == [("body", "meta", "blocked")]


def test_a_form_submit_handler_that_sends_an_event_is_moved_aside() -> None:
    out = run(b"<form action=/s onsubmit=\"gtag('event','search')\"><input name=q></form>")
    assert b"data-consentgate-onsubmit=" in out and b'data-consentgate-category="analytics"' in out


def test_a_handler_in_a_page_that_starts_without_a_head_is_found_too() -> None:
    page = b"<!doctype html><title>t</title>" + BODY_ONLOAD
    out = run(page, head=HEAD, body=BODY)
    assert b"data-consentgate-onload=" in out and out.count(HEAD) == 1


@pytest.mark.parametrize("fast", [True, False])
def test_fast_and_exact_scanners_find_the_same_handlers(fast: bool) -> None:
    page = (
        b"<!doctype html><html><head><meta charset=utf-8>" + PRELOAD_ONLOAD + b"</head>"
        b"<body onload=\"fbq('init','1')\"><p>x</p>"
        + PIXEL_ONLOAD
        + b"<video src=/v.mp4 oncanplay=\"fbq('track')\">"
        b"</video></body></html>"
    )
    expected, findings = rewritten(page, [len(page)], fast=False)
    out, fast_findings = rewritten(page, [7, 64, 3], fast=fast)
    assert out == expected and fast_findings == findings
    assert out.count(b"data-consentgate-on") == 4


_HANDLER_TAGS = st.sampled_from(
    [
        PIXEL_ONLOAD,
        BODY_ONLOAD,
        PRELOAD_ONLOAD,
        b"<img src=/a.png onclick=\"fbq('track')\" alt=x>",
        b"<script src=/a.js onload=\"gtag('js',new Date())\"></script>",
        b"<p onclick=\"fbq('x')\">text</p>",
        b'<source srcset=/a.webp onerror="' + FB_LOADER + b'">',
        b'<form onsubmit="_hjSettings={hjid:1}"></form>',
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_HANDLER_TAGS, min_size=1, max_size=6), st.lists(st.integers(1, 40), min_size=1, max_size=5))
def test_with_everything_granted_a_page_with_handlers_is_byte_identical(
    parts: list[bytes], sizes: list[int]
) -> None:
    page = (
        b"<!doctype html><html><head><meta charset=utf-8></head><body>" + b"".join(parts) + b"</body></html>"
    )
    out = run(page, allow_all, chunks=sizes, head=HEAD, body=BODY)
    assert out.replace(HEAD, b"", 1).replace(BODY, b"", 1) == page


@settings(max_examples=60, deadline=None)
@given(st.lists(_HANDLER_TAGS, min_size=1, max_size=6), st.lists(st.integers(1, 40), min_size=1, max_size=5))
def test_the_result_does_not_depend_on_the_chunks(parts: list[bytes], sizes: list[int]) -> None:
    page = (
        b"<!doctype html><html><head><meta charset=utf-8></head><body>" + b"".join(parts) + b"</body></html>"
    )
    assert run(page, deny_all, chunks=sizes, head=HEAD, body=BODY) == run(
        page, deny_all, head=HEAD, body=BODY
    )


def test_the_catalog_judges_handlers_as_it_judges_inline_scripts() -> None:
    out = run(b"<a href=/x ping=/p onclick=\"_gaq.push(['_trackEvent','nav','click'])\">x</a>", rules=CATALOG)
    assert b"data-consentgate-onclick=" in out and b'data-consentgate-service="google-analytics"' in out


# -- in a real Chromium ------------------------------------------------------------------------
RUNTIME_PAGE = (
    b"<!doctype html><html><head><title>t</title></head><body>"
    b'<img id="pic" src="/x.gif" width="80" height="80" alt="" onclick="' + FB_LOADER + b'">%s'
    b"</body></html>"
)


@pytest.mark.browser
def test_chromium_runs_a_tracker_handler_only_with_consent(browser: Browser) -> None:
    page = RUNTIME_PAGE % b""
    tracker = "https://connect.facebook.net/en_US/fbevents.js"
    assert tracker in third_party_requests(browser, page, click="#pic"), "the handler must load it as written"
    assert third_party_requests(browser, run(page, deny_all, rules=CATALOG), click="#pic") == []
    assert tracker in third_party_requests(
        browser, run(page, granting("marketing"), rules=CATALOG), click="#pic"
    )


@pytest.mark.browser
def test_chromium_gets_the_handler_back_from_the_runtime_on_grant(browser: Browser) -> None:
    """The runtime's restore() puts a moved handler back in place once its category is
    granted (here the page's state says so when the runtime starts)."""
    from consentgate.ui.render import UI

    ui = UI(load_dict({}))
    script = ui.asset(ui.asset_url("js").rpartition("/")[2])
    assert script is not None
    state = b'<script type="application/json" id="consentgate-state">{"categories":{"marketing":%s}}</script>'
    runtime = b"<script>" + script[0] + b"</script>"
    neutralised = run(RUNTIME_PAGE % b"", deny_all, rules=CATALOG)
    tracker = "https://connect.facebook.net/en_US/fbevents.js"
    refused = neutralised.replace(b"</body>", state % b"false" + runtime + b"</body>")
    granted = neutralised.replace(b"</body>", state % b"true" + runtime + b"</body>")
    assert third_party_requests(browser, refused, click="#pic") == []
    assert tracker in third_party_requests(browser, granted, click="#pic")


# Bytes around `on` in every case, and what may stand before an attribute name.
PRECHECK_PIECES = [*b"o O n N on oN ON / a Z = 1 \xc3".split(b" "), b" ", b"\t", b'"', b"'"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PRECHECK_PIECES), max_size=40).map(b"".join))
def test_the_handler_precheck_finds_every_on_name_where_a_name_can_start(tag: bytes) -> None:
    # A superset of the tag's event handlers: `on` (any case) and a letter after white space,
    # a quote or `/`. It reads the lower-cased tag with a literal `on` first (a long tag is not
    # read byte by byte); this is the plain reading of that rule.
    plain = re.search(rb"[\t\n\f\r /\"'][oO][nN][a-zA-Z]", tag) is not None
    assert may_hold_handler(tag) is plain


@pytest.mark.parametrize("handler", [b"onload", b"ONLOAD", b"onError"])
def test_a_handler_before_the_cut_of_a_tag_longer_than_the_buffer_is_held(handler: bytes) -> None:
    # A cut tag's handlers are read from its whole attributes (no pre-check over 64 KiB).
    page = b'<img src="/a.png" ' + handler + b"=\"fbq('track','PageView')\" alt=\"" + b"x " * 1000
    page += b'"><p>ok</p>'
    out = run(page, max_buffer=1024, chunks=[256])
    assert b'data-consentgate-service="meta"' in out
    assert b"data-consentgate-" + handler.lower() + b'="fbq(' in out and b" " + handler + b"=" not in out
    assert run(page, allow_all, max_buffer=1024, chunks=[256]) == page
