"""Cookies on both sides of the middleware.

Request side: ``parse_cookie_headers`` reads every ``Cookie`` header leniently, like a browser
sends them. Response side: ``parse_set_cookie`` splits a ``Set-Cookie`` value the way a browser
does (RFC 6265bis section 5.6), ``CookieFirewall`` drops the app's cookies the visitor has not
allowed, and ``deletion_headers`` builds the expiring ``Set-Cookie`` lines that remove a cookie
in every place a site could have stored it.

References:
- RFC 6265 section 5.1.1 (cookie dates) and 5.2; draft-ietf-httpbis-rfc6265bis section 5.6
- RFC 6265bis section 4.1.3 (``__Host-`` / ``__Secure-`` prefixes)
"""

from __future__ import annotations

import calendar
import ipaddress
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from consentgate.consent.state import Consent
from consentgate.domains import listed_suffix
from consentgate.http.cookie_lifetime import LifetimeCap, record_names
from consentgate.http.types import CookieDecision, RawHeaders
from consentgate.policy.model import NECESSARY, Policy, Service

__all__ = [
    "CookieFirewall",
    "CookieInventory",
    "CookieRecord",
    "SetCookie",
    "cookie_domains",
    "deletion_headers",
    "parse_cookie_date",
    "parse_cookie_headers",
    "parse_set_cookie",
]

# --- request side ----------------------------------------------------------------------------


def parse_cookie_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Every ``Cookie`` header of a request as one dict; the first occurrence of a name wins.

    Lenient on purpose (``SimpleCookie`` rejects a whole header for one odd neighbour):
    HTTP/2 clients may send several ``Cookie`` headers, and browsers list the cookie with the
    longest path first, which is the one a server means.

    >>> parse_cookie_headers([(b"cookie", b"a=1; b b=2"), (b"cookie", b"a=3; c")])
    {'a': '1', 'b b': '2', '': 'c'}
    """
    cookies: dict[str, str] = {}
    for name, value in headers:
        if name == b"cookie":
            _parse_cookie_string(header_text(value), cookies)
    return cookies


def header_text(raw: bytes) -> str:
    """Cookie bytes as text: browsers send UTF-8; anything else is kept byte for byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_cookie_string(header: str, into: dict[str, str]) -> None:
    for chunk in header.split(";"):
        key, sep, val = chunk.partition("=")
        if not sep:
            # A browser sends a nameless cookie as its bare value (RFC 6265bis 5.6 step 3).
            key, val = "", key
        key = key.strip(" \t")
        val = val.strip(" \t")
        if (key or val) and key not in into:
            into[key] = val


# --- Set-Cookie parsing ----------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WSP = " \t"


@dataclass(frozen=True)
class SetCookie:
    """The parts of a ``Set-Cookie`` value the firewall and the inventory need."""

    name: str
    value: str
    domain: str | None = None  # lower-case, leading dot removed
    path: str | None = None
    max_age: int | None = None
    expires: float | None = None  # epoch seconds
    secure: bool = False
    http_only: bool = False

    def is_deletion(self, now: float | None = None) -> bool:
        """True when a browser would remove the cookie instead of storing it."""
        if self.max_age is not None:  # Max-Age wins over Expires (RFC 6265 5.3 step 3)
            return self.max_age <= 0
        if self.expires is not None:
            return self.expires <= (time.time() if now is None else now)
        return False


