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
        ("if-range", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("accept-encoding", "gzip"),
    ]
    child = request(*headers).app_scope()
    assert [name for name, _ in child["headers"]] == [b"host", b"accept", b"accept-encoding", b"user-agent"]


def test_a_download_resumed_with_a_strong_if_range_keeps_its_range() -> None:
    # We only ever send weak tags for pages we rewrite: a strong one names bytes passed on as
    # they were (an attachment), so the part the browser saved fits the range.
    headers = [("accept", "text/html"), ("range", "bytes=100-"), ("if-range", '"abc"')]
    child = request(*headers).app_scope()
    assert (b"range", b"bytes=100-") in child["headers"] and (b"if-range", b'"abc"') in child["headers"]
    weak = request(("accept", "text/html"), ("range", "bytes=100-"), ("if-range", 'W/"abc-cgs1"')).app_scope()
    assert not any(name in (b"range", b"if-range") for name, _ in weak["headers"])


BROTLI = ("accept-encoding", "gzip, deflate, br, zstd")


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", [("accept", "*/*"), ("sec-fetch-dest", "empty")]),  # fetch()
        ("GET", [("accept", "*/*"), ("hx-request", "true")]),  # htmx
        ("GET", []),  # no Accept at all
        ("POST", [("accept", "text/html"), ("sec-fetch-dest", "document")]),  # a form posted
        ("PATCH", [("accept", "*/*")]),
    ],
)
def test_a_request_whose_answer_may_be_html_never_asks_for_brotli_or_zstd(
    method: str, headers: list[tuple[str, str]]
) -> None:
    child = Request(gate(), scope("/fragment", method=method, headers=[*headers, BROTLI])).app_scope()
    assert dict(child["headers"])[b"accept-encoding"] == b"gzip, deflate"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/items", [("accept", "application/json")]),
        ("/api/items", [("accept", "application/json, text/html;q=0")]),
        ("/logo", [("accept", "image/avif,image/webp,*/*;q=0.8"), ("sec-fetch-dest", "image")]),
        ("/app", [("accept", "*/*"), ("sec-fetch-dest", "script")]),
        ("/static/app.3f2a.js", [("accept", "*/*")]),
        ("/media/film.mp4", [("accept", "*/*"), ("range", "bytes=0-")]),
    ],
)
def test_a_request_that_cannot_get_a_page_keeps_its_headers(
    path: str, headers: list[tuple[str, str]]
) -> None:
    asked = Request(gate(), scope(path, headers=[*headers, BROTLI]))
    assert asked.app_scope()["headers"] is asked.scope["headers"]


def test_a_script_fetch_keeps_its_range_and_conditionals() -> None:
    # A page's fetch() of a byte range may be a video segment or a PDF: kept, and should the
    # answer be a 206 of an HTML page, the responder refuses it (test_responder).
    headers = [("accept", "*/*"), ("range", "bytes=0-99"), ("if-modified-since", "x"), BROTLI]
    child = Request(gate(), scope("/report", headers=headers)).app_scope()
    names = [name for name, _ in child["headers"]]
    assert b"range" in names and b"if-modified-since" in names


def test_another_methods_conditional_headers_reach_the_app_untouched() -> None:
    # If-None-Match: * on a PUT means "create only": never ours to translate or drop.
    headers = [("accept", "text/html"), ("if-none-match", "*"), ("if-match", '"v1"'), BROTLI]
    child = Request(gate(), scope("/doc", method="PUT", headers=headers)).app_scope()
    assert (b"if-none-match", b"*") in child["headers"] and (b"if-match", b'"v1"') in child["headers"]


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


def test_next_url_is_under_the_mount_point_even_when_the_server_gives_the_path_below_it() -> None:
    mounted = scope("/item", root_path="/shop")
    assert Request(gate(), mounted).next_url() == "/shop/item"
    below = {**mounted, "path": "/item", "raw_path": b"/item"}  # FastAPI(root_path=...) behind a proxy
    assert Request(gate(), below).next_url() == "/shop/item"


def test_next_url_of_a_page_answering_a_form_is_the_page_the_form_was_on() -> None:
    # The URL a form posts to may answer only POST: after a choice, the visitor goes back to
    # the form's page, when the Referer names one of this site's.
    posted = [("referer", "http://testserver/contact?x=1")]
    assert Request(gate(), scope("/contact/send", method="POST", headers=posted)).next_url() == "/contact?x=1"
    elsewhere = [("referer", "https://evil.example/contact")]
    assert (
        Request(gate(), scope("/contact/send", method="POST", headers=elsewhere)).next_url()
        == "/contact/send"
    )
    assert Request(gate(), scope("/contact/send", method="POST")).next_url() == "/contact/send"


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
