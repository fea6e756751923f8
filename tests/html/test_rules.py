from __future__ import annotations

import pytest

from consentgate.html.rules import UNKNOWN_CATEGORY, Rules, host_of
from consentgate.policy.model import Policy

from .kit import RULES, make_policy


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (b"https://www.Google-Analytics.com/ga.js", "www.google-analytics.com"),
        (b"//connect.facebook.net/en_US/fbevents.js", "connect.facebook.net"),
        (b"  http://user:pw@cdn.example.net:8080/x  ", "cdn.example.net"),
        (b"https:&#47;&#47;www.youtube.com/embed/x", "www.youtube.com"),
        (b"https://www.you\ntube.com/embed/x", "www.youtube.com"),
        (b"/js/app.js", None),
        (b"app.js", None),
        (b"data:text/javascript,alert(1)", None),
        (b"javascript:void(0)", None),
        (b"", None),
    ],
)
def test_host_of_reads_urls_as_browsers_do(url: bytes, host: str | None) -> None:
    assert host_of(url, None) == host


def test_relative_urls_take_the_base_host() -> None:
    assert host_of(b"x.js", "static.tracker.example") == "static.tracker.example"


def test_host_matches_subdomains_of_a_service_host() -> None:
    verdict = RULES.classify_url(b"https://region1.google-analytics.com/g/collect", None, None)
    assert verdict is not None and verdict.service is not None
    assert (verdict.service.id, verdict.rule, verdict.category) == ("ga", "host", "analytics")


def test_first_party_urls_are_no_finding() -> None:
    rules = Rules.compile(make_policy(first_party=("example.com",)))
    assert rules.classify_url(b"/app.js", None, None) is None
    assert rules.classify_url(b"https://static.example.com/app.js", None, None) is None
    assert rules.classify_url(b"https://shop.test/app.js", None, "shop.test") is None


def test_unknown_third_party_is_reported_as_unknown() -> None:
    verdict = RULES.classify_url(b"https://cdn.unknown.example/x.js", None, None)
    assert verdict is not None and (verdict.rule, verdict.category) == ("unknown", UNKNOWN_CATEGORY)
    assert RULES.classify_url(b"https://cdn.unknown.example/x.png", None, None, unknown_counts=False) is None


@pytest.mark.parametrize(
    ("attrs", "category"),
    [
        ({b"data-category": b"analytics"}, "analytics"),
        ({b"data-category": b"Statistics"}, "analytics"),
        ({b"data-cookieconsent": b"statistics"}, "analytics"),
        ({b"data-cookieconsent": b"preferences, marketing"}, "marketing"),
        ({b"data-cookieconsent": b"necessary"}, "necessary"),
        ({b"class": b"foo optanon-category-C0002"}, "analytics"),
        ({b"class": b"optanon-category-C0003"}, "preferences"),
        ({b"class": b"optanon-category-C0002-C0004"}, "marketing"),
        ({b"class": b"optanon-category-C0005"}, "marketing"),
        ({b"class": b"optanon-category-C0001"}, "necessary"),
        ({b"data-name": b"hotjar", b"type": b"text/plain"}, "analytics"),
        ({b"data-name": b"ga", b"data-type": b"application/javascript"}, "analytics"),
        ({b"data-category": b"analytics", b"data-service": b"meta"}, "analytics"),
        ({b"data-service": b"YOUTUBE"}, "marketing"),
    ],
)
def test_site_consent_markup_names_the_category(attrs: dict[bytes, bytes], category: str) -> None:
    verdict = RULES.classify_markup(attrs, gated_script=True)
    assert verdict is not None and verdict.rule == "markup" and verdict.category == category


def test_unrecognised_data_category_is_markup_only_on_gated_scripts() -> None:
    assert RULES.classify_markup({b"data-category": b"news"}) is None
    verdict = RULES.classify_markup({b"data-category": b"news", b"type": b"text/plain"}, gated_script=True)
    assert verdict is not None and verdict.category == UNKNOWN_CATEGORY


def test_cookiebot_ignore_is_not_markup() -> None:
    assert RULES.classify_markup({b"data-cookieconsent": b"ignore"}) is None


def test_inline_signature_picks_the_most_sensitive_service() -> None:
    verdict = RULES.classify_inline(b"gtag('js', new Date()); fbq('init', '1');")
    assert verdict is not None and verdict.service is not None and verdict.service.id == "meta"
    assert RULES.classify_inline(b"console.log('hello')") is None


def test_inline_signature_agrees_with_the_policy_lookup() -> None:
    script = b"window._hjSettings={hjid:1}; gtag('config')"
    verdict = RULES.classify_inline(script)
    expected = RULES.lookup.service_for_inline(script)
    assert verdict is not None and verdict.service == expected


def test_every_rules_of_a_policy_shares_one_host_set_so_scanners_are_found_by_identity() -> None:
    # The tokenizer's compiled scanners are cached by this set: an equal set that is another
    # object is compared element by element on every page (2,000 catalog hosts), so a second
    # middleware, or a policy reloaded, made every page pay 30 µs for it.
    from consentgate.html.rewriter import HtmlRewriter

    policy = make_policy(first_party=("example.com",))
    one, two = Rules.compile(policy), Rules.compile(policy)
    assert one is not two and one.known_host_domains is two.known_host_domains
    fewer = Rules.compile(Policy(categories=policy.categories, services=policy.services[:1]))
    assert fewer.known_host_domains < one.known_host_domains

    def scanners(rules: Rules) -> object:
        rewriter = HtmlRewriter(rules, lambda service, category: False)
        rewriter.feed(b"<!doctype html><p>x</p>")
        return rewriter._tok._fast_scanners()[0]  # the scanner the tokenizer's fast path uses

    assert scanners(one) is scanners(two)
