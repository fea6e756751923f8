"""The consent-derived CSP through the real middleware: which responses carry it, that the app's
own policy is left exactly as it was, and the report route."""

from __future__ import annotations

import json
from typing import Any

from consentgate.audit.events import MemorySink
from consentgate.consent.state import Consent
from consentgate.http.csp import parse_policy
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import Recorder, receiver, scope

KEY = "k" * 32
NONCE = "appNonce123456"
PAGE = (
    b"<!doctype html><html><head><title>t</title>"
    b'<script src="https://widgets.example.org/w.js"></script>'
    b'<script src="https://pixel.example/p.js"></script>'
    b"</head><body><h1>Shop</h1></body></html>"
)


def make(csp: str = "report-only", *, app_headers: tuple[tuple[bytes, bytes], ...] = (), body: bytes = PAGE,
         content_type: bytes = b"text/html; charset=utf-8") -> tuple[ConsentGate, MemorySink]:  # fmt: skip
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", content_type), *app_headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    policy = load_dict(
        {
            "include_catalog": False,
            "csp": csp,
            "services": {
                "stats": {"category": "analytics", "hosts": ["stats.example"]},
                "pixel": {"category": "marketing", "hosts": ["pixel.example"]},
            },
        }
    )
    sink = MemorySink()
    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=sink), sink


async def get(gate: ConsentGate, *, method: str = "GET", cookie: str = "", root_path: str = "") -> Recorder:
    headers = [("accept", "text/html")]
    if cookie:
        headers.append(("cookie", cookie))
    recorder = Recorder(method)
    await gate(scope("/shop", method=method, headers=headers, root_path=root_path), receiver(), recorder)
    return recorder


def cookie_for(gate: ConsentGate, *categories: str) -> str:
    consent = Consent.none().with_choice(
        set(categories), source="banner", fingerprint=gate.policy.fingerprint()
    )
    return f"{gate.cookie.name(False)}={gate.cookie.dumps(consent)}"


async def test_a_rewritten_page_carries_a_report_only_policy_by_default() -> None:
    gate, _ = make()
    response = await get(gate)
    (text,) = response.header_list("content-security-policy-report-only")
    assert response.header("content-security-policy") is None
    policy = parse_policy(text)
    assert "pixel.example:*" not in policy["script-src"]
    assert policy["report-uri"][0].startswith("/_consentgate/csp-report?s=")
    assert response.header("reporting-endpoints") is None  # report-uri only: see docs/csp.md


async def test_enforce_mode_sends_an_enforced_policy_and_off_sends_none() -> None:
    enforced = await get(make("enforce")[0])
    assert enforced.header("content-security-policy") is not None
    off = await get(make("off")[0])
    assert not any(k.startswith(b"content-security-policy") for k, _ in off.headers)
    assert off.header("reporting-endpoints") is None


async def test_the_granted_visitor_s_policy_names_the_granted_hosts() -> None:
    gate, _ = make("enforce")
    response = await get(gate, cookie=cookie_for(gate, "marketing"))
    policy = parse_policy(response.header("content-security-policy") or "")
    assert "pixel.example:*" in policy["script-src"] and "stats.example:*" not in policy["script-src"]


async def test_the_page_s_own_hosts_are_in_its_own_header() -> None:
    # widgets.example.org is claimed by nobody and let through (unknown_third_party = "report"):
    # the header is finished after the rewriter met it, so even the first response names it.
    response = await get(make("enforce")[0])
    policy = parse_policy(response.header("content-security-policy") or "")
    assert "widgets.example.org:*" in policy["script-src"]


async def test_non_html_responses_get_no_policy() -> None:
    gate, _ = make("enforce", body=b'{"a": 1}', content_type=b"application/json")
    response = await get(gate)
    assert response.header("content-security-policy") is None


