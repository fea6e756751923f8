"""consentgate.html.placeholders, and where the rewriter puts a placeholder's form.

A placeholder stands where its frame stood, which may be inside a paragraph (the classic
WordPress editor wraps embeds in ``<p>``), a heading or a ``<span>``: it holds phrasing content
only, and its form, hidden, goes where a ``<form>`` start tag ends no paragraph. html5lib's tree
builder (the standard's tree construction, scripting off as in a browser without JavaScript)
says what the parser makes of the result: which paragraph holds what, which form each button
submits.
"""

from __future__ import annotations

import re

import html5lib
import pytest

from consentgate.html.placeholders import MAX_WAITING, DetachedForms, detach_form
from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Finding

from .kit import BODY, HEAD, RULES, deny_all

YOUTUBE = b'<iframe src="https://www.youtube.com/embed/1"></iframe>'
MAP = b'<iframe src="https://maps.example.org/embed?q=1"></iframe>'


def placeholder(finding: Finding) -> bytes:
    """A placeholder shaped as consentgate.ui renders one: its form grants the frame's service."""
    service = (finding.service_id or "none").encode()
    return (
        b'<span class="ph" data-consentgate-placeholder><span>' + service + b"</span>"
        b'<form method="post" action="/_consentgate/consent" data-consentgate-form="embed">'
        b'<input type="hidden" name="csrf" value="t">'
        b'<input type="hidden" name="service" value="' + service + b'" data-consentgate-grant>'
        b'<span class="cg-actions"><button type="submit">Load ' + service + b"</button></span>"
        b"</form></span>"
    )


def rewrite(
    data: bytes, *, body: bytes = BODY, chunk: int | None = None, documents_only: bool = False
) -> bytes:
    rewriter = HtmlRewriter(
        RULES,
        deny_all,
        head_snippet=HEAD,
        body_snippet=body,
        placeholder=placeholder,
        documents_only=documents_only,
    )
    size = chunk or len(data) or 1
    return b"".join(rewriter.feed(data[i : i + size]) for i in range(0, len(data), size)) + rewriter.close()


def page(body: bytes, *, end: bytes = b"</body></html>") -> bytes:
    return b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>" + body + end


def tree(document: bytes) -> html5lib.etree.ElementTree:  # type: ignore[name-defined]
    return html5lib.parse(document, namespaceHTMLElements=False)


def submits(document: bytes) -> dict[str, list[str]]:
    """What each "Load ..." button posts, as a browser computes its form: the form its ``form``
    attribute names (none if no form has that id)."""
    root = tree(document)
    forms = {f.get("id"): f for f in root.iter("form")}
    found: dict[str, list[str]] = {}
    for button in root.iter("button"):
        form = forms.get(button.get("form"))
        fields = [] if form is None else [f"{i.get('name')}={i.get('value')}" for i in form.iter("input")]
        found[(button.text or "").strip()] = fields
    return found


def test_a_placeholder_inside_a_paragraph_leaves_the_paragraph_whole() -> None:
    out = rewrite(page(b"<p>Watch: " + YOUTUBE + b" and more.</p><p>Next</p>"))
    paragraphs = list(tree(out).iter("p"))
    assert len(paragraphs) == 2  # no paragraph ended early, no empty one from a stray </p>
    first = paragraphs[0]
    assert [e.tag for e in first] == ["iframe", "span"]
    assert "".join(first.itertext()).endswith(" and more.")
    assert not list(first.iter("form"))
    assert submits(out) == {"Load youtube": ["csrf=t", "service=youtube"]}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"<h2>Our video ", b"</h2>"),
        (b"<p><span class=embed>", b"</span> text</p>"),
        (b"<p><em>See ", b"</em></p>"),
        (b"<ul><li><p>", b"</p></li></ul>"),
        (b"<p>Left open ", b"<p>Next"),
    ],
)
def test_a_placeholder_stays_in_whatever_holds_its_frame(before: bytes, after: bytes) -> None:
    source = page(before + YOUTUBE + after)
    out = rewrite(source)
    holder = tree(source).find(".//iframe/..")
    assert holder is not None
    rewritten = tree(out).find(".//iframe/..")
    assert rewritten is not None and rewritten.tag == holder.tag
    assert [e.tag for e in rewritten] == [e.tag for e in holder] + ["span"]
    assert len(list(tree(out).iter("p"))) == len(list(tree(source).iter("p")))
    assert submits(out) == {"Load youtube": ["csrf=t", "service=youtube"]}


def test_placeholders_that_grant_the_same_share_one_form_and_each_form_has_its_own_id() -> None:
    out = rewrite(page(b"<p>" + YOUTUBE + b"</p><p>" + MAP + b"</p><p>" + YOUTUBE + b"</p>"))
    ids = re.findall(rb'<form id="([^"]+)"', out)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert out.count(b'<button form="' + ids[0] + b'"') == 2
    assert submits(out) == {
        "Load youtube": ["csrf=t", "service=youtube"],
        "Load maps": ["csrf=t", "service=maps"],
    }
    # All before the banner, where the parser's form element pointer is clear.
    assert out.index(b"<form id=") > out.rindex(b"</p>") and out.endswith(BODY + b"</body></html>")


