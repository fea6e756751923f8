"""The consent endpoints: saving a choice (JSON and form), refusals, state, preferences, assets."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from html import escape as html_escape
from html import unescape as html_unescape
from typing import Any

import httpx
import pytest
from starlette.responses import HTMLResponse, JSONResponse

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.audit.minimise import ip_value
from consentgate.http.endpoints import safe_next
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import BROWSER, Recorder, receiver, scope

KEY = "k" * 32
POLICY = load_dict({})
SAME_ORIGIN = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await JSONResponse({"app": True})(scope, receive, send)


def make(sink: Any = None, **options: Any) -> tuple[ConsentGate, MemorySink]:
    sink = sink if sink is not None else MemorySink()
    return ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=sink, **options), sink


def client(middleware: ConsentGate, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware), base_url=base_url, headers={"user-agent": BROWSER}
    )


async def state_of(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/_consentgate/state")
    assert response.headers["cache-control"] == "no-store"
    state: dict[str, Any] = response.json()
    return state


# --- JSON saves ------------------------------------------------------------------------------


async def test_accept_all_sets_the_cookie_records_one_event_and_returns_the_state() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "accept_all", "ui": "banner.accept"}, headers=SAME_ORIGIN
        )
        state = await state_of(http)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()["state"]
    assert body["exists"] is True and all(body["categories"].values())
    assert state["consentId"] == body["consentId"] != ""
    [event] = sink.events
    assert (event.action, event.consent_id, event.ui_action) == (
        "accept_all",
        body["consentId"],
        "banner.accept",
    )
    assert event.categories == {"necessary": True, "preferences": True, "analytics": True, "marketing": True}
    assert event.policy_fingerprint == POLICY.fingerprint() and event.notice_hash
    assert event.ip == ""  # ip_mode="none" by default


async def test_save_records_categories_and_per_service_choices() -> None:
    middleware, sink = make()
    payload = {
        "action": "save",
        "categories": ["analytics"],
        "services": {"google-analytics": False, "hotjar": True},
    }
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", json=payload)
    state = response.json()["state"]
    assert state["categories"]["analytics"] is True and state["categories"]["marketing"] is False
    assert state["services"] == {"google-analytics": False, "hotjar": True}
    assert sink.events[0].services["google-analytics"] is False


async def test_the_consent_id_survives_later_changes() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        await http.post("/_consentgate/consent", json={"action": "accept_all"})
        await http.post("/_consentgate/consent", json={"action": "withdraw"})
    assert sink.events[0].consent_id == sink.events[1].consent_id
    assert sink.events[1].action == "withdraw"
    assert sink.events[1].categories["marketing"] is False


async def test_withdraw_expires_the_withdrawn_categorys_cookies_on_every_domain_variant() -> None:
    middleware, _ = make()
    async with client(middleware, "https://www.shop.example") as http:
        await http.post("/_consentgate/consent", json={"action": "accept_all"})
        http.cookies.set("_ga", "GA1.2.3", domain=".shop.example")
        http.cookies.set("_fbp", "fb.1", domain="www.shop.example")
        http.cookies.set("session", "keep")
        response = await http.post(
            "/_consentgate/consent", json={"action": "save", "categories": ["analytics"]}
        )
    lines = response.headers.get_list("set-cookie")
    assert lines[0].startswith("__Host-consentgate=")
    expired = [line for line in lines[1:]]
    assert all(line.startswith("_fbp=; Max-Age=0") and line.endswith("Secure") for line in expired)
    domains = {re.search(r"Domain=([^;]+)", line).group(1) if "Domain=" in line else "" for line in expired}  # type: ignore[union-attr]
    assert domains == {"", "www.shop.example", "shop.example"}


async def test_a_full_audit_queue_answers_503_and_sets_no_cookie() -> None:
    class Full:
        def enqueue(self, event: ConsentEvent) -> bool:
            return False

    middleware, _ = make(Full())
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", json={"action": "accept_all"})
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    assert middleware.counters["consent_unrecorded"] == 1


async def test_a_sink_that_returns_nothing_has_accepted_the_event() -> None:
    class Logger:  # the EventSink protocol: None counts as accepted, only False refuses
        def __init__(self) -> None:
            self.seen: list[ConsentEvent] = []

        def enqueue(self, event: ConsentEvent) -> None:
            self.seen.append(event)

    sink = Logger()
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=sink)
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", json={"action": "accept_all"})
    assert response.status_code == 200 and response.cookies.get("consentgate")
    assert [event.action for event in sink.seen] == ["accept_all"]


def test_memory_sink_reports_every_event_accepted() -> None:
    sink = MemorySink()
    event = ConsentEvent(consent_id="c1", action="accept_all", categories={"necessary": True})
    assert sink.enqueue(event) is True and sink.events == [event]


async def test_a_bot_choice_sets_the_cookie_but_leaves_no_audit_record() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "reject_all"}, headers={"user-agent": "Googlebot/2.1"}
        )
    assert response.status_code == 200 and "set-cookie" in response.headers
    assert sink.events == []
    assert middleware.counters["bot_choices"] == 1


async def test_an_opt_out_signal_keeps_marketing_denied_on_accept_all() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "accept_all"}, headers={"sec-gpc": "1"}
        )
        override = await http.post(
            "/_consentgate/consent",
            json={"action": "save", "categories": ["marketing"], "ui": "preferences.save"},
            headers={"sec-gpc": "1"},
        )
    state = response.json()["state"]
    assert state["categories"]["marketing"] is False and state["categories"]["analytics"] is True
    assert state["gpc"] is True
    assert sink.events[0].sec_gpc is True
    assert override.json()["state"]["categories"]["marketing"] is True
    assert sink.events[1].action == "gpc_override"


async def test_ip_is_truncated_or_hashed_only_when_asked() -> None:
    for mode, pattern in (("truncate", r"203\.0\.113\.0/24"), ("hmac", r"[0-9a-f]{64}")):
        middleware, sink = make(ip_mode=mode)
        send = Recorder("POST")
        request = scope(
            "/_consentgate/consent", method="POST", headers=[("content-type", "application/json")]
        )
        await middleware(request, receiver(b'{"action":"reject_all"}'), send)
        assert re.fullmatch(pattern, sink.events[0].ip), (mode, sink.events[0].ip)


async def post_from(middleware: ConsentGate, peer: str) -> None:
    transport = httpx.ASGITransport(app=middleware, client=(peer, 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": BROWSER}
    ) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "reject_all"}, headers=SAME_ORIGIN
        )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("peer", "mode", "expected"),
    [
        ("203.0.113.77", "truncate", "203.0.113.0/24"),
        ("2001:db8:1:2::5", "truncate", "2001:db8:1::/48"),
        ("::ffff:203.0.113.7", "truncate", "203.0.113.0/24"),
        ("not-an-address", "truncate", ""),
        ("203.0.113.77", "none", ""),
    ],
)
async def test_a_saved_choice_keeps_the_ip_in_the_documented_shape(
    peer: str, mode: str, expected: str
) -> None:
    middleware, sink = make(ip_mode=mode)
    await post_from(middleware, peer)
    [event] = sink.events
    assert event.ip == expected


async def test_hmac_ip_is_the_audit_packages_keyed_value() -> None:
    middleware, sink = make(ip_mode="hmac")
    for peer in ("203.0.113.77", "203.0.113.77", "203.0.113.78", "::ffff:203.0.113.77"):
        await post_from(middleware, peer)
    same, again, neighbour, mapped = (event.ip for event in sink.events)
    assert re.fullmatch(r"[0-9a-f]{64}", same)
    assert same == again == mapped != neighbour
    assert same == ip_value("203.0.113.77", "hmac", middleware.audit.ip_key)
    # Keyed: not the plain hash anyone could reverse by trying all 2^32 addresses.
    assert same != hashlib.sha256(ipaddress.ip_address("203.0.113.77").packed).hexdigest()
    other_events = MemorySink()
    other = ConsentGate(app, secret_keys=["z" * 32], policy=POLICY, audit=other_events, ip_mode="hmac")
    await post_from(other, "203.0.113.77")
    assert other_events.events[0].ip != same


# --- forms -----------------------------------------------------------------------------------


async def form_token(http: httpx.AsyncClient) -> str:
    token: str = (await state_of(http))["csrf"]
    return token


async def test_a_form_post_redirects_to_the_same_origin_next() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        token = await form_token(http)
        response = await http.post(
            "/_consentgate/consent",
            data={
                "action": "save",
                "category": ["analytics", "preferences"],
                "csrf": token,
                "next": "/shop?x=1",
            },
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/shop?x=1"
    assert sink.events[0].path == "/shop"
    assert sink.events[0].consent_id == token.partition(".")[0]  # the page's id becomes the consent id


@pytest.mark.parametrize(
    ("ui", "action", "recorded"),
    [
        ("banner", "reject_all", "banner.reject_all"),
        ("preferences", "save", "preferences.save"),
        ("embed", "save", "embed.save"),
        ("banner.accept_all", "accept_all", "banner.accept_all"),  # already as the runtime sends it
    ],
)
async def test_a_form_without_javascript_records_its_control_as_the_runtime_does(
    ui: str, action: str, recorded: str
) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        token = await form_token(http)
        response = await http.post(
            "/_consentgate/consent", data={"action": action, "ui": ui, "csrf": token}, headers=SAME_ORIGIN
        )
    assert response.status_code == 303
    assert [event.ui_action for event in sink.events] == [recorded]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        "/ok\nx",
        "http://testserver.evil.example/",
        "",
    ],
)
async def test_a_form_post_never_redirects_elsewhere(target: str) -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        token = await form_token(http)
        response = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "csrf": token, "next": target},
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_absolute_urls_on_this_host_become_paths() -> None:
    assert safe_next("http://testserver/a/b?c=d", "testserver") == "/a/b?c=d"
    assert safe_next("http://TESTSERVER/", "testserver") == "/"
    assert safe_next("/caf\u00e9", "testserver") == "/caf\u00e9"


async def test_a_form_without_a_valid_token_is_refused() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        missing = await http.post("/_consentgate/consent", data={"action": "accept_all"})
        forged = await http.post(
            "/_consentgate/consent", data={"action": "accept_all", "csrf": "abc.def.ghi"}
        )
    assert missing.status_code == forged.status_code == 403
    assert "reload" in missing.text
    assert sink.events == [] and "set-cookie" not in missing.headers


async def test_a_token_bound_to_another_visitor_is_refused() -> None:
    middleware, _ = make()
    async with client(middleware) as other, client(middleware) as http:
        foreign = await form_token(other)
        await http.post("/_consentgate/consent", json={"action": "reject_all"})
        response = await http.post("/_consentgate/consent", data={"action": "accept_all", "csrf": foreign})
    assert response.status_code == 403


async def two_tabs_before_a_choice(http: httpx.AsyncClient) -> tuple[str, str]:
    """The tokens of two pages opened before any choice: each names an id of its own."""
    first, second = await form_token(http), await form_token(http)
    assert first.partition(".")[0] != second.partition(".")[0]
    return first, second


async def test_a_second_tab_opened_before_the_first_choice_can_refuse_without_javascript() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        tab_a, tab_b = await two_tabs_before_a_choice(http)
        accepted = await http.post(
            "/_consentgate/consent",
            data={"action": "accept_all", "ui": "banner", "csrf": tab_a, "next": "/shop"},
            headers=SAME_ORIGIN,
        )
        refused = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "ui": "banner", "csrf": tab_b, "next": "/article"},
            headers=SAME_ORIGIN,
        )
        state = await state_of(http)
    assert accepted.status_code == refused.status_code == 303
    assert refused.headers["location"] == "/article"
    assert state["exists"] and not any(v for k, v in state["categories"].items() if k != "necessary")
    # One visitor, one record: the refusal is stored under the id the first tab's choice got.
    assert [(e.action, e.consent_id) for e in sink.events] == [
        ("accept_all", tab_a.partition(".")[0]),
        ("reject_all", tab_a.partition(".")[0]),
    ]


@pytest.mark.parametrize(
    "evidence",
    [{"sec-fetch-site": "same-origin"}, {"origin": "http://testserver"}],
    ids=["fetch-site", "origin"],
)
async def test_a_second_tabs_runtime_can_refuse_when_the_browser_vouches_for_the_page(
    evidence: dict[str, str],
) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        tab_a, tab_b = await two_tabs_before_a_choice(http)
        await http.post(
            "/_consentgate/consent", json={"action": "accept_all", "csrf": tab_a}, headers=SAME_ORIGIN
        )
        refused = await http.post(
            "/_consentgate/consent",
            json={"action": "reject_all", "csrf": tab_b, "ui": "banner.reject_all"},
            headers=evidence,
        )
    assert refused.status_code == 200, refused.text
    assert refused.json()["state"]["categories"]["marketing"] is False
    assert sink.events[-1].consent_id == sink.events[0].consent_id


async def test_a_stale_token_without_the_browsers_word_is_still_refused() -> None:
    # An old browser sends neither Origin nor Sec-Fetch-Site: the token must name the cookie's
    # id, and a form from another site with a token its author fetched gets nowhere.
    middleware, sink = make()
    async with client(middleware) as http:
        tab_a, tab_b = await two_tabs_before_a_choice(http)
        await http.post("/_consentgate/consent", json={"action": "reject_all", "csrf": tab_a})
        forged = await http.post(
            "/_consentgate/consent", data={"action": "accept_all", "csrf": tab_b, "next": "/"}
        )
        cross_site = await http.post(
            "/_consentgate/consent",
            data={"action": "accept_all", "csrf": tab_b, "next": "/"},
            headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
    assert forged.status_code == cross_site.status_code == 403
    assert [e.action for e in sink.events] == ["reject_all"]


async def test_a_refused_form_gets_the_preferences_page_with_a_fresh_form_and_a_way_back() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "ui": "banner", "csrf": "abc.def.ghi", "next": "/shop?page=2"},
            headers=SAME_ORIGIN,
        )
        page = response.text
        fresh = re.search(r'name="csrf" value="([^"]+)"', page)
        assert fresh is not None
        again = await http.post(
            "/_consentgate/consent",
            data={
                "action": "reject_all",
                "ui": "preferences",
                "csrf": fresh.group(1),
                "next": "/shop?page=2",
            },
            headers=SAME_ORIGIN,
        )
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert 'role="alert"' in page and "reload" in page  # what went wrong, and why
    assert '<a href="/shop?page=2">' in page  # the way back
    assert '<input type="hidden" name="next" value="/shop?page=2">' in page
    assert again.status_code == 303 and again.headers["location"] == "/shop?page=2"
    assert [e.action for e in sink.events] == ["reject_all"]


async def test_a_refusal_for_the_runtime_stays_json() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "reject_all", "csrf": "abc.def.ghi"}, headers=SAME_ORIGIN
        )
    assert response.status_code == 403 and response.json()["error"].startswith("the form has expired")


async def test_load_content_adds_its_grant_to_the_choice_stored_now() -> None:
    # A page served while analytics and preferences were granted; another tab has withdrawn
    # analytics since. "Load content" there must not grant analytics again.
    middleware, sink = make()
    async with client(middleware) as http:
        await http.post(
            "/_consentgate/consent",
            json={
                "action": "save",
                "categories": ["analytics", "preferences"],
                "services": {"hotjar": False},
            },
        )
        await http.post("/_consentgate/consent", json={"action": "save", "categories": ["preferences"]})
        token = await form_token(http)
        loaded = await http.post(
            "/_consentgate/consent",
            data={"action": "save", "ui": "embed", "service": "youtube", "csrf": token, "next": "/"},
            headers=SAME_ORIGIN,
        )
    assert loaded.status_code == 303
    event = sink.events[-1]
    assert (event.ui_action, event.categories["analytics"], event.categories["preferences"]) == (
        "embed.save",
        False,
        True,
    )
    assert event.services["youtube"] is True


async def test_load_content_for_an_undeclared_host_grants_the_category_it_counts_as() -> None:
    blocking = load_dict({"unknown_third_party": "block"})
    middleware = ConsentGate(app, secret_keys=[KEY], policy=blocking, audit=(sink := MemorySink()))
    async with client(middleware) as http:
        token = await form_token(http)
        # A page rendered before placeholders named it, or another client: "unknown" all the same.
        loaded = await http.post(
            "/_consentgate/consent",
            data={"action": "save", "ui": "embed", "category": "unknown", "csrf": token, "next": "/"},
            headers=SAME_ORIGIN,
        )
        state = await state_of(http)
    assert loaded.status_code == 303, loaded.text
    assert state["categories"]["marketing"] is True and state["unknown"] == "marketing"
    assert state["categories"]["analytics"] is False
    assert sink.events[0].categories["marketing"] is True


@pytest.mark.parametrize(
    ("ui", "source"),
    [
        ("banner.accept_all", "banner"),
        ("preferences.save", "preferences"),
        ("reopen.save", "preferences"),
        ("reopen.reject_all", "preferences"),
        ("embed.save", "banner"),
        ("", "api"),
    ],
)
async def test_a_choice_is_stored_with_the_source_of_the_layer_it_was_made_in(ui: str, source: str) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        await http.post("/_consentgate/consent", json={"action": "accept_all"})
        saved = await http.post("/_consentgate/consent", json={"action": "reject_all", "ui": ui})
    assert saved.json()["state"]["source"] == source
    assert sink.events[-1].ui_action == ui


@pytest.mark.parametrize(
    ("referer", "back"),
    [
        ("http://testserver/articles/x?page=2", "/articles/x?page=2"),
        ("https://evil.example/phish", "/"),
        ("http://testserver/_consentgate/preferences?next=/a", "/"),
        ("", "/"),
    ],
)
async def test_the_preferences_page_without_next_returns_to_the_page_it_was_opened_from(
    referer: str, back: str
) -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        page = (await http.get("/_consentgate/preferences", headers={"referer": referer})).text
        named = (await http.get("/_consentgate/preferences?next=/named", headers={"referer": referer})).text
    assert f'<input type="hidden" name="next" value="{html_escape(back)}">' in page
    assert '<input type="hidden" name="next" value="/named">' in named  # next wins when given


async def test_pages_with_the_forms_cannot_be_framed_by_another_site() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        page = await http.get("/_consentgate/preferences")
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"


async def html_app(scope: Any, receive: Any, send: Any) -> None:
    await HTMLResponse("<!doctype html><html><head><title>t</title></head><body><p>Hi</p></body></html>")(
        scope, receive, send
    )


@pytest.mark.parametrize("signal", [{"dnt": "1"}, {"sec-gpc": "1"}], ids=["dnt", "gpc"])
async def test_the_signal_notice_is_true_for_the_signal_sent_and_is_the_text_recorded(
    signal: dict[str, str],
) -> None:
    sink = MemorySink()
    middleware = ConsentGate(html_app, secret_keys=[KEY], policy=POLICY, audit=sink)
    async with client(middleware) as http:
        page = (await http.get("/", headers=signal)).text
        await http.post("/_consentgate/consent", json={"action": "reject_all"}, headers=signal)
    shown = re.findall(r"<p [^>]*data-cg-gpc-notice>([^<]*)</p>", page)
    assert shown, "the banner says why marketing stays off"
    text = html_unescape(shown[0])
    assert "Do Not Track" in text and "Global Privacy Control" in text  # true whichever was sent
    notice = middleware.ui.notice("en")
    assert notice["texts"]["gpc_notice"] == text
    canonical = json.dumps(notice, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert sink.events[0].notice_hash == hashlib.sha256(canonical.encode()).hexdigest()


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://testserver"},
        {"origin": "http://testserver.evil.example"},
    ],
)
async def test_a_cross_site_post_is_refused_and_changes_nothing(headers: dict[str, str]) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", json={"action": "accept_all"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"].startswith("cross-")
    assert "set-cookie" not in response.headers and sink.events == []


# A page sent with `Referrer-Policy: no-referrer` posts its forms with `Origin: null`; the
# browser's own Sec-Fetch-Site still tells a same-origin form from a sandboxed or foreign one.
NO_REFERRER_FORM = {"origin": "null", "sec-fetch-site": "same-origin"}


async def test_a_same_origin_form_from_a_no_referrer_page_is_accepted_with_its_token() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        token = await form_token(http)
        response = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "csrf": token, "next": "/", "ui": "banner"},
            headers=NO_REFERRER_FORM,
        )
    assert response.status_code == 303 and len(sink.events) == 1


@pytest.mark.parametrize(
    ("headers", "data", "reason"),
    [
        (NO_REFERRER_FORM, {"action": "accept_all", "next": "/"}, "the form has expired"),  # no token
        (NO_REFERRER_FORM, {"action": "accept_all", "csrf": "forged", "next": "/"}, "the form has expired"),
        ({"origin": "null"}, {"action": "accept_all", "next": "/"}, "cross-origin"),  # no Fetch Metadata
        ({"origin": "null", "sec-fetch-site": "none"}, {"action": "accept_all"}, "cross-origin"),
        ({"origin": "null", "sec-fetch-site": "cross-site"}, {"action": "accept_all"}, "cross-site"),
    ],
)
async def test_origin_null_is_refused_unless_a_same_origin_form_with_its_token(
    headers: dict[str, str], data: dict[str, str], reason: str
) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", data=data, headers=headers)
    assert response.status_code == 403 and reason in response.text
    assert "set-cookie" not in response.headers and sink.events == []


async def test_origin_null_never_carries_a_json_choice() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "accept_all"}, headers=NO_REFERRER_FORM
        )
    assert response.status_code == 403 and sink.events == []


async def test_an_allowed_origin_and_a_default_port_are_accepted() -> None:
    middleware, sink = make(allowed_origins=["https://www.example.com"])
    async with client(middleware) as http:
        allowed = await http.post(
            "/_consentgate/consent",
            json={"action": "reject_all"},
            headers={"origin": "https://www.example.com"},
        )
        default_port = await http.post(
            "/_consentgate/consent", json={"action": "reject_all"}, headers={"origin": "http://testserver:80"}
        )
    assert allowed.status_code == default_port.status_code == 200
    assert len(sink.events) == 2


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{" * 20_000, "application/json", 413),
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"action": "everything"}', "application/json", 400),
        (b'{"action": "save", "categories": ["spying"]}', "application/json", 400),
        (b'{"action": "save", "services": {"no-such-service": true}}', "application/json", 400),
        (b'{"action": "save", "categories": "analytics"}', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"action=accept_all", "text/plain", 415),
        (b"action=accept_all", "multipart/form-data; boundary=x", 415),
        (b"action=%ff", "application/x-www-form-urlencoded", 400),
    ],
)
async def test_bad_bodies_are_refused_with_a_reason(content: bytes, content_type: str, status: int) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent",
            content=content,
            headers={"content-type": content_type, "accept": "application/json"},
        )
    assert response.status_code == status
    assert response.json()["error"]
    assert sink.events == [] and "set-cookie" not in response.headers


async def test_an_oversized_chunked_body_is_refused_without_reading_it_all() -> None:
    middleware, _ = make()
    send = Recorder("POST")
    request = scope("/_consentgate/consent", method="POST", headers=[("content-type", "application/json")])
    await middleware(request, receiver(*[b"x" * 4096] * 10), send)
    assert send.status == 413


async def test_get_on_the_consent_endpoint_has_no_side_effect() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.get("/_consentgate/consent?action=accept_all")
        wrong = await http.post("/_consentgate/state")
        unknown = await http.get("/_consentgate/nope")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert wrong.status_code == 405
    assert unknown.status_code == 404
    assert sink.events == []


# --- reading ---------------------------------------------------------------------------------


async def test_state_and_preferences_are_never_cached() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        state = await state_of(http)
        page = await http.get("/_consentgate/preferences?next=//evil.example")
    assert state["exists"] is False and state["consentId"] == "" and state["csrf"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert b"evil.example" not in page.content


async def test_static_assets_are_served_with_long_caching_and_unknown_ones_404() -> None:
    middleware, _ = make()
    url = middleware.ui.asset_url("js")
    async with client(middleware) as http:
        asset = await http.get(url)
        unknown = await http.get("/_consentgate/static/nope.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-length"] == str(len(asset.content))
    assert unknown.status_code == 404
    send = Recorder()
    await middleware(scope("/_consentgate/static/../../etc/passwd"), receiver(), send)
    assert send.status == 404


async def test_gpc_json_is_published() -> None:
    middleware, _ = make(gpc_last_update="2026-01-15")
    async with client(middleware) as http:
        response = await http.get("/.well-known/gpc.json")
    assert response.json() == {"gpc": True, "lastUpdate": "2026-01-15"}


async def test_the_receipt_needs_a_consent_and_a_readable_store() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        none_yet = await http.get("/_consentgate/receipt")
        await http.post("/_consentgate/consent", json={"action": "reject_all"})
        no_store = await http.get("/_consentgate/receipt")
    assert none_yet.status_code == 404 and no_store.status_code == 404


async def test_endpoints_are_found_under_a_root_path() -> None:
    middleware, sink = make()
    send = Recorder("POST")
    request = scope(
        "/_consentgate/consent",
        method="POST",
        root_path="/app",
        headers=[("content-type", "application/json")],
    )
    await middleware(request, receiver(b'{"action": "accept_all"}'), send)
    assert send.status == 200 and len(sink.events) == 1


async def test_app_routes_are_not_shadowed() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        assert (await http.get("/_consentgatex")).json() == {"app": True}
        assert (await http.post("/consent", json={})).json() == {"app": True}


def test_configuration_errors_name_their_key() -> None:
    with pytest.raises(ValueError, match="secret_keys"):
        ConsentGate(app, secret_keys=["short"], policy=POLICY, audit=MemorySink())
    with pytest.raises(ValueError, match="prefix"):
        make(prefix="consent/")
    with pytest.raises(ValueError, match="ip_mode"):
        make(ip_mode="full")
    with pytest.raises(ValueError, match="max_body"):
        make(max_body=10)


def test_without_an_audit_store_a_loud_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    ConsentGate(app, secret_keys=[KEY], policy=POLICY)
    assert "NOT recorded" in caplog.text


async def test_with_a_sqlite_audit_log_the_choice_is_stored_and_the_visitor_can_read_it(
    tmp_path: Any,
) -> None:
    import anyio

    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=f"sqlite:///{tmp_path}/audit.db")
    async with client(middleware) as http:
        # No lifespan here (as under a mounted sub-app): the writer starts on the first choice.
        saved = await http.post("/_consentgate/consent", json={"action": "save", "categories": ["analytics"]})
        consent_id = saved.json()["state"]["consentId"]
        events: list[dict[str, Any]] = []
        with anyio.fail_after(5):
            while not events:
                receipt = await http.get("/_consentgate/receipt")
                assert receipt.status_code == 200 and receipt.headers["cache-control"] == "no-store"
                events = receipt.json()["events"]
                await anyio.sleep(0.05)
    await middleware.audit.stop()
    assert receipt.json()["consentId"] == consent_id
    assert [(e["consent_id"], e["action"]) for e in events] == [(consent_id, "save")]
    assert events[0]["notice_hash"] == middleware.ui.notice_hash("en")


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "save", "services": {"hotjar": "yes"}},
        {"action": 1},
        {"action": "save", "gpc": "true"},
        {"action": "save", "ui": "<script>"},
    ],
)
async def test_badly_typed_fields_are_refused(payload: dict[str, Any]) -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        response = await http.post("/_consentgate/consent", json=payload)
    assert response.status_code == 400 and sink.events == []


async def test_a_form_with_too_many_fields_is_refused() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent",
            content="&".join(["a=1"] * 300).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 400


async def test_a_client_that_leaves_mid_body_gets_no_answer_and_changes_nothing() -> None:
    middleware, sink = make()
    messages = [
        {"type": "http.request", "body": b'{"action":', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    send = Recorder("POST")
    request = scope("/_consentgate/consent", method="POST", headers=[("content-type", "application/json")])
    await middleware(request, receive, send)
    assert send.messages == [] and sink.events == []


async def test_the_page_a_json_choice_was_made_on_comes_from_a_same_origin_referer() -> None:
    middleware, sink = make()
    async with client(middleware) as http:
        await http.post(
            "/_consentgate/consent",
            json={"action": "reject_all"},
            headers={"referer": "http://testserver/shop/cart?id=7"},
        )
        await http.post(
            "/_consentgate/consent",
            json={"action": "reject_all"},
            headers={"referer": "https://elsewhere.example/x"},
        )
    assert [e.path for e in sink.events] == ["/shop/cart", ""]


async def test_a_writer_like_sink_counts_bots_and_archives_the_notice() -> None:
    class WriterLike(MemorySink):
        def __init__(self) -> None:
            super().__init__()
            self.bots = 0
            self.notices: dict[str, object] = {}

        def skip_bot(self) -> None:
            self.bots += 1

        def put_notice(self, notice_hash: str, doc: Any) -> None:
            self.notices[notice_hash] = doc

    sink = WriterLike()
    middleware, _ = make(sink)
    async with client(middleware) as http:
        await http.post(
            "/_consentgate/consent", json={"action": "reject_all"}, headers={"user-agent": "Googlebot/2.1"}
        )
        await http.post("/_consentgate/consent", json={"action": "accept_all"})
    assert sink.bots == 1 and len(sink.events) == 1
    assert list(sink.notices) == [sink.events[0].notice_hash]


async def test_gpc_json_only_answers_get_and_head() -> None:
    middleware, _ = make()
    async with client(middleware) as http:
        assert (await http.post("/.well-known/gpc.json")).status_code == 405


# --- "Load content" before any choice: grants without a decision --------------------------------

EXEMPT = {
    name: True
    for name in (
        "first_party_only",
        "audience_only",
        "anonymous",
        "no_cross_site",
        "no_combination",
        "no_third_party_transfer",
        "geo_no_finer_than_city",
        "retention_max_25_months",
    )
}
# UK statistics (stats, matomo), French exempt measurement (matomo), a sale/share video embed.
REGIONAL = load_dict(
    {
        "version": "2026-11-01",
        "include_catalog": False,
        "first_party_hosts": ["www.shop.fr"],
        "categories": {"analytics": {"uk_statistics": True}},
        "services": {
            "stats": {"category": "analytics", "hosts": ["stats.example"], "cookies": [{"name": "_sa"}]},
            "matomo": {
                "category": "analytics",
                "hosts": ["stats.shop.fr"],
                "cookies": [{"pattern": "_pk_id\\..*", "lifetime": "13 months"}],
                "cnil_exempt_audience": EXEMPT,
            },
            "video": {"category": "marketing", "hosts": ["video.example"], "sale_share": True},
        },
    }
)
EMBED_PAGE = (
    "<!doctype html><html><head><title>t</title></head><body>"
    '<iframe src="https://www.youtube.com/embed/abc"></iframe>'
    '<iframe src="https://video.example/v/1"></iframe><p>Hi</p></body></html>'
)


async def embed_app(scope: Any, receive: Any, send: Any) -> None:
    await HTMLResponse(EMBED_PAGE)(scope, receive, send)


def embed_gate(policy: Any = POLICY) -> tuple[ConsentGate, MemorySink]:
    sink = MemorySink()
    gate = ConsentGate(
        embed_app,
        secret_keys=[KEY],
        policy=policy,
        audit=sink,
        region_header="X-Region",
        trusted_proxies=["127.0.0.0/8"],
    )
    return gate, sink


async def load_content(http: httpx.AsyncClient, service: str, **headers: str) -> httpx.Response:
    """The placeholder's form, posted without JavaScript."""
    token = await form_token(http)
    return await http.post(
        "/_consentgate/consent",
        data={"action": "save", "ui": "embed", "service": service, "csrf": token, "next": "/"},
        headers={**SAME_ORIGIN, **headers},
    )