async def test_the_app_s_own_policy_is_kept_byte_for_byte_beside_consentgate_s() -> None:
    app_policy = f"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'".encode()
    gate, _ = make("enforce", app_headers=((b"Content-Security-Policy", app_policy),))
    response = await get(gate)
    policies = response.header_list("content-security-policy")
    assert policies[0] == app_policy.decode() and len(policies) == 2
    assert "'nonce-" not in policies[1]
    # consentgate's own scripts carry the app's nonce, so the app's policy runs them.
    assert f'nonce="{NONCE}"'.encode() in response.body


async def test_head_gets_the_same_policy_as_get() -> None:
    gate, _ = make("enforce")
    got = await get(gate)
    head = await get(gate, method="HEAD")
    assert head.header("content-security-policy") == got.header("content-security-policy")
    assert head.body == b""


async def test_the_report_uri_follows_the_mount_point() -> None:
    response = await get(make()[0], root_path="/app")
    policy = parse_policy(response.header("content-security-policy-report-only") or "")
    assert policy["report-uri"][0].startswith("/app/_consentgate/csp-report?s=")


async def report_to(gate: ConsentGate, page: Recorder) -> Recorder:
    url = parse_policy(
        page.header("content-security-policy") or page.header("content-security-policy-report-only") or ""
    )
    path, _, query = url["report-uri"][0].partition("?")
    blocked = {
        "blocked-uri": "https://pixel.example/tr",
        "effective-directive": "img-src",
        "disposition": "enforce",
    }
    body = json.dumps({"csp-report": {"document-uri": "http://testserver/shop?x=1", **blocked}}).encode()
    recorder = Recorder("POST")
    request = scope(
        path, method="POST", headers=[("content-type", "application/csp-report")], query=query.encode()
    )
    await gate(request, receiver(body), recorder)
    return recorder


async def test_a_report_to_the_route_in_the_header_records_a_leak() -> None:
    gate, sink = make("enforce")
    page = await get(gate, cookie=cookie_for(gate, "analytics"))
    response = await report_to(gate, page)
    assert response.status == 204
    (event,) = sink.events
    assert event.action == "csp_violation" and event.detail["verdict"] == "leak"
    assert event.detail["consent"] == "signed" and event.categories["analytics"]


async def test_with_csp_off_the_report_route_does_not_exist() -> None:
    gate, sink = make("off")
    recorder = Recorder("POST")
    request = scope(
        "/_consentgate/csp-report", method="POST", headers=[("content-type", "application/csp-report")]
    )
    await gate(request, receiver(b"{}"), recorder)
    assert recorder.status == 404 and sink.events == []


async def test_under_block_an_unknown_host_is_allowed_only_to_visitors_who_granted_its_category() -> None:
    # unknown_third_party = "block": a host nobody claims loads once marketing (rules.unknown_grant)
    # is granted, so the policy names it for those visitors only, learned from any page that showed it.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": PAGE})

    policy = load_dict(
        {
            "include_catalog": False,
            "csp": "enforce",
            "unknown_third_party": "block",
            "services": {"pixel": {"category": "marketing", "hosts": ["pixel.example"]}},
        }
    )
    gate = ConsentGate(app, secret_keys=[KEY], policy=policy, audit=MemorySink())

    def script_src(response: Recorder) -> tuple[str, ...]:
        return parse_policy(response.header("content-security-policy") or "")["script-src"]

    first = await get(gate)  # blocked in the markup, and out of this visitor's policy
    assert b'data-consentgate-src="https://widgets.example.org/w.js"' in first.body
    assert "widgets.example.org:*" not in script_src(first)
    marketing = await get(gate, cookie=cookie_for(gate, "marketing"))
    assert b'<script src="https://widgets.example.org/w.js">' in marketing.body
    assert "widgets.example.org:*" in script_src(marketing)
    analytics = await get(gate, cookie=cookie_for(gate, "analytics"))
    assert b'data-consentgate-src="https://widgets.example.org/w.js"' in analytics.body
    assert "widgets.example.org:*" not in script_src(analytics)  # before: every visitor's, once learned
    assert "widgets.example.org:*" not in script_src(await get(gate))
