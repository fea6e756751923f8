from __future__ import annotations

import calendar
import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.state import Consent
from consentgate.http.cookies import (
    CookieFirewall,
    CookieInventory,
    CookieRecord,
    cookie_domains,
    deletion_headers,
    parse_cookie_date,
    parse_cookie_headers,
    parse_set_cookie,
)
from consentgate.policy.model import Category, CookieSpec, Policy, Service

NOW = 1_700_000_000.0  # 2023-11-14: the corpus dates around it are clearly past or future

POLICY = Policy(
    categories=(
        Category("necessary", {"en": "Necessary"}, {}, required=True),
        Category("analytics", {"en": "Statistics"}, {}),
        Category("marketing", {"en": "Marketing"}, {}),
    ),
    services=(
        Service("session", "Session", "necessary", cookies=(CookieSpec("sid"),), justification="login"),
        Service(
            "ga",
            "Google Analytics",
            "analytics",
            cookies=(CookieSpec("_ga"), CookieSpec("_ga_.*", is_regex=True, path="/shop")),
        ),
        Service("pixel", "Pixel", "marketing", cookies=(CookieSpec("_fbp", domain=".example.com"),)),
    ),
)
NOBODY = Consent.none(POLICY.service_categories)
ANALYTICS = NOBODY.with_choice({"analytics"}, source="banner")


def firewall(policy: Policy = POLICY, **kwargs: object) -> CookieFirewall:
    return CookieFirewall(policy, own_names={"consentgate", "__Host-consentgate"}, **kwargs)  # type: ignore[arg-type]


# --- request cookies -------------------------------------------------------------------------


def test_several_cookie_headers_are_read_and_the_first_occurrence_wins() -> None:
    headers = [(b"cookie", b"a=1; b=2"), (b"accept", b"*/*"), (b"cookie", b"a=3; consentgate=v")]
    assert parse_cookie_headers(headers) == {"a": "1", "b": "2", "consentgate": "v"}


def test_malformed_neighbours_do_not_hide_the_consent_cookie() -> None:
    headers = [(b"cookie", b'a b=1; x,y=2; ;;  ; "q=; =bare; consentgate=1.abc.def ; tail')]
    cookies = parse_cookie_headers(headers)
    assert cookies["consentgate"] == "1.abc.def"
    assert cookies["a b"] == "1"
    assert cookies["x,y"] == "2"


def test_values_are_kept_verbatim_like_a_browser_sends_them() -> None:
    cookies = parse_cookie_headers([(b"cookie", b'q="a b"; e=%32; eq=a=b=c')])
    assert cookies == {"q": '"a b"', "e": "%32", "eq": "a=b=c"}


def test_the_request_cookie_lines_of_the_http_state_suite_parse_to_what_was_sent(shared_dir: Path) -> None:
    folder = shared_dir / "corpora" / "cookies" / "http-state"
    tests = json.loads((folder / "parser.dates-fixed.json").read_text())["tests"]
    checked = 0
    for case in tests:
        expected_file = folder / "data" / "parser" / f"{case['test'].lower().replace('_', '-')}-expected"
        lines = [line for line in expected_file.read_bytes().splitlines() if line.startswith(b"Cookie:")]
        if not lines:
            continue  # no cookie sent back (0028-expected holds stray Set-Cookie lines upstream)
        line = lines[0][len(b"Cookie:") :]
        expected: dict[str, str] = {}
        for sent in case["sent"]:
            expected.setdefault(sent["name"], sent["value"])
        assert parse_cookie_headers([(b"cookie", line)]) == expected, case["test"]
        checked += 1
    assert checked == 135


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_cookie_header_parses_without_error(raw: bytes) -> None:
    assert isinstance(parse_cookie_headers([(b"cookie", raw)]), dict)


# --- Set-Cookie ------------------------------------------------------------------------------


def store(headers: list[str], *, nameless: bool, http_only_request: bool = False) -> dict[str, str]:
    """A browser's cookie jar for one host and path, enough to check the name/value split."""
    jar: dict[str, str] = {}
    for header in headers:
        cookie = parse_set_cookie(header)
        if cookie is None or (not nameless and not cookie.name):
            continue
        if cookie.is_deletion(NOW):
            jar.pop(cookie.name, None)
        elif not (http_only_request and cookie.secure):
            jar[cookie.name] = cookie.value
    return jar


def test_set_cookie_parsing_matches_the_web_platform_tests(shared_dir: Path) -> None:
    cases = json.loads((shared_dir / "corpora/cookies/wpt/wpt_cookie_cases.json").read_text())["cases"]
    checked = 0
    for case in cases:
        if any(re.search(r";\s*domain=", h, re.I) for h in case["set_cookie"]):
            continue  # domain matching is the browser's store, not the parser
        jar = store(case["set_cookie"], nameless=True)
        document_cookie = "; ".join(value if not name else f"{name}={value}" for name, value in jar.items())
        assert document_cookie == case["expected_document_cookie"], case["name"]
        checked += 1
    assert checked == 69


