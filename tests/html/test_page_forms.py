"""Placeholders and the banner inside a form the page opened (ASP.NET wraps every page in one:
hindustantimes.com and jpost.com in the corpus have blocked embeds inside it).

While a form is open, the HTML parser ignores a ``<form>`` start tag: the controls of a
placeholder's form would belong to the page's form, and "Load content" would post the page
back instead of granting. A placeholder's controls name their form with a ``form`` attribute
(everywhere: see tests/html/test_placeholders.py), and inside a page form that form goes after
the page's ``</form>``; a form the page never closes is closed before the banner. html5lib's
tree builder (which follows the standard's form element pointer) says where every control ends
up.
"""

from __future__ import annotations

import itertools
import re

import html5lib
import pytest

from consentgate.html.rewriter import HtmlRewriter, detach_form

from .kit import BODY, HEAD, RULES, deny_all, run

PLACEHOLDER = (
    b'<span class="ph"><span>YouTube</span><form method="post" action="/_consentgate/consent" '
    b'data-consentgate-form="embed"><input type="hidden" name="csrf" value="t">'
    b'<input type="hidden" name="service" value="youtube" data-consentgate-grant>'
    b'<span class="cg-actions"><button type="submit" class="cg-btn">Load content</button></span>'
    b"</form></span>"
)
INLINE, FORM = detach_form(PLACEHOLDER)
FORM_ID = FORM.split(b'"')[1].decode()  # <form id="consentgate-embed-..." hidden ...>
YOUTUBE = b'<iframe src="https://www.youtube.com/embed/1"></iframe>'
PAGE_FORM = b'<form id="aspnetForm" method="post" action="/postback"><input type="hidden" name="__VIEWSTATE" value="v">'


def page(body: bytes) -> bytes:
    return (
        b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"
        + body
        + b"</body></html>"
    )


def rewritten(body: bytes, chunks: list[int] | None = None) -> bytes:
    return run(page(body), head=HEAD, body=BODY, placeholder=PLACEHOLDER, chunks=chunks)


def owners(document: bytes) -> dict[str, str]:
    """Each control's form owner as a browser computes it: the form its ``form`` attribute
    names (none if no form has that id), else the form element pointer when it was parsed,
    which html5lib records as the form ancestor."""
    tree = html5lib.parse(document, namespaceHTMLElements=False)
    by_id = {f.get("id"): f for f in tree.iter("form") if f.get("id")}
    parents = {child: parent for parent in tree.iter() for child in parent}
    found: dict[str, str] = {}
    for control in (e for e in tree.iter() if e.tag in ("input", "button")):
        key = control.get("name") or (control.text or "").strip()
        named = control.get("form")
        if named is not None:
            form = by_id.get(named)
        else:
            form = control
            while form is not None and form.tag != "form":
                form = parents.get(form)
        found[key] = "none" if form is None else form.get("id") or form.get("action") or "?"
    return found


def test_a_placeholder_outside_any_form_has_its_form_before_the_banner() -> None:
    out = rewritten(b"<main>" + YOUTUBE + b"</main>")
    assert b"</iframe>" + INLINE + b"</main>" + FORM + BODY + b"</body>" in out
    assert owners(out)["Load content"] == FORM_ID


def test_a_placeholder_in_the_pages_form_posts_its_own_form_not_the_pages() -> None:
    out = rewritten(PAGE_FORM + b"<h1>News</h1>" + YOUTUBE + b"<p>more</p></form>")
    assert b"<form method" not in out.split(b"</form>")[0]  # no form start tag inside the page's form
    found = owners(out)
    assert found["Load content"] == FORM_ID
    assert found["csrf"] == found["service"] == FORM_ID
    assert found["__VIEWSTATE"] == "aspnetForm"
    # The hidden form comes right after the page's </form>, and the page is otherwise intact.
    assert b"<p>more</p></form>" + FORM + BODY in out
    tree = html5lib.parse(out, namespaceHTMLElements=False)
    ours = next(f for f in tree.iter("form") if f.get("id") == FORM_ID)
    assert ours.get("data-consentgate-form") == "embed" and ours.get("hidden") is not None


def test_two_placeholders_in_one_form_each_grant_their_own_service() -> None:
    second = PLACEHOLDER.replace(b"youtube", b"other").replace(b"Load content", b"Load video")
    placeholders = iter([PLACEHOLDER, second])
    rewriter = HtmlRewriter(
        RULES, deny_all, head_snippet=HEAD, body_snippet=BODY, placeholder=lambda f: next(placeholders)
    )
    out = rewriter.feed(page(PAGE_FORM + YOUTUBE + YOUTUBE + b"</form>")) + rewriter.close()
    found = owners(out)
    assert found["Load content"] == FORM_ID
    assert found["Load video"].startswith("consentgate-embed-") and found["Load video"] != FORM_ID
    tree = html5lib.parse(out, namespaceHTMLElements=False)
    services = {
        f.get("id"): [i.get("value") for i in f.iter("input") if i.get("name") == "service"]
        for f in tree.iter("form")
        if f.get("id", "").startswith("consentgate-embed")
    }
    assert services == {FORM_ID: ["youtube"], found["Load video"]: ["other"]}


