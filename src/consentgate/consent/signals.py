"""What a request says about where the visitor is and what the browser objects to.

- Region: one trusted edge header (a CDN preset or a custom name), believed only when the
  request comes from a configured proxy address, or a callable the site supplies (its own GeoIP).
  Anything unknown or malformed is "unknown", which the region rules turn into the strictest mode.
- Global Privacy Control: ``Sec-GPC`` counts only with the exact value ``1`` (after trimming
  optional whitespace); with several fields, one ``1`` is enough.
- Do Not Track: ``DNT: 1`` (optionally followed by DNT extension characters) is recorded; what it
  does is a policy option (``policy.dnt``), applied in ``consentgate.consent.jurisdiction``.

References:
- W3C Global Privacy Control, "The Sec-GPC header field" and "GPC Support Resource"
- W3C Tracking Preference Expression (DNT), section 5.2 (the DNT header field)
- ISO 3166-1 alpha-2 and ISO 3166-2; Cloudflare "Visitor location headers", CloudFront "Add
  CloudFront request headers" (viewer location), Vercel "Request headers", Fastly VCL
  ``client.geo.country_code`` / ``client.geo.region``
- requirements CG-50, CG-60, CG-61, CG-66, CG-69
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consentgate.policy.regions import COUNTRIES

__all__ = [
    "GPC_SUPPORT_SINCE",
    "REGION_PRESETS",
    "Region",
    "RegionReader",
    "RegionResolver",
    "Signals",
    "gpc_support_resource",
    "is_dnt_value",
    "is_gpc_value",
    "normalise_region",
    "read_signals",
]

logger = logging.getLogger("consentgate.signals")

# Edge headers: (country header, subdivision header). Every preset sends the subdivision as the
# part of the ISO 3166-2 code after the hyphen ("CA" for US-CA). Fastly sends no geo headers by
# itself; these are the names to set in VCL (see docs/regions.md):
#   set req.http.Fastly-Geo-Country = client.geo.country_code;
#   set req.http.Fastly-Geo-Region = client.geo.region;
REGION_PRESETS: Mapping[str, tuple[str, str]] = {
    "cloudflare": ("cf-ipcountry", "cf-region-code"),
    "cloudfront": ("cloudfront-viewer-country", "cloudfront-viewer-country-region"),
    "vercel": ("x-vercel-ip-country", "x-vercel-ip-country-region"),
    "fastly": ("fastly-geo-country", "fastly-geo-region"),
}

# The date consentgate began to answer GPC as documented; `lastUpdate` of
# /.well-known/gpc.json when neither the site nor its policy version names a later one.
GPC_SUPPORT_SINCE = "2026-11-27"

RegionResolver = Callable[[Mapping[str, Any]], str | None]

_OWS = b" \t"
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
_DNT = re.compile(rb"1[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?!\d)")


@dataclass(frozen=True)
class Region:
    """A resolved region: ``code`` is "" when unknown; ``source`` says how it was found
    ("header:<name>", "callable", or "fallback")."""

    code: str
    source: str


UNKNOWN = Region("", "fallback")


@dataclass(frozen=True)
class Signals:
    gpc: bool = False  # Sec-GPC: 1
    dnt: bool = False  # DNT: 1


def is_gpc_value(value: bytes) -> bool:
    """True only for the exact value ``1`` (optional whitespace around it is not part of it).

    >>> [is_gpc_value(v) for v in (b"1", b" 1\\t", b"0", b"true", b"", b"1, 1")]
    [True, True, False, False, False, False]
    """
    return value.strip(_OWS) == b"1"


def is_dnt_value(value: bytes) -> bool:
    """``1`` optionally followed by DNT extension characters (no comma, quote or backslash)."""
    return _DNT.fullmatch(value.strip(_OWS)) is not None


def read_signals(headers: Iterable[tuple[bytes, bytes]]) -> Signals:
    """GPC and DNT from ASGI request headers (lower-case names); any field with the value counts.

    >>> read_signals([(b"sec-gpc", b"0"), (b"sec-gpc", b"1")])
    Signals(gpc=True, dnt=False)
    """
    gpc = dnt = False
    for name, value in headers:
        if name == b"sec-gpc":
            gpc = gpc or is_gpc_value(value)
        elif name == b"dnt":
            dnt = dnt or is_dnt_value(value)
    return Signals(gpc=gpc, dnt=dnt)


def normalise_region(value: str | None) -> str:
    """An ISO 3166-1 code (``FR``) or ISO 3166-2 code (``US-CA``), or "" for anything else.

    Lower case and surrounding whitespace are forgiven; CDN placeholders (``XX``, ``T1``) and
    anything that is not an assigned country are unknown. A malformed subdivision keeps the
    country.

    >>> [normalise_region(v) for v in ("fr", " US-CA ", "XX", "T1", "US-", "US-CA-1", None)]
    ['FR', 'US-CA', '', '', 'US', 'US', '']
    """
    if not value:
        return ""
    country, _, subdivision = value.strip().upper().partition("-")
    return _join(country, subdivision)


def _join(country: str, subdivision: str) -> str:
    if country not in COUNTRIES:
        return ""
    if subdivision and _SUBDIVISION.fullmatch(subdivision):
        return f"{country}-{subdivision}"
    return country


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"trusted_proxies: {entry!r} is not an IP address or network (e.g. '10.0.0.0/8', '::1', or '*')"
        ) from None


class RegionReader:
    """Resolves the visitor's region once per request. Built once, at start-up.

    ``region_header`` is a preset (``cloudflare``, ``cloudfront``, ``vercel``, ``fastly``) or a header
    name carrying an ISO 3166 code; it is believed only when the connecting peer
    (``scope["client"]``) is in ``trusted_proxies`` (addresses or networks; ``"*"`` trusts every
    peer, for an origin that only the edge can reach). ``region_resolver(scope)`` returns a code or
    None; it is asked when the header gives nothing.

    >>> reader = RegionReader(region_header="cloudflare", trusted_proxies=["10.0.0.0/8"])
    >>> headers = [(b"cf-ipcountry", b"US"), (b"cf-region-code", b"CA")]
    >>> scope = {"client": ("10.1.2.3", 443), "headers": headers}
    >>> reader.resolve(scope)
    Region(code='US-CA', source='header:cf-ipcountry')
    >>> reader.resolve({**scope, "client": ("203.0.113.9", 443)})
    Region(code='', source='fallback')
    """

    def __init__(
        self,
        *,
        region_header: str | None = None,
        trusted_proxies: Sequence[str] = (),
        region_resolver: RegionResolver | None = None,
    ) -> None:
        header, resolver = region_header, region_resolver
        if isinstance(trusted_proxies, str):
            trusted_proxies = [trusted_proxies]
        self._country: bytes | None = None
        self._subdivision: bytes | None = None
        self.header_names: tuple[str, ...] = ()
        if header is not None:
            preset = REGION_PRESETS.get(header.strip().lower())
            if preset is not None:
                country, subdivision = preset
                self._country, self._subdivision = country.encode(), subdivision.encode()
                self.header_names = preset
            elif _HEADER_NAME.fullmatch(header.strip()):
                self._country = header.strip().lower().encode("ascii")
                self.header_names = (header.strip().lower(),)
            else:
                raise ValueError(
                    f"region_header: {header!r} is neither a preset ({', '.join(REGION_PRESETS)}) "
                    "nor a header name"
                )
            if not trusted_proxies:
                # A header anyone can send is no evidence of where the visitor is.
                raise ValueError(
                    "trusted_proxies: region_header is only believed from your edge proxies; list "
                    "their addresses or networks (or '*' when only the edge can reach this server)"
                )
        self._trust_all = any(entry.strip() == "*" for entry in trusted_proxies)
        self._networks = tuple(_network(entry) for entry in trusted_proxies if entry.strip() != "*")
        if resolver is not None and not callable(resolver):
            raise ValueError(f"region_resolver: expected a callable scope -> str | None, got {resolver!r}")
        self._resolver = resolver
        self._source = "header:" + self._country.decode() if self._country else ""

    @property
    def configured(self) -> bool:
        return self._country is not None or self._resolver is not None

    def trusted(self, scope: Mapping[str, Any]) -> bool:
        """True when the connecting peer is one of the configured proxies."""
        if self._trust_all:
            return True
        client = scope.get("client")
        if not self._networks or not client or not isinstance(client[0], str):
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False  # a unix socket path or a test client's made-up name
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def resolve(self, scope: Mapping[str, Any]) -> Region:
        """The region of this request; ``UNKNOWN`` when nothing trustworthy names one."""
        if self._country is not None and self.trusted(scope):
            code = self._from_headers(scope.get("headers") or ())
            if code:
                return Region(code, self._source)
        if self._resolver is not None:
            try:
                answer = self._resolver(scope)
            except Exception:
                # The site's GeoIP failing must not fail the page; unknown is the strict choice.
                logger.exception("consentgate: region_resolver raised; treating the region as unknown")
                return UNKNOWN
            code = normalise_region(answer) if isinstance(answer, str) else ""
            if code:
                return Region(code, "callable")
        return UNKNOWN

    def _from_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        countries: list[bytes] = []
        subdivisions: list[bytes] = []
        for name, value in headers:
            if name == self._country:
                countries.append(value)
            elif name == self._subdivision:
                subdivisions.append(value)
        # Two different answers mean a client added its own header next to the edge's.
        if len(countries) != 1 or len(subdivisions) > 1:
            return ""
        country = _ascii(countries[0])
        if self._subdivision is None:
            return normalise_region(country)
        subdivision = _ascii(subdivisions[0]) if subdivisions else ""
        country = country.strip().upper()
        subdivision = subdivision.strip().upper()
        if subdivision.startswith(country + "-"):
            subdivision = subdivision[len(country) + 1 :]  # a full ISO 3166-2 code is fine too
        return _join(country, subdivision)


def _ascii(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return ""


def gpc_support_resource(last_update: str | None = None, *, policy_version: str = "") -> bytes:
    """The body of ``/.well-known/gpc.json``: ``{"gpc": true, "lastUpdate": "YYYY-MM-DD"}``.

    ``lastUpdate`` is ``last_update`` when given, else the policy version when it starts with a
    date (``2026-11-01`` or ``2026-11-01.2``), else ``GPC_SUPPORT_SINCE``.

    >>> gpc_support_resource("2026-12-01")
    b'{"gpc": true, "lastUpdate": "2026-12-01"}'
    """
    date = last_update if last_update is not None else _version_date(policy_version) or GPC_SUPPORT_SINCE
    if not _valid_date(date):
        raise ValueError(f"gpc_last_update: {date!r} is not a date like '2026-11-01'")
    return json.dumps({"gpc": True, "lastUpdate": date}).encode()


def _version_date(version: str) -> str | None:
    match = _DATE.match(version)
    if match and _valid_date(match.group(0)):
        return match.group(0)
    return None


def _valid_date(text: str) -> bool:
    match = _DATE.fullmatch(text)
    if match is None:
        return False
    from datetime import date

    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True