def banner_shown(page: httpx.Response) -> bool:
    return "data-consentgate-banner" in page.text


async def test_load_content_on_a_first_visit_stores_the_grant_and_the_banner_still_asks() -> None:
    middleware, sink = embed_gate()
    async with client(middleware) as http:
        first = await http.get("/", headers={"accept": "text/html"})
        loaded = await load_content(http, "youtube")
        again = await http.get("/", headers={"accept": "text/html"})
        state = await state_of(http)
    assert banner_shown(first) and '<iframe src="https://www.youtube.com/embed/abc"' not in first.text
    assert loaded.status_code == 303 and "set-cookie" in loaded.headers
    # The video now comes live from the server, and the visitor is still asked about the rest.
    assert '<iframe src="https://www.youtube.com/embed/abc"' in again.text
    assert banner_shown(again)
    assert state["exists"] is False and state["consentId"] == ""
    assert state["services"] == {"youtube": True}
    assert not any(on for category, on in state["categories"].items() if category != "necessary")
    [event] = sink.events
    # Recorded as what it was: one service granted, no decision about the rest.
    assert (event.action, event.ui_action, dict(event.detail)) == (
        "save",
        "embed.save",
        {"decision": "pending"},
    )
    assert event.services["youtube"] is True
    assert event.categories == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "marketing": False,
    }


