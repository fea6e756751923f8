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
# Statuses whose HTML is a document a visitor sees: the page itself and error pages (a 404 page
# carrying analytics must not load it without consent either). Never 1xx/204/205/206/304.
REWRITE_STATUSES = frozenset({200, *range(400, 419), *range(421, 432), 451, *range(500, 512)})
DECODABLE = {b"gzip": 31, b"x-gzip": 31, b"deflate": 15}
# Stateful or wide encodings where "<" may be half of a character: rewriting bytes would break them.
# Headers that describe the exact bytes of the app's body and are wrong after a rewrite.
_BODY_BOUND = frozenset(
    {b"content-length", b"accept-ranges", b"content-md5", b"digest", b"content-digest", b"repr-digest"}
)


class BodyTransform(Protocol):
    def feed(self, data: bytes) -> bytes: ...
    def close(self) -> bytes: ...


class Page(Protocol):
    """What the middleware knows about a request whose response might be rewritten."""

    @property
    def vary(self) -> Sequence[str]: ...  # request headers a rewritten page depends on

    @property
    def etag_translated(self) -> bool: ...  # the request's If-None-Match named our variant

    def etag_suffix(self) -> str: ...

    def transform(self, headers: RawHeaders) -> BodyTransform: ...

    def finish_headers(self, headers: RawHeaders) -> RawHeaders: ...  # just before they are sent
    def filter_links(self, headers: RawHeaders) -> RawHeaders: ...  # Link preloads of blocked services


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
        # read once rewriting starts, and set there: most responses never need it.
        self._rewriting = False

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
        page to rewrite nor a 304 for one. Decided without copying anything."""
        if self.sweep:
            return False
        page = self.page
        for key, value in message.get("headers") or ():
            # By length first: only the two names that matter are lower-cased (any case counts).
            size = len(key)
            if size == 10:
                if key == b"set-cookie" or key.lower() == b"set-cookie":
                    return False
            elif (
                size == 12
                and page is not None
                and (key == b"content-type" or key.lower() == b"content-type")
                and value.lower().find(b"htm") >= 0  # not `in`: see Request.app_scope
            ):
                return False
        return page is None or message["status"] != 304 or not page.etag_translated

    async def _start(self, message: Message) -> None:
        raw: Iterable[tuple[bytes, bytes]] = message.get("headers") or ()
        content_type = encoding = b""
        has_cookie = False
        for key, value in raw:
            key = key.lower()
            if key == b"content-type":
                content_type = value
            elif key == b"set-cookie":
                has_cookie = True
            elif key == b"content-encoding":
                encoding = value
        page = self.page
        rewrite = translated_304 = False
        if page is not None:
            status: int = message["status"]
            if status == 304:
                translated_304 = page.etag_translated
            elif status in REWRITE_STATUSES:
                rewrite = content_type.partition(b";")[0].strip().lower() in HTML_TYPES
        if not (rewrite or translated_304 or has_cookie or self.sweep):
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
        if page is None or not (rewrite or translated_304):
            await self.send({**message, "headers": headers})
            return
        headers = _private_variant(headers, page.vary)
        headers = page.filter_links(headers)
        suffix = page.etag_suffix()
        if translated_304:
            await self.send({**message, "headers": variant_etag(headers, suffix)})
            return
        reason = _cannot_rewrite(content_type, encoding.strip().lower())
        if reason:
            # Consent-dependent headers stay (cheap and safe); the body cannot be made safe.
            self._counters["rewrite_skipped"] += 1
            logger.warning(
                "consentgate: not rewriting an HTML response (%s): trackers in it are not blocked", reason
            )
            await self.send({**message, "headers": headers})
            return
        headers = variant_etag([(k, v) for k, v in headers if k.lower() not in _BODY_BOUND], suffix)
        start = {**message, "headers": headers}
        self._transform: BodyTransform | None = None
        self._held: Message | None = None
        self._held_trailers = False
        self._failed = False
        self._ended = False
        self._rewriting = True
        if self._head_only:
            # HEAD: the same headers as GET, and never a body from us
            await self.send({**start, "headers": page.finish_headers(headers)})
            return
        try:
            transform: BodyTransform = page.transform(headers)
            key = encoding.strip().lower()
            if key in DECODABLE:
                transform = _Recoded(transform, wbits=DECODABLE[key])
        except Exception:
            logger.exception("consentgate: could not prepare the HTML rewriter; the body is withheld")
            self._counters["rewrite_failed"] += 1
            self._failed = True
            transform = _Withheld()
        self._transform = transform
        # Held until the first body message: if that is the whole body, we can send its length.
        self._held = start
        self._held_trailers = bool(message.get("trailers", False))

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
        if self._head_only:
            if not more_body:
                self._ended = True
                await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        transform = self._transform
        if self._failed or transform is None:
            out = b""
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
        await self._release(len(out) if not more_body else None)
        if more_body and not out:
            return  # the rewriter is holding an unfinished tag; nothing to send yet
        if not more_body:
            self._ended = True
        await self.send({"type": "http.response.body", "body": out, "more_body": more_body})

    async def _pathsend(self, path: str) -> None:
        # The app's server offered pathsend and we could not hide it (the request did not look
        # like a page): read the file ourselves so static HTML is rewritten too.
        if self._head_only:
            await self._body(b"", more_body=False)
            return
        async with await anyio.open_file(path, "rb") as file:
            while True:
                chunk = await file.read(65536)
                await self._body(chunk, more_body=len(chunk) == 65536)
                if len(chunk) < 65536:
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


def variant_etag(headers: RawHeaders, suffix: str) -> RawHeaders:
    """Make the ETag name this consent variant: weak (the bytes differ per request) and suffixed.

    The suffix records whether the app's tag was strong, so ``restore_if_none_match`` can hand
    the app back exactly the tag it made.

    >>> variant_etag([(b"etag", b'"abc"')], "1a2b")
    [(b'etag', b'W/"abc-cgs1a2b"')]
    """
    result: RawHeaders = []
    for key, value in headers:
        if key.lower() == b"etag":
            text = value.decode("latin-1").strip()
            weak = text.startswith("W/")
            opaque = text[2:] if weak else text
            opaque = opaque.strip('"')
            value = f'W/"{opaque}{_SUFFIX}{"w" if weak else "s"}{suffix}"'.encode("latin-1")
        result.append((key, value))
    return result


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
