"""Strings that reach an injected snippet or page — policy labels, descriptions, service names,
notice texts, the controller, the ``lang`` and ``next`` query values, the page's own URL — can
carry ``</script>``, ``<!--`` and attribute breakers. Parsed the way a browser parses the page,
nothing of theirs may become markup: the scripts are exactly ours, no element gains an event
handler, and the STATE JSON still parses and says what the policy says."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import html5lib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.policy.load import load_dict
from tests.hostile.kit import CONSENT, SAME_ORIGIN, Reply, call, cookie_header, gate

PAYLOADS = [
    "</script><script>alert(1)</script>",
    "<!--<script>alert(2)//",
    '"><img src=x onerror=alert(3)>',
    "'><svg onload=alert(4)>",
    "</style></title></textarea><script>alert(5)</script>",
    "]]><script>alert(6)</script>",
    "\u2028\u2029</SCRIPT\t><script>alert(7)</script>",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "javascript:alert(8)",
]
MARK = "zq-injected"  # every payload is tagged so leftovers are easy to find


def hostile_policy(payload: str) -> dict[str, Any]:
    text = f"{MARK} {payload}"
    url_text = "".join(ch for ch in text if ord(ch) >= 0x20)  # control characters are refused (tested below)
    return {
        "categories": {
            "analytics": {"label": {"en": text}, "description": {"en": text}},
            "marketing": {"description": text},
            "extra": {"label": text, "description": text},
        },
        "services": {
            "tracker": {
                "name": text,
                "category": "extra",
                "provider": text,
                "description": text,
                "hosts": ["tracker.example"],
                "privacy_url": "/privacy?s=" + url_text,
                "purposes": [text],
                "cookies": [{"name": "_trk", "lifetime": "1 day", "description": text}],
            }
        },
        "controller": {
            "name": text,
            "address": text,
            "contact": text,
            "privacy_url": "/privacy?c=" + url_text,
        },
        "notice": {"en": {"banner_title": text, "banner_text": text, "placeholder_text": text}},
    }


PAGE = (
    "<!doctype html><html><head><title>t</title></head><body>"
    '<iframe src="https://tracker.example/embed"></iframe>'
    '<script src="https://tracker.example/t.js"></script></body></html>'
)


async def tracker_page(scope: Any, receive: Any, send: Any) -> None:
    from starlette.responses import HTMLResponse, JSONResponse

    response = JSONResponse({}) if scope["path"].startswith("/api") else HTMLResponse(PAGE)
    await response(scope, receive, send)


def elements(page: bytes) -> list[Any]:
    tree = html5lib.parse(page, namespaceHTMLElements=False, scripting=True)
    return list(tree.iter())


def assert_inert(page: bytes, *, our_scripts: int) -> None:
    """No script, handler or javascript: URL of the attacker's made it into the parsed page."""
    found = elements(page)
    scripts = [el for el in found if el.tag == "script"]
    live = [
        el
        for el in scripts
        if (el.get("type") or "").lower() not in ("application/json", "text/plain")
        and "tracker.example" not in (el.get("data-consentgate-src") or "")
    ]
    assert len(live) <= our_scripts, [(el.attrib, (el.text or "")[:80]) for el in live]
    for el in live:
        assert MARK not in (el.text or "") and "alert(" not in (el.text or "")
    for el in found:
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name, value)
            if name.lower() in ("href", "src", "action", "formaction", "data"):
                assert not value.strip().lower().startswith(("javascript:", "data:")), (el.tag, name, value)
        assert el.tag not in ("svg", "img") or MARK not in json.dumps(dict(el.attrib)), el.attrib
    for el in scripts:
        if el.get("id") == "consentgate-state":
            json.loads(el.text or "")  # still one JSON document


def get(app: Any, path: str = "/", query: bytes = b"", headers: Any = ()) -> Reply:
    return asyncio.run(call(app, path, query=query, headers=[("accept", "text/html"), *headers]))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_policy_strings_cannot_break_out_of_the_banner_state_or_placeholders(payload: str) -> None:
    app, _ = gate(load_dict(hostile_policy(payload)), app=tracker_page)
    reply = get(app)
    assert reply.status == 200
    assert_inert(reply.body, our_scripts=1)  # the runtime script only
    state = reply.state()
    assert state["prefix"] == "/_consentgate" and state["exists"] is False


@pytest.mark.parametrize("payload", PAYLOADS)
def test_policy_strings_cannot_break_out_of_the_preference_centre(payload: str) -> None:
    app, _ = gate(load_dict(hostile_policy(payload)), app=tracker_page)
    get(app)  # meets the tracker, so the preference centre lists it
    reply = get(app, "/_consentgate/preferences")
    assert reply.status == 200
    assert_inert(reply.body, our_scripts=1)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_lang_next_and_the_page_url_cannot_break_out(payload: str) -> None:
    app, _ = gate(load_dict(hostile_policy("plain")), app=tracker_page)
    value = quote(f"{MARK}{payload}").encode()
    for path, query in (
        ("/_consentgate/preferences", b"lang=" + value + b"&next=" + value),
        ("/_consentgate/preferences", b"next=/" + value),
        ("/page", b"q=" + value),
        ("/" + quote(payload, safe="/<>\"'"), b""),
    ):
        reply = get(app, path, query=query)
        assert reply.status == 200, (path, query)
        assert_inert(reply.body, our_scripts=1)
        assert reply.header("content-language") in (None, "en")


def test_a_saved_choice_page_stays_inert_with_hostile_policy_strings() -> None:
    app, _ = gate(load_dict(hostile_policy(PAYLOADS[0])), app=tracker_page)
    first = asyncio.run(
        call(
            app,
            CONSENT,
            method="POST",
            headers=[*SAME_ORIGIN, ("content-type", "application/json")],
            body=b'{"action": "save", "categories": ["extra"]}',
        )
    )
    assert first.status == 200
    reply = get(app, headers=[cookie_header(first)])
    assert_inert(reply.body, our_scripts=2)  # the runtime, and the tracker now allowed
    assert reply.state()["categories"]["extra"] is True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60)
)
def test_any_category_label_round_trips_through_the_state_json(text: str) -> None:
    app, _ = gate(
        load_dict({"categories": {"extra": {"label": text, "description": text}}}), app=tracker_page
    )
    reply = get(app)
    assert reply.status == 200
    state = reply.state()
    assert "extra" in state["categories"]
    scripts = [
        el for el in elements(reply.body) if el.tag == "script" and el.get("id") == "consentgate-state"
    ]
    assert len(scripts) == 1


@pytest.mark.parametrize("key", ["controller.privacy_url", "services.tracker.privacy_url"])
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "vbscript:x"]
)
def test_script_urls_in_the_policy_are_refused_at_start_up_naming_the_key(key: str, url: str) -> None:
    data = hostile_policy("x")
    table = data["controller"] if key.startswith("controller") else data["services"]["tracker"]
    table["privacy_url"] = url
    with pytest.raises(ValueError) as refused:
        gate(load_dict(data), app=tracker_page)
    assert key in str(refused.value)
