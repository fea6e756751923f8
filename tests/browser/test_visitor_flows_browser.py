"""Two visitor flows in Chromium, behind the real ``ConsentGate``.

"Load content" on a first visit grants that one embed and answers no other question: the video
plays, and the banner keeps asking on this page and the next ones until the visitor chooses
(with JavaScript and without). And a tab the visitor comes back to after withdrawing consent in
another tab never throws away what they typed into the page: it stops what it can in place
instead of reloading.

The site runs on 127.0.0.1; the YouTube frame's requests are answered here by the browser
context, so nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

KEY = "v" * 32
PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Contact</title>"
    b'<script data-category="marketing">window.marketingRuns = (window.marketingRuns || 0) + 1;</script>'
    b"</head><body><main><h1>Contact us</h1>"
    b'<iframe width="320" height="180" src="https://www.youtube.com/embed/abc"></iframe>'
    b'<form method="post" action="/sent"><label>Message <textarea name="message"></textarea></label>'
    b"<button>Send</button></form></main></body></html>"
)
BANNER = "[data-consentgate-banner]"
PLACEHOLDER = "[data-consentgate-placeholder]"
FRAME = "iframe[data-consentgate-category]"
# The marketing category as the page's runtime holds it now.
MARKETING_OFF = "() => window.consentgate.state.categories.marketing === false"


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, MemorySink]]:
    sink = MemorySink()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = PAGE if scope["path"] == "/" else b"<!doctype html><title>Sent</title><p>Thanks"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": body})

    policy = load_dict({"consent_mode": {"mode": "basic"}})
    gate = ConsentGate(app, secret_keys=[KEY], policy=policy, audit=sink)
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}", sink


@contextmanager
def visitor(browser: Browser, origin: str, *, javascript: bool = True) -> Iterator[BrowserContext]:
    """A fresh visitor (own cookie jar); every request off this site is answered here."""
    context = browser.new_context(java_script_enabled=javascript)

    def handle(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            route.fulfill(status=200, content_type="text/html", body=b"<!doctype html><p>video")

    try:
        context.route("**/*", handle)
        yield context
    finally:
        context.close()


def opened(context: BrowserContext, origin: str) -> Page:
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.goto(origin + "/", wait_until="load")
    return tab


def frame_src(tab: Page) -> str | None:
    src: str | None = tab.locator(FRAME).first.get_attribute("src") if tab.locator(FRAME).count() else None
    if src is None:
        src = tab.locator("iframe").first.get_attribute("src")
    return src


# -- "Load content" on a first visit ---------------------------------------------------------------


def test_load_content_plays_the_video_and_the_banner_keeps_asking(browser: Browser, site: Any) -> None:
    origin, _ = site
    with visitor(browser, origin) as context:
        tab = opened(context, origin)
        assert tab.locator(BANNER).is_visible() and frame_src(tab) is None
        with tab.expect_response(lambda r: r.url.endswith("/_consentgate/consent")) as posted:
            tab.locator(f"{PLACEHOLDER} button").click()
        assert posted.value.status == 200
        tab.locator(PLACEHOLDER).wait_for(state="detached")
        assert frame_src(tab) == "https://www.youtube.com/embed/abc"
        # Nothing else was answered: the banner still asks, the "Privacy choices" link waits.
        tab.wait_for_timeout(300)
        assert tab.locator(BANNER).is_visible()
        assert tab.locator("[data-cg-reopen]").is_hidden()
        assert tab.evaluate("() => window.marketingRuns") is None
        # ... on the next page too, where the server sends the video as it is.
        tab.reload(wait_until="load")
        assert tab.locator(BANNER).is_visible()
        assert tab.locator("iframe").get_attribute("src") == "https://www.youtube.com/embed/abc"
        assert tab.locator(PLACEHOLDER).count() == 0
        # A real choice ends the question.
        tab.locator(f"{BANNER} [data-cg-action='accept_all']").click()
        tab.locator(BANNER).wait_for(state="detached")
        tab.wait_for_function("() => window.marketingRuns === 1")
        assert tab.locator("[data-cg-reopen]").is_visible()


def test_without_javascript_load_content_plays_the_video_and_the_banner_keeps_asking(
    browser: Browser, site: Any
) -> None:
    origin, sink = site
    with visitor(browser, origin, javascript=False) as context:
        tab = opened(context, origin)
        before = len(sink.events)
        tab.locator(f"{PLACEHOLDER} button").click()
        tab.wait_for_url(origin + "/")
        tab.wait_for_load_state("load")
        assert tab.locator("iframe").get_attribute("src") == "https://www.youtube.com/embed/abc"
        assert tab.locator(BANNER).is_visible()
        [event] = sink.events[before:]
        assert (event.ui_action, event.detail.get("decision")) == ("embed.save", "pending")


# -- a withdrawal in another tab -------------------------------------------------------------------


def accepted_and_typed(context: BrowserContext, origin: str, text: str) -> Page:
    tab = opened(context, origin)
    tab.locator(f"{BANNER} [data-cg-action='accept_all']").click()
    tab.wait_for_function("() => window.marketingRuns === 1")
    if text:
        tab.locator("textarea").fill(text)
    tab.evaluate("() => { window.sameDocument = true; }")
    return tab


def withdraw_in_another_tab(context: BrowserContext, origin: str) -> None:
    other = opened(context, origin)
    other.locator("[data-cg-reopen]").click()
    with other.expect_response(lambda r: r.url.endswith("/_consentgate/consent")):
        other.locator("dialog[data-consentgate-centre] [data-cg-action='reject_all']").click()
    other.close()


def come_back(tab: Page) -> None:
    # (Headless tabs never turn hidden: the event a browser sends when the tab is shown again.)
    tab.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")


def test_a_tab_with_unsent_input_keeps_it_after_a_withdrawal_elsewhere(browser: Browser, site: Any) -> None:
    origin, _ = site
    with visitor(browser, origin) as context:
        tab = accepted_and_typed(context, origin, "Half a message")
        navigations: list[str] = []
        tab.on(
            "framenavigated", lambda frame: navigations.append(frame.url) if frame == tab.main_frame else None
        )
        withdraw_in_another_tab(context, origin)
        come_back(tab)
        tab.wait_for_function(MARKETING_OFF)
        tab.wait_for_timeout(500)
        # Not reloaded: the same document, with what the visitor typed.
        assert navigations == []
        assert tab.evaluate("() => window.sameDocument") is True
        assert tab.locator("textarea").input_value() == "Half a message"
        # What can be stopped in place is: Google's tags are told, nothing withdrawn runs again.
        updates = tab.evaluate(
            "() => window.dataLayer.filter(a => a[0] === 'consent' && a[1] === 'update').map(a => a[2])"
        )
        assert updates[-1]["ad_storage"] == "denied" and updates[-1]["analytics_storage"] == "denied"
        assert tab.evaluate("() => window.marketingRuns") == 1
        # "Privacy choices" opens the choice as it is now, in place (not the preferences page).
        tab.locator("[data-cg-reopen]").click()
        tab.locator("dialog[data-consentgate-centre][open]").wait_for()
        assert not tab.locator("#consentgate-cat-marketing").is_checked()
        assert navigations == [] and tab.locator("textarea").input_value() == "Half a message"
        # Sending the form leads to a page served under the new choice.
        tab.keyboard.press("Escape")
        tab.locator("form[action='/sent'] button").click()
        tab.wait_for_url(origin + "/sent")


def test_an_untouched_tab_still_reloads_after_a_withdrawal_elsewhere(browser: Browser, site: Any) -> None:
    origin, _ = site
    with visitor(browser, origin) as context:
        tab = accepted_and_typed(context, origin, "")
        withdraw_in_another_tab(context, origin)
        with tab.expect_navigation():
            come_back(tab)
        tab.wait_for_load_state("load")
        # A fresh page, served with marketing blocked again.
        assert tab.evaluate("() => window.sameDocument") is None
        assert tab.evaluate("() => window.marketingRuns") is None


def test_a_withdrawal_in_this_tab_keeps_the_unsent_input_too(browser: Browser, site: Any) -> None:
    origin, _ = site
    with visitor(browser, origin) as context:
        tab = accepted_and_typed(context, origin, "Half a message")
        tab.locator("[data-cg-reopen]").click()
        with tab.expect_response(lambda r: r.url.endswith("/_consentgate/consent")):
            tab.locator("dialog[data-consentgate-centre] [data-cg-action='reject_all']").click()
        tab.wait_for_function(MARKETING_OFF)
        tab.wait_for_timeout(500)
        assert tab.evaluate("() => window.sameDocument") is True
        assert tab.locator("textarea").input_value() == "Half a message"
