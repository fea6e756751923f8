"""A consent cookie that is expired or does not verify is treated as no choice, recorded once in
the audit log (``expired`` under its own consent id, ``invalid_cookie`` under a fresh one), and
expired in the browser so the next page neither re-records nor re-reads it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.responses import HTMLResponse, JSONResponse

from consentgate.audit.events import MemorySink
from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict

KEY = "k" * 32
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
POLICY = load_dict(
    {
        "version": "2026-11-01",
        "include_catalog": False,
        "services": {"stats": {"category": "analytics", "hosts": ["stats.example"]}},
    }
)
PAGE = b'<html><head></head><body><script src="https://stats.example/a.js"></script></body></html>'


async def app(scope: Any, receive: Any, send: Any) -> None:
    response = JSONResponse({"ok": True}) if scope["path"] == "/api" else HTMLResponse(PAGE)
    await response(scope, receive, send)


def setup() -> tuple[ConsentGate, MemorySink]:
    sink = MemorySink()
    return ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=sink), sink


def accepted(*, issued: int | None = None, key: str = KEY) -> tuple[Consent, str]:
    consent = Consent.none(POLICY.service_categories).with_choice(
        {"analytics"}, source="banner", fingerprint=POLICY.fingerprint(), now=issued, lifetime_seconds=3600
    )
    return consent, ConsentCookie([key], POLICY).dumps(consent)


def client(gate: ConsentGate, agent: str = BROWSER) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gate),
        base_url="http://shop.test",
        headers={"user-agent": agent, "accept": "text/html"},
    )


def consent_set_cookies(response: httpx.Response) -> list[str]:
    return [
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("consentgate=")
    ]


async def test_an_expired_choice_is_recorded_once_under_its_own_id_and_expired() -> None:
    gate, sink = setup()
    consent, value = accepted(issued=int(time.time()) - 7200)
    async with client(gate) as http:
        first = await http.get("/", headers={"cookie": f"consentgate={value}"})
        assert "data-consentgate-banner" in first.text  # no choice any more: asked again
        assert "data-consentgate-blocked" in first.text
        (deletion,) = consent_set_cookies(first)
        assert "Max-Age=0" in deletion and deletion.startswith("consentgate=;")
        await http.get("/", headers={"cookie": f"consentgate={value}"})  # a browser ignoring Max-Age
    expired = [event for event in sink.events if event.action == "expired"]
    assert len(expired) == 2 and all(event.consent_id == consent.consent_id for event in expired)
    assert expired[0].categories["analytics"] is False  # the state after: nothing granted
    assert expired[0].detail == {"cookie": "expired"}
    assert len(sink.events) == 2


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda v: v[:-3] + ("AAA" if not v.endswith("AAA") else "BBB"), "bad_signature"),
        (lambda v: "not a cookie", "malformed"),
        (lambda v: "x" * 5000, "oversized"),
    ],
)
async def test_a_cookie_that_does_not_verify_is_recorded_under_a_fresh_id(mangle: Any, status: str) -> None:
    gate, sink = setup()
    consent, value = accepted()
    async with client(gate) as http:
        response = await http.get("/", headers={"cookie": f"consentgate={mangle(value)}"})
    assert "data-consentgate-blocked" in response.text
    (event,) = sink.events
    assert event.action == "invalid_cookie" and event.detail == {"cookie": status}
    assert event.consent_id != consent.consent_id  # an unverified id never enters the log
    assert event.categories["analytics"] is False
    assert len(consent_set_cookies(response)) == 1


async def test_a_cookie_signed_with_another_key_is_invalid() -> None:
    gate, sink = setup()
    _, value = accepted(key="z" * 32)
    async with client(gate) as http:
        response = await http.get("/", headers={"cookie": f"consentgate={value}"})
    assert [event.action for event in sink.events] == ["invalid_cookie"]
    assert "data-consentgate-blocked" in response.text


async def test_api_calls_and_crawlers_record_nothing_and_keep_the_cookie() -> None:
    gate, sink = setup()
    _, value = accepted(issued=int(time.time()) - 7200)
    async with client(gate) as http:
        api = await http.get("/api", headers={"cookie": f"consentgate={value}", "accept": "application/json"})
    async with client(gate, CRAWLER) as bot:
        page = await bot.get("/", headers={"cookie": f"consentgate={value}"})
    assert api.status_code == 200 and page.status_code == 200
    assert not sink.events
    assert not consent_set_cookies(api) and not consent_set_cookies(page)


async def test_a_valid_cookie_records_nothing() -> None:
    gate, sink = setup()
    _, value = accepted()
    async with client(gate) as http:
        response = await http.get("/", headers={"cookie": f"consentgate={value}"})
    assert not sink.events and not consent_set_cookies(response)
    assert "data-consentgate-blocked" not in response.text
