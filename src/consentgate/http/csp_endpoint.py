"""``POST {prefix}/csp-report``: where browsers send violations of the consent-derived CSP.

A public endpoint that writes to the audit log, so it refuses before it reads: a client over its
rate gets 429, a media type other than a CSP report 415, a body over the limit 413, a malformed
one 400. It never answers 5xx (a reporting browser would only retry), and a refused request
writes nothing. Accepted reports answer 204.

References: CSP Level 3 section 5.5 ("report a violation"); Reporting API (W3C) section 3.5
(delivery, retries on failure); RFC 6585 (429, ``Retry-After``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl

from consentgate.audit.minimise import ua_fields
from consentgate.http.body import Refused, read_body
from consentgate.http.csp import REPORT_ROUTE, CspBuilder
from consentgate.http.csp_reports import (
    MEDIA_TYPES,
    ConsentState,
    Deduplicator,
    ReportError,
    StateSource,
    TokenBuckets,
    classify,
    parse_reports,
    violation_event,
)
from consentgate.http.types import Receive, Send, Sink
from consentgate.policy.model import Policy

if TYPE_CHECKING:
    from consentgate.http.request import Request

__all__ = ["CspReportEndpoint"]

logger = logging.getLogger("consentgate.http")

_NO_STORE = (b"cache-control", b"no-store")


class AuditLike(Protocol):
    """The middleware's ``AuditSetup``: a sink, started lazily."""

    @property
    def sink(self) -> Sink: ...

    async def start(self) -> None: ...


class CspReportEndpoint:
    """Turns CSP violation reports into ``csp_violation`` audit events.

    ``per_client``: (burst, rate per second) of requests from one client address;
    ``per_process``: (burst, rate per second) of audit events from all clients together, so a
    flood from many addresses cannot fill the log either; ``dedupe_seconds``: an equal report
    (same host, directive, page, verdict and consent state) is recorded once per window.
    """

    def __init__(
        self,
        policy: Policy,
        builder: CspBuilder,
        audit: AuditLike,
        *,
        counters: Counter[str] | None = None,
        max_body: int = 16 * 1024,
        per_client: tuple[int, float] = (60, 2.0),
        per_process: tuple[int, float] = (300, 20.0),
        dedupe_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_body < 1024:
            raise ValueError(f"max_body must be at least 1024 bytes, got {max_body}")
        self.policy = policy
        self.builder = builder
        self.audit = audit
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.max_body = max_body
        self._clients = TokenBuckets(burst=per_client[0], rate=per_client[1])
        self._events = TokenBuckets(burst=per_process[0], rate=per_process[1], max_keys=1)
        self._dedupe = Deduplicator(window=dedupe_seconds)
        self._clock = clock
        self._runtime_path = builder.report_path.removesuffix(REPORT_ROUTE) + "/static/"

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        try:
            if request.method != "POST":
                raise Refused(405, "send violation reports with POST", ((b"allow", b"POST"),))
            answered = await self._accept(request, receive)
        except Refused as refused:
            self.counters[f"csp_reports_{refused.status}"] += 1
            await _send(send, refused.status, refused.reason, refused.headers)
            return
        except Exception:
            # Never a 5xx: a browser would only retry the same report. The fault is logged.
            logger.exception("consentgate: a CSP report could not be processed")
            self.counters["csp_reports_failed"] += 1
            answered = True
        if answered:
            await _send(send, 204, "")

    async def _accept(self, request: Request, receive: Receive) -> bool:
        client = request.scope.get("client")
        address = client[0] if client else ""
        wait = self._clients.take(str(address), now=self._clock())
        if wait:
            raise Refused(429, "too many reports", ((b"retry-after", str(math.ceil(wait)).encode()),))
        content_type = request.header(b"content-type")
        if content_type.partition(";")[0].strip().lower() not in MEDIA_TYPES:
            raise Refused(415, "send application/csp-report or application/reports+json")
        body = await read_body(request, receive, self.max_body)
        if body is None:
            return False  # the client went away
        try:
            violations = parse_reports(body, content_type)
        except ReportError as error:
            raise Refused(error.status, error.reason) from None
        state, current = self._states(request)
        source: StateSource = (
            "signed" if state is not None else "cookie" if current is not None else "unknown"
        )
        shown = state if state is not None else current
        page_host = request.host.lower()
        for violation in violations:
            found = classify(
                violation,
                self.policy,
                state,
                current=current,
                page_host=page_host,
                runtime_path=self._runtime_path,
            )
            if found is None or found.verdict == "granted_on_page":
                # Not about consent (inline code, data:), or what the visitor allowed on the page
                # after it was served: its policy could not know. Neither proves anything.
                self.counters["csp_reports_ignored"] += 1
                continue
            if found.verdict == "not_listed" and found.service_id and state is not None:
                # A page of this site, for a visitor who allowed the service, tried to load it:
                # list its hosts from now on for visitors who allow it (never for anyone else).
                self.builder.inventory.use_service(found.service_id, host=found.host, from_report=True)
            granted = ",".join(sorted(c.id for c in self.policy.categories if shown and shown.allows(c.id)))
            key = (found.host, violation.directive, found.page, found.verdict, violation.disposition)
            if not self._dedupe.first((*key, granted if shown else "?"), now=self._clock()):
                self.counters["csp_reports_repeated"] += 1
                continue
            if self._events.take("", now=self._clock()):
                self.counters["csp_reports_dropped"] += 1
                raise Refused(429, "too many reports", ((b"retry-after", b"10"),))
            agent = ua_fields(request.user_agent) or ("", "", "bot")
            event = violation_event(
                self.policy,
                violation,
                found,
                state=shown,
                state_source=source,
                region=request.region.code,
                ua=agent,
            )
            await self.audit.start()
            if self.audit.sink.enqueue(event) is False:
                self.counters["csp_reports_dropped"] += 1
                raise Refused(429, "the audit log is busy", ((b"retry-after", b"10"),))
            self.counters["csp_violations"] += 1
        return True

    def _states(self, request: Request) -> tuple[ConsentState | None, ConsentState | None]:
        """The consent the page was served under (the signed summary in the report URL) and the
        visitor's consent now (the consent cookie, which ``report-uri`` requests may carry)."""
        query = request.scope.get("query_string", b"").decode("latin-1")
        token = next((value for name, value in parse_qsl(query) if name == "s"), "")
        current = request.consent if request.cookie_status == "ok" else None
        return self.builder.summary.verify(token), current


async def _send(send: Send, status: int, reason: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = reason.encode("utf-8")
    raw = [_NO_STORE, *headers]
    if status != 204:
        raw += [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if status == 204 else body, "more_body": False})