async def test_load_content_for_the_runtime_answers_with_a_state_that_still_asks() -> None:
    middleware, _ = embed_gate()
    async with client(middleware) as http:
        token = await form_token(http)
        response = await http.post(
            "/_consentgate/consent",
            json={"action": "save", "ui": "embed.save", "services": {"youtube": True}, "csrf": token},
            headers=SAME_ORIGIN,
        )
    state = response.json()["state"]
    assert response.status_code == 200
    assert (state["exists"], state["services"], state["categories"]["marketing"]) == (
        False,
        {"youtube": True},
        False,
    )


async def test_grants_without_a_decision_add_up_until_a_real_choice_ends_the_question() -> None:
    middleware, sink = embed_gate()
    async with client(middleware) as http:
        await load_content(http, "youtube")
        await load_content(http, "vimeo")
        before = await state_of(http)
        still = await http.get("/", headers={"accept": "text/html"})
        token = await form_token(http)
        decided = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "ui": "banner", "csrf": token, "next": "/"},
            headers=SAME_ORIGIN,
        )
        after = await state_of(http)
        page = await http.get("/", headers={"accept": "text/html"})
    assert before["services"] == {"vimeo": True, "youtube": True} and banner_shown(still)
    assert decided.status_code == 303
    assert after["exists"] is True and after["services"] == {}
    assert not banner_shown(page) and '<iframe src="https://www.youtube.com/embed/abc"' not in page.text
    # One visitor, one id: the grants and the decision that ended them.
    assert len({e.consent_id for e in sink.events}) == 1
    assert [(e.action, e.detail.get("decision")) for e in sink.events] == [
        ("save", "pending"),
        ("save", "pending"),
        ("reject_all", None),
    ]


