"""The response state machine, driven by real Starlette responses and hand-made message shapes.

The page transform here is a stand-in that grows the body (like the banner injection does), so
every Content-Length rule is exercised; the real rewriter is covered in test_middleware.py.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

from consentgate.consent.state import Consent
from consentgate.http.cookies import CookieFirewall
from consentgate.http.responder import (
    Responder,
    merge_cache_control,
    merge_vary,
    restore_if_none_match,
    variant_etag,
)
from consentgate.http.types import RawHeaders
from consentgate.policy.model import Category, CookieSpec, Policy, Service
from tests.http.http_harness import Recorder, receiver, scope

POLICY = Policy(
    categories=(
        Category("necessary", {"en": "N"}, {}, required=True),
        Category("analytics", {"en": "A"}, {}),
    ),
    services=(Service("ga", "GA", "analytics", cookies=(CookieSpec("_ga"),)),),
)
NOBODY = Consent.none(POLICY.service_categories)
PAGE = b"<html><head><title>t</title></head><body><p>hello</p></body></html>"


class Marker:
    """Stand-in rewriter: marks the start and the end of the body, so the body grows."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.first = True
        self.fail_on = fail_on
        self.seen = b""

    def feed(self, data: bytes) -> bytes:
        self.seen += data
        if self.fail_on is not None and self.fail_on in self.seen:
            raise RuntimeError("rewriter fault")
        out = (b"<!--cg-->" if self.first else b"") + data
        self.first = False
        return out

    def close(self) -> bytes:
        return b"<!--/cg-->"


class FakePage:
    def __init__(
        self,
        transform: Marker | None = None,
        *,
        translated: bool = False,
        cacheable: bool = True,
        if_none_match: str = "",
    ) -> None:
        self.made: list[RawHeaders] = []
        self._transform = transform or Marker()
        self.etag_translated = translated
        self.cacheable = cacheable
        self.if_none_match = if_none_match

    @property
    def vary(self) -> tuple[str, ...]:
        return ("Cookie", "Sec-GPC")

    def etag_suffix(self) -> str:
        return "v1"

    def transform(self, headers: RawHeaders) -> Marker:
        self.made.append(headers)
        return self._transform

    def finish_headers(self, headers: RawHeaders) -> RawHeaders:
        return headers

    def filter_links(self, headers: RawHeaders) -> RawHeaders:
        return headers


def rewritten(body: bytes) -> bytes:
    return b"<!--cg-->" + body + b"<!--/cg-->"


async def run(
    app: Any,
    *,
    method: str = "GET",
    page: FakePage | None = None,
    sweep: tuple[str, ...] = (),
    extensions: dict[str, Any] | None = None,
    consent: Consent = NOBODY,
    counters: Counter[str] | None = None,
) -> Recorder:
    send = Recorder(method)
    responder = Responder(
        send,
        consent=consent,
        firewall=CookieFirewall(POLICY, own_names={"consentgate"}),
        page=page if page is not None else FakePage(),
        sweep=sweep,
        counters=counters if counters is not None else Counter(),
        head_only=method == "HEAD",
    )
    await app(scope(method=method, extensions=extensions), receiver(), responder)
    return send


# --- what is rewritten, with exact lengths ---------------------------------------------------


async def test_a_plain_html_response_is_rewritten_with_an_exact_content_length() -> None:
    send = await run(HTMLResponse(PAGE))
    assert send.body == rewritten(PAGE)
    assert send.header("content-length") == str(len(rewritten(PAGE)))
    assert send.types == ["http.response.start", "http.response.body"]


async def test_a_streamed_html_response_loses_its_length_and_streams() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (PAGE[:10], PAGE[10:30], PAGE[30:]):
            yield part

    send = await run(
        StreamingResponse(chunks(), media_type="text/html", headers={"content-length": str(len(PAGE))})
    )
    assert send.body == rewritten(PAGE)
    assert send.header("content-length") is None
    assert send.types.count("http.response.body") == 4  # three chunks and the closing one


