"""The CNIL audience-measurement exemption through the whole middleware (CG-53, CG-05).

A self-hosted Matomo (``matomo``, on the site's own domain, flagged ``cnil_exempt_audience``)
sits next to a plain analytics tracker (``stats``) and a sale/share pixel (``adpixel``). The
region comes from a trusted header, choices go through the real consent endpoint (JSON as the
runtime posts it, and the no-JS form), the app sets Matomo's cookies itself, and every audit
event lands in a MemorySink. Expectations are written out here, not derived from the code.
"""

from __future__ import annotations

import html as html_text
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.cookies import CookieFirewall, parse_set_cookie
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy

KEY = "k" * 32
EDGE = ("10.0.0.7", 5000)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
DAY = 86400
THIRTEEN_MONTHS = 393 * DAY  # the shortest 13 calendar months (1 Feb -> 1 Mar a year later)
CONDITIONS = {
    "first_party_only": True,
    "audience_only": True,
    "anonymous": True,
    "no_cross_site": True,
    "no_combination": True,
    "no_third_party_transfer": True,
    "geo_no_finer_than_city": True,
    "retention_max_25_months": True,
}
MATOMO: dict[str, Any] = {
    "category": "analytics",
    "hosts": ["stats.shop.fr"],
    "cookies": [
        {"pattern": "_pk_id\\..*", "lifetime": "13 months"},
        {"pattern": "_pk_ses\\..*", "lifetime": "30 minutes"},
    ],
    "cnil_exempt_audience": CONDITIONS,
}
SITE: dict[str, Any] = {
    "version": "2026-11-01",
    "include_catalog": False,
    "first_party_hosts": ["www.shop.fr"],
    "consent_mode": {"mode": "basic"},
    "services": {
        "matomo": MATOMO,
        "stats": {"category": "analytics", "hosts": ["stats.example"], "cookies": [{"name": "_sa"}]},
        "adpixel": {"category": "marketing", "hosts": ["ads.example"], "sale_share": True},
    },
}
POLICY = load_dict(SITE)
UNFLAGGED = load_dict(
    {**SITE, "services": {**SITE["services"], "matomo": {**MATOMO, "cnil_exempt_audience": False}}}
)
PAGE = (
    b"<!doctype html><html><head><title>Boutique</title>"
    b'<script src="https://stats.shop.fr/matomo.js"></script>'
    b'<script src="https://stats.example/a.js"></script>'
    b'<script src="https://ads.example/pixel.js"></script>'
    b"</head><body><h1>Boutique</h1></body></html>"
)
PK_ID = "_pk_id.1.abcd"
TWO_YEARS = 2 * 365 * DAY


async def home(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def visit(request: Request) -> Response:
    # What a server-side Matomo integration sends on every page view: a fresh two-year id cookie.
    response = HTMLResponse(PAGE)
    response.headers.append("set-cookie", f"{PK_ID}=v1; Max-Age={TWO_YEARS}; Path=/; SameSite=Lax")
    response.headers.append("set-cookie", "_pk_ses.1.abcd=1; Max-Age=1800; Path=/")
    response.headers.append("set-cookie", f"_sa=x; Max-Age={TWO_YEARS}; Path=/")
    return response


APP = Starlette(routes=[Route("/", home), Route("/visit", visit)])


def gate(policy: Policy = POLICY) -> tuple[ConsentGate, MemorySink]:
    sink = MemorySink()
    app = ConsentGate(
        APP,
        secret_keys=[KEY],
        policy=policy,
        audit=sink,
        region_header="X-Region",
        trusted_proxies=["10.0.0.0/8"],
    )
    return app, sink


def client(app: Any, region: str) -> httpx.AsyncClient:
    headers = {"user-agent": BROWSER, "accept": "text/html", "origin": "http://www.shop.fr"}
    if region:
        headers["x-region"] = region
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=EDGE), base_url="http://www.shop.fr", headers=headers
    )


