"""The banner on pages whose own markup and CSS work against it, in Chromium, behind the real
``ConsentGate``. Each shape was met on a real page of the corpus (named beside it):

- ``html{font-size:62.5%}`` (vulture.com): the banner must not shrink with the site's rem;
- ``body{visibility:hidden}`` until the site's scripts run (seattletimes.com): the banner must
  still be seen and used;
- ``<base href>`` on another origin before the ``<meta charset>`` (zoll.de) or after it
  (genius.com): the banner's style, runtime and consent requests must stay on the site;
- a handler around the whole page that stops ``submit`` and ``click`` events on their way up
  (jpost.com, an ASP.NET page): the choice must still be made in place, without a reload, and
  the "Cookie settings" link must still open the preference centre;
- content wider than a phone's screen (zoll.de, thehill.com: a fifth of the corpus pages on a
  375 px phone): the phone widens the layout viewport that fixed boxes are placed in, and the
  banner, the reopen button and the preference centre must still sit on the screen;
- a right-to-left page (``<html dir="rtl">``): the banner reads in its own language's direction,
  not the page's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.ui.locales import builtin_table, message_keys
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

KEY = "d" * 32
BANNER = "[data-consentgate-banner]"
ELSEWHERE = "https://cdn.elsewhere.test/"

PAGES = {
    "root-font-62.5%": b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
    b"<style>html{font-size:62.5%}body{font-size:1.4rem}button{font-size:1rem;padding:0}</style>"
    b"</head><body><h1>Shop</h1></body></html>",
    "body-hidden": b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
    b"<style>body{visibility:hidden}</style></head><body><h1>Shop</h1></body></html>",
    "base-before-meta": b'<!doctype html><html lang="de"><head>\n  <base href="'
    + ELSEWHERE.encode()
    + b'"/>\n'
    b'  <meta charset="UTF-8"/>\n  <title>t</title></head><body><h1>Zoll</h1></body></html>',
    "base-after-meta": b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
    b'<base target="_top" href="' + ELSEWHERE.encode() + b'"></head><body><h1>Lyrics</h1></body></html>',
    "wider-than-a-phone": b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
    b'<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>'
    b'<h1>Zoll</h1><table width="520"><tr><td>A table wider than the phone.</td></tr></table>'
    b'<a id="settings" href="/_consentgate/preferences" data-consentgate-open>Cookie settings</a>'
    b"</body></html>",
    "right-to-left": '<!doctype html><html dir="rtl" lang="he"><head><meta charset=utf-8><title>t</title>'
    "</head><body><h1>חדשות</h1></body></html>".encode(),
    "events-stopped": b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"
    b'<form id="aspnetForm" method="post" action="/events-stopped"><h1>News</h1>'
    b'<a id="settings" href="/_consentgate/preferences" data-consentgate-open>Cookie settings</a></form>'
    b"<script>['submit', 'click'].forEach(function (t) {"
    b" document.body.addEventListener(t, function (e) { e.stopPropagation(); }); });</script>"
    b"</body></html>",
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = scope["path"].strip("/")
        body = PAGES.get(name)
        status = 200 if body is not None else 404
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": body or b""})

    gate = ConsentGate(app, secret_keys=[KEY], policy=load_dict({}), audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_banner_is_usable_whatever_the_page_does(browser: Browser, site: str, name: str) -> None:
    elsewhere: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(site + "/"):
            route.continue_()
            return
        elsewhere.append(route.request.url)
        route.fulfill(status=404, body=b"")

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.goto(f"{site}/{name}", wait_until="load")
        reject = tab.locator(f"{BANNER} [data-cg-action='reject_all']")
        sizes = reject.evaluate(
            "b => { const s = getComputedStyle(b), r = b.getBoundingClientRect();"
            " return [parseFloat(s.fontSize), r.height, s.visibility]; }"
        )
        font_size, height, visibility = sizes
        assert font_size >= 15 and height >= 40 and visibility == "visible", sizes
        tab.evaluate("() => { window.__samePage = true; }")
        reject.click(timeout=5000)
        tab.wait_for_timeout(300)
        assert not tab.locator(BANNER).is_visible()
        assert tab.evaluate("() => window.__samePage === true"), "the choice left the page"
        assert any(c["name"].endswith("consentgate") for c in context.cookies())
        tab.reload(wait_until="load")
        assert tab.locator(BANNER).count() == 0
    finally:
        context.close()
    # Nothing of ours went to the base's origin: style, runtime, the consent request.
    assert [url for url in elsewhere if "_consentgate" in url] == []


def test_the_settings_link_opens_the_centre_in_place_when_the_page_stops_clicks(
    browser: Browser, site: str
) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{site}/events-stopped", wait_until="load")
        tab.evaluate("() => { window.__samePage = true; }")
        tab.locator("#settings").click()
        tab.wait_for_selector("[data-consentgate-centre][open]", timeout=5000)
        assert tab.evaluate("() => window.__samePage === true")
    finally:
        context.close()


_ON_SCREEN = """sel => { const el = document.querySelector(sel); if (!el) return null;
  const r = el.getBoundingClientRect(), v = visualViewport;
  return [r.left >= -1 && r.top >= -1 && r.right <= v.width + 1 && r.bottom <= v.height + 1,
          [r.left, r.top, r.right, r.bottom], [v.width, v.height, innerWidth, innerHeight]]; }"""


def test_on_a_phone_every_layer_stays_on_screen_when_the_page_is_wider(browser: Browser, site: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        tab = context.new_page()
        tab.goto(f"{site}/wider-than-a-phone", wait_until="load")
        # The premise: the phone widened the layout viewport past its screen.
        assert tab.evaluate("() => innerWidth") > 375
        on_screen, box, viewport = tab.evaluate(_ON_SCREEN, BANNER)
        assert on_screen, (box, viewport)
        tab.locator("#settings").tap()
        tab.wait_for_selector("[data-consentgate-centre][open]", timeout=5000)
        on_screen, box, viewport = tab.evaluate(_ON_SCREEN, "[data-consentgate-centre]")
        assert on_screen, (box, viewport)
        tab.locator("[data-consentgate-centre] [data-cg-action='reject_all']").tap(timeout=5000)
        tab.wait_for_selector(BANNER, state="detached", timeout=5000)
        on_screen, box, viewport = tab.evaluate(_ON_SCREEN, "[data-cg-reopen]")
        assert on_screen, (box, viewport)
        tab.locator("[data-cg-reopen]").tap(timeout=5000)
        tab.wait_for_selector("[data-consentgate-centre][open]", timeout=5000)
    finally:
        context.close()


_LAYOUT = """() => {
  const b = document.querySelector('[data-consentgate-banner]'), c = document.querySelector('[data-consentgate-centre]');
  const d = c.getBoundingClientRect(), close = c.querySelector('.cg-close').getBoundingClientRect();
  const box = c.querySelector('input[name=category]:not([disabled])'), label = c.querySelector('label[for="' + box.id + '"]');
  return {banner: getComputedStyle(b).direction, centre: getComputedStyle(c).direction,
          closeOnTheLeft: close.left - d.left < d.right - close.right,
          boxLeftOfLabel: box.getBoundingClientRect().right <= label.getBoundingClientRect().left + 1};
}"""


def test_the_layers_read_in_their_own_direction_on_a_right_to_left_page(browser: Browser) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": PAGES["right-to-left"]})

    english = builtin_table("en")
    policy = load_dict({"languages": ["en", "he"], "notice": {"he": {k: english[k] for k in message_keys()}}})
    with serve(ConsentGate(app, secret_keys=[KEY], policy=policy, audit=MemorySink())) as port:
        for language, direction in (("en", "ltr"), ("he", "rtl")):
            context = browser.new_context(locale=language, extra_http_headers={"accept-language": language})
            try:
                tab = context.new_page()
                tab.goto(f"http://127.0.0.1:{port}/", wait_until="load")
                tab.locator(f"{BANNER} [data-cg-action='customise']").click()
                tab.wait_for_selector("[data-consentgate-centre][open]", timeout=5000)
                seen = tab.evaluate(_LAYOUT)
                assert seen["banner"] == seen["centre"] == direction, seen
                # Mirrored for right to left: the close button at the end of the title line
                # (the left), each checkbox after its label (to its right).
                assert seen["closeOnTheLeft"] is (direction == "rtl"), seen
                assert seen["boxLeftOfLabel"] is (direction == "ltr"), seen
            finally:
                context.close()