async def test_the_start_goes_out_with_the_first_chunk_before_the_stream_ends() -> None:
    release = anyio.Event()
    send = Recorder()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"<html><body>first"
        await release.wait()
        yield b"</body></html>"

    responder = Responder(
        send,
        consent=NOBODY,
        firewall=CookieFirewall(POLICY, own_names=()),
        page=FakePage(),
        sweep=(),
        counters=Counter(),
    )
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(StreamingResponse(chunks(), media_type="text/html"), scope(), receiver(), responder)
        with anyio.fail_after(2):
            while len(send.messages) < 2:
                await anyio.sleep(0.001)
        assert send.body == b"<!--cg--><html><body>first"
        release.set()
    assert send.finished


async def test_the_final_empty_chunk_still_flushes_the_tail() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": ((b"content-type", b"text/html"),)}
        )
        await send({"type": "http.response.body", "body": PAGE, "more_body": True})
        await send({"type": "http.response.body", "more_body": False})

    send = await run(app)
    assert send.body == rewritten(PAGE)


async def test_messages_without_body_or_more_body_keys_use_the_defaults() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body"})

    send = await run(app)
    assert send.body == b"<!--/cg-->"
    assert send.header("content-length") == str(len(b"<!--/cg-->"))


async def test_head_gets_the_get_headers_length_included_and_no_body() -> None:
    get = await run(HTMLResponse(PAGE, headers={"etag": '"abc"'}))
    head = await run(HTMLResponse(PAGE, headers={"etag": '"abc"'}), method="HEAD")
    assert head.body == b""
    assert head.header("content-length") == str(len(rewritten(PAGE)))
    assert head.headers == get.headers


async def test_head_answered_without_a_body_promises_no_length() -> None:
    # (FileResponse answers HEAD with its file's length and no body: the rewritten length is
    # unknown, so none is sent rather than a wrong one.)
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-length", b"9999")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    head = await run(app, method="HEAD")
    assert head.body == b"" and head.header("content-length") is None


async def test_a_file_response_is_rewritten_when_pathsend_is_hidden_or_not(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(PAGE * 3000)  # over one 64 KiB chunk
    for extensions in ({}, {"http.response.pathsend": {}}):
        send = await run(FileResponse(page), extensions=extensions)
        assert send.body == rewritten(PAGE * 3000), extensions
        assert send.header("content-length") is None
        assert "http.response.pathsend" not in send.types


async def test_gzip_html_is_decoded_rewritten_and_encoded_again() -> None:
    body = gzip.compress(PAGE)
    chunks = [body[i : i + 1] for i in range(len(body))]  # one byte at a time

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-encoding", b"gzip"), (b"content-length", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    send = await run(app)
    assert send.header("content-encoding") == "gzip"
    assert gzip.decompress(send.body) == rewritten(PAGE)


async def test_deflate_html_raw_or_wrapped_is_rewritten() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    for encoded in (zlib.compress(PAGE), raw.compress(PAGE) + raw.flush()):
        send = await run(Response(encoded, media_type="text/html", headers={"content-encoding": "deflate"}))
        assert zlib.decompress(send.body) == rewritten(PAGE)
        assert send.header("content-length") == str(len(send.body))


async def test_a_brotli_page_passes_unchanged_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING, logger="consentgate.http"):
        send = await run(
            Response(b"\x1b\x00brotli", media_type="text/html", headers={"content-encoding": "br"}),
            counters=counters,
        )
    assert send.body == b"\x1b\x00brotli"
    assert "content-encoding 'br'" in caplog.text
    assert counters["rewrite_skipped"] == 1


async def test_a_utf16_page_passes_unchanged() -> None:
    body = "<html><body>x</body></html>".encode("utf-16")
    send = await run(Response(body, media_type="text/html; charset=UTF-16"))
    assert send.body == body


async def test_a_charset_browsers_do_not_know_is_rewritten() -> None:
    # "utf-32" is no encoding label: the browser falls back to an ASCII-compatible decoding and
    # runs the page's scripts, so they are rewritten as in any other page
    body = b'<html><body><script src="https://www.google-analytics.com/analytics.js"></script></body></html>'
    send = await run(Response(body, media_type='text/html; charset="utf-32"'))
    assert send.body == b"<!--cg-->" + body + b"<!--/cg-->"  # the (fake) page's rewriter ran


