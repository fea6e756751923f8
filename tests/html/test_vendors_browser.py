"""In a real Chromium: vendor snippets and embeds the catalog knows only by host (or, for
Google Maps on www.google.com, by URL) load nothing once rewritten with no consent, and load
again with consent. Every request Chromium makes is answered locally and recorded."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route

from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict

from .kit import deny_all, granting, run
from .test_embeds import EMBEDS
from .test_inline_loaders import CRISP, MAILCHIMP, ZERGNET_WRITE

pytestmark = pytest.mark.browser

CATALOG = Rules.compile(load_dict({}))
SITE = "https://site.test/"
PAGE = b"<!doctype html><html><head><title>t</title></head><body><h1>Shop</h1>%s</body></html>"


def third_party_requests(browser: Browser, page_bytes: bytes) -> list[str]:
    """Hosts other than the site's that Chromium requests for the page."""
    seen: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(SITE):
            body = page_bytes if url == SITE else b""
            route.fulfill(status=200, body=body, headers={"content-type": "text/html; charset=utf-8"})
            return
        seen.append(urlsplit(url).hostname or "")
        route.fulfill(status=204, body=b"")

    context = browser.new_context()
    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.goto(SITE, wait_until="load")
        tab.wait_for_timeout(300)  # scripts a loader inserts are requested after load
    finally:
        context.close()
    return sorted(set(seen))


@pytest.mark.parametrize(
    ("snippet", "category", "host"),
    [
        pytest.param(CRISP, "preferences", "client.crisp.chat", id="crisp-loader"),
        pytest.param(MAILCHIMP, "marketing", "chimpstatic.com", id="mailchimp-loader"),
        pytest.param(ZERGNET_WRITE, "marketing", "www.zergnet.com", id="document-write-loader"),
        pytest.param(EMBEDS["google-maps"], "marketing", "www.google.com", id="google-maps-embed"),
        pytest.param(EMBEDS["spotify"], "marketing", "open.spotify.com", id="spotify-embed"),
    ],
)
def test_chromium_requests_the_vendor_only_with_consent(
    browser: Browser, snippet: bytes, category: str, host: str
) -> None:
    page = PAGE % snippet
    assert host in third_party_requests(browser, page), "the snippet must load its vendor before rewriting"
    assert third_party_requests(browser, run(page, deny_all, rules=CATALOG)) == []
    assert host in third_party_requests(browser, run(page, granting(category), rules=CATALOG))
