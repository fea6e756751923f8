"""Regions, GPC and Google Consent Mode through the whole middleware (CG-50..CG-80).

The page holds an analytics tracker (``stats``) and a sale/share marketing tracker
(``adpixel``); the region comes from a trusted header, the stored choice from a real signed
cookie, and every audit event lands in a MemorySink. Expectations are written out per mode here,
independently of ``consentgate.consent.jurisdiction``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from starlette.responses import HTMLResponse, JSONResponse, Response

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy

KEY = "k" * 32
EDGE = ("10.0.0.7", 5000)
STRANGER = ("203.0.113.9", 5000)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
SITE: dict[str, Any] = {
    "version": "2026-11-01",
    "include_catalog": False,
    "categories": {"analytics": {"uk_statistics": True}},
    "consent_mode": {"mode": "basic"},
    "services": {
        "stats": {"category": "analytics", "hosts": ["stats.example"]},
        "adpixel": {"category": "marketing", "hosts": ["ads.example"], "sale_share": True},
        "google-tag-manager": {"category": "analytics", "hosts": ["googletagmanager.com"]},
    },
}
POLICY = load_dict(SITE)
PAGE = (
    b"<!doctype html><html><head><title>Shop</title>"
    b'<script src="https://stats.example/a.js"></script>'
    b'<script src="https://ads.example/pixel.js"></script>'
    b"</head><body><h1>Shop</h1></body></html>"
)
AD_TYPES = ("ad_storage", "ad_user_data", "ad_personalization")

OPT_IN = {"FR", "DE", "CH", "BR", ""}
UK = {"GB"}
OPT_OUT = {"US-CA", "US-CO", "US-TX"}
REGIONS = ["FR", "DE", "GB", "CH", "US-CA", "US-CO", "US-TX", "BR", ""]


async def page_app(scope: Any, receive: Any, send: Any) -> None:
    await HTMLResponse(PAGE)(scope, receive, send)


def gate(policy: Policy = POLICY, app: Any = page_app, **options: Any) -> tuple[ConsentGate, MemorySink]:
    sink = MemorySink()
    options.setdefault("region_header", "X-Region")
    options.setdefault("trusted_proxies", ["10.0.0.0/8"])
    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=sink, **options), sink


def client(app: Any, peer: tuple[str, int] = EDGE) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=peer),
        base_url="http://shop.test",
        headers={"user-agent": BROWSER, "accept": "text/html"},
    )


def stored_cookie(state: str, region: str, policy: Policy = POLICY) -> str | None:
    if state == "none":
        return None
    categories = {c.id for c in policy.categories} if state == "accepted" else set()
    consent = Consent.none(policy.service_categories).with_choice(
        categories, source="banner", fingerprint=policy.fingerprint(), region=region
    )
    return ConsentCookie([KEY], policy).dumps(consent)


def headers_for(region: str, gpc: bool, cookie: str | None) -> dict[str, str]:
    headers = {}
    if region:
        headers["x-region"] = region
    if gpc:
        headers["sec-gpc"] = "1"
    if cookie:
        headers["cookie"] = f"consentgate={cookie}"
    return headers


def script_blocked(html: str, host: str) -> bool:
    tags = [tag for tag in re.findall(r"<script\b[^>]*>", html) if host in tag]
    assert len(tags) == 1, tags
    return "data-consentgate-blocked" in tags[0] and f' src="https://{host}' not in tags[0]


def consent_default(html: str) -> dict[str, Any]:
    match = re.search(r'gtag\("consent","default",(\{.*?\})\);', html)
    assert match, "no consent default in the page"
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


def head_scripts(html: str) -> list[str]:
    head = html.split("</head>", 1)[0]
    return re.findall(r"<script\b[^>]*>", head)


def expected_runs(region: str, state: str, gpc: bool) -> tuple[bool, bool, bool]:
    """(analytics runs, sale/share marketing runs, preferences granted) written out per mode."""
    if state == "rejected":
        return False, False, False
    if region in OPT_OUT:
        return True, not gpc, True
    if state == "accepted":  # opt-in and UK: a signal after the grant withdraws marketing
        return True, not gpc, True
    return region in UK, False, False  # no choice: only the UK statistics exception runs


def events(sink: MemorySink, action: str) -> list[ConsentEvent]:
    return [e for e in sink.events if e.action == action]


# -- the region × stored choice × GPC matrix -----------------------------------------------------------


@pytest.mark.parametrize("gpc", [False, True], ids=["no-gpc", "gpc"])
@pytest.mark.parametrize("state", ["none", "accepted", "rejected"])
@pytest.mark.parametrize("region", REGIONS, ids=[r or "unknown" for r in REGIONS])
async def test_region_matrix(region: str, state: str, gpc: bool) -> None:
    app, sink = gate()
    async with client(app) as http:
        response = await http.get("/", headers=headers_for(region, gpc, stored_cookie(state, region)))
    html = response.text
    analytics, marketing, preferences = expected_runs(region, state, gpc)
    opt_in_like = region not in OPT_OUT

    # banner or link
    banner = "data-consentgate-banner" in html
    assert banner is (opt_in_like and state == "none")
    assert "data-cg-reopen" in html
    if region in OPT_OUT:
        assert "Your Privacy Choices" in html
    # what is neutralised
    assert script_blocked(html, "stats.example") is not analytics
    assert script_blocked(html, "ads.example") is not marketing
    # the GPC notice (opt-in) or status (opt-out)
    if gpc and region in OPT_OUT:
        assert "data-cg-gpc-status" in html and "Opt-out preference signal honored" in html
    if gpc and opt_in_like:
        assert "data-cg-gpc-notice" in html
    if not gpc:
        assert "data-cg-gpc-status" not in html and "data-cg-gpc-notice" not in html
    # Consent Mode: the default is the first script and says what the page enforces
    first = head_scripts(html)[0]
    assert "src=" not in first and "application/json" not in first
    default = consent_default(html)
    assert default["analytics_storage"] == ("granted" if analytics else "denied")
    assert all(default[t] == ("granted" if marketing else "denied") for t in AD_TYPES)
    assert default["functionality_storage"] == ("granted" if preferences else "denied")
    assert default["security_storage"] == "granted"
    assert ("wait_for_update" in default) is banner
    assert ('gtag("set","ads_data_redaction",true)' in html) is not marketing
    assert "url_passthrough" not in html
    # audit: a GPC opt-out is recorded exactly when the signal changed something
    optouts = events(sink, "gpc_optout")
    withdrew = gpc and state != "rejected" and (region in OPT_OUT or state == "accepted")
    assert len(optouts) == int(withdrew)
    assert len(sink.events) == len(optouts)
    set_cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and "consentgate=" in v]
    assert len(set_cookies) == int(withdrew)
    if withdrew:
        event = optouts[0]
        assert event.sec_gpc and event.region == region
        assert event.region_source == ("header:x-region" if region else "fallback")
        assert event.categories["analytics"] is analytics
        assert event.services["adpixel"] is False


# -- GPC details ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "honoured"),
    [(["1"], True), (["0"], False), (["true"], False), ([""], False), ([], False), (["0", "1"], True)],
)
async def test_sec_gpc_header_values(values: list[str], honoured: bool) -> None:
    app, sink = gate()
    headers = [("x-region", "US-CA"), *(("sec-gpc", v) for v in values)]
    async with client(app) as http:
        html = (await http.get("/", headers=headers)).text
    assert script_blocked(html, "ads.example") is honoured
    assert len(events(sink, "gpc_optout")) == int(honoured)


async def test_a_region_header_from_an_untrusted_address_is_ignored() -> None:
    app, sink = gate()
    async with client(app, peer=STRANGER) as http:
        html = (await http.get("/", headers={"x-region": "US-CA", "sec-gpc": "1"})).text
    assert "data-consentgate-banner" in html  # strict: unknown region is opt-in
    assert script_blocked(html, "stats.example")
    assert not events(sink, "gpc_optout")  # nothing to opt out of: nothing runs


async def test_the_us_opt_out_is_stored_and_survives_requests_without_the_signal() -> None:
    app, sink = gate()
    async with client(app) as http:
        first = await http.get("/", headers={"x-region": "US-CA", "sec-gpc": "1"})
        assert first.cookies.get("consentgate")
        second = await http.get("/", headers={"x-region": "US-CA"})
    assert script_blocked(second.text, "ads.example")
    assert not script_blocked(second.text, "stats.example")
    assert "data-cg-gpc-status" in second.text
    assert len(events(sink, "gpc_optout")) == 1


async def mixed_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] == "/api":
        response: Response = JSONResponse({"ok": True})
    elif scope["path"] == "/pixel.png":
        response = Response(b"\x89PNG\r\n\x1a\n", media_type="image/png")
    else:
        response = HTMLResponse(PAGE)
    await response(scope, receive, send)


async def choose(http: httpx.AsyncClient, choice: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    """A choice posted the way the banner's script posts it: JSON, from the shop's own origin."""
    return await http.post(
        "/_consentgate/consent", json=choice, headers={**headers, "origin": "http://shop.test"}
    )


def consent_cookies(response: httpx.Response) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith("consentgate=")]


OPT_OUT_GPC = {"x-region": "US-CA", "sec-gpc": "1"}
NOT_A_PAGE_NAVIGATION = {
    "fetch() of JSON": ("/api", {"accept": "application/json", "sec-fetch-dest": "empty"}),
    "image": ("/pixel.png", {"accept": "image/avif,image/webp,*/*", "sec-fetch-dest": "image"}),
    "fetch() of a page": ("/", {"accept": "*/*", "sec-fetch-dest": "empty"}),
    "iframe": ("/", {"accept": "text/html", "sec-fetch-dest": "iframe"}),
    "navigation answered with JSON": ("/api", {"accept": "text/html", "sec-fetch-dest": "document"}),
    "old browser, JSON": ("/api", {"accept": "application/json"}),
}


@pytest.mark.parametrize(("path", "headers"), NOT_A_PAGE_NAVIGATION.values(), ids=NOT_A_PAGE_NAVIGATION)
async def test_gpc_on_anything_but_a_page_navigation_stores_and_records_nothing(
    path: str, headers: dict[str, str]
) -> None:
    app, sink = gate(app=mixed_app)
    async with client(app) as http:
        responses = await asyncio.gather(
            *(http.get(path, headers={**OPT_OUT_GPC, **headers}) for _ in range(3))
        )
    assert all(r.status_code == 200 and not consent_cookies(r) for r in responses)
    assert sink.events == []
    if path == "/":  # the opt-out still applies to what is served
        assert all(script_blocked(r.text, "ads.example") for r in responses)


@pytest.mark.parametrize(
    "headers", [{"sec-fetch-dest": "document"}, {}], ids=["fetch-metadata", "accept-only"]
)
async def test_the_first_page_navigation_stores_the_gpc_opt_out_once(headers: dict[str, str]) -> None:
    app, sink = gate(app=mixed_app)
    async with client(app) as http:
        await asyncio.gather(
            *(http.get("/api", headers={**OPT_OUT_GPC, "accept": "application/json"}) for _ in range(3))
        )
        assert sink.events == []
        page = await http.get("/shop", headers={**OPT_OUT_GPC, "accept": "text/html", **headers})
        assert len(consent_cookies(page)) == 1
        later = await http.get("/pixel.png", headers={**OPT_OUT_GPC, "sec-fetch-dest": "image"})
        again = await http.get("/", headers={**OPT_OUT_GPC, **headers})
    assert not consent_cookies(later) and not consent_cookies(again)
    assert script_blocked(page.text, "ads.example")
    (event,) = sink.events
    assert (event.action, event.path, event.sec_gpc) == ("gpc_optout", "/shop", True)
    assert page.cookies.get("consentgate") and "private" in page.headers["cache-control"]


async def test_explicit_opt_back_in_under_gpc_is_logged_as_override() -> None:
    app, sink = gate()
    async with client(app) as http:
        await http.get("/", headers={"x-region": "US-CA", "sec-gpc": "1"})
        saved = await choose(
            http,
            {
                "action": "save",
                "categories": ["analytics", "marketing", "preferences"],
                "ui": "reopen.save",
            },
            {"x-region": "US-CA", "sec-gpc": "1"},
        )
        assert saved.status_code == 200, saved.text
        page = await http.get("/", headers={"x-region": "US-CA", "sec-gpc": "1"})
    assert not script_blocked(page.text, "ads.example")
    assert [e.action for e in sink.events] == ["gpc_optout", "gpc_override"]
    assert saved.json()["state"]["consentMode"]["ad_storage"] == "granted"


async def test_accept_all_under_gpc_in_the_eu_keeps_marketing_off_and_says_so() -> None:
    app, sink = gate()
    async with client(app) as http:
        saved = await choose(
            http, {"action": "accept_all", "ui": "banner.accept_all"}, {"x-region": "DE", "sec-gpc": "1"}
        )
        page = await http.get("/", headers={"x-region": "DE", "sec-gpc": "1"})
    state = saved.json()["state"]
    assert state["categories"]["analytics"] is True and state["categories"]["marketing"] is False
    assert state["consentMode"]["analytics_storage"] == "granted"
    assert state["consentMode"]["ad_storage"] == "denied"
    assert not script_blocked(page.text, "stats.example")
    assert script_blocked(page.text, "ads.example")
    assert "data-cg-gpc-notice" in page.text
    assert [e.action for e in sink.events] == ["accept_all"]
    assert sink.events[0].sec_gpc


async def test_dom_reported_gpc_in_a_choice_is_applied_from_then_on() -> None:
    app, sink = gate()
    async with client(app) as http:
        saved = await choose(
            http, {"action": "accept_all", "ui": "reopen.accept_all", "gpc": True}, {"x-region": "US-CA"}
        )
        assert saved.status_code == 200, saved.text
        page = await http.get("/", headers={"x-region": "US-CA"})
    assert script_blocked(page.text, "ads.example")
    event = sink.events[0]
    assert not event.sec_gpc and event.detail.get("nav_gpc") == "true"


async def test_dnt_is_recorded_and_has_no_effect_in_texas() -> None:
    app, sink = gate()
    async with client(app) as http:
        page = await http.get("/", headers={"x-region": "US-TX", "dnt": "1"})
        await choose(
            http,
            {"action": "save", "categories": ["analytics"], "ui": "reopen.save"},
            {"x-region": "US-TX", "dnt": "1"},
        )
    assert not script_blocked(page.text, "ads.example")
    assert sink.events[-1].dnt and not sink.events[-1].sec_gpc


async def test_dnt_in_france_keeps_marketing_off_after_accept_all() -> None:
    app, _ = gate()
    async with client(app) as http:
        saved = await choose(
            http, {"action": "accept_all", "ui": "banner.accept_all"}, {"x-region": "FR", "dnt": "1"}
        )
    assert saved.json()["state"]["categories"]["marketing"] is False


async def test_uk_statistics_run_before_a_choice_and_one_click_objection_stops_them() -> None:
    app, sink = gate()
    async with client(app) as http:
        before = await http.get("/", headers={"x-region": "GB"})
        await choose(http, {"action": "reject_all", "ui": "banner.reject_all"}, {"x-region": "GB"})
        after = await http.get("/", headers={"x-region": "GB"})
    assert not script_blocked(before.text, "stats.example")
    assert script_blocked(before.text, "ads.example")
    assert script_blocked(after.text, "stats.example")
    assert [(e.action, e.region, e.categories["analytics"]) for e in sink.events] == [
        ("reject_all", "GB", False)
    ]
    assert sink.events[0].detail.get("uk_objection") == "analytics"  # recorded as an objection


async def test_a_uk_save_that_keeps_statistics_is_no_objection_and_elsewhere_nothing_is_named() -> None:
    app, sink = gate()
    async with client(app) as http:
        await choose(
            http,
            {"action": "save", "categories": ["analytics"], "ui": "preferences.save"},
            {"x-region": "GB"},
        )
        await choose(http, {"action": "reject_all", "ui": "banner.reject_all"}, {"x-region": "FR"})
    assert [e.detail.get("uk_objection") for e in sink.events] == [None, None]


async def test_region_resolver_callable_sets_the_region() -> None:
    app, sink = gate(region_header=None, trusted_proxies=(), region_resolver=lambda scope: "US-CO")
    async with client(app) as http:
        html = (await http.get("/", headers={"sec-gpc": "1"})).text
    assert not script_blocked(html, "stats.example") and script_blocked(html, "ads.example")
    assert sink.events[0].region == "US-CO" and sink.events[0].region_source == "callable"


async def test_region_header_without_trusted_proxies_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        ConsentGate(page_app, secret_keys=[KEY], region_header="cloudflare")


# -- /.well-known/gpc.json --------------------------------------------------------------------------


async def test_gpc_support_resource() -> None:
    app, _ = gate()
    async with client(app) as http:
        response = await http.get("/.well-known/gpc.json")
        head = await http.head("/.well-known/gpc.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["gpc"] is True
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", document["lastUpdate"])
    assert document["lastUpdate"] == "2026-11-01"  # from the policy version
    assert head.status_code == 200 and head.content == b""


async def test_gpc_support_resource_date_is_configurable_and_absent_when_gpc_is_off() -> None:
    app, _ = gate(gpc_last_update="2027-02-03")
    off, _ = gate(load_dict({**SITE, "gpc": False}))
    async with client(app) as http:
        assert (await http.get("/.well-known/gpc.json")).json()["lastUpdate"] == "2027-02-03"
    async with client(off) as http:
        assert (await http.get("/.well-known/gpc.json")).status_code == 404


async def test_a_bad_gpc_last_update_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="gpc_last_update"):
        gate(gpc_last_update="2027-13-01")


# -- Consent Mode ------------------------------------------------------------------------------------

GOOGLE_PAGE = (
    b"<!doctype html><html><head><title>G</title>"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"</head><body></body></html>"
)


async def google_app(scope: Any, receive: Any, send: Any) -> None:
    await HTMLResponse(GOOGLE_PAGE)(scope, receive, send)


@pytest.mark.parametrize(("mode", "loads"), [("basic", False), ("advanced", True)])
async def test_google_tags_load_only_in_advanced_mode_before_consent(mode: str, loads: bool) -> None:
    policy = load_dict({**SITE, "consent_mode": {"mode": mode}})
    app = ConsentGate(google_app, secret_keys=[KEY], policy=policy, audit=MemorySink())
    async with client(app) as http:
        html = (await http.get("/", headers={})).text
    assert script_blocked(html, "googletagmanager.com") is not loads
    assert all(
        v == "denied"
        for k, v in consent_default(html).items()
        if k not in ("security_storage", "wait_for_update")
    )
    assert html.index('gtag("consent","default"') < html.index("googletagmanager.com")


async def test_no_consent_mode_script_when_off() -> None:
    policy = load_dict({**SITE, "consent_mode": {"mode": "off"}})
    app, _ = gate(policy)
    async with client(app) as http:
        html = (await http.get("/")).text
    assert "gtag(" not in html and '"consentMode":null' in html


async def test_consent_mode_script_carries_the_csp_nonce() -> None:
    async def csp_app(scope: Any, receive: Any, send: Any) -> None:
        headers = {"content-security-policy": "script-src 'nonce-abcdefgh1234'"}
        await HTMLResponse(PAGE, headers=headers)(scope, receive, send)

    app = ConsentGate(csp_app, secret_keys=[KEY], policy=POLICY, audit=MemorySink())
    async with client(app) as http:
        html = (await http.get("/")).text
    assert head_scripts(html)[0] == '<script nonce="abcdefgh1234">'


# -- TCF / GPP ----------------------------------------------------------------------------------------


async def test_default_page_has_no_tcf_gpp_or_us_privacy_signals() -> None:
    app, _ = gate()
    async with client(app) as http:
        response = await http.get("/", headers={"x-region": "FR"})
    for marker in ("__tcfapi", "__tcfapiLocator", "__gpp", "__uspapi"):
        assert marker not in response.text
    cookies = " ".join(v for k, v in response.headers.multi_items() if k == "set-cookie")
    assert "euconsent-v2" not in cookies and "usprivacy" not in cookies


async def test_extra_head_hook_injects_a_registered_cmps_stub() -> None:
    seen: list[Mapping[str, Any]] = []

    def stub(context: Any) -> str:
        seen.append({"mode": context.decision.mode, "nonce": context.nonce})
        return '<script data-cmp="stub">window.__tcfapi = function () {};</script>'

    app, _ = gate(extra_head=stub)
    async with client(app) as http:
        html = (await http.get("/", headers={"x-region": "FR"})).text
    assert '<script data-cmp="stub">' in html
    assert html.index('gtag("consent","default"') < html.index('data-cmp="stub"')
    assert seen == [{"mode": "opt_in", "nonce": None}]
