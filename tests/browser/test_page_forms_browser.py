"""Placeholders and the banner inside a form the page opened, in Chromium, behind the real
``ConsentGate``, with JavaScript on and off.

ASP.NET pages wrap the whole body in ``<form id="aspnetForm">`` (hindustantimes.com and
jpost.com in the corpus, with blocked embeds inside it). A ``<form>`` start tag inside an open
form is ignored by the parser, so a placeholder's "Load content" button would post the page's
form back instead of granting the embed; and where the page never closes its form, the banner's
buttons would too. Here each click must store the choice and never post the page's form.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

KEY = "f" * 32
YOUTUBE = b'<iframe width="560" height="315" src="https://www.youtube.com/embed/abc"></iframe>'
START = b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"
PAGE_FORM = (
    b'<form id="aspnetForm" method="post" action="/postback">'
    b'<input type="hidden" name="__VIEWSTATE" value="state"><h1>News</h1>'
)
PAGES = {
    "webforms": START + PAGE_FORM + YOUTUBE + b"<p>More news</p></form></body></html>",
    "unclosed": START + PAGE_FORM + YOUTUBE + b"<p>More news</p></body></html>",
}
PLACEHOLDER = "[data-consentgate-placeholder]"


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[bytes]]]:
    posted: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] == "POST":
            message = await receive()
            posted.append(message.get("body", b""))
            body, status = b"posted back", 200
        else:
            body = PAGES.get(scope["path"].strip("/"), b"")
            status = 200 if body else 404
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": body})

    gate = ConsentGate(app, secret_keys=[KEY], policy=load_dict({}), audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}", posted


@contextmanager
def _opened(browser: Browser, site: tuple[str, list[bytes]], name: str, javascript: bool) -> Iterator[Page]:
    """``/name`` in a fresh context (JavaScript on or off), the site's POST log cleared;
    third-party requests are answered here with an empty 204."""
    origin, posted = site
    posted.clear()
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})

    def handle(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            route.fulfill(status=204, body=b"")

    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.goto(f"{origin}/{name}", wait_until="load")
        yield tab
    finally:
        context.close()


def _owner(control: Locator) -> str | None:
    """The ``data-consentgate-form`` of the form a button submits (None: the page's, or none)."""
    found: str | None = control.evaluate("b => b.form && b.form.getAttribute('data-consentgate-form')")
    return found


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_load_content_grants_the_embed_and_never_posts_the_pages_form(
    browser: Browser, site: tuple[str, list[bytes]], name: str, javascript: bool
) -> None:
    origin, posted = site
    with _opened(browser, site, name, javascript) as tab:
        assert tab.locator("iframe").get_attribute("src") is None  # blocked before the choice
        button = tab.locator(f"{PLACEHOLDER} button")
        assert _owner(button) == "embed"
        button.click()
        if javascript:  # granted in place: the frame loads, the placeholder goes
            tab.locator(PLACEHOLDER).wait_for(state="detached", timeout=5000)
        else:  # the consent endpoint sends the browser back to the page
            tab.wait_for_url(f"{origin}/{name}", timeout=5000)
            tab.wait_for_load_state("load")
        assert posted == [], "the page's form was posted"
        tab.goto(f"{origin}/{name}", wait_until="load")
        # The server now sends the frame as it is: the choice was stored.
        assert tab.locator("iframe").get_attribute("src") == "https://www.youtube.com/embed/abc"
        assert tab.locator(PLACEHOLDER).count() == 0


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_banner_works_where_the_page_never_closes_its_form(
    browser: Browser, site: tuple[str, list[bytes]], javascript: bool
) -> None:
    origin, posted = site
    with _opened(browser, site, "unclosed", javascript) as tab:
        reject = tab.locator("[data-consentgate-banner] [data-cg-action='reject_all']")
        assert _owner(reject) == "banner"
        reject.click()
        if not javascript:
            tab.wait_for_url(f"{origin}/unclosed", timeout=5000)
        tab.wait_for_timeout(300)
        assert posted == [], "the page's form was posted"
        assert any(c["name"].endswith("consentgate") for c in tab.context.cookies())
        tab.goto(f"{origin}/unclosed", wait_until="load")
        assert tab.locator("[data-consentgate-banner]").count() == 0
        assert tab.locator(PLACEHOLDER).count() == 1  # refused: the embed stays blocked
