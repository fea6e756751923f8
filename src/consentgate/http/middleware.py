"""``ConsentGate``: the pure-ASGI middleware that enforces cookie consent in the response."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from consentgate.consent.cookie import ConsentCookie, CookieStatus
from consentgate.consent.state import Consent, new_consent_id
from consentgate.http.cookies import CookieFirewall, CookieInventory, CookieRecord, parse_cookie_headers
from consentgate.http.csrf import CsrfTokens
from consentgate.http.responder import BodyTransform, Responder, restore_if_none_match
from consentgate.http.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send, Sink
from consentgate.policy.model import CONSENT_MODE_TYPES, NECESSARY, Policy, RegionMode, Service

if TYPE_CHECKING:
    from consentgate.html.rules import Finding
    from consentgate.ui.render import RenderContext

__all__ = ["ConsentGate", "IpMode"]

logger = logging.getLogger("consentgate.http")

IpMode = Literal["none", "truncate", "hmac"]

# Request headers the middleware reads; one set probe per header keeps the non-HTML path cheap.
_READ = frozenset(
    {b"cookie", b"sec-gpc", b"dnt", b"accept", b"accept-encoding", b"if-none-match", b"if-modified-since",
     b"range", b"if-range"}
)  # fmt: skip
_DECODABLE_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate", "identity", "*"})
_PAGE_SUFFIXES = (".html", ".htm", ".xhtml", "/")
_CSP_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/_=-]{8,128})'")
_REGION_CODE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
_NO_EXTENSIONS = ("http.response.pathsend", "http.response.zerocopysend")


class ConsentGate:
    """Cookie consent enforced in the HTTP response.

    Wrap any ASGI app; put it *inside* a compressing middleware (GZip), so it sees plain HTML::

        app = ConsentGate(app, secret_keys=[os.environ["CONSENTGATE_KEY"]],
                          audit="sqlite:///var/consent.db")

    Every HTTP request gets ``scope["consentgate"]``, the visitor's ``Consent`` (see
    ``consentgate.http.fastapi`` for a FastAPI dependency). HTML pages are rewritten as they
    stream: trackers without consent are neutralised and the banner is injected. Every
    ``Set-Cookie`` of a service the visitor has not allowed is dropped, and cookies such a
    service already stored are expired. The consent endpoints live under ``prefix``.

    References:
    - ASGI HTTP and Lifespan specs; extensions ``http.response.pathsend``/``zerocopysend``
    - ePrivacy Directive art. 5(3); GDPR art. 7 (proof and withdrawal of consent)
    - W3C Global Privacy Control (``Sec-GPC``); RFC 9110 (caching, conditional requests)
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_keys: Sequence[str | bytes],
        policy: Policy | str | PathLike[str] | None = None,
        audit: str | Sink | None = None,
        audit_key: bytes | str | None = None,
        prefix: str = "/_consentgate",
        ip_mode: IpMode = "none",
        region_header: str | None = None,
        allowed_origins: Sequence[str] = (),
        csrf_max_age: int = 12 * 3600,
        max_body: int = 16 * 1024,
        on_cookie: Callable[[CookieRecord], None] | None = None,
        gpc_last_update: str | None = None,
    ) -> None:
        from consentgate.html.rules import Rules
        from consentgate.policy.load import load_dict, load_file
        from consentgate.ui.render import UI

        self.app = app
        if policy is None:
            policy = load_dict({})
        elif not isinstance(policy, Policy):
            policy = load_file(Path(policy))
        self.policy = policy
        keys = [secret_keys] if isinstance(secret_keys, str | bytes) else list(secret_keys)
        self.cookie = ConsentCookie(keys, policy)  # refuses missing or short keys, naming secret_keys
        self.csrf = CsrfTokens(keys, max_age=csrf_max_age)
        if (
            not prefix.startswith("/")
            or prefix.endswith("/")
            or not re.fullmatch(r"[A-Za-z0-9/_.-]+", prefix)
        ):
            raise ValueError(
                f"prefix must look like '/_consentgate' (leading slash, no trailing one), got {prefix!r}"
            )
        self.prefix = prefix
        self._prefix_slash = prefix + "/"
        if ip_mode not in ("none", "truncate", "hmac"):
            raise ValueError(f"ip_mode must be 'none', 'truncate' or 'hmac', got {ip_mode!r}")
        self.ip_mode: IpMode = ip_mode
        if max_body < 1024:
            raise ValueError(f"max_body must be at least 1024 bytes, got {max_body}")
        self.max_body = max_body
        self.region_header = region_header.lower().encode("latin-1") if region_header else None
        self._read = _READ | {self.region_header} if self.region_header else _READ
        self.allowed_origins = frozenset(_origin_key(origin) for origin in allowed_origins)
        if gpc_last_update is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", gpc_last_update):
            raise ValueError(f"gpc_last_update must be a date like '2026-11-01', got {gpc_last_update!r}")
        self.gpc_last_update = gpc_last_update

        self.rules = Rules.compile(policy)
        self.ui = UI(policy, prefix=prefix)
        self.counters: Counter[str] = Counter()
        self.cookies = CookieInventory(on_new=on_cookie)  # the audit sink observes it: set below
        self.firewall = CookieFirewall(
            policy, own_names={self.cookie.name(True), self.cookie.name(False)}, inventory=self.cookies
        )
        self.met_services = MetServices(policy)
        self.sale_share = frozenset(s.id for s in policy.services if s.sale_share)
        self._all_categories = frozenset(c.id for c in policy.categories)
        self._uk_statistics = frozenset(c.id for c in policy.categories if c.uk_statistics)
        self._consent_mode = {
            kind: frozenset(c.id for c in policy.categories if kind in c.consent_mode)
            for kind in CONSENT_MODE_TYPES
        }
        self._vary = ("Cookie", "Sec-GPC", "Accept-Language") + ((region_header,) if region_header else ())
        self._visitors: dict[tuple[bytes, bool, RegionMode, bool], Visitor] = {}
        self._no_choice: dict[tuple[RegionMode, bool], Consent] = {}
        for mode in ("opt_in", "uk_statistics", "opt_out", "notice"):
            for signal in (False, True):
                self._no_choice[(mode, signal)] = self._defaults(mode, signal)

        from consentgate.http.endpoints import AuditSetup, Endpoints

        self.audit = AuditSetup(audit, audit_key=audit_key, secret_key=keys[0])
        self.cookies.on_observe = self.audit.observe_cookie
        self.endpoints = Endpoints(self)

    # -- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.audit.lifecycle:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)  # websocket and anything newer: untouched
            return
        request = Request(self, scope)
        route = request.route
        if route.startswith(self._prefix_slash) or route == "/.well-known/gpc.json":
            await self.endpoints(request, receive, send)
            return
        child = request.app_scope()
        method = request.method
        responder = Responder(
            send,
            consent=request.consent,
            firewall=self.firewall,
            page=request if method == "GET" or method == "HEAD" else None,
            sweep=request.sweep() if request.visitor.blocked else (),
            counters=self.counters,
            head_only=method == "HEAD",
        )
        await self.app(child, receive, responder)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Observed only: every message goes through unchanged; the audit writer starts before the
        # app sees startup and is flushed before the server hears that shutdown is complete.
        async def observe_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.audit.start()
            return message

        async def observe_send(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.audit.stop()
            await send(message)

        await self.app(scope, observe_receive, observe_send)

    # -- consent resolution -----------------------------------------------------------------
    def _defaults(self, mode: RegionMode, objection: bool) -> Consent:
        """What applies before a choice: nothing under opt-in; everything under opt-out/notice."""
        categories: frozenset[str] = frozenset({NECESSARY})
        if mode == "uk_statistics":
            categories |= self._uk_statistics
        elif mode in ("opt_out", "notice"):
            categories = self._all_categories
        denied = self.sale_share if objection and mode == "opt_out" else frozenset()
        # One shared, immutable value per case: an empty id marks "no choice yet" and costs
        # nothing; a page that offers a choice mints the id it will be recorded under.
        return Consent(
            consent_id="",
            categories=categories,
            denied_services=denied,
            gpc_applied=bool(denied),
            service_categories=self.policy.service_categories,
        )

    def visitor(self, cookie_header: bytes, secure: bool, mode: RegionMode, objection: bool) -> Visitor:
        """The meaning of a ``Cookie`` header, from a bounded cache of recent ones."""
        key = (cookie_header, secure, mode, objection)
        visitor = self._visitors.get(key)
        if visitor is not None and (not visitor.consent.exists or visitor.consent.expires_at > time.time()):
            return visitor
        cookies = parse_cookie_headers(((b"cookie", cookie_header),)) if cookie_header else {}
        name = self.cookie.name
        value = cookies.get(name(secure)) or cookies.get(name(not secure))
        consent, status = self.resolve(value, mode=mode, objection=objection)
        blocked = tuple(name for name in cookies if self.firewall.decide(name, consent)[1] == "blocked")
        visitor = Visitor(cookies, consent, status, blocked)
        if len(cookie_header) <= 8192:
            if len(self._visitors) >= 1024:
                self._visitors.clear()  # cheaper than LRU bookkeeping on every request
            self._visitors[key] = visitor
        return visitor

    def resolve(
        self, value: str | None, *, mode: RegionMode, objection: bool
    ) -> tuple[Consent, CookieStatus]:
        if not value:
            return self._no_choice[(mode, objection)], "missing"
        consent, status = self.cookie.loads(value)
        if status != "ok":
            return self._no_choice[(mode, objection)], status
        if objection and mode == "opt_out" and not self.sale_share <= consent.denied_services:
            # A US opt-out signal wins over an earlier opt-in (CCPA regs 7025(c)(3)).
            consent = replace(
                consent, denied_services=consent.denied_services | self.sale_share, gpc_applied=True
            )
        return consent, status

    def consent_mode_default(self, consent: Consent) -> Mapping[str, str] | None:
        if self.policy.consent_mode.mode == "off":
            return None
        return {
            kind: "granted" if any(consent.allows(c) for c in categories) else "denied"
            for kind, categories in self._consent_mode.items()
        }


class Visitor(NamedTuple):
    """What one ``Cookie`` header means, cached: most requests repeat the previous one's."""

    cookies: Mapping[str, str]  # shared between requests: read only
    consent: Consent
    status: CookieStatus
    blocked: tuple[str, ...]  # cookies the browser sent that this consent does not allow


class Request:
    """One request as the middleware sees it: headers read in a single pass, the visitor's
    consent, and (for GET/HEAD) what a rewritten page needs: it is the responder's ``Page``."""

    __slots__ = (
        "_found",
        "_locale",
        "_suffix",
        "child",
        "consent",
        "cookie_status",
        "cookies",
        "dnt",
        "etag_translated",
        "gate",
        "gpc",
        "method",
        "mode",
        "objection",
        "region",
        "region_source",
        "route",
        "scope",
        "secure",
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
        found: dict[bytes, bytes] = {}
        cookie_header = b""
        gpc = False
        wanted = gate._read
        for name, value in scope["headers"]:
            if name in wanted:
                if name == b"cookie":
                    cookie_header = value if not cookie_header else cookie_header + b"; " + value
                elif name == b"sec-gpc":
                    gpc = gpc or value.strip() == b"1"  # exactly "1", in any of several fields
                elif name not in found:
                    found[name] = value
        self._found = found
        self._locale: str | None = None
        self._suffix: str | None = None
        self.etag_translated = False
        self.gpc = gpc
        self.dnt = dnt = b"dnt" in found and found[b"dnt"].strip() == b"1"
        policy = gate.policy
        if gate.region_header is None:
            self.region, self.region_source, mode = "", "default", policy.default_region_mode
        else:
            self.region, self.region_source, mode = _region(policy, gate.region_header, found)
        self.mode = mode
        # An automated opt-out signal the policy honours: GPC, and DNT where configured.
        self.objection = objection = policy.gpc and (
            gpc or (dnt and (policy.dnt == "like_gpc" or (policy.dnt == "auto" and mode != "opt_out")))
        )
        self.visitor = visitor = gate.visitor(cookie_header, secure, mode, objection)
        self.cookies = visitor.cookies
        self.consent = visitor.consent
        self.cookie_status = visitor.status

    def header(self, name: bytes) -> str:
        value = self._found.get(name)
        if value is None:
            for key, raw in self.scope["headers"]:
                if key == name:
                    value = raw
                    break
        return value.decode("latin-1") if value is not None else ""

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
        from consentgate.consent.useragent import is_bot

        return is_bot(self.user_agent)

    def locale(self, override: str | None = None) -> str:
        if override:
            return self.gate.ui.negotiate(self.header(b"accept-language") or None, override)
        if self._locale is None:
            self._locale = self.gate.ui.negotiate(self.header(b"accept-language") or None)
        return self._locale

    def sweep(self, consent: Consent | None = None) -> list[str]:
        """Expiring Set-Cookie lines for the cookies this browser holds that ``consent`` forbids."""
        if consent is None:
            if not self.visitor.blocked:
                return []
            names: Iterable[str] = self.visitor.blocked
            consent = self.consent
        else:
            names = self.cookies
        return self.gate.firewall.sweep(names, consent, host=lambda: self.host, secure=self.secure)

    def next_url(self) -> str:
        query = self.scope.get("query_string", b"")
        path: str = self.scope.get("raw_path", b"").decode("latin-1") or self.scope["path"]
        return path + ("?" + query.decode("latin-1") if query else "")

    def app_scope(self) -> Scope:
        """A copy of the scope for the app (never the server's own dict), holding the consent."""
        scope = self.scope
        self.child = child = {**scope, "consentgate": self.consent}
        if self.method != "GET" and self.method != "HEAD":
            return child
        found = self._found
        navigation = b"html" in found.get(b"accept", b"") or self.route.endswith(_PAGE_SUFFIXES)
        if not navigation and b"-cg" not in found.get(b"if-none-match", b""):
            return child
        headers = _request_headers_for_app(self, navigation)
        if headers is not None:
            child["headers"] = headers
        extensions = scope.get("extensions")
        if navigation and extensions and any(key in extensions for key in _NO_EXTENSIONS):
            # Without pathsend the app streams files as body messages we can rewrite.
            child["extensions"] = {k: v for k, v in extensions.items() if k not in _NO_EXTENSIONS}
        return child

    # -- the responder's Page ---------------------------------------------------------------
    @property
    def vary(self) -> Sequence[str]:
        return self.gate._vary

    def etag_suffix(self) -> str:
        """A short name for everything a rewritten page depends on."""
        if self._suffix is None:
            consent = self.consent
            parts = (
                ",".join(sorted(consent.categories)),
                ",".join(sorted(consent.services)),
                ",".join(sorted(consent.denied_services)),
                str(consent.exists),
                str(self.is_bot),
                self.locale(),
                self.mode,
                str(self.objection),
                # Pages carry a CSRF token: a page older than half its lifetime is not revalidated.
                str(int(time.time()) // max(1, self.gate.csrf.max_age // 2)),
            )
            self._suffix = hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]
        return self._suffix

    def transform(self, headers: RawHeaders) -> BodyTransform:
        from consentgate.html.rewriter import HtmlRewriter

        gate = self.gate
        nonce = self.child.get("csp_nonce") or _nonce_from_csp(headers)
        ctx = render_context(gate, self, nonce=nonce if isinstance(nonce, str) else None)
        consent = self.consent
        ui = gate.ui

        def allows(service_id: str | None, category: str) -> bool:
            return consent.allows_service(service_id, category) if service_id else consent.allows(category)

        def placeholder(finding: Finding) -> bytes:
            return ui.placeholder(finding, ctx)

        rewriter: BodyTransform = HtmlRewriter(
            gate.rules,
            allows,
            head_snippet=ui.head(ctx),
            body_snippet=ui.body(ctx),
            placeholder=placeholder,
            on_finding=gate.met_services.record,
            page_host=self.host or None,
            charset=_charset(headers),
        )
        return rewriter


def _region(policy: Policy, header: bytes, found: Mapping[bytes, bytes]) -> tuple[str, str, RegionMode]:
    code = found.get(header, b"").strip().upper().decode("latin-1")
    if _REGION_CODE.fullmatch(code):
        rule = policy.regions.get(code) or policy.regions.get(code[:2])
        return code, "header:" + header.decode("latin-1"), rule.mode if rule else policy.default_region_mode
    return "", "default", policy.default_region_mode


def _request_headers_for_app(request: Request, navigation: bool) -> RawHeaders | None:
    """The request headers the app should see, or None when they need no change.

    For a page we might rewrite: no encoding we cannot decode, no conditional request that could
    answer 304 for a page cached under another consent state, no byte range of the unrewritten
    page.
    """
    changed = False
    headers: RawHeaders = []
    for name, value in request.scope["headers"]:
        if name == b"if-none-match":
            etags, translated = restore_if_none_match(
                value.decode("latin-1"), request.etag_suffix, drop_foreign=navigation
            )
            request.etag_translated = translated
            changed = True
            if etags is not None:
                headers.append((name, etags.encode("latin-1")))
            continue
        if navigation:
            if name == b"accept-encoding":
                kept = _decodable_encodings(value)
                if kept != value:
                    changed = True
                    headers.append((name, kept))
                    continue
            elif name in (b"if-modified-since", b"range", b"if-range"):
                changed = True
                continue
        headers.append((name, value))
    return headers if changed else None


def _decodable_encodings(value: bytes) -> bytes:
    """Accept-Encoding without codings we cannot decode (br, zstd): the app then sends one we can."""
    kept = [
        part
        for part in value.decode("latin-1").split(",")
        if part.strip() and part.split(";")[0].strip().lower() in _DECODABLE_ENCODINGS
    ]
    return ",".join(kept).strip().encode("latin-1") if kept else b"identity"


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


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
    """Everything the UI needs for one page; mints the consent id a first-time visitor will get."""
    from consentgate.ui.render import RenderContext

    consent = request.consent if consent is None else consent
    if not consent.consent_id:
        consent = replace(consent, consent_id=new_consent_id())
    if show_banner is None:
        show_banner = not consent.exists and request.mode != "opt_out" and not request.is_bot
    return RenderContext(
        consent=consent,
        locale=locale or request.locale(),
        csrf_token=gate.csrf.issue(consent.consent_id),
        next_url=request.next_url() if next_url is None else next_url,
        nonce=nonce,
        met_services=gate.met_services.services(),
        region_mode=request.mode,
        gpc_honoured=request.objection and (consent.gpc_applied or not consent.exists),
        show_banner=show_banner,
        consent_mode_default=gate.consent_mode_default(consent),
        extra_head="",
    )


def _charset(headers: RawHeaders) -> str | None:
    for key, value in headers:
        if key.lower() == b"content-type":
            for param in value.decode("latin-1").split(";")[1:]:
                name, _, charset = param.partition("=")
                if name.strip().lower() == "charset":
                    return charset.strip().strip('"') or None
    return None


def _nonce_from_csp(headers: RawHeaders) -> str | None:
    """The app's CSP nonce, so the injected script runs under ``strict-dynamic`` policies."""
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


class MetServices:
    """The services the rewriter has actually met on this site's pages, for the preference centre.

    Bounded by the policy: only services the policy or catalog knows are kept.
    """

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._services: dict[str, Service] = {}

    def record(self, finding: Finding) -> None:
        service_id = finding.service_id
        if service_id is None or service_id in self._services:
            return
        if self._policy.has_service(service_id):
            self._services[service_id] = self._policy.service(service_id)

    def services(self) -> tuple[Service, ...]:
        return tuple(self._services.values())