def parse_set_cookie(header: str) -> SetCookie | None:
    """Split one ``Set-Cookie`` value like a browser; None when a browser would ignore it.

    A header without ``=`` sets a nameless cookie (RFC 6265bis, what browsers do today).

    >>> parse_set_cookie(" _ga = GA1.1; Path=/; Max-Age=0").is_deletion()
    True
    """
    control = _CONTROL.search(header)
    if control is not None:
        # Over the wire a browser never sees past a line break; elsewhere it drops the header.
        if header[control.start()] not in "\r\n":
            return None
        header = header[: control.start()]
    pair, _, attributes = header.partition(";")
    name, sep, value = pair.partition("=")
    if not sep:
        name, value = "", name
    name, value = name.strip(_WSP), value.strip(_WSP)
    if not name and not value:
        return None
    if len(name) + len(value) > 4096:
        return None
    domain: str | None = None
    path: str | None = None
    max_age: int | None = None
    expires: float | None = None
    secure = http_only = False
    for attribute in attributes.split(";") if attributes else ():
        key, _, attr_value = attribute.partition("=")
        key = key.strip(_WSP).lower()
        attr_value = attr_value.strip(_WSP)
        if len(attr_value) > 1024:
            continue
        if key == "max-age":
            parsed_age = _parse_max_age(attr_value)
            if parsed_age is not None:
                max_age = parsed_age
        elif key == "expires":
            parsed_date = parse_cookie_date(attr_value)
            if parsed_date is not None:
                expires = parsed_date
        elif key == "domain":
            domain = attr_value.lstrip(".").lower() or None
        elif key == "path":
            path = attr_value if attr_value.startswith("/") else None
        elif key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
    return SetCookie(name, value, domain, path, max_age, expires, secure, http_only)


def _parse_max_age(text: str) -> int | None:
    digits = text[1:] if text[:1] == "-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(text)


