"""The document inside ``<iframe srcdoc>``: read with the attribute's character references
undone as a browser undoes them (html5lib is the oracle), rewritten like a page, put back."""

from __future__ import annotations

import re

import html5lib
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consentgate.html.rules import Finding
from consentgate.html.srcdoc import escape_document, unescape_document, url_document

from .kit import allow_all, deny_all, granting, live, run

PIXEL = b"https://www.facebook.com/tr?id=1"
GA = b"https://www.googletagmanager.com/gtag/js?id=G-1"


def srcdoc_as_browser_reads_it(value: bytes, quote: bytes = b'"') -> str:
    """The srcdoc string a browser builds from the attribute bytes (latin-1: every byte a char)."""
    page = b"<iframe srcdoc=" + quote + value + quote + b"></iframe>"
    tree = html5lib.parse(page.decode("latin-1"), namespaceHTMLElements=False)
    frame = tree.find(".//iframe")
    assert frame is not None
    return str(frame.get("srcdoc"))


def markers_put_back(document: bytes, kept: list[bytes]) -> bytes:
    for index, raw in enumerate(kept):
        document = document.replace(b"\x00%d\x00" % index, raw)
    return document


# Attribute-value text built to exercise the reference rules: named (with and without `;`,
# ASCII and not), numeric (decimal, hex, out of range), ambiguous ampersands, `=` after a
# legacy name, NULs and bytes above 0x7f.
REFERENCE_PIECES = [
    b"&quot;", b"&amp;", b"&lt;", b"&gt;", b"&apos;", b"&amp", b"&lt", b"&quot", b"&ampx", b"&amp=", b"&lt=x", b"&eacute;", b"&eacute", b"&nbsp", b"&notit;", b"&notin;", b"&not", b"&#60;", b"&#x3C;", b"&#x3c", b"&#34", b"&#8217;", b"&#0;", b"&#x110000;", b"&#128;", b"&#;", b"&#x;", b"&", b"&;", b"&zz;", b"&LT;", b"&AMP", b"&NewLine;", b"&colon;", b"<", b">", b"'", b"=", b";", b"#", b"x", b"a", b"1", b" ", b"\x00", b"\xe9", b"\xc3\xa9", b"<img src=", b"https://t.example/p",
]  # fmt: skip
reference_soup = st.lists(st.sampled_from(REFERENCE_PIECES), max_size=16).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(reference_soup)
def test_the_document_round_trips_to_the_same_srcdoc(value: bytes) -> None:
    document, kept = unescape_document(value)
    assert srcdoc_as_browser_reads_it(escape_document(document, kept)) == srcdoc_as_browser_reads_it(value)


@settings(max_examples=400, deadline=None)
@given(reference_soup)
@example(b"&eacute;&eacute;&eacute;1&eacute;")  # a digit between two markers
def test_the_document_is_what_the_browser_reads_with_the_markers_read_alone(value: bytes) -> None:
    """Every marker stands for a reference the browser decodes to a non-ASCII character (or a
    NUL, which it replaces): read alone, it gives what it gave in place; the rest of the
    document is already what the browser reads."""
    document, kept = unescape_document(value)
    for raw in kept:
        assert srcdoc_as_browser_reads_it(raw) != raw.decode("latin-1") or raw == b"\x00"
    resolved = re.sub(  # left to right, as escape_document puts them back
        "\x00([0-9]+)\x00",
        lambda m: srcdoc_as_browser_reads_it(kept[int(m.group(1))]),
        document.decode("latin-1"),
    )
    assert resolved == srcdoc_as_browser_reads_it(value)


@pytest.mark.parametrize(
    ("value", "document"),
    [
        (b"&lt;img src=&quot;x&quot;&gt;", b'<img src="x">'),
        (b"&#60;script&#x3E;", b"<script>"),
        (b"a&amp;lt;b", b"a&lt;b"),  # a literal `&lt;` in the document: text, not a tag
        (b"&ampx &amp=1", b"&ampx &amp=1"),  # left as they are in an attribute value
        (b"&lt b", b"< b"),  # legacy name, no `;`, then a space: decoded
    ],
)
def test_references_to_markup_are_decoded(value: bytes, document: bytes) -> None:
    assert unescape_document(value) == (document, [])


def test_other_references_and_nul_are_kept_behind_markers() -> None:
    document, kept = unescape_document(b"caf&eacute; &#8217;\x00")
    assert document == b"caf\x000\x00 \x001\x00\x002\x00"
    assert kept == [b"&eacute;", b"&#8217;", b"\x00"]
    assert escape_document(b'"&' + document, kept) == b"&quot;&amp;caf&eacute; &#8217;\x00"


