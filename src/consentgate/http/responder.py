"""The per-request response state machine: decide at ``http.response.start``, stream the body.

One ``Responder`` per request wraps the app's ``send``. At the start message it filters
``Set-Cookie`` (always), appends deletion cookies for the visitor's swept cookies, and decides
whether the body is rewritten; it never changes a response it does not rewrite beyond that.

References:
- ASGI HTTP spec (``http.response.start`` / ``body`` / ``trailers``) and the ``pathsend``,
  ``zerocopysend`` and ``debug`` extensions
- RFC 9110 sections 8.8.3 (ETag, weak comparison), 12.5.5 (Vary), 13.1.2 (If-None-Match);
  RFC 9111 section 5.2.2 (Cache-Control)
"""

from __future__ import annotations

import functools
import logging
import os
import re
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import anyio
import anyio.to_thread

from consentgate.consent.state import Consent
from consentgate.html.rewriter import not_ascii_compatible
from consentgate.http.cookies import CookieFirewall
from consentgate.http.types import Message, RawHeaders, Send

__all__ = [
    "BodyTransform",
    "Page",
    "Responder",
    "content_charset",
    "merge_cache_control",
    "merge_vary",
    "restore_if_none_match",
    "variant_etag",
]

logger = logging.getLogger("consentgate.http")

HTML_TYPES = frozenset({b"text/html", b"application/xhtml+xml"})
# Statuses whose body a browser shows as the page: the page itself (200, a form's 201, a
# proxy's 203...) and error pages (a 404 page carrying analytics must not load it without
# consent either). Not those without a body (1xx, 204, 205, 304), a byte range (206, see
# _refuse_range) or a redirect, whose body a browser following it never shows.
REWRITE_STATUSES = frozenset(range(200, 600)) - {204, 205, 206, 301, 302, 303, 304, 307, 308}
# Content-Type values that say nothing, so a browser sniffs the body (WHATWG MIME Sniffing 5.1).
_UNKNOWN_TYPES = frozenset({b"", b"unknown/unknown", b"application/unknown", b"*/*"})
DECODABLE = {b"gzip": 31, b"x-gzip": 31, b"deflate": 15}
# Headers that describe the exact bytes of the app's body and are wrong after a rewrite.
_BODY_BOUND = frozenset(
    {b"content-length", b"accept-ranges", b"content-md5", b"digest", b"content-digest", b"repr-digest"}
)
# WHATWG MIME Sniffing 7.1, "rules for identifying an unknown MIME type": a body without a
# Content-Type is shown as HTML when its first bytes, after whitespace, are one of these (any
# case) followed by a space or ">"; only the first 1445 bytes are read.
_HTML_SIGNATURES = (
    b"<!DOCTYPE HTML", b"<HTML", b"<HEAD", b"<SCRIPT", b"<IFRAME", b"<H1", b"<DIV", b"<FONT",
    b"<TABLE", b"<A", b"<STYLE", b"<TITLE", b"<B", b"<BODY", b"<BR", b"<P", b"<!--",
)  # fmt: skip
_SNIFF_LIMIT = 1445
_SNIFF_WHITESPACE = b"\t\n\x0c\r "


