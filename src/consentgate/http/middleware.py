"""``ConsentGate``: the pure-ASGI middleware that enforces cookie consent in the response."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from consentgate.consent.cookie import UNREADABLE, ConsentCookie
from consentgate.http.cookies import CookieFirewall, CookieInventory, CookieRecord, parse_cookie_headers
from consentgate.http.csp import CspBuilder
from consentgate.http.csp_endpoint import CspReportEndpoint
from consentgate.http.csrf import CsrfTokens
from consentgate.http.request import MetServices, PageContext, Request, Visitor
from consentgate.http.responder import Responder
from consentgate.http.types import ASGIApp, Message, Receive, Scope, Send, Sink
from consentgate.policy.model import Policy

if TYPE_CHECKING:
    from consentgate.consent.signals import RegionResolver, Signals
    from consentgate.html.rules import Rules

__all__ = ["ConsentGate", "IpMode"]

logger = logging.getLogger("consentgate.http")

IpMode = Literal["none", "truncate", "hmac"]

_PREFIX = re.compile(r"/[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*")
# (granted categories, granted services, denied services, a choice exists) of the consent, then
# is_bot, locale, region mode, objection, CSRF period, fetched by a script, framed: never a
# visitor's id.
VariantKey = tuple[
    frozenset[str], frozenset[str], frozenset[str], bool, bool, str, str, bool, int, bool, bool
]


class ConsentGate:
    """Cookie consent enforced in the HTTP response.

    Wrap any ASGI app; put it *inside* a compressing middleware (GZip), so it sees plain HTML::

        app = ConsentGate(app, secret_keys=[os.environ["CONSENTGATE_KEY"]],
                          audit="sqlite:///var/consent.db")

    Every HTTP request gets ``scope["consentgate"]``, the visitor's effective ``Consent`` (see
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
        trusted_proxies: Sequence[str] = (),
        region_resolver: RegionResolver | None = None,
        allowed_origins: Sequence[str] = (),
        csrf_max_age: int = 12 * 3600,
        max_body: int = 16 * 1024,
        on_cookie: Callable[[CookieRecord], None] | None = None,
        gpc_last_update: str | None = None,
        extra_head: Callable[[PageContext], str] | None = None,
        durable_timeout: float = 5.0,
    ) -> None:
        from consentgate.consent.consent_mode import ConsentMode
        from consentgate.consent.jurisdiction import Jurisdiction
        from consentgate.consent.signals import RegionReader, Signals, gpc_support_resource
        from consentgate.html.rules import Rules
        from consentgate.http.endpoints import AuditSetup, Endpoints
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
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"prefix must be a path like '/_consentgate' (no trailing slash), got {prefix!r}"
            )
        self.prefix = prefix
        self._prefix_slash = prefix + "/"
        if ip_mode not in ("none", "truncate", "hmac"):
            raise ValueError(f"ip_mode must be 'none', 'truncate' or 'hmac', got {ip_mode!r}")
        self.ip_mode: IpMode = ip_mode
        if max_body < 1024:
            raise ValueError(f"max_body must be at least 1024 bytes, got {max_body}")
        self.max_body = max_body
        if extra_head is not None and not callable(extra_head):
            raise ValueError(f"extra_head must be a callable PageContext -> str, got {extra_head!r}")
        self.extra_head = extra_head
        self.allowed_origins = frozenset(origin.strip().rstrip("/").lower() for origin in allowed_origins)
        self.regions = RegionReader(
            region_header=region_header, trusted_proxies=trusted_proxies, region_resolver=region_resolver
        )
        self.region_configured = self.regions.configured
        # Built now so a bad date stops start-up; None when the policy does not honour GPC.
        self.gpc_json = (
            gpc_support_resource(gpc_last_update, policy_version=policy.version) if policy.gpc else None
        )
        self.jurisdiction = Jurisdiction(policy)
        self.consent_mode = ConsentMode(policy)
        self.signals: dict[tuple[bool, bool], Signals] = {
            (gpc, dnt): Signals(gpc=gpc, dnt=dnt) for gpc in (False, True) for dnt in (False, True)
        }

        self.rules = Rules.compile(policy)
        _warm_up(self.rules)
        self.ui = UI(policy, prefix=prefix)
        self.counters: Counter[str] = Counter()
        self.cookies = CookieInventory(on_new=on_cookie)
        self.firewall = CookieFirewall(
            policy, own_names={self.cookie.name(True), self.cookie.name(False)}, inventory=self.cookies
        )
        self.met_services = MetServices(policy)
        # (HX-Request, X-Requested-With: a piece of a page fetched by a script gets no banner.
        # Not Sec-Fetch-Dest, which a <link rel=prefetch> sends as "empty": the navigation
        # would then never use the prefetched page; the ETag variant tells them apart.)
        self.vary = (
            "Cookie",
            "Sec-GPC",
            "DNT",
            "Accept-Language",
            "HX-Request",
            "X-Requested-With",
            *self.regions.header_names,
        )
        # key -> (visitor, the time it stops being valid: when the consent cookie expires)
        self._visitors: dict[tuple[bytes, bool, str, bool, bool], tuple[Visitor, float]] = {}
        self._variant_tags: dict[VariantKey, str] = {}
        self.audit = AuditSetup(
            audit, audit_key=audit_key, secret_key=keys[0], durable_timeout=durable_timeout
        )
        self.cookies.on_observe = self.audit.observe_cookie
        self.endpoints = Endpoints(self)
        # The consent-derived CSP (docs/csp.md): one builder, one report endpoint; None when off.
        self.csp: CspBuilder | None = None
        self.csp_reports: CspReportEndpoint | None = None
        if policy.csp != "off":
            self.csp = CspBuilder(policy, mode=policy.csp, prefix=prefix, secret_keys=keys)
            self.csp_reports = CspReportEndpoint(policy, self.csp, self.audit, counters=self.counters)

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
        visitor = request.visitor
        set_cookies: Sequence[str] = request.sweep() if visitor.blocked else ()
        if request.decision.persist is not None:
            set_cookies = [*set_cookies, *await self.endpoints.persist_decision(request)]
        if visitor.status in UNREADABLE and request.page_navigation and not request.is_bot:
            await self.audit.start()  # so that finish_headers, which cannot await, can enqueue
            request.unreadable_pending = True
        child = request.app_scope()
        # Bound to what this browser holds: the CNIL-exempt cookies' 13 months run from then.
        firewall = self.firewall
        if firewall.binds:
            firewall = firewall.bind(visitor.cookies, secure=request.secure)
        # Any method's answer may be a page (a form shown again, a "thank you" page): each is
        # rewritten; the ETag and 304 rules apply to GET and HEAD only (Request.cacheable).
        responder = Responder(
            send, request.consent, firewall, request, set_cookies, self.counters, request.method == "HEAD"
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

    # -- per-visitor caches -----------------------------------------------------------------
    def visitor(self, cookie_header: bytes, secure: bool, region: str, gpc: bool, dnt: bool) -> Visitor:
        """What a ``Cookie`` header means in a region, from a bounded cache of recent ones."""
        key = (cookie_header, secure, region, gpc, dnt)
        cached = self._visitors.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        cookies = parse_cookie_headers(((b"cookie", cookie_header),)) if cookie_header else {}
        value = self.cookie.value(cookies, secure=secure)
        stored, status = self.cookie.loads(value)
        # Bots are told apart later, and only where it matters (banner, stored opt-outs).
        decision = self.jurisdiction.decide(stored, region=region, signals=self.signals[(gpc, dnt)])
        consent = decision.consent
        blocked = tuple(name for name in cookies if self.firewall.decide(name, consent)[1] == "blocked")
        visitor = Visitor(cookies, stored, status, decision, blocked)
        # A decision that stores something is one-off: the next request carries the new cookie.
        if decision.persist is None and len(cookie_header) <= 8192:
            if len(self._visitors) >= 1024:
                self._visitors.clear()  # cheaper than LRU bookkeeping on every request
            self._visitors[key] = (visitor, stored.expires_at if stored.exists else math.inf)
        return visitor

    def variant_tag(self, key: VariantKey) -> str:
        """A short stable name for one variant of a rewritten page (the ETag suffix)."""
        tag = self._variant_tags.get(key)
        if tag is None:
            parts = (
                ",".join(sorted(key[0])),
                ",".join(sorted(key[1])),
                ",".join(sorted(key[2])),
                *map(str, key[3:]),
            )
            # sha256, not hash(): every worker and restart must name a variant the same way.
            tag = hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]
            if len(self._variant_tags) >= 1024:
                self._variant_tags.clear()
            self._variant_tags[key] = tag
        return tag