def script_live(html: str, host: str) -> bool:
    tags = [tag for tag in re.findall(r"<script\b[^>]*>", html) if host in tag]
    assert len(tags) == 1, tags
    blocked = "data-consentgate-blocked" in tags[0]
    assert blocked == (f' src="https://{host}' not in tags[0]), tags[0]
    return not blocked


def set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [line for line in response.headers.get_list("set-cookie") if line.split("=", 1)[0].strip() == name]


def max_age(line: str) -> int:
    cookie = parse_set_cookie(line)
    assert cookie is not None and cookie.max_age is not None, line
    return cookie.max_age


def expires(line: str) -> float:
    match = re.search(r"Expires=([^;]+)", line, flags=re.IGNORECASE)
    assert match, line
    return parsedate_to_datetime(match.group(1)).timestamp()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no consent form in the page"
    return match.group(1)


def centre_switch(html: str) -> str:
    (switch,) = re.findall(r'<input type="checkbox" name="service" value="matomo"[^>]*>', html)
    return switch


# -- before a choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["FR", "FR-75", "GP", "RE", "NC"])
async def test_in_france_the_exempt_service_runs_before_a_choice_while_the_rest_of_analytics_waits(
    region: str,
) -> None:
    app, sink = gate()
    async with client(app, region) as http:
        html = (await http.get("/")).text
    assert script_live(html, "stats.shop.fr")
    assert not script_live(html, "stats.example")
    assert not script_live(html, "ads.example")
    # Still listed and disclosed: the banner asks, says the measurement runs, and the centre
    # offers the objection switch, on.
    assert "data-consentgate-banner" in html
    assert html.count("data-cg-cnil-exempt") == 2  # banner line and centre note
    assert "which the CNIL (the French data protection authority) exempts from consent" in html
    assert " checked" in centre_switch(html)
    # Consent Mode is unchanged: the exemption is not Google's analytics_storage.
    assert '"analytics_storage":"denied"' in html
    assert sink.events == []  # nothing is stored or logged before a choice


async def test_the_french_banner_states_the_exemption_in_french() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        html = html_text.unescape((await http.get("/", headers={"accept-language": "fr-FR,fr;q=0.9"})).text)
    assert "que la CNIL dispense de consentement" in html
    assert "mesure d'audience exemptée de consentement" in html


@pytest.mark.parametrize("region", ["DE", "GB", "CH", ""], ids=["DE", "GB", "CH", "unknown"])
async def test_outside_france_the_flag_changes_nothing_in_opt_in_regions(region: str) -> None:
    for policy in (POLICY, UNFLAGGED):
        app, _ = gate(policy)
        async with client(app, region) as http:
            html = (await http.get("/")).text
            cookies = await http.get("/visit")
        assert not script_live(html, "stats.shop.fr")
        assert not script_live(html, "stats.example")
        assert "data-cg-cnil-exempt" not in html
        assert 'value="matomo"' not in html  # no switch: an ordinary analytics service here
        assert set_cookies(cookies, PK_ID) == []


async def test_in_an_opt_out_region_the_exempt_service_runs_like_any_other() -> None:
    app, _ = gate()
    async with client(app, "US-CA") as http:
        html = (await http.get("/")).text
    assert script_live(html, "stats.shop.fr") and script_live(html, "stats.example")
    assert "data-cg-cnil-exempt" not in html


async def test_gpc_in_france_objects_to_the_exempt_service_before_a_choice() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        html = (await http.get("/", headers={"sec-gpc": "1"})).text
    assert not script_live(html, "stats.shop.fr")
    assert " checked" not in centre_switch(html)  # listed, switch off: the visitor may turn it on


# -- the 13-month cookie cap --------------------------------------------------------------------------