# --- what is never rewritten -----------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        JSONResponse({"a": 1}),
        Response(b"data: 1\n\n", media_type="text/event-stream"),
        Response(
            b"\x00\x01", status_code=206, media_type="video/mp4", headers={"content-range": "bytes 0-1/9"}
        ),
        Response(status_code=204),
        Response(status_code=304, headers={"etag": '"abc"'}),
        Response(b"<html></html>", status_code=302, media_type="text/html"),
        Response(b"plain", media_type="text/plain"),
    ],
    ids=["json", "sse", "206", "204", "304", "302", "text"],
)
async def test_other_responses_pass_byte_identical(response: Response) -> None:
    plain = Recorder()
    await response(scope(), receiver(), plain)
    send = await run(response)
    assert send.messages == plain.messages


async def test_a_non_html_start_is_sent_untouched_as_the_same_object() -> None:
    sent: list[Any] = []
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json")],
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start)

    async def record(message: Any) -> None:
        sent.append(message)

    responder = Responder(
        record,
        consent=NOBODY,
        firewall=CookieFirewall(POLICY, own_names=()),
        page=FakePage(),
        sweep=(),
        counters=Counter(),
    )
    await app(scope(), receiver(), responder)
    assert sent[0] is start


async def test_a_request_that_cannot_be_rewritten_passes_html_through() -> None:
    send = Recorder("POST")
    responder = Responder(
        send,
        consent=NOBODY,
        firewall=CookieFirewall(POLICY, own_names=()),
        page=None,
        sweep=(),
        counters=Counter(),
    )
    await HTMLResponse(PAGE)(scope(method="POST"), receiver(), responder)
    assert send.body == PAGE
    assert send.header("cache-control") is None


async def test_debug_trailers_and_unknown_messages_are_forwarded_in_order() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.debug", "info": {"template": "x"}})
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})
        await send({"type": "http.response.x-future", "data": 1})
        await send({"type": "http.response.body", "body": PAGE})
        await send(
            {"type": "http.response.trailers", "headers": [(b"x-checksum", b"1")], "more_trailers": False}
        )

    send = await run(app)
    assert send.types == [
        "http.response.debug",
        "http.response.start",
        "http.response.x-future",
        "http.response.body",
        "http.response.trailers",
    ]
    assert send.body == rewritten(PAGE)
    assert send.header("content-length") is None  # trailers: the length is never promised


async def test_a_byte_range_of_a_page_is_refused_rather_than_sent_unrewritten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters: Counter[str] = Counter()
    response = Response(
        PAGE[:12],
        status_code=206,
        media_type="text/html",
        headers={"content-range": f"bytes 0-11/{len(PAGE)}", "set-cookie": "_ga=1"},
    )
    with caplog.at_level(logging.WARNING, logger="consentgate.http"):
        send = await run(response, counters=counters)
    assert send.status == 416 and send.body == b""
    assert send.header("content-range") == f"bytes */{len(PAGE)}"
    assert send.header("content-type") is None and send.header("set-cookie") is None
    assert counters["range_refused"] == 1 and "416" in caplog.text


@pytest.mark.parametrize("status", [201, 202, 203, 419, 444, 499, 520])
async def test_a_page_under_any_status_a_browser_shows_is_rewritten(status: int) -> None:
    send = await run(HTMLResponse(PAGE, status_code=status))
    assert send.status == status and send.body == rewritten(PAGE)


async def test_a_download_passes_byte_identical_and_only_its_cookies_are_filtered() -> None:
    response = HTMLResponse(
        PAGE,
        headers={
            "content-disposition": 'Attachment; filename="report.html"',
            "etag": '"abc"',
            "accept-ranges": "bytes",
            "set-cookie": "_ga=GA1.2",
        },
    )
    plain = Recorder()
    await response(scope(), receiver(), plain)
    send = await run(response)
    assert send.body == PAGE and send.messages[1:] == plain.messages[1:]
    assert send.header("etag") == '"abc"' and send.header("accept-ranges") == "bytes"
    assert send.header("content-length") == str(len(PAGE))
    assert send.header("set-cookie") is None  # the firewall still applies to its headers


