"""The banner on real pages: a sample of the 120 corpus pages (../shared/corpora/html), each
served by a small app behind the real ``ConsentGate`` with the built-in policy, in Chromium.

On every page, with the page's own markup, inline styles and scripts around it:
- no known tracker (a catalog service that is not strictly necessary) is requested, before the
  choice or after "Reject all" (images a page names only in CSS, ``url(...)``, are the consent
  CSP's to stop: for those pages the test loads them again with ``csp = "enforce"`` and then
  nothing may be requested at all);
- the banner is on screen; "Accept all" and "Reject all" are the same size, big enough to hit,
  legible, and nothing of the page covers them;
- one click on "Reject all" hides the banner and stores the choice in the consent cookie;
- on a phone (375 x 667), the banner sits on the screen and one tap on "Reject all" works,
  also where the page is wider than the screen (a fifth of these pages);
- one click on "Accept all" runs what was held back in the same document, which keeps its
  content: a tag that writes with ``document.write`` (ad tags, counters: a quarter of these
  pages have one) no longer replaces the whole page (checked on those pages; on all 120 with
  ``CG_SAMPLE_EVERY=1``).

The sample is every 10th page (plus the first non-UTF-8 ones); ``CG_SAMPLE_EVERY=1`` runs all
120 (about five minutes; docs/benchmarks.md has what that run finds).

Third-party requests are answered with an empty 204 here (nothing leaves the machine), so a
tracker that was not neutralised shows up as a request, never as a script that runs.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Request as PlaywrightRequest
from starlette.requests import Request
from starlette.responses import Response

from consentgate.audit.events import MemorySink
from consentgate.html.rewriter import rewrite
from consentgate.html.rules import Rules
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.policy.model import NECESSARY, Policy
from tests.browser_kit import serve

pytestmark = [pytest.mark.browser, pytest.mark.corpus]

KEY = "c" * 32
BANNER = "[data-consentgate-banner]"
# Every 10th page by name, plus every page that is not UTF-8 among the first 40: a spread of
# sites, sizes, ages and encodings, in a minute or two.
SAMPLE_EVERY = int(os.environ.get("CG_SAMPLE_EVERY", "10"))

_MEASURE = """() => {
  const banner = document.querySelector('[data-consentgate-banner]');
  if (!banner) return null;
  const box = banner.getBoundingClientRect();
  const buttons = ['accept_all', 'reject_all'].map(a => banner.querySelector(`[data-cg-action='${a}']`));
  return {
    banner: [box.left, box.top, box.width, box.height],
    viewport: [innerWidth, innerHeight],
    buttons: buttons.map(b => {
      b.scrollIntoView({block: 'center'});
      const r = b.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      const style = getComputedStyle(b);
      return {width: r.width, height: r.height, onTop: hit === b || b.contains(hit),
              fontSize: parseFloat(style.fontSize), shown: style.visibility === 'visible' && style.opacity !== '0'};
    }),
  };
}"""


def _sample(html: Path) -> list[tuple[str, dict[str, Any]]]:
    pages: dict[str, dict[str, Any]] = json.loads((html / "EXPECT.json").read_text())["pages"]
    names = sorted(pages)
    chosen = {n for i, n in enumerate(names) if i % SAMPLE_EVERY == 0}
    chosen |= {n for n in names[:40] if pages[n]["encoding"] not in ("utf-8", "ascii")}
    return [(n, pages[n]) for n in sorted(chosen)]


def _site(data: bytes, encoding: str, policy: Policy) -> ConsentGate:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        if request.url.path == "/":
            response = Response(data, media_type=f"text/html; charset={encoding}")
        else:
            response = Response(b"", status_code=404)
        await response(scope, receive, send)

    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=MemorySink())


def _only_in_css(url: str, page: bytes) -> bool:
    """Is ``url`` named by the page in CSS only (``url(...)`` in a style attribute or element)?
    Those are the consent CSP's to block, not the rewriter's (docs/how-it-works.md)."""
    text = html_lib.unescape(page.decode("latin-1"))
    places = [m.start() for m in re.finditer(re.escape(url.split("://", 1)[-1]), text)]
    return bool(places) and all(
        re.search(r"url\(\s*[\"']?\s*(?:https?:)?//$", text[max(0, i - 40) : i]) for i in places
    )


def _router(site: str, policy: Policy, trackers: list[str]) -> Callable[[Route], None]:
    """The site's requests go through; every other one is answered here with an empty 204, and
    recorded when its host belongs to a catalog service that is not strictly necessary."""

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(site + "/"):
            route.continue_()
            return
        service = policy.lookup.service_for_host(urlsplit(url).hostname or "")
        if service is not None and service.category != NECESSARY:
            trackers.append(url)
        route.fulfill(status=204, body=b"")

    return handle


DESKTOP: Final = {"viewport": {"width": 1280, "height": 800}}
PHONE: Final = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}


@contextmanager
def _tab(
    browser: Browser, data: bytes, encoding: str, policy: Policy, seen: list[str], options: dict[str, Any]
) -> Iterator[tuple[Page, str]]:
    """The page served behind ConsentGate with ``policy``, in a fresh context of ``options``;
    third-party requests answered by :func:`_router` (tracker URLs go to ``seen``). Yields the
    tab and the site's origin."""
    with serve(_site(data, encoding, policy)) as port:
        site = f"http://127.0.0.1:{port}"
        context = browser.new_context(**options)
        try:
            context.route("**/*", _router(site, policy, seen))
            yield context.new_page(), site
        finally:
            context.close()


