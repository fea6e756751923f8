from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.tokenizer import (
    CDATA_NAME,
    END,
    START,
    Event,
    Tokenizer,
    attr_map,
    parse_attrs,
    self_closing,
)

WATCHED = frozenset({"script", "img", "iframe"})


def events(
    data: bytes, chunk: int | None = None, *, names: frozenset[str] | None = WATCHED, max_buffer: int = 65536
) -> list[tuple[int, str, int, int]]:
    tokenizer = Tokenizer(names, names, max_buffer=max_buffer)
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    found: list[Event] = []
    for piece in pieces:
        found += tokenizer.feed(piece)
        tokenizer.release(tokenizer.safe)
    found += tokenizer.feed(b"", final=True)
    return [(e.kind, e.name, e.start, e.end) for e in found if e.kind in (START, END)]


def starts(data: bytes, **options: object) -> list[str]:
    return [name for kind, name, _, _ in events(data, **options) if kind == START]  # type: ignore[arg-type]


def test_script_named_in_a_quoted_attribute_value_is_not_a_tag() -> None:
    assert starts(b'<p title="<script src=x>">a</p><img src=y>') == ["img"]


def test_greater_than_in_a_quoted_value_does_not_end_the_tag() -> None:
    assert starts(b"<div data-x='a>b <script>'></div><script>1</script>") == ["script"]


def test_quote_that_does_not_follow_an_equals_sign_is_part_of_the_name() -> None:
    # `="` starts an attribute *name*, so the first `>` ends the tag and the script is real.
    assert starts(b'<div =">"><script>x</script>') == ["script"]


def test_unquoted_value_holding_an_equals_and_a_quote_ends_at_whitespace() -> None:
    assert starts(b'<div a=b=" ><script>x</script>') == ["script"]


def test_script_inside_a_comment_is_not_a_tag() -> None:
    assert starts(b"<!-- <script src=x></script> --><img src=y>") == ["img"]


def test_short_comments_end_where_browsers_end_them() -> None:
    assert starts(b"<!--><script>a</script>") == ["script"]
    assert starts(b"<!---><script>a</script>") == ["script"]
    assert starts(b"<!-- a --!><script>a</script>") == ["script"]


def test_bogus_comments_end_at_the_first_greater_than() -> None:
    assert starts(b"<?xml <script>?><img src=a>") == ["img"]
    assert starts(b"</ <script>x><img src=a>") == ["img"]


def test_script_ends_at_the_first_end_tag_even_inside_a_js_string() -> None:
    data = b'<script>var a = "</scripty>"; b = "</SCRIPT >";</script><img src=a>'
    found = events(data)
    assert [(k, n) for k, n, _, _ in found] == [
        (START, "script"),
        (END, "script"),
        (END, "script"),
        (START, "img"),
    ]
    assert data[found[1][2] :].startswith(b"</SCRIPT >")


def test_double_escaped_script_end_tag_does_not_end_the_script() -> None:
    data = b"<script><!--<script></script>--></script><img src=a>"
    found = events(data)
    assert found[1][:2] == (END, "script") and found[1][2] == data.index(b"</script><img")


def test_style_title_and_textarea_hide_markup() -> None:
    data = b"<style>a{}</p><script></style><title><img src=x></title><textarea><iframe></TEXTAREA><img src=y>"
    assert starts(data) == ["img"]


def test_plaintext_makes_the_rest_text() -> None:
    assert starts(b"<plaintext></plaintext><script>x</script>") == []


def test_noscript_content_is_raw_text_for_a_javascript_browser() -> None:
    assert starts(b"<noscript><img src=x></noscript><img src=y>") == ["img"]


def test_cdata_in_svg_hides_markup_but_not_in_html() -> None:
    # (the section itself is reported, for the rewriter to read its content as markup too)
    assert starts(b"<svg><![CDATA[ a > <script>x</script> ]]></svg><img src=y>") == [CDATA_NAME, "img"]
    assert starts(b"<p><![CDATA[ a > <img src=x> ]]>") == ["img"]


def test_script_in_svg_is_markup_not_raw_text() -> None:
    found = events(b"<svg><script><img src=x></script></svg>")
    assert [(k, n) for k, n, _, _ in found] == [(START, "script"), (START, "img"), (END, "script")]


def test_html_breakout_tag_leaves_foreign_content() -> None:
    assert starts(b"<svg><p><style><img src=x></style><img src=y>") == ["img"]