async def test_exempt_cookie_is_capped_at_13_months_and_not_extended_on_a_later_visit() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        first = await http.get("/visit")
        (line,) = set_cookies(first, PK_ID)
        assert 392 * DAY <= max_age(line) <= THIRTEEN_MONTHS
        (record,) = set_cookies(first, "consentgate_since")
        assert "HttpOnly" in record and "Path=/" in record
        # The browser now sends _pk_id and the record; the app sends two fresh years again.
        assert PK_ID in http.cookies and "consentgate_since" in http.cookies
        second = await http.get("/visit")
        (again,) = set_cookies(second, PK_ID)
    assert max_age(again) <= max_age(line)
    assert expires(again) == expires(line)  # the same end date: not re-extended
    assert set_cookies(second, "consentgate_since") == []  # nothing new to record
    # The session cookie is short already: untouched. The non-exempt tracker cookie is dropped.
    (session,) = set_cookies(first, "_pk_ses.1.abcd")
    assert session == "_pk_ses.1.abcd=1; Max-Age=1800; Path=/"
    assert set_cookies(first, "_sa") == []


@pytest.mark.parametrize(("age_days", "left_days"), [(200, 193), (392, 1), (400, 0)])
async def test_a_cookie_first_set_long_ago_only_gets_what_is_left_of_its_13_months(
    age_days: int, left_days: int
) -> None:
    first_day = int(time.time() // DAY) - age_days
    app, _ = gate()
    async with client(app, "FR") as http:
        http.cookies.set(PK_ID, "v1", domain="www.shop.fr")
        http.cookies.set("consentgate_since", f"1/{PK_ID}:{first_day}", domain="www.shop.fr")
        response = await http.get("/visit")
    (line,) = set_cookies(response, PK_ID)
    assert (left_days - 1) * DAY < max_age(line) + 1 and max_age(line) <= left_days * DAY
    (record,) = set_cookies(response, "consentgate_since")  # the new _pk_ses is recorded
    if left_days:
        assert expires(line) == first_day * DAY + THIRTEEN_MONTHS
        assert f"{PK_ID}:{first_day}/" in record  # the first day is kept, never moved
    else:
        assert PK_ID not in record  # expired: the next one starts afresh


async def test_a_cookie_held_without_a_record_starts_its_13_months_now_and_is_recorded() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        http.cookies.set(PK_ID, "v1", domain="www.shop.fr")  # e.g. set before consentgate ran
        response = await http.get("/visit")
    (line,) = set_cookies(response, PK_ID)
    assert 392 * DAY <= max_age(line) <= THIRTEEN_MONTHS
    (record,) = set_cookies(response, "consentgate_since")
    assert f"{PK_ID}:{int(time.time() // DAY)}" in record


async def test_the_cap_applies_wherever_the_exempt_cookie_is_allowed() -> None:
    app, _ = gate()
    async with client(app, "DE") as http:
        await http.post("/_consentgate/consent", json={"action": "accept_all", "ui": "banner.accept_all"})
        response = await http.get("/visit")
    (line,) = set_cookies(response, PK_ID)
    assert max_age(line) <= THIRTEEN_MONTHS
    assert set_cookies(response, "_sa") != []  # consented: passes, uncapped (not exempt)


async def test_the_record_is_a_host_cookie_over_https() -> None:
    app, _ = gate()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=EDGE),
        base_url="https://www.shop.fr",
        headers={"user-agent": BROWSER, "x-region": "FR"},
    ) as http:
        response = await http.get("/visit")
    (record,) = set_cookies(response, "__Host-consentgate_since")
    assert "Secure" in record and "Domain" not in record


def firewall_at(now: float, held: dict[str, str]) -> CookieFirewall:
    return CookieFirewall(POLICY, own_names={"consentgate"}).bind(held, secure=False, now=now)


