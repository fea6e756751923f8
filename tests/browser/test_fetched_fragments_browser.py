"""A page that fetches pieces of HTML and swaps them in, as htmx and jQuery ``.load()`` do, in
Chromium behind the real ``ConsentGate``: the piece brings no second banner, state block or
runtime (htmx runs the scripts it swaps in), its tracker stays blocked until the visitor allows
it, and "Accept all" on the page restores it in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import serve

pytestmark = pytest.mark.browser

KEY = "h" * 32
# What htmx does for hx-get + hx-swap="innerHTML": fetch with HX-Request, put the HTML in, and
# run the scripts that came with it.
SWAP = b"""<script>
function swap(url, target, headers) {
  return fetch(url, {headers: headers}).then(function (r) { return r.text(); }).then(function (html) {
    var el = document.querySelector(target);
    el.innerHTML = html;
    el.querySelectorAll('script').forEach(function (old) {
      var s = document.createElement('script');
      for (var i = 0; i < old.attributes.length; i++) s.setAttribute(old.attributes[i].name, old.attributes[i].value);
      s.text = old.text;
      old.replaceWith(s);
    });
  });
}
</script>"""
PAGES = {
    "/": b"<!doctype html><html><head><meta charset=utf-8><title>Videos</title>" + SWAP + b"</head><body>"
    b'<h1>Videos</h1><div id="list"></div></body></html>',
    "/list": b'<ul><li>A talk <iframe width="320" height="180" src="https://www.youtube.com/embed/abc"></iframe>'
    b"</li></ul>",
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = PAGES.get(scope["path"], b"")
        await send(
            {
                "type": "http.response.start",
                "status": 200 if body else 404,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    gate = ConsentGate(app, secret_keys=[KEY], policy=load_dict({}), audit=MemorySink())
    with serve(gate) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "headers",
    [{"HX-Request": "true"}, {"X-Requested-With": "XMLHttpRequest"}, {}],
    ids=["htmx", "jquery", "fetch"],
)
def test_a_swapped_in_piece_brings_no_second_banner_and_its_embed_waits_for_consent(
    browser: Browser, site: str, headers: dict[str, str]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    loaded: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(site + "/"):
            route.continue_()
        else:
            loaded.append(route.request.url)
            route.fulfill(status=204, body=b"")

    try:
        context.route("**/*", handle)
        tab = context.new_page()
        tab.goto(site + "/", wait_until="load")
        tab.evaluate("h => swap('/list', '#list', h)", headers)
        tab.locator("#list [data-consentgate-placeholder]").wait_for(timeout=5000)
        counts = tab.evaluate(
            "() => ['[data-consentgate-banner]', '#consentgate-state', 'script[src*=runtime]', '[data-cg-reopen]']"
            ".map(s => document.querySelectorAll(s).length)"
        )
        assert counts == [1, 1, 1, 1], counts
        assert tab.locator("#list iframe").get_attribute("src") is None
        assert [u for u in loaded if "youtube" in u] == []
        tab.locator("[data-consentgate-banner] [data-cg-action='accept_all']").click()
        tab.locator("#list [data-consentgate-placeholder]").wait_for(state="detached", timeout=5000)
        assert tab.locator("#list iframe").get_attribute("src") == "https://www.youtube.com/embed/abc"
    finally:
        context.close()