def test_the_banner_works_on_real_pages_and_no_known_tracker_loads(
    browser: Browser, shared_dir: Path
) -> None:
    html = shared_dir / "corpora" / "html"
    policy = load_dict({})
    problems: list[str] = []
    checked_css: list[str] = []
    sample = _sample(html)
    assert len(sample) >= 12
    for name, entry in sample:
        data = (html / name).read_bytes()
        trackers: list[str] = []
        with _tab(browser, data, entry["encoding"], policy, trackers, DESKTOP) as (tab, site):
            tab.goto(site + "/", wait_until="load")
            tab.wait_for_timeout(200)
            measured = tab.evaluate(_MEASURE)
            if measured is None:
                problems.append(f"{name}: no banner")
                continue
            left, top, width, height = measured["banner"]
            vw, vh = measured["viewport"]
            if (
                width < 200
                or height < 50
                or left >= vw
                or top >= vh
                or left + width <= 0
                or top + height <= 0
            ):
                problems.append(f"{name}: banner off screen or squashed: {measured['banner']}")
            accept, reject = measured["buttons"]
            if abs(accept["width"] - reject["width"]) > 1 or abs(accept["height"] - reject["height"]) > 1:
                problems.append(f"{name}: accept and reject differ in size: {accept} {reject}")
            for label, button in (("accept", accept), ("reject", reject)):
                if not button["onTop"] or not button["shown"]:
                    problems.append(f"{name}: {label} is covered or hidden: {button}")
                if button["height"] < 24 or button["width"] < 24 or button["fontSize"] < 12:
                    problems.append(f"{name}: {label} too small: {button}")
            try:
                tab.locator(f"{BANNER} [data-cg-action='reject_all']").click(timeout=5000)
            except PlaywrightError as error:
                problems.append(f"{name}: cannot click Reject all: {str(error).splitlines()[0]}")
                continue
            tab.wait_for_timeout(300)
            if tab.locator(BANNER).is_visible():
                problems.append(f"{name}: the banner stays after Reject all")
            if not any(c["name"].endswith("consentgate") for c in tab.context.cookies()):
                problems.append(f"{name}: no consent cookie after Reject all")
            tab.reload(wait_until="load")
            tab.wait_for_timeout(200)
            if tab.locator(BANNER).count():
                problems.append(f"{name}: the banner is back after a reload")
        css = sorted({url for url in trackers if _only_in_css(url, data)})
        problems += [f"{name}: requested {url[:120]}" for url in trackers if url not in css]
        if css:
            # The rewriter leaves CSS alone; the consent CSP, enforced, must stop these.
            enforced: list[str] = []
            enforcing = load_dict({"csp": "enforce"})
            with _tab(browser, data, entry["encoding"], enforcing, enforced, DESKTOP) as (tab, site):
                tab.goto(site + "/", wait_until="load")
                tab.wait_for_timeout(300)
            problems += [f"{name}: requested under an enforced CSP: {url[:120]}" for url in enforced]
            checked_css.append(name)
    assert problems == []
    print(f"\n{len(sample)} pages; CSS-only tracker images stopped by the enforced CSP on: {checked_css}")


