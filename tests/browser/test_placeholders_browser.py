"""Placeholders where pages put embeds, in Chromium behind the real ``ConsentGate``, with
JavaScript on and off.

The classic WordPress editor wraps an embed in a paragraph, and a page's template may end
without ``</body>``. A placeholder there must keep the paragraph whole (phrasing content only,
its form elsewhere: consentgate.html.placeholders), look as it does anywhere else, and its "Load
content" must load that one embed: in place with JavaScript, through its form without.

Third-party frames are answered here by the browser context: nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

KEY = "p" * 32
YOUTUBE = b'<iframe title="Video" width="480" height="270" src="https://www.youtube.com/embed/abc"></iframe>'
MAP = b'<iframe title="Map" width="480" height="270" src="https://www.google.com/maps/embed?pb=1"></iframe>'
START = b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body><main>"
PAGES = {
    # Two embeds, each in a paragraph of text (the classic WordPress editor), one in a heading.
    "paragraphs": START + b"<p>Watch: " + YOUTUBE + b" and tell us.</p>"
    b"<h2>Find us " + MAP + b"</h2><p>The end.</p></main></body></html>",
    # No </p>, no </body>, no </html>: the placeholders' forms come at the very end.
    "unended": START + b"<p>Watch: " + YOUTUBE + b" and find us: " + MAP,
}
# An embed inside a label with no control of its own: the placeholder's button must not become
# the label's control (a click on the label's text would grant YouTube).
LABELLED = (
    START
    + b"<p><label id=clip>Our clip of the week: "
    + YOUTUBE
    + b" (2 min)</label></p></main></body></html>"
)
PLACEHOLDER = "[data-consentgate-placeholder]"


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = {**PAGES, "label": LABELLED}.get(scope["path"].strip("/"), b"")
        await send(
            {
                "type": "http.response.start",
                "status": 200 if body else 404,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    gate = ConsentGate(app, secret_keys=[KEY], policy=load_dict({}), audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def opened(browser: Browser, origin: str, name: str, *, javascript: bool, consent: int = 0) -> Iterator[Page]:
    """``/name`` for a fresh visitor; frames off this site get an empty page, and with
    ``consent`` the consent endpoint answers with that status instead of the server."""
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1024, "height": 900})

    def handle(route: Route) -> None:
        if consent and route.request.url.endswith("/_consentgate/consent"):
            route.fulfill(status=consent, body=b"")
        elif route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            route.fulfill(status=200, content_type="text/html", body=b"<!doctype html><p>embed")

    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        tab.goto(f"{origin}/{name}", wait_until="load")
        yield tab
    finally:
        context.close()


def frame_srcs(tab: Page) -> dict[str, str | None]:
    found: dict[str, str | None] = tab.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('iframe')].map(f => [f.title, f.getAttribute('src')]))"
    )
    return found


def test_a_placeholder_keeps_its_paragraph_whole_and_shows_as_a_block(browser: Browser, origin: str) -> None:
    with opened(browser, origin, "paragraphs", javascript=False) as tab:
        layout = tab.evaluate(
            """() => [...document.querySelectorAll('[data-consentgate-placeholder]')].map(box => {
                const holder = box.parentElement, own = holder.getBoundingClientRect();
                const shown = box.getBoundingClientRect();
                return [holder.tagName, holder.firstChild.textContent, box.nextSibling && box.nextSibling.textContent,
                        Math.round(own.width - shown.width), shown.height > 100, getComputedStyle(box).display];
            })"""
        )
        # Each placeholder stays in its paragraph or heading (the text after it too) and spans
        # its width, as a block; the page's paragraphs are all there, none empty.
        assert layout == [
            ["P", "Watch: ", " and tell us.", 0, True, "grid"],
            ["H2", "Find us ", None, 0, True, "grid"],
        ]
        texts = tab.evaluate("() => [...document.querySelectorAll('main p')].map(p => p.textContent.trim())")
        assert [t.split(":")[0] for t in texts] == ["Watch", "The end."]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_load_content_loads_that_embed_alone(
    browser: Browser, origin: str, name: str, javascript: bool
) -> None:
    with opened(browser, origin, name, javascript=javascript) as tab:
        assert frame_srcs(tab) == {"Video": None, "Map": None}
        button = tab.locator(f"{PLACEHOLDER}[data-consentgate-service='google-maps'] button")
        assert button.evaluate("b => b.form && b.form.getAttribute('data-consentgate-form')") == "embed"
        button.click()
        if javascript:  # granted in place: the frame loads, its placeholder goes
            tab.locator(f"{PLACEHOLDER}[data-consentgate-service='google-maps']").wait_for(state="detached")
        else:  # the consent endpoint sends the browser back to the page
            tab.wait_for_url(f"{origin}/{name}")
            tab.wait_for_load_state("load")
        assert frame_srcs(tab) == {"Video": None, "Map": "https://www.google.com/maps/embed?pb=1"}
        assert tab.locator(PLACEHOLDER).count() == 1  # the video's, still asking


def test_a_choice_not_stored_is_said_in_the_placeholder(browser: Browser, origin: str) -> None:
    with opened(browser, origin, "paragraphs", javascript=True, consent=500) as tab:
        video = tab.locator(f"{PLACEHOLDER}[data-consentgate-service='youtube']")
        video.locator("button").click()
        video.locator("[data-consentgate-error]").wait_for(state="visible")
        assert tab.locator("[data-consentgate-error]:visible").count() == 1
        assert frame_srcs(tab) == {"Video": None, "Map": None}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_click_on_the_text_of_a_label_around_an_embed_grants_nothing(
    browser: Browser, origin: str, javascript: bool
) -> None:
    with opened(browser, origin, "label", javascript=javascript) as tab:
        posts: list[str] = []
        tab.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        button = tab.locator(f"{PLACEHOLDER} button")
        assert button.evaluate("b => b.closest('label') === null && b.labels.length === 0")
        assert tab.evaluate("() => document.getElementById('clip').control") is None
        tab.locator("#clip").click(position={"x": 5, "y": 5})  # on "Our clip of the week"
        tab.wait_for_timeout(300)
        assert posts == [] and tab.url == f"{origin}/label"
        assert frame_srcs(tab) == {"Video": None}
        button.click()  # the button itself still loads it
        if javascript:
            tab.locator(PLACEHOLDER).wait_for(state="detached")
        else:
            tab.wait_for_url(f"{origin}/label")
            tab.wait_for_load_state("load")
        assert frame_srcs(tab) == {"Video": "https://www.youtube.com/embed/abc"}