def test_a_page_without_a_body_end_tag_gets_the_forms_at_its_end_before_the_banner() -> None:
    out = rewrite(page(b"<p>" + YOUTUBE + b" text", end=b""))
    assert re.search(
        rb"text<form id=\"consentgate-embed-[0-9a-f]+\" hidden[^>]*>.*</form>" + re.escape(BODY) + rb"\Z", out
    )
    assert submits(out) == {"Load youtube": ["csrf=t", "service=youtube"]}


def test_an_embed_after_the_pages_end_gets_its_form_at_the_very_end() -> None:
    # (The parser puts what follows </html> into the body all the same.)
    out = rewrite(page(b"<p>" + YOUTUBE + b"</p>", end=b"</body></html><p>" + MAP))
    before, after = out.split(BODY + b"</body></html>")
    assert before.count(b"<form id=") == 1 and after.count(b"<form id=") == 1 and after.endswith(b"</form>")
    assert submits(out) == {
        "Load youtube": ["csrf=t", "service=youtube"],
        "Load maps": ["csrf=t", "service=maps"],
    }


def test_a_page_without_a_body_snippet_gets_the_forms_before_its_body_end_tag() -> None:
    # A page shown in a frame of the site's own page: no banner, placeholders all the same.
    out = rewrite(page(b"<p>" + YOUTUBE + b"</p><footer>f</footer>"), body=b"")
    assert re.search(rb"</footer><form id=\"consentgate-embed-[0-9a-f]+\" hidden[^>]*>.*</form></body>", out)
    assert submits(out) == {"Load youtube": ["csrf=t", "service=youtube"]}


def test_a_piece_of_a_page_fetched_by_a_script_ends_with_its_forms() -> None:
    out = rewrite(b"<tr><td><p>" + YOUTUBE + b"</p></td></tr>", documents_only=True)
    assert BODY not in out and re.search(rb"</tr><form id=\"consentgate-embed-[0-9a-f]+\" hidden", out)


def test_placeholders_in_noscript_content_put_their_forms_with_the_pages() -> None:
    # Without JavaScript the <noscript> content is markup: its placeholder's form must not end
    # the paragraph there either.
    source = page(b"<p>Video: <noscript><span>" + YOUTUBE + b"</span></noscript> more</p>")
    out = rewrite(source)
    noscript = out[out.index(b"<noscript>") : out.index(b"</noscript>")]
    assert b"data-consentgate-placeholder" in noscript and b"<form" not in noscript
    assert out.count(b"<form id=") == 1 and out.index(b"<form id=") > out.index(b"</p>")
    assert len(list(tree(out).iter("p"))) == 1
    assert submits(out) == {"Load youtube": ["csrf=t", "service=youtube"]}


def test_a_srcdoc_document_keeps_its_placeholders_forms() -> None:
    # The form attribute names a form of the button's own document: about:srcdoc's.
    frame = b'<iframe srcdoc="<p>' + YOUTUBE.replace(b'"', b"&quot;") + b'</p>"></iframe>'
    out = rewrite(page(frame))
    srcdoc = re.search(rb'srcdoc="([^"]*)"', out)
    assert srcdoc is not None
    inner = srcdoc.group(1).replace(b"&quot;", b'"').replace(b"&amp;", b"&")
    assert submits(inner) == {"Load youtube": ["csrf=t", "service=youtube"]}
    assert out.replace(srcdoc.group(), b"").count(b"<form") == 0  # none in the page: named from nowhere


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_where_the_forms_go_does_not_depend_on_chunking(chunk: int) -> None:
    source = page(b"<p>" + YOUTUBE + b"</p><form action=/s><p>" + MAP + b"</p></form><p>" + YOUTUBE)
    assert rewrite(source, chunk=chunk) == rewrite(source)


def test_detach_form_names_the_form_after_what_it_holds() -> None:
    one = (
        b'<span><form method="post"><input type="hidden" name="s" value="1"><button>L</button></form></span>'
    )
    inline, form = detach_form(one)
    assert inline.startswith(b'<span><button form="consentgate-embed-') and b"<input" not in inline
    assert detach_form(one) == (inline, form)
    assert detach_form(one.replace(b'"1"', b'"2"'))[1] != form


def test_waiting_forms_are_bounded_and_given_once() -> None:
    forms = DetachedForms()
    shape = (
        b'<span><form method="post"><input type="hidden" name="s" value="%d"><button>L</button></form></span>'
    )
    shown = [forms.detach(shape % n) for n in range(MAX_WAITING + 1)]
    assert all(shown[:MAX_WAITING]) and shown[MAX_WAITING] == b""  # no placeholder past the bound
    assert forms.detach(shape % 0) == shown[0]  # one already waiting: named again, not held twice
    assert forms.take().count(b"<form") == MAX_WAITING and not forms
    assert forms.detach(shape % 0) == shown[0] and not forms  # placed already: not given again
    assert forms.detach(b"<span>no form</span>") == b"<span>no form</span>"
