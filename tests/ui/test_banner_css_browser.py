"""banner.css against a site's own element styles, in Chromium, light and dark.

Sites style bare elements (``code``, ``th``) for their own pages; those rules reach into the
preference centre. A light ``code`` background under the centre's light text in dark mode made
every cookie name unreadable (1.1:1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.ui.render import UI
from tests.browser_kit import open_tab, serious_violations, serve

from .uikit import context, make_policy

pytestmark = pytest.mark.browser

# As the demo site styles them (examples/demo/static): a background, the text colour inherited.
SITE_CSS = (
    "body{background:#fbf8f1;color:#2b2b2b}"
    "code{font-size:.88em;background:#ece7dc;padding:.05em .35em;border-radius:4px}"
    "th{background:#efeadf}"
)
# Relative luminance and contrast ratio (WCAG 2.2), of the colours Chromium computed.
CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el;
  while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] ?? 1) === 0) bg = bg.parentElement;
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(getComputedStyle(bg).backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture
def base_url() -> Iterator[str]:
    policy = make_policy()
    ui = UI(policy)
    ctx = context(policy, met_services=tuple(policy.services), nonce=None)

    async def page(request: Request) -> Response:
        return HTMLResponse(
            b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title>'
            + f"<style>{SITE_CSS}</style>".encode()
            + ui.head(ctx)
            + b"</head><body><main><h1>Page</h1><p>Text.</p></main>"
            + ui.body(ctx)
            + b"</body></html>"
        )

    async def asset(request: Request) -> Response:
        found = ui.asset(request.path_params["name"])
        return Response(status_code=404) if found is None else Response(found[0], media_type=found[1])

    app = Starlette(routes=[Route("/", page), Route("/_consentgate/static/{name}", asset)])
    with serve(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_cookie_names_and_table_headers_stay_readable_under_a_sites_own_styles(
    browser: Browser, base_url: str, scheme: str
) -> None:
    with open_tab(browser, color_scheme=scheme) as page:
        page.goto(base_url)
        page.evaluate("consentgate.show()")
        centre = page.locator("dialog[data-consentgate-centre][open]")
        centre.wait_for()
        centre.locator("details").evaluate_all("all => all.forEach(d => d.open = true)")
        for selector in ("code", "th"):
            cells = centre.locator(selector)
            assert cells.count() > 0, selector
            for k in range(cells.count()):
                ratio = cells.nth(k).evaluate(CONTRAST)
                assert ratio >= 4.5, (selector, k, round(ratio, 2))
            assert cells.first.evaluate("el => getComputedStyle(el).backgroundColor") == "rgba(0, 0, 0, 0)"
        assert serious_violations(page, "dialog[data-consentgate-centre]") == []


@pytest.mark.parametrize("viewport", [(800, 600), (1024, 640)], ids=lambda v: f"{v[0]}x{v[1]}")
def test_first_layer_leaves_most_of_a_zoomed_screen_to_the_page(
    browser: Browser, base_url: str, viewport: tuple[int, int]
) -> None:
    # 1600 x 1200 at 200 % and 1280 x 800 at 125 % zoom: wide enough for the desktop layout,
    # too short for it (the notice, uncut, took 78 % of the 800 x 600 screen).
    width, height = viewport
    with open_tab(browser, viewport={"width": width, "height": height}) as page:
        page.goto(base_url)
        banner = page.locator("[data-cg-layer='1']").bounding_box()
        assert banner is not None and banner["height"] <= 0.6 * height, banner
        for action in ("accept_all", "reject_all"):
            choice = page.locator(f"[data-cg-layer='1'] [data-cg-action='{action}']").bounding_box()
            assert choice is not None and choice["y"] + choice["height"] <= height  # in view
