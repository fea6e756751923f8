"""One request as the middleware sees it, and what a rewritten page of it needs."""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from consentgate.consent.cookie import CookieStatus
from consentgate.consent.signals import UNKNOWN, is_dnt_value
from consentgate.consent.state import Consent, new_consent_id
from consentgate.consent.useragent import is_bot
from consentgate.html.rewriter import HtmlRewriter
from consentgate.http.links import filter_link_headers
from consentgate.http.responder import BodyTransform, content_charset, restore_if_none_match
from consentgate.http.types import RawHeaders, Scope
from consentgate.policy.model import Policy, Service
from consentgate.ui.render import RenderContext

if TYPE_CHECKING:
    from consentgate.consent.jurisdiction import Decision
    from consentgate.consent.signals import Region
    from consentgate.html.rules import Finding
    from consentgate.http.csp import CspPage
    from consentgate.http.middleware import ConsentGate
__all__ = ["MetServices", "PageContext", "Request", "Visitor", "render_context"]

logger = logging.getLogger("consentgate.http")

_DECODABLE_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity", "*"})
_PAGE_SUFFIXES = (".html", ".htm", ".xhtml", "/")
# Fetch Metadata destinations whose answer a browser never renders as a page: a script, a
# stylesheet, an image... even if it is HTML, nothing in it loads.
_SUBRESOURCE_DESTINATIONS = frozenset(
    {
        "audio", "audioworklet", "font", "image", "json", "manifest", "paintworklet", "report",
        "script", "serviceworker", "sharedworker", "style", "track", "video", "worker", "xslt",
    }
)  # fmt: skip
# Extensions of files that are not HTML (static assets, media, data), for a path's last segment.
_NOT_HTML_EXTENSIONS = frozenset(
    {
        "js", "mjs", "css", "map", "json", "xml", "txt", "csv", "png", "jpg", "jpeg", "gif", "webp",
        "avif", "ico", "bmp", "svg", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "m4a", "m4s",
        "m4v", "webm", "oga", "ogg", "ogv", "wav", "flac", "aac", "m3u8", "ts", "pdf", "zip", "gz",
        "br", "zst", "wasm", "webmanifest",
    }
)  # fmt: skip
_HTML_RANGES = frozenset({"text/html", "application/xhtml+xml", "text/*", "application/*", "*/*", "*"})
_CSP_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_=-]{8,128})'")
# Fetch Metadata destinations of a page navigated to inside another page's body. Not "frame":
# a <frameset> page has no body to show the banner in, so its frames keep theirs.
_FRAME_DESTINATIONS = frozenset({"iframe", "embed", "object"})
_NO_EXTENSIONS = ("http.response.pathsend", "http.response.zerocopysend")
# Request headers read on every request; one set probe per header keeps the common path cheap.
_READ = frozenset({b"cookie", b"accept", b"if-none-match", b"sec-gpc", b"dnt"})


class Visitor(NamedTuple):
    """What one ``Cookie`` header means, cached: most requests repeat the previous one's."""

    cookies: Mapping[str, str]  # shared between requests: read only
    stored: Consent  # the verified consent cookie, or "no choice"
    status: CookieStatus
    decision: Decision  # for a person; bots are told apart per request
    blocked: tuple[str, ...]  # cookies the browser sent that the decision does not allow


@dataclass(frozen=True)
class PageContext:
    """What an ``extra_head`` hook is told about the page it adds to."""

    decision: Decision
    nonce: str | None
    locale: str
    scope: Scope


