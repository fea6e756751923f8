"""The tokenizer's fast path against the exact scanner it stands in for.

The exact scanner (``Tokenizer(fast=False)``) is the reference: it passes the html5lib
conformance suite. The fast path must report the same events, feed by feed, and leave the same
``safe`` offsets; the rewriter on top of it must write the same bytes and report the same
findings, whatever the chunks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.html.fastscan import settle
from consentgate.html.rewriter import _END_NAMES, _START_NAMES, HtmlRewriter
from consentgate.html.rules import Finding, Rules
from consentgate.html.tokenizer import Tokenizer
from consentgate.policy.load import load_dict

from .kit import RULES, deny_all

WATCHED = frozenset({"script", "img", "iframe"})
EventKey = tuple[int, str, int, int, int, bool, bool, bool]


def feed_by_feed(
    data: bytes,
    sizes: list[int],
    names: tuple[frozenset[str], frozenset[str]],
    *,
    fast: bool,
    max_buffer: int,
) -> list[tuple[list[EventKey], int]]:
    tokenizer = Tokenizer(*names, max_buffer=max_buffer, fast=fast)
    steps = []
    for piece in pieces(data, sizes):
        events = tokenizer.feed(piece)
        steps.append(([_key(e) for e in events], tokenizer.safe))
        tokenizer.release(tokenizer.safe)
    events = tokenizer.feed(b"", final=True)
    steps.append(([_key(e) for e in events], tokenizer.safe))
    return steps


def _key(e: object) -> EventKey:
    return (e.kind, e.name, e.start, e.end, e.name_end, e.self_closing, e.foreign, e.truncated)  # type: ignore[attr-defined]


def pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        size = max(1, sizes[k % len(sizes)])
        out.append(data[i : i + size])
        i += size
        k += 1
    return out


def rewritten(
    data: bytes, sizes: list[int], *, fast: bool, rules: Rules = RULES, page_host: str | None = None
) -> tuple[bytes, list[Finding]]:
    findings: list[Finding] = []
    rewriter = HtmlRewriter(
        rules,
        deny_all,
        head_snippet=b'<script src="/cg.js"></script>',
        body_snippet=b"<div>banner</div>",
        placeholder=lambda finding: b"<p>placeholder</p>",
        on_finding=findings.append,
        page_host=page_host,
        fast=fast,
    )
    out = [rewriter.feed(piece) for piece in pieces(data, sizes)]
    out.append(rewriter.close())
    return b"".join(out), findings


# -- generated HTML: the awkward corners, mixed ----------------------------------------------
NAMES = [
    "script", "style", "title", "textarea", "xmp", "iframe", "noscript", "noembed", "plaintext",
    "svg", "math", "foreignObject", "desc", "font", "img", "image", "link", "source", "video",
    "audio", "embed", "object", "frame", "base", "a", "div", "p", "span", "body", "html", "head",
    "meta", "br", "table",
]  # fmt: skip
VALUES = [
    "https://www.google-analytics.com/collect", "//connect.facebook.net/en.js", "/local.js", "x.png",
    "https:www.facebook.com/tr", "\\\\www.youtube.com\\embed", "//X.HOTJAR.COM./h.js", "a > b", "<script>",
    'say "hi"', "it's", "a=b", "&amp;", "&#47;&#47;cdn.example.net", "marketing", "text/plain", "preload",
    "stylesheet", "https://maps.example.org/m", "//www.youtube.com/embed/x 2x, /a.jpg 1x", "",
    "//www.facebook.com\n/tr", "https://user@www.facebook.com/tr", "//cdn.example.net@www.facebook.com/",
    "HTTPS:WWW.FACEBOOK.COM/tr", "/x?a=", "sha384-abc==",
]  # fmt: skip
ATTRIBUTES = [
    "src",
    "href",
    "srcset",
    "ping",
    "type",
    "rel",
    "data-category",
    "class",
    "title",
    "data-src",
    "alt",
]


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.title()])


@st.composite
def attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(ATTRIBUTES).flatmap(_cased))
    value = draw(st.sampled_from(VALUES))
    form = draw(st.sampled_from(['{n}="{v}"', "{n}='{v}'", "{n}={v}", "{n}", '{n} = "{v}"']))
    sep = draw(st.sampled_from([" ", "\n", "/", " / ", ""]))
    return sep + form.format(n=name, v=value)


@st.composite
def start_tag(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES).flatmap(_cased))
    attrs = "".join(draw(st.lists(attribute(), max_size=3)))
    return (
        "<"
        + name
        + (" " if attrs and not attrs[0].isspace() else "")
        + attrs
        + draw(st.sampled_from([">", "/>", " >"]))
    )


# An image, link or media tag whose tracker URL may come after a quoted value holding `>`.
HIDDEN_TRACKERS = st.builds(
    lambda name, quote, alt, url: f'<{name} alt={quote}{alt}{quote} src="{url}" href="{url}">',
    st.sampled_from(["img", "link rel=preload", "source", "video", "audio", "IMG"]),
    st.sampled_from(['"', "'"]),
    st.sampled_from(["a > b", "photo"]),
    st.sampled_from(
        [
            "https://www.facebook.com/tr",
            "//x.google-analytics.com/c",
            "/local.png",
            "https://user@www.facebook.com/tr",
            "https:www.facebook.com/tr",
            "//www.facebook.com&#47;tr",
        ]
    ),
)

FRAGMENTS = st.one_of(
    start_tag(),
    HIDDEN_TRACKERS,
    st.sampled_from(NAMES).flatmap(_cased).map(lambda n: f"</{n}>"),
    st.sampled_from(
        [
            "text ", "a < b ", "x > y ", "it's ", '"q" ', "<!-- c -->", "<!-->", "<!--->",
            "<!-- <script> -->", "<!--", "<!doctype html>", "<?xml x?>", "</ x>", "<![CDATA[ <img> ]]>",
            "gtag('js', 1);", "fbq('init');", "<!--<script>", "</script >", "</SCRIPT", "<", "</", "<img",
            '<a ping="', "-->", "&lt;", "\n",
        ]
    ),
)  # fmt: skip


# Raw text with what changes its states: escaped and double-escaped script data, end tags
# that are not, an end tag cut short.
RAW_BODIES = st.lists(
    st.sampled_from(
        [
            "a",
            "<!--",
            "-->",
            "<script>",
            "</script>",
            "</script",
            "</scripty>",
            "</style>",
            "<b>",
            "gtag(",
            "<!--<script>",
        ]
    ),
    max_size=6,
).map("".join)
RAW_ELEMENTS = st.builds(
    lambda name, body, close: f"<{name}>{body}{close}",
    st.sampled_from(["script", "style", "title", "noscript", "iframe"]).flatmap(_cased),
    RAW_BODIES,
    st.sampled_from(["</script>", "</style>", "</title>", "</noscript>", "</iframe>", "</SCRIPT x=1>", ""]),
)
html_pages = st.lists(st.one_of(FRAGMENTS, RAW_ELEMENTS), max_size=40).map(
    lambda parts: "".join(parts).encode()
)
# Whole pages too: the fast path reads a raw-text element in one go only when all of it is in.
chunkings = st.one_of(st.just([1 << 20]), st.lists(st.integers(1, 97), min_size=1, max_size=5))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_pages, chunkings, st.sampled_from([(_START_NAMES, _END_NAMES), (WATCHED, WATCHED)]))
def test_fast_path_reports_what_the_exact_scanner_reports_feed_by_feed(
    data: bytes, sizes: list[int], names: tuple[frozenset[str], frozenset[str]]
) -> None:
    for max_buffer in (65536, 64):
        fast = feed_by_feed(data, sizes, names, fast=True, max_buffer=max_buffer)
        assert fast == feed_by_feed(data, sizes, names, fast=False, max_buffer=max_buffer)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_pages, chunkings, st.sampled_from([None, "www.example.com", "www.facebook.com"]))
def test_fast_rewriter_writes_the_bytes_and_findings_of_the_exact_one(
    data: bytes, sizes: list[int], page_host: str | None
) -> None:
    assert rewritten(data, sizes, fast=True, page_host=page_host) == rewritten(
        data, sizes, fast=False, page_host=page_host
    )


# -- the local proof that a candidate is in the data state -------------------------------------
@pytest.mark.parametrize(
    ("data", "settled"),
    [
        (b'<div class="x">\n  <script>', True),
        (b"text only <script>", True),
        (b'<div title="a>b <script>', False),  # inside the quoted value
        (b"<div title='a>b' <script>", False),  # after it, still in the tag
        (b"<div title=x<script>", False),  # in an unquoted value
        (b"<div <script>", False),
        (b"<!x <script>", False),  # a bogus comment ends at the first `>`
        (b'<img alt="it\'s">x<script>', True),  # an apostrophe inside a quoted value
    ],
)
def test_settle_tells_when_a_candidate_is_in_the_data_state(data: bytes, settled: bool) -> None:
    p = data.rindex(b"<script>")
    assert (settle(data, 0, p) == p) is settled


def test_settle_points_at_an_unfinished_tag_at_the_end() -> None:
    data = b'<div class="x">text <img src="//a'
    assert settle(data, 0, len(data)) == data.index(b"<img")


def test_settle_does_not_guess_after_a_value_that_ends_with_an_equals_sign() -> None:
    data = b'<link integrity="sha-abc=">\n<script>'
    assert settle(data, 0, data.index(b"<script>")) == -1


def test_a_tag_with_a_ping_attribute_is_found_however_its_attributes_read() -> None:
    data = b'<a title="x > y" PING="https://t.example/p" href=/x>go</a><a href="/shopping">s</a>'
    events = Tokenizer(_START_NAMES, _END_NAMES).feed(data, final=True)
    assert [(e.name, e.start) for e in events] == [("a", 0)]


@pytest.mark.parametrize(
    "tag",
    [
        b'<img alt="a > b" src="https://www.facebook.com/tr">',  # the tag goes on after the `>`
        b'<img src="//X.FACEBOOK.COM./tr">',
        b'<img src="https:www.facebook.com/tr">',
        b'<img src="https://user@www.facebook.com/tr">',
        b'<img src="//cdn.example.net@www.facebook.com/tr">',
        b'<img src="&#47;/www.facebook.com/tr">',
        b'<source srcset="/a.jpg 1x, //www.facebook.com/tr 2x">',
        b'<link rel=preload href="//static.hotjar.com/x.js" as=script>',
        b'<img data-category=marketing src="/pixel.gif">',
    ],
)
def test_quiet_images_skip_the_event_but_never_a_tracker(tag: bytes) -> None:
    # After other markup: the first tag of a page is read by the exact path (the head snippet)
    page = b"<p>text</p><img src='/a.jpg'>" + tag + b"<img src='/b.jpg'><p>more</p>"
    out, findings = rewritten(page, [len(page)], fast=True)
    assert (out, findings) == rewritten(page, [len(page)], fast=False)
    assert len(findings) == 1


@pytest.mark.corpus
def test_fast_rewriter_matches_the_exact_one_on_the_corpus(shared_dir: Path) -> None:
    html = shared_dir / "corpora" / "html"
    names = sorted(json.loads((html / "EXPECT.json").read_text())["pages"])
    rules = Rules.compile(load_dict({}))
    for name in names:
        data = (html / name).read_bytes()
        for sizes in ([len(data) or 1], [4096, 999]):
            fast = rewritten(data, sizes, fast=True, rules=rules, page_host="www.example.com")
            assert fast == rewritten(data, sizes, fast=False, rules=rules, page_host="www.example.com"), name
