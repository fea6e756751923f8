"""runtime.js in a real Chromium: activation order, no reload on grant, reload on withdraw, nonces.

The page is what the HTML rewriter produces (neutralised markup as in INTERFACES.md D) plus the
UI's own head and body snippets; a fake consent endpoint answers like the real one, with the
STATE built by ``UI.state_json``. The page runs under a nonce-only CSP, so a script the runtime
revives without the page's nonce would not run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentgate.consent.state import Consent
from consentgate.policy.model import Policy, Service
from consentgate.ui.render import UI, RenderContext
from tests.browser_kit import open_tab, serious_violations, serve

from .uikit import context as render_context
from .uikit import make_policy, no_choice

pytestmark = pytest.mark.browser

NONCE = "r4nd0mN0nce"
B_SOURCE = b'window.order.push("b");'
B_INTEGRITY = "sha384-" + base64.b64encode(hashlib.sha384(B_SOURCE).digest()).decode()

# The scripts a granted visitor would run, in document order, minus the async one.
ORDERED = ["a", "inline-1", "b", "site", "cookiebot", "klaro", "m", "mod", "onetrust", "lazy", "party"]

BLOCKED_MARKUP = f"""
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-service="stats" data-consentgate-src="/js/a.js?delay=400"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-service="stats">window.order.push("inline-1");</script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-src="/js/b.js" data-consentgate-integrity="{B_INTEGRITY}" crossorigin="anonymous"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-src="/js/c.js" data-consentgate-integrity="sha384-AAAA" crossorigin="anonymous"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-src="/js/async.js?delay=50" data-consentgate-async></script>
<script type="text/plain" data-category="analytics">window.order.push("site");</script>
<script type="text/plain" data-cookieconsent="statistics">window.order.push("cookiebot");</script>
<script type="text/plain" data-type="text/javascript" data-name="stats" data-src="/js/klaro.js"
  data-consentgate-blocked data-consentgate-category="analytics"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="marketing"
  data-consentgate-service="pixel" data-consentgate-src="/js/m.js"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-type="module" data-consentgate-src="/js/mod.js"></script>
<script type="text/plain" class="optanon-category-C0004">window.order.push("onetrust");</script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-type="rocketlazyloadscript" data-rocket-src="/js/lazy.js"></script>
<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics"
  data-consentgate-type="text/partytown">window.order.push("party");</script>
<img alt="" data-consentgate-blocked data-consentgate-category="analytics" data-consentgate-src="/pixel.gif">
<iframe title="video" data-consentgate-blocked data-consentgate-category="marketing"
  data-consentgate-service="video" data-consentgate-src="/frame"></iframe>
