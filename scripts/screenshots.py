"""Take the banner and preference-centre screenshots in docs/screenshots/ with a real Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Serves a small shop page through ``ConsentGate`` on a free local port (uvicorn, in this process,
lifespan on) with the default UI and theme, opens it in Chromium as a first-time visitor, and
saves:

- ``banner-light.png``: desktop, light colour scheme, banner up, the video embed replaced by its
  placeholder;
- ``banner-dark.png``: the same with ``prefers-color-scheme: dark``;
- ``banner-mobile.png``: a 390x844 phone viewport;
- ``preference-centre.png``: the second layer opened from "Customise", one category unfolded;
- ``selftest-report-summary.png``: the top of ``docs/selftest-report.png`` (the full self-test
  report, made by the selftest tests), for the README.

Nothing leaves the machine: the page's trackers are blocked before the browser sees them, and
every request to another host is aborted on top of that. The demo site's own screenshots
(``demo-first-visit.png``, ``admin-dashboard.png``) come from ``examples/demo/screenshots.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consentgate.selftest.crawler import CHROMIUM_ARGS, chromium_executable

REPO = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# The shop's own declaration: what a data protection officer would see in the centre.
POLICY: dict[str, Any] = {
    "version": "2026-11",
    "controller": {
        "name": "Fieldnote Coffee Roasters Ltd",
        "address": "12 Harbour Street, Galway, Ireland",
        "contact": "privacy@fieldnote.example",
        "privacy_url": "/privacy",
    },
    "services": {
        "basket": {
            "name": "Shopping basket",
            "category": "necessary",
            "provider": "Fieldnote Coffee Roasters Ltd",
            "description": "Keeps the coffee you chose in your basket while you browse.",
            "justification": "The visitor asked for a basket; it cannot work without this cookie.",
            "cookies": [{"name": "basket_id", "lifetime": "session", "description": "Random basket id"}],
        },
        "brew-guide": {
            "name": "Brew guide settings",
            "category": "preferences",
            "provider": "Fieldnote Coffee Roasters Ltd",
            "description": "Remembers your grinder and brewing method for the recipes.",
            "cookies": [{"name": "brew_prefs", "lifetime": "6 months"}],
        },
        "visit-stats": {
            "name": "Visit statistics",
            "category": "analytics",
            "provider": "Fieldnote Coffee Roasters Ltd (self-hosted)",
            "description": "Counts visits and popular pages; the data stays on our own server.",
            "hosts": ["stats.fieldnote.example"],
            "cookies": [
                {"name": "fn_visitor", "lifetime": "13 months", "description": "Random visitor id"},
                {"name": "fn_visit", "lifetime": "30 min", "description": "Groups one visit's pages"},
            ],
        },
        "youtube": {"catalog": "youtube"},
        "meta-pixel": {"catalog": "meta-pixel"},
    },
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Fieldnote Coffee Roasters</title>
<style>
  :root { color-scheme: light dark; --bg: #faf7f2; --fg: #2b2118; --muted: #6b5d50;
          --card: #ffffff; --line: #e7dfd3; --brand: #7a3e1d; --chip: #f1e6d8; }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #1b1612; --fg: #f3ece4; --muted: #bfb2a4; --card: #26201a; --line: #3a3129;
            --brand: #e0a271; --chip: #3a2c20; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--fg);
         font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { border-bottom: 1px solid var(--line); background: var(--card); }
  .bar { max-width: 1120px; margin: 0 auto; padding: 14px 24px; display: flex; gap: 28px;
         align-items: center; }
  .logo { font-weight: 800; font-size: 20px; color: var(--brand); letter-spacing: .2px; }
  nav { display: flex; gap: 20px; color: var(--muted); font-size: 15px; }
  .basket { margin-left: auto; font-size: 15px; color: var(--muted); }
  main { max-width: 1120px; margin: 0 auto; padding: 40px 24px; }
  .hero { display: grid; grid-template-columns: 1.1fr 1fr; gap: 40px; align-items: start; }
  .kicker { text-transform: uppercase; letter-spacing: .12em; font-size: 12px; font-weight: 700;
            color: var(--brand); }
  h1 { font-size: 44px; line-height: 1.1; margin: 10px 0 16px; }
  .lead { font-size: 18px; color: var(--muted); margin: 0 0 24px; }
  .cta { display: inline-block; background: var(--brand); color: var(--bg); padding: 12px 20px;
         border-radius: 8px; font-weight: 700; text-decoration: none; }
  .chips { display: flex; gap: 8px; margin-top: 22px; flex-wrap: wrap; }
  .chips span { background: var(--chip); border-radius: 999px; padding: 4px 12px; font-size: 14px; }
  .video h2 { font-size: 15px; margin: 0 0 10px; color: var(--muted); font-weight: 600; }
  .video iframe { display: block; width: 100%; aspect-ratio: 16 / 9; border: 0; }
  .grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 20px; margin-top: 48px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px; }
  .card b { display: block; font-size: 17px; }
  .card small { color: var(--muted); }
  .swatch { height: 90px; border-radius: 8px; margin-bottom: 12px; }
  @media (max-width: 720px) {
    .hero, .grid { grid-template-columns: 1fr; }
    nav { display: none; }
    h1 { font-size: 32px; }
  }
</style>
<script async src="https://stats.fieldnote.example/count.js"></script>
</head>
<body>
<header><div class="bar">
  <span class="logo">Fieldnote</span>
  <nav><span>Coffee</span><span>Brew guides</span><span>Subscriptions</span><span>Our roastery</span></nav>
  <span class="basket">Basket (2)</span>
</div></header>
<main>
  <section class="hero">
    <div>
      <div class="kicker">New harvest</div>
      <h1>Washed Ethiopian, roasted on Tuesday</h1>
      <p class="lead">Bright, floral and sweet. Roasted in small batches in Galway and posted
        within 48 hours, so it reaches your grinder at its best.</p>
      <a class="cta" href="/coffee">Shop the harvest</a>
      <div class="chips"><span>Jasmine</span><span>Bergamot</span><span>Apricot</span></div>
    </div>
    <div class="video">
      <h2>From the roastery: dialling in a filter brew</h2>
      <iframe src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ" title="Brew video"
        allowfullscreen></iframe>
    </div>
  </section>
  <section class="grid">
    <div class="card"><div class="swatch" style="background:#b5713f"></div>
      <b>Yirgacheffe Kochere</b><small>Washed &middot; 250 g &middot; &euro;14.50</small></div>
    <div class="card"><div class="swatch" style="background:#6d3b22"></div>
      <b>Huila Decaf</b><small>Sugar-cane process &middot; 250 g &middot; &euro;13.00</small></div>
    <div class="card"><div class="swatch" style="background:#8c5a2b"></div>
      <b>House Espresso</b><small>Brazil &amp; Guatemala &middot; 1 kg &middot; &euro;38.00</small></div>
  </section>
</main>
<img src="https://www.facebook.com/tr?id=1234567890&amp;ev=PageView" height="1" width="1" alt="">
</body>
</html>
"""