def test_self_closing_svg_opens_no_foreign_content() -> None:
    assert starts(b"<svg/><style><img src=x></style><img src=y>") == ["img"]


def test_uppercase_names_and_slashes() -> None:
    assert starts(b"<SCRIPT/SRC=x></SCRIPT><IMG/src=y>") == ["script", "img"]


def test_duplicate_attributes_first_wins() -> None:
    tag = b'<img src="a" SRC="b" alt=c>'
    assert attr_map(tag, 4, len(tag) - 1) == {b"src": b"a", b"alt": b"c"}
    attrs, self_closing = parse_attrs(tag, 4, len(tag) - 1)
    assert [(a.name, a.value) for a in attrs] == [(b"src", b"a"), (b"alt", b"c")]
    assert not self_closing


def test_self_closing_flag_needs_a_slash_right_before_the_end() -> None:
    assert parse_attrs(b"<a x=y />", 2, 8)[1]
    assert not parse_attrs(b"<a x=y/>", 2, 7)[1]  # the slash belongs to the unquoted value


def test_tag_longer_than_the_buffer_is_reported_truncated_and_streamed() -> None:
    data = b'<img alt="' + b"a" * 5000 + b'" src=x><script>1</script>'
    tokenizer = Tokenizer(WATCHED, WATCHED, max_buffer=1024)
    found: list[Event] = []
    for i in range(0, len(data), 100):
        found += tokenizer.feed(data[i : i + 100])
        tokenizer.release(tokenizer.safe)
        assert tokenizer.buffered <= 1024 + 200
    found += tokenizer.feed(b"", final=True)
    assert [(e.name, e.truncated) for e in found if e.kind == START] == [("img", True), ("script", False)]


def test_closer_names_what_eof_left_open() -> None:
    for data, closer in (
        (b"<script>a", b"</script>"),
        (b"<title>a", b"</title>"),
        (b"<!-- a", b"-->"),
        (b"<p>a", b""),
        (b"<plaintext>a", None),
    ):
        tokenizer = Tokenizer(WATCHED, WATCHED)
        tokenizer.feed(data)
        tokenizer.feed(b"", final=True)
        assert tokenizer.closer() == closer


MARKUP = st.lists(
    st.sampled_from(
        [
            b"<script>",
            b"</script>",
            b"<script src=x>",
            b"<img src=a>",
            b"<iframe>",
            b"</iframe>",
            b"<!--",
            b"-->",
            b"--!>",
            b'<p title="',
            b'"',
            b"'",
            b"<div a='",
            b">",
            b"<",
            b"</",
            b"<svg>",
            b"</svg>",
            b"<![CDATA[",
            b"]]>",
            b"<style>",
            b"</style>",
            b"<title>",
            b"</title>",
            b"<math>",
            b"<p>",
            b"=",
            b"<noscript>",
            b"</noscript>",
            b"<a ping=x>",
            b" ",
            b"x",
            b"<!DOCTYPE html>",
            b"<?",
            b"/",
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(MARKUP, st.integers(min_value=1, max_value=17))
def test_events_do_not_depend_on_chunking(data: bytes, chunk: int) -> None:
    assert events(data, chunk) == events(data)


@settings(max_examples=300, deadline=None)
@given(MARKUP | st.binary(max_size=200))
def test_watching_few_names_finds_the_same_tags_as_watching_all(data: bytes) -> None:
    # The fast path (jump between candidates) must agree with tokenising every tag.
    everything = [e for e in events(data, names=None) if e[1] in WATCHED]
    # <a> is reported when "ping" is near; raw-text end tags (noscript, iframe) always
    assert [e for e in events(data) if e[1] in WATCHED] == everything


# -- foreign content: the stack of open elements decides (consentgate.html.foreign) -----------
@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"<svg><svg></svg><style><img src=x>", ["img"]),  # still in the outer svg
        (b"<svg><g></g><style><img src=x>", ["img"]),
        (b"<div><svg></div><style><img src=x></style>", []),  # HTML again (and see below)
        (b"<svg><foreignObject><style><img src=x></style></foreignObject></svg><img src=y>", ["img"]),
        (b"<svg><foreignObject><span></svg><style><img src=x>", []),  # `</svg>` ignored in HTML
        (b"<svg><desc><span></desc><style><img src=x>", []),  # as in Chromium (html5lib differs)
        (b"<svg><foreignObject></svg><style><img src=x>", []),  # `</svg>` pops the svg
        (b"<svg></body><style><img src=x>", ["img"]),  # `</body>` pops nothing
        (b"<form><svg></form><style><img src=x>", ["img"]),  # `</form>` removes the form only
        (b"<math><mi><mglyph><style><img src=x>", ["img"]),  # mglyph stays MathML
        (b"<math><mi><style><img src=x>", []),  # a text integration point: HTML
        (b'<math><annotation-xml encoding="text/html"><style><img src=x>', []),
        (b"<math><annotation-xml><svg><style><img src=x>", ["img"]),
        (b"<svg><font color=red><style><img src=x>", []),  # breaks out
        (b"<svg><font><style><img src=x>", ["img"]),  # does not
        (b"<svg><p></p><style><img src=x>", []),
        (b"<svg></p><style><img src=x>", []),
    ],
)
def test_foreign_content_ends_where_the_tree_builder_ends_it(data: bytes, found: list[str]) -> None:
    assert [name for name in starts(data) if name == "img"] == found


