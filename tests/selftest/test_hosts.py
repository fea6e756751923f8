"""Same site or third party, cookie domains, Google tag URLs."""

from __future__ import annotations

import pytest

from consentgate.selftest.hosts import domain_matches, host_of, is_google_tag, registrable_domain, same_site


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("www.example.com", "www.example.com"),
        ("www.example.co.uk", "example.co.uk"),
        ("shop.example.org", "cdn.example.org"),
        ("s1.bbc.co.uk", "www.bbc.co.uk"),
    ],
)
def test_same_registrable_domain_is_same_site(host: str, site: str) -> None:
    assert same_site(host, site)


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("localhost", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.1"),
        ("www.google-analytics.com", "www.example.com"),
        ("other.co.uk", "example.co.uk"),
    ],
)
def test_other_hosts_are_third_parties(host: str, site: str) -> None:
    assert not same_site(host, site)


def test_registrable_domain_keeps_ips_and_single_labels() -> None:
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("[::1]") == "[::1]"
    assert registrable_domain("localhost") == "localhost"
    assert registrable_domain("a.b.example.com.") == "example.com"


def test_cookie_domains_match_hosts_in_both_directions() -> None:
    assert domain_matches(".example.com", "www.example.com")
    assert domain_matches("www.example.com", "example.com")
    assert domain_matches("127.0.0.1", "127.0.0.1")
    assert not domain_matches(".example.com", "example.org")
    assert not domain_matches("ample.com", "example.com")


def test_google_tags_are_recognised_by_path_on_any_host() -> None:
    assert is_google_tag("https://www.googletagmanager.com/gtag/js?id=G-1")
    assert is_google_tag("https://www.googletagmanager.com/gtm.js?id=GTM-1")
    assert is_google_tag("https://sgtm.example.com/gtm.js?id=GTM-1")  # server-side tagging
    assert not is_google_tag("https://www.googletagmanager.com/ns.html?id=GTM-1")
    assert not is_google_tag("http://[bad")


def test_host_of_survives_bad_urls() -> None:
    assert host_of("HTTP://WWW.Example.COM:8080/x") == "www.example.com"
    assert host_of("http://[bad") == ""


def test_hosting_platforms_give_each_customer_a_site_of_their_own() -> None:
    # one list with the cookie firewall (consentgate.domains): github.io is a public suffix
    assert registrable_domain("a.b.example.github.io") == "example.github.io"
    assert not same_site("alice.github.io", "bob.github.io")
    assert registrable_domain("www.example.gouv.fr") == "example.gouv.fr"