async def test_another_methods_answer_keeps_its_etag_but_is_private() -> None:
    # A PUT's or POST's ETag names the resource it changed (RFC 9110 8.8.3), for the next
    # If-Match: not these bytes, so it stays as the app made it.
    send = await run(
        HTMLResponse(PAGE, status_code=201, headers={"etag": '"rev-7"'}),
        method="POST",
        page=FakePage(cacheable=False),
    )
    assert send.body == rewritten(PAGE)
    assert send.header("etag") == '"rev-7"'
    assert send.header("cache-control") == "private" and "Cookie" in (send.header("vary") or "")


# --- a body without a Content-Type: sniffed as a browser does --------------------------------


def untyped(*chunks: bytes, headers: RawHeaders = ()) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})

    return app


@pytest.mark.parametrize(
    "body",
    [
        PAGE,
        b"\n\t <!DOCTYPE html><title>t</title>",
        b"<!-- generated -->" + PAGE,
        b"<P>hello",
        b"<b>bold</b>",
        b"<script>fbq('init')</script>",
    ],
)
async def test_a_body_without_content_type_that_a_browser_renders_as_html_is_rewritten(body: bytes) -> None:
    send = await run(untyped(body))
    assert send.body == rewritten(body)
    # Said explicitly: the injected head snippet must not turn the start into something else.
    assert send.header("content-type") == "text/html"
    assert send.header("cache-control") == "private"


@pytest.mark.parametrize(
    "body",
    [b"plain text <html>", b"<br/>", b"<?xml version='1.0'?><html/>", b"%PDF-1.7", b"{}", b"", b"<!--x-->"],
)
async def test_a_body_without_content_type_that_is_not_html_passes_byte_identical(body: bytes) -> None:
    app = untyped(body)
    plain = Recorder()
    await app(scope(), receiver(), plain)
    send = await run(app)
    assert send.messages == plain.messages


async def test_nosniff_keeps_a_body_without_content_type_from_being_html() -> None:
    app = untyped(PAGE, headers=[(b"x-content-type-options", b"NoSniff")])
    send = await run(app)
    assert send.body == PAGE and send.header("content-type") is None


async def test_sniffing_holds_only_the_bytes_that_decide() -> None:
    release = anyio.Event()
    send = Recorder()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for byte in b"  <ht":  # not yet decided: held
            await send({"type": "http.response.body", "body": bytes([byte]), "more_body": True})
        await send({"type": "http.response.body", "body": b"ml><body>", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"</body></html>", "more_body": False})

    responder = Responder(
        send,
        consent=NOBODY,
        firewall=CookieFirewall(POLICY, own_names=()),
        page=FakePage(),
        sweep=(),
        counters=Counter(),
    )
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(app, scope(), receiver(), responder)
        with anyio.fail_after(2):
            while not send.started:
                await anyio.sleep(0.001)
        assert send.header("content-type") == "text/html"  # decided before the stream ended
        release.set()
    assert send.body == rewritten(b"  <html><body></body></html>")


async def test_a_gzip_body_without_content_type_is_sniffed_decoded() -> None:
    body = gzip.compress(PAGE)
    send = await run(untyped(body[:5], body[5:], headers=[(b"content-encoding", b"gzip")]))
    assert gzip.decompress(send.body) == rewritten(PAGE)


# --- headers of a rewritten page -------------------------------------------------------------


async def test_a_rewritten_page_gets_a_variant_etag_vary_and_private_caching() -> None:
    response = HTMLResponse(
        PAGE,
        headers={
            "etag": '"abc"',
            "vary": "Accept-Encoding, cookie",
            "cache-control": "public, max-age=60",
            "accept-ranges": "bytes",
            "digest": "sha-256=x",
        },
    )
    send = await run(response)
    assert send.header("etag") == 'W/"abc-cgsv1"'
    assert send.header_list("vary") == ["Accept-Encoding, cookie, Sec-GPC"]
    assert send.header("cache-control") == "private, max-age=60"
    assert send.header("accept-ranges") is None
    assert send.header("digest") is None


