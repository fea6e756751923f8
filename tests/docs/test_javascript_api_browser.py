"""The FAQ's example of a site's own JavaScript reading and following the visitor's choice,
run as written in a real Chromium behind the real ConsentGate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import error_free_tab, open_tab, serve

pytestmark = pytest.mark.browser

FAQ = Path(__file__).resolve().parents[2] / "docs" / "faq.md"
BANNER = "[data-consentgate-banner]"
CENTRE = "[data-consentgate-centre]"


def example() -> str:
    section = FAQ.read_text("utf-8").split("### How does my own JavaScript learn about a choice", 1)[1]
    block = re.search(r"```html\n(.*?)```", section, re.DOTALL)
    assert block is not None
    # The placeholder body becomes something the test can count.
    return block.group(1).replace(
        "/* load or enable your own measurement */", "window.started = (window.started || 0) + 1;"
    )


@pytest.fixture
def base_url() -> Iterator[str]:
    snippet = example()

    async def home(request: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title></head>"
            f"<body><h1>Shop</h1><footer>{snippet}</footer></body></html>"
        )

    policy = load_dict({"version": "2026-11-01", "include_catalog": False})
    gate = ConsentGate(
        Starlette(routes=[Route("/", home)]), policy=policy, secret_keys=["j" * 32], audit=MemorySink()
    )
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with error_free_tab(browser) as tab:
        yield tab


def test_the_example_follows_the_choice_and_opens_the_settings(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.wait_for_load_state("load")
    assert page.evaluate("window.started") is None  # no choice yet: nothing started
    page.locator(f"{BANNER} [data-cg-action='accept_all']").click()
    page.wait_for_function("window.started === 1")
    assert page.evaluate("consentgate.state.categories.analytics") is True
    # The site's own settings link opens the preference centre in place.
    page.get_by_text("Cookie settings", exact=True).click()
    page.wait_for_selector(f"{CENTRE}[open]")
    page.evaluate("consentgate.hide()")
    page.wait_for_selector(f"{CENTRE}[open]", state="detached")
    # A returning visitor: started once from the served state.
    page.reload()
    page.wait_for_function("window.started === 1")
    page.wait_for_timeout(200)
    assert page.evaluate("window.started") == 1


def test_the_settings_link_works_without_javascript(browser: Browser, base_url: str) -> None:
    with open_tab(browser, java_script_enabled=False) as tab:
        tab.goto(base_url)
        tab.get_by_text("Cookie settings", exact=True).click()
        tab.wait_for_url("**/_consentgate/preferences**")
        assert tab.locator("form input[name='category'][value='analytics']").count() == 1