# -- through the rewriter -------------------------------------------------------------------


def frame(srcdoc: bytes, rest: bytes = b"") -> bytes:
    return b'<!doctype html><body><iframe srcdoc="' + srcdoc + b'"' + rest + b"></iframe><p>after</p>"


def document_of(page: bytes) -> bytes:
    """The srcdoc document of the first iframe, as the browser reads it."""
    tree = html5lib.parse(page.decode("latin-1"), namespaceHTMLElements=False)
    element = tree.find(".//iframe")
    assert element is not None
    return str(element.get("srcdoc")).encode()


@pytest.mark.parametrize(
    "inner",
    [
        b"&lt;img src=&quot;" + PIXEL + b"&quot;&gt;",
        b"&lt;script async src=&quot;" + GA + b"&quot;&gt;&lt;/script&gt;",
        b"&lt;script&gt;fbq('init','1');fbq('track','PageView')&lt;/script&gt;",
        # the lazy video embed: the thumbnail and the player link sit in srcdoc
        b"&lt;style&gt;img{width:100%}&lt;/style&gt;&lt;a href=https://www.youtube.com/embed/x?autoplay=1&gt;"
        b"&lt;iframe src=https://www.youtube.com/embed/x&gt;&lt;/iframe&gt;&lt;/a&gt;",
        b"&#60;img src=&#34;" + PIXEL + b"&#34;&#62;",
    ],
)
def test_trackers_in_a_srcdoc_document_are_neutralised(inner: bytes) -> None:
    page = frame(inner)
    assert live(document_of(page)), "the document must load a tracker before rewriting"
    rewritten = run(page, deny_all)
    assert live(document_of(rewritten)) == []
    assert rewritten.endswith(b"></iframe><p>after</p>")


@pytest.mark.parametrize("quote", [b"'", b""])
def test_single_quoted_and_unquoted_srcdoc_are_read_too(quote: bytes) -> None:
    value = b"&lt;img&#32;src=" + PIXEL + b"&gt;"
    page = b"<body><iframe srcdoc=" + quote + value + quote + b"></iframe>"
    assert live(document_of(page))
    assert live(document_of(run(page, deny_all))) == []


def test_with_consent_the_page_is_untouched() -> None:
    page = frame(b"&lt;img src=&quot;" + PIXEL + b"&quot;&gt;caf&eacute; &amp;amp;", b' src="/x"')
    assert run(page, allow_all) == page
    assert run(page, granting("marketing")) == page


def test_a_srcdoc_without_trackers_is_left_byte_for_byte() -> None:
    page = frame(b"&lt;p class=&quot;a&quot;&gt;caf&eacute; &#8217; &amp;lt;&lt;/p&gt;")
    assert run(page, deny_all) == page


def test_rewriting_keeps_the_rest_of_the_document_as_the_browser_read_it() -> None:
    inner = (
        b"&lt;p title=&quot;a&amp;amp;b&quot;&gt;caf&eacute; &#8217; &amp;lt;&lt;/p&gt;&lt;img src="
        + PIXEL
        + b"&gt;"
    )
    before = document_of(frame(inner))
    after = document_of(run(frame(inner), deny_all))
    cut = before.index(b"<img")
    assert after[:cut] == before[:cut] == '<p title="a&amp;b">caf\u00e9 \u2019 &lt;</p>'.encode()
    assert after[cut:].startswith(b"<img data-consentgate-blocked")


def nest(document: bytes, levels: int) -> bytes:
    for _ in range(levels):
        document = (
            b'<iframe srcdoc="' + document.replace(b"&", b"&amp;").replace(b'"', b"&quot;") + b'"></iframe>'
        )
    return b"<body>" + document


def innermost(page: bytes, levels: int) -> bytes:
    for _ in range(levels):
        page = document_of(page)
    return page


def test_nested_srcdoc_documents_are_rewritten() -> None:
    pixel = b"<img src=" + PIXEL + b">"
    page = nest(pixel, 3)
    assert live(innermost(page, 3))
    assert live(innermost(run(page, deny_all), 3)) == []


def test_srcdoc_nested_deeper_than_it_is_read_is_emptied() -> None:
    page = nest(b"<img src=" + PIXEL + b">", 4)
    out = run(page, deny_all)
    assert innermost(out, 3) == b'<iframe srcdoc=""></iframe>'


