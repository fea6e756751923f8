"""Merging with the app's own CSP: consentgate adds a second policy, so the result is never
weaker than the app's, and what the page needs still loads.

For each app policy in the table and each load a page makes, evaluated with a small CSP3
evaluator (``csp_eval``): (1) allowed with both headers => allowed with the app's alone;
(2) the loads consentgate and the site need stay allowed wherever the app allows them; (3) a
tracker the visitor refused is blocked whatever the app allows.
"""

from __future__ import annotations

import pytest

from consentgate.consent.state import Consent
from consentgate.http.csp import CspBuilder
from consentgate.policy.load import load_dict
from tests.http.csp_eval import Load, allowed, policies_from_headers

KEY = "k" * 32
PAGE = "https://shop.example/checkout"
NONCE = "r4nd0mN0nce"
POLICY = load_dict(
    {
        "include_catalog": False,
        "services": {
            "stats": {"category": "analytics", "hosts": ["stats.example"]},
            "pixel": {"category": "marketing", "hosts": ["pixel.example"]},
            "video": {"category": "marketing", "hosts": ["video.example"]},
        },
    }
)

APP_POLICIES: dict[str, list[str]] = {
    "none": [],
    "self only": ["default-src 'self'"],
    "strict nonce": [f"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'"],
    "nonce and hosts": [f"script-src 'self' 'nonce-{NONCE}' https://*.stats.example; img-src *"],
    "anything goes": ["default-src * 'unsafe-inline' 'unsafe-eval' data: blob:"],
    "https images": ["img-src https:; connect-src 'self'"],
    "locked down": [f"default-src 'none'; script-src 'nonce-{NONCE}'; img-src 'self'"],
    "nonce beats unsafe-inline": [f"script-src 'unsafe-inline' 'nonce-{NONCE}' https:"],
    "no handlers": ["script-src 'self' 'unsafe-inline' https:; script-src-attr 'none'"],
    "two app policies": ["script-src https: 'unsafe-inline'", "img-src 'self' https://cdn.example"],
}

# What a page does. `needed`: the site or consentgate relies on it (must keep working).
LOADS: list[tuple[Load, bool]] = [
    (Load("site inline with nonce", "script-src-elem", kind="inline", nonce=NONCE), True),
    (Load("site inline without nonce", "script-src-elem", kind="inline"), True),
    (
        Load(
            "consentgate runtime",
            "script-src-elem",
            "https://shop.example/_consentgate/static/rt.js",
            nonce=NONCE,
        ),
        True,
    ),
    (Load("consent mode default", "script-src-elem", kind="inline", nonce=NONCE), True),
    (
        Load(
            "restored granted script",
            "script-src-elem",
            "https://stats.example/s.js",
            nonce=NONCE,
            parser_inserted=False,
        ),
        True,
    ),
    (Load("granted beacon", "connect-src", "https://eu.stats.example/collect"), True),
    (Load("cdn image", "img-src", "https://cdn.example/logo.png"), True),
    (Load("data image", "img-src", "data:image/gif;base64,R0lGOD"), True),
    (Load("blob worker", "worker-src", "blob:https://shop.example/1234"), True),
    (Load("eval", "script-src", kind="eval"), True),
    (Load("inline handler", "script-src-attr", kind="inline"), True),
    (
        Load(
            "injected marketing script",
            "script-src-elem",
            "https://pixel.example/p.js",
            parser_inserted=False,
        ),
        False,
    ),
    (
        Load(
            "injected marketing script with nonce",
            "script-src-elem",
            "https://pixel.example/p.js",
            nonce=NONCE,
            parser_inserted=False,
        ),
        False,
    ),
    (Load("marketing pixel", "img-src", "https://pixel.example/tr?id=1"), False),
    (Load("marketing beacon", "connect-src", "https://pixel.example/collect"), False),
    (Load("marketing frame", "frame-src", "https://www.video.example/embed/1"), False),
]
REFUSED = {
    "injected marketing script",
    "injected marketing script with nonce",
    "marketing pixel",
    "marketing beacon",
    "marketing frame",
}