class Request:
    """Headers read in one pass, the region and signals, the visitor's consent; and the
    responder's ``Page`` (ETag variant for GET and HEAD, rewriter factory)."""

    __slots__ = (
        "_accept",
        "_bot",
        "_csp",
        "_etags",
        "_framed",
        "_headers",
        "_locale",
        "_scripted",
        "_suffix",
        "child",
        "consent",
        "decision",
        "dnt",
        "etag_translated",
        "gate",
        "gpc",
        "method",
        "persist_pending",
        "region",
        "route",
        "scope",
        "secure",
        "unreadable_pending",
        "visitor",
    )

    def __init__(self, gate: ConsentGate, scope: Scope) -> None:
        self.gate = gate
        self.scope = scope
        self.child: Scope = scope
        self.method: str = scope["method"]
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        self.route = path[len(root) :] if root and path.startswith(root) else path
        self.secure = secure = scope.get("scheme") == "https"
        cookie_header = accept = etags = b""
        gpc = dnt = False
        wanted = _READ
        for name, value in scope["headers"]:
            if name in wanted:
                if name == b"cookie":
                    cookie_header = value if not cookie_header else cookie_header + b"; " + value
                elif name == b"accept":
                    accept = value
                elif name == b"if-none-match":
                    etags = value
                elif name == b"sec-gpc":
                    gpc = gpc or value.strip(b" \t") == b"1"  # exactly "1", in any of several fields
                else:
                    dnt = dnt or is_dnt_value(value)
        self._accept = accept
        self._etags = etags
        self._locale: str | None = None
        self._suffix: str | None = None
        self._bot: bool | None = None
        self._scripted: bool | None = None
        self._framed: bool | None = None
        self._headers: dict[bytes, bytes] | None = None
        self._csp: CspPage | None = None
        self.etag_translated = False
        self.persist_pending = False  # set by Endpoints.persist_decision, done by finish_headers
        self.unreadable_pending = False  # set by the middleware, done by finish_headers
        self.gpc = gpc
        self.dnt = dnt
        self.region: Region = gate.regions.resolve(scope) if gate.region_configured else UNKNOWN
        self.visitor = visitor = gate.visitor(cookie_header, secure, self.region.code, gpc, dnt)
        self.decision = decision = visitor.decision
        if decision.persist is not None and self.is_bot:
            # Crawlers get the same blocking, but nothing is stored or recorded for them.
            decision = gate.jurisdiction.decide(
                visitor.stored, region=self.region.code, signals=gate.signals[(gpc, dnt)], is_bot=True
            )
            self.decision = decision
        self.consent = decision.consent

    @property
    def cookies(self) -> Mapping[str, str]:
        return self.visitor.cookies

    @property
    def cookie_status(self) -> CookieStatus:
        return self.visitor.status

    # -- headers ----------------------------------------------------------------------------
    def header(self, name: bytes) -> str:
        """The first value of a request header, "" when absent (read on demand: HTML pages and
        the endpoints need a few more headers than every request does; once one is asked
        for, a page asks for a dozen, so they are all read then, once)."""
        headers = self._headers
        if headers is None:
            headers = {}
            for key, value in self.scope["headers"]:
                if key not in headers:
                    headers[key] = value
            self._headers = headers
        value = headers.get(name)
        return "" if value is None else value.decode("latin-1")

    @property
    def host(self) -> str:
        host = self.header(b"host")
        if not host:
            server = self.scope.get("server")
            host = server[0] if server else ""
        if host.startswith("["):
            return host.partition("]")[0] + "]"
        return host.rpartition(":")[0] if ":" in host else host

    @property
    def user_agent(self) -> str:
        return self.header(b"user-agent")

    @property
    def is_bot(self) -> bool:
        if self._bot is None:
            self._bot = is_bot(self.user_agent)
        return self._bot

    @property
    def page_navigation(self) -> bool:
        """A GET/HEAD for a page a person opens: Fetch Metadata's ``Sec-Fetch-Dest: document``,
        or, from a browser without it, ``Accept: text/html``. Images, scripts, fetch() calls and
        frames are not; only a navigation may store a decision the visitor did not make by hand."""
        if self.method != "GET" and self.method != "HEAD":
            return False
        destination = self.header(b"sec-fetch-dest")
        if destination:
            return destination.strip().lower() == "document"
        return b"text/html" in self._accept.lower()

    @property
    def fetched_by_script(self) -> bool:
        """A request a page's script made (fetch/XHR): ``Sec-Fetch-Dest: empty``; from a
        browser without Fetch Metadata (Safari before 16.4), the headers htmx and jQuery add
        (``HX-Request``, ``X-Requested-With: XMLHttpRequest``; an Android WebView sends the
        app's name there on navigations too). An HTML answer that is a piece of a page gets no
        banner of its own (HtmlRewriter ``documents_only``). Read once: the ETag variant and
        the rewriter both ask."""
        if self._scripted is None:
            destination = self.header(b"sec-fetch-dest").strip().lower()
            if destination:
                self._scripted = destination == "empty"
            else:
                hx, xhr = self.header(b"hx-request"), self.header(b"x-requested-with")
                self._scripted = bool(hx) or xhr.lower() == "xmlhttprequest"
        return self._scripted

    @property
    def framed(self) -> bool:
        """A page opened inside a frame of a page of the same origin: Fetch Metadata's
        ``Sec-Fetch-Dest`` ``iframe``, ``embed`` or ``object`` with
        ``Sec-Fetch-Site: same-origin``. The visitor chooses in the page around it, which has
        the banner, so the frame gets no banner, centre or reopen control of its own (not two
        banners, one inside the other, nor a "cookie settings" button in every embedded
        widget or modal). It still gets the head snippet: its trackers are held, its
        placeholders work, and a choice made around it applies when it next loads.

        A frame on another site's page keeps its banner: that page cannot ask for this site.
        So do pages a visitor opens by a link or a form inside a frame (Fetch Metadata cannot
        tell whose page holds that frame), the frames of a ``<frameset>`` (which has no body to
        show it in) and every frame from a browser without Fetch Metadata (Safari before
        16.4)."""
        if self._framed is None:
            self._framed = (
                self.header(b"sec-fetch-dest").strip().lower() in _FRAME_DESTINATIONS
                and self.header(b"sec-fetch-site").strip().lower() == "same-origin"
                # Sec-Fetch-Site names who started the navigation, not who holds the frame: a
                # link followed or a form sent inside a frame on another site's page is
                # same-origin too, but a person started it (Sec-Fetch-User), and the page
                # around a frame does not: such a page keeps its banner.
                and self.header(b"sec-fetch-user").strip() != "?1"
            )
        return self._framed

    @property
    def show_banner(self) -> bool:
        return self.decision.show_banner and not self.is_bot and not self.framed

    def locale(self, override: str | None = None) -> str:
        if override:
            return self.gate.ui.negotiate(self.header(b"accept-language") or None, override)
        if self._locale is None:
            self._locale = self.gate.ui.negotiate(self.header(b"accept-language") or None)
        return self._locale

    def next_url(self) -> str:
        """Where the banner's form (without JavaScript) brings the visitor back: this page, as
        the browser addressed it (under the app's mount point). A page answering another method
        (a form's "thank you") may have no GET: then the page the form was on, when a Referer
        of this site names it."""
        scope = self.scope
        if self.method != "GET" and self.method != "HEAD":
            referer = urlsplit(self.header(b"referer"))
            if referer.path and referer.netloc.lower() == self.header(b"host").strip().lower():
                return referer.path + ("?" + referer.query if referer.query else "")
        query = scope.get("query_string", b"")
        path: str = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        root: str = scope.get("root_path", "").rstrip("/")
        if root and path != root and not path.startswith(root + "/"):
            path = root + path  # a server that gives the path below the mount point
        return path + ("?" + query.decode("latin-1") if query else "")

    def sweep(self, consent: Consent | None = None) -> list[str]:
        """Expiring Set-Cookie lines for the cookies this browser holds that ``consent`` forbids
        (by default the consent in force for this request)."""
        if consent is None:
            names: Iterable[str] = self.visitor.blocked
            consent = self.consent
        else:
            names = self.cookies
        return self.gate.firewall.sweep(names, consent, host=lambda: self.host, secure=self.secure)

    # -- the scope the app sees -------------------------------------------------------------
    def app_scope(self) -> Scope:
        """A copy of the scope for the app (never the server's own dict), holding the consent.

        Whatever may come back as a page must come back in a form we can rewrite: without
        brotli or zstd (gzip and deflate stay), and for a page navigation without a byte range
        or a conditional request the app could answer for another consent state's page.
        """
        scope = self.scope
        self.child = child = dict(scope)  # (a copy, then one key: cheaper than {**scope, ...})
        child["consentgate"] = self.consent
        method = self.method
        cacheable = method == "GET" or method == "HEAD"
        # bytes.find, not `in`: on CPython 3.11 `in` first tries the operand as an integer and
        # pays for a TypeError (≈ 80 ns), on every request here.
        accept = self._accept
        navigation = cacheable and (
            (accept.find(b"html") >= 0 and _accepts_html(accept)) or self.route.endswith(_PAGE_SUFFIXES)
        )
        translate = cacheable and self._etags.find(b"-cg") >= 0
        html = navigation or self._may_be_html()
        if not html and not translate:
            return child
        headers = self._headers_for_app(navigation, html, translate)
        if headers is not None:
            child["headers"] = headers
        extensions = scope.get("extensions")
        if navigation and extensions and any(key in extensions for key in _NO_EXTENSIONS):
            # Without pathsend the app streams files as body messages we can rewrite.
            child["extensions"] = {k: v for k, v in extensions.items() if k not in _NO_EXTENSIONS}
        return child

    def _may_be_html(self) -> bool:
        """Whether the answer may be HTML a browser shows or a script inserts into a page: any
        request that does not say otherwise (``fetch()`` and htmx send ``Accept: */*``). Not:
        a subresource destination (a script, an image: never rendered as a page), an Accept
        without any range that admits HTML (``application/json``), or a path naming a file that
        is not HTML (``.js``, ``.png``, ``.pdf``...), which keep their brotli."""
        if self._accept and not _accepts_html(self._accept):
            return False  # (first: a cached answer; API calls say what they accept)
        route = self.route
        dot = route.rfind(".")
        if dot > route.rfind("/") and route[dot + 1 :].lower() in _NOT_HTML_EXTENSIONS:
            return False
        destination = self.header(b"sec-fetch-dest")
        return not destination or destination.strip().lower() not in _SUBRESOURCE_DESTINATIONS

    def _headers_for_app(self, navigation: bool, html: bool, translate: bool) -> RawHeaders | None:
        """The request headers the app should see, or None when they need no change.

        For a page navigation also: no conditional request that could answer 304 for a page
        cached under another consent state, no byte range of the unrewritten page. A download
        being resumed keeps its range (``If-Range`` with a strong tag: we send only weak ones,
        so it names bytes we passed on as they were); should the answer be a page, it is
        refused (``Responder._refuse_range``).
        """
        changed = False
        keep_range = navigation and any(
            name == b"if-range" and value.lstrip().startswith(b'"') for name, value in self.scope["headers"]
        )
        headers: RawHeaders = []
        for name, value in self.scope["headers"]:
            if name == b"if-none-match" and (translate or navigation):
                etags, self.etag_translated = restore_if_none_match(
                    value.decode("latin-1"), self.etag_suffix, drop_foreign=navigation
                )
                changed = True
                if etags is not None:
                    headers.append((name, etags.encode("latin-1")))
                continue
            if html and name == b"accept-encoding":
                kept = _decodable_encodings(value)
                if kept != value:
                    changed = True
                    headers.append((name, kept))
                    continue
            elif navigation and (
                name == b"if-modified-since" or (name in (b"range", b"if-range") and not keep_range)
            ):
                changed = True
                continue
            headers.append((name, value))
        return headers if changed else None

    # -- the responder's Page ---------------------------------------------------------------
    @property
    def vary(self) -> Sequence[str]:
        return self.gate.vary

    @property
    def cacheable(self) -> bool:
        return self.method == "GET" or self.method == "HEAD"

    @property
    def if_none_match(self) -> str:
        return self._etags.decode("latin-1")

    def etag_suffix(self) -> str:
        """A short, stable name for everything a rewritten page depends on."""
        if self._suffix is None:
            # Pages carry a CSRF token: a page older than half its lifetime is not revalidated.
            period = int(time.time()) // max(1, self.gate.csrf.max_age // 2)
            consent = self.consent
            # The consent's shape, not the consent: one entry per variant, not per visitor.
            key = (
                *consent.shape,
                self.is_bot,
                self.locale(),
                self.decision.mode,
                self.decision.objection,
                period,
                self.fetched_by_script,
                self.framed,
            )
            self._suffix = self.gate.variant_tag(key)
        return self._suffix

    def transform(self, headers: RawHeaders) -> BodyTransform:
        gate = self.gate
        nonce = self.child.get("csp_nonce") or _nonce_from_csp(headers)
        ctx = render_context(gate, self, nonce=nonce if isinstance(nonce, str) else None)
        consent, objection = self.consent, self.decision.objection
        consent_mode = gate.consent_mode
        ui = gate.ui
        allows = self.allows()
        on_finding = gate.met_services.record
        csp = self._csp = self._csp_page(allows)
        if csp is not None:
            record = on_finding

            def on_finding(finding: Finding) -> None:
                record(finding)
                csp.observe(finding)

        # The visitor's strings are escaped once per page, not once per blocked embed.
        placeholder = ui.placeholders(ctx)

        # The Consent Mode default must be the first script of the page, before any Google tag.
        first = consent_mode.default_script(
            consent, objection=objection, choice_pending=ctx.show_banner, nonce=ctx.nonce
        ).encode("ascii")
        rewriter: BodyTransform = HtmlRewriter(
            gate.rules,
            allows,
            head_snippet=first + ui.head(ctx),
            body_snippet=b"" if self.framed else ui.body(ctx),
            placeholder=placeholder,
            on_finding=on_finding,
            page_host=self.host or None,
            charset=_charset(headers),
            line_numbers=False,  # no listener here reads Finding.line
            documents_only=self.fetched_by_script,
        )
        return rewriter

    def filter_links(self, headers: RawHeaders) -> RawHeaders:
        """The page's headers without ``Link`` preloads/preconnects of services not granted
        (what the rewriter does to ``<link rel=preload>``; unknown hosts stay, as there)."""
        if not any(key.lower() == b"link" for key, _ in headers):
            return headers  # most pages: nothing to build
        rules = self.gate.rules
        allows = self.allows()
        page_host = self.host or None

        def keep(url: bytes) -> bool:
            verdict = rules.classify_url(url, None, page_host, unknown_counts=False)
            if verdict is None:
                return True
            service = verdict.service
            return allows(service.id if service else None, verdict.category)

        filtered, dropped = filter_link_headers(headers, keep)
        if dropped:
            self.gate.counters["link_headers_dropped"] += dropped
        return filtered

    def allows(self) -> Callable[[str | None, str], bool]:
        """What may load on this page, ``allows(service_id, category)``: one predicate for the
        rewriter and the CSP."""
        consent, objection = self.consent, self.decision.objection
        consent_mode = self.gate.consent_mode

        def allows(service_id: str | None, category: str) -> bool:
            if service_id is None:
                return consent.allows(category)
            if consent.allows_service(service_id, category):
                return True
            # Consent Mode "advanced": Google's tags load, denied, and ping without cookies.
            return consent_mode.advanced and consent_mode.tag_loads(service_id, consent, objection=objection)

        return allows

    def finish_headers(self, headers: RawHeaders) -> RawHeaders:
        """The response headers plus the consent-derived CSP (``policy.csp``), if any."""
        if self.persist_pending:
            # The response is a page we rewrite: now the region's decision is stored (once).
            self.persist_pending = False
            line = self.gate.endpoints.store_decision(self)
            if line is not None:
                headers = [*headers, (b"set-cookie", line.encode("latin-1"))]
        if self.unreadable_pending:
            # The consent cookie was expired or did not verify: recorded once, then expired
            # (unless a stored decision above already replaces it).
            self.unreadable_pending = False
            line = self.gate.endpoints.record_unreadable(self)
            if line is not None and not any(
                key == b"set-cookie" and value.startswith(self.gate.cookie.name(self.secure).encode() + b"=")
                for key, value in headers
            ):
                headers = [*headers, (b"set-cookie", line.encode("latin-1"))]
        csp = self._csp or self._csp_page(self.allows())
        if csp is None:
            return headers
        try:
            return csp.apply(headers)
        except Exception:
            # The page is rewritten already: a missing backup header must not cost the visitor it.
            logger.exception("consentgate: could not build the Content-Security-Policy header")
            return headers

    def _csp_page(self, allows: Callable[[str | None, str], bool]) -> CspPage | None:
        builder = self.gate.csp
        if builder is None:
            return None
        # The Host header is read only when it is used (report-to needs an absolute URL).
        origin = f"{self.scope.get('scheme', 'http')}://{self.header(b'host')}" if builder.report_to else None
        consent = self.consent
        # Everything ``allows`` depends on: the header can be shared by every visitor with this shape.
        shape = (*consent.shape, self.decision.objection)
        return builder.page(
            consent, allows, origin=origin, root_path=self.scope.get("root_path", ""), shape=shape
        )


