"""Hostile "Load content" posts before any choice: whatever they carry, the stored record grants
exactly what they named and decides nothing else (the banner keeps asking); a cookie made to
say otherwise is no consent at all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.policy.load import load_dict
from tests.hostile.kit import CONSENT, SAME_ORIGIN, call, cookie_header, gate

POLICY = load_dict({})
OPTIONAL = sorted(c.id for c in POLICY.categories if c.id != "necessary")
SERVICE_IDS = ["youtube", "vimeo", "google-maps", "hotjar", "meta-pixel"]
GATE, SINK = gate(POLICY)
COOKIE = GATE.cookie.name(True) + "="

GRANTS = st.fixed_dictionaries(
    {
        "services": st.dictionaries(st.sampled_from(SERVICE_IDS), st.just(True), max_size=2),
        "categories": st.lists(st.sampled_from(OPTIONAL), max_size=1),
    }
)


def post(payload: dict[str, Any], cookie: tuple[str, str] | None) -> Any:
    headers = [*SAME_ORIGIN, ("content-type", "application/json")] + ([cookie] if cookie else [])
    return asyncio.run(call(GATE, CONSENT, method="POST", headers=headers, body=json.dumps(payload).encode()))


def page_state(cookie: tuple[str, str] | None) -> Any:
    headers = [("accept", "text/html"), *([cookie] if cookie else [])]
    return asyncio.run(call(GATE, "/", headers=headers))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loads=st.lists(GRANTS, min_size=1, max_size=3), flip=st.integers(0, 10_000))
def test_load_content_grants_only_what_it_names_and_decides_nothing(loads: list[Any], flip: int) -> None:
    cookie = None
    services: set[str] = set()
    categories: set[str] = set()
    for grant in loads:
        before = len(SINK.events)
        reply = post({"action": "save", "ui": "embed.save", **grant}, cookie)
        assert reply.status == 200, reply.body[:300]
        assert len(SINK.events) == before + 1
        cookie = cookie_header(reply)
        services |= set(grant["services"])
        categories |= set(grant["categories"])
        state = reply.json()["state"]
        assert state["exists"] is False  # still no choice: the banner keeps asking
        event = SINK.events[-1]
        assert event.detail.get("decision") == "pending"
        assert {c for c, on in event.categories.items() if on} == {"necessary"} | categories
        for service_id, on in event.services.items():
            category = POLICY.service_categories[service_id]
            assert on == (service_id in services or category in categories or category == "necessary")
    page = page_state(cookie)
    assert b"data-consentgate-banner" in page.body
    assert page.state()["exists"] is False
    # One character of the cookie changed: no consent at all, whatever it granted.
    assert cookie is not None
    name, _, value = cookie[1].partition("=")
    index = flip % len(value)
    forged = value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]
    state = page_state(("cookie", f"{name}={forged}")).state()
    assert not any(on for service, on in state["services"].items())
    assert not any(on for category, on in state["categories"].items() if category != "necessary")
