"""``Link`` headers that preload or preconnect a tracker are dropped until its service is
granted, like ``<link rel=preload>`` in the markup; everything else in the header stays."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from consentgate.audit.events import MemorySink
from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.state import Consent
from consentgate.http.links import filter_link_headers, link_target, link_values, rels
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict

KEY = "k" * 32
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
POLICY = load_dict(
    {"version": "1", "services": {"stats": {"category": "analytics", "hosts": ["stats.example"]}}}
)
LINKS = (
    '</static/app.css>; rel=preload; as=style, <https://stats.example/a.js>; rel="preload"; as=script, '
    "<https://connect.facebook.net/en_US/fbevents.js>; rel=preload; as=script, "
    "<https://fonts.example.net>; rel=preconnect, <https://stats.example/about>; rel=author"
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/html"), (b"link", LINKS.encode()), (b"link", b"</next>; rel=next")]
    body = b"<html><head></head><body>hi</body></html>"
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def get(cookie: str | None = None, accept: str = "text/html") -> httpx.Response:
    gate = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=MemorySink())
    headers = {"user-agent": BROWSER, "accept": accept}
    if cookie:
        headers["cookie"] = f"consentgate={cookie}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gate), base_url="http://shop.test"
    ) as http:
        return await http.get("/", headers=headers)


def granted(*categories: str) -> str:
    consent = Consent.none(POLICY.service_categories).with_choice(
        set(categories), source="banner", fingerprint=POLICY.fingerprint()
    )
    return ConsentCookie([KEY], POLICY).dumps(consent)


async def test_without_consent_tracker_preloads_go_and_the_rest_stays() -> None:
    response = await get()
    links = response.headers.get_list("link")
    assert links == [
        "</static/app.css>; rel=preload; as=style, <https://fonts.example.net>; rel=preconnect, "
        "<https://stats.example/about>; rel=author",
        "</next>; rel=next",
    ]


async def test_granting_a_category_restores_exactly_its_preloads() -> None:
    response = await get(granted("analytics"))
    first = response.headers.get_list("link")[0]
    assert "<https://stats.example/a.js>" in first and "facebook" not in first
    everything = await get(granted("analytics", "marketing", "preferences"))
    assert everything.headers.get_list("link")[0] == LINKS


def test_commas_and_semicolons_inside_targets_and_quotes_do_not_split() -> None:
    value = b'<https://a.example/x,y;z>; rel="preload next"; title="a, b; c", <https://b.example/>; rel=preconnect'
    parts = link_values(value)
    assert len(parts) == 2
    assert link_target(parts[0]) == b"https://a.example/x,y;z"
    assert rels(parts[0]) == {"preload", "next"}
    assert rels(parts[1]) == {"preconnect"}


_targets = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="<>"), max_size=20
)
_params = st.lists(
    st.tuples(st.sampled_from(["rel", "as", "title", "crossorigin"]), st.text(max_size=12)), max_size=3
)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(st.lists(st.tuples(_targets, _params), min_size=1, max_size=5))
def test_parsing_recovers_every_link_value_we_compose(links: list[tuple[str, list[tuple[str, str]]]]) -> None:
    values = [
        "<" + target + ">" + "".join(f"; {k}={_quoted(v)}" for k, v in params) for target, params in links
    ]
    encoded = [v.encode("latin-1", "replace") for v in values]
    parsed = link_values(b", ".join(encoded))
    assert parsed == [v.strip(b" \t") for v in encoded]
    for (target, _), one in zip(links, parsed, strict=True):
        assert link_target(one) == target.encode().strip(b" \t")


@given(st.binary(max_size=200))
def test_any_header_bytes_are_survived_and_keeping_everything_changes_nothing(value: bytes) -> None:
    headers = [(b"link", value), (b"x-other", b"1")]
    out, dropped = filter_link_headers(headers, lambda url: True)
    assert dropped == 0 and out == headers
    out, dropped = filter_link_headers(headers, lambda url: False)
    assert (b"x-other", b"1") in out and dropped >= 0
