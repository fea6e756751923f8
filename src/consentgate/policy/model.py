"""What the site declares: categories, services, notice texts, regions.

Frozen values only. Parsing and validation live in ``load.py``; the tracker catalog in
``catalog.py``; host / cookie lookup tables in ``lookup.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from consentgate.policy.lookup import Lookup

CategoryId = str
ServiceId = str

NECESSARY = "necessary"
STANDARD_CATEGORIES: tuple[str, ...] = ("necessary", "preferences", "analytics", "marketing")

UnknownMode = Literal["allow", "block", "report"]
RegionMode = Literal["opt_in", "uk_statistics", "opt_out", "notice"]
ConsentModeKind = Literal["off", "basic", "advanced"]
CspMode = Literal["off", "report-only", "enforce"]
IpMode = Literal["none", "truncate", "hmac"]
SecureMode = Literal["auto", "always", "never"]
SameSite = Literal["lax", "strict", "none"]
DntMode = Literal["like_gpc", "ignore", "auto"]
BannerPosition = Literal["bottom", "box", "center"]

CONSENT_MODE_TYPES: tuple[str, ...] = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)


# The CNIL audience-measurement exemption (deliberation 2020-091, guidelines art. 5; requirements
# CG-53): each condition the site must assert, with what it means. Consentgate enforces what it
# can see (first-party hosts, no advertising, the cookie lifetime); the rest is the site's word.
CNIL_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("first_party_only",
     "Served from the site's own hosts, with first-party cookies only; a provider acts solely as "
     "the site's processor."),
    ("audience_only",
     "Used only to measure this site's audience (visits, pages, performance), for this publisher "
     "alone."),
    ("anonymous", "Produces anonymous statistics only: no individual profile or per-visitor report."),
    ("no_cross_site", "Does not follow the visitor across other sites or apps."),
    ("no_combination", "The data are not combined or cross-referenced with any other data or processing."),
    ("no_third_party_transfer",
     "No data go to third parties, the provider included, for their own purposes."),
    ("geo_no_finer_than_city", "Geolocation from the IP address is no finer than the city."),
    ("retention_max_25_months", "The data collected are kept 25 months at most."),
)  # fmt: skip
# "13 months" as the CNIL writes it, in days that never exceed 13 calendar months from any start
# date: the shortest 13-month span is 365 + 28 = 393 days (1 February to 1 March a year later).
# Matomo's own default visitor-cookie lifetime is the same 393 days (33,955,200 seconds).
CNIL_COOKIE_LIFETIME_SECONDS = 393 * 24 * 3600


@dataclass(frozen=True)
class CookieSpec:
    """One cookie (or family of cookies) a service sets.

    ``name`` is literal unless ``is_regex``; ``lifetime_seconds`` is None for session cookies.
    """

    name: str
    is_regex: bool = False
    domain: str | None = None
    path: str = "/"
    lifetime: str = "session"
    lifetime_seconds: int | None = None
    description: str = ""
    third_party: bool = False

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.name) if self.is_regex else None

    def matches(self, cookie_name: str) -> bool:
        pattern = self._pattern
        if pattern is None:
            return cookie_name == self.name
        return pattern.fullmatch(cookie_name) is not None


@dataclass(frozen=True)
class Category:
    id: CategoryId
    label: Mapping[str, str]  # locale -> text; "en" always present
    description: Mapping[str, str]
    required: bool = False
    # UK DUAA 2025 statistics exception: may run before a choice where the region mode allows.
    uk_statistics: bool = False
    # Google Consent Mode v2 types this category grants.
    consent_mode: tuple[str, ...] = ()

    def text(self, locale: str) -> tuple[str, str]:
        return (
            self.label.get(locale) or self.label.get("en") or self.id,
            self.description.get(locale) or self.description.get("en") or "",
        )


@dataclass(frozen=True)
class Service:
    id: ServiceId
    name: str
    category: CategoryId
    provider: str = ""
    purposes: tuple[str, ...] = ()
    description: str = ""
    privacy_url: str = ""
    cookies: tuple[CookieSpec, ...] = ()
    hosts: tuple[str, ...] = ()  # registrable hosts; subdomains match too
    signatures: tuple[str, ...] = ()  # literal substrings of inline scripts
    justification: str = ""  # required for services in `necessary`
    # CCPA/CPRA: "sale" or "sharing" of personal information; what a US opt-out (or GPC) blocks.
    sale_share: bool = False
    # CNIL audience-measurement exemption (France): runs before a choice in French regions,
    # with notice and an objection; the loader accepts it only with every condition asserted.
    cnil_exempt_audience: bool = False
    # Where the entry came from: "policy" or "catalog".
    origin: Literal["policy", "catalog"] = "policy"


@dataclass(frozen=True)
class CookieSettings:
    name: str = "consentgate"
    secure: SecureMode = "auto"  # "auto": Secure + __Host- prefix when the request is HTTPS
    domain: str | None = None  # share across subdomains (drops the __Host- prefix)
    same_site: SameSite = "lax"


@dataclass(frozen=True)
class Controller:
    """The data controller named in the preference centre (GDPR Art. 13(1)(a))."""

    name: str = ""
    address: str = ""
    contact: str = ""
    privacy_url: str = "/privacy"


@dataclass(frozen=True)
class RegionRule:
    mode: RegionMode
    choice_lifetime_seconds: int
    remember_reject: bool = True
    banner: BannerPosition | None = None
    choices_link_text: str = ""


@dataclass(frozen=True)
class ConsentModeSettings:
    mode: ConsentModeKind = "off"
    wait_for_update_ms: int = 500
    url_passthrough: bool = False
    ads_data_redaction: bool = True


@dataclass(frozen=True)
class Theme:
    position: BannerPosition = "bottom"
    radius: str = "8px"
    font: str = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
    # custom-property name (without --cg-) -> value; light and dark palettes
    light: Mapping[str, str] = field(default_factory=dict)
    dark: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """Everything the site declares. Build with ``Policy.from_file`` or ``Policy.from_dict``.

    >>> policy = Policy.from_dict({"version": "2026-11"})
    >>> policy.category("analytics").id
    'analytics'
    """

    categories: tuple[Category, ...]
    services: tuple[Service, ...]
    version: str = "1"
    # locale -> message key -> text; overrides the built-in UI strings
    notice: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cookie: CookieSettings = field(default_factory=CookieSettings)
    choice_lifetime_seconds: int = 183 * 24 * 3600  # CNIL: 6 months
    unknown_third_party: UnknownMode = "report"
    unknown_cookies: UnknownMode = "report"
    first_party_hosts: tuple[str, ...] = ()
    controller: Controller = field(default_factory=Controller)
    regions: Mapping[str, RegionRule] = field(default_factory=dict)
    default_region_mode: RegionMode = "opt_in"
    gpc: bool = True
    dnt: DntMode = "auto"
    consent_mode: ConsentModeSettings = field(default_factory=ConsentModeSettings)
    csp: CspMode = "report-only"
    theme: Theme = field(default_factory=Theme)
    languages: tuple[str, ...] = ()  # empty: every built-in language
    default_language: str = "en"
    cookie_wall: bool = False
    audit_retention_seconds: int = 3 * 365 * 24 * 3600

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str) -> Policy:
        from consentgate.policy.load import load_file

        return load_file(path)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Policy:
        from consentgate.policy.load import load_dict

        return load_dict(data)

    @classmethod
    def default(cls) -> Policy:
        """The four standard categories and every catalog service in its default category."""
        from consentgate.policy.load import load_dict

        return load_dict({})

    # -- queries ----------------------------------------------------------------------------
    @cached_property
    def _categories_by_id(self) -> dict[str, Category]:
        return {c.id: c for c in self.categories}

    @cached_property
    def _services_by_id(self) -> dict[str, Service]:
        return {s.id: s for s in self.services}

    @cached_property
    def service_categories(self) -> Mapping[str, str]:
        """service id -> category id (shared by every Consent built from this policy)."""
        return {s.id: s.category for s in self.services}

    @cached_property
    def required_categories(self) -> frozenset[str]:
        return frozenset(c.id for c in self.categories if c.required)

    def category(self, category_id: str) -> Category:
        return self._categories_by_id[category_id]

    def has_category(self, category_id: str) -> bool:
        return category_id in self._categories_by_id

    def service(self, service_id: str) -> Service:
        return self._services_by_id[service_id]

    def has_service(self, service_id: str) -> bool:
        return service_id in self._services_by_id

    @cached_property
    def cnil_exempt_services(self) -> frozenset[str]:
        """Services flagged ``cnil_exempt_audience`` (they run before a choice in France only)."""
        return frozenset(s.id for s in self.services if s.cnil_exempt_audience)

    def services_in(self, category_id: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.category == category_id)

    @cached_property
    def lookup(self) -> Lookup:
        """Compiled host / cookie / inline-signature tables (built once, on first use)."""
        from consentgate.policy.lookup import Lookup

        return Lookup(self.services, self.first_party_hosts)

    def fingerprint(self) -> str:
        """Short hash of the consent-relevant fields only.

        Wording changes (labels, descriptions, notice texts) keep it; a new service, purpose,
        host or cookie changes it, and every stored choice made under the old one lapses.
        """
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        relevant = {
            "categories": sorted((c.id, c.required, c.uk_statistics) for c in self.categories),
            "services": sorted(
                (
                    s.id,
                    s.category,
                    sorted(s.purposes),
                    sorted(s.hosts),
                    sorted((k.name, k.is_regex, k.domain or "") for k in s.cookies),
                    s.sale_share,
                    # What runs without consent in France is part of what visitors are told.
                    s.cnil_exempt_audience,
                )
                for s in self.services
                # Catalog entries that the site did not name itself change with consentgate
                # releases; letting them reset every visitor's choice on upgrade would be noise.
                if s.origin == "policy"
            ),
        }
        digest = hashlib.sha256(json.dumps(relevant, separators=(",", ":")).encode()).digest()
        return digest[:6].hex()
