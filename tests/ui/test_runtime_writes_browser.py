"""Tags that write into the page (``document.write``), revived by runtime.js in a real Chromium.

Ad tags, counters and old analytics snippets write their markup with ``document.write`` while
the parser runs. Once the page is parsed, a native write replaces the whole document. The
runtime revives granted tags after that point: in place after a click on "Accept all", and on
page load for the site's own consent markup of a granted category. Each test serves its page
through the real ``ConsentGate`` (real rewriter, real consent endpoint) and checks the page
survives, the written markup lands right after the tag that wrote it, and written scripts run
in the order the parser would have run them.
"""

from __future__ import annotations

import secrets
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

# Gated by the site's markup on ordinary scripts: the server neutralises them without consent.
WRITERS = """
<script{n} data-category="marketing">window.order.push("writer");
document.write('<p id="w-inline">inline wrote</p><script>window.order.push("written")<\\/script>');
document.write('<script src="/js/late.js"><\\/script>');</script>
<script{n} data-category="marketing" src="/js/writer.js"></script>
<script{n} data-category="marketing">window.order.push("after");</script>
"""
# The site's own inert markup: the runtime runs it on page load once its category is granted.
SITE_MARKUP = """
<script{n} type="text/plain" data-category="analytics">window.order.push("site");
document.write('<p id="w-site">site wrote</p>');</script>
"""
SCRIPTS = {
    "late.js": b'window.order.push("late");',
    "writer.js": b'window.order.push("ext"); document.write(\'<p id="w-ext">ext wrote</p>\');'
    b" document.writeln('<span id=\"w-ln\">line</span>');",
}


def page_html(nonce: str | None) -> str:
    n = f' nonce="{nonce}"' if nonce else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title>"
        f"<script{n}>window.order = [];</script></head><body><main><h1 id=title>Shop</h1>"
        f"<script{n}>document.write('<p id=\"own\">the page wrote this while parsing</p>');</script>"
        + WRITERS.format(n=n)
        + SITE_MARKUP.format(n=n)
        + "<p id=last>The end.</p></main></body></html>"
    )


def make_site(*, strict: bool) -> Starlette:
    async def home(request: Request) -> Response:
        if not strict:
            return HTMLResponse(page_html(None))
        nonce = secrets.token_urlsafe(16)
        csp = f"script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'"
        return HTMLResponse(page_html(nonce), headers={"content-security-policy": csp})

    async def script(request: Request) -> Response:
        return Response(SCRIPTS[request.path_params["name"]], media_type="text/javascript")

    return Starlette(routes=[Route("/", home), Route("/js/{name}", script)])


@pytest.fixture(params=[False, True], ids=["no-csp", "strict-nonce-csp"])
def strict(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def base_url(strict: bool) -> Iterator[str]:
    policy = load_dict({"version": "2026-11-01", "include_catalog": False})
    gate = ConsentGate(make_site(strict=strict), policy=policy, secret_keys=["w" * 32], audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def parsed(browser: Browser, strict: bool) -> list[str]:
    """What the tags run when the parser meets them: the same page without ConsentGate (under
    a nonce CSP, what a tag writes without the nonce is blocked there too)."""
    with serve(make_site(strict=strict)) as port, open_tab(browser) as tab:
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.wait_for_load_state("networkidle")
        seen = order(tab)
        assert tab.locator("#title").count() == 1 and tab.locator("#w-site").count() == 0
    return seen


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with error_free_tab(browser) as tab:
        yield tab


def order(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("() => window.order || []")
    return seen


def wait_for_order(page: Page, *names: str) -> None:
    """Until every one of ``names`` ran (polled from here: a strict CSP forbids the page-side
    predicate ``wait_for_function`` would evaluate)."""
    for _ in range(100):
        if set(names) <= set(order(page)):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{names} never ran: {order(page)}")


def written_after_its_tag(page: Page, element_id: str, marker: str) -> bool:
    """The written element follows the script that wrote it (whose text or src has ``marker``)."""
    placed: bool = page.evaluate(
        """([id, marker]) => {
          let el = document.getElementById(id).previousSibling;
          while (el && el.nodeName !== 'SCRIPT') el = el.previousSibling;
          return !!el && ((el.getAttribute('src') || '').includes(marker) || el.text.includes(marker));
        }""",
        [element_id, marker],
    )
    return placed


def test_the_page_without_consentgate_runs_every_tag_as_parsed(parsed: list[str], strict: bool) -> None:
    # The baseline the other tests compare with; the written scripts carry no nonce.
    assert parsed == (["writer", "ext", "after"] if strict else ["writer", "written", "late", "ext", "after"])


def test_accept_all_keeps_the_page_and_places_what_the_tags_write(
    page: Page, base_url: str, parsed: list[str]
) -> None:
    page.goto(base_url)
    page.wait_for_load_state("networkidle")
    assert order(page) == [] and page.locator("#own").count() == 1
    assert page.locator("#w-inline, #w-ext, #w-site").count() == 0
    page.evaluate("window.__sameDocument = true")
    page.locator(ACCEPT).click()
    wait_for_order(page, "after", "site")
    page.wait_for_timeout(200)  # anything written late has had time to land
    # The same document, whole: the page's own content, the written markup, the runtime's UI.
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#title").count() == 1 and page.locator("#last").count() == 1
    assert page.locator("#own").count() == 1
    assert page.locator(BANNER).count() == 0 and page.locator("[data-cg-reopen]").is_visible()
    # Written scripts run right after their writer, an external one awaited, as a parser would.
    assert order(page) == [*parsed, "site"]
    assert written_after_its_tag(page, "w-inline", "inline wrote")
    assert written_after_its_tag(page, "w-ext", "/js/writer.js")
    assert page.locator("#w-ln").count() == 1
    assert written_after_its_tag(page, "w-site", "site wrote")
    for element_id in ("w-inline", "w-ext", "w-site"):
        assert page.locator(f"#{element_id}").count() == 1


def test_a_returning_visitor_gets_the_writing_tags_whole(
    page: Page, base_url: str, parsed: list[str]
) -> None:
    page.goto(base_url)
    page.locator(ACCEPT).click()
    wait_for_order(page, "site")
    page.reload()
    wait_for_order(page, "site")
    page.wait_for_timeout(200)
    # Granted tags are served live and write while the page is parsed; the site's own inert
    # markup is run by the runtime on load, and its write lands after it.
    assert page.locator("#title").count() == 1 and page.locator("#last").count() == 1
    assert order(page) == [*parsed, "site"]
    for element_id in ("own", "w-inline", "w-ext", "w-ln", "w-site"):
        assert page.locator(f"#{element_id}").count() == 1
    assert written_after_its_tag(page, "w-site", "site wrote")


def test_rejecting_writes_nothing(page: Page, base_url: str) -> None:
    page.goto(base_url)
    page.locator(REJECT).click()
    page.wait_for_selector(BANNER, state="detached")
    page.wait_for_timeout(300)
    assert order(page) == []
    assert page.locator("#w-inline, #w-ext, #w-ln, #w-site").count() == 0
    assert page.locator("#title").count() == 1 and page.locator("#own").count() == 1
