"""Lazy loaders park an image's or frame's URL in a data- attribute and copy it into src (or
srcset) when it scrolls into view: lazysizes (data-src), WP Rocket and a3 (data-lazy-src),
LiteSpeed Cache (data-litespeed-src), vanilla-lazyload (data-ll-src), jquery.lazyload
(data-original). A tracker parked in any of them loads all the same, so it is moved aside like
a src; with everything granted the page is unchanged."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict
from tests.browser_kit import third_party_requests

from .kit import allow_all, deny_all, granting, run

CATALOG = Rules.compile(load_dict({}))

LAZY = {
    "wp-rocket": b'<iframe src="about:blank" data-rocket-lazyload="fitvidscompatible" '
    b'data-lazy-src="https://www.youtube.com/embed/abc"></iframe>',
    "litespeed": b'<iframe src="about:blank" data-litespeed-src="https://player.vimeo.com/video/1"></iframe>',
    "a3-pixel": b'<img data-lazy-src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">',
    "jquery-lazyload": b'<img src="/grey.gif" data-original="https://px.ads.linkedin.com/collect/?pid=1" alt="">',
    "vanilla-lazyload": b'<iframe data-ll-src="https://www.youtube.com/embed/def"></iframe>',
    "lazy-srcset": b'<img src="/a.png" data-lazy-srcset="https://www.facebook.com/tr?id=2 1x, /a2.png 2x" alt="">',
}


@pytest.mark.parametrize("name", sorted(LAZY))
def test_a_tracker_in_any_lazy_loaders_attribute_is_moved_aside(name: str) -> None:
    tag = LAZY[name]
    out = run(tag, deny_all, rules=CATALOG)
    assert b"data-consentgate-blocked" in out
    for attr in (
        b"data-lazy-src",
        b"data-litespeed-src",
        b"data-original",
        b"data-ll-src",
        b"data-lazy-srcset",
    ):
        assert b" " + attr + b"=" not in out
    assert run(tag, allow_all, rules=CATALOG) == tag


def test_a_lazy_attribute_goes_back_as_the_src_its_loader_would_have_set() -> None:
    out = run(LAZY["wp-rocket"], deny_all, rules=CATALOG)
    assert b'src="about:blank"' in out  # the site's own placeholder stays
    assert b'data-consentgate-src="https://www.youtube.com/embed/abc"' in out
    out = run(LAZY["lazy-srcset"], deny_all, rules=CATALOG)
    assert b'data-consentgate-srcset="https://www.facebook.com/tr?id=2 1x, /a2.png 2x"' in out
    # lazysizes' own data-src beside a src goes back under its name: lazysizes watches it
    both = b'<img src="/x.png" data-src="https://www.facebook.com/tr?id=3" data-lazy-src="https://www.facebook.com/tr?id=4">'
    out = run(both, deny_all, rules=CATALOG)
    assert b'data-consentgate-data-src="https://www.facebook.com/tr?id=3"' in out
    assert b'data-consentgate-src="https://www.facebook.com/tr?id=4"' in out


def test_first_party_lazy_images_and_other_data_urls_are_left_alone() -> None:
    page = (
        b'<img src="/ok.png" data-lazy-src="/own.png" data-share-url="https://www.facebook.com/sharer.php">'
        b'<img data-original="https://cdn.shop.example/p.jpg" alt="">'
        b'<div data-src="https://www.facebook.com/tr?id=5"></div>'  # not an image: nothing loads it
    )
    assert run(page, deny_all, rules=CATALOG) == page


# A loader in the shape of theirs: at start, every element with the attribute gets its URL.
LOADER = (
    b"<script>document.querySelectorAll('[data-lazy-src],[data-litespeed-src],[data-original],"
    b"[data-ll-src],[data-lazy-srcset]').forEach(function(el){"
    b"['data-lazy-src','data-litespeed-src','data-original','data-ll-src'].forEach(function(a){"
    b"var v=el.getAttribute(a);if(v)el.src=v;});"
    b"var s=el.getAttribute('data-lazy-srcset');if(s)el.srcset=s;});</script>"
)
PAGE = b"<!doctype html><html><head><title>t</title></head><body><h1>Post</h1>%s%s</body></html>"


@pytest.mark.browser
def test_chromium_loads_no_lazy_tracker_without_consent_and_each_with_it(browser: Browser) -> None:
    page = PAGE % (b"".join(LAZY[name] for name in sorted(LAZY)), LOADER)

    def hosts(body: bytes) -> set[str]:
        return {urlsplit(url).hostname or "" for url in third_party_requests(browser, body, wait_ms=300)}

    expected = {"www.youtube.com", "player.vimeo.com", "www.facebook.com", "px.ads.linkedin.com"}
    assert hosts(page) >= expected, "the loader must load every tracker before rewriting"
    assert hosts(run(page, deny_all, rules=CATALOG)) == set()
    assert hosts(run(page, granting("marketing"), rules=CATALOG)) >= expected
