"""In Chromium behind the real ``ConsentGate``: a page with a frame of the same site (a widget,
a preview) shows one banner, the page's; the frame's tracker stays blocked without errors in
either document, and after "Accept all" in the page the frame runs it when it next loads.
Chromium sends the Fetch Metadata that tells the two apart by itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

PAGES = {
    "/linked": b"<!doctype html><html><head><meta charset=utf-8><title>Embed</title></head><body>"
    b'<a id="next" href="/linked?page=2">Next</a></body></html>',
    "/": b"<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body>"
    b'<h1>Shop</h1><iframe id="widget" src="/widget" width="400" height="300"></iframe></body></html>',
    "/widget": b"<!doctype html><html><head><meta charset=utf-8><title>Widget</title>"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"</head><body><p>Widget</p></body></html>",
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = PAGES.get(scope["path"], b"")
        if scope["path"] == "/outer":  # another site's page (localhost) framing this one (127.0.0.1)
            port = scope["server"][1]
            body = (
                b"<!doctype html><html><head><meta charset=utf-8><title>Other site</title></head><body>"
                b'<iframe id="embed" src="http://127.0.0.1:%d/linked" width="600" height="400"></iframe>'
                b"</body></html>" % port
            )
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200 if body else 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    gate = ConsentGate(app, secret_keys=["f" * 32], policy=load_dict({}), audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}"


def test_one_banner_for_the_page_and_its_same_site_frame(browser: Browser, site: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    loaded: list[str] = []
    errors: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(site + "/"):
            route.continue_()
        else:
            loaded.append(route.request.url)
            route.fulfill(status=200, content_type="text/javascript", body=b"window.tagRan = true;")

    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(site + "/", wait_until="load")
        frame = tab.frame_locator("#widget")
        frame.locator("p").wait_for(timeout=5000)
        widget = next(f for f in tab.frames if f.url.endswith("/widget"))
        count = "() => document.querySelectorAll('[data-consentgate-banner], [data-cg-reopen]').length"
        assert tab.evaluate(count) == 2  # the page's banner and its reopen control
        assert widget.evaluate(count) == 0
        assert widget.evaluate("() => !!document.getElementById('consentgate-state')")
        assert tab.locator("[data-consentgate-banner]").is_visible()
        assert loaded == [] and widget.evaluate("() => window.tagRan") is None

        tab.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        tab.locator("[data-consentgate-banner]").wait_for(state="hidden", timeout=5000)
        widget.evaluate("() => location.reload()")
        tab.wait_for_function(
            "() => { const f = document.getElementById('widget').contentWindow; return f && f.tagRan === true; }",
            timeout=5000,
        )
        assert any("googletagmanager" in url for url in loaded)
        assert errors == []
    finally:
        context.close()


def test_a_frame_on_another_sites_page_keeps_its_banner_after_a_link_inside_it(
    browser: Browser, site: str
) -> None:
    """Fetch Metadata names the frame's own page as the initiator of a link followed inside
    it: the page holding the frame is another site's, and it cannot ask for this one."""
    port = site.rsplit(":", 1)[1]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        tab.goto(f"http://localhost:{port}/outer", wait_until="load")
        tab.frame_locator("#embed").locator("#next").wait_for(timeout=5000)
        embed = next(f for f in tab.frames if "/linked" in f.url)
        count = "() => document.querySelectorAll('[data-consentgate-banner], [data-cg-reopen]').length"
        assert embed.evaluate(count) == 2  # first page in the frame: cross-site, its banner
        with tab.expect_event("framenavigated", lambda frame: "page=2" in frame.url, timeout=5000):
            tab.frame_locator("#embed").locator("#next").click()
        embed = next(f for f in tab.frames if "page=2" in f.url)
        embed.wait_for_load_state("load")
        assert embed.evaluate(count) == 2  # a link followed inside it: still its banner
    finally:
        context.close()
