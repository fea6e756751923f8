"""Import maps: ``<script type="importmap">`` sends a bare specifier (``"analytics"``) to a
tracker's module, and ``<script type="module">import "analytics"</script>`` loads it. The map
itself loads nothing and stays byte for byte (the other modules need it); each inline script
that imports a specifier mapped to a tracker waits for that tracker's category, as the
tracker's own ``<script src>`` would."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playwright.sync_api import Browser

from consentgate.html.handlers import import_map_entries, imported_specifiers, mapped_target
from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict
from tests.browser_kit import third_party_requests

from .kit import BODY, HEAD, allow_all, deny_all, granting, run

CATALOG = Rules.compile(load_dict({}))
MAP = (
    b'<script type="importmap">{"imports": {'
    b'"analytics": "https://www.googletagmanager.com/gtag/js?id=G-1", '
    b'"pixel/": "https://connect.facebook.net/modules/", '
    b'"app/": "/static/app/", "lit": "https://cdn.example.net/lit.js"}}</script>'
)
USES_ANALYTICS = b'<script type="module">import "analytics"; start();</script>'
USES_APP = b'<script type="module">import { boot } from "app/main.js"; boot();</script>'


def test_a_module_that_imports_a_mapped_tracker_waits_for_its_category() -> None:
    out = run(MAP + USES_ANALYTICS)
    assert out == MAP + (
        b'<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics" '
        b'data-consentgate-service="ga" data-consentgate-type="module">import "analytics"; start();</script>'
    )


def test_the_module_runs_as_written_once_granted() -> None:
    page = MAP + USES_ANALYTICS + USES_APP
    assert run(page, granting("analytics")) == page
    assert run(page, allow_all) == page


def test_modules_that_import_only_the_sites_own_or_necessary_code_are_left_alone() -> None:
    page = MAP + USES_APP + b'<script type="module">import { html } from "lit";</script>'
    findings: list[Finding] = []
    assert run(page, findings=findings) == page
    assert all(f.action != "blocked" for f in findings)


@pytest.mark.parametrize(
    "script",
    [
        b'<script type="module">import { track } from "pixel/events.js"; track();</script>',  # a prefix
        b"<script type=module>export * from 'pixel/all.js';</script>",
        b'<script>import("pixel/lazy.js").then(function (m) { m.go(); });</script>',  # dynamic, classic
        b"<script type=\"module\">const m = await import ( 'pixel/x.js' );</script>",
    ],
)
def test_every_way_of_importing_a_mapped_tracker_is_found(script: bytes) -> None:
    out = run(MAP + script)
    assert out.startswith(MAP)
    assert b'data-consentgate-service="meta"' in out[len(MAP) :]


def test_a_mapping_in_a_scope_counts_too() -> None:
    scoped = (
        b'<script type="importmap">{"imports": {}, "scopes": {"/shop/": '
        b'{"analytics": "https://www.google-analytics.com/analytics.mjs"}}}</script>'
    )
    out = run(scoped + USES_ANALYTICS)
    assert b'data-consentgate-category="analytics"' in out


def test_a_module_before_the_import_map_is_not_judged_by_it() -> None:
    page = USES_ANALYTICS + MAP
    assert run(page) == page  # browsers resolve it without the map: "analytics" is no URL


def test_an_invalid_import_map_maps_nothing() -> None:
    broken = b'<script type="importmap">{"imports": {"analytics": "https://www.googletagmanager.com/x.js",}}</script>'
    page = broken + USES_ANALYTICS
    assert run(page) == page


def test_the_import_map_is_read_whatever_the_chunks() -> None:
    page = b"<!doctype html><html><head><meta charset=utf-8>" + MAP + b"</head><body>" + USES_ANALYTICS
    whole = run(page, head=HEAD, body=BODY)
    assert b'data-consentgate-type="module"' in whole
    for sizes in ([1], [3, 17], [64]):
        assert run(page, chunks=sizes, head=HEAD, body=BODY) == whole


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([MAP, USES_ANALYTICS, USES_APP, b"<p>x</p>"]), min_size=1, max_size=6),
    st.lists(st.integers(1, 50), min_size=1, max_size=4),
)
def test_with_everything_granted_pages_with_import_maps_are_byte_identical(
    parts: list[bytes], sizes: list[int]
) -> None:
    page = (
        b"<!doctype html><html><head><meta charset=utf-8></head><body>" + b"".join(parts) + b"</body></html>"
    )
    out = run(page, allow_all, chunks=sizes, head=HEAD, body=BODY)
    assert out.replace(HEAD, b"", 1).replace(BODY, b"", 1) == page
    assert run(page, deny_all, chunks=sizes) == run(page, deny_all)


def test_the_helpers_follow_the_import_map_rules() -> None:
    assert import_map_entries(b'{"imports": {"a": "/a.js", "b": 3}, "scopes": {"/x/": {"c": "/c.js"}}}') == [
        ("a", "/a.js"),
        ("c", "/c.js"),
    ]
    assert import_map_entries(b"[1, 2]") == []
    assert list(imported_specifiers(b'import a from "x"; import "y"; import("z"); f("from")')) == [
        "x",
        "y",
        "z",
    ]
    mapping = {"a/": 1, "a/b/": 2, "c": 3}
    assert mapped_target("a/b/c.js", mapping) == "a/b/"
    assert mapped_target("a/x.js", mapping) == "a/"
    assert mapped_target("c", mapping) == "c"
    assert mapped_target("c/d", mapping) is None


@pytest.mark.browser
def test_chromium_imports_a_mapped_tracker_only_with_consent(browser: Browser) -> None:
    page = (
        b"<!doctype html><html><head><title>t</title>"
        b'<script type="importmap">{"imports": {"analytics": "https://www.googletagmanager.com/gtag/module.js"}}'
        b'</script></head><body><script type="module">import "analytics";</script></body></html>'
    )
    tracker = "https://www.googletagmanager.com/gtag/module.js"
    assert tracker in third_party_requests(browser, page), "the module must import it as written"
    assert third_party_requests(browser, run(page, deny_all, rules=CATALOG)) == []
    assert tracker in third_party_requests(browser, run(page, granting("analytics"), rules=CATALOG))


@pytest.mark.browser
def test_chromium_imports_the_tracker_once_the_runtime_revives_the_module(browser: Browser) -> None:
    """The runtime revives the held module with its type: it resolves through the unchanged
    map, in place, once the category is granted (here the page's state says so at start)."""
    from consentgate.ui.render import UI

    ui = UI(load_dict({}))
    script = ui.asset(ui.asset_url("js").rpartition("/")[2])
    assert script is not None
    page = (
        b"<!doctype html><html><head><title>t</title>"
        b'<script type="importmap">{"imports": {"analytics": "https://www.googletagmanager.com/gtag/module.js"}}'
        b'</script></head><body><script type="module">import "analytics";</script></body></html>'
    )
    state = b'<script type="application/json" id="consentgate-state">{"categories":{"analytics":%s}}</script>'
    runtime = b"<script>" + script[0] + b"</script>"
    neutralised = run(page, deny_all, rules=CATALOG)
    tracker = "https://www.googletagmanager.com/gtag/module.js"
    refused = neutralised.replace(b"</body>", state % b"false" + runtime + b"</body>")
    granted = neutralised.replace(b"</body>", state % b"true" + runtime + b"</body>")
    assert third_party_requests(browser, refused) == []
    assert tracker in third_party_requests(browser, granted)