def render_context(
    gate: ConsentGate,
    request: Request,
    *,
    consent: Consent | None = None,
    nonce: str | None = None,
    next_url: str | None = None,
    show_banner: bool | None = None,
    locale: str | None = None,
) -> RenderContext:
    """Everything the UI needs for one page; mints the id a first-time visitor will be recorded
    under (the form's CSRF token carries it to the consent endpoint)."""
    decision = request.decision
    objection = decision.objection
    if consent is None:
        consent = request.consent
    else:
        objection = gate.jurisdiction.objection_in_force(consent, decision.mode, signal=decision.signal)
    # Before a choice the page's token carries a fresh id; the choice is recorded under it.
    consent_id = consent.consent_id or new_consent_id()
    locale = locale or request.locale()
    extra = ""
    if gate.extra_head is not None:
        extra = gate.extra_head(
            PageContext(decision=decision, nonce=nonce, locale=locale, scope=request.scope)
        )
    values = gate.consent_mode.values(consent, objection=objection) if gate.consent_mode.enabled else None
    return RenderContext(
        consent=consent,
        root_path=request.scope.get("root_path", ""),
        show_banner=request.show_banner if show_banner is None else show_banner,
        locale=locale,
        csrf_token=gate.csrf.issue(consent_id),
        next_url=request.next_url() if next_url is None else next_url,
        nonce=nonce,
        met_services=gate.met_services.services(),
        region_mode=decision.mode,
        gpc_honoured=objection,
        consent_mode_default=values,
        extra_head=extra,
        banner_position=decision.rule.banner,
        choices_link_text=decision.link_text,
        exempt_services=decision.exempt,
    )