async def test_load_content_after_a_choice_adds_to_that_choice_and_asks_nothing() -> None:
    middleware, sink = embed_gate()
    async with client(middleware) as http:
        await http.post("/_consentgate/consent", json={"action": "reject_all"}, headers=SAME_ORIGIN)
        await load_content(http, "youtube")
        state = await state_of(http)
        page = await http.get("/", headers={"accept": "text/html"})
    assert state["exists"] is True and state["services"] == {"youtube": True}
    assert not banner_shown(page)
    assert "decision" not in sink.events[-1].detail


async def test_load_content_in_the_uk_neither_stores_nor_objects_to_the_statistics() -> None:
    middleware, sink = embed_gate(REGIONAL)
    async with client(middleware) as http:
        http.cookies.set("_sa", "1")
        loaded = await load_content(http, "video", **{"x-region": "GB"})
        state = (await http.get("/_consentgate/state", headers={"x-region": "GB"})).json()
    # Statistics run before a choice in the UK: their cookie stays, and they keep running.
    assert not [v for k, v in loaded.headers.multi_items() if k == "set-cookie" and v.startswith("_sa=")]
    assert state["categories"]["analytics"] is True and state["services"]["video"] is True
    assert state["exists"] is False
    [event] = sink.events
    # ... but they are no consent: the record grants the video only, and objects to nothing.
    assert event.categories["analytics"] is False and event.services["video"] is True
    assert dict(event.detail) == {"decision": "pending"}


