"""runtime.js against what the real HTML rewriter emits, on the visit after a choice.

A granted element marked with the site's own consent markup (``data-category``, Cookiebot,
OneTrust, Klaro) leaves the rewriter byte-identical, so only the runtime can start it: it must
read that markup with the same synonyms as ``consentgate.html.rules``. Also: every attribute the
rewriter moves aside comes back, and the first layer stays compact on a phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from consentgate.consent.state import Consent
from consentgate.html import rules as html_rules
from consentgate.html.rewriter import rewrite
from consentgate.html.rules import Rules
from consentgate.policy.model import Policy, Service
from consentgate.ui.render import UI, RenderContext
from tests.browser_kit import open_tab, serious_violations, serve

from .uikit import CATEGORIES, make_policy, no_choice
from .uikit import context as render_context

pytestmark = pytest.mark.browser

NONCE = "fixN0nce"
THIRD_PARTY = "http://media.example"

# What a site written for other consent tools ships. Each script records its name when it runs.
SITE_MARKUP = f"""
<script type="text/plain" data-category="social">window.ran.push("social");</script>
<script type="text/plain" data-category="essential">window.ran.push("essential");</script>
<script type="text/plain" data-category="statistics">window.ran.push("statistics");</script>
<script type="text/plain" data-category="performance">window.ran.push("performance");</script>
<script type="text/plain" data-category="functional">window.ran.push("functional");</script>
<script type="text/plain" data-cookieconsent="statistics">window.ran.push("cookiebot");</script>
<script type="text/plain" data-cookieconsent="preferences, marketing">window.ran.push("cookiebot-2");</script>
<script type="text/plain" class="optanon-category-C0002">window.ran.push("onetrust");</script>
<script type="text/plain" class="x optanon-category-C0003-C0004">window.ran.push("onetrust-2");</script>
<script type="text/plain" data-type="text/javascript" data-name="stats">window.ran.push("klaro");</script>
<script type="text/plain" data-type="text/javascript" data-name="ads">window.ran.push("klaro-ads");</script>
<script type="text/plain" data-category="news">window.ran.push("unknown");</script>
<iframe id="frame" title="video" data-cookieconsent="marketing" data-src="{THIRD_PARTY}/embed"></iframe>
<img id="lazy" alt="" data-category="statistics" data-src="{THIRD_PARTY}/pixel.gif">
<img id="lazy-keeps-src" alt="" src="/own.gif" data-src="{THIRD_PARTY}/big.gif"
  data-srcset="{THIRD_PARTY}/big.gif 2x">