async def test_no_store_is_never_weakened() -> None:
    send = await run(HTMLResponse(PAGE, headers={"cache-control": "no-store"}))
    assert send.header("cache-control") == "no-store"


async def test_a_304_answering_our_variant_gets_the_same_variant_etag() -> None:
    send = await run(Response(status_code=304, headers={"etag": 'W/"abc"'}), page=FakePage(translated=True))
    assert send.header("etag") == 'W/"abc-cgwv1"'
    assert "Cookie" in (send.header("vary") or "")
    assert send.body == b""


async def test_a_304_keeps_the_tag_the_browser_holds_when_the_app_changes_its_strength() -> None:
    # Django: GZip weakens the 200's tag (W/"abc"), ConditionalGet's 304 carries it strong.
    page = FakePage(translated=True, if_none_match='W/"abc-cgwv1"')
    send = await run(Response(status_code=304, headers={"etag": '"abc"'}), page=page)
    assert send.header("etag") == 'W/"abc-cgwv1"'


async def test_the_csp_and_other_headers_reach_the_rewriter_unchanged() -> None:
    page = FakePage()
    await run(HTMLResponse(PAGE, headers={"content-security-policy": "script-src 'nonce-abc'"}), page=page)
    assert (b"content-security-policy", b"script-src 'nonce-abc'") in page.made[0]


# --- cookies ---------------------------------------------------------------------------------


async def test_several_set_cookie_headers_survive_except_the_blocked_one() -> None:
    response = JSONResponse({})
    for cookie in ("sid=1; Path=/", "_ga=GA1.2; Expires=Wed, 09 Jun 2038 10:18:14 GMT", "theme=dark"):
        response.raw_headers.append((b"set-cookie", cookie.encode()))
    counters: Counter[str] = Counter()
    send = await run(response, counters=counters)
    assert send.header_list("set-cookie") == ["sid=1; Path=/", "theme=dark"]
    assert counters["cookies_dropped"] == 1
    assert send.header("vary") == "Cookie"
    granted = NOBODY.with_choice({"analytics"}, source="banner")
    send = await run(response, consent=granted)
    assert len(send.header_list("set-cookie")) == 3


async def test_sweep_cookies_are_appended_and_the_response_made_private() -> None:
    send = await run(JSONResponse({}), sweep=("_ga=; Max-Age=0; Path=/",))
    assert send.header_list("set-cookie") == ["_ga=; Max-Age=0; Path=/"]
    assert send.header("cache-control") == "private"
    assert send.body == b"{}"


# --- failures --------------------------------------------------------------------------------


async def test_a_rewriter_fault_mid_stream_withholds_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"<html><body>safe part"
        yield b"<script src=https://tracker.example/t.js>"
        yield b"</script>more</body></html>"

    counters: Counter[str] = Counter()
    with caplog.at_level(logging.ERROR, logger="consentgate.http"):
        send = await run(
            StreamingResponse(chunks(), media_type="text/html"),
            page=FakePage(Marker(fail_on=b"tracker")),
            counters=counters,
        )
    assert send.body == b"<!--cg--><html><body>safe part"
    assert send.finished
    assert b"tracker" not in send.body
    assert "rewriter failed" in caplog.text
    assert counters["rewrite_failed"] == 1


async def test_a_rewriter_fault_on_the_only_chunk_sends_an_empty_page() -> None:
    send = await run(
        HTMLResponse(b"<script src=https://tracker.example/t.js></script>"),
        page=FakePage(Marker(fail_on=b"tracker")),
    )
    assert send.body == b""
    assert send.header("content-length") == "0"


async def test_the_apps_own_exception_passes_through_unchanged() -> None:
    class Boom(Exception):
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": b"<html>", "more_body": True})
        raise Boom("app failure")

    with pytest.raises(Boom, match="app failure"):
        await run(app)


# --- header helpers --------------------------------------------------------------------------