_DATE_DELIMITERS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)")
_DAY = re.compile(r"(\d{1,2})(?:\D|$)")
_YEAR = re.compile(r"(\d{2,4})(?:\D|$)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def parse_cookie_date(text: str) -> float | None:
    """The RFC 6265 section 5.1.1 cookie-date algorithm; epoch seconds or None."""
    hms: tuple[int, int, int] | None = None
    day = month = year = None
    for token in _DATE_DELIMITERS.split(text):
        if not token:
            continue
        if hms is None and (match := _TIME.match(token)) is not None:
            hms = (int(match[1]), int(match[2]), int(match[3]))
        elif day is None and (match := _DAY.match(token)) is not None:
            day = int(match[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (match := _YEAR.match(token)) is not None:
            year = int(match[1])
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


# --- domains a cookie may live on ------------------------------------------------------------


def cookie_domains(host: str) -> list[str]:
    """Domains a cookie visible to ``host`` may carry, from the host up to the registrable one.

    Empty for IP literals and single-label hosts, which only have host-only cookies.

    >>> cookie_domains("www.shop.example.co.uk")
    ['www.shop.example.co.uk', 'shop.example.co.uk', 'example.co.uk']
    """
    host = host.lower().rstrip(".")
    if not host or "." not in host or not _HOSTNAME.fullmatch(host):
        return []  # (also an IPv6 literal, or a Host header carrying anything but a name)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return []
    labels = host.split(".")
    registrable = 3 if listed_suffix(labels) else 2
    if len(labels) < registrable:
        return []
    return [".".join(labels[index:]) for index in range(len(labels) - registrable + 1)]


_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
# What may be echoed into an expiring Set-Cookie: an RFC 6265 cookie-name (an RFC 9110
# token) and a host name made of DNS labels; anything else could inject attributes or lines.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def deletion_headers(
    name: str, *, host: str, paths: Iterable[str] = ("/",), extra_domains: Iterable[str] = (),
    secure: bool = False,
) -> list[str]:  # fmt: skip
    """Expiring ``Set-Cookie`` values for every variant that could hold cookie ``name``.

    A browser keys a cookie by (name, domain, host-only flag, path): one line per variant,
    host-only and each parent domain up to the registrable one, on each path.
    """
    if name.startswith("__Host-"):
        # The prefix forbids Domain and any path but "/": there is exactly one variant.
        return [f"{name}=; Max-Age=0; Expires={_EPOCH}; Path=/; Secure"]
    secure_flag = "; Secure" if secure or name.startswith("__Secure-") else ""
    domains = cookie_domains(host)
    for extra in extra_domains:
        extra = extra.lstrip(".").lower()
        if extra in domains or not host.lower().endswith("." + extra):
            continue
        domains.append(extra)
    lines: list[str] = []
    for path in dict.fromkeys(paths):
        base = f"{name}=; Max-Age=0; Expires={_EPOCH}; Path={path}"
        lines.append(base + secure_flag)
        lines.extend(f"{base}; Domain={domain}{secure_flag}" for domain in domains)
    return lines


# --- inventory of what the app sets ----------------------------------------------------------


@dataclass
class CookieRecord:
    """One cookie name (on one domain) the app set, and what the firewall did with it."""

    name: str
    domain: str
    service_id: str | None
    category: str | None
    decision: CookieDecision
    first_seen: float
    last_seen: float
    count: int = 1
    blocked: int = 0


@dataclass
class CookieInventory:
    """Bounded in-process list of the cookies the app sets; ``on_new`` sees each new entry.

    Bounded because cookie names can carry ids (``ab_test_1234``): past ``limit`` entries, new
    names are only counted in ``overflow``.
    """

    limit: int = 1024
    on_new: Callable[[CookieRecord], None] | None = None
    # Every observation (name, domain, decision, service id or ""): the audit writer's
    # ``observe_cookie`` fits, so the cookie inventory is persisted with counts.
    on_observe: Callable[[str, str, str, str], None] | None = None
    overflow: int = 0
    _records: dict[tuple[str, str], CookieRecord] = field(default_factory=dict)

    def record(self, cookie: SetCookie, service: Service | None, decision: CookieDecision) -> None:
        key = (cookie.name, cookie.domain or "")
        if self.on_observe is not None:
            self.on_observe(key[0], key[1], decision, service.id if service else "")
        now = time.time()
        entry = self._records.get(key)
        if entry is None:
            if len(self._records) >= self.limit:
                self.overflow += 1
                return
            entry = CookieRecord(
                name=cookie.name,
                domain=cookie.domain or "",
                service_id=service.id if service else None,
                category=service.category if service else None,
                decision=decision,
                first_seen=now,
                last_seen=now,
                count=0,
            )
            self._records[key] = entry
            if self.on_new is not None:
                self.on_new(entry)
        entry.count += 1
        entry.last_seen = now
        if decision == "blocked" or decision == "unknown_blocked":
            entry.blocked += 1
        elif decision != "deletion":
            entry.decision = decision

    def snapshot(self) -> list[CookieRecord]:
        return [CookieRecord(**vars(record)) for record in self._records.values()]

    def __iter__(self) -> Iterator[CookieRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._records)


# --- the firewall ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterResult:
    headers: RawHeaders  # the response headers with the disallowed Set-Cookie lines removed
    dropped: int


class CookieFirewall:
    """Classifies cookie names once (cached) and filters the app's ``Set-Cookie`` lines.

    The cookies of CNIL-exempt services (``cnil_exempt_audience``) also get their lifetime
    capped at 13 months from the day the browser first got them (``cookie_lifetime``); a firewall
    needs ``bind`` to the request for that, as what the browser holds decides the cap.

    >>> from consentgate.policy.load import load_dict
    >>> firewall = CookieFirewall(load_dict({}), own_names={"consentgate"})
    >>> firewall.decide("_ga", Consent.none())[1]
    'blocked'
    """

    def __init__(
        self,
        policy: Policy,
        *,
        own_names: Iterable[str],
        inventory: CookieInventory | None = None,
        cache_size: int = 4096,
    ) -> None:
        self._lookup = policy.lookup
        self._unknown = policy.unknown_cookies
        self._own_names = frozenset(own_names)
        self.inventory = inventory if inventory is not None else CookieInventory()
        self._cache: dict[str, Service | None] = {}
        self._cache_size = cache_size
        self._deletions: dict[tuple[str, str, bool], list[str]] = {}
        self._settings = policy.cookie
        # Only a policy with exempt services that declare cookies caps anything.
        self._caps = any(policy.service(sid).cookies for sid in policy.cnil_exempt_services)
        if self._caps:
            self._own_names |= frozenset(record_names(policy.cookie))
        self._held: Mapping[str, str] = {}
        self._secure = False
        self._now: float | None = None

    @property
    def binds(self) -> bool:
        """Does :meth:`bind` make a copy (the policy caps cookies the browser holds), or give
        this firewall back?"""
        return self._caps

    def bind(
        self, request_cookies: Mapping[str, str], *, secure: bool, now: float | None = None
    ) -> CookieFirewall:
        """This firewall for one request whose browser sent ``request_cookies``.

        The same object when the policy caps no cookie; otherwise a shallow copy sharing the
        caches (``now`` is for tests).
        """
        if not self.binds:
            return self
        bound = object.__new__(CookieFirewall)
        bound.__dict__ = {**self.__dict__, "_held": request_cookies, "_secure": secure, "_now": now}
        return bound

    def service_for(self, name: str) -> Service | None:
        try:
            return self._cache[name]
        except KeyError:
            pass
        service = self._lookup.service_for_cookie(name)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()  # names seen again are re-classified: cheap, and memory stays flat
        self._cache[name] = service
        return service

    def decide(self, name: str, consent: Consent) -> tuple[Service | None, CookieDecision]:
        if name in self._own_names:
            return None, "own"
        service = self.service_for(name)
        if service is None:
            if self._unknown == "block":
                return None, "unknown_blocked"
            return None, "unknown_reported" if self._unknown == "report" else "unknown_allowed"
        if service.category == NECESSARY:
            return service, "necessary"
        if consent.allows_service(service.id, service.category):
            return service, "granted"
        return service, "blocked"

    def filter(self, headers: Sequence[tuple[bytes, bytes]], consent: Consent) -> FilterResult:
        """Remove the ``Set-Cookie`` lines the visitor has not allowed; keep the others intact."""
        kept: RawHeaders = []
        dropped = 0
        cap: LifetimeCap | None = None
        for key, value in headers:
            if key.lower() == b"set-cookie":
                cookie = parse_set_cookie(header_text(value))
                if cookie is None:
                    continue  # a browser ignores it too; passing it on would only hide a name
                service, decision = self.decide(cookie.name, consent)
                if decision != "own" and cookie.is_deletion():
                    decision = "deletion"
                if decision != "own":
                    self.inventory.record(cookie, service, decision)
                if decision == "blocked" or decision == "unknown_blocked":
                    dropped += 1
                    continue
                if decision == "granted" and service is not None and service.cnil_exempt_audience:
                    if cap is None:
                        cap = LifetimeCap(self._settings, self._held, secure=self._secure, now=self._now)
                    value = cap.cap(cookie.name, _lifetime(cookie, cap.now), value)
            kept.append((key, value))
        record = cap.record_line() if cap is not None else None
        if record is not None:
            kept.append((b"set-cookie", record))
        return FilterResult(kept, dropped)

    def sweep(
        self, request_cookies: Iterable[str], consent: Consent, *, host: Callable[[], str], secure: bool
    ) -> list[str]:
        """Expiring ``Set-Cookie`` values for request cookies of categories not granted now.

        Unknown cookies are never swept, whatever ``unknown_cookies`` says: they may be the
        app's session, and removing storage nobody declared is not ours to decide.
        """
        lines: list[str] = []
        for name in request_cookies:
            if not _TOKEN.fullmatch(name):
                continue  # echoed into Set-Cookie: never a name that could add attributes or lines
            service, decision = self.decide(name, consent)
            if decision != "blocked" or service is None:
                continue
            key = (name, host(), secure)
            found = self._deletions.get(key)
            if found is None:
                found = self._deletion_lines(name, service, key[1], secure)
                if len(self._deletions) >= self._cache_size:
                    self._deletions.clear()
                self._deletions[key] = found
            lines.extend(found)
        return lines

    @staticmethod
    def _deletion_lines(name: str, service: Service, host: str, secure: bool) -> list[str]:
        paths = ["/"]
        domains: list[str] = []
        for spec in service.cookies:
            if spec.matches(name):
                paths.append(spec.path or "/")
                if spec.domain:
                    domains.append(spec.domain)
        return deletion_headers(name, host=host, paths=paths, extra_domains=domains, secure=secure)


def _lifetime(cookie: SetCookie, now: float) -> float | None:
    """Seconds the browser will keep ``cookie``; None for a session cookie."""
    if cookie.max_age is not None:  # Max-Age wins over Expires (RFC 6265 5.3 step 3)
        return cookie.max_age
    if cookie.expires is not None:
        return cookie.expires - now
    return None