class BodyTransform(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def close(self) -> bytes: ...


class Page(Protocol):
    """What the middleware knows about a request whose response might be rewritten."""

    @property
    def vary(self) -> Sequence[str]: ...  # request headers a rewritten page depends on

    @property
    def cacheable(self) -> bool: ...  # GET or HEAD: the ETag names these bytes, 304 may answer

    @property
    def etag_translated(self) -> bool: ...  # the request's If-None-Match named our variant

    @property
    def if_none_match(self) -> str: ...  # the request's If-None-Match as the browser sent it

    def etag_suffix(self) -> str: ...

    def transform(self, headers: RawHeaders) -> BodyTransform: ...

    def finish_headers(self, headers: RawHeaders) -> RawHeaders: ...  # just before they are sent
    def filter_links(self, headers: RawHeaders) -> RawHeaders: ...  # Link preloads of blocked services


class _Sniff:
    """A response without a Content-Type, held until its first bytes show whether a browser
    would render it as HTML."""

    __slots__ = ("data", "encoding", "messages", "start")

    def __init__(self, start: Message, encoding: bytes) -> None:
        self.start = start
        self.encoding = encoding
        self.messages: list[Message] = []
        self.data = b""


class Responder:
    """Wraps ``send`` for one request. ``page`` is None when the request cannot be rewritten."""

    __slots__ = (
        "_counters",
        "_ended",
        "_failed",
        "_firewall",
        "_head_only",
        "_held",
        "_held_trailers",
        "_rewriting",
        "_sniff",
        "_transform",
        "consent",
        "page",
        "send",
        "sweep",
    )

    def __init__(
        self,
        send: Send,
        consent: Consent,
        firewall: CookieFirewall,
        page: Page | None,
        sweep: Sequence[str],
        counters: Counter[str],
        head_only: bool = False,
    ) -> None:
        self.send = send
        self.consent = consent
        self.page = page
        self.sweep = sweep
        self._firewall = firewall
        self._counters = counters
        self._head_only = head_only
        # The rest of the state (_transform, _held, _held_trailers, _failed, _ended) is only
        # read once we take the body over, and set there: most responses never need it.
        self._rewriting = False
        self._sniff: _Sniff | None = None

    def __call__(self, message: Message) -> Awaitable[None]:
        # Not a coroutine itself: a message that goes on untouched is handed to the server's
        # send directly, without a frame of ours around it (most messages of most responses).
        if message["type"] == "http.response.start":
            if self._plain(message):
                return self.send(message)  # the common non-HTML case: byte-identical, no copy
            return self._start(message)
        if not self._rewriting:
            return self.send(message)  # not rewritten: every message goes on untouched, in order
        return self._rewritten(message)

    async def _rewritten(self, message: Message) -> None:
        if self._sniff is not None:
            await self._sniffing(self._sniff, message)
            return
        message_type = message["type"]
        if message_type == "http.response.body":
            await self._body(message.get("body", b""), more_body=message.get("more_body", False))
        elif message_type == "http.response.pathsend":
            await self._pathsend(message["path"])
        elif message_type == "http.response.zerocopysend":
            data = await anyio.to_thread.run_sync(_read_zero_copy, message)
            await self._body(data, more_body=message.get("more_body", False))
        else:
            await self._release()  # an unknown message must not overtake the start
            await self.send(message)

    # -- start ------------------------------------------------------------------------------
    def _plain(self, message: Message) -> bool:
        """True when the start needs nothing from us: no cookie to filter or add, and neither a
        page to rewrite (or sniff) nor a 304 for one. Decided without copying anything."""
        if self.sweep:
            return False
        page = self.page
        typed: bool | None = False
        for key, value in message.get("headers") or ():
            # By length first: only the two names that matter are lower-cased (any case counts).
            size = len(key)
            if size == 10:
                if key == b"set-cookie" or key.lower() == b"set-cookie":
                    return False
            elif (
                size == 12 and page is not None and (key == b"content-type" or key.lower() == b"content-type")
            ):
                typed = _typed(value)
                if typed is None:
                    return False  # it may be a page
        if page is None:
            return True
        status: int = message["status"]
        if status == 304:
            return not page.etag_translated
        return typed or status not in REWRITE_STATUSES  # untyped: the browser sniffs, so do we

    async def _start(self, message: Message) -> None:
        raw: Iterable[tuple[bytes, bytes]] = message.get("headers") or ()
        content_type = encoding = disposition = nosniff = b""
        has_cookie = False
        for key, value in raw:
            key = key.lower()
            if key == b"content-type":
                content_type = value
            elif key == b"set-cookie":
                has_cookie = True
            elif key == b"content-encoding":
                encoding = value
            elif key == b"content-disposition":
                disposition = value
            elif key == b"x-content-type-options" and not nosniff:
                nosniff = value  # Fetch: only the first value counts
        page = self.page
        status: int = message["status"]
        encoding = encoding.strip().lower()
        action = ""
        # A download (Content-Disposition: attachment) is saved, not shown: its bytes stay the
        # app's, so a saved file is the file and a resumed download fits the part already saved.
        if page is not None and disposition.partition(b";")[0].strip().lower() != b"attachment":
            media = content_type.partition(b";")[0].strip().lower()
            if status == 304:
                action = "304" if page.etag_translated else ""
            elif media in HTML_TYPES:
                action = "rewrite" if status in REWRITE_STATUSES else "range" if status == 206 else ""
            elif (
                media in _UNKNOWN_TYPES
                and status in REWRITE_STATUSES
                and nosniff.partition(b",")[0].strip().lower() != b"nosniff"
            ):
                if not encoding or encoding == b"identity" or encoding in DECODABLE:
                    action = "sniff"
                else:
                    # A browser decodes it, sniffs HTML and runs what is in it; we cannot read it.
                    self._counters["rewrite_skipped"] += 1
                    logger.warning(
                        "consentgate: not sniffing a response with no Content-Type (%s): if it is "
                        "HTML, trackers in it are not blocked",
                        _cannot_rewrite(b"", encoding),
                    )
        if not (action or has_cookie or self.sweep):
            await self.send(message)
            return
        headers = list(raw)
        if has_cookie:
            result = self._firewall.filter(headers, self.consent)
            headers = result.headers
            if result.dropped:
                self._counters["cookies_dropped"] += result.dropped
                headers = merge_vary(headers, ("Cookie",))
        if self.sweep:
            headers.extend((b"set-cookie", line.encode("latin-1")) for line in self.sweep)
            # A shared cache must never replay these deletions to another visitor.
            headers = merge_cache_control(merge_vary(headers, ("Cookie",)))
        if page is None or not action:
            await self.send({**message, "headers": headers})
        elif action == "range":
            await self._refuse_range(message, headers, page)
        elif action == "sniff":
            self._sniff = _Sniff({**message, "headers": headers}, encoding)
            self._rewriting = True  # the body is read before the start goes out
        elif action == "304":
            headers = page.filter_links(_private_variant(headers, page.vary))
            # The tag the browser holds, as it holds it: the app's 304 may carry its tag in
            # another strength than its 200 did (Django's GZip weakens only what it compresses).
            await self.send(
                {**message, "headers": variant_etag(headers, page.etag_suffix(), sent=page.if_none_match)}
            )
        else:
            await self._begin(message, headers, page, content_type, encoding)

    async def _begin(
        self, message: Message, headers: RawHeaders, page: Page, content_type: bytes, encoding: bytes
    ) -> None:
        """Take over a page's body: its headers now, its bytes through the page's rewriter."""
        headers = page.filter_links(_private_variant(headers, page.vary))
        reason = _cannot_rewrite(content_type, encoding)
        if reason:
            # Consent-dependent headers stay (cheap and safe); the body cannot be made safe.
            self._counters["rewrite_skipped"] += 1
            logger.warning(
                "consentgate: not rewriting an HTML response (%s): trackers in it are not blocked", reason
            )
            self._rewriting = False
            await self.send({**message, "headers": headers})
            return
        headers = [(k, v) for k, v in headers if k.lower() not in _BODY_BOUND]
        if page.cacheable:
            headers = variant_etag(headers, page.etag_suffix())
        # (Another method's ETag, if any, names the resource it changed, not these bytes: RFC
        # 9110 8.8.3; it stays for the client's next If-Match.)
        start = {**message, "headers": headers}
        self._transform: BodyTransform | None = None
        self._held: Message | None = None
        self._held_trailers = False
        self._failed = False
        self._ended = False
        self._rewriting = True
        try:
            transform: BodyTransform = page.transform(headers)
            if encoding in DECODABLE:
                transform = _Recoded(transform, wbits=DECODABLE[encoding])
        except Exception:
            logger.exception("consentgate: could not prepare the HTML rewriter; the body is withheld")
            self._counters["rewrite_failed"] += 1
            self._failed = True
            transform = _Withheld()
        self._transform = transform
        # Held until the first body message: if that is the whole body, we can send its length.
        # HEAD too: its body is rewritten and dropped, so that it gets GET's headers (length, CSP).
        self._held = start
        self._held_trailers = bool(message.get("trailers", False))

    async def _sniffing(self, sniff: _Sniff, message: Message) -> None:
        sniff.messages.append(message)
        if message["type"] == "http.response.body":
            sniff.data += message.get("body", b"")
            html = sniffs_as_html(
                _sniff_bytes(sniff.data, sniff.encoding), complete=not message.get("more_body", False)
            )
            if html is None:
                return  # a few more bytes decide
        else:
            html = False  # a file or a message of an extension: decided by what came so far
        self._sniff = None
        start = sniff.start
        if html and self.page is not None:
            # Said out loud: the head snippet may now come first, and "<link" is no HTML signature.
            headers = [*start["headers"], (b"content-type", b"text/html")]
            await self._begin(start, headers, self.page, b"text/html", sniff.encoding)
        else:
            self._rewriting = False
            await self.send(start)
        for held in sniff.messages:
            await self(held)

    async def _refuse_range(self, message: Message, headers: RawHeaders, page: Page) -> None:
        """Fail closed on a byte range of a page we would rewrite: its bytes are the app's,
        unrewritten, and the rewritten page has no stable bytes to take a range of. The client
        hears that its range cannot be served (RFC 9110 15.5.17) and asks for the whole page,
        which it gets rewritten. (Page requests reach the app without ``Range``; this is for the
        rest, see ``Request.app_scope``.)"""
        self._counters["range_refused"] += 1
        logger.warning("consentgate: a byte range of an HTML page was answered 416 instead of 206")
        kept: RawHeaders = [(k, v) for k, v in headers if k.lower() == b"set-cookie"]
        complete = ""
        for key, value in headers:
            if key.lower() == b"content-range":
                complete = value.decode("latin-1").rpartition("/")[2].strip()
        if complete.isdigit():
            kept.append((b"content-range", f"bytes */{complete}".encode()))
        kept = _private_variant(kept, page.vary)
        kept.append((b"content-length", b"0"))
        self._transform = None
        self._held = None
        self._held_trailers = False
        self._failed = True  # the app's body is dropped; _body sends the empty end
        self._ended = False
        self._rewriting = True
        await self.send({**message, "status": 416, "headers": kept})

    async def _release(self, body_length: int | None = None) -> None:
        held = self._held
        if held is None:
            return
        self._held = None
        if self.page is not None:
            # As late as possible: the first chunk is rewritten, so the page's CSP names its hosts.
            held["headers"] = self.page.finish_headers(held["headers"])
        if body_length is not None and not self._held_trailers:
            held["headers"] = [*held["headers"], (b"content-length", str(body_length).encode())]
        await self.send(held)

    # -- body -------------------------------------------------------------------------------
    async def _body(self, body: bytes, *, more_body: bool) -> None:
        if self._ended:
            return  # nothing may follow the final body (only trailers, forwarded above)
        transform = self._transform
        if self._failed or transform is None or (self._head_only and self._held is None):
            out = b""  # (HEAD: its headers are out, the rest of its body is never shown)
        else:
            try:
                out = transform.feed(body) if body else b""
                if not more_body:
                    out += transform.close()
            except Exception:
                # Fail closed: what was already sent was rewritten; the rest is never sent, so a
                # tracker after the fault cannot run. The app's own errors never come through here.
                logger.exception("consentgate: the HTML rewriter failed; the rest of the body is withheld")
                self._counters["rewrite_failed"] += 1
                self._failed = True
                more_body, out = False, b""
        if self._failed:
            more_body = False
        # HEAD promises a length only when it is GET's (RFC 9110 8.6): not when the app sent no
        # body to measure, nor for a body compressed again (the page's own tokens change it).
        known = not more_body and (
            not self._head_only or (bool(body) and not isinstance(transform, _Recoded))
        )
        await self._release(len(out) if known else None)
        if self._head_only:
            out = b""
            if more_body:
                return
        elif more_body and not out:
            return  # the rewriter is holding an unfinished tag; nothing to send yet
        if not more_body:
            self._ended = True
        await self.send({"type": "http.response.body", "body": out, "more_body": more_body})

    async def _pathsend(self, path: str) -> None:
        # The app's server offered pathsend and we could not hide it (the request did not look
        # like a page): read the file ourselves so static HTML is rewritten too.
        async with await anyio.open_file(path, "rb") as file:
            while True:
                chunk = b"" if self._failed else await file.read(65536)
                more = len(chunk) == 65536 and not (self._head_only and self._held is None)
                await self._body(chunk, more_body=more)
                if not more:
                    return


def _read_zero_copy(message: Message) -> bytes:
    file: Any = message["file"]
    count: int | None = message.get("count")
    offset: int | None = message.get("offset")
    fd = file.fileno()
    if offset is None:
        return file.read(-1 if count is None else count)  # type: ignore[no-any-return]
    if count is None:
        count = os.fstat(fd).st_size - offset
    return os.pread(fd, count, offset)


@functools.lru_cache(maxsize=64)  # a site sends a handful of Content-Type values
def _typed(content_type: bytes) -> bool | None:
    """Does a Content-Type value name a type (one a browser does not sniff)? None when it
    says ``htm`` anywhere: it may be a page (HTML, XHTML), whatever its parameters."""
    if content_type.lower().find(b"htm") >= 0:  # not `in`: see Request.app_scope
        return None
    return content_type.partition(b";")[0].strip().lower() not in _UNKNOWN_TYPES


@functools.lru_cache(maxsize=64)  # a site sends a handful of Content-Type values
def content_charset(content_type: bytes) -> str | None:
    """The ``charset`` parameter of a Content-Type value, unquoted; None without one."""
    for param in content_type.decode("latin-1").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _cannot_rewrite(content_type: bytes, encoding: bytes) -> str:
    if encoding and encoding != b"identity" and encoding not in DECODABLE:
        return f"content-encoding {encoding.decode('latin-1')!r}"
    charset = content_charset(content_type)
    if charset is not None and not_ascii_compatible(charset):
        return f"charset in {content_type.decode('latin-1')!r} is not ASCII-compatible"
    return ""


def sniffs_as_html(data: bytes, *, complete: bool) -> bool | None:
    """Whether a browser renders a body without a Content-Type, starting with ``data``, as HTML
    (WHATWG MIME Sniffing 7.1, the HTML rows); None while the next bytes could still decide.

    >>> [sniffs_as_html(d, complete=True) for d in (b"  <!doctype html>", b"<b>x", b"<br/>", b"<?xml")]
    [True, True, False, False]
    >>> sniffs_as_html(b"\\n<HT", complete=False) is None
    True
    """
    header = data[:_SNIFF_LIMIT]
    rest = header.lstrip(_SNIFF_WHITESPACE)[:16].upper()  # the longest signature and one more
    more = not complete and len(header) < _SNIFF_LIMIT
    undecided = False
    for signature in _HTML_SIGNATURES:
        size = len(signature)
        if len(rest) > size:
            if rest.startswith(signature) and rest[size] in b" >":
                return True
        elif more and signature.startswith(rest):
            undecided = True  # (whitespace only so far, or a signature's first bytes)
    return None if undecided else False


def _sniff_bytes(data: bytes, encoding: bytes) -> bytes:
    """The first decoded bytes of a body in one of the encodings we decode (what a browser sniffs)."""
    wbits = DECODABLE.get(encoding)
    if wbits is None:
        return data
    for bits in (wbits, -15) if wbits == 15 else (wbits,):  # deflate: zlib-wrapped or raw
        try:
            return zlib.decompressobj(bits).decompress(data, _SNIFF_LIMIT)
        except zlib.error:
            continue
    return b""


class _Withheld:
    def feed(self, data: bytes) -> bytes:
        return b""

    def close(self) -> bytes:
        return b""


class _Recoded:
    """Runs a transform on the decoded bytes of a gzip or deflate body and encodes the result.

    Streaming on both sides: each output chunk ends with a sync flush, so a browser can render
    it before the next one arrives.
    """

    def __init__(self, inner: BodyTransform, *, wbits: int) -> None:
        self._inner = inner
        self._wbits = wbits
        self._decoder = zlib.decompressobj(wbits)
        self._encoder = zlib.compressobj(6, zlib.DEFLATED, wbits)
        self._started = False

    def _decode(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        while data:
            try:
                parts.append(self._decoder.decompress(data))
            except zlib.error:
                if self._started or self._wbits != 15:
                    raise
                # "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2); some servers send raw.
                self._wbits = -15
                self._decoder = zlib.decompressobj(-15)
                continue
            self._started = True
            # Concatenated gzip members are one body (RFC 1952 2.2).
            data = self._decoder.unused_data if self._decoder.eof and self._wbits == 31 else b""
            if data:
                self._decoder = zlib.decompressobj(31)
        return b"".join(parts)

    def feed(self, data: bytes) -> bytes:
        out = self._inner.feed(self._decode(data))
        return self._encoder.compress(out) + self._encoder.flush(zlib.Z_SYNC_FLUSH)

    def close(self) -> bytes:
        out = self._inner.feed(self._decoder.flush()) + self._inner.close()
        return self._encoder.compress(out) + self._encoder.flush(zlib.Z_FINISH)


# --- header merging --------------------------------------------------------------------------


def merge_vary(headers: RawHeaders, tokens: Iterable[str]) -> RawHeaders:
    """One ``Vary`` header holding the existing tokens plus ``tokens``, none twice.

    >>> merge_vary([(b"vary", b"Accept-Encoding, cookie")], ["Cookie", "Sec-GPC"])
    [(b'vary', b'Accept-Encoding, cookie, Sec-GPC')]
    """
    existing: list[str] = []
    kept: RawHeaders = []
    for key, value in headers:
        if key.lower() == b"vary":
            existing.extend(t.strip() for t in value.decode("latin-1").split(",") if t.strip())
        else:
            kept.append((key, value))
    merged = existing
    seen = {token.lower() for token in existing}
    if "*" not in seen:
        for token in tokens:
            if token.lower() not in seen:
                seen.add(token.lower())
                merged.append(token)
    if merged:
        kept.append((b"vary", ", ".join(merged).encode("latin-1")))
    return kept


@functools.lru_cache(maxsize=64)
def _vary_value(tokens: tuple[str, ...]) -> bytes:
    return merge_vary([], tokens)[0][1]


def _private_variant(headers: RawHeaders, tokens: Sequence[str]) -> RawHeaders:
    """``merge_cache_control(merge_vary(headers, tokens))`` in one pass for the common page
    that sets neither header (the two values are then always the same)."""
    if not tokens:
        return merge_cache_control(merge_vary(headers, tokens))
    for key, _ in headers:
        key = key.lower()
        if key == b"vary" or key == b"cache-control":
            return merge_cache_control(merge_vary(headers, tokens))
    return [*headers, (b"vary", _vary_value(tuple(tokens))), (b"cache-control", b"private")]


_SHARED_ONLY = frozenset({"public", "s-maxage", "proxy-revalidate"})


def merge_cache_control(headers: RawHeaders) -> RawHeaders:
    """Make the response private to one browser without weakening what the app asked for.

    ``no-store`` stays as it is (stricter than private); ``public`` and the shared-cache-only
    directives go; everything else (``max-age``, ``no-cache``, ``must-revalidate``) is kept.

    >>> merge_cache_control([(b"cache-control", b"public, max-age=60, s-maxage=600")])
    [(b'cache-control', b'private, max-age=60')]
    """
    directives: list[str] = []
    kept: RawHeaders = []
    for key, value in headers:
        if key.lower() == b"cache-control":
            directives.extend(d.strip() for d in value.decode("latin-1").split(",") if d.strip())
        else:
            kept.append((key, value))
    names = [d.partition("=")[0].strip().lower() for d in directives]
    result = [d for d, name in zip(directives, names, strict=True) if name not in _SHARED_ONLY]
    if not any(d.lower() in ("private", "no-store") for d in result):
        result.insert(0, "private")
    kept.append((b"cache-control", ", ".join(result).encode("latin-1")))
    return kept


_SUFFIX = "-cg"
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def variant_etag(headers: RawHeaders, suffix: str, *, sent: str = "") -> RawHeaders:
    """Make the ETag name this consent variant: weak (the bytes differ per request) and suffixed.

    The suffix records whether the app's tag was strong, so ``restore_if_none_match`` can hand
    the app back exactly the tag it made. ``sent`` (a 304's If-None-Match) keeps a tag the
    browser holds as it holds it, when the app's 304 names the same tag in another strength.

    >>> variant_etag([(b"etag", b'"abc"')], "1a2b")
    [(b'etag', b'W/"abc-cgs1a2b"')]
    >>> variant_etag([(b"etag", b'"abc"')], "1a2b", sent='W/"abc-cgw1a2b"')
    [(b'etag', b'W/"abc-cgw1a2b"')]
    """
    held = _held_strengths(sent, suffix) if sent else {}
    result: RawHeaders = []
    for key, value in headers:
        if key.lower() == b"etag":
            text = value.decode("latin-1").strip()
            weak = text.startswith("W/")
            opaque = text[2:] if weak else text
            opaque = opaque.strip('"')
            strength = held.get(opaque) or ("w" if weak else "s")
            value = f'W/"{opaque}{_SUFFIX}{strength}{suffix}"'.encode("latin-1")
        result.append((key, value))
    return result


def _held_strengths(header: str, suffix: str) -> dict[str, str]:
    """{the app's opaque tag: "w" or "s"} for the tags of this variant in an If-None-Match."""
    held: dict[str, str] = {}
    for match in _ENTITY_TAG.finditer(header):
        head, sep, tail = match.group(2).rpartition(_SUFFIX)
        if sep and tail[:1] in ("s", "w") and tail[1:] == suffix:
            held.setdefault(head, tail[0])
    return held


def restore_if_none_match(
    header: str, suffix: Callable[[], str], *, drop_foreign: bool
) -> tuple[str | None, bool]:
    """Translate a request's If-None-Match for the app: (new value or None, any tag translated).

    Tags carrying the current variant's suffix go back to the app's own form. A tag for another
    consent state is dropped, so the app answers 200 with this visitor's page instead of a 304
    that would keep another variant on screen. Tags without our suffix name a page as the app
    sent it, unrewritten: ``drop_foreign`` (for page navigations) drops them too.
    """
    if header.strip() == "*":
        return header, False
    kept: list[str] = []
    translated = False
    current: str | None = None
    for match in _ENTITY_TAG.finditer(header):
        weak, opaque = match.group(1), match.group(2)
        head, sep, tail = opaque.rpartition(_SUFFIX)
        if sep and tail[:1] in ("s", "w"):
            if current is None:
                current = suffix()
            if tail[1:] == current:
                kept.append(f'W/"{head}"' if tail[0] == "w" else f'"{head}"')
                translated = True
        elif not drop_foreign:
            kept.append(f'{weak or ""}"{opaque}"')
    return (", ".join(kept) if kept else None), translated
