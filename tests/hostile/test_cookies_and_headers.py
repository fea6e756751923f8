"""Hostile cookies and request headers: parsers never crash, a cookie never grants more than
it was signed for, rotated-out keys and tampering mean "no consent", and headers the visitor
controls (Cookie, Host, Sec-GPC, region, Accept-Language) never reach a response header raw."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.consent.state import Consent
from consentgate.http.cookies import parse_cookie_date, parse_cookie_headers, parse_set_cookie
from consentgate.policy.load import load_dict
from tests.hostile.kit import GA, KEY, OLD_KEY, PIXEL, Reply, call, gate

HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = load_dict({})
GATE, SINK = gate(POLICY)
REGIONAL, _ = gate(POLICY, region_header="cloudflare", trusted_proxies=["*"])
SECURE_NAME = GATE.cookie.name(True)
PLAIN_NAME = GATE.cookie.name(False)


def page(headers: Any = (), *, app: Any = GATE, scheme: str = "https") -> Reply:
    reply = asyncio.run(call(app, "/", headers=[("accept", "text/html"), *headers], scheme=scheme))
    assert reply.status == 200
    return reply


def live_trackers(reply: Reply) -> list[str]:
    """Tracker URLs still in a loadable attribute (src=…), not parked in data-consentgate-src."""
    body = reply.body.decode()
    return [
        url for url in (GA, PIXEL) if f' src="{url.replace("&", "&amp;")}"' in body or f' src="{url}"' in body
    ]


def signed(consent_categories: set[str], *, keys: list[str] | None = None) -> str:
    """A consent cookie value as the middleware would sign it."""
    app = GATE if keys is None else gate(POLICY, keys=keys)[0]
    consent = Consent(
        consent_id="FFFFFFFFFFFFFFFFFFFFFF", service_categories=POLICY.service_categories
    ).with_choice(
        consent_categories | {"necessary"},
        source="banner",
        services=set(),
        denied_services=set(),
        lifetime_seconds=3600,
        fingerprint=POLICY.fingerprint(),
        region="",
    )
    return app.cookie.dumps(consent)


# --- parsers ---------------------------------------------------------------------------------


@HYPOTHESIS
@given(values=st.lists(st.binary(max_size=300), max_size=4))
def test_the_request_cookie_parser_takes_any_bytes(values: list[bytes]) -> None:
    cookies = parse_cookie_headers([(b"cookie", value) for value in values])
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cookies.items())
    assert all(";" not in k for k in cookies)


@HYPOTHESIS
@given(
    pairs=st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True),
            st.from_regex(r"[A-Za-z0-9]{0,12}", fullmatch=True),
        ),
        max_size=20,
    )
)
def test_the_first_occurrence_of_a_cookie_name_wins(pairs: list[tuple[str, str]]) -> None:
    header = "; ".join(f"{name}={value}" for name, value in pairs).encode()
    cookies = parse_cookie_headers([(b"cookie", header)])
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    assert cookies == first


@HYPOTHESIS
@given(text=st.text(max_size=300))
def test_the_set_cookie_parser_takes_any_text(text: str) -> None:
    parsed = parse_set_cookie(text)
    if parsed is not None:
        assert "\r" not in parsed.name + parsed.value and "\n" not in parsed.name + parsed.value
        parsed.is_deletion()


@HYPOTHESIS
@given(
    text=st.text(max_size=80)
    | st.from_regex(r"[A-Za-z]{3}, \d{1,2}[ -][A-Za-z]{3}[ -]\d{2,5} \d+:\d+:\d+ GMT")
)
def test_cookie_dates_of_any_shape_parse_or_are_ignored(text: str) -> None:
    result = parse_cookie_date(text)
    assert result is None or isinstance(result, float)


# --- hostile Cookie headers through the middleware -------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=600).filter(lambda b: not any(c in b for c in b"\r\n\x00")))
def test_any_cookie_header_gives_a_page_without_consent(value: bytes) -> None:
    reply = page([(b"cookie", value)])
    assert reply.state()["exists"] is False
    assert live_trackers(reply) == []


def test_a_hundred_cookies_and_4kb_ones_are_read_and_the_consent_among_them_honoured() -> None:
    consent = signed({"analytics", "marketing"})
    filler = [f"c{i}={'v' * 40}" for i in range(100)]
    big = [f"big{i}={'x' * 4096}" for i in range(8)]
    header = "; ".join([*filler[:50], f"{PLAIN_NAME}={consent}", *big, *filler[50:]])
    started = time.perf_counter()
    reply = page([("cookie", header)], scheme="http")
    assert time.perf_counter() - started < 2.0
    assert reply.state()["exists"] is True
    assert set(live_trackers(reply)) == {GA, PIXEL}


def test_a_400kb_cookie_header_is_survived_without_consent() -> None:
    header = "; ".join(f"k{i}={'y' * 4000}" for i in range(100))
    reply = page([("cookie", header)])
    assert reply.state()["exists"] is False


def test_an_oversized_consent_cookie_is_no_consent() -> None:
    reply = page([("cookie", f"{PLAIN_NAME}={'A' * 5000}")], scheme="http")
    assert reply.state()["exists"] is False and live_trackers(reply) == []


def test_a_cookie_signed_with_a_rotated_out_key_is_no_consent() -> None:
    old = signed({"analytics", "marketing"}, keys=[OLD_KEY])
    reply = page([("cookie", f"{PLAIN_NAME}={old}")], scheme="http")
    assert reply.state()["exists"] is False
    assert live_trackers(reply) == []
    # While the old key is still listed (the rotation window), the same cookie stands.
    rotating, _ = gate(POLICY, keys=[KEY, OLD_KEY])
    assert page([("cookie", f"{PLAIN_NAME}={old}")], app=rotating, scheme="http").state()["exists"] is True


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_tampered_cookie_is_no_consent(data: st.DataObject) -> None:
    value = signed({"analytics"})
    index = data.draw(st.integers(0, len(value) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.").filter(
            lambda c: c != value[index]
        )
    )
    tampered = value[:index] + replacement + value[index + 1 :]
    reply = page([("cookie", f"{PLAIN_NAME}={tampered}")], scheme="http")
    state = reply.state()
    # A flipped bit may survive only where base64 padding bits are ignored: then it must be the
    # very same consent, never a different one.
    if state["exists"]:
        assert {c for c, on in state["categories"].items() if on} == {"necessary", "analytics"}
    else:
        assert live_trackers(reply) == []


def test_another_visitors_cookie_gives_their_consent_and_nothing_more() -> None:
    theirs = signed({"analytics"})
    reply = page([("cookie", f"{PLAIN_NAME}={theirs}")], scheme="http")
    assert {c for c, on in reply.state()["categories"].items() if on} == {"necessary", "analytics"}
    assert live_trackers(reply) == [GA]  # analytics runs; the marketing pixel does not
    # It cannot be used to record a choice for another id with a foreign token either.
    token = GATE.csrf.issue("GGGGGGGGGGGGGGGGGGGGGG")
    before = len(SINK.events)
    refused = asyncio.run(
        call(
            GATE,
            "/_consentgate/consent",
            method="POST",
            scheme="http",
            headers=[  # (a browser that sends no Fetch Metadata and no Origin)
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", f"{PLAIN_NAME}={theirs}"),
            ],
            body=f"action=accept_all&csrf={token}".encode(),
        )
    )
    assert refused.status == 403 and len(SINK.events) == before


def test_over_https_only_the_host_prefixed_cookie_counts() -> None:
    tossed = signed({"analytics", "marketing"})
    reply = page([("cookie", f"{PLAIN_NAME}={tossed}")], scheme="https")
    assert reply.state()["exists"] is False


def test_request_cookie_names_with_control_bytes_never_reach_set_cookie() -> None:
    # (A lenient server, or an obs-folded header, can pass CR/LF; the kit fails on any in a header.)
    reply = page([(b"cookie", b"_ga=1; _ga_X\r\nSet-Cookie: injected=1=1; _fbp x=1")])
    assert {line.split("=")[0] for line in reply.header_list("set-cookie")} == {"_ga"}


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("www.shop.example; Secure", id="attribute"),
        pytest.param("www.shop.example, Domain=evil.example", id="second-domain"),
        pytest.param("www.shop.example\r\nSet-Cookie: a=1", id="crlf"),
    ],
)
def test_the_host_header_cannot_inject_cookie_attributes(host: str) -> None:
    reply = page([("host", host), ("cookie", "_ga=GA1.1")], scheme="http")
    lines = reply.header_list("set-cookie")
    assert lines  # the blocked cookie is still expired, host-only
    for line in lines:
        assert "secure" not in line.lower()
        assert line.lower().count("domain=") == 0


def test_a_valid_host_with_a_blocked_cookie_gets_well_formed_deletions() -> None:
    reply = page([("host", "www.shop.example"), ("cookie", "_ga=GA1.1; session=keep")])
    lines = reply.header_list("set-cookie")
    assert lines and all(line.startswith("_ga=; Max-Age=0") for line in lines)
    assert {
        part.strip() for line in lines for part in line.split(";") if part.strip().startswith("Domain=")
    } == {
        "Domain=www.shop.example",
        "Domain=shop.example",
    }


# --- other headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "gpc"),
    [
        (["1"], True),
        ([" 1 "], True),
        (["0"], False),
        (["true"], False),
        (["1, 1"], False),
        (["0", "1"], True),
        (["\x7f"], False),
        (["1" * 10000], False),
    ],
)
def test_sec_gpc_counts_only_when_exactly_1(values: list[str], gpc: bool) -> None:
    reply = page([("sec-gpc", value) for value in values])
    assert reply.state()["gpc"] is gpc
    assert live_trackers(reply) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    country=st.binary(max_size=64).filter(lambda b: not any(c in b for c in b"\r\n\x00")),
    gpc=st.binary(max_size=8).filter(lambda b: not any(c in b for c in b"\r\n\x00")),
    language=st.binary(max_size=200).filter(lambda b: not any(c in b for c in b"\r\n\x00")),
)
def test_region_gpc_and_language_headers_of_any_shape_give_a_page(
    country: bytes, gpc: bytes, language: bytes
) -> None:
    reply = page(
        [(b"cf-ipcountry", country), (b"sec-gpc", gpc), (b"accept-language", language)], app=REGIONAL
    )
    state = reply.state()
    assert (len(state["region"]) <= 6 and state["region"].replace("-", "").isalnum()) or state["region"] == ""
    assert state["locale"].replace("-", "").isalpha()
    for name, value in reply.headers:
        assert value.isascii(), (name, value)


def test_accept_language_with_thousands_of_entries_is_cheap() -> None:
    header = ", ".join(f"x{i % 26:c}{i};q=0.{i % 10}" for i in range(5000)) + ", de;q=0.1"
    started = time.perf_counter()
    reply = page([("accept-language", header)])
    assert time.perf_counter() - started < 1.0
    assert reply.state()["locale"] in ("de", "en")


def test_a_thousand_headers_are_fine() -> None:
    reply = page([(f"x-h{i}", "v" * 50) for i in range(1000)])
    assert reply.state()["exists"] is False


async def _public_page(scope: Any, receive: Any, send: Any) -> None:
    from starlette.responses import HTMLResponse

    response = HTMLResponse("<html><head></head><body>cached</body></html>")
    response.headers["cache-control"] = "public, max-age=3600, s-maxage=3600"
    await response(scope, receive, send)


def test_a_page_carrying_one_visitors_token_is_never_stored_by_a_shared_cache() -> None:
    app, _ = gate(POLICY, app=_public_page)
    first, second = page(app=app), page(app=app)
    assert first.state()["csrf"] != second.state()["csrf"]  # per-visitor content
    cache_control = {part.strip().split("=")[0] for part in (first.header("cache-control") or "").split(",")}
    assert "private" in cache_control or "no-store" in cache_control
    assert "public" not in cache_control and "s-maxage" not in cache_control
    assert "cookie" in (first.header("vary") or "").lower()
