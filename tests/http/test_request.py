"""One request as the middleware reads it: headers, host, the scope handed to the app."""

from __future__ import annotations

from typing import Any

import pytest

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.http.request import PageContext, Request, render_context
from consentgate.policy.load import load_dict
from tests.http.http_harness import scope

POLICY = load_dict({})


async def app(scope: Any, receive: Any, send: Any) -> None:  # never called here
    raise AssertionError


def gate(**options: Any) -> ConsentGate:
    return ConsentGate(app, secret_keys=["k" * 32], policy=POLICY, audit=MemorySink(), **options)


def request(*headers: tuple[str, str], **options: Any) -> Request:
    return Request(gate(), scope(headers=headers, **options))


@pytest.mark.parametrize(
    ("host", "expected"),
    [("www.example.com:8443", "www.example.com"), ("[::1]:8000", "[::1]"), ("example.com", "example.com")],
)
def test_the_host_loses_its_port(host: str, expected: str) -> None:
    assert request(("host", host)).host == expected


def test_without_a_host_header_the_server_name_is_used() -> None:
    server_scope = scope()
    server_scope["headers"] = [(k, v) for k, v in server_scope["headers"] if k != b"host"]
    assert Request(gate(), server_scope).host == "testserver"


def test_a_page_navigation_gets_no_conditional_or_range_headers() -> None:
    headers = [
        ("accept", "text/html"),
        ("if-modified-since", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("range", "bytes=0-10"),
        ("if-range", '"x"'),
        ("accept-encoding", "gzip"),
    ]
    child = request(*headers).app_scope()
    assert [name for name, _ in child["headers"]] == [b"host", b"accept", b"accept-encoding", b"user-agent"]


def test_an_api_request_keeps_its_headers_and_extensions() -> None:
    extensions = {"http.response.pathsend": {}}
    api = Request(gate(), scope("/api", headers=[("accept", "application/json")], extensions=extensions))
    child = api.app_scope()
    assert child["headers"] is api.scope["headers"]
    assert child["extensions"] is extensions


def test_gpc_needs_exactly_one_and_dnt_its_grammar() -> None:
    assert request(("sec-gpc", " 1 ")).gpc
    assert not request(("sec-gpc", "true")).gpc
    assert request(("sec-gpc", "0"), ("sec-gpc", "1")).gpc
    assert request(("dnt", "1")).dnt and not request(("dnt", "0")).dnt


def test_the_locale_follows_accept_language_or_an_override() -> None:
    german = request(("accept-language", "de-DE,de;q=0.9"))
    assert german.locale() == "de"
    assert german.locale("fr") == "fr"


def test_next_url_keeps_the_query() -> None:
    assert Request(gate(), scope("/shop", query=b"a=1")).next_url() == "/shop?a=1"


def test_an_extra_head_hook_sees_the_decision_and_its_output_reaches_the_context() -> None:
    seen: list[PageContext] = []

    def hook(context: PageContext) -> str:
        seen.append(context)
        return "<meta name=x>"

    middleware = gate(extra_head=hook)
    page = Request(middleware, scope())
    ctx = render_context(middleware, page, nonce="n0nce123")
    assert ctx.extra_head == "<meta name=x>"
    assert seen[0].decision.mode == "opt_in" and seen[0].nonce == "n0nce123" and seen[0].locale == "en"


def test_a_first_visit_page_token_carries_a_fresh_consent_id_each_time() -> None:
    middleware = gate()
    page = Request(middleware, scope())
    first = render_context(middleware, page).csrf_token
    second = render_context(middleware, page).csrf_token
    assert middleware.csrf.verify(first) != middleware.csrf.verify(second)
    assert page.consent.consent_id == ""  # the shared no-choice value is never given an id


def test_the_variant_tag_is_stable_and_names_the_consent_state() -> None:
    middleware = gate()
    one = Request(middleware, scope()).etag_suffix()
    assert one == Request(middleware, scope()).etag_suffix()
    assert one != Request(middleware, scope(headers=[("accept-language", "de")])).etag_suffix()
    assert len(one) == 10