async def test_load_content_in_france_does_not_object_to_the_exempt_measurement() -> None:
    middleware, sink = embed_gate(REGIONAL)
    async with client(middleware) as http:
        await load_content(http, "video", **{"x-region": "FR"})
        state = (await http.get("/_consentgate/state", headers={"x-region": "FR"})).json()
    assert state["services"] == {"matomo": True, "video": True}  # exempt measurement still runs
    [event] = sink.events
    assert "cnil_objection" not in event.detail and event.detail["decision"] == "pending"
    assert event.services["matomo"] is False  # not consented to, and not refused either
    assert event.ui_action == "embed.save"


async def test_load_content_under_gpc_overrides_for_that_service_only_and_still_asks() -> None:
    middleware, sink = embed_gate()
    gpc = {"sec-gpc": "1", "x-region": "DE"}
    async with client(middleware) as http:
        await load_content(http, "youtube", **gpc)
        page = await http.get("/", headers={"accept": "text/html", **gpc})
        state = (await http.get("/_consentgate/state", headers=gpc)).json()
    [event] = sink.events
    assert (event.action, event.sec_gpc, event.detail["decision"]) == ("gpc_override", True, "pending")
    assert state["services"] == {"youtube": True} and state["categories"]["marketing"] is False
    assert banner_shown(page) and '<iframe src="https://www.youtube.com/embed/abc"' in page.text


async def test_a_signal_that_withdraws_a_loaded_embed_is_recorded_as_still_undecided() -> None:
    middleware, sink = embed_gate()
    page = {"accept": "text/html", "sec-fetch-dest": "document", "x-region": "DE"}
    async with client(middleware) as http:
        await load_content(http, "youtube", **{"x-region": "DE"})
        later = await http.get("/", headers={**page, "sec-gpc": "1"})
        state = (await http.get("/_consentgate/state", headers={"x-region": "DE"})).json()
    assert banner_shown(later) and '<iframe src="https://www.youtube.com/embed/abc"' not in later.text
    assert [(e.action, e.detail.get("decision")) for e in sink.events] == [
        ("save", "pending"),
        ("gpc_optout", "pending"),
    ]
    assert state["services"] == {} and state["exists"] is False  # kept without the signal (CG-64)