_HELD_BACK = re.compile(
    rb"<script[^>]*data-consentgate-blocked[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)
# The page's own elements: the banner, its backdrop and the placeholders of blocked frames (all
# gone after Accept all) are not counted.
_SHAPE = """() => {
  const ui = [...document.querySelectorAll(
    '[data-consentgate-banner],[data-consentgate-backdrop],[data-consentgate-placeholder]')];
  const count = el => el ? el.getElementsByTagName('*').length : 0;
  return {same: window.__cgSame === true, title: document.title,
    elements: count(document.body) - ui.reduce((n, el) => n + 1 + count(el), 0),
    banner: !!document.querySelector('[data-consentgate-banner]'), reopen: !!document.querySelector('[data-cg-reopen]:not([hidden])')};
}"""


def _writes_when_granted(data: bytes, rules: Rules) -> bool:
    """Does the page hold back an inline tag that writes with ``document.write``?"""
    out = rewrite(data, rules, lambda service, category: category == NECESSARY)
    return any(m.group(1).find(b"document.write") >= 0 for m in _HELD_BACK.finditer(out))


def test_accept_all_keeps_real_pages_whole(browser: Browser, shared_dir: Path) -> None:
    html = shared_dir / "corpora" / "html"
    policy = load_dict({})
    rules = Rules.compile(policy)
    pages: dict[str, dict[str, Any]] = json.loads((html / "EXPECT.json").read_text())["pages"]
    writers = {n for n in pages if _writes_when_granted((html / n).read_bytes(), rules)}
    assert len(writers) >= 10  # the point of this test: real tags that write
    problems: list[str] = []
    # The pages with writing tags are the point; CG_SAMPLE_EVERY=1 checks every page as well.
    everything = {n for n, _ in _sample(html)} if SAMPLE_EVERY == 1 else set()
    for name in sorted(writers | everything):
        data = (html / name).read_bytes()
        with _tab(browser, data, pages[name]["encoding"], policy, [], DESKTOP) as (tab, site):
            tab.goto(site + "/", wait_until="load")
            tab.wait_for_timeout(200)
            tab.evaluate("() => { window.__cgSame = true; }")
            before = tab.evaluate(_SHAPE)
            try:
                tab.locator(f"{BANNER} [data-cg-action='accept_all']").click(timeout=5000)
            except PlaywrightError as error:
                problems.append(f"{name}: cannot click Accept all: {str(error).splitlines()[0]}")
                continue
            tab.wait_for_timeout(400)
            after = tab.evaluate(_SHAPE)
        if not after["same"] or after["title"] != before["title"]:
            problems.append(f"{name}: Accept all replaced the document: {before} -> {after}")
        elif after["elements"] < 0.9 * before["elements"] or after["banner"] or not after["reopen"]:
            problems.append(f"{name}: the page lost content or its consent UI: {before} -> {after}")
    assert problems == []
    print(f"\nAccept all kept {len(writers)} pages with writing tags whole")


_ON_SCREEN = """() => { const b = document.querySelector('[data-consentgate-banner]'); if (!b) return null;
  const r = b.getBoundingClientRect(), v = visualViewport;
  return {box: [r.left, r.top, r.right, r.bottom], screen: [v.width, v.height], layout: [innerWidth, innerHeight]}; }"""


def _leaving(tab: Page, site: str, away: list[str]) -> Callable[[PlaywrightRequest], None]:
    """A listener that records the tab's top-level navigations off ``site``."""

    def record(request: PlaywrightRequest) -> None:
        if (
            request.is_navigation_request()
            and request.frame == tab.main_frame
            and not request.url.startswith(site)
        ):
            away.append(request.url)

    return record


def test_on_a_phone_the_banner_is_on_screen_and_one_tap_refuses(browser: Browser, shared_dir: Path) -> None:
    html = shared_dir / "corpora" / "html"
    policy = load_dict({})
    problems: list[str] = []
    sent_away: list[str] = []
    wider = 0
    for name, entry in _sample(html):
        with _tab(browser, (html / name).read_bytes(), entry["encoding"], policy, [], PHONE) as (tab, site):
            away: list[str] = []
            tab.on("request", _leaving(tab, site, away))
            tab.goto(site + "/", wait_until="commit")
            for _ in range(100):  # until the runtime has started, or the page sends the phone away
                if away or tab.evaluate("() => document.readyState !== 'loading' && !!window.consentgate"):
                    break
                tab.wait_for_timeout(50)
            if away:  # washingtonpost.com sends phones to its mobile site, with or without us
                sent_away.append(name)
                continue
            tab.wait_for_timeout(300)
            seen = tab.evaluate(_ON_SCREEN)
            if seen is None:
                problems.append(f"{name}: no banner")
                continue
            left, top, right, bottom = seen["box"]
            width, height = seen["screen"]
            wider += seen["layout"][0] > width + 1
            if left < -1 or top < -1 or right > width + 1 or bottom > height + 1:
                problems.append(f"{name}: the banner leaves the screen: {seen}")
            try:
                tab.locator(f"{BANNER} [data-cg-action='reject_all']").tap(timeout=5000)
                tab.wait_for_selector(BANNER, state="detached", timeout=5000)
            except PlaywrightError as error:
                problems.append(f"{name}: cannot tap Reject all: {str(error).splitlines()[0]}")
    assert problems == []
    assert len(sent_away) <= 2, sent_away
    print(f"\n{wider} sampled pages are wider than the phone; sent to a mobile site: {sent_away}")


def _form_placeholder(finding: object) -> bytes:
    return b'<form method="post"><input type="hidden" name="s" value="1"><button>Load</button></form>'


_FORM_OWNERS = """() => [...document.querySelectorAll('[data-consentgate-placeholder] button,'
  + '[data-consentgate-banner] button')].map(b => b.form ? (b.form.getAttribute('data-consentgate-form')
  || 'the page form ' + (b.form.id || b.form.getAttribute('action'))) : 'no form')"""


def test_placeholders_inside_the_pages_own_form_submit_their_own(browser: Browser, shared_dir: Path) -> None:
    """On the corpus pages that render a placeholder inside a form the page opened (ASP.NET
    pages wrap the body in one), every "Load content" button and every banner button belongs
    to a consentgate form (see tests/browser/test_page_forms_browser.py for the clicks)."""
    html = shared_dir / "corpora" / "html"
    policy = load_dict({})
    rules = Rules.compile(policy)
    pages: dict[str, dict[str, Any]] = json.loads((html / "EXPECT.json").read_text())["pages"]
    inside = [
        n
        for n in sorted(pages)
        if b'form="consentgate-embed-'
        in rewrite((html / n).read_bytes(), rules, lambda s, c: c == NECESSARY, placeholder=_form_placeholder)
    ]
    # jpost.com: a Brightcove video inside aspnetForm (hindustantimes.com's frame there is a Like
    # button now, which gets no placeholder)
    assert len(inside) >= 1
    problems: list[str] = []
    for name in inside:
        with _tab(browser, (html / name).read_bytes(), pages[name]["encoding"], policy, [], DESKTOP) as (
            tab,
            site,
        ):
            tab.goto(site + "/", wait_until="load")
            owners = tab.evaluate(_FORM_OWNERS)
        wrong = [o for o in owners if o not in ("embed", "banner")]
        if wrong or "embed" not in owners:
            problems.append(f"{name}: {owners}")
    assert problems == []
