"""The consent-derived CSP builder: what each visitor's header names, and what it never names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.state import Consent
from consentgate.http.csp import ConsentSummary, CspBuilder, CspPage, host_sources, parse_policy
from consentgate.http.inventory import HostInventory
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from tests.http.http_harness import finding

KEY = "k" * 32


def make_policy(**extra: object) -> Policy:
    data: dict[str, object] = {
        "include_catalog": False,
        "first_party_hosts": ["example.com"],
        "services": {
            "stats": {"category": "analytics", "hosts": ["stats.example"]},
            "pixel": {"category": "marketing", "hosts": ["pixel.example", "ads.example"]},
            "pay": {"category": "necessary", "hosts": ["pay.example"], "justification": "checkout"},
            "fonts": {"category": "preferences", "hosts": ["fonts.example"]},
        },
    }
    data.update(extra)
    return load_dict(data)


def consent_for(*categories: str) -> Consent:
    return Consent.none().with_choice(set(categories), source="banner")


def allows_for(consent: Consent):  # type: ignore[no-untyped-def]
    def allows(service_id: str | None, category: str) -> bool:
        if service_id is None:
            return consent.allows(category)
        return consent.allows_service(service_id, category)

    return allows


def page_for(builder: CspBuilder, consent: Consent, **kwargs: str) -> CspPage:
    return builder.page(consent, allows_for(consent), **kwargs)  # type: ignore[arg-type]


def directives(page: CspPage) -> dict[str, tuple[str, ...]]:
    return parse_policy(page.policy_text())


@pytest.fixture
def builder() -> CspBuilder:
    return CspBuilder(make_policy(), mode="enforce", prefix="/_consentgate", secret_keys=[KEY])


def test_visitor_without_consent_gets_self_first_party_and_necessary_hosts_only(builder: CspBuilder) -> None:
    policy = directives(page_for(builder, Consent.none()))
    for name in ("script-src", "frame-src", "img-src", "connect-src"):
        sources = policy[name]
        assert "'self'" in sources
        assert "example.com:*" in sources and "*.example.com:*" in sources
        assert "pay.example:*" in sources and "*.pay.example:*" in sources
        assert not any("stats.example" in s or "pixel.example" in s for s in sources), name


def test_granted_category_adds_the_hosts_of_its_declared_services(builder: CspBuilder) -> None:
    policy = directives(page_for(builder, consent_for("analytics")))
    for name in ("script-src", "frame-src", "img-src", "connect-src"):
        assert "stats.example:*" in policy[name] and "*.stats.example:*" in policy[name]
        assert not any("pixel.example" in s or "ads.example" in s for s in policy[name])


def test_a_service_denied_explicitly_stays_out_although_its_category_is_granted(builder: CspBuilder) -> None:
    consent = Consent.none().with_choice({"marketing"}, source="preferences", denied_services={"pixel"})
    assert "pixel.example" not in page_for(builder, consent).policy_text()


def test_a_service_granted_explicitly_is_listed_although_its_category_is_refused(builder: CspBuilder) -> None:
    consent = Consent.none().with_choice(set(), source="preferences", services={"pixel"})
    text = page_for(builder, consent).policy_text()
    assert "pixel.example:*" in text and "ads.example:*" in text


def test_the_allows_predicate_decides_not_the_bare_consent(builder: CspBuilder) -> None:
    # Consent Mode "advanced" loads Google's tags without consent: the header must follow the
    # rewriter's own predicate, or enforce mode would block what the rewriter let through.
    page = builder.page(
        Consent.none(), lambda service, category: service == "stats" or category == "necessary"
    )
    assert "stats.example:*" in page.policy_text()


def test_scripts_allow_inline_and_eval_but_never_a_nonce_hash_or_strict_dynamic(builder: CspBuilder) -> None:
    script = directives(page_for(builder, consent_for("analytics", "marketing")))["script-src"]
    assert "'unsafe-inline'" in script and "'unsafe-eval'" in script
    assert not any(s.startswith(("'nonce-", "'sha")) or s == "'strict-dynamic'" for s in script)


def test_no_directive_holds_a_wildcard_or_a_bare_network_scheme(builder: CspBuilder) -> None:
    builder.inventory.record_host("img", "cdn.example.net")
    policy = directives(page_for(builder, consent_for("analytics", "marketing", "preferences")))
    for name, sources in policy.items():
        if name in ("report-uri", "report-to"):
            continue
        for source in sources:
            assert source not in ("*", "http:", "https:", "ws:", "wss:"), (name, source)
            assert not source.startswith("*:"), (name, source)
    assert "data:" not in policy["script-src"] and "blob:" not in policy["script-src"]


def test_workers_stay_same_origin_or_blob(builder: CspBuilder) -> None:
    assert directives(page_for(builder, Consent.none()))["worker-src"] == ("'self'", "blob:")


def test_images_and_frames_keep_local_schemes(builder: CspBuilder) -> None:
    policy = directives(page_for(builder, Consent.none()))
    assert {"data:", "blob:"} <= set(policy["img-src"])
    assert {"data:", "blob:"} <= set(policy["connect-src"])


def test_style_and_font_are_unrestricted_until_a_service_is_met_as_a_link(builder: CspBuilder) -> None:
    assert "style-src" not in directives(page_for(builder, Consent.none()))
    builder.inventory.observe(finding("link", "preferences", "fonts", "fonts.example"))
    refused = directives(page_for(builder, Consent.none()))
    assert "'unsafe-inline'" in refused["style-src"] and "fonts.example:*" not in refused["style-src"]
    assert "fonts.example:*" not in refused["font-src"] and "data:" in refused["font-src"]
    granted = directives(page_for(builder, consent_for("preferences")))
    assert "fonts.example:*" in granted["style-src"] and "fonts.example:*" in granted["font-src"]


def test_unknown_hosts_the_rewriter_let_through_are_allowed_for_their_kind_only(builder: CspBuilder) -> None:
    builder.inventory.observe(
        finding("img", "unknown", None, "cdn.example.net", rule="unknown", action="reported")
    )
    builder.inventory.observe(finding("script", "unknown", None, "widgets.example.org", rule="unknown"))
    policy = directives(page_for(builder, Consent.none()))
    assert "cdn.example.net:*" in policy["img-src"] and "cdn.example.net:*" not in policy["script-src"]
    assert "widgets.example.org:*" in policy["script-src"]
    assert "*.cdn.example.net:*" not in policy["img-src"]  # a met host is exact, not its subdomains


def test_unknown_hosts_the_rewriter_blocked_are_not_allowed(builder: CspBuilder) -> None:
    builder.inventory.observe(
        finding("script", "unknown", None, "shady.example.org", rule="unknown", action="blocked")
    )
    assert "shady.example.org" not in page_for(builder, Consent.none()).policy_text()


def test_a_catalog_service_met_on_a_page_is_listed_for_visitors_who_grant_it() -> None:
    policy = load_dict({"services": {}})  # the default policy: every catalog service
    builder = CspBuilder(policy, mode="report-only", prefix="/_consentgate", secret_keys=[KEY])
    assert "google-analytics.com" not in page_for(builder, consent_for("analytics")).policy_text()
    ga = policy.lookup.service_for_host("www.google-analytics.com")
    assert ga is not None
    builder.inventory.observe(
        finding("script", ga.category, ga.id, "www.google-analytics.com", action="blocked")
    )
    assert "google-analytics.com" not in page_for(builder, Consent.none()).policy_text()
    script = directives(page_for(builder, consent_for(ga.category)))["script-src"]
    # Only the host it was met on: a catalog entry may list many, and the header must stay small.
    assert "www.google-analytics.com:*" in script
    assert not any(s.startswith(("google-analytics.com", "*.google-analytics.com")) for s in script)


def test_hosts_the_site_marked_with_a_category_follow_that_category(builder: CspBuilder) -> None:
    builder.inventory.observe(
        finding("script", "analytics", None, "tag.example.org", rule="markup", action="blocked")
    )
    assert "tag.example.org" not in page_for(builder, Consent.none()).policy_text()
    assert "tag.example.org:*" in directives(page_for(builder, consent_for("analytics")))["script-src"]


def test_a_page_names_its_own_hosts_when_the_shared_inventory_is_full() -> None:
    policy = make_policy()
    builder = CspBuilder(
        policy,
        mode="enforce",
        prefix="/_consentgate",
        secret_keys=[KEY],
        inventory=HostInventory(policy, max_hosts=0),
    )
    page = page_for(builder, Consent.none())
    page.observe(finding("img", "unknown", None, "cdn.example.net", rule="unknown", action="reported"))
    assert "cdn.example.net:*" in directives(page)["img-src"]
    assert "cdn.example.net" not in page_for(builder, Consent.none()).policy_text()


def test_header_name_follows_the_mode() -> None:
    policy = make_policy()
    enforce = CspBuilder(policy, mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
    report = CspBuilder(policy, mode="report-only", prefix="/_consentgate", secret_keys=[KEY])
    assert page_for(enforce, Consent.none()).headers([])[0][0] == b"content-security-policy"
    assert page_for(report, Consent.none()).headers([])[0][0] == b"content-security-policy-report-only"


def test_off_is_not_a_mode_the_builder_accepts() -> None:
    with pytest.raises(ValueError, match="csp"):
        CspBuilder(make_policy(), mode="off", prefix="/_consentgate", secret_keys=[KEY])


def test_report_uri_carries_the_signed_consent_summary_under_the_prefix(builder: CspBuilder) -> None:
    page = page_for(builder, consent_for("analytics"), root_path="/shop/")
    (url,) = directives(page)["report-uri"]
    assert url.startswith("/shop/_consentgate/csp-report?s=")
    summary = builder.summary.verify(url.partition("?s=")[2])
    assert summary is not None and summary.allows("analytics") and not summary.allows("marketing")


def test_report_uri_alone_by_default() -> None:
    builder = CspBuilder(make_policy(), mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
    page = page_for(builder, Consent.none(), origin="https://shop.example")
    assert [k for k, _ in page.headers([])] == [b"content-security-policy"]
    assert "report-to" not in directives(page)


@pytest.fixture
def reporting() -> CspBuilder:
    return CspBuilder(
        make_policy(), mode="enforce", prefix="/_consentgate", secret_keys=[KEY], report_to=True
    )


def test_report_to_adds_a_reporting_endpoint_for_an_https_origin(reporting: CspBuilder) -> None:
    page = page_for(reporting, Consent.none(), origin="https://Shop.Example:8443")
    endpoint = dict(page.headers([]))[b"reporting-endpoints"].decode()
    assert re.fullmatch(
        r'consentgate-csp="https://shop\.example:8443/_consentgate/csp-report\?s=[\w.-]+"', endpoint
    )
    assert directives(page)["report-to"] == ("consentgate-csp",)


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://shop.example",
        "https://evil.example\r\nx: y",
        'https://a"b',
        "javascript://x",
        "https://",
    ],
)
def test_without_an_https_origin_report_uri_alone_reports(reporting: CspBuilder, origin: str | None) -> None:
    # Chromium ignores report-uri once report-to is named, even where it refuses the endpoint.
    page = reporting.page(Consent.none(), lambda s, c: False, origin=origin)
    assert [k for k, _ in page.headers([])] == [b"content-security-policy"]
    assert "report-to" not in directives(page)


def test_the_reporting_endpoint_name_never_replaces_one_of_the_app(reporting: CspBuilder) -> None:
    app = [(b"Reporting-Endpoints", b'default="https://r.example/", consentgate-csp="https://r.example/x"')]
    lines = page_for(reporting, Consent.none(), origin="https://shop.example").headers(app)
    assert dict(lines)[b"reporting-endpoints"].startswith(b'consentgate-csp-2="')
    assert "report-to consentgate-csp-2" in dict(lines)[b"content-security-policy"].decode()


def test_apply_keeps_every_app_header_as_it_was_and_adds_a_second_policy(builder: CspBuilder) -> None:
    app = [
        (b"content-type", b"text/html"),
        (b"Content-Security-Policy", b"script-src 'nonce-abc' 'strict-dynamic'; object-src 'none'"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    out = page_for(builder, Consent.none()).apply(app)
    assert out[: len(app)] == app
    assert [k for k, _ in out[len(app) :]] == [b"content-security-policy"]


def test_consent_summary_refuses_tampering_other_keys_and_old_pages() -> None:
    policy = make_policy()
    summary = ConsentSummary(policy, [KEY])
    token = summary.sign(consent_for("analytics"), now=100 * 86400)
    assert summary.verify(token, now=100 * 86400) is not None
    payload, _, signature = token.partition(".")
    forged = ConsentSummary(policy, ["x" * 32]).sign(consent_for("analytics", "marketing"), now=100 * 86400)
    assert summary.verify(forged.partition(".")[0] + "." + signature, now=100 * 86400) is None
    assert summary.verify(forged, now=100 * 86400) is None
    assert summary.verify(token, now=108 * 86400) is None  # more than 7 days old
    assert summary.verify(token, now=99 * 86400) is None  # from the future
    for junk in ("", "abc", "a.b.c", "!!!.???", payload + ".", "." + signature, "x" * 3000):
        assert summary.verify(junk) is None


def test_consent_summary_verifies_under_a_rotated_key() -> None:
    policy = make_policy()
    old = ConsentSummary(policy, ["o" * 32]).sign(consent_for("marketing"))
    rotated = ConsentSummary(policy, ["n" * 32, "o" * 32])
    result = rotated.verify(old)
    assert result is not None and result.allows_service("pixel", "marketing")


def test_consent_summary_keeps_explicit_service_choices() -> None:
    policy = make_policy()
    summary = ConsentSummary(policy, [KEY])
    consent = Consent.none().with_choice({"marketing"}, source="preferences", denied_services={"pixel"})
    result = summary.verify(summary.sign(consent))
    assert result is not None and result.exists
    assert not result.allows_service("pixel", "marketing") and result.allows_service("other", "marketing")


def test_host_sources_refuse_names_that_could_break_out_of_the_header() -> None:
    for bad in ("a;b", "a b", "a,b", "*", "a_b.example", "'self'", "ex\u00e4mple.com", ""):
        assert host_sources(bad, subdomains=True) == ()
    assert host_sources("127.0.0.2", subdomains=True) == ("127.0.0.2:*",)


HOSTISH = st.text(alphabet="abcxyz019-._;, '*:/\"", min_size=1, max_size=24)


@settings(max_examples=150, deadline=None)
@given(
    granted=st.sets(st.sampled_from(["preferences", "analytics", "marketing"])),
    met=st.lists(st.tuples(st.sampled_from(["img", "script", "iframe", "link", "a"]), HOSTISH), max_size=8),
)
def test_any_header_is_well_formed_and_names_no_refused_service(
    granted: set[str], met: list[tuple[str, str]]
) -> None:
    policy = make_policy()
    builder = CspBuilder(policy, mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
    page = page_for(builder, consent_for(*granted))
    for tag, host in met:
        page.observe(finding(tag, "unknown", None, host, rule="unknown", action="reported"))
    text = page.policy_text()
    assert re.fullmatch(r"[\x21-\x7e ]+", text) and "," not in text
    names = [d.split()[0] for d in text.split("; ")]
    assert len(names) == len(set(names))
    refused = [s for s in policy.services if s.category not in granted and s.category != "necessary"]
    sources = {src for d in text.split("; ") for src in d.split()[1:]}
    for service in refused:
        for host in service.hosts:
            assert f"{host}:*" not in sources and f"*.{host}:*" not in sources
