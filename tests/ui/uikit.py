"""Builders for the UI tests: a small policy, render contexts, and HTML5 parsing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

import html5lib

from consentgate.consent.state import Consent
from consentgate.policy.model import (
    Category,
    ConsentModeSettings,
    Controller,
    CookieSpec,
    Policy,
    Service,
    Theme,
)
from consentgate.ui.render import RenderContext

CATEGORIES = (
    Category("necessary", {"en": "Necessary"}, {"en": "Keeps the site working."}, required=True),
    Category(
        "preferences",
        {"en": "Preferences"},
        {"en": "Remembers your settings."},
        consent_mode=("functionality_storage", "personalization_storage"),
    ),
    Category(
        "analytics",
        {"en": "Analytics"},
        {"en": "Counts visits."},
        consent_mode=("analytics_storage",),
    ),
    Category(
        "marketing",
        {"en": "Marketing"},
        {"en": "Shows ads."},
        consent_mode=("ad_storage", "ad_user_data", "ad_personalization"),
    ),
)

SERVICES = (
    Service(
        "session",
        "Session",
        "necessary",
        provider="Example Ltd",
        description="Keeps you logged in.",
        cookies=(CookieSpec("sid"),),
        justification="login",
    ),
    Service(
        "matomo",
        "Matomo",
        "analytics",
        provider="InnoCraft",
        description="Counts page views.",
        privacy_url="https://matomo.org/privacy-policy/",
        cookies=(
            CookieSpec("_pk_id", lifetime="13 months", lifetime_seconds=390 * 86_400),
            CookieSpec("_pk_ses", lifetime="30 minutes", lifetime_seconds=1800),
        ),
    ),
    Service(
        "meta-pixel",
        "Meta Pixel",
        "marketing",
        provider="Meta Platforms",
        purposes=("advertising",),
        cookies=(CookieSpec("_fbp", lifetime_seconds=90 * 86_400, third_party=True),),
    ),
    Service(
        "youtube",
        "YouTube",
        "marketing",
        provider="Google",
        description="Video player.",
        cookies=(CookieSpec("VISITOR_INFO1_LIVE", lifetime_seconds=180 * 86_400, third_party=True),),
        origin="catalog",
    ),
    Service("hotjar", "Hotjar", "analytics", provider="Hotjar Ltd", origin="catalog"),
)


def make_policy(**overrides: Any) -> Policy:
    values: dict[str, Any] = {
        "categories": CATEGORIES,
        "services": SERVICES,
        "controller": Controller(name="Example Ltd", address="1 Main Street", contact="privacy@example.com"),
        "consent_mode": ConsentModeSettings(mode="basic"),
        "theme": Theme(),
    }
    values.update(overrides)
    return Policy(**values)


def no_choice(policy: Policy) -> Consent:
    return Consent.none(policy.service_categories)


def choice(policy: Policy, categories: set[str], **kwargs: Any) -> Consent:
    return no_choice(policy).with_choice(categories, source="banner", now=1_790_000_000, **kwargs)


def context(policy: Policy, consent: Consent | None = None, **kwargs: Any) -> RenderContext:
    values: dict[str, Any] = {
        "consent": consent if consent is not None else no_choice(policy),
        "show_banner": consent is None or not consent.exists,
        "locale": "en",
        "csrf_token": "csrf-token",
        "next_url": "/page?a=1&b=2",
        "nonce": "n0nce",
    }
    values.update(kwargs)
    return RenderContext(**values)


def parse(markup: bytes | str) -> ET.Element:
    """The document an HTML5 parser builds (fragments land in <body>)."""
    tree: ET.Element = html5lib.parse(markup, namespaceHTMLElements=False)
    return tree


def find_all(root: ET.Element, tag: str = "*", **attributes: str | None) -> list[ET.Element]:
    """Elements with ``tag`` whose attributes equal the given values (None: present)."""
    found = []
    for element in root.iter(tag):
        if all(
            (name.replace("_", "-") in element.attrib)
            if value is None
            else element.get(name.replace("_", "-")) == value
            for name, value in attributes.items()
        ):
            found.append(element)
    return found


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def parents(root: ET.Element) -> Mapping[ET.Element, ET.Element]:
    return {child: parent for parent in root.iter() for child in parent}


def descendants(element: ET.Element) -> Iterator[ET.Element]:
    yield from element.iter()