<video id="video" src="{THIRD_PARTY}/clip.mp4" poster="{THIRD_PARTY}/poster.gif"></video>
"""
LONG_PURPOSE = (
    "It is used by us and by the partners named in the preference centre, for as long as the"
    " cookie list there says, and you can switch it off again at any time."
)
ANALYTICS_ONLY = {"statistics", "performance", "cookiebot", "onetrust", "klaro", "essential"}
EVERYTHING = ANALYTICS_ONLY | {"social", "functional", "cookiebot-2", "onetrust-2", "klaro-ads"}


def policy() -> Policy:
    # Purpose texts as long as real ones: on a phone they no longer fit the first layer.
    categories = tuple(
        replace(c, description={"en": c.description["en"] + " " + LONG_PURPOSE}) for c in CATEGORIES
    )
    return make_policy(
        categories=categories,
        services=(
            Service("stats", "Stats", "analytics", provider="Example"),
            Service("ads", "Ads", "marketing", provider="Ads Inc"),
            Service("media", "Media", "marketing", provider="Media Inc", hosts=("media.example",)),
        ),
    )


@dataclass
class Site:
    ui: UI
    rules: Rules
    consent: Consent
    loads: list[str] = field(default_factory=list)

    def context(self) -> RenderContext:
        return render_context(self.ui.policy, self.consent, csrf_token="csrf", next_url="/", nonce=NONCE)

    def allows(self, service_id: str | None, category: str) -> bool:
        if service_id is None:
            return self.consent.allows(category)
        return self.consent.allows_service(service_id, category)

    async def page(self, request: Request) -> Response:
        ctx = self.context()
        document = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>t</title>'
            f'<script nonce="{NONCE}">window.ran = [];</script></head>'
            f"<body><main><h1>Page</h1>{SITE_MARKUP}</main></body></html>"
        ).encode()
        # The server's own rewriter, with the visitor's consent: what a browser really gets.
        body = rewrite(
            document,
            self.rules,
            self.allows,
            head_snippet=self.ui.head(ctx),
            body_snippet=self.ui.body(ctx),
            placeholder=lambda finding: self.ui.placeholder(finding, ctx),
            page_host="127.0.0.1",
        )
        csp = f"script-src 'nonce-{NONCE}'; object-src 'none'"
        return HTMLResponse(body, headers={"content-security-policy": csp, "cache-control": "no-store"})

    async def consent_endpoint(self, request: Request) -> Response:
        body = json.loads(await request.body())
        optional = {c.id for c in self.ui.policy.categories if not c.required}
        granted = optional if body["action"] == "accept_all" else set()
        self.consent = self.consent.with_choice(granted, source="banner")
        return JSONResponse({"state": self.ui.state_json(self.context())})

    async def asset(self, request: Request) -> Response:
        found = self.ui.asset(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                StarletteRoute("/", self.page),
                StarletteRoute("/own.gif", lambda r: Response(b"GIF89a", media_type="image/gif")),
                StarletteRoute("/_consentgate/static/{name}", self.asset),
                StarletteRoute("/_consentgate/consent", self.consent_endpoint, methods=["POST"]),
            ]
        )


@pytest.fixture
def site() -> Site:
    chosen = policy()
    return Site(ui=UI(chosen), rules=Rules.compile(chosen), consent=no_choice(chosen))


@pytest.fixture
def base_url(site: Site) -> Iterator[str]:
    with serve(site.app()) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def tabs() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def open_page(browser: Browser, site: Site, url: str, tabs: ExitStack, **options: Any) -> Page:
    page = tabs.enter_context(open_tab(browser, **options))

    def third_party(route: Route) -> None:
        # No network in tests: the third party answers from here, and the test sees who asked.
        site.loads.append(route.request.url)
        route.fulfill(body=b"GIF89a", content_type="image/gif")

    page.route(f"{THIRD_PARTY}/**", third_party)
    page.goto(url)
    page.wait_for_timeout(300)  # what should not run has had time to run
    return page


def ran(page: Page) -> set[str]:
    return set(page.evaluate("window.ran"))


def attribute(page: Page, element_id: str, name: str) -> str | None:
    value: str | None = page.evaluate(
        "([id, name]) => document.getElementById(id).getAttribute(name)", [element_id, name]
    )
    return value


# -- the synonym table ---------------------------------------------------------------------------
def runtime_source() -> str:
    return resources.files("consentgate.ui").joinpath("static", "runtime.js").read_text("utf-8")


def test_runtime_reads_consent_markup_with_the_servers_synonyms() -> None:
    source = runtime_source()
    synonyms = re.search(r"var SYNONYMS = (\{.*?\});", source, re.DOTALL)
    onetrust = re.search(r"var ONETRUST = (\[.*?\]);", source)
    assert synonyms is not None and onetrust is not None
    table = {
        alias: category
        # (an object literal with bare keys: quoted, it is JSON)
        for category, aliases in json.loads(re.sub(r"(\w+):", r'"\1":', synonyms.group(1))).items()
        for alias in [category, *aliases.split()]
    }
    assert table == dict(html_rules._SYNONYMS)
    groups = {f"c000{i}": category for i, category in enumerate(json.loads(onetrust.group(1)), 1)}
    assert groups == dict(html_rules._ONETRUST)


# -- site markup on the visit after a choice -----------------------------------------------------
def test_granted_site_markup_runs_on_page_load(
    browser: Browser, site: Site, base_url: str, tabs: ExitStack
) -> None:
    site.consent = site.consent.with_choice({"analytics", "marketing", "preferences"}, source="banner")
    page = open_page(browser, site, base_url, tabs)
    assert ran(page) == EVERYTHING  # "news" names no category: it never runs
    assert attribute(page, "frame", "src") == f"{THIRD_PARTY}/embed"
    assert attribute(page, "lazy", "src") == f"{THIRD_PARTY}/pixel.gif"
    # A plain lazy image (no consent markup) is its lazy loader's business, not the runtime's.
    assert attribute(page, "lazy-keeps-src", "src") == "/own.gif"
    assert f"{THIRD_PARTY}/embed" in site.loads


def test_only_the_granted_categorys_markup_runs(
    browser: Browser, site: Site, base_url: str, tabs: ExitStack
) -> None:
    site.consent = site.consent.with_choice({"analytics"}, source="banner")
    page = open_page(browser, site, base_url, tabs)
    assert ran(page) == ANALYTICS_ONLY
    assert attribute(page, "frame", "src") is None
    assert attribute(page, "lazy", "src") == f"{THIRD_PARTY}/pixel.gif"
    assert f"{THIRD_PARTY}/embed" not in site.loads


def test_a_denied_service_stays_off_although_its_category_is_granted(
    browser: Browser,
    site: Site,
    base_url: str,
    tabs: ExitStack,
) -> None:
    site.consent = site.consent.with_choice({"analytics"}, source="banner", denied_services={"stats"})
    page = open_page(browser, site, base_url, tabs)
    assert "klaro" not in ran(page)
    assert "statistics" in ran(page)


def test_a_choice_in_place_runs_site_markup_and_restores_every_moved_attribute(
    browser: Browser,
    site: Site,
    base_url: str,
    tabs: ExitStack,
) -> None:
    page = open_page(browser, site, base_url, tabs)
    assert ran(page) == {"essential"}
    assert attribute(page, "video", "poster") is None
    assert attribute(page, "lazy-keeps-src", "data-src") is None  # moved aside: a lazy loader would copy it
    page.click("[data-cg-layer='1'] button[data-cg-action='accept_all']")
    page.wait_for_function("() => window.ran.includes('social')")
    page.wait_for_timeout(300)
    assert ran(page) == EVERYTHING
    assert attribute(page, "video", "poster") == f"{THIRD_PARTY}/poster.gif"
    assert attribute(page, "video", "src") == f"{THIRD_PARTY}/clip.mp4"
    assert attribute(page, "lazy-keeps-src", "src") == "/own.gif"
    assert attribute(page, "lazy-keeps-src", "data-src") == f"{THIRD_PARTY}/big.gif"
    assert attribute(page, "lazy-keeps-src", "data-srcset") == f"{THIRD_PARTY}/big.gif 2x"
    assert attribute(page, "frame", "src") == f"{THIRD_PARTY}/embed"
    left = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(n => /^data-consentgate-(src|srcset|data|poster|href|ping|data-src|data-srcset)$/.test(n))"
    )
    assert left == []


# -- layout on a phone ---------------------------------------------------------------------------
def box(page: Page, selector: str) -> dict[str, float]:
    locator = page.locator(selector)
    locator.wait_for(state="visible")  # a dialog opened by a click: its boxes once it is shown
    found = locator.bounding_box()
    assert found is not None
    return found


def test_first_layer_is_compact_on_a_phone_with_equal_choices_side_by_side(
    browser: Browser,
    site: Site,
    base_url: str,
    tabs: ExitStack,
) -> None:
    page = open_page(browser, site, base_url, tabs, viewport={"width": 390, "height": 844})
    banner = box(page, "[data-cg-layer='1']")
    assert banner["height"] <= 0.6 * 844, banner
    accept = box(page, "[data-cg-layer='1'] [data-cg-action='accept_all']")
    reject = box(page, "[data-cg-layer='1'] [data-cg-action='reject_all']")
    assert accept["y"] == reject["y"]
    assert (accept["width"], accept["height"]) == (reject["width"], reject["height"])
    assert accept["y"] + accept["height"] <= 844  # both choices in view without scrolling
    # The notice scrolls inside the banner, so a keyboard user can reach all of it.
    assert page.evaluate("document.getElementById('consentgate-desc').tabIndex") == 0
    page.click("[data-cg-layer='1'] [data-cg-action='customise']")
    centre = "dialog[data-consentgate-centre]"
    accept = box(page, f"{centre} [data-cg-action='accept_all']")
    reject = box(page, f"{centre} [data-cg-action='reject_all']")
    assert accept["y"] == reject["y"]
    assert (accept["width"], accept["height"]) == (reject["width"], reject["height"])


def test_all_three_choices_share_one_row_on_a_wide_screen(
    browser: Browser,
    site: Site,
    base_url: str,
    tabs: ExitStack,
) -> None:
    page = open_page(browser, site, base_url, tabs, viewport={"width": 1280, "height": 720})
    for layer in ("[data-cg-layer='1']", "dialog[data-consentgate-centre]"):
        if layer.startswith("dialog"):
            page.click("[data-cg-layer='1'] [data-cg-action='customise']")
        rows = {box(page, f"{layer} [data-cg-action='{a}']")["y"] for a in ("accept_all", "reject_all")}
        assert len(rows) == 1
    assert page.evaluate("document.getElementById('consentgate-desc').tabIndex") == -1


def test_phone_layout_has_no_serious_axe_violations(
    browser: Browser, site: Site, base_url: str, tabs: ExitStack
) -> None:
    page = open_page(browser, site, base_url, tabs, viewport={"width": 390, "height": 844}, bypass_csp=True)
    assert serious_violations(page) == []
    page.click("[data-cg-layer='1'] [data-cg-action='customise']")
    assert serious_violations(page) == []