def build_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from consentgate import ConsentGate, Policy
    from consentgate.audit.events import MemorySink

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE)

    # A MemorySink: the screenshots make no choice worth keeping, and need no database.
    return ConsentGate(
        Starlette(routes=[Route("/", home)]),
        secret_keys=[secrets.token_urlsafe(48)],
        policy=Policy.from_dict(POLICY),
        audit=MemorySink(),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def shoot(chromium: str, site: str, out: Path) -> None:
    from playwright.async_api import Route, async_playwright

    async def local_only(route: Route) -> None:
        if route.request.url.startswith(site):
            await route.continue_()
        else:
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))

        async def first_visit(name: str, **context: Any) -> Any:
            ctx = await browser.new_context(**context)
            page = await ctx.new_page()
            await page.route("**/*", local_only)
            await page.goto(site + "/", wait_until="networkidle")
            await page.locator("[data-consentgate-banner]").wait_for()
            await page.wait_for_timeout(400)  # the banner's short entrance animation
            if name:
                await page.screenshot(path=str(out / name))
            return ctx, page

        for name, scheme in (("banner-light.png", "light"), ("banner-dark.png", "dark")):
            ctx, _ = await first_visit(name, viewport=DESKTOP, color_scheme=scheme)
            await ctx.close()

        ctx, _ = await first_visit(
            "banner-mobile.png",
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            color_scheme="light",
        )
        await ctx.close()

        ctx, page = await first_visit("", viewport={"width": 1280, "height": 900}, color_scheme="light")
        await page.locator("[data-consentgate-banner] [data-cg-action=customise]").click()
        centre = page.locator("[data-consentgate-centre]")
        await centre.wait_for(state="visible")
        await (
            centre.locator("section.cg-cat", has=page.locator("#consentgate-cat-analytics"))
            .locator("summary")
            .click()
        )
        # Tall enough for the whole centre, its three buttons included, without scrolling it.
        height: int = await centre.evaluate("el => el.scrollHeight")
        await page.set_viewport_size({"width": 1280, "height": min(height + 64, 1600)})
        await page.mouse.move(0, 0)
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(out / "preference-centre.png"))
        await ctx.close()
        await browser.close()


async def run(chromium: str, out: Path) -> None:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()  # raises what stopped the server
            await asyncio.sleep(0.05)
        await shoot(chromium, f"http://127.0.0.1:{port}", out)
    finally:
        server.should_exit = True
        await serving


def crop_selftest_report(report: Path, out: Path) -> None:
    """The report's header, counters, phase summary and first layer: the part a README can show."""
    from PIL import Image  # Pillow comes with matplotlib (the dev extra)

    if not report.is_file():
        print(f"no {report}: skipping its summary")
        return
    with Image.open(report) as image:
        image.crop((0, 0, image.width, min(image.height, 770))).save(out / "selftest-report-summary.png")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the consentgate banner and centre")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--chromium", help="default: $CONSENTGATE_CHROMIUM, else chromium on PATH")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(chromium_executable(args.chromium), args.out))
    crop_selftest_report(REPO / "docs" / "selftest-report.png", args.out)
    print(f"screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