def test_firewall_caps_an_expires_only_cookie_and_leaves_session_cookies_alone() -> None:
    from consentgate.consent.state import Consent

    now = 1_800_000_000.0
    consent = Consent.none(POLICY.service_categories).with_choice({"analytics"}, source="banner")
    headers = [
        (b"set-cookie", f"{PK_ID}=v; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Secure".encode()),
        (b"set-cookie", b"_pk_id.2.ffff=v; Path=/"),
    ]
    result = firewall_at(now, {}).filter(headers, consent).headers
    capped, session, record = (value.decode() for _, value in result)
    deadline = (now // DAY) * DAY + THIRTEEN_MONTHS
    assert capped == (
        f"{PK_ID}=v; Path=/; Secure; Max-Age={int(deadline - now)}; "
        f"Expires={time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(deadline))}"
    )
    assert session == "_pk_id.2.ffff=v; Path=/"
    assert record.startswith(
        f"consentgate_since=1/{PK_ID}:{int(now // DAY)}/_pk_id.2.ffff:{int(now // DAY)};"
    )


def test_a_forged_future_record_does_not_extend_the_cookie() -> None:
    from consentgate.consent.state import Consent

    now = 1_800_000_000.0
    future = int(now // DAY) + 300
    consent = Consent.none(POLICY.service_categories).with_choice({"analytics"}, source="banner")
    held = {PK_ID: "v", "consentgate_since": f"1/{PK_ID}:{future}"}
    headers = [(b"set-cookie", f"{PK_ID}=v; Max-Age={TWO_YEARS}".encode())]
    line = firewall_at(now, held).filter(headers, consent).headers[0][1].decode()
    assert max_age(line) <= THIRTEEN_MONTHS


def test_a_policy_without_exempt_cookies_binds_to_the_same_firewall() -> None:
    firewall = CookieFirewall(UNFLAGGED, own_names={"consentgate"})
    assert firewall.bind({PK_ID: "v"}, secure=True) is firewall


# -- objecting ----------------------------------------------------------------------------------------


async def test_objecting_in_the_centre_blocks_it_from_the_next_request_and_is_audited() -> None:
    app, sink = gate()
    async with client(app, "FR") as http:
        await http.get("/visit")  # the browser holds _pk_id now
        saved = await http.post(
            "/_consentgate/consent",
            # What the runtime posts when the switch is turned off: the switch is not named.
            json={"action": "save", "categories": [], "services": {}, "ui": "preferences.save.cnil_object"},
        )
        after = await http.get("/visit")
    assert saved.status_code == 200
    assert saved.json()["state"]["services"] == {"matomo": False}
    assert not script_live(after.text, "stats.shop.fr")
    # The cookie it holds is expired with the answer, and the app cannot set it again.
    assert set_cookies(saved, PK_ID) and all("Max-Age=0" in line for line in set_cookies(saved, PK_ID))
    assert set_cookies(after, PK_ID) == []
    (event,) = sink.events
    assert (event.action, event.region, event.ui_action) == ("save", "FR", "preferences.save.cnil_object")
    assert event.services["matomo"] is False and event.categories["analytics"] is False
    assert event.detail == {"cnil_objection": "matomo"}


@pytest.mark.parametrize(
    ("payload", "recorded"),
    [
        ({"action": "save", "categories": ["analytics"], "ui": "reopen.save"}, "reopen.save.cnil_object"),
        ({"action": "reject_all", "ui": "banner.reject_all"}, "banner.reject_all.cnil_object"),
        ({"action": "save", "services": {"matomo": True}, "ui": "preferences.save"}, "preferences.save"),
        ({"action": "save", "ui": "embed.save", "services": {"stats": True}}, "embed.save"),
    ],
)
async def test_the_server_names_the_objection_whoever_posts_the_choice(
    payload: dict[str, Any], recorded: str
) -> None:
    # The runtime no longer marks its posts: the control is named here, from what was on when
    # the choice came (a page's own state may be older than that).
    app, sink = gate()
    async with client(app, "FR") as http:
        await http.post("/_consentgate/consent", json=payload)
    assert [e.ui_action for e in sink.events] == [recorded]


async def test_the_no_js_form_objects_by_leaving_the_switch_off_and_keeps_it_when_on() -> None:
    app, sink = gate()
    async with client(app, "FR") as http:
        page = (await http.get("/_consentgate/preferences")).text
        form = {"action": "save", "ui": "preferences", "csrf": csrf_of(page), "next": "/"}
        await http.post("/_consentgate/consent", data={**form, "service": "matomo"})
        kept = (await http.get("/")).text
        page = (await http.get("/_consentgate/preferences")).text
        await http.post("/_consentgate/consent", data={**form, "ui": "reopen", "csrf": csrf_of(page)})
        objected = (await http.get("/")).text
    assert script_live(kept, "stats.shop.fr") and not script_live(kept, "stats.example")
    assert not script_live(objected, "stats.shop.fr")
    assert [e.services["matomo"] for e in sink.events] == [True, False]
    # Without JavaScript the objection is named by the server all the same, and the control
    # is recorded as the runtime records it.
    assert [e.detail.get("cnil_objection") for e in sink.events] == [None, "matomo"]
    assert [e.ui_action for e in sink.events] == ["preferences.save", "reopen.save.cnil_object"]


async def test_the_no_js_banner_refusal_is_recorded_as_an_objection_like_the_runtimes() -> None:
    app, sink = gate()
    async with client(app, "FR") as http:
        page = (await http.get("/")).text
        await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "ui": "banner", "csrf": csrf_of(page), "next": "/"},
        )
        # A second refusal objects to nothing that was still on: no objection mark.
        page = (await http.get("/_consentgate/preferences")).text
        await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "ui": "preferences", "csrf": csrf_of(page), "next": "/"},
        )
    assert [e.ui_action for e in sink.events] == ["banner.reject_all.cnil_object", "preferences.reject_all"]


