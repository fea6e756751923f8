"""A widget from a host no service claims, under ``unknown_third_party = "block"``, in Chromium
through the real ``ConsentGate``.

Such content counts as the policy's most sensitive optional category (marketing here) for
granting: its placeholder's "Load content" grants that, and "Accept all" loads it. The widget
is served by the same test server under the name ``localhost``: another host for the page on
127.0.0.1, and one no service declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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

PLACEHOLDER = "[data-consentgate-placeholder]"
FRAME = "iframe[title='Book a room']"


@dataclass
class Site:
    base: str = ""
    widget_hits: list[str] = field(default_factory=list)
    sink: MemorySink = field(default_factory=MemorySink)

    def app(self, port: int) -> ConsentGate:
        async def page(request: Request) -> Response:
            return HTMLResponse(
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>Hotel</title></head>"
                "<body><main><h1>Hotel</h1>"
                f'<iframe src="http://localhost:{port}/widget" title="Book a room" width="400" height="300">'
                "</iframe></main></body></html>"
            )

        async def widget(request: Request) -> Response:
            self.widget_hits.append(request.url.path)
            return HTMLResponse("<p>Rooms</p>")

        policy = load_dict({"version": "1", "include_catalog": False, "unknown_third_party": "block"})
        routes = [Route("/", page), Route("/widget", widget)]
        return ConsentGate(Starlette(routes=routes), secret_keys=["u" * 32], policy=policy, audit=self.sink)


@pytest.fixture
def site(free_port: int) -> Iterator[Site]:
    found = Site()
    with serve(found.app(free_port), port=free_port):
        found.base = f"http://127.0.0.1:{free_port}"
        yield found


def settle(page: Page) -> None:
    # Not "networkidle": a frame on "localhost" may first try ::1, where nothing listens.
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)


def widget_requested(page: Page, site: Site, times: int) -> None:
    for _ in range(50):
        if len(site.widget_hits) >= times:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the widget was requested {len(site.widget_hits)} times, not {times}")


def loaded(page: Page) -> bool:
    return bool(page.evaluate(f"() => document.querySelector(\"{FRAME}\").hasAttribute('src')"))


def marketing_granted(page: Page, site: Site) -> bool:
    state = page.request.get(site.base + "/_consentgate/state").json()
    return bool(state["categories"]["marketing"])


def test_load_content_grants_what_an_unknown_host_counts_as_and_loads_it(
    browser: Browser, site: Site
) -> None:
    with open_tab(browser) as page:
        page.goto(site.base + "/")
        settle(page)
        assert not loaded(page) and site.widget_hits == []
        box = page.locator(PLACEHOLDER)
        assert box.get_attribute("data-consentgate-category") == "marketing"
        with page.expect_response(lambda r: r.url.endswith("/_consentgate/consent")) as posted:
            box.locator("button").click()
        assert posted.value.status == 200
        page.wait_for_function(f"() => document.querySelector(\"{FRAME}\").hasAttribute('src')")
        widget_requested(page, site, 1)
        assert page.locator(PLACEHOLDER).count() == 0
        assert site.widget_hits == ["/widget"]
        assert marketing_granted(page, site)


def test_accept_all_loads_an_unknown_hosts_widget_now_and_on_the_next_page(
    browser: Browser, site: Site
) -> None:
    with open_tab(browser) as page:
        page.goto(site.base + "/")
        settle(page)
        page.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        page.wait_for_function(f"() => document.querySelector(\"{FRAME}\").hasAttribute('src')")
        widget_requested(page, site, 1)
        page.reload()
        settle(page)
        widget_requested(page, site, 2)
        assert loaded(page) and page.locator(PLACEHOLDER).count() == 0


def test_without_javascript_load_content_is_stored_not_refused(browser: Browser, site: Site) -> None:
    with open_tab(browser, java_script_enabled=False) as page:
        page.goto(site.base + "/")
        with page.expect_response(lambda r: r.url.endswith("/_consentgate/consent")) as posted:
            page.locator(f"{PLACEHOLDER} button").click()
        assert posted.value.status == 303  # was 400 "unknown category 'unknown'"
        page.wait_for_load_state("load")
        assert marketing_granted(page, site)
        # The server now sends the widget live: no script needed to load it.
        assert (
            page.locator(FRAME).get_attribute("src")
            == site.base.replace("127.0.0.1", "localhost") + "/widget"
        )
        assert page.locator(PLACEHOLDER).count() == 0
    assert [(e.action, e.ui_action) for e in site.sink.events] == [("save", "embed.save")]