def response_headers(
    app: list[str], consent: Consent
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    builder = CspBuilder(POLICY, mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
    builder.inventory.record_host("img", "cdn.example")

    def allows(service: str | None, category: str) -> bool:
        return consent.allows(category) if service is None else consent.allows_service(service, category)

    app_headers = [(b"content-security-policy", text.encode()) for text in app]
    page = builder.page(consent, allows, origin="https://shop.example")
    return app_headers, page.apply([(b"content-type", b"text/html"), *app_headers])


ANALYTICS_ONLY = Consent.none().with_choice({"analytics"}, source="banner")


@pytest.mark.parametrize("name", APP_POLICIES)
def test_both_headers_never_allow_more_than_the_app_alone(name: str) -> None:
    app_headers, merged = response_headers(APP_POLICIES[name], ANALYTICS_ONLY)
    app_only = policies_from_headers(app_headers)
    both = policies_from_headers(merged)
    assert len(both) == len(app_only) + 1
    for load, _ in LOADS:
        if allowed(both, load, PAGE):
            assert allowed(app_only, load, PAGE), (name, load.name)


@pytest.mark.parametrize("name", APP_POLICIES)
def test_what_the_page_needs_keeps_loading_wherever_the_app_allows_it(name: str) -> None:
    app_headers, merged = response_headers(APP_POLICIES[name], ANALYTICS_ONLY)
    app_only = policies_from_headers(app_headers)
    both = policies_from_headers(merged)
    for load, needed in LOADS:
        if needed and allowed(app_only, load, PAGE):
            assert allowed(both, load, PAGE), (name, load.name)


@pytest.mark.parametrize("name", APP_POLICIES)
def test_a_refused_tracker_is_blocked_whatever_the_app_allows(name: str) -> None:
    _, merged = response_headers(APP_POLICIES[name], ANALYTICS_ONLY)
    both = policies_from_headers(merged)
    for load, _ in LOADS:
        if load.name in REFUSED:
            assert not allowed(both, load, PAGE), (name, load.name)


def test_granting_marketing_lets_the_same_trackers_through_where_the_app_allows_them() -> None:
    everything = Consent.none().with_choice({"analytics", "marketing"}, source="banner")
    _, merged = response_headers([], everything)
    both = policies_from_headers(merged)
    for load, _ in LOADS:
        assert allowed(both, load, PAGE), load.name


def test_the_evaluator_itself_blocks_and_allows_as_browsers_do() -> None:
    # Guards the proof against an evaluator that allows everything (or nothing).
    nonce_policy = [{"script-src": [f"'nonce-{NONCE}'", "'unsafe-inline'"]}]
    assert not allowed(nonce_policy, Load("x", "script-src-elem", kind="inline"), PAGE)
    assert allowed(nonce_policy, Load("x", "script-src-elem", kind="inline", nonce=NONCE), PAGE)
    hosts = [{"img-src": ["a.example:*", "*.b.example"]}]
    assert allowed(hosts, Load("x", "img-src", "http://a.example:8080/x"), "http://shop.example/")
    assert not allowed(hosts, Load("x", "img-src", "https://b.example/x"), PAGE)
    assert allowed(hosts, Load("x", "img-src", "https://c.b.example/x"), PAGE)
    assert not allowed(hosts, Load("x", "img-src", "https://c.b.example:8443/x"), PAGE)
    assert not allowed([{"default-src": ["*"]}], Load("x", "img-src", "data:,x"), PAGE)
    strict = [{"script-src": [f"'nonce-{NONCE}'", "'strict-dynamic'", "https://a.example"]}]
    assert not allowed(strict, Load("x", "script-src-elem", "https://a.example/x.js"), PAGE)
    assert allowed(
        strict, Load("x", "script-src-elem", "https://z.example/x.js", parser_inserted=False), PAGE
    )
