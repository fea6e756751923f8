"""A blocked frame inside a ``<label>``: its placeholder goes after the label.

A button is a labelable element. Inside a label with no control before it, the placeholder's
"Load content" button would become the label's control, and a click anywhere on the label's
text would press it: a grant nobody chose (GDPR Art. 4(11): consent is an unambiguous,
affirmative act). Where a control comes first, the button is a second one, which the Nu HTML
Checker rejects. So the placeholder waits for the ``</label>`` of the outermost label around its
frame. A label the page never ends with ``</label>`` is ended by the end tag of an element
around it (``</p>``, ``</div>``), which the rewriter does not look at: its placeholders go before
``</body>``. (``</form>`` does not end a label: the parser takes the form alone off its stack.)
html5lib's tree builder says where each button ends up.
"""

from __future__ import annotations

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .kit import BODY, HEAD, run
from .test_page_forms import PLACEHOLDER, YOUTUBE, page

EMBED = b'<embed src="https://www.youtube.com/v/1">'


def rewritten(body: bytes, chunks: list[int] | None = None) -> bytes:
    return run(page(body), head=HEAD, body=BODY, placeholder=PLACEHOLDER, chunks=chunks)


def buttons_in_labels(document: bytes) -> tuple[int, int]:
    """(placeholder buttons, those of them inside a label), as a browser builds the tree."""
    tree = html5lib.parse(document, namespaceHTMLElements=False)
    parents = {child: parent for parent in tree.iter() for child in parent}
    total = inside = 0
    for button in tree.iter("button"):
        if "Load content" not in (button.text or ""):
            continue
        total += 1
        node = parents.get(button)
        while node is not None and node.tag != "label":
            node = parents.get(node)
        inside += node is not None
    return total, inside


@pytest.mark.parametrize("frame", [YOUTUBE, EMBED], ids=["iframe", "embed"])
def test_a_frames_placeholder_comes_after_the_label_around_it(frame: bytes) -> None:
    out = rewritten(b"<p><label>Our video: " + frame + b" (2 min)</label> more text</p>")
    assert b" (2 min)</label><span" in out  # right after it
    assert buttons_in_labels(out) == (1, 0)
    assert out.index(b"(2 min)") < out.index(b"Load content") < out.index(b"more text")


@pytest.mark.parametrize(
    ("body", "before", "after"),
    [
        # nested labels: after the outermost
        (b"<label>A <label>B " + YOUTUBE + b"</label> c</label> tail", b"c</label>", b" tail"),
        # a label its parent's end tag ended (unseen): before </body>, with the banner
        (b"<div><label>A " + YOUTUBE + b"</div><p>after</p>", b"<p>after", BODY),
        # frames outside labels keep their place, and an SVG <label> is no label
        (b"<label>Name <input name=n></label><p>" + YOUTUBE + b" after</p>", b"</iframe>", b" after</p>"),
        (b"<svg><label></label></svg><p>" + YOUTUBE + b" after</p>", b"</iframe>", b" after</p>"),
    ],
    ids=["nested", "ended-by-parent", "outside", "svg-label"],
)
def test_where_the_placeholder_goes(body: bytes, before: bytes, after: bytes) -> None:
    out = rewritten(body)
    assert out.index(before) < out.index(b"Load content") < out.index(after)
    assert buttons_in_labels(out) == (1, 0)


BLOCKS = st.sampled_from(
    [
        b"<p>text</p>",
        b"<label>Watch " + YOUTUBE + b" now</label>",
        b"<label>Watch " + EMBED + b"</label> after",
        b"<div><label>Open " + YOUTUBE + b"</div>",  # the label ends with its div
        b"<label>A <label>B " + YOUTUBE + b"</label> C</label>",
        b"<label>Name <input name=n></label>",
        b"<p>" + YOUTUBE + b" in a paragraph</p>",
        b'<form action="/f"><label>F ' + YOUTUBE + b"</label><button>Send</button></form>",
        b'<form action="/g"><p><label>G ' + YOUTUBE + b"</p></form>",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(BLOCKS, min_size=1, max_size=6), st.lists(st.integers(1, 200), min_size=1, max_size=6))
def test_no_placeholder_button_ends_up_in_a_label(blocks: list[bytes], chunks: list[int]) -> None:
    body = b"".join(blocks)
    out = rewritten(body, chunks=chunks)
    assert out == rewritten(body)  # however the page is cut
    frames = body.count(b"<iframe") + body.count(b"<embed")
    assert buttons_in_labels(out) == (frames, 0)
