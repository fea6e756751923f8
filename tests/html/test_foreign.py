"""The stack of open elements as far as it decides foreign content (consentgate.html.foreign).

Where Chromium and html5lib disagree, Chromium is followed (tests/hostile checks the bypasses
in a real Chromium)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.foreign import BREAKOUT, ForeignContent


def read(*tags: str) -> ForeignContent:
    tree = ForeignContent()
    for tag in tags:
        if tag.startswith("/"):
            tree.end(tag[1:])
        else:
            tree.start(tag.split()[0].rstrip("/"), tag.endswith("/"), font_breaks=tag == "font color")
    return tree


def test_nested_svg_closes_at_its_own_end_tag() -> None:
    assert read("svg", "svg", "/svg").foreign
    assert not read("svg", "svg", "/svg", "/svg").foreign


def test_a_self_closing_svg_opens_nothing() -> None:
    assert not read("svg/").foreign
    assert read("svg", "svg/").foreign


def test_integration_points_read_html_until_their_end() -> None:
    assert not read("svg", "foreignobject").foreign
    assert read("svg", "foreignobject", "/foreignobject").foreign
    assert not read("math", "mi").foreign
    assert read("math", "mi", "mglyph").foreign  # mglyph stays MathML
    assert not read("math", "mi", "b", "mglyph").foreign  # not in the integration point itself


def test_svg_end_tag_inside_html_in_an_integration_point_is_ignored() -> None:
    assert not read("svg", "foreignobject", "span", "/svg").foreign
    assert read("svg", "foreignobject", "span", "/svg", "/span").depth == 3
    assert not read("svg", "foreignobject", "/svg").foreign  # straight from the point: pops it
    assert read("svg", "foreignobject", "/svg").depth == 1


def test_an_ignored_end_tag_in_an_integration_point_keeps_the_popped_reading_as_a_guess() -> None:
    # `<div>` closed the `<p>` in the browser (an implied end tag the model does not track):
    # there `</foreignObject>` pops back into the svg.
    tree = read("svg", "foreignobject", "p", "div", "/div", "/foreignobject")
    assert not tree.foreign
    assert tree.alternative is not None and tree.alternative.foreign


def test_end_tags_that_never_pop_an_svg_leave_it_open() -> None:
    for name in ("body", "html", "form", "img", "br/"):
        assert read("svg", "/" + name).foreign or name == "br/"
    assert not read("svg", "/br").foreign  # </br> breaks out like <br>
    assert not read("svg", "/p").foreign


def test_an_end_tag_that_may_match_an_html_ancestor_is_read_as_html_and_kept_as_a_guess() -> None:
    tree = read("svg", "g", "/div")
    assert not tree.foreign
    assert tree.alternative is not None and tree.alternative.foreign
    # the other reading follows the tags until it is in HTML too
    tree.end("svg")
    assert tree.alternative is None


def test_font_breaks_out_only_with_color_face_or_size() -> None:
    assert read("svg", "font").foreign
    assert not read("svg", "font color").foreign


TAGS = st.sampled_from(
    ["svg", "svg/", "/svg", "math", "/math", "g", "/g", "foreignobject", "/foreignobject", "desc",
     "/desc", "title", "mi", "/mi", "mglyph", "annotation-xml", "/annotation-xml", "div", "/div",
     "span", "/span", "p", "/p", "/br", "b", "font", "font color", "/body", "style", "/style"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(TAGS, max_size=30), st.sampled_from(sorted(BREAKOUT)))
def test_a_breakout_tag_always_ends_foreign_content(tags: list[str], breakout: str) -> None:
    tree = read(*tags)
    if tree.foreign:
        twin = tree.copy()
        tree.start(breakout, False)
        assert not tree.foreign
        assert twin.foreign  # copies are independent
    assert tree.depth >= 1 and tree.frames[0].namespace == "html"


@settings(max_examples=500, deadline=None)
@given(st.lists(TAGS, max_size=30))
def test_the_guess_is_dropped_once_both_readings_are_in_html(tags: list[str]) -> None:
    tree = read(*tags)
    if tree.alternative is not None:
        assert tree.alternative.depth > 1