def test_a_guess_about_foreign_content_keeps_the_other_reading_for_raw_text() -> None:
    # `</span>` in an svg pops it only if a span is open around it: unknown here, so the
    # tokenizer reads HTML and hands over the stack of the other reading with the <style>.
    tokenizer = Tokenizer(WATCHED, WATCHED)
    found = tokenizer.feed(b"<svg></span><style><img src=x></style>", final=True)
    style = [e for e in found if e.name == "style" and e.kind == START]
    assert style and style[0].alternative is not None and style[0].alternative.foreign


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"b=", b"=", b'"', b"'", b" ", b"\t", b"/", b"x/", b">", b"/ "]), max_size=14
    )
)
def test_self_closing_agrees_with_parse_attrs(pieces: list[bytes]) -> None:
    """The one-regex self-closing test says what the full attribute parse says, on tails
    built to confuse it: unquoted values ending in `/`, quotes inside values, `= /`."""
    data = b"<use " + b"".join(pieces)
    assert self_closing(data, 4, len(data)) == parse_attrs(data, 4, len(data))[1]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        (b' href="#a"/', True),
        (b" href=#a/", False),  # the slash belongs to the unquoted value
        (b' href="#a" /', True),
        (b" /", True),
        (b"", False),
        (b' a="x"/ /', True),
        (b' a="/" ', False),
        (b" a= /", False),  # `=` then space: the unquoted value is `/`
    ],
)
def test_self_closing_cases(attrs: bytes, expected: bool) -> None:
    data = b"<path" + attrs
    assert self_closing(data, 5, len(data)) is expected
    assert parse_attrs(data, 5, len(data))[1] is expected


def test_a_quoted_value_cut_before_its_quote_runs_to_the_cut() -> None:
    # Only a tag cut at the buffer bound has one: the rest is that value, read on by a browser.
    from consentgate.html.tokenizer import cut_attr_map

    tag = b'<img width=1 alt="a src=https://t.example/p onload=x(1) ' + b"y " * 50
    attrs, _ = parse_attrs(tag, 4, len(tag))
    assert [a.name for a in attrs] == [b"width", b"alt"] and attrs[-1].end == len(tag)
    assert attrs[-1].value == tag[tag.index(b'"') + 1 :]
    assert cut_attr_map(tag, 4, len(tag)) == {b"width": b"1"}  # the cut last one does not count
    single = b"<img alt='a src=x"
    assert [a.name for a in parse_attrs(single, 4, len(single))[0]] == [b"alt"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from([b" ", b"a", b"B", b"=", b'"', b"'", b"x y", b"/", b"src", b"\t", b">", b"on", b"="]),
        max_size=30,
    ).map(b"".join)
)
def test_a_cut_tags_attribute_map_is_its_whole_attributes(body: bytes) -> None:
    # What HtmlRewriter._amap read for a tag cut at the buffer bound through parse_attrs:
    # every attribute, the first of each name, but the last one when it reaches the cut.
    from consentgate.html.tokenizer import cut_attr_map, parse_attrs

    tag = b"<img" + body
    attrs, _ = parse_attrs(tag, 4, len(tag))
    if attrs and attrs[-1].end >= len(tag):
        attrs.pop()
    assert cut_attr_map(tag, 4, len(tag)) == {a.name: a.value for a in attrs}
