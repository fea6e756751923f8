"""CSP violation reports: both wire formats, classification, the bounds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.state import Consent
from consentgate.http.csp import ConsentSummary
from consentgate.http.csp_reports import (
    Deduplicator,
    ReportError,
    TokenBuckets,
    Violation,
    classify,
    parse_reports,
    url_host,
    violation_event,
)
from consentgate.policy.load import load_dict

POLICY = load_dict(
    {
        "include_catalog": False,
        "first_party_hosts": ["shop.example"],
        "services": {
            "gtm": {"name": "Tag Manager", "category": "analytics", "hosts": ["tags.example"]},
            "meta": {"name": "Meta Pixel", "category": "marketing", "hosts": ["pixel.example"]},
        },
    }
)
LEGACY = {
    "csp-report": {
        "document-uri": "https://shop.example/shop?session=secret#top",
        "referrer": "https://search.example/?q=me",
        "violated-directive": "img-src",
        "effective-directive": "img-src",
        "original-policy": "img-src 'self'",
        "disposition": "enforce",
        "blocked-uri": "https://www.pixel.example/tr?id=123&ud=me@example.com",
        "source-file": "https://www.tags.example/gtm.js?id=GTM-1",
        "line-number": 10,
        "status-code": 200,
    }
}
REPORTING_API = [
    {
        "type": "csp-violation",
        "age": 10,
        "url": "https://shop.example/shop?x=1",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://shop.example/shop?x=1",
            "blockedURL": "https://pixel.example:8443/p.js",
            "effectiveDirective": "script-src-elem",
            "disposition": "report",
            "originalPolicy": "script-src 'self'",
            "sample": "",
            "statusCode": 200,
            "lineNumber": 3,
        },
    },
    {"type": "deprecation", "url": "https://shop.example/", "body": {"id": "x"}},
]


def test_legacy_report_uri_format_is_read() -> None:
    (violation,) = parse_reports(json.dumps(LEGACY).encode(), "application/csp-report")
    assert violation.directive == "img-src" and violation.disposition == "enforce"
    assert violation.format == "report-uri"


def test_reporting_api_format_keeps_only_csp_violations() -> None:
    (violation,) = parse_reports(
        json.dumps(REPORTING_API).encode(), "application/reports+json; charset=utf-8"
    )
    assert violation.directive == "script-src-elem" and violation.disposition == "report"
    assert violation.format == "report-to"


def test_plain_json_is_read_by_its_shape() -> None:
    assert parse_reports(json.dumps(LEGACY).encode(), "application/json")[0].format == "report-uri"
    assert parse_reports(json.dumps(REPORTING_API).encode(), "application/json")[0].format == "report-to"


def test_a_violated_directive_stands_in_for_a_missing_effective_one() -> None:
    body = {"csp-report": {"blocked-uri": "https://x.example/", "violated-directive": "connect-src 'self'"}}
    assert parse_reports(json.dumps(body).encode(), "application/csp-report")[0].directive == "connect-src"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "multipart/form-data"]
)
def test_another_media_type_is_415(content_type: str) -> None:
    with pytest.raises(ReportError) as raised:
        parse_reports(json.dumps(LEGACY).encode(), content_type)
    assert raised.value.status == 415


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/csp-report"),
        (b"\xff\xfe", "application/csp-report"),
        (b"[]", "application/csp-report"),
        (b'{"csp-report": "x"}', "application/csp-report"),
        (b'{"csp-report": {"blocked-uri": 5}}', "application/csp-report"),
        (b"{}", "application/reports+json"),
        (b"[1]", "application/reports+json"),
        (b'[{"body": {}}]', "application/reports+json"),
        (b'[{"type": "csp-violation", "body": []}]', "application/reports+json"),
        (b'[{"type": "csp-violation", "body": {"blockedURL": ["x"]}}]', "application/reports+json"),
        (b'"text"', "application/json"),
    ],
)
def test_malformed_bodies_are_400(body: bytes, content_type: str) -> None:
    with pytest.raises(ReportError) as raised:
        parse_reports(body, content_type)
    assert raised.value.status == 400


def test_a_batch_is_cut_at_the_report_limit() -> None:
    batch = [REPORTING_API[0]] * 100
    assert len(parse_reports(json.dumps(batch).encode(), "application/reports+json")) == 32


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode())
)
def test_any_body_parses_or_is_refused_with_a_4xx(body: bytes) -> None:
    for content_type in ("application/csp-report", "application/reports+json", "application/json"):
        try:
            parse_reports(body, content_type)
        except ReportError as error:
            assert error.status in (400, 415)


def violation(
    blocked: str, *, document: str = "https://shop.example/shop?x=1", source: str = ""
) -> Violation:
    return Violation(blocked, "img-src", document, "enforce", source, "report-uri")


def test_a_refused_marketing_host_is_a_leak_and_names_its_service() -> None:
    analytics_only = Consent.none().with_choice({"analytics"}, source="banner")
    found = classify(
        violation("https://www.pixel.example/tr?id=1", source="https://tags.example/gtm.js?id=1"),
        POLICY,
        analytics_only,
    )
    assert found is not None
    assert (found.verdict, found.service_id, found.service_name, found.category) == (
        "leak",
        "meta",
        "Meta Pixel",
        "marketing",
    )
    assert found.host == "www.pixel.example" and found.page == "/shop"
    assert (found.source_host, found.source_service) == ("tags.example", "gtm")


def test_a_granted_service_the_header_did_not_name_is_not_a_leak() -> None:
    marketing = Consent.none().with_choice({"marketing"}, source="banner")
    found = classify(violation("https://pixel.example/x"), POLICY, marketing)
    assert found is not None and found.verdict == "not_listed"


def test_unknown_consent_makes_a_tracker_a_suspected_leak() -> None:
    found = classify(violation("https://pixel.example/x"), POLICY, None)
    assert found is not None and found.verdict == "suspected_leak"


def test_hosts_nobody_claims_are_unclassified_and_the_site_s_own_are_first_party() -> None:
    other = classify(violation("https://cdn.example.net/x.png"), POLICY, None)
    own = classify(violation("https://static.shop.example/x.png"), POLICY, None)
    same = classify(violation("http://localhost:9000/x"), POLICY, None, page_host="localhost")
    assert other is not None and other.verdict == "unclassified" and other.category == "unknown"
    assert own is not None and own.verdict == "first_party"
    assert same is not None and same.verdict == "first_party"


@pytest.mark.parametrize(
    "blocked",
    [
        "inline",
        "eval",
        "data:image/png;base64,AA",
        "blob:https://x/1",
        "chrome-extension://abc/x.js",
        "",
        "https://[bad/x",
    ],
)
def test_loads_that_are_not_network_hosts_are_not_classified(blocked: str) -> None:
    assert classify(violation(blocked), POLICY, None) is None


def test_the_signed_summary_is_a_consent_state() -> None:
    summary = ConsentSummary(POLICY, ["k" * 32])
    state = summary.verify(summary.sign(Consent.none().with_choice({"analytics"}, source="banner")))
    assert state is not None
    found = classify(violation("https://pixel.example/x"), POLICY, state)
    assert found is not None and found.verdict == "leak"


def test_the_event_keeps_hosts_and_paths_never_urls_or_identifiers() -> None:
    analytics_only = Consent.none().with_choice({"analytics"}, source="banner")
    (parsed,) = parse_reports(json.dumps(LEGACY).encode(), "application/csp-report")
    found = classify(parsed, POLICY, analytics_only)
    assert found is not None
    event = violation_event(
        POLICY, parsed, found, state=analytics_only, state_source="cookie", ua=("Chrome 131", "Linux", "pc")
    )
    text = json.dumps(event.to_dict())
    for secret in (
        "session=secret",
        "id=123",
        "me@example.com",
        "search.example",
        "GTM-1",
        "/tr",
        analytics_only.consent_id,
    ):
        assert secret not in text
    assert event.action == "csp_violation" and event.path == "/shop"
    assert event.categories == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    assert event.detail["blocked_host"] == "www.pixel.example"
    assert event.detail["verdict"] == "leak" and event.detail["service"] == "meta"
    assert event.detail["consent"] == "cookie" and event.detail["source_service"] == "gtm"
    assert event.consent_id.startswith("csp-")
    other = violation_event(POLICY, parsed, found, state=analytics_only, state_source="cookie")
    assert other.consent_id != event.consent_id  # one per report: retention can delete each


def test_an_unknown_state_leaves_the_categories_empty() -> None:
    parsed = violation("https://pixel.example/x")
    found = classify(parsed, POLICY, None)
    assert found is not None
    event = violation_event(POLICY, parsed, found, state=None, state_source="unknown")
    assert event.categories == {} and event.detail["consent"] == "unknown"


def test_url_host_drops_ports_and_trailing_dots() -> None:
    assert url_host("https://A.Example.:8443/x") == "a.example"
    assert url_host("wss://rt.example/socket") == "rt.example"


def test_token_buckets_refill_at_their_rate_and_stay_bounded() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3, max_keys=2)
    assert [buckets.take("a", now=0.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert buckets.take("a", now=0.6) == 0.0  # 1.2 tokens refilled, one taken
    buckets.take("b", now=1.0)
    buckets.take("c", now=1.0)  # evicts the least recently used: "a"
    assert buckets.take("a", now=1.0) == 0.0


def test_token_buckets_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBuckets(rate=0, burst=1)


def test_deduplicator_lets_one_through_per_window() -> None:
    dedupe = Deduplicator(window=10.0, max_keys=2)
    assert dedupe.first(("h", "img-src"), now=0.0)
    assert not dedupe.first(("h", "img-src"), now=9.0)
    assert dedupe.first(("h", "img-src"), now=10.0)
    assert dedupe.first(("other",), now=10.0)


NOTHING = Consent.none().with_choice(set(), source="banner")
EVERYTHING = Consent.none().with_choice({"analytics", "marketing"}, source="banner")


def test_a_choice_made_on_the_page_is_granted_on_page_not_a_leak() -> None:
    # Served before the visitor accepted; the cookie the report carries says they accept now.
    found = classify(violation("https://pixel.example/x"), POLICY, NOTHING, current=EVERYTHING)
    assert found is not None and found.verdict == "granted_on_page"


def test_a_load_by_consentgate_s_runtime_is_granted_on_page_without_a_cookie() -> None:
    by_runtime = violation(
        "https://pixel.example/x", source="https://shop.example/app/_consentgate/static/runtime.1a2b.js"
    )
    found = classify(
        by_runtime, POLICY, NOTHING, page_host="shop.example", runtime_path="/_consentgate/static/"
    )
    assert found is not None and found.verdict == "granted_on_page"
    elsewhere = violation(
        "https://pixel.example/x", source="https://evil.example/_consentgate/static/runtime.js"
    )
    found = classify(
        elsewhere, POLICY, NOTHING, page_host="shop.example", runtime_path="/_consentgate/static/"
    )
    assert found is not None and found.verdict == "leak"


def test_refused_then_and_now_is_a_leak_whatever_the_source() -> None:
    injected = violation("https://pixel.example/x", source="https://tags.example/gtm.js")
    found = classify(injected, POLICY, NOTHING, current=ANALYTICS_ONLY)
    assert found is not None and found.verdict == "leak"


def test_a_load_by_a_script_that_was_not_allowed_either_is_a_follow_on() -> None:
    injected = violation("https://pixel.example/x", source="https://tags.example/gtm.js")
    found = classify(injected, POLICY, NOTHING)
    assert found is not None and found.verdict == "follow_on"
    found = classify(injected, POLICY, ANALYTICS_ONLY)
    assert found is not None and found.verdict == "leak"


ANALYTICS_ONLY = Consent.none().with_choice({"analytics"}, source="banner")
