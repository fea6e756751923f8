"""Where SVG and MathML content begins and ends: the part of the HTML tree builder that decides
how the tokenizer reads what follows.

In foreign content ``<style>``, ``<title>``, ``<script>``... are ordinary elements (no raw
text) and ``<![CDATA[`` opens a CDATA section; in HTML they are not. So the tokenizer needs the
namespace of the tree builder's *current node*, which depends on the stack of open elements:
nested ``<svg>``, HTML integration points (``foreignObject``, ``desc``, ``title`` in SVG;
``annotation-xml`` with an HTML encoding in MathML) and MathML text integration points (``mi``,
``mo``, ``mn``, ``ms``, ``mtext``) where content is HTML again, start tags that break out of
foreign content, and end tags that pop the foreign subtree.

The stack is kept as frames: frame 0 is the document's HTML, whose elements are not tracked
(the tokenizer's fast path does not look at them); each svg/math subtree is a frame of its open
element names; each integration point in one opens an HTML frame of the HTML elements open
inside it. When the tracked frames cannot tell (an end tag that may match an HTML element
outside the svg, or be ignored), the model decides for HTML, where the rewriter checks every
tag, and keeps the other answer as ``alternative``: while that one is still in foreign content,
the rewriter also rewrites the content of raw-text elements (``<style>``, ``<textarea>``...) as
the markup it would be there.

References:
- WHATWG HTML 13.2.6 "Tree construction" (the dispatcher), 13.2.6.5 "The rules for parsing
  tokens in foreign content", 13.2.4.2 "The stack of open elements" (special, scope)
"""

from __future__ import annotations

from typing import Final

__all__ = ["BREAKOUT", "ForeignContent"]

HTML: Final = "html"
SVG: Final = "svg"
MATH: Final = "math"

# Start tags that end foreign content (13.2.6.5), plus `font` with color/face/size.
BREAKOUT: Final = frozenset(
    [
        "b",
        "big",
        "blockquote",
        "body",
        "br",
        "center",
        "code",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "hr",
        "i",
        "img",
        "li",
        "listing",
        "menu",
        "meta",
        "nobr",
        "ol",
        "p",
        "pre",
        "ruby",
        "s",
        "small",
        "span",
        "strong",
        "strike",
        "sub",
        "sup",
        "table",
        "tt",
        "u",
        "ul",
        "var",
    ]
)
SVG_INTEGRATION: Final = frozenset({"foreignobject", "desc", "title"})
MATH_TEXT_INTEGRATION: Final = frozenset({"mi", "mo", "mn", "ms", "mtext"})
# Never on the stack of open elements: void elements, and elements whose content is text (the
# tokenizer finds their end; they cannot hold an svg).
_NOT_OPENED: Final = frozenset(
    [
        "area",
        "base",
        "basefont",
        "bgsound",
        "br",
        "col",
        "embed",
        "frame",
        "hr",
        "image",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "script",
        "style",
        "xmp",
        "iframe",
        "noembed",
        "noframes",
        "noscript",
        "title",
        "textarea",
        "plaintext",
    ]
)
# End tags that, met in foreign content, do not pop it whatever HTML is open around it:
# `</body>` and `</html>` only switch the insertion mode, `</form>` removes the form element
# alone, and the elements above can never be open ancestors of an svg.
_NEVER_POPS: Final = frozenset({"body", "html", "form"}) | _NOT_OPENED


class _Frame:
    __slots__ = ("namespace", "open", "text_point")

    def __init__(self, namespace: str, open_names: list[str], text_point: bool = False) -> None:
        self.namespace = namespace
        self.open = open_names  # open element names, innermost last
        self.text_point = text_point  # an HTML frame inside a MathML text integration point


