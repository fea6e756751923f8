"""CSP violation reports: parsing both wire formats, classifying the blocked host, and the
bounds (rate, duplicates) that keep a public endpoint from flooding the audit log. No ASGI here.

A report becomes one ``csp_violation`` audit event that says, for example, "a marketing host
(Meta Pixel) tried to load on /shop for a visitor who granted analytics only". It keeps hosts and
paths, never a full URL or a query string, and no identifier of the visitor.

References:
- CSP Level 3, section 5 (violation reports; ``application/csp-report``)
- Reporting API (W3C), ``application/reports+json``; ``CSPViolationReportBody``
"""

from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit

from consentgate.audit.events import ConsentEvent
from consentgate.policy.model import NECESSARY, Policy

__all__ = [
    "Classification",
    "Deduplicator",
    "ReportError",
    "TokenBuckets",
    "Verdict",
    "Violation",
    "classify",
    "parse_reports",
    "violation_event",
]

Verdict = Literal[
    "leak", "suspected_leak", "follow_on", "granted_on_page", "not_listed", "unclassified", "first_party"
]
ReportFormat = Literal["report-uri", "report-to"]
StateSource = Literal["signed", "cookie", "unknown"]

MAX_REPORTS: Final = 32  # per request; a Reporting API batch may hold more, the rest is dropped
_MAX_TEXT: Final = 4096
_DIRECTIVE = re.compile(r"[a-z-]{1,40}")
_NETWORK_SCHEMES: Final = frozenset({"http", "https", "ws", "wss"})
MEDIA_TYPES: Final = ("application/csp-report", "application/reports+json", "application/json")


class ReportError(ValueError):
    """A request the endpoint refuses: ``status`` is 400 (malformed) or 415 (media type)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Violation:
    """One reported violation, as the browser stated it (URLs not yet reduced)."""

    blocked_url: str
    directive: str
    document_url: str
    disposition: Literal["enforce", "report"]
    source_file: str
    format: ReportFormat


# --- parsing ---------------------------------------------------------------------------------


def parse_reports(body: bytes, content_type: str, *, max_reports: int = MAX_REPORTS) -> list[Violation]:
    """The violations in a report request body.

    ``application/csp-report`` (``report-uri``: ``{"csp-report": {...}}``) and
    ``application/reports+json`` (``report-to``: a list of reports, of which those of type
    ``csp-violation`` count); ``application/json`` is read as either, by its shape (older
    browsers). Raises ``ReportError`` (415 for another media type, 400 for anything malformed).

    >>> parse_reports(b'{"csp-report": {"blocked-uri": "https://t.example/p.gif", '
    ...               b'"effective-directive": "img-src", "document-uri": "https://s.example/a"}}',
    ...               "application/csp-report")[0].directive
    'img-src'
    """
    media = content_type.partition(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise ReportError(415, "send application/csp-report or application/reports+json")
    try:
        data: object = json.loads(body)
    except ValueError as error:  # also UnicodeDecodeError
        raise ReportError(400, f"malformed JSON: {error}") from None
    if isinstance(data, dict) and media != "application/reports+json":
        return [_legacy(data)]
    if isinstance(data, list) and media != "application/csp-report":
        found: list[Violation] = []
        for item in data:
            violation = _reporting_api(item)
            if violation is not None:
                found.append(violation)
                if len(found) >= max_reports:
                    break
        return found
    raise ReportError(
        400, f"a {media} body must be " + ("a list" if media.endswith("+json") else "an object")
    )


def _legacy(data: Mapping[str, object]) -> Violation:
    report = data.get("csp-report")
    if not isinstance(report, dict):
        raise ReportError(400, 'expected {"csp-report": {...}}')
    directive = _text(report, "effective-directive") or _text(report, "violated-directive").partition(" ")[0]
    return Violation(
        blocked_url=_text(report, "blocked-uri"),
        directive=_directive(directive),
        document_url=_text(report, "document-uri"),
        disposition="report" if _text(report, "disposition") == "report" else "enforce",
        source_file=_text(report, "source-file"),
        format="report-uri",
    )


def _reporting_api(item: object) -> Violation | None:
    if not isinstance(item, dict):
        raise ReportError(400, "each report must be an object")
    kind = item.get("type")
    if not isinstance(kind, str):
        raise ReportError(400, "each report needs a 'type'")
    if kind != "csp-violation":
        return None  # deprecation, intervention, ... reports: not ours to keep
    body = item.get("body")
    if not isinstance(body, dict):
        raise ReportError(400, "a csp-violation report needs a 'body' object")
    return Violation(
        blocked_url=_text(body, "blockedURL"),
        directive=_directive(_text(body, "effectiveDirective")),
        document_url=_text(body, "documentURL") or _text(item, "url"),
        disposition="report" if _text(body, "disposition") == "report" else "enforce",
        source_file=_text(body, "sourceFile"),
        format="report-to",
    )


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(400, f"{key!r} must be a string")
    return value[:_MAX_TEXT]


def _directive(value: str) -> str:
    value = value.strip().lower()
    return value if _DIRECTIVE.fullmatch(value) else "unknown"


# --- classification --------------------------------------------------------------------------


class ConsentState(Protocol):
    """What was allowed on the page: a ``Consent`` (from the cookie) or a signed ``Summary``."""

    def allows(self, key: str, /) -> bool: ...
    def allows_service(self, service_id: str, category: str, /) -> bool: ...


@dataclass(frozen=True)
class Classification:
    """What a violation means for consent."""

    host: str
    page: str  # path only
    verdict: Verdict
    service_id: str
    service_name: str
    category: str  # a category id, or "unknown"
    source_host: str
    source_service: str


def url_host(url: str) -> str | None:
    """Lower-case host of a network URL (no port: services are hosts); None for ``inline``,
    ``eval``, ``data:``, ``blob:``, extension URLs and anything unparseable.

    >>> url_host("https://Px.Example:8443/t?id=1"), url_host("inline"), url_host("data:image/gif,")
    ('px.example', None, None)
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in _NETWORK_SCHEMES or not host:
        return None
    return host.rstrip(".")[:253] or None