class MetServices:
    """The services the rewriter has actually met on this site's pages, for the preference centre.

    Bounded by the policy: only services it knows are kept.
    """

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._services: dict[str, Service] = {}
        self._listed: tuple[Service, ...] = ()  # the same tuple until a new service is met

    def record(self, finding: Finding) -> None:
        service_id = finding.service_id
        if service_id is None or service_id in self._services:
            return
        if self._policy.has_service(service_id):
            self._services[service_id] = self._policy.service(service_id)
            self._listed = tuple(self._services.values())

    def services(self) -> tuple[Service, ...]:
        return self._listed


@functools.lru_cache(maxsize=256)  # browsers and clients send a handful of distinct values
def _accepts_html(accept: bytes) -> bool:
    """Whether an Accept header admits HTML: a range that covers it with a q above 0."""
    for part in accept.decode("latin-1").lower().split(","):
        media, *params = part.split(";")
        if media.strip() in _HTML_RANGES:
            quality = "1"
            for param in params:
                name, _, value = param.partition("=")
                if name.strip() == "q":
                    quality = value.strip()
            try:
                if float(quality) > 0:
                    return True
            except ValueError:
                return True  # a q we cannot read: assume it admits
    return False


@functools.lru_cache(maxsize=256)
def _decodable_encodings(value: bytes) -> bytes:
    """Accept-Encoding without codings we cannot decode (br, zstd): the app then sends one we can."""
    kept = [
        part
        for part in value.decode("latin-1").split(",")
        if part.strip() and part.split(";")[0].strip().lower() in _DECODABLE_ENCODINGS
    ]
    return ",".join(kept).strip().encode("latin-1") if kept else b"identity"


def _charset(headers: RawHeaders) -> str | None:
    for key, value in headers:
        if key.lower() == b"content-type":
            return content_charset(value)
    return None


def _nonce_from_csp(headers: RawHeaders) -> str | None:
    """The app's CSP nonce, so the injected scripts run under ``strict-dynamic`` policies."""
    for key, value in headers:
        if key.lower() == b"content-security-policy":
            directives = {
                d.strip().partition(" ")[0].lower(): d
                for d in value.decode("latin-1").split(";")
                if d.strip()
            }
            for name in ("script-src-elem", "script-src", "default-src"):
                if name in directives:
                    match = _CSP_NONCE.search(directives[name])
                    return match.group(1) if match else None
    return None