async def test_consenting_to_statistics_with_the_switch_off_still_objects_in_france() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        await http.post(
            "/_consentgate/consent",
            json={"action": "save", "categories": ["analytics"], "services": {}, "ui": "preferences.save"},
        )
        html = (await http.get("/")).text
    assert script_live(html, "stats.example") and not script_live(html, "stats.shop.fr")


async def test_reject_all_in_france_objects_to_the_exempt_service_too() -> None:
    app, sink = gate()
    async with client(app, "FR") as http:
        await http.post(
            "/_consentgate/consent", json={"action": "reject_all", "ui": "banner.reject_all.cnil_object"}
        )
        html = (await http.get("/")).text
        cookies = await http.get("/visit")
    assert not script_live(html, "stats.shop.fr")
    assert set_cookies(cookies, PK_ID) == []
    assert " checked" not in centre_switch(html)
    (event,) = sink.events
    assert event.action == "reject_all" and event.services["matomo"] is False


async def test_a_refusal_made_elsewhere_still_objects_when_the_visitor_is_next_in_france() -> None:
    app, _ = gate()
    async with client(app, "DE") as http:
        await http.post("/_consentgate/consent", json={"action": "reject_all", "ui": "banner.reject_all"})
        http.headers["x-region"] = "FR"
        html = (await http.get("/")).text
    assert not script_live(html, "stats.shop.fr")


async def test_accept_all_after_an_objection_runs_it_again() -> None:
    app, _ = gate()
    async with client(app, "FR") as http:
        await http.post("/_consentgate/consent", json={"action": "reject_all", "ui": "banner.reject_all"})
        await http.post("/_consentgate/consent", json={"action": "accept_all", "ui": "reopen.accept_all"})
        html = (await http.get("/")).text
    assert script_live(html, "stats.shop.fr") and script_live(html, "stats.example")


def test_the_archived_notice_says_which_service_ran_under_the_exemption() -> None:
    app, _ = gate()
    services = {entry["id"]: entry for entry in app.ui.notice("fr")["services"]}
    assert services["matomo"].get("cnil_exempt_audience") is True
    assert "cnil_exempt_audience" not in services["stats"]  # other entries, and their hashes, unchanged
    assert app.ui.notice_hash("fr") != gate(UNFLAGGED)[0].ui.notice_hash("fr")
