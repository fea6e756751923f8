"""The consent-derived CSP in a real Chromium, through the real middleware.

The site runs on 127.0.0.1; a granted analytics script on 127.0.0.2 injects a marketing pixel
from 127.0.0.3 (what a tag manager granted for analytics does with an ad tag): the HTML rewriter
never sees that pixel, the CSP does. Each tracker origin records what it is asked for, so "blocked"
means never requested.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.audit.stores import Query, open_store
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import WATCH_CSP, open_tab, page_violations, serve_site

pytestmark = pytest.mark.browser

KEY = "k" * 32
NONCE = "c2l0ZS1ub25jZS0xMjM0"
ANALYTICS, MARKETING = "127.0.0.2", "127.0.0.3"
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


@dataclass
class Trackers:
    port: int
    hits: list[str] = field(default_factory=list)

    async def stats(self, request: Request) -> Response:
        self.hits.append("stats")
        # A granted script that loads a marketing pixel: the leak the rewriter cannot see.
        script = (
            "window.statsRan = true; var img = new Image();"
            "img.onload = function () { window.pixel = 'loaded'; };"
            "img.onerror = function () { window.pixel = 'blocked'; };"
            f"img.src = 'http://{MARKETING}:{self.port}/pixel.gif?uid=visitor-42';"
            "var tag = document.createElement('script');"
            "tag.onerror = function () { window.ad = 'blocked'; };"
            f"tag.src = 'http://{MARKETING}:{self.port}/ad.js'; document.head.appendChild(tag);"
        )
        return Response(script, media_type="text/javascript")

    async def ad(self, request: Request) -> Response:
        self.hits.append("ad")
        return Response("window.ad = 'ran';", media_type="text/javascript")

    async def pixel(self, request: Request) -> Response:
        self.hits.append("pixel")
        return Response(GIF, media_type="image/gif")

    def app(self) -> Starlette:
        routes = [Route("/stats.js", self.stats), Route("/pixel.gif", self.pixel), Route("/ad.js", self.ad)]
        return Starlette(routes=routes)


def make_site(port: int, *, csp: str, audit: Any, app_csp: str | None = None) -> ConsentGate:
    nonce = f' nonce="{NONCE}"' if app_csp else ""
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>"
        f"<script{nonce}>window.siteRan = true;</script>"
        f'<script src="http://{ANALYTICS}:{port}/stats.js"{nonce}></script>'
        "</head><body><main><h1>Shop</h1></main></body></html>"
    )

    async def shop(request: Request) -> Response:
        headers = {"content-security-policy": app_csp} if app_csp else None
        return HTMLResponse(page, headers=headers)

    policy = load_dict(
        {
            "version": "2026-11-01",
            "include_catalog": False,
            "csp": csp,
            "services": {
                "stats": {"name": "Stats", "category": "analytics", "hosts": [ANALYTICS]},
                "pixel": {"name": "Ad Pixel", "category": "marketing", "hosts": [MARKETING]},
            },
        }
    )
    app = Starlette(routes=[Route("/shop", shop)])
    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=audit, audit_key="a" * 32)


@dataclass
class World:
    base: str
    gate: ConsentGate
    trackers: Trackers


@contextmanager
def world(port: int, *, csp: str, audit: Any, app_csp: str | None = None) -> Iterator[World]:
    trackers = Trackers(port)
    gate = make_site(port, csp=csp, audit=audit, app_csp=app_csp)
    with serve_site(port, gate, {host: trackers.app() for host in (ANALYTICS, MARKETING)}) as base:
        yield World(base, gate, trackers)


@contextmanager
def tab(browser: Browser, w: World, *granted: str) -> Iterator[Page]:
    with open_tab(browser, WATCH_CSP) as page:
        if granted:
            consent = Consent.none().with_choice(
                set(granted), source="banner", fingerprint=w.gate.policy.fingerprint()
            )
            value = w.gate.cookie.dumps(consent)
            page.context.add_cookies([{"name": w.gate.cookie.name(False), "value": value, "url": w.base}])
        yield page


def wait_for(found: Callable[[], list[ConsentEvent] | list[dict[str, Any]]], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = found()
        if items:
            return items
        time.sleep(0.1)
    raise AssertionError("no csp_violation event was recorded")


def violations(sink: MemorySink) -> list[ConsentEvent]:
    return [e for e in sink.events if e.action == "csp_violation"]


def stored_violations(url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        store = open_store(url)
        await store.open()
        try:
            return [dict(r) async for r in store.read(Query(actions=("csp_violation",)))]
        finally:
            await store.close()

    # Playwright's sync API runs an event loop in this thread: read from another one.
    result: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: result.append(asyncio.run(read())))
    reader.start()
    reader.join(10)
    return result[0] if result else []


def test_enforce_blocks_what_a_granted_script_injects_and_logs_the_leak(
    browser: Browser, free_port: int, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with world(free_port, csp="enforce", audit=url) as w, tab(browser, w, "analytics") as page:
        page.goto(w.base + "/shop?session=abc")
        page.wait_for_function("window.pixel !== undefined && window.ad !== undefined")
        assert page.evaluate("window.statsRan === true && window.siteRan === true")
        assert page.evaluate("[window.pixel, window.ad]") == ["blocked", "blocked"]
        assert w.trackers.hits == ["stats"]  # the pixel and the ad tag were never requested
        records = wait_for(lambda: [r for r in stored_violations(url) if len(stored_violations(url)) >= 2])
    by_directive = {r["detail"]["directive"]: r for r in records}
    assert set(by_directive) == {"img-src", "script-src-elem"}
    for record in records:
        detail = record["detail"]
        assert detail["blocked_host"] == MARKETING and detail["verdict"] == "leak"
        assert detail["disposition"] == "enforce" and detail["consent"] == "signed"
        assert (detail["service"], detail["service_name"], detail["category"]) == (
            "pixel",
            "Ad Pixel",
            "marketing",
        )
        assert record["path"] == "/shop"
        assert record["categories"]["analytics"] is True and record["categories"]["marketing"] is False
        assert "visitor-42" not in str(record) and "session" not in str(record)
    # For a script, the browser names the script that inserted it: the granted one.
    injected = by_directive["script-src-elem"]["detail"]
    assert (injected["source_host"], injected["source_service"]) == (ANALYTICS, "stats")


def test_report_only_lets_the_pixel_load_and_reports_it(browser: Browser, free_port: int) -> None:
    sink = MemorySink()
    with world(free_port, csp="report-only", audit=sink) as w, tab(browser, w, "analytics") as page:
        page.goto(w.base + "/shop")
        page.wait_for_function("window.pixel !== undefined && window.ad !== undefined")
        assert page.evaluate("[window.pixel, window.ad]") == ["loaded", "ran"]
        assert sorted(w.trackers.hits) == ["ad", "pixel", "stats"]
        events = wait_for(lambda: violations(sink) if len(violations(sink)) >= 2 else [])
    assert {e.detail["directive"] for e in events} == {"img-src", "script-src-elem"}
    for event in events:
        assert event.detail["blocked_host"] == MARKETING and event.detail["disposition"] == "report"
        assert event.detail["verdict"] == "leak" and event.detail["consent"] == "signed"


def test_with_marketing_granted_nothing_is_reported(browser: Browser, free_port: int) -> None:
    sink = MemorySink()
    with world(free_port, csp="enforce", audit=sink) as w, tab(browser, w, "analytics", "marketing") as page:
        page.goto(w.base + "/shop")
        page.wait_for_function("window.pixel !== undefined && window.ad !== undefined")
        assert page.evaluate("[window.pixel, window.ad]") == ["loaded", "ran"]
        page.wait_for_timeout(1000)  # a report would have arrived by now (report-uri is sent at once)
        assert page_violations(page) == []
    assert violations(sink) == []


def test_a_site_with_its_own_strict_nonce_csp_keeps_working(browser: Browser, free_port: int) -> None:
    app_csp = f"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'"
    sink = MemorySink()
    with world(free_port, csp="enforce", audit=sink, app_csp=app_csp) as w, tab(browser, w) as page:
        response = page.goto(w.base + "/shop")
        assert response is not None
        policies = [
            h["value"] for h in response.headers_array() if h["name"].lower() == "content-security-policy"
        ]
        assert policies[0] == app_csp and len(policies) == 2
        # consentgate's runtime runs under the app's nonce: the banner works. (The waits below
        # pass functions: Playwright polls a plain expression with eval(), which this page's
        # policy refuses once the first check comes out false.)
        page.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        page.wait_for_function("() => document.querySelector('[data-consentgate-banner]') === null")
        assert page.evaluate("window.siteRan === true")
        assert not [v for v in page_violations(page) if v["policy"] == app_csp]
        page.reload()
        page.wait_for_function("() => window.pixel !== undefined && window.ad !== undefined")
        assert page.evaluate("window.statsRan === true && window.siteRan === true")
        assert page.evaluate("[window.pixel, window.ad]") == ["loaded", "ran"]  # accept_all: marketing too
        assert not [v for v in page_violations(page) if v["policy"] == app_csp]
    assert [e.action for e in sink.events if e.action == "csp_violation"] == []


def test_a_strict_nonce_site_still_has_the_injected_pixel_blocked(browser: Browser, free_port: int) -> None:
    app_csp = f"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'"
    sink = MemorySink()
    with (
        world(free_port, csp="enforce", audit=sink, app_csp=app_csp) as w,
        tab(browser, w, "analytics") as page,
    ):
        page.goto(w.base + "/shop")
        page.wait_for_function("() => window.pixel !== undefined")
        page.wait_for_function("() => window.ad !== undefined")
        assert page.evaluate("window.statsRan === true")
        # 'strict-dynamic' lets the app's policy trust what its trusted script inserts; the
        # consent-derived policy still holds the marketing host back.
        assert page.evaluate("[window.pixel, window.ad]") == ["blocked", "blocked"]
        assert w.trackers.hits == ["stats"]
        events = wait_for(lambda: violations(sink) if len(violations(sink)) >= 2 else [])
    assert all(e.detail["verdict"] == "leak" and e.detail["blocked_host"] == MARKETING for e in events)