def url_path(url: str) -> str:
    """The path of a URL, never its query or fragment; "" when it has none."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return ""
    return path[:512]


def classify(
    violation: Violation,
    policy: Policy,
    state: ConsentState | None,
    *,
    current: ConsentState | None = None,
    page_host: str = "",
    runtime_path: str = "",
) -> Classification | None:
    """The verdict on one violation; None when the blocked thing is not a network load (inline
    code, ``eval``, ``data:``): consentgate's policy never restricts those, so such a report is
    about something else (another policy, an extension) and says nothing about consent.

    ``state`` is the consent the page was served under (its header was built from it);
    ``current`` the visitor's consent now, when the report came with the consent cookie. A page's
    policy cannot change after it is served, so a choice made on the page (the banner's "accept")
    makes what it grants show up as violations: those are ``granted_on_page``, not leaks —
    known from ``current``, or from the load being made by consentgate's runtime
    (``runtime_path``: the path prefix of its static assets), which only activates what the
    visitor just allowed.
    """
    host = url_host(violation.blocked_url)
    if host is None:
        return None
    lookup = policy.lookup
    service = lookup.service_for_host(host)
    source = url_host(violation.source_file) if violation.source_file else None
    source_service = lookup.service_for_host(source) if source else None
    page = url_path(violation.document_url) or "/"
    verdict: Verdict
    if service is None:
        own = lookup.is_first_party(host) or (page_host != "" and host == page_host)
        verdict = "first_party" if own else "unclassified"
        category = "unknown"
    else:
        category = service.category
        # The runtime is served by this site under the prefix (after any mount point).
        by_runtime = (
            bool(runtime_path)
            and source is not None
            and (source == page_host or lookup.is_first_party(source))
            and runtime_path in url_path(violation.source_file)
        )
        if category == NECESSARY or (state is not None and state.allows_service(service.id, category)):
            verdict = "not_listed"  # allowed, but the header did not name it yet
        elif current is not None and current.allows_service(service.id, category):
            verdict = "not_listed" if state is None else "granted_on_page"
        elif by_runtime and state is not None:
            verdict = "granted_on_page"
        elif current is not None:
            verdict = "leak"  # refused when the page was served, and refused now
        elif state is None:
            verdict = "suspected_leak"
        elif source_service is not None and not state.allows_service(
            source_service.id, source_service.category
        ):
            # The script that made the load was not allowed either when the page was served: it
            # was activated later (a choice made on the page), or it leaked itself, in which case
            # its own load has its own report. This one adds nothing.
            verdict = "follow_on"
        else:
            verdict = "leak"
    return Classification(
        host=host,
        page=page,
        verdict=verdict,
        service_id=service.id if service else "",
        service_name=service.name if service else "",
        category=category,
        source_host=source or "",
        source_service=source_service.id if source_service else "",
    )


def violation_event(
    policy: Policy,
    violation: Violation,
    found: Classification,
    *,
    state: ConsentState | None,
    state_source: StateSource,
    region: str = "",
    ua: tuple[str, str, str] = ("", "", ""),
) -> ConsentEvent:
    """The audit record of one violation. ``categories`` holds the visitor's consent state at the
    time (empty when unknown). The consent id is a fresh one per report: a report is about a page,
    not a person, and a shared id would make the retention rule keep every report forever."""
    categories = {c.id: state.allows(c.id) for c in policy.categories} if state is not None else {}
    detail = {
        "blocked_host": found.host,
        "directive": violation.directive,
        "disposition": violation.disposition,
        "verdict": found.verdict,
        "category": found.category,
        "service": found.service_id,
        "service_name": found.service_name,
        "consent": state_source,
        "source_host": found.source_host,
        "source_service": found.source_service,
        "format": violation.format,
    }
    return ConsentEvent(
        consent_id=f"csp-{secrets.token_urlsafe(9)}",
        action="csp_violation",
        categories=categories,
        policy_version=policy.version,
        policy_fingerprint=policy.fingerprint(),
        region=region,
        path=found.page,
        ua_browser=ua[0],
        ua_os=ua[1],
        ua_device=ua[2],
        detail={key: value for key, value in detail.items() if value},
    )


# --- bounds ----------------------------------------------------------------------------------


class TokenBuckets:
    """One token bucket per key (client address) in a bounded table: ``burst`` requests at once,
    then ``rate`` per second. When the table is full the least recently used key goes, so a
    flood of addresses costs memory ``max_keys`` at most.

    >>> buckets = TokenBuckets(rate=1.0, burst=2)
    >>> [buckets.take("a", now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(self, *, rate: float, burst: int, max_keys: int = 4096) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"rate, burst and max_keys must be positive, got {rate}, {burst}, {max_keys}")
        self.rate = rate
        self.burst = float(burst)
        self._max = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, *, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait


class Deduplicator:
    """Says whether an equal report was already recorded within ``window`` seconds. A leak on a
    busy page would otherwise write one audit event per page view; one per window proves it."""

    def __init__(self, *, window: float, max_keys: int = 4096) -> None:
        self.window = window
        self._max = max_keys
        self._seen: OrderedDict[tuple[str, ...], float] = OrderedDict()

    def first(self, key: Iterable[str], *, now: float) -> bool:
        item = tuple(key)
        seen = self._seen.get(item)
        if seen is not None and now - seen < self.window:
            return False
        self._seen.pop(item, None)
        self._seen[item] = now
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True
