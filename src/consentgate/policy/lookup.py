"""Compiled lookup tables: host -> service, cookie name -> service, inline script -> service.

Built once per policy (``Policy.lookup``) and read on every response, so each query is a few dict
probes or one pass of a compiled regex:

- hosts: a dict keyed by declared host; a query walks the host's parent domains
  (``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``), O(labels);
- cookies: exact names in a dict; catalog prefix patterns (``_ga_.*``) bucketed by their first
  characters, so a name is checked against the few prefixes sharing its start (longest first);
  the remaining patterns in one combined regex;
- inline scripts: one bytes regex alternation of every signature (escaped literals, longest
  first, so a longer signature wins over its own prefix at the same position).

Services the site declared (``origin="policy"``) beat catalog ones for the same host, cookie or
signature, whatever the specificity: the site's word is final.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from consentgate.policy.model import NECESSARY, Service

__all__ = ["Lookup", "normalise_host"]

_MAX_HOST = 253  # RFC 1035: longer names cannot be hosts, so they cannot match either


def normalise_host(host: str) -> str:
    """Lower-case, without a trailing dot or a leading ``*.``/``.`` (``*.Example.com.`` -> ...)."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("*."):
        host = host[2:]
    return host.lstrip(".")


def _parents(host: str) -> Iterable[str]:
    """The host, then each parent domain in turn (most specific first)."""
    start = 0
    while True:
        yield host[start:]
        start = host.find(".", start) + 1
        if start == 0:
            return


def _severity(category: str) -> int:
    # When an inline script carries several vendors' signatures it is as sensitive as the most
    # sensitive of them: a GA + Google Ads gtag snippet must wait for marketing consent.
    if category == NECESSARY:
        return 0
    return 2 if category == "marketing" else 1


class Lookup:
    """Fast matching of hosts, cookie names and inline scripts to services.

    >>> from consentgate.policy.model import Service
    >>> lookup = Lookup([Service("ga", "GA", "analytics", hosts=("google-analytics.com",))], [])
    >>> lookup.service_for_host("www.google-analytics.com").id
    'ga'
    """

    def __init__(self, services: Sequence[Service], first_party_hosts: Sequence[str]) -> None:
        declared = [s for s in services if s.origin == "policy"]
        catalog = [s for s in services if s.origin != "policy"]

        # policy table first; empty tables are skipped
        self._host_tables = tuple(t for t in (_host_table(declared), _host_table(catalog)) if t)
        self._first_party = frozenset(filter(None, (normalise_host(h) for h in first_party_hosts)))

        self._policy_cookies, policy_patterns = _cookie_tables(declared)
        self._catalog_cookies, catalog_patterns = _cookie_tables(catalog)
        # Site-declared patterns are arbitrary regexes (they may hold groups or back-references
        # that would change meaning inside a combined pattern), so each is tried on its own; they
        # are few. Catalog patterns are ours: plain prefixes go into buckets, the rest into one
        # alternation.
        self._policy_patterns = tuple((re.compile(p), s) for p, s in policy_patterns)
        prefixes, rest = _split_prefixes(catalog_patterns)
        self._bucket, self._prefix_buckets = _prefix_index(prefixes)
        self._catalog_pattern, self._catalog_pattern_services = _combine(rest)

        signatures: dict[bytes, Service] = {}
        for service in [*declared, *catalog]:
            for signature in service.signatures:
                if signature:
                    signatures.setdefault(signature.encode("utf-8"), service)
        self._signatures = signatures
        ordered = sorted(signatures, key=lambda s: (-len(s), s))
        self.inline_signatures: re.Pattern[bytes] | None = (
            re.compile(b"|".join(re.escape(s) for s in ordered)) if ordered else None
        )

    # -- hosts ------------------------------------------------------------------------------------
    def service_for_host(self, host: str) -> Service | None:
        """The service for this host or its nearest listed parent domain (policy first)."""
        host = normalise_host(host)
        if not host or len(host) > _MAX_HOST:
            return None
        for table in self._host_tables:
            start = 0
            while True:
                service = table.get(host[start:])
                if service is not None:
                    return service
                start = host.find(".", start) + 1
                if start == 0:
                    break
        return None

    def is_first_party(self, host: str) -> bool:
        """True for a declared first-party host or any of its subdomains."""
        host = normalise_host(host)
        if not host or len(host) > _MAX_HOST:
            return False
        return any(candidate in self._first_party for candidate in _parents(host))

    # -- cookies ----------------------------------------------------------------------------------
    def service_for_cookie(self, name: str) -> Service | None:
        """The service that declares this cookie name (policy exact, policy patterns, then catalog)."""
        service = self._policy_cookies.get(name)
        if service is not None:
            return service
        for pattern, owner in self._policy_patterns:
            if pattern.fullmatch(name):
                return owner
        service = self._catalog_cookies.get(name)
        if service is not None:
            return service
        for prefix, owner in self._prefix_buckets.get(name[: self._bucket], ()):
            if name.startswith(prefix):
                return owner
        if self._catalog_pattern is not None:
            match = self._catalog_pattern.fullmatch(name)
            if match is not None and match.lastgroup is not None:
                return self._catalog_pattern_services[match.lastgroup]
        return None

    # -- inline scripts ---------------------------------------------------------------------------
    def service_for_signature(self, matched: bytes) -> Service:
        """The service behind a match of :attr:`inline_signatures` (``KeyError`` otherwise)."""
        return self._signatures[matched]

    def service_for_inline(self, script: bytes) -> Service | None:
        """The service whose signature the script contains.

        With several, the most sensitive category wins (marketing, then any other non-necessary
        category, then necessary); among equals, the earliest in the script.
        """
        if self.inline_signatures is None:
            return None
        best: Service | None = None
        best_severity = -1
        for match in self.inline_signatures.finditer(script):
            service = self._signatures[match.group()]
            severity = _severity(service.category)
            if severity > best_severity:
                best, best_severity = service, severity
                if severity == 2:
                    break
        return best


