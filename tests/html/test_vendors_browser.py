"""In a real Chromium: vendor snippets and embeds the catalog knows only by host (or, for
Google Maps on www.google.com, by URL) load nothing once rewritten with no consent, and load
again with consent. Every request Chromium makes is answered locally and recorded."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict
from tests.browser_kit import third_party_requests

from .kit import deny_all, granting, run
from .test_embeds import EMBEDS
from .test_hosted_analytics import DATADOG_RUM, PIWIK_PRO, SPOTIFY_PIXEL
from .test_inline_loaders import CRISP, FETCH, MAILCHIMP, ZERGNET_WRITE

pytestmark = pytest.mark.browser

CATALOG = Rules.compile(load_dict({}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><h1>Shop</h1>%s</body></html>"


def requested_hosts(browser: Browser, page_bytes: bytes) -> list[str]:
    """Hosts other than the site's that Chromium requests for the page."""
    seen = third_party_requests(browser, page_bytes, wait_ms=300)
    return sorted({urlsplit(url).hostname or "" for url in seen})


@pytest.mark.parametrize(
    ("snippet", "category", "host"),
    [
        pytest.param(CRISP, "preferences", "client.crisp.chat", id="crisp-loader"),
        pytest.param(MAILCHIMP, "marketing", "chimpstatic.com", id="mailchimp-loader"),
        pytest.param(ZERGNET_WRITE, "marketing", "www.zergnet.com", id="document-write-loader"),
        pytest.param(EMBEDS["google-maps"], "marketing", "www.google.com", id="google-maps-embed"),
        pytest.param(EMBEDS["spotify"], "marketing", "open.spotify.com", id="spotify-embed"),
        pytest.param(PIWIK_PRO, "analytics", "acme.containers.piwik.pro", id="piwik-pro-loader"),
        pytest.param(DATADOG_RUM, "analytics", "www.datadoghq-browser-agent.com", id="datadog-rum-loader"),
        pytest.param(SPOTIFY_PIXEL, "marketing", "pixel.byspotify.com", id="spotify-pixel-loader"),
        pytest.param(FETCH, "marketing", "www.facebook.com", id="fetch-to-a-pixel-endpoint"),
    ],
)
def test_chromium_requests_the_vendor_only_with_consent(
    browser: Browser, snippet: bytes, category: str, host: str
) -> None:
    page = PAGE % snippet
    assert host in requested_hosts(browser, page), "the snippet must load its vendor before rewriting"
    assert requested_hosts(browser, run(page, deny_all, rules=CATALOG)) == []
    assert host in requested_hosts(browser, run(page, granting(category), rules=CATALOG))
