"""ConsentGate end to end: scopes, the consent cookie, the response pipeline with the real
rewriter, caching headers and the Set-Cookie firewall."""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from consentgate.audit.events import MemorySink
from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import BROWSER, Recorder, receiver, scope

KEY, OLD_KEY = "k" * 32, "o" * 32
GA = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
PAGE = f"<!doctype html><html><head><title>Shop</title>{GA}</head><body><h1>Hi</h1></body></html>".encode()
POLICY = load_dict({})


def gate(app: Any, **options: Any) -> ConsentGate:
    options.setdefault("audit", MemorySink())
    options.setdefault("policy", POLICY)
    return ConsentGate(app, secret_keys=options.pop("secret_keys", [KEY]), **options)


def cookie_for(middleware: ConsentGate, *categories: str, **changes: Any) -> str:
    consent = Consent.none(POLICY.service_categories).with_choice(
        set(categories), source="banner", fingerprint=POLICY.fingerprint(), **changes
    )
    return middleware.cookie.dumps(consent)


def html_app(body: bytes = PAGE, **headers: str) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await HTMLResponse(body, headers=headers)(scope, receive, send)

    return app


async def echo_consent(request: Request) -> JSONResponse:
    consent: Consent = request.scope["consentgate"]
    return JSONResponse(
        {"exists": consent.exists, "categories": sorted(consent.categories), "id": consent.consent_id}
    )


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers={"user-agent": BROWSER}
    )


def blocked(body: bytes) -> bool:
    return (
        b"data-consentgate-blocked" in body
        and re.search(rb'\ssrc="https://www.googletagmanager', body) is None
    )


# --- scopes we do not touch ------------------------------------------------------------------