def test_a_form_the_page_never_closes_is_closed_before_the_banner() -> None:
    banner = b'<div id="cg-banner"><form method="post" action="/_consentgate/consent"><button name="action" value="reject_all">Reject all</button></form></div>'
    out = run(page(PAGE_FORM + b"<h1>News</h1>" + YOUTUBE), head=HEAD, body=banner, placeholder=PLACEHOLDER)
    assert b"</form>" + FORM in out
    # At the end: a </body> inside the form does not say the form is over (more of its fields
    # may follow a stray one); what follows </html> still goes into the body.
    assert out.index(b"</body>") < out.index(b"</form><form id=") < out.index(banner)
    assert out.endswith(banner)
    found = owners(out)
    assert found["action"] == "/_consentgate/consent"  # the banner's own form, not aspnetForm
    assert found["Load content"] == FORM_ID
    assert found["__VIEWSTATE"] == "aspnetForm"


def test_a_closed_form_adds_nothing_before_the_banner() -> None:
    out = rewritten(PAGE_FORM + b"<h1>News</h1></form><p>after</p>")
    assert out.count(b"</form>") == 1
    assert b"<p>after</p>" + BODY + b"</body>" in out


@pytest.mark.parametrize(
    "shape",
    [
        b"<svg><form></form></svg><svg><form>",  # SVG elements named form are not forms
        b"<noscript><form></noscript>",  # raw text with scripting on
        b"<textarea><form></textarea>",
        b"<!-- <form> -->",
        b"<script>var f = '<form>';</script>",
    ],
)
def test_only_a_real_form_start_tag_counts(shape: bytes) -> None:
    out = rewritten(shape + YOUTUBE)
    assert INLINE in out
    assert out.count(b"</form>") == shape.count(b"</form>") + 1  # none closed but ours
    assert out.count(FORM) == 1


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_chunking_changes_nothing(size: int) -> None:
    body = PAGE_FORM + YOUTUBE + b"<p>x</p></form>" + PAGE_FORM + YOUTUBE
    whole = rewritten(body)
    # The second page form's placeholder grants the same: it names the form placed after the first.
    assert whole.count(FORM) == 1 and whole.count(INLINE) == 2
    assert rewritten(body, chunks=[size]) == whole


def test_everything_granted_leaves_a_closed_form_byte_identical() -> None:
    source = page(PAGE_FORM + YOUTUBE + b"</form>")
    out = run(source, lambda service, category: True, head=HEAD, body=BODY, placeholder=PLACEHOLDER)
    assert out.replace(HEAD, b"").replace(BODY, b"") == source


def test_detach_form_leaves_markup_without_a_form_alone() -> None:
    assert detach_form(b"<span>[PH]</span>", b"x") == (b"<span>[PH]</span>", b"")
    inline, form = detach_form(PLACEHOLDER, b"consentgate-embed-9")
    assert re.findall(rb"<(?:form|input)\b", inline) == []
    assert inline.count(b'form="consentgate-embed-9"') == 1
    assert form.startswith(b'<form id="consentgate-embed-9" hidden method="post"')
    assert form.count(b'<input type="hidden"') == 2


def test_placeholders_waiting_for_the_pages_form_to_close_are_bounded() -> None:
    # A form never closed, with a thousand embeds in it, each granting something else: at most
    # 64 detached forms are held (memory stays bounded); past them the frames are neutralised
    # without a placeholder.
    grants = (PLACEHOLDER.replace(b'"youtube"', b'"s%d"' % n) for n in itertools.count())
    rewriter = HtmlRewriter(
        RULES, deny_all, head_snippet=HEAD, body_snippet=BODY, placeholder=lambda f: next(grants)
    )
    document = page(PAGE_FORM + YOUTUBE * 1000)
    out = b"".join(rewriter.feed(document[i : i + 4096]) for i in range(0, len(document), 4096))
    out += rewriter.close()
    assert out.count(b'<form id="consentgate-embed-') == 64
    assert out.count(b'<button form="consentgate-embed-') == 64
    assert out.count(b"data-consentgate-blocked") == 1000
    assert out.index(b'</form><form id="consentgate-embed-') < out.index(BODY)  # closed before the banner
    assert owners(out)["Load content"].startswith("consentgate-embed-")


@pytest.mark.parametrize(
    "body",
    [
        PAGE_FORM + b"<div>w</body></div><input name=later>" + YOUTUBE + b"<input name=last></form>",
        PAGE_FORM + b"<p>w</p></body><input name=later><input name=last></form></html>",
    ],
)
def test_a_stray_body_end_tag_inside_the_pages_form_cuts_none_of_its_fields(body: bytes) -> None:
    # A template's stray </body> mid-page: the banner waits for the page's own </form>.
    document = b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>" + body
    out = run(document, head=HEAD, body=BODY, placeholder=PLACEHOLDER)
    found = owners(out)
    assert found["__VIEWSTATE"] == found["later"] == found["last"] == "aspnetForm"
    assert out.count(BODY) == 1 and out.index(BODY) > out.index(b"<input name=last></form>")
    assert all(
        run(document, head=HEAD, body=BODY, placeholder=PLACEHOLDER, chunks=[n]) == out for n in (1, 7)
    )
