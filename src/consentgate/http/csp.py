"""A Content-Security-Policy per HTML response, derived from the visitor's consent.

The HTML rewriter neutralises every tracker *in* the page; it cannot see what a granted script
injects later (a tag manager, granted for analytics, loading an ad pixel). This header lets the
browser enforce the same choice: ``script-src``, ``frame-src``, ``img-src`` and ``connect-src``
(and ``style-src``/``font-src`` once the site is seen loading a service through ``<link>``) name
``'self'``, the policy's first-party hosts, the hosts of necessary services, the non-tracker hosts
the site's own pages use (``consentgate.http.inventory``) and the hosts of the services this
visitor granted. Never a wildcard, a bare scheme or ``data:`` for scripts: anything else is
blocked (``enforce``) or reported (``report-only``) to ``{prefix}/csp-report``.

What the header does *not* restrict, on purpose: inline scripts and ``eval``. consentgate's job is
which hosts may be contacted; how inline code is vetted is the site's own CSP's job. So the
header carries ``'unsafe-inline' 'unsafe-eval'`` and never a nonce, hash or ``'strict-dynamic'``:
a nonce or hash would switch ``'unsafe-inline'`` off and break a site without a CSP of its own,
and a nonce would let any script carrying it (tag managers copy the page's nonce onto the tags
they inject) load from any host.

It is always a separate header, never an edit of the app's: browsers enforce every policy they
receive, so a load happens only when the app's policy *and* this one allow it (CSP3 section 8.1).
The result is never weaker than the app's own policy.

References:
- CSP Level 3 (W3C): source lists, multiple policies, ``report-to``/``report-uri``
- Reporting API (W3C): ``Reporting-Endpoints``; RFC 8941 (structured-field dictionaries)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from consentgate.consent.state import Consent
from consentgate.http.inventory import GROUPS, FindingLike, Group, HostInventory, groups_of, valid_host
from consentgate.http.types import RawHeaders
from consentgate.policy.lookup import normalise_host
from consentgate.policy.model import NECESSARY, CspMode, Policy, Service

__all__ = [
    "REPORT_ROUTE",
    "ConsentSummary",
    "CspBuilder",
    "CspPage",
    "Summary",
    "host_sources",
    "parse_policy",
]

Allows = Callable[[str | None, str], bool]

REPORT_ROUTE: Final = "/csp-report"
ENDPOINT_NAME: Final = "consentgate-csp"
_HEADER: Final[Mapping[str, bytes]] = {
    "enforce": b"content-security-policy",
    "report-only": b"content-security-policy-report-only",
}
# What every directive allows besides hosts. None of these reaches the network on a tracker's
# behalf except through a host the list names: 'self' is the page's own origin, data:/blob: are
# local. Scripts get no data: (a URL that *is* code) and workers only same-origin and blob:.
_FIXED: Final[Mapping[Group, tuple[str, ...]]] = {
    "script": ("'self'", "'unsafe-inline'", "'unsafe-eval'"),
    "frame": ("'self'", "blob:", "data:"),
    "img": ("'self'", "data:", "blob:"),
    "connect": ("'self'", "blob:", "data:"),
    "style": ("'self'", "'unsafe-inline'", "data:", "blob:"),
    "font": ("'self'", "data:", "blob:"),
}
_WORKER: Final = "worker-src 'self' blob:"
_ENDPOINT_KEY = re.compile(r"(?:^|,)\s*([a-z*][a-z0-9_.*-]*)\s*=")
_AUTHORITY = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")
_ROOT_PATH = re.compile(r"(?:/[A-Za-z0-9_.~%!$&'()*+=@:-]+)*")


def host_sources(host: str, *, subdomains: bool) -> tuple[str, ...]:
    """CSP host-sources for ``host`` on any port (a service is a host, whatever its port), with
    its subdomains when ``subdomains`` (declared hosts match subdomains too); () when the name
    cannot be written in a CSP.

    >>> host_sources("Example.com", subdomains=True)
    ('example.com:*', '*.example.com:*')
    >>> host_sources("bad host;", subdomains=False)
    ()
    """
    host = normalise_host(host)
    if not valid_host(host):
        return ()
    if subdomains and not _is_ipv4(host):
        return (f"{host}:*", f"*.{host}:*")
    return (f"{host}:*",)


def _is_ipv4(host: str) -> bool:
    return all(part.isdigit() for part in host.split("."))


def parse_policy(text: str) -> dict[str, tuple[str, ...]]:
    """One serialized policy -> directive name (lower-case) -> source expressions; the first
    occurrence of a directive wins, as in browsers (CSP3 section 2.2.1).

    >>> parse_policy("script-src 'self' a.com; script-src b.com; img-src *")
    {'script-src': ("'self'", 'a.com'), 'img-src': ('*',)}
    """
    directives: dict[str, tuple[str, ...]] = {}
    for token in text.split(";"):
        parts = token.split()
        if parts and parts[0].lower() not in directives:
            directives[parts[0].lower()] = tuple(parts[1:])
    return directives


# --- the consent summary carried in the report URL -------------------------------------------


@dataclass(frozen=True)
class Summary:
    """The consent a page was served under, as its report URL states it (signed)."""

    categories: frozenset[str]
    services: frozenset[str]
    denied: frozenset[str]
    exists: bool
    day: int  # UTC day number the page was served on

    def allows(self, key: str) -> bool:
        return key == NECESSARY or key in self.categories

    def allows_service(self, service_id: str, category: str) -> bool:
        # The same rule as Consent.allows_service: an explicit choice wins, then the category.
        if service_id in self.denied:
            return False
        if service_id in self.services:
            return True
        return category == NECESSARY or category in self.categories


class ConsentSummary:
    """Signs a short statement of a visitor's consent for the CSP report URL.

    Browsers send reports without cookies (the Reporting API) or late, so the report cannot rely on
    the consent cookie to say what the visitor had chosen. The page's report URL carries it
    instead, signed so that a forged report cannot claim a consent state the site never served.
    The summary holds no identifier: reports are about pages, not people.

    >>> from consentgate.policy.load import load_dict
    >>> policy = load_dict({"include_catalog": False})
    >>> summary = ConsentSummary(policy, ["k" * 32])
    >>> token = summary.sign(Consent.none().with_choice({"analytics"}, source="banner"))
    >>> sorted(summary.verify(token).categories)
    ['analytics', 'necessary']
    """

    def __init__(self, policy: Policy, secret_keys: Sequence[str | bytes], *, max_age_days: int = 7) -> None:
        if not secret_keys:
            raise ValueError("secret_keys must hold at least one key")
        # Derived, so a CSP report URL can never be replayed as a consent cookie or CSRF token.
        self._keys = [
            hmac.new(
                key.encode() if isinstance(key, str) else key, b"consentgate.csp", hashlib.sha256
            ).digest()
            for key in secret_keys
        ]
        self._categories = tuple(c.id for c in policy.categories)
        self._max_age_days = max_age_days
        self._signed: dict[tuple[int, tuple[str, ...], frozenset[str], frozenset[str], bool], str] = {}

    def sign(self, consent: Consent, *, now: float | None = None) -> str:
        day = int((time.time() if now is None else now) // 86400)
        granted = tuple(c for c in self._categories if c != NECESSARY and consent.allows(c))
        key = (day, granted, consent.services, consent.denied_services, consent.exists)
        token = self._signed.get(key)
        if token is None:
            services, denied = sorted(consent.services), sorted(consent.denied_services)
            body = [1, day, granted, services, denied, int(consent.exists)]
            payload = _b64(json.dumps(body, separators=(",", ":")).encode())
            token = f"{payload}.{_b64(self._mac(self._keys[0], payload))}"
            if len(self._signed) >= 1024:
                self._signed.clear()  # a day's few consent states; cheaper than LRU bookkeeping
            self._signed[key] = token
        return token

    def verify(self, token: str, *, now: float | None = None) -> Summary | None:
        """The summary, or None when it is missing, malformed, forged or too old."""
        if not token or len(token) > 2048 or token.count(".") != 1:
            return None
        payload, _, signature = token.partition(".")
        try:
            given = _unb64(signature)
            if not any(hmac.compare_digest(given, self._mac(key, payload)) for key in self._keys):
                return None
            body = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return None
        if not (isinstance(body, list) and len(body) == 6 and body[0] == 1):
            return None
        _, day, categories, services, denied, exists = body
        if not isinstance(day, int) or not all(
            isinstance(group, list) and all(isinstance(item, str) for item in group)
            for group in (categories, services, denied)
        ):
            return None
        today = int((time.time() if now is None else now) // 86400)
        if not 0 <= today - day <= self._max_age_days:
            return None
        return Summary(
            categories=frozenset(categories) | {NECESSARY},
            services=frozenset(services),
            denied=frozenset(denied),
            exists=exists == 1,
            day=day,
        )

    @staticmethod
    def _mac(key: bytes, payload: str) -> bytes:
        return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


# --- the builder -----------------------------------------------------------------------------


class CspBuilder:
    """Compiled once per middleware; hands out one ``CspPage`` per HTML response.

    >>> from consentgate.policy.load import load_dict
    >>> policy = load_dict({"include_catalog": False, "services": {
    ...     "stats": {"category": "analytics", "hosts": ["stats.example"]}}})
    >>> builder = CspBuilder(policy, mode="enforce", prefix="/_consentgate", secret_keys=["k" * 32])
    >>> page = builder.page(Consent.none(), lambda service, category: category == "necessary")
    >>> "stats.example" in page.policy_text()
    False
    """

    def __init__(
        self,
        policy: Policy,
        *,
        mode: CspMode,
        prefix: str,
        secret_keys: Sequence[str | bytes],
        inventory: HostInventory | None = None,
        report_to: bool = False,
    ) -> None:
        if mode not in _HEADER:
            raise ValueError(f"csp must be 'report-only' or 'enforce' to build a policy, got {mode!r}")
        self.mode: CspMode = mode
        self.header_name = _HEADER[mode]
        self.report_path = prefix + REPORT_ROUTE
        # Off by default, for two reasons seen in Chromium: once a policy names `report-to`, the
        # browser ignores `report-uri`, even on a plain-HTTP page whose Reporting-Endpoints header
        # it refuses (no reports at all); and Reporting API uploads carry no cookies and come late,
        # so a choice made on the page could not be told from a leak. `report-uri` requests carry
        # the consent cookie and leave at once, in every browser.
        self.report_to = report_to
        self.inventory = inventory if inventory is not None else HostInventory(policy)
        self.summary = ConsentSummary(policy, secret_keys)
        # Hosts every visitor may load: the site's own and those of strictly necessary services.
        always: list[str] = []
        for host in policy.first_party_hosts:
            always += host_sources(host, subdomains=True)
        for service in policy.services:
            if service.category == NECESSARY:
                always += _service_sources(service)
        self._always = tuple(dict.fromkeys(always))
        # The site named these services itself: it uses them, whether or not a page showed them yet.
        self._declared = tuple(
            s for s in policy.services if s.origin == "policy" and s.category != NECESSARY and s.hosts
        )
        self._candidates: tuple[int, tuple[Service, ...], tuple[str, ...]] = (-1, (), ())
        self._cache: dict[
            tuple[frozenset[str], frozenset[str], int], tuple[str, dict[Group, tuple[str, ...]]]
        ] = {}
        # Whole header values per (page shape, inventory version, day, root path): see ``page``.
        self._texts: dict[Hashable, str] = {}
        self._learned: set[tuple[str, str, str | None, str, str, str]] = set()

    def page(
        self,
        consent: Consent,
        allows: Allows,
        *,
        origin: str | None = None,
        root_path: str = "",
        shape: Hashable | None = None,
    ) -> CspPage:
        """The policy of one response. ``allows(service_id, category)`` must be the rewriter's own
        predicate (Consent Mode "advanced" lets some tags load without consent); ``origin``
        (``https://example.com``) is where ``report-to`` reports go when ``report_to`` is on (the
        Reporting API wants an absolute HTTPS URL); ``root_path`` is the app's mount point.

        ``shape``, when given, is a key that determines both ``allows`` and the consent summary
        (granted categories and services, denied services, objection): pages of one shape then
        share the rendered header, which names hosts and a signed summary, never a visitor."""
        origin = _clean_origin(origin) if self.report_to else None
        return CspPage(self, consent, allows, origin=origin, root_path=_clean_root(root_path), shape=shape)

    def learn(self, finding: FindingLike) -> None:
        """``inventory.observe(finding)``, skipped for a finding it has already learned from: the
        inventory only grows and never forgets, so a second look changes nothing."""
        key = (finding.tag, finding.category, finding.service_id, finding.host, finding.rule, finding.action)
        if key in self._learned:
            return
        self.inventory.observe(finding)
        if len(self._learned) >= 4096:
            self._learned.clear()  # keys come from pages: bounded
        self._learned.add(key)

    def cached_text(self, key: Hashable) -> str | None:
        return self._texts.get(key)

    def cache_text(self, key: Hashable, text: str) -> None:
        if len(self._texts) >= 256:
            self._texts.clear()  # keyed by inventory version and day: old entries go stale anyway
        self._texts[key] = text

    def sources(self, allows: Allows) -> tuple[str, dict[Group, tuple[str, ...]]]:
        """The host-source directives of a visitor's policy, rendered, and the sources per
        directive; cached per (allowed services, allowed categories, inventory version)."""
        inventory = self.inventory
        version = inventory.version
        if self._candidates[0] != version:
            services: dict[str, Service] = {s.id: s for s in self._declared}
            for service in inventory.services():
                services.setdefault(service.id, service)
            self._candidates = (version, tuple(services.values()), inventory.categories_with_hosts())
        _, candidates, marked = self._candidates
        allowed = frozenset(s.id for s in candidates if allows(s.id, s.category))
        categories = frozenset(c for c in marked if allows(None, c))
        key = (allowed, categories, version)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        granted: list[str] = []
        for service in sorted((s for s in candidates if s.id in allowed), key=lambda s: s.id):
            if service.origin == "policy":
                granted += _service_sources(service)  # the site named these hosts: all of them
            else:
                for host in sorted(inventory.service_hosts(service.id)):
                    granted += host_sources(host, subdomains=False)
        shared = (*self._always, *granted)
        by_group: dict[Group, tuple[str, ...]] = {}
        for group in GROUPS:
            hosts: list[str] = list(shared)
            for host in sorted(inventory.hosts(group)):
                hosts += host_sources(host, subdomains=False)
            for category in sorted(categories):
                for host in sorted(inventory.category_hosts(category, group)):
                    hosts += host_sources(host, subdomains=False)
            by_group[group] = tuple(dict.fromkeys((*_FIXED[group], *hosts)))
        result = (_render(by_group, GROUPS if self.restricts_styles else GROUPS[:4]), by_group)
        if len(self._cache) >= 256:
            self._cache.clear()  # a new inventory version makes old entries useless anyway
        self._cache[key] = result
        return result

    @property
    def restricts_styles(self) -> bool:
        """style-src/font-src are added once the site loads a consent-bound service via <link>
        (web fonts are the usual case): restricting them before would only break CDN styles."""
        return bool(self.inventory.styled_services())


def _render(sources: Mapping[Group, Sequence[str]], groups: Iterable[Group]) -> str:
    directives: list[str] = []
    for group in groups:
        directives.append(f"{group}-src {' '.join(sources[group])}")
        if group == "script":
            directives.append(_WORKER)  # else workers fall back to script-src, without blob:
    return "; ".join(directives)


def _service_sources(service: Service) -> list[str]:
    sources: list[str] = []
    for host in service.hosts:
        sources += host_sources(host, subdomains=True)
    return sources


def _clean_origin(origin: str | None) -> str | None:
    if not origin:
        return None
    scheme, sep, authority = origin.partition("://")
    # The Reporting API takes HTTPS endpoints only; a Host header that is not a plain name is
    # never copied into a header. Either way: report-uri only.
    if not sep or scheme != "https" or not _AUTHORITY.fullmatch(authority):
        return None
    return f"{scheme}://{authority.lower()}"


def _clean_root(root_path: str) -> str:
    root_path = root_path.rstrip("/")
    return root_path if _ROOT_PATH.fullmatch(root_path) else ""


class CspPage:
    """The CSP of one response. Feed it the rewriter's findings (``observe``), then add its
    headers when the response starts (``apply``): the later, the more of the page's own hosts it
    names."""

    __slots__ = ("_allows", "_builder", "_consent", "_extra", "_origin", "_root_path", "_shape", "_url")

    def __init__(
        self,
        builder: CspBuilder,
        consent: Consent,
        allows: Allows,
        *,
        origin: str | None,
        root_path: str,
        shape: Hashable | None = None,
    ) -> None:
        self._builder = builder
        self._shape = shape
        self._consent = consent
        self._allows = allows
        self._origin = origin
        self._root_path = root_path
        # Hosts this page uses that the shared inventory could not take (full): this page still
        # names them, so its own markup never triggers a report.
        self._extra: dict[Group, set[str]] = {}
        self._url: str | None = None

    def observe(self, finding: FindingLike) -> None:
        """Hand to ``HtmlRewriter(on_finding=...)`` (chained with any other listener)."""
        builder = self._builder
        builder.learn(finding)
        if not finding.host or finding.action == "blocked":
            return
        if finding.service_id is not None or (
            finding.rule != "unknown" and not self._allows(None, finding.category)
        ):
            return  # services are listed by id; a category the visitor refused stays out
        for group in groups_of(finding.tag):
            extra = self._extra.setdefault(group, set())
            if len(extra) < 64:
                extra.add(finding.host.lower())

    @property
    def report_url(self) -> str:
        """``{root_path}{prefix}/csp-report?s=<signed consent summary>``."""
        if self._url is None:
            token = self._builder.summary.sign(self._consent)
            self._url = f"{self._root_path}{self._builder.report_path}?s={token}"
        return self._url

    def policy_text(self, app_headers: Sequence[tuple[bytes, bytes]] = ()) -> str:
        """The serialized policy for a response whose headers are ``app_headers``."""
        builder = self._builder
        # Only a page that names nothing of its own (no extra hosts, no report-to) shares its text.
        key: Hashable | None = None
        if self._shape is not None and not self._extra and self._origin is None:
            key = (self._shape, builder.inventory.version, int(time.time() // 86400), self._root_path)
            cached = builder.cached_text(key)
            if cached is not None:
                return cached
        text, by_group = builder.sources(self._allows)
        if self._extra:
            extended: dict[Group, Sequence[str]] = dict(by_group)
            for group, hosts in self._extra.items():
                added = [src for host in sorted(hosts) for src in host_sources(host, subdomains=False)]
                extended[group] = tuple(dict.fromkeys((*by_group[group], *added)))
            text = _render(extended, GROUPS if builder.restricts_styles else GROUPS[:4])
        text += f"; report-uri {self.report_url}"
        if self._origin is not None:
            text += f"; report-to {_endpoint_name(app_headers)}"
        if key is not None:
            builder.cache_text(key, text)
        return text

    def headers(self, app_headers: Sequence[tuple[bytes, bytes]]) -> RawHeaders:
        """The header lines to add to a response whose headers are ``app_headers`` (which are
        never changed: the app's own CSP stays exactly as it was, and is enforced alongside).

        ``report-to`` needs an absolute endpoint URL (``origin``); without one, ``report-uri``
        alone reports, which every browser still supports."""
        lines: RawHeaders = [(self._builder.header_name, self.policy_text(app_headers).encode("ascii"))]
        if self._origin is not None:
            endpoint = f'{_endpoint_name(app_headers)}="{self._origin}{self.report_url}"'
            lines.append((b"reporting-endpoints", endpoint.encode("ascii")))
        return lines

    def apply(self, headers: RawHeaders) -> RawHeaders:
        """``headers`` followed by this page's CSP lines."""
        return [*headers, *self.headers(headers)]


def _endpoint_name(app_headers: Sequence[tuple[bytes, bytes]]) -> str:
    """Our Reporting-Endpoints member name, distinct from every name the app defines (the
    header lines combine into one dictionary in which a repeated name would replace the app's)."""
    taken: set[str] = set()
    for key, value in app_headers:
        if key.lower() == b"reporting-endpoints":
            taken.update(_ENDPOINT_KEY.findall(value.decode("latin-1").lower()))
    name, number = ENDPOINT_NAME, 1
    while name in taken:
        number += 1
        name = f"{ENDPOINT_NAME}-{number}"
    return name