class ForeignContent:
    """The namespace of the current node, from the start and end tags the tokenizer reads.

    >>> tree = ForeignContent()
    >>> tree.start("svg", False), tree.start("svg", False), tree.foreign
    (False, True, True)
    >>> tree.end("svg"); tree.foreign  # the inner svg
    True
    >>> tree.start("style", False), tree.start("img", False), tree.foreign
    (True, False, False)
    """

    __slots__ = ("alternative", "frames")

    def __init__(self) -> None:
        self.frames = [_Frame(HTML, [])]
        # The stack had the last guess gone the other way (None once it is back in HTML too).
        self.alternative: ForeignContent | None = None

    def copy(self) -> ForeignContent:
        twin = ForeignContent()
        twin.frames = [_Frame(f.namespace, list(f.open), f.text_point) for f in self.frames]
        return twin

    @property
    def depth(self) -> int:
        return len(self.frames)

    @property
    def foreign(self) -> bool:
        return self.frames[-1].namespace != HTML

    def enter(self, root: str) -> None:
        """An ``<svg>`` or ``<math>`` start tag (not self-closing) in HTML."""
        self.frames.append(_Frame(root, [root]))

    def start(
        self, name: str, self_closing: bool, *, font_breaks: bool = False, html_encoding: bool = False
    ) -> bool:
        """A start tag; returns whether it is a foreign element (an ``svg``/``math`` root is
        not: it is met in HTML). ``font_breaks``: a ``font`` with color, face or size;
        ``html_encoding``: an ``annotation-xml`` whose encoding is HTML."""
        other = self.alternative
        if other is not None:
            other.start(name, self_closing, font_breaks=font_breaks, html_encoding=html_encoding)
            if len(other.frames) == 1:
                self.alternative = None
        frames = self.frames
        top = frames[-1]
        namespace = top.namespace
        if namespace != HTML:
            if name in BREAKOUT or (font_breaks and name == "font"):
                frames.pop()  # back to the HTML element or integration point below
                return self._html_start(name, self_closing)
            if namespace == MATH and name == "svg" and top.open[-1] == "annotation-xml":
                if not self_closing:
                    self.enter(SVG)
                return True
            if not self_closing:
                top.open.append(name)
                if namespace == SVG:
                    if name in SVG_INTEGRATION:
                        frames.append(_Frame(HTML, []))
                elif name in MATH_TEXT_INTEGRATION:
                    frames.append(_Frame(HTML, [], text_point=True))
                elif name == "annotation-xml" and html_encoding:
                    frames.append(_Frame(HTML, []))
            return True
        return self._html_start(name, self_closing)

    def _html_start(self, name: str, self_closing: bool) -> bool:
        frames = self.frames
        top = frames[-1]
        if top.text_point and not top.open and name in ("mglyph", "malignmark"):
            if not self_closing:
                frames.append(_Frame(MATH, [name]))
            return True
        if name == "svg" or name == "math":
            if not self_closing:
                self.enter(name)
            return False
        if len(frames) > 1 and name not in _NOT_OPENED:
            top.open.append(name)
        return False

    def end(self, name: str) -> None:
        """An end tag."""
        other = self.alternative
        if other is not None:
            other.end(name)
            if len(other.frames) == 1:
                self.alternative = None
        frames = self.frames
        if len(frames) == 1:
            return
        top = frames[-1]
        if top.namespace == HTML:
            if top.open:
                # HTML rules inside an integration point, which bounds every scope: the tag
                # closes an element open since the integration point, or nothing.
                if name in top.open:
                    _close(top.open, name)
                elif self.alternative is None:
                    # Unless what is tracked here was closed already (a `<p>` by a `<div>`,
                    # and the other implied end tags not modelled): then the integration point
                    # is the current node and the tag may pop back into foreign content.
                    other = self.copy()
                    other.frames[-1].open.clear()
                    other.end(name)
                    if other.foreign:
                        self.alternative = other
                return
            if name == "p" or name == "br":
                return  # the current node is the integration point itself: nothing to pop
            index = len(frames) - 2  # foreign rules from the integration point itself
        elif name == "p" or name == "br":
            frames.pop()
            _close(frames[-1].open, name)
            return
        else:
            index = len(frames) - 1
        # "Any other end tag" in foreign content: walk down the stack of open elements until
        # an element of that name (pop it and everything above) or the first HTML element
        # (then the HTML insertion mode decides).
        while index > 0:
            frame = frames[index]
            if frame.namespace == HTML:
                if frame.open:
                    if name in frame.open:
                        del frames[index + 1 :]
                        _close(frame.open, name)
                    return
            elif name in frame.open:
                del frames[index + 1 :]
                _close(frame.open, name)
                if not frame.open:
                    frames.pop()
                return
            index -= 1
        # The HTML element around the svg is not tracked. Most end tags pop to an open element
        # of their name; if there is none, the tag is ignored and the svg stays open. Which
        # one cannot be told here: HTML, where the rewriter checks every tag.
        if name not in _NEVER_POPS:
            self.alternative = self.copy()
            del frames[1:]


def _close(open_names: list[str], name: str) -> None:
    for index in range(len(open_names) - 1, -1, -1):
        if open_names[index] == name:
            del open_names[index:]
            return
