"""A page restored from the back/forward cache follows a choice made on another page.

Browsers keep a page they leave, running code included, and show it again on "Back" without
asking the server. A visitor who withdraws on page B and goes back to page A must not find A's
analytics still running; one who accepts on B must not meet A's banner again. The runtime asks
the server for the current state when a page is restored (``pageshow`` with ``persisted``)
and applies it: a withdrawal reloads the page, a grant activates in place. Real Chromium with
its back/forward cache on (Playwright turns it off by default), real ConsentGate.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import chromium, error_free_tab, serve

pytestmark = pytest.mark.browser

BANNER = "[data-consentgate-banner]"
CENTRE = "[data-consentgate-centre]"


def page_html(title: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1>"
        # The page's own marker: gone when the browser loads the page afresh.
        "<script>window.restored = 'same document';"
        " window.addEventListener('pageshow', function (e) { if (e.persisted) window.fromCache = true; });</script>"
        '<script data-category="analytics">window.tracked = true;</script>'
        f'<a id=next href="/b">next page</a></body></html>'
    )


def make_site() -> Starlette:
    async def page_a(request: Request) -> Response:
        return HTMLResponse(page_html("A"))

    async def page_b(request: Request) -> Response:
        return HTMLResponse(page_html("B"))

    return Starlette(routes=[Route("/", page_a), Route("/b", page_b)])


@pytest.fixture(scope="module")
def cache_browser(chromium_path: str) -> Iterator[Browser]:
    with chromium(chromium_path, back_forward_cache=True) as launched:
        yield launched


@pytest.fixture
def base_url() -> Iterator[str]:
    policy = load_dict({"version": "2026-11-01", "include_catalog": False})
    gate = ConsentGate(make_site(), policy=policy, secret_keys=["b" * 32], audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def page(cache_browser: Browser) -> Iterator[Page]:
    with error_free_tab(cache_browser) as tab:
        yield tab


def choose_on_page_b(page: Page, action: str) -> None:
    page.click("#next")
    page.wait_for_url("**/b")
    if page.locator(BANNER).count():
        page.locator(f"{BANNER} [data-cg-action='{action}']").click()
        page.wait_for_selector(BANNER, state="detached")
    else:
        page.evaluate("consentgate.show()")
        page.locator(f"{CENTRE} [data-cg-action='{action}']").click()
        page.wait_for_selector(f"{CENTRE}[open]", state="detached")
    page.wait_for_timeout(200)


def back_to_a(page: Page) -> None:
    page.go_back(wait_until="commit")
    page.wait_for_timeout(500)  # the state request, and a reload if one comes


def test_a_withdrawal_on_another_page_reloads_the_restored_page(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.locator(f"{BANNER} [data-cg-action='accept_all']").click()
    page.wait_for_function("window.tracked === true")
    choose_on_page_b(page, "reject_all")
    back_to_a(page)
    page.wait_for_load_state("load")
    # A fresh document, served with analytics held back again.
    assert page.evaluate("window.restored") == "same document"
    assert page.evaluate("window.fromCache") is None
    assert page.evaluate("window.tracked") is None
    assert page.locator('script[type="text/plain"][data-category="analytics"]').count() == 1


def test_a_grant_on_another_page_applies_in_place(page: Page, base_url: str) -> None:
    page.goto(base_url)
    assert page.locator(BANNER).is_visible()
    page.evaluate("window.marker = 'kept'")
    choose_on_page_b(page, "accept_all")
    back_to_a(page)
    # Restored, not reloaded: the same document, now without its banner and with its
    # analytics running.
    assert page.evaluate("window.fromCache") is True
    assert page.evaluate("window.marker") == "kept"
    page.wait_for_function("window.tracked === true")
    assert page.locator(BANNER).count() == 0


def test_no_change_leaves_the_restored_page_alone(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.locator(f"{BANNER} [data-cg-action='reject_all']").click()
    page.wait_for_selector(BANNER, state="detached")
    page.evaluate("window.marker = 'kept'")
    page.click("#next")
    page.wait_for_url("**/b")
    back_to_a(page)
    assert page.evaluate("window.fromCache") is True
    assert page.evaluate("window.marker") == "kept"
    assert page.evaluate("window.tracked") is None
