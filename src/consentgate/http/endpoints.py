"""The middleware's own routes under the prefix: save a choice, read the state, the preference
centre, static assets, the visitor's receipt; plus ``/.well-known/gpc.json``.

A change of consent is a write that becomes legal evidence, so the save endpoint refuses what a
forged or confused request could carry: another site's origin (403), a form without a valid
token bound to this visitor (403), a body over the limit (413), a content type it does not read
(415), a malformed body (400). Each refusal states its reason and changes nothing; a form posted
without JavaScript gets the reason on the preferences page, with a fresh form to choose again.

References: Fetch Metadata (``Sec-Fetch-Site``); RFC 6454 (``Origin``); OWASP "Unvalidated
Redirects and Forwards"; W3C GPC (``/.well-known/gpc.json``); GDPR art. 7(1) and 7(3).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urlsplit

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.audit.minimise import EventBuilder
from consentgate.consent.state import Consent, Source, new_consent_id
from consentgate.html.rules import UNKNOWN_CATEGORY
from consentgate.http.body import Refused, read_body
from consentgate.http.request import render_context
from consentgate.http.types import Receive, Send, Sink

if TYPE_CHECKING:
    from consentgate.audit.events import Action
    from consentgate.http.middleware import ConsentGate
    from consentgate.http.request import Request

__all__ = ["AuditSetup", "Endpoints", "safe_next"]

logger = logging.getLogger("consentgate.http")

ACTIONS = ("accept_all", "reject_all", "save", "withdraw")
_UI_ACTION = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_STATIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_NO_STORE = (b"cache-control", b"no-store")
# Pages with the consent forms are never framed by another site (clickjacking a choice).
_OWN_FRAMES = [(b"x-frame-options", b"SAMEORIGIN"), (b"content-security-policy", b"frame-ancestors 'self'")]


@dataclass(frozen=True)
class Choice:
    """A parsed consent request."""

    action: Literal["accept_all", "reject_all", "save", "withdraw"]
    categories: frozenset[str]
    granted: frozenset[str]
    denied: frozenset[str]
    csrf: str
    ui_action: str
    next_url: str | None  # form posts only
    gpc: bool = False  # the page's navigator.globalPrivacyControl, reported by the runtime


class Endpoints:
    def __init__(self, gate: ConsentGate) -> None:
        self.gate = gate
        self.policy = gate.policy
        self.events = EventBuilder(gate.policy, ip_mode=gate.ip_mode, ip_key=gate.audit.ip_key)
        self._categories = {c.id for c in gate.policy.categories}
        # "Load content" on an unknown host's frame grants the category it counts as (ui/render.py).
        self._unknown = gate.ui.unknown_category
        self._required = frozenset(c.id for c in gate.policy.categories if c.required) | {"necessary"}
        ui = gate.ui
        # Content-hashed asset names never change content, so browsers may keep them for a year.
        self._hashed_assets = {ui.asset_url("js").rpartition("/")[2], ui.asset_url("css").rpartition("/")[2]}

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        route = request.route
        method = request.method
        if route == "/.well-known/gpc.json":
            if self.gate.gpc_json is None:
                await _send(send, 404, b"Not Found", "text/plain; charset=utf-8")
            elif method in ("GET", "HEAD"):
                await self._gpc(send, head=method == "HEAD")
            else:
                await _not_allowed(send, "GET, HEAD")
            return
        name = route[len(self.gate.prefix) :]
        if name == "/consent":
            if method == "POST":
                await self._save(request, receive, send)
            else:
                await _not_allowed(send, "POST")
        elif name == "/csp-report" and self.gate.csp_reports is not None:
            await self.gate.csp_reports(request, receive, send)  # docs/csp.md
        elif name in ("/state", "/preferences", "/receipt") or name.startswith("/static/"):
            if method not in ("GET", "HEAD"):
                await _not_allowed(send, "GET, HEAD")
            elif name == "/state":
                await self._state(request, send)
            elif name == "/preferences":
                await self._preferences(request, send)
            elif name == "/receipt":
                await self._receipt(request, send)
            else:
                await self._static(name[len("/static/") :], send, head=method == "HEAD")
        else:
            await _send(send, 404, b"Not Found", "text/plain; charset=utf-8")

    # -- reading ----------------------------------------------------------------------------
    async def _state(self, request: Request, send: Send) -> None:
        ctx = render_context(self.gate, request, show_banner=False, next_url="")
        body = json.dumps(self.gate.ui.state_json(ctx), separators=(",", ":")).encode()
        await _send(send, 200, b"" if request.method == "HEAD" else body, "application/json", [_NO_STORE])

    async def _preferences(self, request: Request, send: Send) -> None:
        query = dict(parse_qsl(request.scope.get("query_string", b"").decode("latin-1")))
        next_url = self._back(request, query.get("next"))
        ctx = render_context(
            self.gate,
            request,
            show_banner=False,
            next_url=next_url,
            locale=request.locale(query.get("lang")) if query.get("lang") else None,
        )
        body = self.gate.ui.preferences_page(ctx)
        headers = [_NO_STORE, (b"vary", b"Cookie, Accept-Language"), *_OWN_FRAMES]
        await _send(send, 200, b"" if request.method == "HEAD" else body, "text/html; charset=utf-8", headers)

    def _back(self, request: Request, next_url: str | None) -> str:
        """Where a form sends the visitor back: ``next`` when given, else the page the visitor came
        from (a plain "Cookie settings" link names none), never one of our own routes."""
        host = request.header(b"host")
        if next_url is None:
            next_url = safe_next(request.header(b"referer"), host)
            own = f"{request.scope.get('root_path', '')}{self.gate.prefix}/"
            return "/" if next_url.startswith(own) else next_url
        return safe_next(next_url, host)

    async def _static(self, name: str, send: Send, *, head: bool) -> None:
        asset = self.gate.ui.asset(name) if _STATIC_NAME.fullmatch(name) else None
        if asset is None:
            await _send(send, 404, b"Not Found", "text/plain; charset=utf-8")
            return
        body, content_type = asset
        cache = (
            "public, max-age=31536000, immutable" if name in self._hashed_assets else "public, max-age=300"
        )
        headers = [(b"cache-control", cache.encode()), (b"x-content-type-options", b"nosniff")]
        await _send(send, 200, b"" if head else body, content_type, headers, length=len(body))

    async def _receipt(self, request: Request, send: Send) -> None:
        consent = request.consent
        if request.cookie_status != "ok":
            await _error(send, request, 404, "this browser has no recorded consent")
            return
        events = await self.gate.audit.receipt(consent.consent_id)
        if events is None:
            await _error(send, request, 404, "receipts are not available: the audit log is not readable here")
            return
        body = json.dumps({"consentId": consent.consent_id, "events": events}, separators=(",", ":"))
        await _send(
            send, 200, b"" if request.method == "HEAD" else body.encode(), "application/json", [_NO_STORE]
        )

    async def _gpc(self, send: Send, *, head: bool) -> None:
        body = self.gate.gpc_json or b""
        await _send(send, 200, b"" if head else body, "application/json", length=len(body))

    # -- saving -----------------------------------------------------------------------------
    async def persist_decision(self, request: Request) -> list[str]:
        """Prepare to store what the region rules decided on their own (a US opt-out from GPC).

        Only a page navigation stores it, and only when its response is a page we rewrite
        (``store_decision``, called from ``Request.finish_headers``): otherwise every image,
        fetch() call or cookieless client carrying ``Sec-GPC`` would mint a consent id and an
        audit record of its own. The decision applies to every response regardless. Returns the
        Set-Cookie lines to add now: none, the line comes with the page.
        """
        decision = request.decision
        if decision.persist is None or decision.event is None or not request.page_navigation:
            return []
        await self.gate.audit.start()  # so that store_decision, which cannot await, can enqueue
        request.persist_pending = True
        return []

    def store_decision(self, request: Request) -> str | None:
        """Record the region's decision and return its Set-Cookie line; None for a crawler or
        when the audit queue refuses the record."""
        decision = request.decision
        consent = decision.persist
        if consent is None or decision.event is None:
            return None
        # (A signal that withdraws grants made without a decision leaves them without one.)
        detail = {"decision": "pending"} if consent.undecided else None
        event = consent_event(self.gate, request, consent, decision.event, page=request.route, detail=detail)
        if event is None:  # a crawler, told apart only now: nothing stored for it
            return None
        if not self.gate.audit.enqueue(event, lambda: self.gate.ui.notice(event.locale)):
            # The opt-out still applies to this response; it is stored once it can be proven.
            self.gate.counters["consent_unrecorded"] += 1
            return None
        return self.gate.cookie.set_cookie(consent, secure=request.secure)

    def record_unreadable(self, request: Request) -> str | None:
        """Record that the consent cookie a visitor sent was expired (``expired``, under its own
        consent id) or did not verify (``invalid_cookie``, under a fresh id: an unverified id is
        never written to the log); the visitor was treated as having made no choice. Returns
        the Set-Cookie line that expires it, so it is recorded once; None for a crawler or when
        the audit queue refuses (the cookie stays, and is recorded on a later page)."""
        status = request.cookie_status
        stored = request.visitor.stored
        if status == "expired":
            raw = self.gate.cookie.value(request.cookies, secure=request.secure)
            consent_id = self.gate.cookie.signed_id(raw or "") or new_consent_id()
            action: Action = "expired"
        else:
            consent_id, action = new_consent_id(), "invalid_cookie"
        consent = dataclass_replace(stored, consent_id=consent_id)
        event = consent_event(
            self.gate, request, consent, action, page=request.route, detail={"cookie": status}
        )
        if event is None:
            return None
        self.gate.counters[f"consent_cookie_{status}"] += 1
        if not self.gate.audit.enqueue(event, lambda: self.gate.ui.notice(event.locale)):
            self.gate.counters["consent_unrecorded"] += 1
            return None
        return self.gate.cookie.delete_cookie(secure=request.secure)

    async def _save(self, request: Request, receive: Receive, send: Send) -> None:
        choice: Choice | None = None
        try:
            own_page = _check_origin(request, self.gate.allowed_origins)
            kind = _content_kind(request.header(b"content-type"))
            body = await read_body(request, receive, self.gate.max_body)
            if body is None:
                return  # the client went away: nothing to answer, nothing changed
            choice = self._parse(body, kind, request)
            consent_id = self._consent_id(choice, request, form=kind == "form", own_page=own_page)
        except Refused as refused:
            self.gate.counters["consent_refused"] += 1
            await self._refuse(send, request, refused, choice)
            return
        consent, action = self._apply(choice, request, consent_id)
        await self.gate.audit.start()  # no-op when lifespan already started it
        if request.is_bot:
            self.gate.counters["bot_choices"] += 1  # crawlers leave no audit record
            self.gate.audit.skip_bot()
        elif (unrecorded := await self._record(request, consent, action, choice)) is not None:
            # Refuse rather than set a cookie nobody can prove later: the visitor's state is unchanged.
            self.gate.counters["consent_unrecorded"] += 1
            reason = f"the choice could not be recorded ({unrecorded}); please try again"
            await self._refuse(send, request, Refused(503, reason), choice)
            return
        headers: list[tuple[bytes, bytes]] = [_NO_STORE]
        headers.append(
            (b"set-cookie", self.gate.cookie.set_cookie(consent, secure=request.secure).encode("latin-1"))
        )
        if consent.undecided:
            # Grants without a decision: what the next page gets is what runs before a choice
            # here plus them (the UK statistics keep their cookies), and the banner still asks.
            consent = self.gate.jurisdiction.decide(
                consent,
                region=request.region.code,
                signals=self.gate.signals[(request.gpc, request.dnt)],
                is_bot=request.is_bot,
            ).consent
        headers += [(b"set-cookie", line.encode("latin-1")) for line in request.sweep(consent)]
        if choice.next_url is not None:
            location = quote(choice.next_url, safe="!#$%&'()*+,/:;=?@[]~")
            await _send(
                send, 303, b"", "text/plain; charset=utf-8", [*headers, (b"location", location.encode())]
            )
            return
        ctx = render_context(self.gate, request, consent=consent, show_banner=False, next_url="")
        body_out = json.dumps({"state": self.gate.ui.state_json(ctx)}, separators=(",", ":")).encode()
        await _send(send, 200, body_out, "application/json", headers)

    async def _refuse(self, send: Send, request: Request, refused: Refused, choice: Choice | None) -> None:
        """The reason, as JSON for the runtime; without JavaScript the preferences page says it,
        with a fresh form (a stale page's form would only be refused again) and a way back."""
        if _wants_json(request):
            await _error(send, request, refused.status, refused.reason)
            return
        next_url = choice.next_url if choice is not None and choice.next_url is not None else None
        ctx = render_context(self.gate, request, show_banner=False, next_url=self._back(request, next_url))
        body = self.gate.ui.preferences_page(ctx, error=refused.reason)
        await _send(send, refused.status, body, "text/html; charset=utf-8", [_NO_STORE, *_OWN_FRAMES])

    async def _record(self, request: Request, consent: Consent, action: Action, choice: Choice) -> str | None:
        """None once the event is recorded (durably, when the sink can tell); else why not."""
        page = choice.next_url if choice.next_url is not None else _referer_path(request)
        detail = {"nav_gpc": "true"} if choice.gpc else {}
        exempt = request.decision.exempt
        if consent.undecided:
            # "Load content" before any choice: what it does not grant was not asked yet, so it
            # is no objection either (to the UK statistics, to the French exempt measurement).
            detail["decision"] = "pending"
            exempt = frozenset()
        elif request.decision.mode == "uk_statistics":
            # UK (PECR Sch. A1): a flagged statistics category left off is the visitor's objection
            # to the statistical exception, named so that the record shows it as one (CG-52).
            objected_uk = sorted(c for c in self.gate.jurisdiction.uk_statistics if not consent.allows(c))
            if objected_uk:
                detail["uk_objection"] = ",".join(objected_uk)
        if exempt:
            # France: a choice that leaves a CNIL-exempt audience service off is the visitor's
            # objection to it (art. 21), named here whether or not JavaScript sent the choice.
            categories = self.gate.policy.service_categories
            objected = sorted(
                sid for sid in exempt if not consent.allows_service(sid, categories.get(sid, ""))
            )
            if objected:
                detail["cnil_objection"] = ",".join(objected)
        ui_action = choice.ui_action
        if (
            exempt
            and objected
            and ui_action
            and not ui_action.endswith(".cnil_object")
            and any(request.consent.allows_service(sid, categories.get(sid, "")) for sid in objected)
        ):
            # The control is marked too (as runtimes before this one marked their own posts): a
            # choice that turns off exempt measurement that was on, judged by what is stored now.
            ui_action = f"{ui_action}.cnil_object"[:64]
        event = consent_event(
            self.gate, request, consent, action, ui_action=ui_action, page=page, detail=detail
        )
        if event is None:
            return None  # a crawler: nothing to record (the caller checked is_bot already)
        return await self.gate.audit.record(event, lambda: self.gate.ui.notice(event.locale))

    def _parse(self, body: bytes, kind: Literal["json", "form"], request: Request) -> Choice:
        if kind == "json":
            return self._parse_json(body)
        try:
            text = body.decode("utf-8")
            fields = parse_qsl(text, keep_blank_values=True, max_num_fields=256)
        except (UnicodeDecodeError, ValueError) as error:
            raise Refused(400, f"malformed form body: {error}") from None
        values: dict[str, list[str]] = {}
        for key, value in fields:
            values.setdefault(key, []).append(value)
        action = (values.get("action") or [""])[0]
        return self._choice(
            action,
            categories=values.get("category", []),
            granted=values.get("service", []),
            denied=[],
            csrf=(values.get("csrf") or [""])[0],
            ui_action=(values.get("ui") or [""])[0],
            next_url=self._back(request, values["next"][0] if "next" in values else None),
        )

    def _parse_json(self, body: bytes) -> Choice:
        try:
            data = json.loads(body)
        except ValueError as error:  # also UnicodeDecodeError
            raise Refused(400, f"malformed JSON: {error}") from None
        except RecursionError:  # ~1000 nested arrays fit in a small body
            raise Refused(400, "malformed JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise Refused(400, "the JSON body must be an object")
        categories = data.get("categories", [])
        services = data.get("services", {})
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise Refused(400, "'categories' must be a list of category ids")
        if not isinstance(services, dict) or not all(isinstance(v, bool) for v in services.values()):
            raise Refused(400, "'services' must map service ids to true or false")
        action, csrf, ui_action = data.get("action"), data.get("csrf", ""), data.get("ui", "")
        if not isinstance(action, str) or not isinstance(csrf, str) or not isinstance(ui_action, str):
            raise Refused(400, "'action', 'csrf' and 'ui' must be strings")
        gpc = data.get("gpc", False)
        if not isinstance(gpc, bool):
            raise Refused(400, "'gpc' must be true or false")
        return self._choice(
            action,
            categories=categories,
            granted=[sid for sid, on in services.items() if on],
            denied=[sid for sid, on in services.items() if not on],
            csrf=csrf,
            ui_action=ui_action,
            next_url=None,
            gpc=gpc,
        )

    def _choice(
        self,
        action: str,
        *,
        categories: Sequence[str],
        granted: Sequence[str],
        denied: Sequence[str],
        csrf: str,
        ui_action: str,
        next_url: str | None,
        gpc: bool = False,
    ) -> Choice:
        if action not in ACTIONS:
            raise Refused(400, f"'action' must be one of {', '.join(ACTIONS)}")
        if self._unknown is not None and UNKNOWN_CATEGORY not in self._categories:
            # A page served before the placeholder named the category it grants (or a cached one).
            categories = [self._unknown if c == UNKNOWN_CATEGORY else c for c in categories]
        unknown = [c for c in categories if c not in self._categories]
        if unknown:
            raise Refused(400, f"unknown category {unknown[0]!r}")
        unknown = [s for s in (*granted, *denied) if not self.policy.has_service(s)]
        if unknown:
            raise Refused(400, f"unknown service {unknown[0]!r}")
        if ui_action and not _UI_ACTION.fullmatch(ui_action):
            raise Refused(400, "'ui' must be a short control id such as 'banner.accept_all'")
        if ui_action and "." not in ui_action:
            # A form without JavaScript names its layer; the button pressed names the action:
            # recorded as the runtime records it ("banner.reject_all").
            ui_action = f"{ui_action}.{action}"[:64]
        return Choice(
            action=action,  # type: ignore[arg-type]  # checked against ACTIONS above
            categories=frozenset(categories),
            granted=frozenset(granted),
            denied=frozenset(denied),
            csrf=csrf,
            ui_action=ui_action,
            next_url=next_url,
            gpc=gpc,
        )

    def _consent_id(self, choice: Choice, request: Request, *, form: bool, own_page: bool) -> str:
        """The id the choice is recorded under; forms must carry a token this site issued.

        A token names the consent id of the page it came with. Before a first choice every page
        names a fresh id, so a second tab opened then still names its own after the first tab's
        choice set the cookie. Its token is accepted when the browser itself says the form was
        posted from one of this site's pages (``own_page``: ``Sec-Fetch-Site: same-origin`` or
        this site's ``Origin``), which no other site can make it say; the choice is recorded
        under the cookie's id. Without that word from the browser (an old one), the token must
        name the cookie's id, as before.
        """
        token_id = self.gate.csrf.verify(choice.csrf) if choice.csrf else None
        has_cookie = request.cookie_status == "ok"
        if form or choice.csrf:
            if token_id is None:
                raise Refused(403, "the form has expired or was not issued by this site; reload the page")
            if has_cookie and token_id != request.consent.consent_id and not own_page:
                raise Refused(403, "the form was issued for another visitor; reload the page")
        if has_cookie:
            return request.consent.consent_id
        return token_id or new_consent_id()

    def _apply(self, choice: Choice, request: Request, consent_id: str) -> tuple[Consent, Action]:
        """The stored consent and its audit action, by the region's rules (jurisdiction.py)."""
        categories, granted, denied = choice.categories, choice.granted, choice.denied
        embed = choice.action == "save" and choice.ui_action.startswith("embed")
        # No choice in force: before the first one (or after a US signal's record, which is no
        # choice where consent is the rule), or only grants without a decision.
        undecided = embed and not request.consent.exists
        if undecided:
            # "Load content" stores only its grant (with earlier ones made the same way): the
            # visitor refused nothing and is still asked (Consent.undecided). Not the region's
            # defaults either (UK statistics, French exempt measurement): they are no consent,
            # and apply again on each request wherever the visitor is then.
            stored = request.visitor.stored
            if stored.undecided:
                categories = categories | stored.categories
                granted = granted | stored.services
                denied = (denied | stored.denied_services) - granted
        elif embed:
            # "Load content" adds its one grant to the choice stored now, not to the one the page
            # was served with: another tab may have withdrawn something since.
            stored = request.consent
            categories = categories | stored.categories
            granted = granted | stored.services
            denied = (denied | stored.denied_services) - granted
        consent, action = self.gate.jurisdiction.apply_choice(
            request.decision,
            choice.action,
            categories=categories,
            granted=granted,
            denied=denied,
            source=_source(choice.ui_action),
            consent_id=consent_id,
            gpc_reported=choice.gpc,
        )
        if undecided:
            decision = request.decision
            consent = dataclass_replace(
                consent,
                undecided=True,
                # Loading content objects to nothing, though a French save that leaves an exempt
                # service out does (Jurisdiction.apply_choice).
                denied_services=consent.denied_services & denied,
                # A standing signal keeps objecting to everything this one grant leaves out.
                gpc_applied=consent.gpc_applied
                or decision.signal
                or decision.objection
                or (choice.gpc and self.policy.gpc),
            )
        return consent, action


def consent_event(
    gate: ConsentGate,
    request: Request,
    consent: Consent,
    action: Action,
    *,
    ui_action: str = "",
    page: str = "",
    detail: Mapping[str, str] | None = None,
) -> ConsentEvent | None:
    """The audit record of one consent change, with the notice shown and the request context
    minimised by the audit package's one builder; None for a crawler."""
    locale = request.locale()
    client = request.scope.get("client")
    return gate.endpoints.events.build(
        consent,
        action,
        notice_hash=gate.ui.notice_hash(locale),
        locale=locale,
        ui_action=ui_action,
        region=request.region.code,
        region_source=request.region.source,
        sec_gpc=request.gpc,
        dnt=request.dnt,
        path=page,
        user_agent=request.user_agent,
        client_ip=client[0] if client and isinstance(client[0], str) else "",
        detail=detail,
    )


def _source(ui_action: str) -> Source:
    # "reopen": the same preference centre, opened again after a choice.
    if ui_action.startswith(("preferences", "reopen")):
        return "preferences"
    if ui_action.startswith(("banner", "embed")):
        return "banner"
    return "api"


# --- request checks --------------------------------------------------------------------------


def _check_origin(request: Request, allowed: frozenset[str]) -> bool:
    """Refuse cross-site writes: a forged "accept all" would be a false record of consent.

    True when the browser said the request comes from this site's own pages (Fetch Metadata
    ``same-origin``, or an ``Origin`` of this site or of ``allowed_origins``).
    """
    fetch_site = request.header(b"sec-fetch-site").strip().lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        raise Refused(403, f"cross-site request refused (Sec-Fetch-Site: {fetch_site})")
    origin = request.header(b"origin").strip()
    if not origin:
        # Not a browser write (browsers send Origin on every POST), or Fetch Metadata said
        # same-origin ("none": typed or bookmarked, not from a page of ours).
        return fetch_site == "same-origin"
    key = origin.rstrip("/").lower()
    if key == "null":
        # A page sent with `Referrer-Policy: no-referrer` posts its forms with `Origin: null`
        # (Fetch, "append a request Origin header"); Sec-Fetch-Site, which no page can set,
        # still says same-origin. A sandboxed frame's opaque origin is never same-origin. Only
        # a form: it must carry a token issued to this visitor (Endpoints._consent_id).
        form = request.header(b"content-type").partition(";")[0].strip().lower()
        if fetch_site == "same-origin" and form == "application/x-www-form-urlencoded":
            return True
        raise Refused(403, "cross-origin request refused (Origin: null)")
    if key in allowed:
        return True
    parts = urlsplit(key)
    host = request.header(b"host").strip().lower()
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or _strip_port(parts.netloc, parts.scheme) != _strip_port(host, parts.scheme)
    ):
        raise Refused(403, f"cross-origin request refused (Origin: {origin[:100]})")
    return True


def _strip_port(netloc: str, scheme: str) -> str:
    default = ":443" if scheme == "https" else ":80"
    return netloc[: -len(default)] if netloc.endswith(default) else netloc


def _content_kind(content_type: str) -> Literal["json", "form"]:
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/json":
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    raise Refused(415, "send application/json or application/x-www-form-urlencoded")


def safe_next(value: str, host: str) -> str:
    """Where a form post may send the browser back: a path on this site, else "/".

    >>> [safe_next(v, "example.com") for v in ("/a?b=1", "//evil", "https://example.com/x", "javascript:x")]
    ['/a?b=1', '/', '/x', '/']
    """
    if not value or len(value) > 2048 or "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    if value.startswith("/"):
        return "/" if value.startswith("//") else value
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and host and parts.netloc.lower() == host.strip().lower():
        path = parts.path or "/"
        if path.startswith("//"):
            return "/"
        return path + ("?" + parts.query if parts.query else "")
    return "/"


def _referer_path(request: Request) -> str:
    referer = request.header(b"referer")
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc.lower() == request.header(b"host").strip().lower():
        return parts.path or "/"
    return ""


# --- responses -------------------------------------------------------------------------------


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    length: int | None = None,
) -> None:
    raw = [(b"content-type", content_type.encode("latin-1")), *headers]
    raw.append((b"content-length", str(len(body) if length is None else length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _wants_json(request: Request) -> bool:
    return "json" in request.header(b"content-type") or "json" in request.header(b"accept")


async def _error(send: Send, request: Request, status: int, reason: str) -> None:
    headers = [_NO_STORE]
    if _wants_json(request):
        body = json.dumps({"error": reason}).encode()
        await _send(send, status, body, "application/json", headers)
    else:
        await _send(send, status, reason.encode("utf-8"), "text/plain; charset=utf-8", headers)


async def _not_allowed(send: Send, allow: str) -> None:
    await _send(send, 405, b"Method Not Allowed", "text/plain; charset=utf-8", [(b"allow", allow.encode())])


# --- the audit sink and its lifecycle --------------------------------------------------------


@runtime_checkable
class _CookieObserver(Protocol):
    def observe_cookie(self, name: str, domain: str, classification: str, service: str = "") -> None: ...


@runtime_checkable
class _NoticeArchive(Protocol):
    def put_notice(self, notice_hash: str, doc: Mapping[str, object]) -> None: ...


@runtime_checkable
class _BotCounter(Protocol):
    def skip_bot(self) -> None: ...


@runtime_checkable
class _Managed(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class AuditSetup:
    """The configured event sink, started on lifespan startup or, without lifespan, lazily."""

    def __init__(
        self,
        audit: str | Sink | None,
        *,
        audit_key: bytes | str | None,
        secret_key: str | bytes,
        durable_timeout: float = 5.0,
    ) -> None:
        if not durable_timeout > 0:
            raise ValueError(f"durable_timeout must be a positive number of seconds, got {durable_timeout!r}")
        self.durable_timeout = durable_timeout
        key = audit_key.encode() if isinstance(audit_key, str) else audit_key
        self.store: object | None = None
        sink: Sink
        if audit is None:
            logger.warning(
                "consentgate: no audit store configured (audit=...): consent choices are kept in "
                "memory only and are NOT recorded; you cannot prove consent. Use e.g. "
                "audit='sqlite:///var/consentgate.db'."
            )
            sink = MemorySink()
        elif isinstance(audit, str):
            from consentgate.audit.writer import AuditWriter

            writer = AuditWriter(audit, key=key)
            self.store = writer.store
            sink = writer
        else:
            sink = audit
            self.store = getattr(audit, "store", None)
        self.sink = sink
        self.lifecycle = isinstance(sink, _Managed)
        self.observe_cookie = sink.observe_cookie if isinstance(sink, _CookieObserver) else None
        # Duck-typed like the other side channels: AuditWriter confirms durability, a MemorySink
        # or an app's own sink is taken at its word (enqueue).
        durable = getattr(sink, "enqueue_durable", None)
        self._durable: Callable[[ConsentEvent], Awaitable[object]] | None = (
            durable if callable(durable) else None
        )
        self._started = False
        secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
        # IP hashes use their own key, derived so that rotating the secret keys rotates it too.
        self.ip_key = hmac.new(secret, b"consentgate.ip", hashlib.sha256).digest()

    async def start(self) -> None:
        if isinstance(self.sink, _Managed) and not self._started:
            self._started = True
            await self.sink.start()

    async def stop(self) -> None:
        if isinstance(self.sink, _Managed) and self._started:
            self._started = False
            await self.sink.stop()

    def enqueue(self, event: ConsentEvent, notice: Callable[[], Mapping[str, object]]) -> bool:
        """Hand the event to the sink; False when it refused (full queue). The notice shown is
        archived beside it (once per hash), so the event's ``notice_hash`` resolves to texts."""
        if isinstance(self.sink, _NoticeArchive):
            self.sink.put_notice(event.notice_hash, notice())
        result: object = self.sink.enqueue(event)
        return result is not False

    async def record(self, event: ConsentEvent, notice: Callable[[], Mapping[str, object]]) -> str | None:
        """Hand over a consent change and, when the sink can confirm it (``enqueue_durable``),
        wait up to ``durable_timeout`` seconds until it is on disk, so that a 2xx answer means
        "recorded" even if the process is killed right after. None: recorded; else why not."""
        durable = self._durable
        if durable is None:
            return None if self.enqueue(event, notice) else "the audit log is full"
        if isinstance(self.sink, _NoticeArchive):
            self.sink.put_notice(event.notice_hash, notice())
        try:
            stored = await asyncio.wait_for(durable(event), self.durable_timeout)
        except TimeoutError:
            # The writer may still store it later: the log then holds a choice answered with 503
            # (no cookie set), which the event id in this line lets an auditor reconcile.
            logger.warning(
                "consent event %s not confirmed durable within %g s; answered 503",
                event.event_id,
                self.durable_timeout,
            )
            return f"the audit log did not confirm it within {self.durable_timeout:g} s"
        if stored is False:
            # Refused (queue full) or held in memory while store and spool both fail: it may
            # still be stored later, so this line names it for reconciliation, as above.
            logger.warning(
                "consent event %s not confirmed (audit log full or unavailable); answered 503", event.event_id
            )
            return "the audit log is full or unavailable"
        return None

    def skip_bot(self) -> None:
        if isinstance(self.sink, _BotCounter):
            self.sink.skip_bot()

    async def receipt(self, consent_id: str) -> list[dict[str, object]] | None:
        """The events recorded under ``consent_id``, oldest first; None without a readable store."""
        store = self.store
        if store is None:
            return None
        found: object = None
        try:
            # The audit package's own reader when it has one; else the store's query below.
            admin = importlib.import_module("consentgate.audit.admin")
        except ImportError:
            admin = None
        receipt: Callable[[object, str], object] | None = getattr(admin, "receipt", None)
        if receipt is not None:
            found = receipt(store, consent_id)
            if inspect.isawaitable(found):
                found = await found
        if found is None:
            read = getattr(store, "read", None)
            if read is None:
                return None
            from consentgate.audit.stores.base import Query

            found = [record async for record in read(Query(consent_id=consent_id, limit=200))]
        if not isinstance(found, Sequence):
            return None
        return [item.to_dict() if isinstance(item, ConsentEvent) else dict(item) for item in found]
