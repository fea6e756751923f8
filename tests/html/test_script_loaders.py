"""Scripts with a type the browser skips but a script loader runs later (WP Rocket's delayed
JavaScript, LiteSpeed, Perfmatters, Partytown, Cloudflare Rocket Loader...): a tracker behind
one of them runs as surely as a plain one, so it is neutralised like one. Data blocks (JSON-LD,
import maps, templates) never run and are never touched."""

from __future__ import annotations

import pytest

from consentgate.html.rules import Finding

from .kit import allow_all, deny_all, run

GA = b"https://www.google-analytics.com/analytics.js"


@pytest.mark.parametrize(
    "tag",
    [
        b'<script type="rocketlazyloadscript" data-rocket-src="' + GA + b'" async></script>',
        b'<script type="litespeed/javascript" data-src="' + GA + b'"></script>',
        b'<script type="pmdelayedscript" src="' + GA + b'"></script>',
        b'<script type="text/partytown" src="' + GA + b'"></script>',
        b'<script type="9f2c0a1b5e0d3c4a7e6b8f9d-text/javascript" src="' + GA + b'"></script>',
        b"<script type=\"text/partytown\">gtag('config','G-1')</script>",
        b"<script type=\"rocketlazyloadscript\">fbq('init','1')</script>",
        b'<script type="text/babel">fbq("track","PageView")</script>',
        # the site's own consent markup on a loader's script does not make it inert
        b'<script type="rocketlazyloadscript" data-category="analytics" data-rocket-src="'
        + GA
        + b'"></script>',
    ],
)
def test_a_tracker_behind_a_script_loader_is_neutralised(tag: bytes) -> None:
    findings: list[Finding] = []
    out = run(tag, deny_all, findings=findings)
    assert out.startswith(b'<script type="text/plain" data-consentgate-blocked')
    original_type = tag.split(b'type="', 1)[1].split(b'"', 1)[0]
    assert b'data-consentgate-type="' + original_type + b'"' in out  # restorable
    assert [f.action for f in findings] == ["blocked"]
    assert run(tag, allow_all) == tag


@pytest.mark.parametrize(
    "tag",
    [
        b'<script type="application/ld+json">{"sameAs": ["https://www.facebook.com/x"], "k": "fbq("}</script>',
        b'<script type="importmap">{"imports": {"a": "https://www.google-analytics.com/x.js"}}</script>',
        b'<script type="speculationrules">{"prefetch": [{"urls": ["' + GA + b'"]}]}</script>',
        b'<script type="text/x-handlebars-template"><img src="https://www.facebook.com/tr"></script>',
        b'<script type="text/template" data-src="' + GA + b'">gtag()</script>',
        b'<script type="x-shader/x-vertex">void main(){}</script>',
        b"<script type=\"text/x-handlebars\">{{#if x}}<script>fbq('init')</script>{{/if}}</script>",
        b'<script type="rocketlazyloadscript" data-rocket-src="/js/site.js"></script>',  # first party
    ],
)
def test_data_blocks_and_first_party_loader_scripts_are_left_alone(tag: bytes) -> None:
    assert run(tag, deny_all) == tag