def test_vary_is_merged_never_duplicated_and_star_wins() -> None:
    assert merge_vary([(b"Vary", b"cookie"), (b"vary", b"Accept")], ["Cookie", "Sec-GPC"]) == [
        (b"vary", b"cookie, Accept, Sec-GPC")
    ]
    assert merge_vary([(b"vary", b"*")], ["Cookie"]) == [(b"vary", b"*")]
    assert merge_vary([], ["Cookie"]) == [(b"vary", b"Cookie")]


def test_cache_control_keeps_the_apps_directives() -> None:
    assert merge_cache_control([]) == [(b"cache-control", b"private")]
    assert merge_cache_control(
        [(b"cache-control", b"no-cache"), (b"Cache-Control", b"s-maxage=9, must-revalidate")]
    ) == [(b"cache-control", b"private, no-cache, must-revalidate")]
    assert merge_cache_control([(b"cache-control", b"private, max-age=5")]) == [
        (b"cache-control", b"private, max-age=5")
    ]


def test_etags_round_trip_through_if_none_match() -> None:
    for original in ('"abc"', 'W/"abc"', '"a,b"'):
        tagged = variant_etag([(b"etag", original.encode())], "v1")[0][1].decode()
        assert tagged.startswith('W/"')
        assert restore_if_none_match(tagged, lambda: "v1", drop_foreign=True) == (original, True)


def test_if_none_match_for_another_consent_state_is_dropped() -> None:
    assert restore_if_none_match('W/"abc-cgsOLD"', lambda: "v1", drop_foreign=False) == (None, False)
    assert restore_if_none_match('W/"abc-cgsv1", "plain"', lambda: "v1", drop_foreign=False) == (
        '"abc", "plain"',
        True,
    )
    assert restore_if_none_match('"plain"', lambda: "v1", drop_foreign=True) == (None, False)
    assert restore_if_none_match("*", lambda: "v1", drop_foreign=True) == ("*", False)


async def test_zerocopysend_on_a_page_is_read_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"xx" + PAGE)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        with path.open("rb") as file:
            await send({"type": "http.response.zerocopysend", "file": file, "offset": 2, "more_body": True})
            file.seek(0)
            await send({"type": "http.response.zerocopysend", "file": file, "count": 2, "more_body": False})

    send = await run(app)
    assert send.body == rewritten(PAGE + b"xx")
    assert "http.response.zerocopysend" not in send.types


async def test_pathsend_on_head_sends_no_body(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(PAGE)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    send = await run(app, method="HEAD")
    assert send.types == ["http.response.start", "http.response.body"] and send.body == b""


async def test_a_rewriter_that_cannot_be_built_withholds_the_body(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakePage):
        def transform(self, headers: RawHeaders) -> Marker:
            raise RuntimeError("cannot build")

    with caplog.at_level(logging.ERROR, logger="consentgate.http"):
        send = await run(HTMLResponse(PAGE), page=Broken())
    assert send.body == b"" and send.finished
    assert "could not prepare" in caplog.text


async def test_concatenated_gzip_members_are_one_body() -> None:
    body = gzip.compress(PAGE[:20]) + gzip.compress(PAGE[20:])
    send = await run(Response(body, media_type="text/html", headers={"content-encoding": "gzip"}))
    assert gzip.decompress(send.body) == rewritten(PAGE)


async def test_a_corrupt_gzip_body_fails_closed() -> None:
    send = await run(
        Response(b"\x1f\x8bnot gzip", media_type="text/html", headers={"content-encoding": "gzip"})
    )
    assert send.body == b"" and send.finished


async def test_a_brotli_body_without_content_type_passes_unchanged_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A browser would decode it and sniff it as HTML; we cannot decode brotli, so the operator
    # hears of it, as for a typed brotli page (before: silently passed).
    counters: Counter[str] = Counter()
    with caplog.at_level(logging.WARNING, logger="consentgate.http"):
        send = await run(
            untyped(b"\x1b\x00brotli", headers=[(b"content-encoding", b"br")]), counters=counters
        )
    assert send.body == b"\x1b\x00brotli"
    assert "no Content-Type (content-encoding 'br')" in caplog.text
    assert counters["rewrite_skipped"] == 1
