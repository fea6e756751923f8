"""``documents_only``: a piece of a page fetched by a script (htmx, jQuery ``.load()``) gets its
trackers neutralised but no snippets; a whole document fetched by a script (htmx ``hx-boost``,
Turbo Drive swap the body) gets them as a navigation does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.rewriter import HtmlRewriter

from .kit import BODY, HEAD, RULES, deny_all, live

YOUTUBE = b'<iframe src="https://www.youtube.com/embed/1"></iframe>'
GA = b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'


def run(data: bytes, chunk: int | None = None, *, documents_only: bool = True) -> bytes:
    rewriter = HtmlRewriter(
        RULES,
        deny_all,
        head_snippet=HEAD,
        body_snippet=BODY,
        placeholder=lambda finding: b"[PH]",
        documents_only=documents_only,
    )
    size = chunk or len(data) or 1
    return b"".join(rewriter.feed(data[i : i + size]) for i in range(0, len(data), size)) + rewriter.close()


@pytest.mark.parametrize(
    "fragment",
    [
        b"<tr><td>1</td><td>" + YOUTUBE + b"</td></tr>",
        b"<div id=list>" + GA + b"<p>more</p></div>",
        b"  <!-- partial --> <li>one</li>" + YOUTUBE,
        b"<title>New title</title><div>" + YOUTUBE + b"</div>",  # htmx takes the title from it
        b"plain text, no markup",
        b"",
        # htmx merges a piece's <head> into the page's head: snippets there run twice
        b"<head><title>Page 2</title></head><div id=results>" + YOUTUBE + b"</div>",
        b"\n\n<body class=page>" + YOUTUBE,
        b"<!-- was: <!DOCTYPE html> --><tr><td>1</td></tr>",  # a doctype inside a comment
        b"<br />\n<b>Deprecated</b>: a PHP notice<div>" + YOUTUBE + b"</div>",
    ],
)
def test_a_piece_of_a_page_gets_no_snippets_but_its_trackers_are_neutralised(fragment: bytes) -> None:
    out = run(fragment)
    assert HEAD not in out and BODY not in out
    assert live(out) == []
    if YOUTUBE in fragment:
        assert out.count(b"[PH]") == 1
    assert run(fragment, documents_only=False).count(BODY) == 1  # a navigation gets them


@pytest.mark.parametrize(
    "document",
    [
        b"<!doctype html><html><head><title>t</title></head><body>" + YOUTUBE + b"</body></html>",
        b"<!DOCTYPE html><div>" + YOUTUBE + b"</div>",
        b"\xef\xbb\xbf<!-- built 12:00 -->\n<!DOCTYPE html><title>t</title>",
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body>x</body></html>',
        b"<HTML><BODY>x</BODY></HTML>",
        b"<!-- " + b"licence " * 300 + b"-->\n<!DOCTYPE html><html><head><title>t</title>",
        b"<!-->\n<!doctype html><title>t</title>",
    ],
)
def test_a_whole_document_fetched_by_a_script_gets_both_snippets(document: bytes) -> None:
    out = run(document)
    assert out.count(HEAD) == 1 and out.count(BODY) == 1
    assert out == run(document, documents_only=False)


def test_the_decision_reads_the_first_tag_whatever_the_chunks() -> None:
    long_fragment = b"<div>" + b"<p>text</p>" * 300 + YOUTUBE + b"</div>"
    document = b"<!-- " + b"x" * 900 + b" -->" + b"<!doctype html><body>" + YOUTUBE
    # Comments of any length come first (licences); past 16 KiB without a tag, a fragment.
    late = b"<!-- " + b"x" * 2000 + b" -->" + b"<!doctype html><body>" + YOUTUBE
    endless = b"<!-- " + b"x" * 20000 + b" -->" + b"<!doctype html><body>" + YOUTUBE
    for page in (long_fragment, document, late, endless):
        whole = run(page)
        assert all(run(page, size) == whole for size in (1, 5, 100, 1023, 1024, 1025, 16384))
    assert HEAD not in run(long_fragment) and HEAD in run(document) and HEAD in run(late)
    assert HEAD not in run(endless)


def test_a_fragment_streams_from_its_first_tag() -> None:
    """A streamed htmx response (a chat, a log) is not held back for 1024 bytes."""
    rewriter = HtmlRewriter(RULES, deny_all, head_snippet=HEAD, body_snippet=BODY, documents_only=True)
    assert rewriter.feed(b"<li>first message</li>") == b"<li>first message</li>"
    assert rewriter.feed(b"<li>second</li>") == b"<li>second</li>"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"\xef\xbb\xbf",
                b"<head>",
                b"<!-->",
                b"<?xml?>",
                b"<!doctype html>",
                b"<html>",
                b"<body>",
                b"<div>",
                b"</div>",
                b"<!-- c -->",
                b" ",
                b"x",
                YOUTUBE,
                GA,
            ]
        ),
        max_size=12,
    ).map(b"".join),
    st.integers(min_value=1, max_value=30),
)
def test_output_does_not_depend_on_chunking(page: bytes, chunk: int) -> None:
    assert run(page, chunk) == run(page)
