"""What an audit event may keep about a visitor (GDPR art. 5(1)(c), CG-43): no full IP address,
no full user agent, no query string — and nothing at all about crawlers.

IP modes: ``"none"`` (default) keeps nothing; ``"truncate"`` keeps the network, IPv4 /24
(``"203.0.113.0/24"``) and IPv6 /48 (``"2001:db8:1::/48"``); ``"hmac"`` keeps
HMAC-SHA256(key, packed address) as hex — keyed, because an unkeyed hash of an IPv4 address is
reversed by trying all 2^32 of them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from typing import Literal

from consentgate.audit.events import Action, ConsentEvent
from consentgate.consent.state import Consent
from consentgate.consent.useragent import classify
from consentgate.policy.model import Policy

IpMode = Literal["none", "truncate", "hmac"]
IP_MODES: tuple[IpMode, ...] = ("none", "truncate", "hmac")
MAX_PATH = 512


def check_ip_mode(mode: str, key: bytes | None) -> IpMode:
    """Validate configuration at start-up (names the option in the error)."""
    if mode not in IP_MODES:
        raise ValueError(f"ip_mode must be one of {', '.join(IP_MODES)}, got {mode!r}")
    if mode == "hmac" and (key is None or len(key) < 16):
        raise ValueError("ip_mode='hmac' needs ip_key of at least 16 bytes")
    return mode


def ip_value(ip: str, mode: IpMode, key: bytes | None = None) -> str:
    """The client address as the log keeps it; "" for anything unparseable.

    >>> ip_value("203.0.113.77", "truncate"), ip_value("2001:db8:1:2::5", "truncate")
    ('203.0.113.0/24', '2001:db8:1::/48')
    """
    if mode == "none" or not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:203.0.113.7 is an IPv4 client
    if mode == "truncate":
        prefix = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    if key is None:
        raise ValueError("ip_mode='hmac' needs ip_key")
    return hmac.new(key, address.packed, hashlib.sha256).hexdigest()


def clean_path(path: str) -> str:
    """The path only: no query string, no fragment, bounded length."""
    return path.partition("?")[0].partition("#")[0][:MAX_PATH]


def ua_fields(user_agent: str | None) -> tuple[str, str, str] | None:
    """(browser with major version only, os, device), or None for a crawler."""
    info = classify(user_agent)
    if info.is_bot:
        return None
    browser = info.browser
    name, _, version = browser.rpartition(" ")
    if name and version:
        browser = f"{name} {version.split('.', 1)[0]}"  # never more than the major version
    return browser, info.os, info.device


class EventBuilder:
    """Builds minimised events for one policy; configuration is checked once, here.

    >>> builder = EventBuilder(policy, ip_mode="truncate")  # doctest: +SKIP
    >>> builder.build(consent, "accept_all", user_agent=ua, client_ip="203.0.113.9")  # doctest: +SKIP
    """

    def __init__(self, policy: Policy, *, ip_mode: str = "none", ip_key: bytes | None = None) -> None:
        self.ip_mode = check_ip_mode(ip_mode, ip_key)
        self.ip_key = ip_key
        self.policy = policy
        self._category_ids = tuple(category.id for category in policy.categories)
        # Site-declared services are logged; catalog ones follow their category (derivable).
        self._declared = tuple((s.id, s.category) for s in policy.services if s.origin == "policy")
        self._fingerprint = policy.fingerprint()

    def build(
        self,
        consent: Consent,
        action: Action,
        *,
        notice_hash: str = "",
        locale: str = "",
        ui_action: str = "",
        region: str | None = None,
        region_source: str = "",
        sec_gpc: bool = False,
        dnt: bool = False,
        path: str = "",
        user_agent: str | None = None,
        client_ip: str = "",
        detail: Mapping[str, str] | None = None,
    ) -> ConsentEvent | None:
        """The event for ``consent`` after ``action``; None for a crawler (not logged)."""
        agent = ua_fields(user_agent)
        if agent is None:
            return None
        services = {sid: consent.allows_service(sid, category) for sid, category in self._declared}
        services.update(dict.fromkeys(consent.services, True))
        services.update(dict.fromkeys(consent.denied_services, False))
        return ConsentEvent(
            consent_id=consent.consent_id,
            action=action,
            categories={cid: consent.allows(cid) for cid in self._category_ids},
            services=services,
            policy_version=self.policy.version,
            policy_fingerprint=self._fingerprint,
            notice_hash=notice_hash,
            locale=locale,
            ui_action=ui_action,
            region=consent.region if region is None else region,
            region_source=region_source,
            sec_gpc=sec_gpc,
            dnt=dnt,
            path=clean_path(path),
            ua_browser=agent[0],
            ua_os=agent[1],
            ua_device=agent[2],
            ip=ip_value(client_ip, self.ip_mode, self.ip_key),
            detail=dict(detail or {}),
        )


def build_event(
    policy: Policy,
    consent: Consent,
    action: Action,
    *,
    ip_mode: str = "none",
    ip_key: bytes | None = None,
    user_agent: str | None = None,
    client_ip: str = "",
    path: str = "",
    notice_hash: str = "",
    locale: str = "",
    ui_action: str = "",
    region: str | None = None,
    region_source: str = "",
    sec_gpc: bool = False,
    dnt: bool = False,
    detail: Mapping[str, str] | None = None,
) -> ConsentEvent | None:
    """One-off form of ``EventBuilder(policy, ...).build(consent, action, ...)``; None for a
    crawler. Prefer one builder kept for the application's lifetime."""
    return EventBuilder(policy, ip_mode=ip_mode, ip_key=ip_key).build(
        consent,
        action,
        notice_hash=notice_hash,
        locale=locale,
        ui_action=ui_action,
        region=region,
        region_source=region_source,
        sec_gpc=sec_gpc,
        dnt=dnt,
        path=path,
        user_agent=user_agent,
        client_ip=client_ip,
        detail=detail,
    )
