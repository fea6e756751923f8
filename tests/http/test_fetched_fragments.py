"""HTML that a page's script fetches (htmx, jQuery ``.load()``, ``fetch()``): a piece of a page
gets its trackers neutralised and no banner of its own; a whole document (htmx ``hx-boost``,
Turbo Drive) gets the snippets as a navigation does. Caches keep the two apart."""

from __future__ import annotations

from typing import Any

import pytest

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import Recorder, receiver, scope

YOUTUBE = b'<iframe src="https://www.youtube.com/embed/x"></iframe>'
BODIES = {
    "/rows": b"<tr><td>row</td><td>" + YOUTUBE + b"</td></tr>",
    "/page": b"<!doctype html><html><head><title>t</title></head><body>" + YOUTUBE + b"</body></html>",
}
BANNER = b"data-consentgate-banner"
STATE = b'id="consentgate-state"'


def gate(policy: dict[str, Any] | None = None) -> ConsentGate:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"etag", b'"v1"')]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": BODIES[scope["path"]]})

    return ConsentGate(app, secret_keys=["k" * 32], policy=load_dict(policy or {}), audit=MemorySink())


async def get(middleware: ConsentGate, path: str, *headers: tuple[str, str]) -> Recorder:
    recorder = Recorder()
    await middleware(scope(path, headers=[("accept", "text/html"), *headers]), receiver(), recorder)
    assert recorder.status == 200
    return recorder


SCRIPTED = [
    (("hx-request", "true"),),
    (("sec-fetch-dest", "empty"), ("sec-fetch-mode", "cors")),
    (("x-requested-with", "XMLHttpRequest"),),
]


@pytest.mark.parametrize("headers", SCRIPTED, ids=["htmx", "fetch", "jquery"])
async def test_a_fetched_piece_of_a_page_has_no_banner_and_no_live_tracker(
    headers: tuple[tuple[str, str], ...],
) -> None:
    middleware = gate()
    piece = await get(middleware, "/rows", *headers)
    assert BANNER not in piece.body and STATE not in piece.body
    assert b' src="https://www.youtube.com' not in piece.body
    assert b"data-consentgate-placeholder" in piece.body  # "Load content" works in the page it joins
    # The same URL opened as a page is a document to the browser: it gets the banner.
    page = await get(middleware, "/rows", ("sec-fetch-dest", "document"))
    assert BANNER in page.body and STATE in page.body
    # Caches tell them apart.
    vary = {v.strip().lower() for v in (piece.header("vary") or "").split(",")}
    assert {"hx-request", "x-requested-with", "cookie"} <= vary
    assert "sec-fetch-dest" not in vary  # a <link rel=prefetch> (dest "empty") must serve the navigation
    assert piece.header("etag") != page.header("etag")


@pytest.mark.parametrize(
    "headers",
    [
        (("sec-fetch-dest", "document"), ("x-requested-with", "com.example.app")),  # an Android WebView
        (("x-requested-with", "com.example.app"),),
        (("sec-fetch-dest", "iframe"),),
    ],
    ids=["webview", "webview-without-fetch-metadata", "frame"],
)
async def test_a_piece_of_a_page_opened_as_a_page_gets_the_banner(
    headers: tuple[tuple[str, str], ...],
) -> None:
    page = await get(gate(), "/rows", *headers)
    assert page.body.count(BANNER) == 1 and page.body.count(STATE) == 1


@pytest.mark.parametrize("headers", SCRIPTED, ids=["htmx", "fetch", "jquery"])
async def test_a_fetched_whole_document_keeps_the_banner(headers: tuple[tuple[str, str], ...]) -> None:
    boosted = await get(gate(), "/page", *headers)
    assert boosted.body.count(BANNER) == 1 and boosted.body.count(STATE) == 1
    assert b' src="https://www.youtube.com' not in boosted.body
