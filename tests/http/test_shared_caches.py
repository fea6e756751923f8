"""What the per-shape caches (banner, placeholders, STATE, CSP, Consent Mode) may share.

A page's snippets and headers are cached per consent *shape* and shared by every visitor of
that shape; the visitor's own strings (CSRF token, consent id, CSP nonce) are spliced in per
response. These tests warm every cache with two visitors of one shape, interleaved, and check
that neither ever receives a string of the other.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from consentgate.audit.events import MemorySink
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import Recorder, receiver, scope

POLICY = load_dict({"csp": "enforce", "consent_mode": {"mode": "basic"}})
PAGE = (
    b"<!doctype html><html><head><title>t</title>"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head><body>'
    b'<iframe src="https://www.youtube.com/embed/x"></iframe><p>text</p>'
    b'<iframe src="https://www.youtube.com/embed/y"></iframe></body></html>'
)
_CSRF_INPUT = re.compile(rb'name="csrf" value="([^"]*)"')
_NONCE = re.compile(rb'nonce="([^"]*)"')
_STATE = re.compile(rb'<script type="application/json" id="consentgate-state"[^>]*>(.*?)</script>')


def nonce_app() -> Any:
    """A page whose own CSP carries a fresh nonce per response, as a real app's would."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonce = secrets.token_urlsafe(16)
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-security-policy", f"script-src 'nonce-{nonce}' 'strict-dynamic'".encode()),
            (b"x-test-nonce", nonce.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PAGE})

    return app


def gate() -> ConsentGate:
    return ConsentGate(nonce_app(), secret_keys=["k" * 32], policy=POLICY, audit=MemorySink())


async def visit(middleware: ConsentGate, cookie: str = "") -> tuple[Recorder, dict[str, Any]]:
    headers = [("accept", "text/html")] + ([("cookie", cookie)] if cookie else [])
    recorder = Recorder()
    await middleware(scope("/page", headers=headers), receiver(), recorder)
    match = _STATE.search(recorder.body)
    assert match is not None
    return recorder, json.loads(match.group(1))


def own_strings(middleware: ConsentGate, recorder: Recorder, state: dict[str, Any]) -> tuple[str, str, str]:
    """(CSRF token, consent id it carries, nonce) of one response, each checked to be its only one."""
    body = recorder.body
    tokens = {value.decode() for value in _CSRF_INPUT.findall(body)} | {state["csrf"]}
    assert len(tokens) == 1, tokens  # banner, centre, every placeholder and STATE: one token
    token = tokens.pop()
    consent_id = middleware.csrf.verify(token)
    assert consent_id
    nonce = recorder.header("x-test-nonce")
    assert nonce and {value.decode() for value in _NONCE.findall(body)} == {nonce}
    assert state["nonce"] == nonce
    return token, consent_id, nonce


async def test_first_visitors_of_one_shape_never_get_each_others_token_id_or_nonce() -> None:
    middleware = gate()
    seen: list[tuple[str, str, str]] = []
    for _ in range(4):  # interleaved, so every cache is warm from the other visitor's page
        for _visitor in ("a", "b"):
            recorder, state = await visit(middleware)
            seen.append(own_strings(middleware, recorder, state))
            assert state["consentId"] == ""  # no choice yet: no id shown
    for index, strings in enumerate(seen):
        body_strings = set(strings)
        for other in seen[index + 1 :]:
            assert body_strings.isdisjoint(other)  # fresh token, id and nonce on every page
    # The first page met the services (the centre lists them): one shape before, one after.
    assert middleware.ui.cached_shapes()["body"] == 2


async def test_returning_visitors_of_one_shape_each_get_their_own_id_and_token() -> None:
    middleware = gate()
    cookies, ids = [], []
    for _ in range(2):
        consent = Consent.none(POLICY.service_categories).with_choice(
            {"analytics"}, source="banner", fingerprint=POLICY.fingerprint()
        )
        cookies.append(f"{middleware.cookie.name(False)}={middleware.cookie.dumps(consent)}")
        ids.append(consent.consent_id)
    assert ids[0] != ids[1]
    pages: dict[str, list[bytes]] = {consent_id: [] for consent_id in ids}
    for _ in range(3):
        for cookie, consent_id in zip(cookies, ids, strict=True):
            recorder, state = await visit(middleware, cookie)
            _, carried, _ = own_strings(middleware, recorder, state)
            assert carried == consent_id and state["consentId"] == consent_id
            pages[consent_id].append(recorder.body)
    for consent_id, other in ((ids[0], ids[1]), (ids[1], ids[0])):
        assert not any(other.encode() in body for body in pages[consent_id])


async def test_the_shared_csp_header_names_no_visitor() -> None:
    middleware = gate()
    first, _ = await visit(middleware)
    second, state = await visit(middleware)
    token, consent_id, nonce = own_strings(middleware, second, state)
    ours = second.header_list("content-security-policy")[-1]
    assert ours == first.header_list("content-security-policy")[-1]  # shared per shape
    assert token not in ours and consent_id not in ours and nonce not in ours
