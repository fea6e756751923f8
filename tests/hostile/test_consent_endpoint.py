"""Hostile requests to the consent endpoint: whatever arrives, the answer is a clear 4xx or the
choice exactly as made — never a 500, never a state nobody chose, never an unrecorded change."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.policy.load import load_dict
from tests.hostile.kit import CONSENT, HOST, ORIGIN, SAME_ORIGIN, Reply, call, cookie_header, gate

POLICY = load_dict({})
CATEGORIES = [c.id for c in POLICY.categories]
REQUIRED = {c.id for c in POLICY.categories if c.required} | {"necessary"}
SERVICE_IDS = [s.id for s in POLICY.services][:12]
ACTIONS = ["accept_all", "reject_all", "save", "withdraw"]
GATE, SINK = gate(POLICY)
COOKIE = GATE.cookie.name(True) + "="  # over HTTPS: the __Host- name
HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(ACTIONS) | JSON_VALUES,
        "categories": st.lists(st.sampled_from(CATEGORIES) | st.text(max_size=10), max_size=5) | JSON_VALUES,
        "services": st.dictionaries(
            st.sampled_from(SERVICE_IDS) | st.text(max_size=10), st.booleans() | JSON_VALUES, max_size=4
        )
        | JSON_VALUES,
        "csrf": st.text(max_size=100) | JSON_VALUES,
        "ui": st.sampled_from(["banner.accept", "preferences.save", ""]) | st.text(max_size=80),
        "gpc": st.booleans() | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json-seq",
        "",
        "application/x-www-form-urlencoded; charset=latin-1",
    ]
)


def post(body: bytes, content_type: str, *, headers: Any = SAME_ORIGIN, chunks: int = 1) -> Reply:
    sent = [*headers, ("content-type", content_type)] if content_type else list(headers)
    return asyncio.run(call(GATE, CONSENT, method="POST", headers=sent, body=body, chunks=chunks))


def granted(event_categories: dict[str, bool]) -> set[str]:
    return {category for category, on in event_categories.items() if on}


def check_outcome(reply: Reply, before: int) -> None:
    """The invariant of every answer: refused means nothing changed; accepted means exactly one
    record and the consent cookie."""
    assert reply.status < 500, reply.body[:300]
    consent_cookies = [line for line in reply.header_list("set-cookie") if line.startswith(COOKIE)]
    if reply.status in (200, 303):
        assert len(SINK.events) == before + 1
        assert len(consent_cookies) == 1
    else:
        assert 400 <= reply.status < 500
        assert len(SINK.events) == before and consent_cookies == []
        if reply.header("content-type") == "application/json":
            assert "error" in reply.json()


# --- arbitrary bodies ------------------------------------------------------------------------


@HYPOTHESIS
@given(body=st.binary(max_size=2048), content_type=CONTENT_TYPES, chunks=st.integers(1, 5))
def test_arbitrary_bytes_in_any_content_type_never_give_a_500(
    body: bytes, content_type: str, chunks: int
) -> None:
    before = len(SINK.events)
    check_outcome(post(body, content_type, chunks=chunks), before)


@HYPOTHESIS
@given(payload=PAYLOADS)
def test_a_json_choice_grants_exactly_what_it_says_or_is_refused(payload: dict[str, Any]) -> None:
    before = len(SINK.events)
    reply = post(json.dumps(payload).encode(), "application/json")
    check_outcome(reply, before)
    if reply.status != 200:
        return
    event = SINK.events[-1]
    action = payload["action"]
    chosen = granted(event.categories)
    if action == "accept_all":
        objected = {"marketing"} if payload.get("gpc") is True else set()
        assert chosen == set(CATEGORIES) - objected
    elif action == "save":
        assert chosen == REQUIRED | set(payload.get("categories", []))
    else:
        assert chosen == REQUIRED
    sent = payload.get("services", {})
    category_of = POLICY.service_categories
    for service_id, on in event.services.items():
        if on:  # a service runs only by its category or by a grant the visitor sent
            assert category_of[service_id] in chosen or sent.get(service_id) is True
    if action in ("accept_all", "save"):
        for service_id, on in sent.items():
            if not on or action == "save" or payload.get("gpc") is not True:
                assert event.services[service_id] is on  # each override recorded as sent
    state = reply.json()["state"]
    assert {c for c, on in state["categories"].items() if on} == chosen


@HYPOTHESIS
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["action", "category", "service", "csrf", "next", "ui", "x"])
            | st.text(max_size=6),
            st.sampled_from([*ACTIONS, *CATEGORIES, *SERVICE_IDS, "/", "//evil.example"])
            | st.text(max_size=30),
        ),
        max_size=12,
    ),
    with_token=st.booleans(),
)
def test_a_form_post_is_refused_or_redirects_home_and_grants_only_what_it_lists(
    fields: list[tuple[str, str]], with_token: bool
) -> None:
    if with_token:
        fields = [("csrf", GATE.csrf.issue("AAAAAAAAAAAAAAAAAAAAAA")), *fields]
    before = len(SINK.events)
    reply = post(urlencode(fields).encode(), "application/x-www-form-urlencoded")
    check_outcome(reply, before)
    if reply.status != 303:
        return
    location = reply.header("location") or ""
    assert urlsplit(urljoin(f"{ORIGIN}/", location)).netloc == HOST
    event = SINK.events[-1]
    first_action = next(value for name, value in fields if name == "action")
    assert event.action == first_action
    if first_action == "save":
        listed = {value for name, value in fields if name == "category"}
        assert granted(event.categories) == REQUIRED | listed


def test_duplicate_json_keys_take_one_value_and_record_that_one() -> None:
    before = len(SINK.events)
    reply = post(b'{"action": "accept_all", "action": "reject_all"}', "application/json")
    check_outcome(reply, before)
    assert granted(SINK.events[-1].categories) == REQUIRED  # the last key wins in JSON; recorded as such
    assert SINK.events[-1].action == "reject_all"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-arrays"),
        pytest.param(b'{"action":' + b"[" * 3000 + b"]" * 3000 + b"}", id="nested-in-a-field"),
    ],
)
def test_deeply_nested_json_is_refused_with_400(body: bytes) -> None:
    before = len(SINK.events)
    reply = post(body, "application/json")
    assert reply.status == 400
    check_outcome(reply, before)


def test_nesting_under_the_recursion_limit_is_a_plain_400() -> None:
    reply = post(b"[" * 500 + b"]" * 500, "application/json")
    assert reply.status == 400


@pytest.mark.parametrize("size", [16 * 1024 + 1, 1024 * 1024])
def test_a_huge_body_is_refused_with_413_whatever_it_declares(size: int) -> None:
    body = b'{"action": "accept_all", "pad": "' + b"x" * size + b'"}'
    before = len(SINK.events)
    reply = post(body, "application/json", chunks=64)
    assert reply.status == 413
    check_outcome(reply, before)
    lying = post(body, "application/json", headers=[*SAME_ORIGIN, ("content-length", "10")], chunks=64)
    assert lying.status == 413


@pytest.mark.parametrize(
    "text",
    ["accept_all\u0000", "ACCEPT_ALL", "accept_all ", "\u0430ccept_all", "accept\u200b_all", "save\ud800"],
)
def test_lookalike_and_unicode_actions_are_refused(text: str) -> None:
    before = len(SINK.events)
    body = json.dumps({"action": text}).encode()
    reply = post(body, "application/json")
    assert reply.status == 400
    check_outcome(reply, before)


def test_invalid_utf8_in_a_form_is_a_400() -> None:
    before = len(SINK.events)
    reply = post(b"action=accept_all&csrf=\xff\xfe", "application/x-www-form-urlencoded")
    assert reply.status == 400
    check_outcome(reply, before)


# --- where the browser is sent afterwards ----------------------------------------------------

NASTY_NEXT = [
    "//evil.example",
    "///evil.example",
    "////evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "https://evil.example/",
    "http://evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https:\\\\evil.example",
    "//shop.example@evil.example",
    "https://shop.example@evil.example/",
    "https://shop.example.evil.example/",
    "https://evil.example#@shop.example",
    "https://evil.example?@shop.example",
    "https://shop.example//evil.example",
    "HTTPS://SHOP.EXAMPLE//evil.example",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/..//evil.example",
    "/\u3002evil.example",
    "\uff0f\uff0fevil.example",
    "/x\r\nSet-Cookie: consentgate=forged",
    "/x%0d%0aSet-Cookie:%20a=1",
    "/" + "a" * 5000,
    "",
]


@pytest.mark.parametrize("target", NASTY_NEXT)
def test_next_never_leaves_the_site_nor_splits_the_response(target: str) -> None:
    token = GATE.csrf.issue("BBBBBBBBBBBBBBBBBBBBBB")
    body = urlencode({"action": "reject_all", "csrf": token, "next": target}).encode()
    reply = post(body, "application/x-www-form-urlencoded")
    assert reply.status == 303
    [location] = reply.header_list("location")
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    resolved = urlsplit(urljoin(f"{ORIGIN}/", location))
    assert (resolved.scheme, resolved.netloc) == ("https", HOST)
    assert len(reply.header_list("set-cookie")) == 1  # only ours: nothing injected


# --- who may post ----------------------------------------------------------------------------

CROSS_SITE = [
    [("sec-fetch-site", "cross-site")],
    [("sec-fetch-site", "same-site")],
    [("sec-fetch-site", "CROSS-SITE"), ("origin", ORIGIN)],
    [("origin", "https://evil.example")],
    [("origin", "null")],
    [("origin", "https://shop.example.evil.example")],
    [("origin", "https://evilshop.example")],
    [("origin", "https://shop.example@evil.example")],
    [("origin", "file://")],
    [("origin", "chrome-extension://abcdef")],
    [("origin", "https://shop.example:8443")],
    [("origin", ORIGIN), ("sec-fetch-site", "cross-site")],
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: ";".join(f"{k}={v}" for k, v in h))
@pytest.mark.parametrize("kind", ["json", "form"])
def test_cross_site_writes_are_refused_with_403_and_change_nothing(
    headers: list[tuple[str, str]], kind: str
) -> None:
    token = GATE.csrf.issue("CCCCCCCCCCCCCCCCCCCCCC")
    if kind == "json":
        body, content_type = json.dumps({"action": "accept_all", "csrf": token}).encode(), "application/json"
    else:
        body = urlencode({"action": "accept_all", "csrf": token}).encode()
        content_type = "application/x-www-form-urlencoded"
    before = len(SINK.events)
    reply = post(body, content_type, headers=headers)
    assert reply.status == 403
    check_outcome(reply, before)


def test_a_form_with_neither_origin_nor_fetch_metadata_needs_a_valid_token() -> None:
    before = len(SINK.events)
    reply = post(b"action=accept_all", "application/x-www-form-urlencoded", headers=[])
    assert reply.status == 403
    forged = GATE.csrf.issue("DDDDDDDDDDDDDDDDDDDDDD")[:-2] + "AA"
    reply = post(
        urlencode({"action": "accept_all", "csrf": forged}).encode(),
        "application/x-www-form-urlencoded",
        headers=[],
    )
    assert reply.status == 403
    check_outcome(reply, before)


def test_a_token_issued_to_another_visitor_cannot_change_this_visitors_choice() -> None:
    first = post(json.dumps({"action": "reject_all"}).encode(), "application/json")
    victim = cookie_header(first)
    attacker_token = GATE.csrf.issue("EEEEEEEEEEEEEEEEEEEEEE")
    body = urlencode({"action": "accept_all", "csrf": attacker_token}).encode()
    # From another site the browser says so (Origin, Sec-Fetch-Site): refused whatever the token.
    for headers in CROSS_SITE:
        before = len(SINK.events)
        reply = post(body, "application/x-www-form-urlencoded", headers=[*headers, victim])
        assert reply.status == 403
        check_outcome(reply, before)
    # A browser that says nothing of where the form was (no Fetch Metadata, no Origin): the
    # token must name the visitor's own id.
    before = len(SINK.events)
    reply = post(body, "application/x-www-form-urlencoded", headers=[victim])
    assert reply.status == 403
    check_outcome(reply, before)
    # Posted from one of this site's own pages (another tab opened before the first choice):
    # recorded under the visitor's own id, never the token's.
    before = len(SINK.events)
    reply = post(body, "application/x-www-form-urlencoded", headers=[*SAME_ORIGIN, victim])
    assert reply.status == 303
    check_outcome(reply, before)
    assert SINK.events[-1].consent_id != "EEEEEEEEEEEEEEEEEEEEEE"


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_other_methods_on_the_consent_endpoint_are_405_without_side_effects(method: str) -> None:
    before = len(SINK.events)
    reply = asyncio.run(
        call(
            GATE,
            CONSENT,
            method=method,
            query=b"action=accept_all",
            headers=[*SAME_ORIGIN, ("content-type", "application/json")],
            body=b'{"action": "accept_all"}',
        )
    )
    assert reply.status == 405
    assert reply.header("allow") == "POST"
    assert reply.header_list("set-cookie") == [] and len(SINK.events) == before


@pytest.mark.parametrize(
    "path", ["/_consentgate/state", "/_consentgate/preferences", "/_consentgate/receipt"]
)
def test_reading_endpoints_ignore_choice_parameters(path: str) -> None:
    before = len(SINK.events)
    reply = asyncio.run(call(GATE, path, query=b"action=accept_all&category=marketing"))
    assert reply.status in (200, 404)
    assert not [line for line in reply.header_list("set-cookie") if line.startswith(COOKIE)]
    assert len(SINK.events) == before
    post_reply = asyncio.run(
        call(GATE, path, method="POST", headers=list(SAME_ORIGIN), body=b"action=accept_all")
    )
    assert post_reply.status == 405 and len(SINK.events) == before
