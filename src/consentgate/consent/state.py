"""One visitor's consent state, as the server decided it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from consentgate.policy.model import NECESSARY

Source = Literal["none", "banner", "preferences", "gpc", "api", "region_default"]

_EMPTY_MAP: Mapping[str, str] = {}


def new_consent_id() -> str:
    """128 random bits, URL-safe; never derived from IP or user agent."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Consent:
    """Granted categories and per-service overrides.

    A service is allowed when it is explicitly granted, or when its category is granted and it
    is not explicitly denied. ``necessary`` is always allowed.

    >>> c = Consent.none().with_choice({"analytics"}, source="banner")
    >>> c.allows("analytics"), c.allows("marketing")
    (True, False)

    ``undecided`` marks grants without a decision: the visitor allowed one service ("Load
    content" on a blocked embed) before answering the banner. The record is kept (``exists``)
    but is no choice: what it does not grant was never asked, not refused, and the visitor is
    still asked (``before_decision``).
    """

    consent_id: str
    categories: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()  # explicitly granted (category may be denied)
    denied_services: frozenset[str] = frozenset()  # explicitly denied (category may be granted)
    issued_at: int = 0  # epoch seconds
    expires_at: int = 0
    source: Source = "none"
    fingerprint: str = ""
    exists: bool = False  # False: the visitor has made no (valid) choice
    gpc_applied: bool = False  # an opt-out preference signal was honoured
    region: str = ""
    undecided: bool = False  # grants without a decision (see above)
    # service id -> category id, shared with the policy (not part of the cookie)
    service_categories: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def none(
        cls, service_categories: Mapping[str, str] = _EMPTY_MAP, *, consent_id: str | None = None
    ) -> Consent:
        return cls(consent_id=consent_id or new_consent_id(), service_categories=service_categories)

    @property
    def shape(self) -> tuple[frozenset[str], frozenset[str], frozenset[str], bool]:
        """What this consent allows, without whose it is: the key of every cache of rendered
        output that many visitors share (never the id, dates or region)."""
        return (self.categories, self.services, self.denied_services, self.exists)

    def allows(self, key: str) -> bool:
        """True when category or service ``key`` may run for this visitor."""
        if key == NECESSARY or key in self.categories:
            return key not in self.denied_services
        if key in self.denied_services:
            return False
        if key in self.services:
            return True
        category = self.service_categories.get(key)
        return category is not None and (category == NECESSARY or category in self.categories)

    def allows_service(self, service_id: str, category: str) -> bool:
        """Like ``allows`` for a service whose category the caller already knows."""
        if service_id in self.denied_services:
            return False
        if service_id in self.services:
            return True
        return category == NECESSARY or category in self.categories

    def with_choice(
        self,
        categories: set[str] | frozenset[str],
        *,
        source: Source,
        services: set[str] | frozenset[str] = frozenset(),
        denied_services: set[str] | frozenset[str] = frozenset(),
        lifetime_seconds: int = 183 * 24 * 3600,
        fingerprint: str | None = None,
        now: int | None = None,
        gpc_applied: bool | None = None,
        region: str | None = None,
    ) -> Consent:
        issued = int(time.time()) if now is None else now
        return replace(
            self,
            categories=frozenset(categories) | {NECESSARY},
            services=frozenset(services),
            denied_services=frozenset(denied_services),
            issued_at=issued,
            expires_at=issued + lifetime_seconds,
            source=source,
            fingerprint=self.fingerprint if fingerprint is None else fingerprint,
            exists=True,
            gpc_applied=self.gpc_applied if gpc_applied is None else gpc_applied,
            region=self.region if region is None else region,
            undecided=False,
        )

    def before_decision(self, defaults: Consent) -> Consent:
        """What grants without a decision let run: ``defaults`` (what applies before a choice in
        the visitor's region) plus this record's own grants. Still no choice (``exists`` is
        False: the banner keeps asking); the id and the signal flag stay this record's.

        >>> loaded = Consent("id").with_choice(set(), source="banner", services={"youtube"})
        >>> defaults = Consent("", categories=frozenset({"necessary", "analytics"}))
        >>> view = replace(loaded, undecided=True).before_decision(defaults)
        >>> sorted(view.categories), sorted(view.services), view.exists
        (['analytics', 'necessary'], ['youtube'], False)
        """
        return replace(
            self,
            categories=self.categories | defaults.categories,
            services=self.services | (defaults.services - self.denied_services),
            denied_services=(self.denied_services | defaults.denied_services) - self.services,
            exists=False,
        )