async def test_lifespan_messages_pass_through_both_ways() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    sent: list[str] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, str]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await gate(app)({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert seen == ["lifespan.startup", "lifespan.shutdown"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_lifespan_starts_and_flushes_a_managed_audit_sink_around_the_app() -> None:
    order: list[str] = []

    class Writer(MemorySink):
        async def start(self) -> None:
            order.append("writer.start")

        async def stop(self) -> None:
            order.append("writer.stop")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        order.append("app.startup")
        await send({"type": "lifespan.startup.complete"})
        await receive()
        order.append("app.shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, str]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        order.append(message["type"])

    await gate(app, audit=Writer())({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert order == [
        "writer.start",
        "app.startup",
        "lifespan.startup.complete",
        "app.shutdown",
        "writer.stop",
        "lifespan.shutdown.complete",
    ]


async def test_a_websocket_passes_through_untouched() -> None:
    async def echo(websocket: WebSocket) -> None:
        assert "consentgate" not in websocket.scope
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    inbox: list[dict[str, Any]] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "ping"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    ws_scope = {**scope("/ws"), "type": "websocket", "scheme": "ws", "subprotocols": []}
    await gate(Starlette(routes=[WebSocketRoute("/ws", echo)]))(ws_scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "ping"


async def test_a_websocket_denial_response_with_html_is_byte_identical() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": PAGE})

    sent: list[Any] = []

    async def record(message: Any) -> None:
        sent.append(message)

    ws_scope = {**scope(), "type": "websocket", "extensions": {"websocket.http.response": {}}}
    await gate(app)(ws_scope, receiver(), record)
    assert sent[1]["body"] == PAGE


# --- the scope the app sees ------------------------------------------------------------------


async def test_the_app_gets_a_copy_of_the_scope_with_the_consent() -> None:
    seen: dict[str, Any] = {}

    async def app(child: Any, receive: Any, send: Any) -> None:
        seen.update(child)
        await JSONResponse({})(child, receive, send)

    server_scope = scope("/api", headers=[("accept", "text/html"), ("accept-encoding", "gzip, br")])
    server_scope["extensions"] = {"http.response.pathsend": {}}
    before = {
        **server_scope,
        "headers": list(server_scope["headers"]),
        "extensions": dict(server_scope["extensions"]),
    }
    await gate(app)(server_scope, receiver(), Recorder())
    assert server_scope == before  # nothing of the server's was changed
    assert isinstance(seen["consentgate"], Consent)
    assert not seen["consentgate"].exists
    assert (b"accept-encoding", b"gzip") in seen["headers"]  # br is not something we can decode
    assert "http.response.pathsend" not in seen["extensions"]


async def test_the_consent_cookie_is_found_in_a_second_cookie_header() -> None:
    app = gate(Starlette(routes=[Route("/", echo_consent)]))
    value = cookie_for(app, "analytics")
    headers = [("cookie", "a b=1; x,y=2"), ("cookie", f"other=1; consentgate={value}")]
    send = Recorder()
    await app(scope(headers=headers), receiver(), send)
    assert json.loads(send.body)["categories"] == ["analytics", "necessary"]


@pytest.mark.parametrize("damage", ["tampered", "truncated", "expired", "wrong_key", "stale_policy"])
async def test_a_bad_consent_cookie_counts_as_no_choice(damage: str) -> None:
    app = gate(Starlette(routes=[Route("/", echo_consent), Route("/page", lambda r: HTMLResponse(PAGE))]))
    value = cookie_for(app, "analytics", "marketing")
    if damage == "tampered":
        value = value[:12] + ("A" if value[12] != "A" else "B") + value[13:]
    elif damage == "truncated":
        value = value[: len(value) // 2]
    elif damage == "expired":
        value = cookie_for(app, "analytics", "marketing", now=1_000_000_000)
    elif damage == "wrong_key":
        value = ConsentCookie([OLD_KEY], POLICY).dumps(
            Consent.none().with_choice({"analytics"}, source="banner")
        )
    else:
        other = load_dict({"services": {"x": {"name": "X", "category": "analytics", "hosts": ["x.example"]}}})
        value = ConsentCookie([KEY], other).dumps(Consent.none().with_choice({"analytics"}, source="banner"))
    async with client(app) as http:
        http.cookies.set("consentgate", value)
        assert (await http.get("/")).json()["exists"] is False
        page = await http.get("/page")
    assert blocked(page.content)
    assert b'id="consentgate-state"' in page.content


async def test_a_cookie_signed_with_the_previous_key_works_after_rotation() -> None:
    old = gate(Starlette(routes=[Route("/", echo_consent)]), secret_keys=[OLD_KEY])
    value = cookie_for(old, "analytics")
    rotated = gate(Starlette(routes=[Route("/", echo_consent)]), secret_keys=[KEY, OLD_KEY])
    async with client(rotated) as http:
        http.cookies.set("consentgate", value)
        assert (await http.get("/")).json()["exists"] is True
        saved = await http.post("/_consentgate/consent", json={"action": "reject_all"})
    new_value = saved.cookies["consentgate"]
    assert ConsentCookie([KEY], POLICY).loads(new_value)[1] == "ok"  # re-signed with the new key
    assert ConsentCookie([OLD_KEY], POLICY).loads(new_value)[1] == "bad_signature"


async def test_concurrent_requests_each_see_their_own_consent() -> None:
    app = gate(Starlette(routes=[Route("/", echo_consent)]))
    results: dict[str, list[str]] = {}

    async def fetch(name: str, categories: tuple[str, ...]) -> None:
        async with client(app) as http:
            http.cookies.set("consentgate", cookie_for(app, *categories))
            results[name] = (await http.get("/")).json()["categories"]

    async with anyio.create_task_group() as tasks:
        for index in range(10):
            tasks.start_soon(fetch, f"a{index}", ("analytics",))
            tasks.start_soon(fetch, f"m{index}", ("marketing",))
    assert all(
        v == (["analytics", "necessary"] if k[0] == "a" else ["marketing", "necessary"])
        for k, v in results.items()
    )


# --- the page --------------------------------------------------------------------------------


async def test_without_consent_the_tracker_is_neutralised_and_the_banner_injected() -> None:
    async with client(gate(html_app())) as http:
        response = await http.get("/", headers={"accept": "text/html"})
    assert blocked(response.content)
    assert b"data-consentgate-banner" in response.content
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["cache-control"] == "private"
    assert [v.strip() for v in response.headers["vary"].split(",")].count("Cookie") == 1


async def test_with_consent_the_tracker_runs_and_no_banner_shows() -> None:
    app = gate(html_app())
    async with client(app) as http:
        http.cookies.set("consentgate", cookie_for(app, "analytics", "marketing"))
        response = await http.get("/")
    assert GA.encode() in response.content
    assert b"data-consentgate-banner" not in response.content


async def test_bots_get_no_banner_but_trackers_stay_blocked() -> None:
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    async with client(gate(html_app())) as http:
        response = await http.get("/", headers={"user-agent": googlebot})
    assert blocked(response.content)
    assert b"data-consentgate-banner" not in response.content


async def test_the_apps_csp_nonce_is_stamped_on_the_injected_script() -> None:
    csp = "script-src 'nonce-r4nd0mN0nce' 'strict-dynamic'"
    async with client(gate(html_app(**{"content-security-policy": csp}))) as http:
        response = await http.get("/")
    assert b'nonce="r4nd0mN0nce"' in response.content
    assert response.headers["content-security-policy"] == csp


async def test_etags_differ_per_consent_state_and_a_foreign_one_gets_a_fresh_page() -> None:
    calls: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        etag = '"v1"'
        calls.append(Request(scope).headers.get("if-none-match"))
        if Request(scope).headers.get("if-none-match") == etag:
            await Response(status_code=304, headers={"etag": etag})(scope, receive, send)
        else:
            await HTMLResponse(PAGE, headers={"etag": etag})(scope, receive, send)

    middleware = gate(app)
    async with client(middleware) as http:
        first = await http.get("/", headers={"accept": "text/html"})
        again = await http.get("/", headers={"accept": "text/html", "if-none-match": first.headers["etag"]})
        http.cookies.set("consentgate", cookie_for(middleware, "analytics"))
        other = await http.get("/", headers={"accept": "text/html", "if-none-match": first.headers["etag"]})
        stale = await http.get("/", headers={"accept": "text/html", "if-none-match": '"v1"'})
    assert first.headers["etag"].startswith('W/"v1-cg')
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]
    assert other.status_code == 200 and other.headers["etag"] != first.headers["etag"]
    assert stale.status_code == 200  # an unrewritten page's tag never earns a 304
    assert calls == [None, '"v1"', None, None]


async def test_a_gzipped_page_keeps_one_etag_through_its_304s() -> None:
    # Django: GZip weakens the 200's tag, ConditionalGet answers 304 with it strong (it runs
    # inside GZip, which leaves a 304 alone); the browser must see the 200's tag again.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if Request(scope).headers.get("if-none-match", "").strip("W/") == '"v1"':
            await Response(status_code=304, headers={"etag": '"v1"'})(scope, receive, send)
        else:
            await HTMLResponse(PAGE, headers={"etag": 'W/"v1"'})(scope, receive, send)

    async with client(gate(app)) as http:
        first = await http.get("/", headers={"accept": "text/html"})
        again = await http.get("/", headers={"accept": "text/html", "if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == first.headers["etag"]


# --- pages answering any method, status or content type ------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_a_page_answering_a_form_is_rewritten_like_any_page(method: str) -> None:
    # A form shown again with its errors, a "thank you" page: a page view like any other.
    async def thanks(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"etag": '"rev-2"'})

    app = Starlette(routes=[Route("/contact", thanks, methods=[method])])
    send = Recorder(method)
    headers = [("accept", "text/html"), ("referer", "http://testserver/contact/form")]
    await gate(app)(scope("/contact", method=method, headers=headers), receiver(b"msg=hi"), send)
    assert blocked(send.body) and b"data-consentgate-banner" in send.body
    assert send.header("cache-control") == "private" and "Cookie" in (send.header("vary") or "")
    assert send.header("etag") == '"rev-2"'  # names the resource the method changed: not ours
    assert b'name="next" value="/contact/form"' in send.body  # the way back needs no POST


@pytest.mark.parametrize(
    "headers",
    [
        {"accept": "*/*", "sec-fetch-dest": "empty", "sec-fetch-mode": "cors"},  # fetch()
        {"accept": "*/*", "hx-request": "true"},  # htmx
        {"accept": "text/html", "sec-fetch-dest": "document", "method": "POST"},  # a form posted
    ],
    ids=["fetch", "htmx", "form"],
)
async def test_html_a_script_or_a_form_asks_for_never_comes_back_in_brotli(headers: dict[str, str]) -> None:
    async def brotli_app(scope: Any, receive: Any, send: Any) -> None:
        # Compresses whatever it may (brotli-asgi, Litestar): br bytes are opaque to the rewriter.
        if "br" in Request(scope).headers.get("accept-encoding", ""):
            await Response(b"\x1b\x00br", media_type="text/html", headers={"content-encoding": "br"})(
                scope, receive, send
            )
        else:
            await HTMLResponse(PAGE)(scope, receive, send)

    method = headers.pop("method", "GET")
    send = Recorder(method)
    request = scope(
        "/fragment", method=method, headers=[*headers.items(), ("accept-encoding", "gzip, br, zstd")]
    )
    await gate(brotli_app)(request, receiver(), send)
    assert send.header("content-encoding") is None and blocked(send.body)


async def test_a_byte_range_of_a_page_never_comes_back_unrewritten() -> None:
    async def ranged(scope: Any, receive: Any, send: Any) -> None:
        if Request(scope).headers.get("range"):
            headers = {"content-range": f"bytes 0-99/{len(PAGE)}"}
            await Response(PAGE[:100], 206, headers=headers, media_type="text/html")(scope, receive, send)
        else:
            await HTMLResponse(PAGE)(scope, receive, send)

    middleware = gate(ranged)
    navigation, fetched = Recorder(), Recorder()
    await middleware(
        scope("/", headers=[("accept", "text/html"), ("range", "bytes=0-99")]), receiver(), navigation
    )
    await middleware(scope("/p", headers=[("accept", "*/*"), ("range", "bytes=0-99")]), receiver(), fetched)
    assert navigation.status == 200 and blocked(navigation.body)  # the range never reached the app
    assert fetched.status == 416 and fetched.body == b""  # it did: refused, fail closed


async def test_a_page_without_content_type_is_sniffed_and_rewritten() -> None:
    async def untyped(scope: Any, receive: Any, send: Any) -> None:
        await Response(PAGE, headers={})(scope, receive, send)

    async with client(gate(untyped)) as http:
        response = await http.get("/noct", headers={"accept": "text/html"})
    assert response.headers["content-type"] == "text/html"
    assert blocked(response.content) and response.headers["content-length"] == str(len(response.content))


async def test_a_created_page_is_rewritten() -> None:
    async def created(scope: Any, receive: Any, send: Any) -> None:
        await HTMLResponse(PAGE, status_code=201)(scope, receive, send)

    async with client(gate(created)) as http:
        response = await http.post("/orders", headers={"accept": "text/html"})
    assert response.status_code == 201 and blocked(response.content)


# --- the raw protocol for every response shape -----------------------------------------------


async def streamed_page() -> AsyncIterator[bytes]:
    for index in range(0, len(PAGE), 7):
        yield PAGE[index : index + 7]


def shapes(tmp_path: Path) -> dict[str, Any]:
    page_file = tmp_path / "page.html"
    page_file.write_bytes(PAGE)
    return {
        "plain": HTMLResponse(PAGE),
        "streamed": StreamingResponse(streamed_page(), media_type="text/html"),
        "gzip": Response(gzip.compress(PAGE), media_type="text/html", headers={"content-encoding": "gzip"}),
        "304": Response(status_code=304, headers={"etag": '"x"'}),
        "204": Response(status_code=204),
        "sse": StreamingResponse(iter([b"data: <script>\n\n"]), media_type="text/event-stream"),
        "json": JSONResponse({"html": "<script src=https://www.googletagmanager.com/x.js></script>"}),
        "file": FileResponse(page_file),
    }


@pytest.mark.parametrize("shape", ["plain", "streamed", "gzip", "304", "204", "sse", "json", "file"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("pathsend", [False, True])
async def test_content_length_always_matches_the_body(
    tmp_path: Path, shape: str, method: str, pathsend: bool
) -> None:
    response = shapes(tmp_path)[shape]
    extensions = {"http.response.pathsend": {}} if pathsend else {}
    send = Recorder(method)  # asserts the protocol rules and Content-Length on every message
    await gate(response)(scope(method=method, extensions=extensions), receiver(), send)
    assert send.finished
    body = gzip.decompress(send.body) if shape == "gzip" and method == "GET" else send.body
    if method == "GET" and shape in ("plain", "streamed", "gzip", "file"):
        assert blocked(body)
    elif method == "HEAD" and shape in ("plain", "streamed", "gzip", "file"):
        get = Recorder()
        await gate(shapes(tmp_path)[shape])(scope(extensions=extensions), receiver(), get)
        assert send.body == b""
        # GET's headers, length included wherever it is known: not when the app answers HEAD
        # without a body (FileResponse), nor for a page compressed again (its tokens vary)
        expected = None if shape in ("file", "gzip") else get.header("content-length")
        assert send.header("content-length") == expected
        assert [k for k, _ in send.headers if k != b"content-length"] == [
            k for k, _ in get.headers if k != b"content-length"
        ]
    elif shape in ("sse", "json"):
        assert send.body == b"".join(m.get("body", b"") for m in send.messages)
        assert b"data-consentgate" not in send.body


async def test_a_brotli_request_asks_the_app_for_an_encoding_we_can_decode() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(Request(scope).headers["accept-encoding"])
        await HTMLResponse(PAGE)(scope, receive, send)

    for header in ("br", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8"):
        send = Recorder()
        await gate(app)(
            scope(headers=[("accept", "text/html"), ("accept-encoding", header)]), receiver(), send
        )
        assert blocked(send.body)
    assert seen == ["identity", "gzip, deflate", "gzip;q=0.8"]


async def test_a_rewriter_fault_fails_closed_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from consentgate.html import rewriter

    calls = {"n": 0}
    real_feed = rewriter.HtmlRewriter.feed

    def faulty(self: Any, data: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("tokenizer fault")
        return real_feed(self, data)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"<html><head><title>x</title></head><body><p>before</p>" + b"<p>padding</p>" * 200
        yield GA.encode()
        yield b"<p>after</p></body></html>"

    app = gate(StreamingResponse(chunks(), media_type="text/html"))  # (its start-up warm-up runs unpatched)
    monkeypatch.setattr(rewriter.HtmlRewriter, "feed", faulty)
    send = Recorder()
    with caplog.at_level(logging.ERROR, logger="consentgate.http"):
        await app(scope(), receiver(), send)
    assert send.finished
    assert b"before" in send.body
    assert b"googletagmanager" not in send.body and b"after" not in send.body
    assert "rewriter failed" in caplog.text


async def test_the_apps_exception_passes_through_unchanged() -> None:
    class AppError(Exception):
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AppError("boom")

    with pytest.raises(AppError, match="boom"):
        await gate(app)(scope(), receiver(), Recorder())


# --- cookies the app sets, and cookies the browser still has ---------------------------------


async def test_the_firewall_drops_tracker_cookies_until_consent() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        response = JSONResponse({})
        response.set_cookie("session", "s1")
        response.set_cookie("_ga", "GA1.1.1", max_age=3600)
        response.set_cookie("_fbp", "fb.1", max_age=3600)
        await response(scope, receive, send)

    middleware = gate(app)
    async with client(middleware) as http:
        nobody = await http.get("/api")
        http.cookies.set("consentgate", cookie_for(middleware, "analytics"))
        analytics = await http.get("/api")
    assert [c.split("=")[0] for c in nobody.headers.get_list("set-cookie")] == ["session"]
    assert [c.split("=")[0] for c in analytics.headers.get_list("set-cookie")] == ["session", "_ga"]
    assert {r.name for r in middleware.cookies.snapshot()} == {"session", "_ga", "_fbp"}
    assert middleware.counters["cookies_dropped"] == 3


async def test_cookies_the_browser_still_sends_are_expired_on_any_response() -> None:
    middleware = gate(Starlette(routes=[Route("/api", lambda r: JSONResponse({}))]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware),
        base_url="http://www.shop.example",
        headers={"user-agent": BROWSER},
    ) as http:
        http.cookies.set("_fbp", "fb.1.2")
        http.cookies.set("session", "s")
        response = await http.get("/api")
    lines = response.headers.get_list("set-cookie")
    assert all(line.startswith("_fbp=; Max-Age=0") for line in lines)
    assert {line.rpartition("Domain=")[2] if "Domain=" in line else "" for line in lines} == {
        "",
        "www.shop.example",
        "shop.example",
    }
    assert response.headers["cache-control"] == "private"


async def test_lifespan_starts_the_audit_writer_and_shutdown_flushes_it(tmp_path: Path) -> None:
    from consentgate.audit.stores import open_store
    from consentgate.audit.stores.base import Query

    url = f"sqlite:///{tmp_path}/audit.db"
    middleware = gate(Starlette(routes=[Route("/", echo_consent)]), audit=url)
    to_app = anyio.create_memory_object_stream[dict[str, Any]](4)
    from_app = anyio.create_memory_object_stream[dict[str, Any]](4)

    async with anyio.create_task_group() as tasks, to_app[0], to_app[1], from_app[0], from_app[1]:
        tasks.start_soon(
            middleware,
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            to_app[1].receive,
            from_app[0].send,
        )
        await to_app[0].send({"type": "lifespan.startup"})
        assert (await from_app[1].receive())["type"] == "lifespan.startup.complete"
        assert middleware.audit.sink.running  # type: ignore[attr-defined]
        async with client(middleware) as http:
            saved = await http.post("/_consentgate/consent", json={"action": "accept_all"})
        await to_app[0].send({"type": "lifespan.shutdown"})
        assert (await from_app[1].receive())["type"] == "lifespan.shutdown.complete"

    store = open_store(url)
    await store.open()
    try:
        records = [record async for record in store.read(Query())]
    finally:
        await store.close()
    assert [(r["consent_id"], r["action"]) for r in records] == [
        (saved.json()["state"]["consentId"], "accept_all")
    ]


async def test_an_opt_out_the_audit_log_cannot_take_is_applied_but_not_stored() -> None:
    class Full(MemorySink):
        def enqueue(self, event: Any) -> bool:  # type: ignore[override]
            return False

    middleware = gate(html_app(), audit=Full(), region_resolver=lambda scope: "US-CA")
    async with client(middleware) as http:
        response = await http.get("/", headers={"sec-gpc": "1", "accept": "text/html"})
    assert "consentgate=" not in " ".join(response.headers.get_list("set-cookie"))
    assert middleware.counters["consent_unrecorded"] == 1
    assert response.status_code == 200


async def test_a_crawler_sending_gpc_in_an_opt_out_region_gets_the_opt_out_but_no_record() -> None:
    sink = MemorySink()
    middleware = gate(html_app(), audit=sink, region_resolver=lambda scope: "US-CA")
    async with client(middleware) as http:
        response = await http.get("/", headers={"sec-gpc": "1", "user-agent": "Googlebot/2.1"})
    assert sink.events == []
    assert "set-cookie" not in response.headers
    assert b"data-consentgate-banner" not in response.content


def test_the_crawler_regex_is_built_at_start_up_not_on_the_first_page() -> None:
    # ≈ 25 ms of regex building: on the first page's bot check, a visitor would wait for it.
    from consentgate.consent.useragent import crawler_pattern

    crawler_pattern.cache_clear()
    ConsentGate(HTMLResponse("<p>x</p>"), secret_keys=["k" * 32], audit=MemorySink())
    assert crawler_pattern.cache_info().currsize == 1
