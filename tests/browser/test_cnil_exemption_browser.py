"""The CNIL audience-measurement exemption in a real Chromium, through the real middleware (CG-53).

The site runs on 127.0.0.1 with a Matomo-style inline tracker (``_paq.push``) flagged exempt, and
a plain analytics script on 127.0.0.2. The app sets a two-year ``_pk_id`` cookie on every page;
the browser's own cookie jar shows what it kept. The region comes from a header the browser
sends, trusted because the peer is 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.policy.model import CNIL_CONDITIONS
from tests.browser_kit import TrackerScripts, open_tab, serve_site, settle

pytestmark = pytest.mark.browser

KEY = "k" * 32
HOSTS = {"analytics": "127.0.0.2"}
SCRIPTS = {"analytics": b"window.analyticsRan = true;"}
CONDITIONS = tuple(name for name, _ in CNIL_CONDITIONS)  # all asserted (tests/policy checks each)
POLICY = load_dict(
    {
        "version": "2026-11-01",
        "include_catalog": False,
        "services": {
            "audience": {
                "name": "Matomo",
                "category": "analytics",
                "signatures": ["_paq.push("],
                "cookies": [{"pattern": "_pk_id\\..*", "lifetime": "13 months"}],
                "cnil_exempt_audience": dict.fromkeys(CONDITIONS, True),
            },
            "stats": {"category": "analytics", "hosts": [HOSTS["analytics"]]},
        },
    }
)
TWO_YEARS = 2 * 365 * 86400
THIRTEEN_MONTHS = 393 * 86400


@dataclass
class World:
    base: str
    trackers: TrackerScripts
    sink: MemorySink


@contextmanager
def world(port: int) -> Iterator[World]:
    trackers = TrackerScripts(port, HOSTS, SCRIPTS)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Boutique</title>"
        "<script>var _paq = window._paq = []; _paq.push(['trackPageView']); window.audienceRan = true;</script>"
        f'<script src="{trackers.url("analytics")}"></script>'
        "</head><body><main><h1>Boutique</h1></main></body></html>"
    )

    async def home(request: Request) -> Response:
        response = HTMLResponse(page)
        response.headers.append("set-cookie", f"_pk_id.1.ab=v; Max-Age={TWO_YEARS}; Path=/")
        return response

    sink = MemorySink()
    site = ConsentGate(
        Starlette(routes=[Route("/", home)]),
        secret_keys=[KEY],
        policy=POLICY,
        audit=sink,
        region_header="X-Region",
        trusted_proxies=["127.0.0.1"],
    )
    with serve_site(port, site, trackers.apps()) as base:
        yield World(base, trackers, sink)


@contextmanager
def tab(browser: Browser, region: str) -> Iterator[Page]:
    with open_tab(browser, extra_http_headers={"x-region": region}) as page:
        yield page


def pk_id(page: Page) -> list[float]:
    return [c["expires"] for c in page.context.cookies() if c["name"] == "_pk_id.1.ab"]


def test_in_france_the_exempt_tracker_runs_and_the_switch_in_the_centre_objects(
    browser: Browser, free_port: int
) -> None:
    with world(free_port) as w, tab(browser, "FR") as page:
        page.goto(w.base + "/")
        settle(page)
        assert page.evaluate("window.audienceRan === true")
        assert "analytics" not in w.trackers.hits
        note = page.locator("[data-consentgate-banner] [data-cg-cnil-exempt]")
        assert note.is_visible() and note.inner_text().startswith("Matomo: Runs without asking first")
        (expiry,) = pk_id(page)
        assert expiry <= time.time() + THIRTEEN_MONTHS  # the browser kept 13 months, not two years
        page.locator("[data-consentgate-banner] [data-cg-action='customise']").click()
        switch = page.locator("dialog[data-consentgate-centre] input[name='service'][value='audience']")
        switch.wait_for(state="visible")  # the centre reads the stored state before it opens
        assert switch.is_checked()
        switch.uncheck()
        with page.expect_navigation():  # code that ran cannot be unloaded: the page reloads
            page.locator("dialog[data-consentgate-centre] [data-cg-action='save']").click()
        settle(page)
        assert page.evaluate("window.audienceRan === undefined")
        assert "analytics" not in w.trackers.hits
        assert pk_id(page) == []  # expired with the choice; the app cannot set it again
        assert not page.locator(
            "dialog[data-consentgate-centre] input[name='service'][value='audience']"
        ).is_checked()
        (event,) = w.sink.events
        assert (event.action, event.region, event.ui_action) == ("save", "FR", "preferences.save.cnil_object")
        assert event.services["audience"] is False


def test_in_germany_the_exempt_tracker_waits_for_consent_like_any_other(
    browser: Browser, free_port: int
) -> None:
    with world(free_port) as w, tab(browser, "DE") as page:
        page.goto(w.base + "/")
        settle(page)
        assert page.evaluate("window.audienceRan === undefined")
        assert pk_id(page) == []
        assert page.locator("[data-cg-cnil-exempt]").count() == 0
        page.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        page.wait_for_function("window.audienceRan === true && window.analyticsRan === true")
        assert [e.ui_action for e in w.sink.events] == ["banner.accept_all"]
