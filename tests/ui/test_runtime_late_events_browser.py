"""What a revived tag hooks on ``DOMContentLoaded`` or ``load`` runs, in a real Chromium.

Many tags wait for the page before they measure: ``window.addEventListener("load", …)``,
``document.addEventListener("DOMContentLoaded", …)``, ``window.onload = …`` (Chartbeat's
classic snippet), jQuery's ``$(window).on("load")``. On a page parsed with consent these run
once. The runtime revives a tag after the visitor says yes, usually after both events fired:
without help, the hook would never run and the landing page (the one with the campaign in its
URL) would go unmeasured. Each test serves its page through the real ``ConsentGate`` and
compares with the same page served without it, where the parser runs every tag as written.
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
from tests.browser_kit import error_free_tab, open_tab, serve

pytestmark = pytest.mark.browser

BANNER = "[data-consentgate-banner]"
ACCEPT = f"{BANNER} [data-cg-action='accept_all']"
REJECT = f"{BANNER} [data-cg-action='reject_all']"

# Gated by the site's markup: neutralised by the server without consent.
TAGS = """
<script data-category="analytics">
  window.addEventListener("load", function (e) { window.order.push("load:" + e.type); });
  document.addEventListener("DOMContentLoaded", function () { window.order.push("dcl"); });
  window.addEventListener("DOMContentLoaded", { handleEvent: function () { window.order.push("dcl-object"); } });
  // Not an event that has fired: never run by anyone.
  window.addEventListener("beforeunload", function () { window.order.push("beforeunload"); });
  // A "ready" helper on both events that unhooks itself: once.
  function ready() {
    document.removeEventListener("DOMContentLoaded", ready);
    window.removeEventListener("load", ready);
    window.order.push("ready");
  }
  document.addEventListener("DOMContentLoaded", ready);
  window.addEventListener("load", ready);
</script>
<script data-category="analytics">
  var before1 = window.onload;
  window.onload = function () { if (before1) before1(); window.order.push("onload-a"); };
</script>
<script data-category="analytics">
  // chained onto the tag before, as old snippets do
  var before2 = window.onload;
  window.onload = function () { if (before2) before2(); window.order.push("onload-b"); };
</script>
<script data-category="analytics" src="/js/tag.js"></script>
<script data-category="analytics" async src="/js/async.js"></script>
"""
SCRIPTS = {
    "tag.js": b'window.addEventListener("load", function () { window.order.push("ext-load"); });',
    # (an async script may run after DOMContentLoaded, never after load)
    "async.js": b'window.addEventListener("load", function () { window.order.push("async-load"); });',
}
# The site's own inert markup, run by the runtime when the page loads for a visitor who has
# granted analytics (during DOMContentLoaded: its load hook then runs natively, once).
SITE_MARKUP = """
<script type="text/plain" data-category="analytics">
  document.addEventListener("DOMContentLoaded", function () { window.order.push("site-dcl"); });
  window.addEventListener("load", function () { window.order.push("site-load"); });
</script>
"""
EVERY_HOOK = {
    "load:load",
    "dcl",
    "dcl-object",
    "ready",
    "onload-a",
    "onload-b",
    "ext-load",
    "async-load",
    "site-dcl",
    "site-load",
}


def page_html(own_onload: bool = False) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>"
        "<script>window.order = []; window.own = 0;"
        # the page's own hook: must not run a second time
        ' window.addEventListener("load", function () { window.own += 1; });'
        + (" window.onload = function () { window.own += 1; };" if own_onload else "")
        + "</script>"
        "</head><body><main><h1 id=title>Shop</h1>"
        + TAGS
        + SITE_MARKUP
        + "<p id=last>The end.</p></main></body></html>"
    )


def make_site() -> Starlette:
    async def home(request: Request) -> Response:
        return HTMLResponse(page_html(own_onload="own" in request.query_params))

    async def script(request: Request) -> Response:
        return Response(SCRIPTS[request.path_params["name"]], media_type="text/javascript")

    return Starlette(routes=[Route("/", home), Route("/js/{name}", script)])


@pytest.fixture
def base_url() -> Iterator[str]:
    policy = load_dict({"version": "2026-11-01", "include_catalog": False})
    gate = ConsentGate(make_site(), policy=policy, secret_keys=["l" * 32], audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with error_free_tab(browser) as tab:
        yield tab


def order(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("() => window.order || []")
    return seen


def settled(page: Page, wanted: set[str]) -> list[str]:
    for _ in range(100):
        if wanted <= set(order(page)):
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)  # anything that would run twice has had its chance
    return order(page)


def test_without_consentgate_the_parser_runs_each_hook_once(browser: Browser) -> None:
    with serve(make_site()) as port, open_tab(browser) as tab:
        tab.goto(f"http://127.0.0.1:{port}/")
        seen = settled(tab, EVERY_HOOK - {"site-dcl", "site-load"})
    # The baseline the runtime must reproduce (the inert site markup never runs without it).
    assert sorted(seen) == sorted(EVERY_HOOK - {"site-dcl", "site-load"})


def test_accept_after_the_page_loaded_runs_each_hook_once(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)
    assert order(page) == [] and page.evaluate("window.own") == 1
    # A framework (zone.js, say) that patches addEventListener on the prototype still sees
    # every listener the revived tags add to the window and the document.
    page.evaluate(
        """() => {
          const real = EventTarget.prototype.addEventListener;
          window.patched = 0;
          EventTarget.prototype.addEventListener = function (...args) {
            if (this === window || this === document) window.patched += 1;
            return real.apply(this, args);
          };
        }"""
    )
    page.locator(ACCEPT).click()
    seen = settled(page, EVERY_HOOK)
    assert sorted(seen) == sorted(EVERY_HOOK), seen
    assert page.evaluate("window.patched") >= 6  # 4 inline, 1 each in tag.js and async.js
    # The event a hook gets names its type; the page's own load hook did not run again; a
    # hook on an event that has not happened was not run.
    assert page.evaluate("window.own") == 1
    assert "beforeunload" not in seen


def test_a_returning_visitor_runs_each_hook_once(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.locator(ACCEPT).click()
    settled(page, EVERY_HOOK)
    page.reload()
    seen = settled(page, EVERY_HOOK)
    # Granted tags are served live and hook the events natively; the site's own markup is run
    # by the runtime at DOMContentLoaded: its hook on that event runs late, its load hook
    # natively, each once.
    assert sorted(seen) == sorted(EVERY_HOOK), seen
    assert page.evaluate("window.own") == 1


def test_rejecting_runs_no_hook(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.wait_for_load_state("load")
    page.locator(REJECT).click()
    page.wait_for_selector(BANNER, state="detached")
    page.wait_for_timeout(400)
    assert order(page) == [] and page.evaluate("window.own") == 1


def test_a_tag_chained_onto_the_pages_own_onload_does_not_run_the_page_again(
    page: Page, base_url: str
) -> None:
    page.goto(base_url + "?own")
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)
    assert page.evaluate("window.own") == 2  # its listener and its window.onload, once each
    page.locator(ACCEPT).click()
    seen = settled(page, EVERY_HOOK - {"onload-a", "onload-b"})
    # Calling the chain would run the page's handler a second time: the chained tags' part is
    # what is given up (docs/how-it-works.md, limits).
    assert page.evaluate("window.own") == 2
    assert sorted(seen) == sorted(EVERY_HOOK - {"onload-a", "onload-b"}), seen
