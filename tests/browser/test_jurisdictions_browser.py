"""Regions, GPC and Consent Mode in a real Chromium, through the real middleware (CG-59, CG-61,
CG-62, CG-65, CG-70, CG-73).

The site runs on 127.0.0.1; its trackers on other loopback addresses, each its own origin:
analytics on 127.0.0.2, a sale/share pixel on 127.0.0.3, a stand-in Google tag on 127.0.0.4.
Every request a tracker origin receives is recorded, so "never loads" means never requested.
The region comes from a header the browser sends, trusted because the peer is 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import TrackerScripts, open_tab, serve_site, settle

pytestmark = pytest.mark.browser

KEY = "k" * 32
HOSTS = {"analytics": "127.0.0.2", "pixel": "127.0.0.3", "gtag": "127.0.0.4"}
SCRIPTS = {
    "analytics": b"window.analyticsRan = true;",
    "pixel": b"window.pixelRan = true;",
    # What gtag.js would see first: the dataLayer as it is when the tag runs.
    "gtag": b"window.dataLayerAtTag = JSON.parse(JSON.stringify(Array.prototype.slice.call("
    b"window.dataLayer || []).map(function (e) { return Array.prototype.slice.call(e); })));",
}
GPC_DOM = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });"


def policy(consent_mode: str = "basic") -> Any:
    return load_dict(
        {
            "version": "2026-11-01",
            "include_catalog": False,
            "consent_mode": {"mode": consent_mode},
            "services": {
                "stats": {"category": "analytics", "hosts": [HOSTS["analytics"]]},
                "pixel": {"category": "marketing", "hosts": [HOSTS["pixel"]], "sale_share": True},
                "google-tag-manager": {"category": "analytics", "hosts": [HOSTS["gtag"]]},
            },
        }
    )


def site(trackers: TrackerScripts, consent_mode: str, sink: MemorySink) -> ConsentGate:
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>"
        f'<script src="{trackers.url("gtag")}"></script>'
        f'<script src="{trackers.url("analytics")}"></script>'
        f'<script src="{trackers.url("pixel")}"></script>'
        "</head><body><main><h1>Shop</h1></main></body></html>"
    )

    async def home(request: Request) -> Response:
        return HTMLResponse(page)

    return ConsentGate(
        Starlette(routes=[Route("/", home)]),
        secret_keys=[KEY],
        policy=policy(consent_mode),
        audit=sink,
        region_header="X-Region",
        trusted_proxies=["127.0.0.1"],
    )


@dataclass
class World:
    base: str
    trackers: TrackerScripts
    sink: MemorySink


@contextmanager
def world(port: int, consent_mode: str = "basic") -> Iterator[World]:
    # The same free port on every loopback address: 127.0.0.1 is the site, the others trackers.
    trackers = TrackerScripts(port, HOSTS, SCRIPTS)
    sink = MemorySink()
    with serve_site(port, site(trackers, consent_mode, sink), trackers.apps()) as base:
        yield World(base, trackers, sink)


@contextmanager
def tab(browser: Browser, region: str, *, gpc: bool) -> Iterator[Page]:
    headers = {"x-region": region}
    if gpc:
        headers["sec-gpc"] = "1"
    with open_tab(browser, *([GPC_DOM] if gpc else []), extra_http_headers=headers) as page:
        yield page


def consent_calls(page: Page, kind: str) -> list[dict[str, str]]:
    calls: list[dict[str, str]] = page.evaluate(
        """kind => (window.dataLayer || []).map(e => Array.prototype.slice.call(e))
            .filter(a => a[0] === 'consent' && a[1] === kind).map(a => a[2])""",
        kind,
    )
    return calls


def test_california_gpc_blocks_the_sale_share_pixel_without_any_dialog(
    browser: Browser, free_port: int
) -> None:
    with world(free_port) as w, tab(browser, "US-CA", gpc=True) as page:
        page.goto(w.base + "/")
        settle(page)
        assert "pixel" not in w.trackers.hits
        assert page.evaluate("window.pixelRan === undefined")
        assert page.evaluate("window.analyticsRan === true")
        assert page.locator("[data-consentgate-banner]").count() == 0
        assert not page.locator("dialog[data-consentgate-centre]").evaluate("d => d.open")
        status = page.locator("[data-cg-gpc-status]").first
        assert status.is_visible()
        assert status.inner_text() == "Opt-out preference signal honored"
        assert page.locator("[data-cg-reopen]").inner_text().startswith("Your Privacy Choices")
        assert [e.action for e in w.sink.events] == ["gpc_optout"]
        default = consent_calls(page, "default")
        assert len(default) == 1
        assert default[0]["ad_storage"] == "denied" and default[0]["analytics_storage"] == "granted"


def test_eu_gpc_accept_all_runs_analytics_but_not_marketing_and_says_why(
    browser: Browser, free_port: int
) -> None:
    with world(free_port) as w, tab(browser, "DE", gpc=True) as page:
        page.goto(w.base + "/")
        settle(page)
        assert w.trackers.hits == []
        notice = page.locator("[data-consentgate-banner] [data-cg-gpc-notice]")
        assert notice.is_visible()
        page.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        page.wait_for_function("window.analyticsRan === true")
        settle(page)
        assert "analytics" in w.trackers.hits and "pixel" not in w.trackers.hits
        assert page.evaluate("window.pixelRan === undefined")
        assert [e.action for e in w.sink.events] == ["accept_all"]
        assert w.sink.events[0].sec_gpc and w.sink.events[0].detail.get("nav_gpc") == "true"
        page.reload()
        settle(page)
        assert "pixel" not in w.trackers.hits
        assert page.locator("dialog[data-consentgate-centre] [data-cg-gpc-notice]").count() == 1


def test_consent_default_precedes_google_tag_and_each_choice_pushes_one_update(
    browser: Browser, free_port: int
) -> None:
    with world(free_port) as w, tab(browser, "FR", gpc=False) as page:
        page.goto(w.base + "/")
        settle(page)
        assert "gtag" not in w.trackers.hits  # basic mode: blocked until analytics is granted
        defaults = consent_calls(page, "default")
        assert len(defaults) == 1 and defaults[0]["analytics_storage"] == "denied"
        assert defaults[0]["wait_for_update"] == 500  # type: ignore[comparison-overlap]
        page.locator("[data-consentgate-banner] [data-cg-action='reject_all']").click()
        page.wait_for_function("document.querySelector('[data-consentgate-banner]') === null")
        assert len(consent_calls(page, "update")) == 1
        page.locator("[data-cg-reopen]").click()
        page.locator("dialog[data-consentgate-centre] input[name='category'][value='analytics']").check()
        page.locator("dialog[data-consentgate-centre] [data-cg-action='save']").click()
        page.wait_for_function("window.dataLayerAtTag !== undefined")
        updates = consent_calls(page, "update")
        assert len(updates) == 2
        assert updates[0]["analytics_storage"] == "denied" and updates[1]["analytics_storage"] == "granted"
        at_tag: list[list[Any]] = page.evaluate("window.dataLayerAtTag")
        assert at_tag[0][:2] == ["consent", "default"]
        assert [e.action for e in w.sink.events] == ["reject_all", "save"]


def test_advanced_mode_loads_the_google_tag_with_the_denied_default_first(
    browser: Browser, free_port: int
) -> None:
    with world(free_port, consent_mode="advanced") as w, tab(browser, "FR", gpc=False) as page:
        page.goto(w.base + "/")
        page.wait_for_function("window.dataLayerAtTag !== undefined")
        at_tag: list[list[Any]] = page.evaluate("window.dataLayerAtTag")
        assert at_tag[0][:2] == ["consent", "default"]
        assert at_tag[0][2]["analytics_storage"] == "denied" and at_tag[0][2]["ad_storage"] == "denied"
        assert "analytics" not in w.trackers.hits