def test_set_cookie_parsing_matches_the_http_state_suite(shared_dir: Path) -> None:
    """RFC 6265 (2011) semantics: a nameless cookie is ignored there (RFC 6265bis keeps it, which
    the WPT cases check); the suite reads cookies back over plain HTTP, so Secure ones stay out."""
    tests = json.loads((shared_dir / "corpora/cookies/http-state/parser.dates-fixed.json").read_text())[
        "tests"
    ]
    checked = 0
    for case in tests:
        path_or_domain = any(re.search(r";\s*(domain|path)\s*=", h, re.I) for h in case["received"])
        if "sent-to" in case or path_or_domain or case["test"].startswith("DISABLED"):
            continue
        expected = [(sent["name"], sent["value"]) for sent in case["sent"]]
        assert list(store(case["received"], nameless=False, http_only_request=True).items()) == expected, case
        checked += 1
    assert checked == 125


def test_an_expires_date_with_a_comma_survives_and_is_read() -> None:
    cookie = parse_set_cookie("_ga=GA1.2; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Path=/")
    assert cookie is not None
    assert (cookie.name, cookie.value, cookie.path) == ("_ga", "GA1.2", "/")
    assert cookie.expires == calendar.timegm((2021, 6, 9, 10, 18, 14))
    assert cookie.is_deletion(NOW)


def test_max_age_wins_over_expires() -> None:
    cookie = parse_set_cookie("a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60")
    assert cookie is not None and not cookie.is_deletion(NOW)


def test_attributes_are_case_insensitive_and_domain_loses_its_dot() -> None:
    cookie = parse_set_cookie("x=1; DOMAIN=.Example.COM; pAtH=/a; SECURE; httponly")
    assert cookie is not None
    assert (cookie.domain, cookie.path, cookie.secure, cookie.http_only) == ("example.com", "/a", True, True)


def test_a_control_character_voids_the_header_but_a_line_break_ends_it() -> None:
    assert parse_set_cookie("a=b\x01c") is None
    cookie = parse_set_cookie("a=b\r\nSet-Cookie: evil=1")
    assert cookie is not None and (cookie.name, cookie.value) == ("a", "b")


def test_cookie_dates_follow_the_rfc_6265_algorithm(shared_dir: Path) -> None:
    folder = shared_dir / "corpora/cookies/http-state/data/dates"
    bsd = "\n".join(
        line for line in (folder / "bsd-examples.json").read_text().splitlines() if not line.startswith("//")
    )
    cases = json.loads((folder / "examples.json").read_text()) + json.loads(bsd)
    for case in cases:
        expected = case.get("expected")
        got = parse_cookie_date(case["test"])
        if expected is None:
            assert got is None, case
        else:
            assert got is not None, case
            assert time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(got)) == expected, case
    assert len(cases) == 70


# --- domains and deletion cookies ------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "domains"),
    [
        ("www.example.com", ["www.example.com", "example.com"]),
        ("a.b.example.co.uk", ["a.b.example.co.uk", "b.example.co.uk", "example.co.uk"]),
        ("alice.github.io", ["alice.github.io"]),
        ("example.com.", ["example.com"]),
        ("co.uk", []),
        ("localhost", []),
        ("127.0.0.1", []),
        ("[::1]", []),
        ("", []),
    ],
)
def test_cookie_domains_stop_at_the_registrable_domain(host: str, domains: list[str]) -> None:
    assert cookie_domains(host) == domains


def test_deletion_covers_host_only_and_every_parent_domain_on_each_path() -> None:
    lines = deletion_headers("_ga", host="www.example.com", paths=["/", "/shop", "/"])
    assert len(lines) == 6
    assert "_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/" in lines
    assert "_ga=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/shop; Domain=example.com" in lines
    assert all(parse_set_cookie(line).is_deletion() for line in lines)  # type: ignore[union-attr]


def test_deletion_of_prefixed_cookies_keeps_to_the_prefix_rules() -> None:
    assert deletion_headers("__Host-id", host="www.example.com", paths=["/a"]) == [
        "__Host-id=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure"
    ]
    assert all(line.endswith("; Secure") for line in deletion_headers("__Secure-id", host="example.com"))


def test_a_declared_cookie_domain_is_added_only_when_the_host_is_inside_it() -> None:
    lines = deletion_headers("x", host="app.example.com", extra_domains=[".example.com", "other.org"])
    assert [line.rpartition("Domain=")[2] for line in lines if "Domain=" in line] == [
        "app.example.com",
        "example.com",
    ]


