"""Inline scripts that only hand data to a framework (Next.js' streamed React payload, a JSON
state assigned to a global) stay whole, whatever vendor URLs the data names: holding them back
breaks hydration, and they load nothing themselves. A script that does anything else is judged
as before, streamed or not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.carrier import DataCarrier, is_data_carrier
from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict

from .kit import deny_all, granting, live_scripts, run

CATALOG = Rules.compile(load_dict({}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><main>post</main>%s</body></html>"

# What the frameworks write (shapes from their output), each naming a vendor in its data.
DATA = {
    "next-flight-embed": b'self.__next_f.push([1,"5:[\\"$\\",\\"iframe\\",null,{\\"src\\":'
    b'\\"https://www.youtube.com/embed/dQw4w9WgXcQ\\",\\"allowFullScreen\\":true}]\\n"])',
    "next-flight-start": b"(self.__next_f=self.__next_f||[]).push([0]);self.__next_f.push([2,null])",
    "remix": b'window.__remixContext = {"url":"/blog/x","state":{"loaderData":{"html":'
    b'"<iframe src=\\"https://player.vimeo.com/video/76979871\\"></iframe>"}}};',
    "redux-json-parse": b'window.__PRELOADED_STATE__ = JSON.parse(\'{"page":{"html":'
    b'"\\\\u003ciframe src=\\\\"https://www.youtube.com/embed/abc\\\\"\\\\u003e"}}\')',
    "var-state": b'var __INITIAL_STATE__ = {"ads": {"pixel": "https://www.facebook.com/tr?id=1"}, "n": -1.5e3};',
}
# Data that holds a script (its URL or its code): the framework inserts and runs it itself
# (next/script, React Helmet's head tags), so it waits for consent like that script.
SCRIPT_DATA = {
    "next-flight-gtag-props": b'self.__next_f.push([1,"6:[\\"$\\",\\"$L7\\",null,{\\"src\\":'
    b'\\"https://www.googletagmanager.com/gtag/js?id=G-ABC\\",\\"strategy\\":\\"afterInteractive\\"}]\\n'
    b'8:[\\"$\\",\\"$L7\\",null,{\\"id\\":\\"fb\\",\\"children\\":\\"fbq(\'init\', \'1\')\\"}]\\n"])',
    "helmet-state": b'window.__APOLLO_STATE__ = {"head": "<script>(function(w,d,s,l,i){w[l].push('
    b"{'gtm.start':new Date().getTime(),event:'gtm.js'})})(window,document,'script','dataLayer','GTM-X')"
    b'</script>"};',
    "pixel-url-outside-markup": b'window.__CONFIG__ = {"pixel": "https://connect.facebook.net/en_US/fbevents.js"};',
}
# Code, even when it starts or ends like data.
CODE = {
    "gtm": b"(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});"
    b"var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;"
    b"j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);"
    b"})(window,document,'script','dataLayer','GTM-X');",
    "state-then-pixel": b'window.__STATE__ = {"a": 1};fbq("init", "1");',
    "object-literal": b'window.__NUXT__={src:"https://www.youtube.com/embed/x"};',
    "next-script-loader": b'(self.__next_s=self.__next_s||[]).push(["https://www.googletagmanager.com/gtag/js?id=G-1",{}])',
}


@pytest.mark.parametrize("name", sorted(DATA))
def test_framework_data_naming_vendors_is_left_whole(name: str) -> None:
    assert is_data_carrier(DATA[name])
    page = PAGE % (b"<script>" + DATA[name] + b"</script>")
    assert run(page, deny_all, rules=CATALOG) == page


@pytest.mark.parametrize(
    "script",
    [
        # assignments that do something: navigate
        b'window.location = "https://www.facebook.com/tr?id=1";',
        b'var location = "https://www.facebook.com/tr?id=1";',
        b'self.name = "x"; window.__x = 1',
        # calls, template literals, unfinished strings
        b'window.__x = JSON.parse("{}", function(){})',
        b"window.__x = `${fetch('https://www.facebook.com/tr')}`",
        b'window.__x = "unfinished',
        b'window.__x = {"a": 1}; window.__y = loadPixel()',
    ],
)
def test_scripts_that_do_more_than_hand_over_data_are_not_data(script: bytes) -> None:
    assert not is_data_carrier(script)


@pytest.mark.parametrize("name", sorted(SCRIPT_DATA))
def test_framework_data_that_holds_a_script_waits_for_consent(name: str) -> None:
    assert is_data_carrier(SCRIPT_DATA[name])
    page = PAGE % (b"<script>" + SCRIPT_DATA[name] + b"</script>")
    out = run(page, deny_all, rules=CATALOG)
    assert live_scripts(out) == [], out
    assert run(page, granting("analytics", "marketing"), rules=CATALOG) == page


@pytest.mark.parametrize("name", sorted(CODE))
def test_code_that_names_a_vendor_is_still_held_back(name: str) -> None:
    assert not is_data_carrier(CODE[name])
    page = PAGE % (b"<script>" + CODE[name] + b"</script>")
    out = run(page, deny_all, rules=CATALOG)
    assert live_scripts(out) == [], out


def long_script(prefix: bytes, filler: int, middle: bytes, suffix: bytes) -> bytes:
    # A string of ~filler bytes in the data, so the script outgrows the 64 KiB buffer.
    return prefix + b"x" * filler + middle + suffix


@pytest.mark.parametrize("where", ["early", "late"])
def test_a_long_streamed_payload_stays_whole_wherever_the_vendor_is_named(where: str) -> None:
    embed = b'<iframe src=\\"https://www.youtube.com/embed/abc\\"></iframe>'
    if where == "early":
        body = b'self.__next_f.push([1,"' + embed + b"x" * 150_000 + b'"])'
    else:
        body = b'self.__next_f.push([1,"' + b"x" * 150_000 + embed + b'"])'
    page = PAGE % (b"<script>" + body + b"</script>")
    for chunks in (None, [4096], [65536], [1, 7, 65521]):
        assert run(page, deny_all, rules=CATALOG, chunks=chunks) == page


@pytest.mark.parametrize("where", ["early", "late"])
def test_a_long_payload_that_holds_a_script_is_held_or_broken(where: str) -> None:
    # (as frameworks write it inside a script: `<` escaped, so no `</script>` ends it early)
    script = b'\\u003cscript async src=\\"https://www.googletagmanager.com/gtag/js?id=G-1\\"\\u003e\\u003c/script\\u003e'
    if where == "early":
        body = b'window.__STATE__ = {"head": "' + script + b"x" * 150_000 + b'"};'
    else:
        body = b'window.__STATE__ = {"head": "' + b"x" * 150_000 + script + b'"};'
    assert is_data_carrier(body)
    page = PAGE % (b"<script>" + body + b"</script>")
    for chunks in (None, [4096], [1, 7, 65521]):
        out = run(page, deny_all, rules=CATALOG, chunks=chunks)
        assert b'type="text/plain"' in out or body + b"\n}</script>" in out


@pytest.mark.parametrize("where", ["early", "late"])
def test_a_long_script_that_starts_as_data_and_then_runs_a_tracker_is_broken(where: str) -> None:
    state = b'window.__STATE__ = {"html": "' + b"x" * 150_000 + b'"};'
    if where == "early":
        body = b'window.__A = {"u": "https://www.youtube.com/embed/abc"};' + state + b"fbq('init','1');"
    else:
        body = state + b"fbq('init','1');"
    page = PAGE % (b"<script>" + body + b"</script>")
    for chunks in (None, [4096], [1, 7, 65521]):
        out = run(page, deny_all, rules=CATALOG, chunks=chunks)
        assert out != page
        # Either held back at its start or made a syntax error at its end: it never runs.
        assert b'type="text/plain"' in out or body + b"\n}</script>" in out


_TOKENS = st.sampled_from(
    [b'"a\\"b"', b"'c'", b"1", b"-2.5e3", b"true", b"null", b"{", b"}", b"[", b"]", b",", b":", b";", b" "]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_TOKENS, max_size=40).map(b"".join),
    st.lists(st.integers(min_value=1, max_value=9), max_size=12),
)
def test_the_verdict_does_not_depend_on_how_the_script_is_cut(tokens: bytes, cuts: list[int]) -> None:
    for script in (b"window.__x = " + tokens, tokens + b"fbq(", b"self.__next_f.push([1," + tokens + b"])"):
        whole = is_data_carrier(script)
        carrier, pos = DataCarrier(), 0
        for size in cuts:
            carrier.feed(script[pos : pos + size])
            pos += size
        assert carrier.feed(script[pos:], final=True) == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(is_data_carrier(data), bool)


def _token_by_token(script: bytes) -> bool:
    """The data check as it was first written, a code run or a string a step: the oracle for
    the one-regex walk (consentgate.html.carrier._DATA), on whole scripts."""
    import re

    from consentgate.html import carrier

    code = re.compile(rb"(?:" + carrier._CODE_TOKEN + rb")*+")
    i, n = 0, len(script)
    while i < n:
        j = code.match(script, i).end()  # type: ignore[union-attr]
        if j == n:
            return True
        if script[j] not in (0x22, 0x27):
            return False
        body = carrier._BODY[script[j]].match(script, j + 1).end()  # type: ignore[union-attr]
        if body == n or script[body] != script[j]:
            return False  # an unclosed string, or a backslash at the end
        i = body + 1
    return True


_MORE_TOKENS = st.sampled_from(
    [
        b'"a\\"b"', b"'c'", b'"x', b"'", b"\\", b'"\\\\"', b"1", b"-2.5e3", b"2.", b".5", b"-", b"e3",
        b"true", b"tru", b"null", b"{", b"}", b"[", b"]", b",", b":", b";", b" ", b"\n", b")",
        b"window._x =", b"self.__next_f.push(", b"JSON.parse(", b"fbq(", b"x", b"=",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_MORE_TOKENS, max_size=30).map(b"".join))
def test_the_one_regex_walk_judges_as_the_token_by_token_walk(script: bytes) -> None:
    assert is_data_carrier(script) == _token_by_token(script)
