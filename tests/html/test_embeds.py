"""Embeds and widgets as sites paste them, with the built-in catalog.

- Media embeds set cookies and follow visitors: none loads without consent, and each comes back
  byte for byte when granted. Google Maps' embed is on www.google.com, a host other products
  share, so it is recognised by its URL (a catalog signature in the URL of active content on
  a host no service declares).
- Security and payment widgets are strictly necessary: they load with no consent, and they are
  not "unknown" under ``unknown_third_party = "block"``.
- A self-hosted tracker on a host nobody declares is recognised by its file's signature.
"""

from __future__ import annotations

import pytest

from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict

from .kit import deny_all, granting, live, run

CATALOG = Rules.compile(load_dict({}))
BLOCKING = Rules.compile(load_dict({"unknown_third_party": "block"}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><h1>Visit us</h1>%s</body></html>"

EMBEDS = {
    "google-maps": b'<iframe src="https://www.google.com/maps/embed?pb=!1m18!1m12!1m3!1d2624.99!2d2.29!3d48.85"'
    b' width="600" height="450" style="border:0;" allowfullscreen="" loading="lazy"'
    b' referrerpolicy="no-referrer-when-downgrade"></iframe>',
    "google-maps-mymaps": b'<iframe src="https://www.google.com/maps/d/embed?mid=1AbCdEf&amp;ehbc=2E312F"'
    b' width="640" height="480"></iframe>',
    "google-maps-legacy": b'<iframe width="425" height="350" src="https://maps.google.com/maps?q=Paris'
    b'&amp;output=embed"></iframe>',
    "google-maps-api": b'<script async src="https://maps.googleapis.com/maps/api/js?key=AIza&callback=initMap">'
    b"</script>",
    "spotify": b'<iframe style="border-radius:12px" src="https://open.spotify.com/embed/track/4cOdK2wGLETKBW3PvgPWqT'
    b'?utm_source=generator" width="100%" height="352" frameBorder="0" allowfullscreen=""'
    b' allow="autoplay; clipboard-write; encrypted-media; fullscreen; picture-in-picture"'
    b' loading="lazy"></iframe>',
    "soundcloud": b'<iframe width="100%" height="166" scrolling="no" frameborder="no" allow="autoplay"'
    b' src="https://w.soundcloud.com/player/?url=https%3A//api.soundcloud.com/tracks/293"></iframe>',
    "dailymotion": b'<iframe frameborder="0" width="640" height="360"'
    b' src="https://www.dailymotion.com/embed/video/x8abc1" allowfullscreen allow="autoplay"></iframe>',
}
SERVICE = {
    "google-maps-mymaps": "google-maps",
    "google-maps-legacy": "google-maps",
    "google-maps-api": "google-maps",
}


@pytest.mark.parametrize("name", sorted(EMBEDS))
def test_media_embeds_wait_for_consent_and_come_back_exactly(name: str) -> None:
    page = PAGE % EMBEDS[name]
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings, chunks=[5, 100])
    assert [(f.service_id, f.category, f.action) for f in findings] == [
        (SERVICE.get(name, name), "marketing", "blocked")
    ]
    assert live(out) == []
    assert run(page, granting("marketing"), rules=CATALOG) == page


def test_the_maps_embed_is_told_apart_from_other_products_on_the_same_host() -> None:
    # A search link and reCAPTCHA share www.google.com with the maps embed; only the embed waits.
    page = PAGE % (
        b'<a href="https://www.google.com/maps/dir/?api=1&amp;destination=Paris">Directions</a>'
        b'<script src="https://www.google.com/recaptcha/api.js" async defer></script>' + EMBEDS["google-maps"]
    )
    findings: list[Finding] = []
    out = run(page, deny_all, rules=BLOCKING, findings=findings)
    assert [(f.tag, f.service_id, f.action) for f in findings] == [
        ("script", "google-recaptcha", "allowed"),
        ("iframe", "google-maps", "blocked"),
    ]
    assert live(out) == ["https://www.google.com/recaptcha/api.js"]


@pytest.mark.parametrize(
    ("widget", "service"),
    [
        (
            b'<script src="https://www.google.com/recaptcha/api.js?render=6Lc_key"></script>',
            "google-recaptcha",
        ),
        (
            b'<script src="https://www.recaptcha.net/recaptcha/api.js" async defer></script>',
            "google-recaptcha",
        ),
        (b'<script src="https://js.hcaptcha.com/1/api.js" async defer></script>', "hcaptcha"),
        (
            b'<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" defer></script>',
            "cloudflare-turnstile",
        ),
        (b'<script src="https://js.stripe.com/v3/"></script>', "stripe"),
        (b'<script src="https://www.paypal.com/sdk/js?client-id=test"></script>', "paypal"),
    ],
)
def test_security_and_payment_widgets_run_without_consent_even_when_unknown_hosts_are_blocked(
    widget: bytes, service: str
) -> None:
    page = PAGE % widget
    findings: list[Finding] = []
    assert run(page, deny_all, rules=BLOCKING, findings=findings) == page
    assert [(f.service_id, f.category, f.action) for f in findings] == [(service, "necessary", "allowed")]


def test_a_self_hosted_tracker_is_known_by_its_file() -> None:
    page = PAGE % (
        b'<script src="https://stats.example.org/matomo.js" async></script>'
        b'<script src="https://stats.example.org/app.js"></script>'
    )
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings)
    assert [(f.service_id, f.category, f.rule, f.host, f.action) for f in findings] == [
        ("matomo", "analytics", "signature", "stats.example.org", "blocked"),
        (None, "unknown", "unknown", "stats.example.org", "reported"),
    ]
    assert live(out) == ["https://stats.example.org/app.js"]
    assert run(page, granting("analytics"), rules=CATALOG) == page


def test_the_sites_own_copy_is_first_party() -> None:
    # Relative or on the page's own host: the site's, as every first-party URL.
    page = PAGE % b'<script src="/js/matomo.js"></script>'
    assert run(page, deny_all, rules=CATALOG) == page


def test_a_favicon_on_a_trackers_host_waits_for_consent() -> None:
    # Browsers fetch icons by themselves: on a tracker's host the icon is a pixel.
    icons = (
        b'<link rel="shortcut icon" href="https://secure.gravatar.com/blavatar/0b14?s=32">'
        b'<link rel="apple-touch-icon-precomposed" href="https://secure.gravatar.com/blavatar/0b14?s=114">'
        b'<link rel="icon" href="/favicon.ico">'
    )
    page = PAGE.replace(b"<title>t</title>", b"<title>t</title>" + icons) % b""
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings)
    assert [(f.tag, f.service_id, f.action) for f in findings] == [("link", "gravatar", "blocked")] * 2
    assert out.count(b'data-consentgate-href="https://secure.gravatar.com/') == 2
    assert b'<link rel="icon" href="/favicon.ico">' in out
    assert run(page, granting("marketing"), rules=CATALOG) == page