"""


@dataclass
class FakeSite:
    ui: UI
    policy: Policy
    consent: Consent
    fail: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)
    page_loads: int = 0
    token: str = "csrf-123"  # what pages and the state endpoint hand out
    refused: set[str] = field(default_factory=set)  # tokens the consent endpoint answers 403

    def context(self) -> RenderContext:
        return render_context(self.policy, self.consent, csrf_token=self.token, next_url="/", nonce=NONCE)

    async def page(self, request: Request) -> Response:
        self.page_loads += 1
        ctx = self.context()
        placeholder = self.ui.placeholder(_Finding("marketing", "video", "Video", "video.example"), ctx)
        document = (
            b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title>'
            + self.ui.head(ctx)
            + f'<script nonce="{NONCE}">window.order = [];</script>'.encode()
            + b"</head><body><main><h1>Page</h1>"
            + b'<p><a href="/_consentgate/preferences" id="footer-link" data-consentgate-open>Cookies</a></p>'
            + BLOCKED_MARKUP.encode()
            + placeholder
            + b"</main>"
            + self.ui.body(ctx)
            + b"</body></html>"
        )
        csp = f"script-src 'nonce-{NONCE}'; style-src 'nonce-{NONCE}'; object-src 'none'"
        return HTMLResponse(document, headers={"content-security-policy": csp, "cache-control": "no-store"})

    async def state(self, request: Request) -> Response:
        return JSONResponse(self.ui.state_json(self.context()))

    async def preferences(self, request: Request) -> Response:
        return HTMLResponse(self.ui.preferences_page(self.context()))

    async def script(self, request: Request) -> Response:
        name = request.path_params["name"]
        await asyncio.sleep(int(request.query_params.get("delay", "0")) / 1000)
        body = B_SOURCE if name == "b" else f'window.order.push("{name}");'.encode()
        return Response(body, media_type="text/javascript", headers={"access-control-allow-origin": "*"})

    async def asset(self, request: Request) -> Response:
        found = self.ui.asset(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        return Response(found[0], media_type=found[1])

    async def consent_endpoint(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.posts.append(body)
        if self.fail:
            return JSONResponse({"error": "boom"}, status_code=500)
        if body.get("csrf") in self.refused:
            return JSONResponse({"error": "the form has expired"}, status_code=403)
        optional = {c.id for c in self.policy.categories if not c.required}
        action = body["action"]
        services = body.get("services", {})
        if action == "accept_all":
            granted, allowed, denied = optional, set(), set()
        elif action == "reject_all":
            granted, allowed, denied = set(), set(), set()
        else:
            granted = set(body.get("categories", [])) & optional
            allowed = {s for s, on in services.items() if on}
            denied = {s for s, on in services.items() if not on}
        self.consent = self.consent.with_choice(
            granted, source="banner", services=allowed, denied_services=denied
        )
        return JSONResponse({"state": self.ui.state_json(self.context())})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.page),
                Route("/js/{name}.js", self.script),
                Route("/frame", lambda r: HTMLResponse("<p>frame</p>")),
                Route("/pixel.gif", lambda r: Response(b"GIF89a", media_type="image/gif")),
                Route("/_consentgate/static/{name}", self.asset),
                Route("/_consentgate/preferences", self.preferences),
                Route("/_consentgate/state", self.state),
                Route("/_consentgate/consent", self.consent_endpoint, methods=["POST"]),
            ]
        )


@dataclass(frozen=True)
class _Finding:
    category: str
    service_id: str | None
    service_name: str
    host: str


def browser_policy() -> Policy:
    return make_policy(
        services=(
            Service("stats", "Stats", "analytics", provider="Example"),
            Service("pixel", "Pixel", "marketing", provider="Ads Inc"),
            Service("video", "Video", "marketing", provider="Video Inc", description="Embedded videos."),
        )
    )


@pytest.fixture
def site() -> FakeSite:
    policy = browser_policy()
    return FakeSite(ui=UI(policy), policy=policy, consent=no_choice(policy))


@pytest.fixture
def base_url(site: FakeSite) -> Iterator[str]:
    with serve(site.app()) as port:
        yield f"http://127.0.0.1:{port}"


@dataclass
class Tab:
    page: Page
    console: list[str]


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    with open_tab(browser) as page:
        console: list[str] = []

        def record(message: ConsoleMessage) -> None:
            console.append(message.text)

        page.on("console", record)
        yield Tab(page, console)


BANNER = "[data-cg-layer='1']"
CENTRE = "dialog[data-consentgate-centre]"


def wait_for_scripts(page: Page, *names: str) -> list[str]:
    # Functions, not expression strings: the page's CSP forbids eval.
    page.wait_for_function("names => names.every(n => window.order.includes(n))", arg=list(names))
    page.wait_for_timeout(300)  # anything that should not run has had time to run
    order: list[str] = page.evaluate("window.order")
    return order


def csp_violations(console: list[str]) -> list[str]:
    return [m for m in console if "Content Security Policy" in m]


def test_accept_all_runs_blocked_scripts_in_document_order_without_reload(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    assert page.evaluate("window.order") == []
    assert page.evaluate("document.activeElement.id") == "consentgate-title"
    page.evaluate("window.marker = 'same page'")
    page.click(f"{BANNER} button[data-cg-action='accept_all']")
    order = wait_for_scripts(page, *ORDERED, "async")
    assert [name for name in order if name != "async"] == ORDERED
    assert "c" not in order  # its integrity does not match: the attribute came back
    assert page.evaluate("window.marker") == "same page"
    assert site.page_loads == 1
    assert page.evaluate("document.querySelector('iframe').getAttribute('src')") == "/frame"
    assert page.evaluate("document.querySelector('img').getAttribute('src')") == "/pixel.gif"
    assert page.evaluate("document.querySelectorAll('[data-consentgate-placeholder]').length") == 0
    assert page.evaluate("document.querySelectorAll('[data-consentgate-blocked]').length") == 0
    nonces = page.evaluate("[...document.querySelectorAll('script[src^=\"/js/\"]')].map(s => s.nonce)")
    assert nonces and set(nonces) == {NONCE}
    assert page.locator(BANNER).count() == 0
    assert page.locator("[data-cg-reopen]").is_visible()
    assert page.evaluate("document.activeElement.hasAttribute('data-cg-reopen')")
    assert csp_violations(tab.console) == []
    (post,) = site.posts
    assert post["action"] == "accept_all" and post["ui"] == "banner.accept_all"
    assert post["csrf"] == "csrf-123"
    assert "gpc" not in post
    update = page.evaluate("Array.from(window.dataLayer[window.dataLayer.length - 1])")
    assert update[:2] == ["consent", "update"] and update[2]["ad_storage"] == "granted"


@pytest.mark.parametrize("action", ["accept_all", "reject_all"])
def test_without_submitter_in_submit_events_the_clicked_button_is_the_choice(
    tab: Tab, site: FakeSite, base_url: str, action: str
) -> None:
    # Safari before 15.4 has no SubmitEvent.submitter: "Accept all" must not become a save
    # of nothing (a refusal).
    page = tab.page
    page.add_init_script("delete SubmitEvent.prototype.submitter")
    page.goto(base_url)
    assert page.evaluate("'submitter' in SubmitEvent.prototype") is False
    page.click(f"{BANNER} button[data-cg-action='{action}']")
    page.wait_for_function("() => !document.querySelector(\"[data-cg-layer='1']\")")
    (post,) = site.posts
    assert post["action"] == action and post["ui"] == f"banner.{action}"


def test_without_dialog_support_customise_opens_the_preferences_page(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.add_init_script("delete HTMLDialogElement.prototype.showModal")
    page.goto(base_url)
    page.click(f"{BANNER} [data-cg-action='customise']")
    page.wait_for_url("**/_consentgate/preferences?next=*")


def test_customised_choice_runs_only_the_granted_category(tab: Tab, site: FakeSite, base_url: str) -> None:
    page = tab.page
    page.goto(base_url)
    page.click(f"{BANNER} [data-cg-action='customise']")
    page.wait_for_selector(f"{CENTRE}[open]")  # once the stored state is fetched
    assert page.evaluate("document.activeElement.id") == "consentgate-centre-title"
    assert page.evaluate(f"[...document.querySelectorAll('{CENTRE} input:checked')].map(i => i.value)") == [
        "necessary"
    ]
    page.check("#consentgate-cat-analytics")
    page.click(f"{CENTRE} button[data-cg-action='save']")
    order = wait_for_scripts(page, "mod", "site", "party")
    assert [name for name in order if name != "async"] == [
        "a",
        "inline-1",
        "b",
        "site",
        "cookiebot",
        "klaro",
        "mod",
        "lazy",  # a script loader's type: run as the classic script, from its data-rocket-src
        "party",
    ]
    assert page.evaluate("document.querySelector('iframe').hasAttribute('src')") is False
    assert page.evaluate("document.querySelectorAll('[data-consentgate-placeholder]').length") == 1
    assert not page.evaluate(f"document.querySelector('{CENTRE}').open")
    assert site.page_loads == 1
    (post,) = site.posts
    assert post["action"] == "save" and post["ui"] == "preferences.save"
    assert post["categories"] == ["analytics"] and post["services"] == {}
    assert csp_violations(tab.console) == []


def test_withdrawing_takes_two_clicks_and_reloads_the_page(tab: Tab, site: FakeSite, base_url: str) -> None:
    site.consent = site.consent.with_choice({"analytics", "marketing", "preferences"}, source="banner")
    page = tab.page
    page.goto(base_url)
    wait_for_scripts(page, *ORDERED)  # a granted visitor's site markup runs on load
    page.evaluate("window.marker = 'old page'")
    page.click("[data-cg-reopen]")
    with page.expect_navigation():
        page.click(f"{CENTRE} button[data-cg-action='reject_all']")
    page.wait_for_load_state()
    assert page.evaluate("window.marker") is None
    assert site.page_loads == 2
    assert site.consent.categories == {"necessary"}
    assert site.posts[-1]["ui"] == "reopen.reject_all"
    page.wait_for_timeout(300)
    assert page.evaluate("window.order") == []


def test_load_content_grants_one_service_and_shows_it_without_reload(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    page.click("[data-consentgate-placeholder] button")
    page.wait_for_function("() => document.querySelector('iframe').getAttribute('src') === '/frame'")
    assert page.evaluate("document.querySelectorAll('[data-consentgate-placeholder]').length") == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.order") == []  # the other marketing service stays blocked
    assert site.page_loads == 1
    (post,) = site.posts
    assert post["action"] == "save" and post["ui"] == "embed.save"
    assert post["services"] == {"video": True}
    assert set(post["categories"]) <= {"necessary"}


def test_escape_closes_the_centre_and_returns_focus(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.goto(base_url)
    page.focus("#footer-link")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{CENTRE}[open]")
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => !document.querySelector('{CENTRE}').open")
    page.wait_for_function("() => document.activeElement.id === 'footer-link'")
    assert page.locator(BANNER).is_visible()


def test_keyboard_reaches_both_choices_in_order(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.goto(base_url)
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.getAttribute('data-cg-action')"))
    assert reached[:3] == ["accept_all", "reject_all", "customise"]


def test_a_failed_save_keeps_the_banner_and_says_so(tab: Tab, site: FakeSite, base_url: str) -> None:
    site.fail = True
    page = tab.page
    page.goto(base_url)
    page.click(f"{BANNER} button[data-cg-action='reject_all']")
    page.wait_for_selector(f"{BANNER} [data-consentgate-error]", state="visible")
    assert page.locator(BANNER).is_visible()
    assert not page.locator("[data-cg-reopen]").is_visible()


def test_the_browser_privacy_signal_is_reported(tab: Tab, site: FakeSite, base_url: str) -> None:
    page = tab.page
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    page.goto(base_url)
    page.click(f"{BANNER} button[data-cg-action='reject_all']")
    page.wait_for_function("() => document.querySelector('[data-cg-reopen]').hidden === false")
    assert site.posts[0]["gpc"] is True


def test_api_show_hide_and_change_listeners(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.goto(base_url)
    page.evaluate(
        """() => {
        window.seen = [];
        window.consentgate.on('change', s => window.seen.push(['on', s.categories.analytics]));
        document.addEventListener('consentgate:change', e => window.seen.push(['event', e.detail.exists]));
        window.consentgate.show();
    }"""
    )
    page.wait_for_selector(f"{CENTRE}[open]")
    page.evaluate("window.consentgate.hide()")
    assert not page.evaluate(f"document.querySelector('{CENTRE}').open")
    assert page.evaluate("window.consentgate.state.exists") is False
    page.click(f"{BANNER} button[data-cg-action='accept_all']")
    page.wait_for_function("() => window.seen.length === 2")
    assert page.evaluate("window.seen") == [["event", True], ["on", True]]
    assert page.evaluate("window.consentgate.state.categories.marketing") is True


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_banner_centre_and_page_have_no_serious_axe_violations(
    browser: Browser, base_url: str, scheme: str
) -> None:
    # axe is injected as a script string, which the page's nonce-only CSP would refuse.
    with open_tab(browser, bypass_csp=True, color_scheme=scheme) as page:
        page.goto(base_url)
        page.wait_for_timeout(300)  # (nothing fades in: contrast is measured as shown)
        assert serious_violations(page) == []
        page.click(f"{BANNER} [data-cg-action='customise']")
        page.click(f"{CENTRE} summary >> nth=2")
        assert serious_violations(page) == []
        page.goto(base_url + "/_consentgate/preferences")
        assert serious_violations(page) == []


def test_load_content_is_named_for_its_service_and_hands_focus_to_the_frame(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.goto(base_url)
    # A page may hold many "Load content" buttons: each says which service it loads.
    button = page.get_by_role("button", name="Load content (Video)")
    # What shows is "Load content": the service's name is read out, not shown.
    hidden = button.locator(".cg-vh").bounding_box()
    assert hidden is not None and hidden["width"] <= 1 and hidden["height"] <= 1
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('iframe').getAttribute('src') === '/frame'")
    # Focus was on the button, which is gone: it is on the frame now, not lost to <body>.
    page.wait_for_function("() => document.activeElement.tagName === 'IFRAME'")


def test_the_centre_shows_a_choice_made_in_another_tab_before_it_opens(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    site.consent = site.consent.with_choice({"analytics"}, source="banner")  # in another tab
    page.click(f"{BANNER} [data-cg-action='customise']")
    page.wait_for_selector(f"{CENTRE}[open]")
    assert page.is_checked("#consentgate-cat-analytics") and not page.is_checked("#consentgate-cat-marketing")
    assert page.locator(BANNER).count() == 0  # a choice exists: the first layer is gone
    wait_for_scripts(page, "a", "site")  # and the page runs what it allows
    assert site.page_loads == 1 and site.posts == []


def test_a_withdrawal_in_another_tab_takes_the_page_to_the_preferences_page(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    site.consent = site.consent.with_choice({"analytics", "marketing", "preferences"}, source="banner")
    page = tab.page
    page.goto(base_url)
    wait_for_scripts(page, *ORDERED)
    site.consent = site.consent.with_choice(set(), source="preferences")  # in another tab
    # What ran here cannot be unloaded: the page goes, and the centre shows what is stored now.
    page.click("[data-cg-reopen]")
    page.wait_for_url("**/_consentgate/preferences?next=%2F")
    checked = page.evaluate("[...document.querySelectorAll('input:checked')].map(i => i.value)")
    assert checked == ["necessary"]
    assert site.posts == []


def test_a_tab_the_visitor_comes_back_to_applies_a_choice_made_elsewhere(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    site.consent = site.consent.with_choice({"analytics"}, source="banner")
    # (Headless tabs never turn hidden: the event a browser sends on coming back.)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_selector(BANNER, state="detached")
    wait_for_scripts(page, "a", "site")
    assert site.page_loads == 1 and site.posts == []


def test_a_refused_token_is_replaced_from_the_state_and_the_choice_sent_once_more(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    site.refused, site.token = {"csrf-123"}, "csrf-456"  # the page's token went stale
    page.click(f"{BANNER} button[data-cg-action='reject_all']")
    page.wait_for_selector(BANNER, state="detached")
    assert [(post["action"], post["csrf"]) for post in site.posts] == [
        ("reject_all", "csrf-123"),
        ("reject_all", "csrf-456"),
    ]
    assert site.consent.exists and site.consent.categories == {"necessary"}


def test_a_choice_refused_again_says_so_and_is_not_sent_a_third_time(
    tab: Tab, site: FakeSite, base_url: str
) -> None:
    page = tab.page
    page.goto(base_url)
    site.refused = {"csrf-123"}
    page.click(f"{BANNER} button[data-cg-action='reject_all']")
    page.wait_for_selector(f"{BANNER} [data-consentgate-error]", state="visible")
    page.wait_for_timeout(300)
    assert len(site.posts) == 2 and not site.consent.exists
