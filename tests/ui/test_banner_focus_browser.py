"""The first layer along the bottom of the screen against keyboard users of the page, in Chromium.

WCAG 2.2 SC 2.4.11 (Focus Not Obscured, Minimum): a component that receives keyboard focus is not
entirely hidden by content the author put there. The banner is non-modal (the page stays usable
before a choice, CG-17), so a visitor may tab through the page with it on screen; Chromium
scrolls each link just into view, which along the bottom edge is right behind the banner (25 of
31 links hidden at 1280 x 800 before the stylesheet reserved the banner's room). After the
choice the "Privacy choices" pill in the bottom corner hid a short link at the start of a line
now and then, and the page's last link for good. WCAG technique C43 (CSS scroll-padding) is the
fix the stylesheet applies.
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
from tests.browser_kit import open_tab, serve

pytestmark = pytest.mark.browser

LINKS = 30
BANNER = "[data-consentgate-banner]"
# Is the focused element what a pointer at its centre would hit (not the banner over it)?
FOCUS_SHOWN = """() => {
  const e = document.activeElement, r = e.getBoundingClientRect();
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {id: e.id, shown: top === e || e.contains(top)};
}"""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    # Each link starts its line, where the "Privacy choices" pill sits once a choice is made.
    paragraphs = "".join(
        f'<p><a id="link-{i}" href="/{i}">L{i}</a> is paragraph {i}.</p>' for i in range(LINKS)
    )
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><title>Shop</title></head>"
        f"<body><main><h1>Shop</h1>{paragraphs}</main>"
        '<footer><a id="imprint" href="/imprint">Imprint</a></footer></body></html>'
    )

    async def home(request: Request) -> Response:
        return HTMLResponse(page)

    policy = load_dict({"version": "2026-11-01", "include_catalog": False})
    app = Starlette(routes=[Route("/", home)])
    gate = ConsentGate(app, secret_keys=["f" * 32], policy=policy, audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}"


def tab_through_the_page(page: Page) -> list[str]:
    """Tab from the first link to the imprint; the ids of the links that were hidden on focus."""
    page.focus("#link-0")
    hidden = []
    for _ in range(LINKS):  # link-1 ... link-29, then the imprint
        page.keyboard.press("Tab")
        seen = page.evaluate(FOCUS_SHOWN)
        if not seen["shown"]:
            hidden.append(seen["id"])
    assert page.evaluate("document.activeElement.id") == "imprint"
    return hidden


@pytest.mark.parametrize("viewport", [(1280, 800), (640, 400), (320, 640)], ids=lambda v: f"{v[0]}x{v[1]}")
def test_keyboard_focus_in_the_page_is_never_hidden_behind_the_banner(
    browser: Browser, base_url: str, viewport: tuple[int, int]
) -> None:
    width, height = viewport  # (640 x 400: a 1280 x 800 screen zoomed to 200 %)
    with open_tab(browser, viewport={"width": width, "height": height}) as page:
        page.goto(base_url)
        page.locator(BANNER).wait_for()
        assert tab_through_the_page(page) == []


@pytest.mark.parametrize("viewport", [(1280, 800), (320, 640)], ids=lambda v: f"{v[0]}x{v[1]}")
def test_keyboard_focus_is_never_hidden_behind_the_privacy_choices_pill(
    browser: Browser, base_url: str, viewport: tuple[int, int]
) -> None:
    width, height = viewport
    with open_tab(browser, viewport={"width": width, "height": height}) as page:
        page.goto(base_url)
        page.click(f"{BANNER} [data-cg-action='reject_all']")
        page.locator("[data-cg-reopen]").wait_for()
        # Every link the page can scroll: the imprint, the page's last, at the start of its line,
        # can stay under the pill (no padding after the choice: see docs/markup.md).
        assert [link for link in tab_through_the_page(page) if link != "imprint"] == []


def test_the_end_of_the_page_scrolls_out_from_under_the_banner_and_the_room_goes_with_it(
    browser: Browser, base_url: str
) -> None:
    with open_tab(browser, viewport={"width": 390, "height": 844}) as page:
        page.goto(base_url)
        page.locator(BANNER).wait_for()
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        imprint = page.locator("#imprint").bounding_box()
        banner = page.locator(BANNER).bounding_box()
        assert imprint is not None and banner is not None
        assert imprint["y"] + imprint["height"] <= banner["y"]  # the imprint can be read and clicked
        page.click(f"{BANNER} [data-cg-action='reject_all']")
        page.wait_for_function(f"() => !document.querySelector('{BANNER}')")
        # Without the banner the room goes: padding on every later page would make an app shell
        # sized to the screen scroll; the pill keeps only a scroll padding, which moves nothing.
        style = "getComputedStyle(document.documentElement)"
        assert page.evaluate(f"parseFloat({style}.paddingBottom)") == 0
        room = page.evaluate(f"parseFloat({style}.scrollPaddingBottom)")
        pill = page.locator("[data-cg-reopen]").bounding_box()
        assert pill is not None and pill["height"] < room <= 48