# A page that takes the rewriter through the states of a real one, so that the scanners it
# compiles lazily (large regexes: up to a second or two of CPU, once per process) are built
# while the app starts, not on a visitor's first page, where they would stall the event loop.
_WARM_UP_PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8><title>t</title>"
    b'<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"<script>fbq('init','1');</script><style>p{}</style></head><body>"
    b'<noscript><img src="https://www.facebook.com/tr?id=1"></noscript>'
    b'<iframe src="https://www.youtube.com/embed/x"></iframe><a href="/" ping="https://t.example/p">a</a>'
    b"<svg><script>1</script></svg><p>text</p></body></html>"
)


def _warm_up(rules: Rules) -> None:
    from consentgate.consent.useragent import crawler_pattern
    from consentgate.html.rewriter import HtmlRewriter

    def deny(service: str | None, category: str) -> bool:
        return False

    def grant(service: str | None, category: str) -> bool:
        return True

    try:
        for allows in (deny, grant):
            rewriter = HtmlRewriter(rules, allows, head_snippet=b"<!---->", body_snippet=b"<!---->")
            rewriter.feed(_WARM_UP_PAGE)
            rewriter.close()
        # The crawler list's regex (≈ 25 ms), which the first page's bot check would build.
        crawler_pattern()
    except Exception:  # a warm-up never stops the app: the first page pays, or fails closed
        logger.exception("consentgate: the rewriter's warm-up failed")
