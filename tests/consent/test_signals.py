"""Region resolution, Sec-GPC and DNT parsing, the GPC support resource (CG-50, CG-60, CG-66, CG-69)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.signals import (
    GPC_SUPPORT_SINCE,
    REGION_PRESETS,
    Region,
    RegionReader,
    Signals,
    gpc_support_resource,
    is_dnt_value,
    normalise_region,
    read_signals,
)
from consentgate.policy.regions import COUNTRIES

EDGE = ("10.0.0.7", 443)
STRANGER = ("203.0.113.9", 51000)


def scope(*headers: tuple[str, str], client: tuple[str, int] | None = EDGE) -> dict[str, Any]:
    return {
        "type": "http",
        "client": client,
        "headers": [(name.encode(), value.encode()) for name, value in headers],
    }


# -- Sec-GPC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"sec-gpc", b"1")], True),
        ([(b"sec-gpc", b" 1 ")], True),
        ([(b"sec-gpc", b"\t1")], True),
        ([(b"sec-gpc", b"0")], False),
        ([(b"sec-gpc", b"true")], False),
        ([(b"sec-gpc", b"yes")], False),
        ([(b"sec-gpc", b"")], False),
        ([(b"sec-gpc", b"1, 1")], False),
        ([(b"sec-gpc", b"01")], False),
        ([(b"sec-gpc", b"0"), (b"sec-gpc", b"1")], True),
        ([(b"sec-gpc", b"1"), (b"sec-gpc", b"0")], True),
        ([], False),
        ([(b"x-sec-gpc", b"1")], False),
    ],
)
def test_sec_gpc_counts_only_an_exact_one(headers: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert read_signals(headers).gpc is expected


@given(st.binary(max_size=8))
@settings(max_examples=200)
def test_sec_gpc_is_true_exactly_for_one_with_optional_whitespace(value: bytes) -> None:
    assert read_signals([(b"sec-gpc", value)]).gpc is (value.strip(b" \t") == b"1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1", True),
        (b" 1", True),
        (b"1xyz", True),
        (b"0", False),
        (b"", False),
        (b"1,0", False),
        (b"yes", False),
    ],
)
def test_dnt_one_with_optional_extension_is_recorded(value: bytes, expected: bool) -> None:
    assert is_dnt_value(value) is expected
    assert read_signals([(b"dnt", value)]) == Signals(gpc=False, dnt=expected)


# -- region codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("FR", "FR"),
        ("fr", "FR"),
        (" us-ca ", "US-CA"),
        ("GB-ENG", "GB-ENG"),
        ("XX", ""),  # Cloudflare: unknown
        ("T1", ""),  # Cloudflare: Tor
        ("EU", ""),  # not a country
        ("UK", ""),  # not ISO
        ("", ""),
        (None, ""),
        ("US-", "US"),
        ("US-TOOLONG", "US"),
        ("F", ""),
        ("FRA", ""),
        ("US,FR", ""),
    ],
)
def test_region_codes_are_normalised_and_junk_is_unknown(raw: str | None, code: str) -> None:
    assert normalise_region(raw) == code


@given(st.text(max_size=12))
@settings(max_examples=300)
def test_normalised_region_is_empty_or_a_valid_iso_code(raw: str) -> None:
    code = normalise_region(raw)
    assert code == "" or re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", code)
    assert code == "" or code[:2] in COUNTRIES


# -- region headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "headers", "code"),
    [
        ("cloudflare", (("cf-ipcountry", "US"), ("cf-region-code", "CA")), "US-CA"),
        ("cloudflare", (("cf-ipcountry", "FR"),), "FR"),
        ("cloudflare", (("cf-ipcountry", "XX"),), ""),
        (
            "cloudfront",
            (("cloudfront-viewer-country", "US"), ("cloudfront-viewer-country-region", "CO")),
            "US-CO",
        ),
        ("vercel", (("x-vercel-ip-country", "DE"), ("x-vercel-ip-country-region", "BY")), "DE-BY"),
        ("fastly", (("fastly-geo-country", "US"), ("fastly-geo-region", "TX")), "US-TX"),
        ("fastly", (("fastly-geo-country", "US"), ("fastly-geo-region", "US-TX")), "US-TX"),
        ("fastly", (("fastly-geo-country", "BR"), ("fastly-geo-region", "NO REGION")), "BR"),
    ],
)
def test_presets_read_country_and_subdivision_from_a_trusted_proxy(
    preset: str, headers: tuple[tuple[str, str], ...], code: str
) -> None:
    reader = RegionReader(region_header=preset, trusted_proxies=["10.0.0.0/8"])
    expected = Region(code, f"header:{REGION_PRESETS[preset][0]}") if code else Region("", "fallback")
    assert reader.resolve(scope(*headers)) == expected


def test_region_header_from_an_untrusted_address_is_ignored() -> None:
    reader = RegionReader(region_header="cloudflare", trusted_proxies=["10.0.0.0/8"])
    spoofed = scope(("cf-ipcountry", "US"), ("cf-region-code", "TX"), client=STRANGER)
    assert reader.resolve(spoofed) == Region("", "fallback")


def test_region_header_without_a_client_address_is_ignored() -> None:
    reader = RegionReader(region_header="cloudflare", trusted_proxies=["10.0.0.0/8"])
    assert reader.resolve(scope(("cf-ipcountry", "US"), client=None)) == Region("", "fallback")
    assert reader.resolve(scope(("cf-ipcountry", "US"), client=("testclient", 50000))).code == ""


def test_custom_header_name_and_single_address_and_ipv6() -> None:
    reader = RegionReader(region_header="X-Geo", trusted_proxies=["10.0.0.7", "2001:db8::/32"])
    assert reader.resolve(scope(("x-geo", "us-ca"))) == Region("US-CA", "header:x-geo")
    assert reader.resolve(scope(("x-geo", "FR"), client=("2001:db8::1", 1))).code == "FR"
    assert reader.resolve(scope(("x-geo", "FR"), client=("10.0.0.8", 1))).code == ""


def test_ipv4_mapped_ipv6_peer_matches_an_ipv4_network() -> None:
    reader = RegionReader(region_header="cloudflare", trusted_proxies=["10.0.0.0/8"])
    assert reader.resolve(scope(("cf-ipcountry", "DE"), client=("::ffff:10.1.1.1", 1))).code == "DE"


def test_star_trusts_every_peer() -> None:
    reader = RegionReader(region_header="vercel", trusted_proxies="*")
    assert reader.resolve(scope(("x-vercel-ip-country", "JP"), client=STRANGER)).code == "JP"


def test_two_country_fields_are_ambiguous_and_unknown() -> None:
    reader = RegionReader(region_header="cloudflare", trusted_proxies=["10.0.0.0/8"])
    assert reader.resolve(scope(("cf-ipcountry", "US"), ("cf-ipcountry", "FR"))).code == ""


def test_non_ascii_header_value_is_unknown() -> None:
    reader = RegionReader(region_header="X-Geo", trusted_proxies=["*"])
    raw = {"client": EDGE, "headers": [(b"x-geo", "FR\u00e9".encode("latin-1"))]}
    assert reader.resolve(raw).code == ""


def test_resolver_callable_is_used_and_normalised() -> None:
    seen: list[Mapping[str, Any]] = []

    def geoip(request_scope: Mapping[str, Any]) -> str | None:
        seen.append(request_scope)
        return "us-co"

    reader = RegionReader(region_resolver=geoip)
    request = scope(client=STRANGER)
    assert reader.resolve(request) == Region("US-CO", "callable")
    assert seen == [request]


@pytest.mark.parametrize("answer", [None, "", "ZZ", 42])
def test_resolver_without_a_valid_answer_falls_back(answer: object) -> None:
    reader = RegionReader(region_resolver=lambda _scope: answer)  # type: ignore[arg-type,return-value]
    assert reader.resolve(scope()) == Region("", "fallback")


def test_resolver_that_raises_falls_back_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_scope: Mapping[str, Any]) -> str | None:
        raise RuntimeError("GeoIP database missing")

    reader = RegionReader(region_resolver=broken)
    with caplog.at_level(logging.ERROR, logger="consentgate.signals"):
        assert reader.resolve(scope()) == Region("", "fallback")
    assert "region_resolver raised" in caplog.text


def test_trusted_header_wins_and_resolver_covers_its_absence() -> None:
    reader = RegionReader(
        region_header="cloudflare", trusted_proxies=["10.0.0.0/8"], region_resolver=lambda _s: "BR"
    )
    assert reader.resolve(scope(("cf-ipcountry", "FR"))) == Region("FR", "header:cf-ipcountry")
    assert reader.resolve(scope(("cf-ipcountry", "FR"), client=STRANGER)) == Region("BR", "callable")


def test_nothing_configured_is_always_the_fallback() -> None:
    reader = RegionReader()
    assert not reader.configured
    assert reader.resolve(scope(("cf-ipcountry", "US"))) == Region("", "fallback")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"region_header": "cloudflare"}, "trusted_proxies"),
        ({"region_header": "cloudflare", "trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies"),
        ({"region_header": "cloudflare", "trusted_proxies": ["proxy.local"]}, "trusted_proxies"),
        ({"region_header": "bad header", "trusted_proxies": ["*"]}, "region_header"),
        ({"region_resolver": "geoip"}, "region_resolver"),
    ],
)
def test_bad_configuration_fails_at_start_naming_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        RegionReader(**kwargs)


# -- /.well-known/gpc.json ----------------------------------------------------------------------


def test_gpc_support_resource_has_gpc_true_and_a_full_date() -> None:
    document = json.loads(gpc_support_resource())
    assert document == {"gpc": True, "lastUpdate": GPC_SUPPORT_SINCE}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", document["lastUpdate"])


def test_gpc_support_resource_date_comes_from_config_then_policy_version() -> None:
    assert json.loads(gpc_support_resource("2027-01-15"))["lastUpdate"] == "2027-01-15"
    assert json.loads(gpc_support_resource(policy_version="2026-12-24"))["lastUpdate"] == "2026-12-24"
    assert json.loads(gpc_support_resource(policy_version="2026-12-24.3"))["lastUpdate"] == "2026-12-24"
    assert json.loads(gpc_support_resource(policy_version="2026-12"))["lastUpdate"] == GPC_SUPPORT_SINCE
    assert json.loads(gpc_support_resource(policy_version="2026-13-01"))["lastUpdate"] == GPC_SUPPORT_SINCE


@pytest.mark.parametrize("value", ["2026-02-30", "26-01-01", "yesterday", "2026-01-01T00:00:00Z"])
def test_gpc_support_resource_refuses_a_date_that_is_not_one(value: str) -> None:
    with pytest.raises(ValueError, match="gpc_last_update"):
        gpc_support_resource(value)