def _host_table(services: Iterable[Service]) -> dict[str, Service]:
    table: dict[str, Service] = {}
    for service in services:
        for host in service.hosts:
            key = normalise_host(host)
            if key:
                table.setdefault(key, service)  # earlier services win
    return table


def _cookie_tables(services: Iterable[Service]) -> tuple[dict[str, Service], list[tuple[str, Service]]]:
    exact: dict[str, Service] = {}
    patterns: list[tuple[str, Service]] = []
    seen_patterns: set[str] = set()
    for service in services:
        for cookie in service.cookies:
            # A cookie that lives on a third-party domain never reaches the site's own
            # Set-Cookie or Cookie headers; indexing its (often generic) name would only
            # mislabel the site's cookies.
            if cookie.third_party:
                continue
            if not cookie.is_regex:
                exact.setdefault(cookie.name, service)
            elif cookie.name not in seen_patterns:
                seen_patterns.add(cookie.name)
                patterns.append((cookie.name, service))
    return exact, patterns


def _split_prefixes(
    patterns: list[tuple[str, Service]],
) -> tuple[dict[str, Service], list[tuple[str, Service]]]:
    """Separate ``<escaped literal>.*`` patterns (most of the catalog's) from real regexes."""
    prefixes: dict[str, Service] = {}
    rest: list[tuple[str, Service]] = []
    for pattern, service in patterns:
        body = pattern[:-2] if pattern.endswith(".*") else None
        literal = re.sub(r"\\(.)", r"\1", body) if body is not None else None
        if literal and body == re.escape(literal) and "\n" not in literal:
            prefixes.setdefault(literal, service)
        else:
            rest.append((pattern, service))
    return prefixes, rest


def _prefix_index(
    prefixes: dict[str, Service],
) -> tuple[int, dict[str, tuple[tuple[str, Service], ...]]]:
    """Prefixes keyed by their first ``bucket`` characters, longest first within a key."""
    bucket = min((len(p) for p in prefixes), default=1)
    buckets: dict[str, list[tuple[str, Service]]] = {}
    for prefix, service in prefixes.items():
        buckets.setdefault(prefix[:bucket], []).append((prefix, service))
    ordered = {key: tuple(sorted(found, key=lambda item: -len(item[0]))) for key, found in buckets.items()}
    return bucket, ordered


def _combine(patterns: list[tuple[str, Service]]) -> tuple[re.Pattern[str] | None, dict[str, Service]]:
    if not patterns:
        return None, {}
    owners = {f"c{index}": service for index, (_, service) in enumerate(patterns)}
    combined = "|".join(f"(?P<c{index}>{pattern})" for index, (pattern, _) in enumerate(patterns))
    return re.compile(combined), owners
