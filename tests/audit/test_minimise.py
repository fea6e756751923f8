"""What the log keeps about a visitor: documented IP shapes, paths without queries, coarse user
agents, nothing about crawlers."""

from __future__ import annotations

import re

import pytest

from consentgate.audit.minimise import (
    EventBuilder,
    build_event,
    check_ip_mode,
    clean_path,
    ip_value,
    ua_fields,
)
from consentgate.consent.state import Consent
from consentgate.policy.load import load_dict

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.85 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IP_KEY = b"ip-key-ip-key-ip-key-ip-key-0000"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("198.51.100.0", "198.51.100.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),  # IPv4 client behind a dual-stack socket
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
        ("2001:0db8:00ab:ffff::1", "2001:db8:ab::/48"),
        ("fe80::1%eth0", "fe80::/48"),
    ],
)
def test_truncate_keeps_only_the_network(address: str, expected: str) -> None:
    assert ip_value(address, "truncate") == expected


def test_truncated_shapes_match_the_documented_patterns() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\.0/24", ip_value("192.0.2.200", "truncate"))
    assert re.fullmatch(r"[0-9a-f:]+::/48", ip_value("2001:db8:abcd:12::1", "truncate"))


def test_none_keeps_nothing_and_garbage_gives_nothing() -> None:
    assert ip_value("203.0.113.7", "none") == ""
    assert ip_value("not an address", "truncate") == ""
    assert ip_value("", "hmac", IP_KEY) == ""


def test_hmac_is_keyed_hex_that_differs_per_key() -> None:
    first = ip_value("203.0.113.7", "hmac", IP_KEY)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first == ip_value("203.0.113.7", "hmac", IP_KEY)
    assert first != ip_value("203.0.113.7", "hmac", b"another-key-another-key-00000000")
    assert first != ip_value("203.0.113.8", "hmac", IP_KEY)


def test_ip_configuration_is_checked_at_start_up() -> None:
    with pytest.raises(ValueError, match="ip_mode must be one of"):
        check_ip_mode("full", None)
    with pytest.raises(ValueError, match="ip_key"):
        check_ip_mode("hmac", None)
    assert check_ip_mode("truncate", None) == "truncate"


def test_paths_lose_query_and_fragment() -> None:
    assert clean_path("/checkout?email=a@b.example&x=1#top") == "/checkout"
    assert clean_path("/a#b?c") == "/a"
    assert len(clean_path("/" + "x" * 5000)) == 512


def test_user_agents_are_reduced_to_family_and_major_version() -> None:
    assert ua_fields(CHROME) == ("Chrome 131", "Windows 10", "pc")
    assert ua_fields(GOOGLEBOT) is None


def test_built_events_hold_every_category_and_no_personal_detail() -> None:
    policy = load_dict({})
    consent = Consent.none(policy.service_categories).with_choice({"analytics"}, source="banner")
    builder = EventBuilder(policy, ip_mode="truncate")
    event = builder.build(
        consent,
        "save",
        user_agent=CHROME,
        client_ip="203.0.113.77",
        path="/shop?utm_source=mail",
        ui_action="banner.save",
        region="DE",
    )
    assert event is not None
    assert set(event.categories) == {c.id for c in policy.categories}
    assert event.categories["analytics"] is True and event.categories["marketing"] is False
    assert (event.path, event.ip, event.ua_browser, event.region) == (
        "/shop",
        "203.0.113.0/24",
        "Chrome 131",
        "DE",
    )
    assert event.consent_id == consent.consent_id


def test_crawlers_get_no_event() -> None:
    policy = load_dict({})
    consent = Consent.none(policy.service_categories)
    assert build_event(policy, consent, "reject_all", user_agent=GOOGLEBOT) is None
    assert build_event(policy, consent, "reject_all", user_agent=CHROME) is not None