# --- the firewall ----------------------------------------------------------------------------


def set_cookies(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"text/html"), *((b"set-cookie", v.encode()) for v in values)]


def test_cookies_of_categories_not_granted_are_dropped_and_the_rest_kept_byte_identical() -> None:
    headers = set_cookies(
        "sid=1; Path=/; HttpOnly", "_ga=GA1; Expires=Wed, 09 Jun 2038 10:18:14 GMT", "_fbp=fb.1", "theme=dark"
    )
    result = firewall().filter(headers, ANALYTICS)
    assert result.dropped == 1
    assert result.headers == [headers[0], headers[1], headers[2], headers[4]]


def test_a_mixed_case_set_cookie_header_name_is_still_filtered() -> None:
    result = firewall().filter([(b"Set-Cookie", b"_ga=1"), (b"SET-COOKIE", b"sid=2")], NOBODY)
    assert result.headers == [(b"SET-COOKIE", b"sid=2")]


def test_the_consent_cookie_and_expiring_cookies_always_pass() -> None:
    headers = set_cookies(
        "__Host-consentgate=1.a.b; Path=/", "_fbp=; Max-Age=0", "_ga=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    )
    assert firewall().filter(headers, NOBODY).headers == headers


def test_a_pattern_cookie_is_matched_by_its_regex() -> None:
    assert firewall().decide("_ga_ABC123", NOBODY)[1] == "blocked"
    assert firewall().decide("_ga_ABC123", ANALYTICS)[1] == "granted"


def test_a_per_service_denial_beats_a_granted_category() -> None:
    denied = NOBODY.with_choice({"analytics"}, source="preferences", denied_services={"ga"})
    assert firewall().decide("_ga", denied)[1] == "blocked"


@pytest.mark.parametrize(
    ("mode", "decision", "kept"),
    [
        ("allow", "unknown_allowed", True),
        ("report", "unknown_reported", True),
        ("block", "unknown_blocked", False),
    ],
)
def test_unknown_cookies_follow_the_policy(mode: str, decision: str, kept: bool) -> None:
    policy = Policy(categories=POLICY.categories, services=POLICY.services, unknown_cookies=mode)  # type: ignore[arg-type]
    wall = firewall(policy)
    assert wall.decide("mystery", NOBODY) == (None, decision)
    assert (len(wall.filter(set_cookies("mystery=1"), NOBODY).headers) == 2) is kept


def test_the_inventory_records_each_cookie_once_and_counts_blocks() -> None:
    seen: list[CookieRecord] = []
    wall = firewall(inventory=CookieInventory(on_new=seen.append))
    for _ in range(3):
        wall.filter(set_cookies("_ga=1; Domain=.Example.com", "sid=1", "consentgate=v"), NOBODY)
    records = {(r.name, r.domain): r for r in wall.inventory.snapshot()}
    assert set(records) == {("_ga", "example.com"), ("sid", "")}
    assert [r.name for r in seen] == ["_ga", "sid"]
    assert records[("_ga", "example.com")].blocked == 3
    assert records[("_ga", "example.com")].service_id == "ga"
    assert records[("sid", "")].decision == "necessary"
    assert records[("sid", "")].count == 3


def test_the_inventory_is_bounded() -> None:
    inventory = CookieInventory(limit=2)
    wall = firewall(inventory=inventory)
    wall.filter(set_cookies("a=1", "b=1", "c=1", "d=1"), NOBODY)
    assert len(inventory) == 2
    assert inventory.overflow == 2
    assert [r.name for r in inventory] == ["a", "b"]


def test_sweep_expires_request_cookies_of_categories_not_granted() -> None:
    wall = firewall()
    names = ["sid", "_ga", "_ga_XYZ", "mystery", "consentgate", "_fbp"]
    lines = wall.sweep(names, ANALYTICS, host=lambda: "www.example.com", secure=True)
    swept = {parse_set_cookie(line).name for line in lines}  # type: ignore[union-attr]
    assert swept == {"_fbp"}
    assert (
        len(lines) == 3
    )  # host-only, www.example.com, example.com: the declared .example.com is one of them
    lines = wall.sweep(names, NOBODY, host=lambda: "www.example.com", secure=False)
    paths = {(parse_set_cookie(line).name, parse_set_cookie(line).path) for line in lines}  # type: ignore[union-attr]
    assert ("_ga_XYZ", "/shop") in paths and ("_ga_XYZ", "/") in paths
    assert not any("Secure" in line for line in lines)


def test_sweep_reads_the_host_only_when_something_must_go() -> None:
    def no_host() -> str:
        raise AssertionError("host read for nothing")

    assert firewall().sweep(["sid", "mystery"], NOBODY, host=no_host, secure=False) == []