def test_a_srcdoc_too_long_to_read_is_blanked_with_its_src() -> None:
    inner = b"&lt;p&gt;x&lt;/p&gt;" * 6000 + b"&lt;img src=" + PIXEL + b"&gt;"
    page = frame(inner, b' src="/local"')
    out = run(page, allow_all, chunks=[4096])
    assert out.startswith(b'<!doctype html><body><iframe src="about:blank" srcdoc=""')
    assert run(page, deny_all, chunks=[4096]).startswith(
        b'<!doctype html><body><iframe src="about:blank" srcdoc=""'
    )


def test_findings_inside_srcdoc_are_reported() -> None:
    findings: list[Finding] = []
    run(frame(b"&lt;img src=" + PIXEL + b"&gt;"), deny_all, findings=findings)
    assert [(f.tag, f.service_id, f.action) for f in findings] == [("img", "meta", "blocked")]


# -- javascript: and data: URLs: documents of their own ------------------------------------


@pytest.mark.parametrize(
    ("url", "document"),
    [
        (b"javascript:'<img src=" + PIXEL + b">'", b"'<img src=" + PIXEL + b">'"),
        (b"JaVa&#x09;Script:%3Cimg%3E", b"<img>"),  # a reference, a tab, percent escapes
        (b"data:text/html,%3Cscript%20src%3D" + GA + b"%3E", b"<script src=" + GA + b">"),
        (b"data:text/html;base64,PGltZyBzcmM9eD4", b"<img src=x>"),  # unpadded
        (b"data:text/html;base64,PGlt ZyBz\ncmM9eD4=", b"<img src=x>"),
        (b"data:text/html", b""),  # no comma: nothing
    ],
)
def test_frame_urls_that_are_documents_are_read(url: bytes, document: bytes) -> None:
    assert url_document(url) == document


@pytest.mark.parametrize("url", [b"https://www.youtube.com/embed/x", b"/local", b"about:blank", b""])
def test_other_urls_are_not_documents(url: bytes) -> None:
    assert url_document(url) is None


BLOCKED = b"data-consentgate-blocked"
INERT = b'type="text/plain"'


@pytest.mark.parametrize(
    ("tag", "neutralised"),
    [
        (b"<iframe src=\"javascript:'<img src=" + PIXEL + b">'\"></iframe>", BLOCKED),
        (b'<iframe src="data:text/html,%3Cscript%3Efbq(%27init%27)%3C/script%3E"></iframe>', BLOCKED),
        (b'<object data="data:text/html,<img src=' + PIXEL + b'>"></object>', BLOCKED),
        (b"<embed src=\"data:image/svg+xml,<svg><image href='" + PIXEL + b"'/></svg>\">", BLOCKED),
        # <script src="data:..."> runs the code its URL holds
        (b"<script src=\"data:text/javascript,fbq('init','1')\"></script>", INERT),
        (
            b'<script src="data:text/javascript;base64,ZmJxKCdpbml0JywnMScp"></script>',
            INERT,
        ),  # fbq('init','1')
        (b"<script src=\"data:text/javascript,new Image().src='" + PIXEL + b"'\"></script>", INERT),
        (b"<svg><script href=\"data:text/javascript,fbq('init','1')\"></script></svg>", INERT),
    ],
)
def test_an_element_whose_url_document_names_a_tracker_is_neutralised(tag: bytes, neutralised: bytes) -> None:
    findings: list[Finding] = []
    out = run(b"<body>" + tag, deny_all, findings=findings)
    assert [(f.service_id, f.action) for f in findings] == [("meta", "blocked")]
    assert neutralised in out
    assert run(b"<body>" + tag, allow_all) == b"<body>" + tag


def test_a_url_document_without_trackers_is_left_alone() -> None:
    page = b'<body><iframe src="javascript:\'<p>hello</p>\'"></iframe><iframe src="data:text/html,<b>x</b>"></iframe>'
    assert run(page, deny_all) == page


def test_a_script_whose_data_url_holds_no_tracker_runs() -> None:
    page = b'<body><script src="data:text/javascript,console.log(1)"></script>'
    assert run(page, deny_all) == page


@pytest.mark.parametrize(
    "inner", [b"&lt;noscript&gt;x", b"&lt;script&gt;var a", b"&lt;!-- open", b"&lt;p title=&quot;x"]
)
def test_a_srcdoc_document_left_open_at_its_end_is_not_closed(inner: bytes) -> None:
    """The page's own end gets closers (its snippets must not land inside an open element);
    a srcdoc document has nothing after it, so what it leaves open stays so, byte for byte."""
    page = frame(inner)
    assert run(page, allow_all) == page
    assert run(page, deny_all) == page
