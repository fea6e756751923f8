"""Incremental byte-level HTML tag scanner that finds tags where a browser does.

It never decodes the page: every structural byte (``<``, ``>``, ``/``, ``=``, quotes, ASCII
whitespace) means the same in UTF-8 and in every ASCII-compatible legacy encoding, and tag and
attribute names are only read right after one of them.

Speed comes from not looking at most of the page. In markup, one precompiled regex jumps to
the next *candidate*: a start or end tag whose name the caller cares about, or a comment. A
candidate only counts if it is really in the data state, not inside the attribute value or the
name of an uninteresting tag (``<div title="<script>">``). Two scanners do that:

- the fast path (:mod:`consentgate.html.fastscan`, on unless ``fast=False``) reads a whole
  candidate with one regex, raw-text content and end tag included, and proves its place with a
  local look (:func:`consentgate.html.fastscan.settle`); whatever it cannot settle it hands to
- the exact scanner, the reference: two cheap checks (:meth:`Tokenizer._in_data_state`), else
  the bytes since the last known position tokenised exactly by a regex that reads whole tokens
  with the standard's attribute grammar (:func:`_skipper`). Raw text (``<script>``,
  ``<style>``, ``<title>``, ...) is searched for its end tag only.

Both report the same events, feed by feed (tests/html/test_fastscan.py).

A token longer than ``max_buffer`` is cut at exactly ``max_buffer`` bytes from its start,
however the input was split: its first part is reported (``Event.truncated``), the rest is
walked through without being held.

References:
- WHATWG HTML, 13.2.5 Tokenization: https://html.spec.whatwg.org/multipage/parsing.html#tokenization
- 13.2.6.5 "The rules for parsing tokens in foreign content" (svg/math breakout, CDATA)
- html5lib-tests tokenizer/ and tree-construction/ (tests/html/test_html5lib_conformance.py)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal, NamedTuple

from consentgate.html.accel import speedups
from consentgate.html.fastscan import (
    SCAN_HAND_OVER,
    SCAN_MATCH,
    STATE_CHANGERS,
    FastScanner,
    Leaf,
    QuietKnown,
    fast_scanner,
    settle,
)
from consentgate.html.foreign import BREAKOUT, MATH_TEXT_INTEGRATION, SVG_INTEGRATION, ForeignContent
from consentgate.html.grammar import ATTRS, RAWTEXT_ELEMENTS, RCDATA_ELEMENTS, ci

__all__ = [
    "CDATA_NAME",
    "END",
    "RAWTEXT_ELEMENTS",
    "START",
    "VALUE",
    "Attr",
    "Event",
    "InitialState",
    "Tokenizer",
    "attr_map",
    "attr_names",
    "named_attrs",
    "parse_attrs",
]

START: Final = 1
END: Final = 2
COMMENT: Final = 3  # comments, bogus comments and doctypes (reported in report-all mode only)
TEXT: Final = 4  # reported in report-all mode only
CDATA: Final = 5  # reported in report-all mode only
CDATA_NAME: Final = "![cdata["  # otherwise a CDATA section comes as START and END of this name

_WS = rb"\t\n\f\r "
_ATTRS = ATTRS
_TAG = re.compile(rb"<(/?)([a-zA-Z][^\t\n\f\r />]*+)(" + _ATTRS + rb")>")
_NAME = rb"[^\t\n\f\r />][^\t\n\f\r /=>]*+"


def _value(groups: bool) -> bytes:
    """``=`` and an attribute value as the attribute states read it: double-quoted,
    single-quoted, unquoted, or empty before ``>``; with ``groups``, the value inside its quotes
    (group 1 or 2) or bare (group 3). A quoted value whose closing quote is not in the bytes
    read runs to their end: only a tag cut at the buffer bound has one, and the rest of the tag
    is that value, not attributes (a browser reads on to the quote)."""

    def group(pattern: bytes) -> bytes:
        return b"(" + pattern + b")" if groups else pattern

    return (
        rb"[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\""
        + group(rb"[^\"]*+")
        + rb"(?:\"|\Z)|'"
        + group(rb"[^']*+")
        + rb"(?:'|\Z)|"
        + group(rb"[^\t\n\f\r >\"'][^\t\n\f\r >]*+")
        + rb"|(?=>|\Z))"
    )


_ATTR = re.compile(b"(" + _NAME + b")(?:" + _value(True) + rb")?|([\t\n\f\r /]++)")
VALUE = re.compile(_value(True))  # `=` and a value: the value in group 1, 2 or 3 (none if empty)
# A quoted attribute value holding `<` or `>`: the only thing that can make "a tag ends at its
# first `>`" wrong, or hide a candidate inside a tag. A superset: it may also fire in text.
_QUOTED_LT_GT = re.compile(rb"=[\t\n\f\r ]*+(?:\"[^\"<>]*+|'[^'<>]*+)[<>]")
_COMMENT_END = re.compile(rb"--!?>")
_CDATA_END = re.compile(rb"]]>")
_NOT_WS = re.compile(rb"[^\t\n\f\r ]")

InitialState = Literal["data", "plaintext", "rcdata", "rawtext", "script", "cdata"]

# Modes of the scanner.
_DATA, _SCRIPT, _RAWTEXT, _RCDATA, _PLAINTEXT, _CDATA, _COMMENT, _BOGUS, _TAGTAIL = range(9)
# Script data sub-states.
_NORMAL, _ESCAPED, _DOUBLE = range(3)


class Attr(NamedTuple):
    """One attribute of a tag; offsets are absolute positions in the stream."""

    name: bytes  # lower-case
    value: bytes  # raw bytes between the quotes (character references not decoded)
    start: int  # first byte of the name
    name_end: int
    end: int  # after the value (and its closing quote)
    value_start: int  # -1 when the attribute has no value
    quote: bytes  # b'"', b"'", or b"" (unquoted or no value)


@dataclass(slots=True)
class Event:
    """A token the caller asked for; ``start``/``end`` are absolute stream offsets."""

    kind: int
    name: str
    start: int
    end: int
    name_end: int = 0  # end of the tag name (start/end tags)
    self_closing: bool = False  # only worked out where it matters: svg, math, foreign content
    foreign: bool = False  # a start tag inside svg/math (e.g. an SVG <script>: not raw text)
    truncated: bool = False  # the tag outgrew max_buffer: attributes seen so far only
    # A raw-text element met after a guess about foreign content (consentgate.html.foreign):
    # the stack as it would be had the guess gone the other way, where its content is markup.
    alternative: ForeignContent | None = None


_ATTR_PAIRS = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r /=>]*+)"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
    rb"(?:\"([^\"]*+)(?:\"|\Z)|'([^']*+)(?:'|\Z)|([^\t\n\f\r >\"'][^\t\n\f\r >]*+)|(?=>|\Z)))?"
    rb"|[\t\n\f\r /]++"
)


def attr_map(data: bytes, start: int, end: int) -> dict[bytes, bytes]:
    """Lower-case attribute name -> raw value for the tag bytes ``data[start:end]``; the first
    of duplicate names wins. The fast path: no offsets (see :func:`parse_attrs`)."""
    found: dict[bytes, bytes] = {}
    for name, double, single, bare in _ATTR_PAIRS.findall(data, start, end):
        if name:
            key = name.lower()
            if key not in found:
                found[key] = double or single or bare
    return found


def attr_names(data: bytes, start: int, end: int) -> list[tuple[int, int, int, bytes]]:
    """``(start, name_end, end, lower-case name)`` of each attribute of ``data[start:end]``
    that counts (the first of each name), in order."""
    found = []
    seen: set[bytes] = set()
    for m in _ATTR.finditer(data, start, end):
        if m.lastindex == 5:
            continue
        name = m.group(1).lower()
        if name not in seen:
            seen.add(name)
            found.append((m.start(), m.end(1), m.end(), name))
    return found


_VALUE = re.compile(_value(False))


@cache
def _attr_finder(names: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """Skips, in C, every attribute not named in ``names``; group 1 is the next name that is."""
    wanted = b"|".join(ci(n) for n in sorted(names, key=len, reverse=True))
    ends = rb"(?=[\t\n\f\r /=>]|\Z)"
    return re.compile(
        rb"(?:[\t\n\f\r /]++|(?!(?:" + wanted + rb")" + ends + rb")[^\t\n\f\r />][^\t\n\f\r /=>]*+"
        rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >\"'][^\t\n\f\r >]*+|(?=>|\Z)))?"
        rb")*+(" + wanted + rb")" + ends
    )


def named_attrs(
    data: bytes, start: int, end: int, names: tuple[bytes, ...]
) -> list[tuple[int, int, int, bytes]]:
    """:func:`attr_names`, restricted to the lower-case ``names`` (faster: the attributes in
    between are skipped by one regex)."""
    finder = _attr_finder(names)
    found = []
    seen: set[bytes] = set()
    pos = start
    while len(seen) < len(names):
        m = finder.match(data, pos, end)
        if m is None:
            break
        name_start, name_end = m.span(1)
        value = _VALUE.match(data, name_end, end)
        pos = value.end() if value is not None else name_end
        name = m.group(1).lower()
        if name not in seen:
            seen.add(name)
            found.append((name_start, name_end, pos, name))
    return found


# The attributes, then the run of separators they end with (group 1): a tag is self-closing
# when that run ends with the `/` right before `>` (a `/` inside an unquoted value does not
# count). One match where parse_attrs() builds every attribute.
_CLOSING_TAIL = re.compile(
    rb"(?:[\t\n\f\r /]*+" + _NAME + b"(?:" + _value(False) + rb")?)*+([\t\n\f\r /]*+)\Z"
)


def self_closing(data: bytes, start: int, end: int) -> bool:
    """The self-closing flag of the tag whose attributes are ``data[start:end]`` (after the
    name, before ``>``): what :func:`parse_attrs` returns second, without the attributes."""
    if end <= start or data[end - 1] != 0x2F:
        return False
    m = _CLOSING_TAIL.match(data, start, end)
    if m is None:  # not reached for tag bytes; the long way is always right
        return parse_attrs(data, start, end)[1]
    return m.end(1) > m.start(1)


def parse_attrs(data: bytes, start: int, end: int, base: int = 0) -> tuple[list[Attr], bool]:
    """Attributes of the tag bytes ``data[start:end]`` (after the name, before ``>``).

    Returns the attributes, duplicates removed (the first one wins, as in browsers), and the
    self-closing flag. Offsets in the result are ``base`` + index into ``data``.
    """
    attrs: list[Attr] = []
    seen: set[bytes] = set()
    self_closing = False
    for m in _ATTR.finditer(data, start, end):
        last = m.lastindex or 0
        if last == 5:
            self_closing = m.end() == end and data[m.end() - 1] == 0x2F
            continue
        self_closing = False
        name = m.group(1).lower()
        if name in seen:
            continue
        seen.add(name)
        if last == 1:
            attrs.append(Attr(name, b"", base + m.start(), base + m.end(1), base + m.end(), -1, b""))
        else:
            quote = b'"' if last == 2 else b"'" if last == 3 else b""
            attrs.append(
                Attr(
                    name,
                    m.group(last),
                    base + m.start(),
                    base + m.end(1),
                    base + m.end(),
                    base + m.start(last),
                    quote,
                )
            )
    return attrs, self_closing


def cut_attr_map(data: bytes, start: int, end: int) -> dict[bytes, bytes]:
    """The whole attributes of a tag cut at ``end`` (the buffer bound), as a map: those of
    :func:`parse_attrs` but the last when it reaches ``end`` (a quoted value the cut falls in
    runs to it, so a cut tag has no more attributes than its bytes before the cut hold)."""
    attrs = parse_attrs(data, start, end)[0]
    if attrs and attrs[-1].end >= end:
        attrs.pop()
    return {a.name: a.value for a in attrs}


_ci = ci


def _alternation(names: Iterable[str]) -> bytes:
    # Longest first so that `noscript` is not shadowed by a shorter name sharing its prefix.
    return b"|".join(_ci(n) for n in sorted(set(names), key=lambda n: (-len(n), n)))


@cache
def _finder(start_names: frozenset[str] | None, end_names: frozenset[str] | None) -> re.Pattern[bytes]:
    """The candidate regex: interesting start/end tags, comments and CDATA openers."""
    # One leading literal `<`, so the regex engine skips to each `<` at memchr speed.
    return re.compile(rb"<(?:" + _candidates(start_names, end_names) + rb")")


@cache
def _skipper(start_names: frozenset[str] | None, end_names: frozenset[str] | None) -> re.Pattern[bytes]:
    """Matches a run of whole tokens that are not candidates (text, other tags, doctypes,
    bogus comments), read exactly; it stops at a candidate or at an unfinished token. The
    slow path of the scanner, for stretches where a quoted value holds `<` or `>`."""
    token = (
        rb"[a-zA-Z][^\t\n\f\r />]*+" + _ATTRS + rb">"
        rb"|/[a-zA-Z][^\t\n\f\r />]*+" + _ATTRS + rb">"
        rb"|/(?![a-zA-Z])[^>]*+>"
        rb"|[!?][^>]*+>"
        rb"|(?=[^a-zA-Z!/?])"  # a `<` that starts nothing (not at the end: more may come)
    )
    return re.compile(rb"(?:[^<]++|<(?!" + _candidates(start_names, end_names) + rb")(?:" + token + rb"))*+")


def _candidates(start_names: frozenset[str] | None, end_names: frozenset[str] | None) -> bytes:
    parts = [rb"!--", rb"!\[CDATA\["]
    if start_names is None:
        parts.append(rb"[a-zA-Z!?/]")
    elif start_names:
        parts.append(rb"(?:" + _alternation(start_names) + rb")(?=[\t\n\f\r />])")
    if end_names is None:
        parts.append(rb"/[a-zA-Z]")
    elif end_names:
        parts.append(rb"/(?:" + _alternation(end_names) + rb")(?=[\t\n\f\r />])")
    return b"|".join(parts)


# Elements whose start changes the tokenizer state: always looked for, reported or not.
_STATE_CHANGERS = STATE_CHANGERS


@cache
def _scanned(names: frozenset[str], with_a: bool) -> frozenset[str]:
    return names | _STATE_CHANGERS | ({"a"} if with_a else set())


@cache
def _end_tag_finder(name: str) -> re.Pattern[bytes]:
    return re.compile(rb"</" + _ci(name) + rb"(?=[\t\n\f\r />])")


_SCRIPT_END = rb"</[sS][cC][rR][iI][pP][tT](?=[\t\n\f\r />])"


@cache
def _script_finders(name: str) -> tuple[re.Pattern[bytes], ...]:
    """Searches for script data, escaped and double-escaped states. ``name`` is the element
    whose end tag is appropriate (always "script" outside the conformance tests)."""
    # Alternatives that share their first byte are written as one `<(?:...)`: the regex
    # engine then runs to each `<` at memchr speed (scripts are the longest text of a page).
    end = (b"|/" + _ci(name) + rb"(?=[\t\n\f\r />])") if name else b""
    return (
        re.compile(rb"<(?:!--" + end + rb")"),
        re.compile(rb"-->|<(?:[sS][cC][rR][iI][pP][tT](?=[\t\n\f\r />])" + end + rb")"),
        re.compile(rb"-->|" + _SCRIPT_END),
    )


_SCRIPT_FINDERS = _script_finders("script")
_SCRIPT_TAIL = 9  # len("</script") + 1: bytes kept back when nothing was found


class Tokenizer:
    """Scans a byte stream fed in chunks and reports the tags that matter.

    ``start_names``/``end_names``: lower-case tag names to report (``None``: every tag, plus
    comments and text; the conformance tests use that). Elements that change the tokenizer's
    state (raw text, RCDATA, ``plaintext``, ``svg``/``math``) are always tracked.
    ``switch_states=False`` keeps the tokenizer in its initial state family, as the html5lib
    tokenizer tests expect (no tree builder telling it that ``<script>`` starts script data).

    The caller reads bytes with :meth:`slice` and says which bytes it no longer needs with
    :meth:`release`; ``safe`` (after :meth:`feed`) is the offset before which no future event
    can start.

    >>> t = Tokenizer(frozenset({"script"}), frozenset({"script"}))
    >>> [(e.name, e.start) for e in t.feed(b'<p title="<script>">x</p><script>a<b</script>')]
    [('script', 25), ('script', 36)]
    """

    def __init__(
        self,
        start_names: frozenset[str] | None = frozenset(),
        end_names: frozenset[str] | None = frozenset(),
        *,
        max_buffer: int = 65536,
        initial_state: InitialState = "data",
        last_start_tag: str | None = None,
        switch_states: bool = True,
        fast: bool = True,
        scripting: bool = True,
        tree: ForeignContent | None = None,
        cdata: bool = True,
    ) -> None:
        self.max_buffer = max(max_buffer, 64)
        self.switch_states = switch_states
        self._scripting = scripting  # False: <noscript> content is markup (a browser without JS)
        self._cdata = cdata  # False: `<![CDATA[` is a bogus comment even in svg/math
        # Return after each reported tag, so the caller can change what to look for next
        # (the rewriter looks at every tag only until the head snippet is placed).
        self.step = False
        self.stepped = False  # the last feed() stopped after a tag, with input left
        self._start_names = start_names
        self._end_names = end_names
        self.report_all = start_names is None
        self._buf = b""
        self._base = 0  # absolute offset of _buf[0]
        self._pos = 0  # absolute offset where scanning resumes
        self.safe = 0
        self._mode = {
            "data": _DATA,
            "plaintext": _PLAINTEXT,
            "rcdata": _RCDATA,
            "rawtext": _RAWTEXT,
            "script": _SCRIPT,
            "cdata": _CDATA,
        }[initial_state]
        self._raw_name = last_start_tag or ""
        self._script_state = _NORMAL
        self._after_mode = _DATA  # mode to enter when a truncated tag (TAGTAIL) ends
        self._tail_state = 0
        self._tree = tree.copy() if tree is not None else ForeignContent()  # svg/math nesting
        if initial_state == "cdata":
            self._tree.enter("svg")
        self._keep = 0  # the caller needs bytes from here on (absolute)
        self._lowered: bytes | None = None  # the buffer lower-cased, for the fast path
        self._ping_seen = False  # `ping=` met in the input so far
        self._fast_wanted = fast
        self._quiet: tuple[frozenset[str], bytes] = (frozenset(), b"")
        self._more_quiet: tuple[tuple[frozenset[str], bytes], ...] = ()
        self._quiet_known: QuietKnown | None = None
        # (the fast-path scanners, with and without `<a ping>`; None: to be looked up when the
        # tokenizer next runs: set_names and set_quiet often follow each other, and __init__)
        self._fast_pair: tuple[FastScanner | None, FastScanner | None] | None = None
        self._exact_step = False  # the fast path handed the next token to the exact one
        self._set_fast()
        self._finders: dict[tuple[bool, bool, int], tuple[re.Pattern[bytes], re.Pattern[bytes]]] = {}
        self._comment_start = 0

    # -- buffer ------------------------------------------------------------------------------
    def slice(self, start: int, end: int) -> bytes:
        return self._buf[start - self._base : end - self._base]

    def attrs(self, start: int, end: int) -> dict[bytes, bytes]:
        """:func:`attr_map` of the stream bytes ``[start, end)``, without copying them."""
        return attr_map(self._buf, start - self._base, end - self._base)

    def count(self, sub: bytes, start: int, end: int) -> int:
        return self._buf.count(sub, start - self._base, end - self._base)

    def release(self, offset: int) -> None:
        """The caller will not ask for bytes before ``offset`` again."""
        self._keep = offset

    @property
    def position(self) -> int:
        """Where scanning resumes: after ``feed(final=True)``, the start of a token cut by EOF."""
        return self._pos

    @property
    def buffered(self) -> int:
        return len(self._buf) - (self._pos - self._base)

    def set_names(self, start_names: frozenset[str] | None, end_names: frozenset[str] | None) -> None:
        self._start_names = start_names
        self._end_names = end_names
        self.report_all = start_names is None
        self._finders.clear()
        self._set_fast()

    def set_quiet(
        self,
        names: frozenset[str],
        wanted: bytes,
        more: tuple[tuple[frozenset[str], bytes], ...] = (),
        known: QuietKnown | None = None,
    ) -> None:
        """From now on, start tags in ``names`` are reported only when they pass the regex
        lookahead ``wanted``, and those of each ``(names, wanted)`` in ``more`` when they pass
        its own (the fast path applies them; the exact one reports them all). ``known``: see
        :data:`consentgate.html.fastscan.QuietKnown`."""
        self._quiet = (names, wanted)
        self._more_quiet = more
        self._quiet_known = known
        self._set_fast()

    def _set_fast(self) -> None:
        self._fast_pair = None

    def _fast_scanners(self) -> tuple[FastScanner | None, FastScanner | None]:
        """The fast path's scanners, with and without `<a ping>` (None: no fast path)."""
        if self._fast_pair is not None:
            return self._fast_pair
        start, end = self._start_names, self._end_names
        usable = self._fast_wanted and self.switch_states and start is not None and end is not None
        pair: tuple[FastScanner | None, FastScanner | None] = (None, None)
        if usable and start is not None and end is not None:
            more, known = self._more_quiet, self._quiet_known
            pair = (
                fast_scanner(start, end, *self._quiet, self._scripting, more_quiet=more, quiet_known=known),
                # Until the page says `ping=`, <a> needs no look at all.
                fast_scanner(
                    start, end, *self._quiet, self._scripting, pings=False, more_quiet=more, quiet_known=known
                ),
            )
        self._fast_pair = pair
        return pair

    @property
    def _wants_a(self) -> bool:
        # `<a ping>` is the only reason to look at <a>, the most common tag of all: both
        # scanners look at it only once the page has said `ping=` somewhere (see feed()).
        return self._ping_seen

    # -- driving -----------------------------------------------------------------------------
    def feed(self, data: bytes, final: bool = False) -> list[Event]:
        drop = min(self._keep, self._pos) - self._base
        lowered = self._lowered
        if drop > 0:
            self._buf = self._buf[drop:] + data
            self._base += drop
            # Kept up to date where it was in use, else made when the fast path needs it.
            self._lowered = lowered[drop:] + data.lower() if lowered is not None else None
        elif data:
            self._buf += data
            self._lowered = lowered + data.lower() if lowered is not None else None
        self._exact_step = False
        if not self._ping_seen and data:
            # In the lower-cased buffer, from 8 bytes before the new data (a `ping=` cut
            # between feeds; `ping  ` at the end counts).
            start = max(0, len(self._buf) - len(data) - 8)
            if speedups is not None:  # the same, on the page as it is: no lower-cased copy
                self._ping_seen = speedups.says_ping(self._buf, start)
            else:
                if self._lowered is None:
                    self._lowered = self._buf.lower()
                self._ping_seen = _PING.search(self._lowered, start) is not None
        events: list[Event] = []
        self.stepped = False
        self._run(events, final)
        return events

    def _run(self, events: list[Event], final: bool) -> None:
        buf = self._buf
        base = self._base
        n = len(buf)
        i = self._pos - base
        while True:
            mode = self._mode
            if mode == _DATA:
                fast, plain = self._fast_scanners()
                if fast is None or self._exact_step or self.step:
                    i = self._scan_markup(buf, i, n, events, final)
                elif not self._every_tag:
                    i = self._scan_fast(
                        fast if self._ping_seen or plain is None else plain, buf, i, n, events, final
                    )
                elif self._tree.foreign and self._tree.alternative is None:
                    i = self._scan_foreign(buf, i, n, events)
                else:
                    i = self._scan_markup(buf, i, n, events, final)
            elif mode == _SCRIPT:
                i = self._scan_script(buf, i, n, events, final)
            elif mode in (_RAWTEXT, _RCDATA):
                i = self._scan_raw(buf, i, n, events, final)
            elif mode == _PLAINTEXT:
                if self.report_all and i < n:
                    events.append(Event(TEXT, "", base + i, base + n))
                i = n
                self.safe = base + n
                self._stalled = True
            elif mode == _CDATA:
                i = self._scan_until(buf, i, n, _CDATA_END, 2, final, CDATA, events)
            elif mode == _COMMENT:
                i = self._scan_until(buf, i, n, _COMMENT_END, 3, final, COMMENT, events)
            elif mode == _BOGUS:
                i = self._scan_until(buf, i, n, _GT, 0, final, COMMENT, events)
            else:
                i = self._scan_tag_tail(buf, i, n, events)
            if self._mode == mode and self._stalled:
                break
            if self.step and events and events[-1].kind in (START, END):
                self.stepped = True
                break
        self._pos = base + i
        if final and not self.stepped:
            self.safe = base + n

    # -- markup (data state, HTML or foreign content) ----------------------------------------
    _stalled = False

    def _finder_now(self) -> re.Pattern[bytes]:
        return self._scanners()[0]

    def _scanners(self) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
        key = (self.report_all, self._wants_a, self._every_tag)
        scanners = self._finders.get(key)
        if scanners is None:
            names = self._candidate_names()
            scanners = self._finders[key] = (_finder(*names), _skipper(*names))
        return scanners

    @property
    def _every_tag(self) -> bool:
        return self._tree.depth > 1 or self._tree.alternative is not None

    def _candidate_names(self) -> tuple[frozenset[str] | None, frozenset[str] | None]:
        if self.report_all or self._every_tag:
            # Inside svg/math every tag moves the stack of open elements (see
            # consentgate.html.foreign); only the wanted ones are reported.
            return None, None
        starts = _scanned(self._start_names or frozenset(), self._wants_a and self.switch_states)
        return starts, self._end_names

    def _scan_markup(self, buf: bytes, i: int, n: int, events: list[Event], final: bool) -> int:
        """Advance through markup; returns the new index; sets _stalled when out of data."""
        base = self._base
        self._stalled = False
        every = self._every_tag
        finder = self._finder_now()
        while True:
            if self._every_tag != every:  # entered or left svg/math
                every = self._every_tag
                finder = self._finder_now()
            m = finder.search(buf, i)
            p = m.start() if m is not None else n
            if buf.find(b"<", i, p) >= 0 and not self._in_data_state(buf, i, p, n):
                p = self._exact_next(buf, i, n)
            if p >= n:
                # Nothing more to report in this buffer: everything up to the last unfinished
                # token (if any) is plain data.
                hold = self._unfinished_from(buf, i, n)
                if final and hold < n:
                    nxt = buf[hold + 1 : hold + 2]
                    if not nxt or (nxt == b"/" and hold + 2 >= n):
                        hold = n  # a lone `<` or `</` at EOF is text
                    elif not (nxt.isalpha() or (nxt == b"/" and buf[hold + 2 : hold + 3].isalpha())):
                        self._mode = _BOGUS  # `<!x`, `<?x` cut by EOF: a bogus comment to the end
                        self._comment_start = base + hold
                        return hold
                if self.report_all and hold > i:
                    events.append(Event(TEXT, "", base + i, base + hold))
                if hold < n and n - hold > self.max_buffer:
                    i = self._overflow(buf, hold, n, events)
                    if self._mode != _DATA:
                        return i
                    continue
                self.safe = base + hold
                self._stalled = True
                return hold
            if self.report_all and p > i:
                events.append(Event(TEXT, "", base + i, base + p))
            j = self._token(buf, p, n, events, final)
            if j < 0:  # unfinished token at p
                if n - p > self.max_buffer:
                    i = self._overflow(buf, p, n, events)
                    if self._mode != _DATA:
                        return i
                    continue
                self.safe = base + p
                self._stalled = True
                return p
            i = j
            self.safe = base + i
            if self._mode != _DATA or (self.step and events and events[-1].kind in (START, END)):
                return i
            if self._fast_scanners()[0] is not None and (not self._every_tag or self._exact_step):
                self._exact_step = False  # back to the fast path (or the foreign one)
                return i

    def _scan_fast(
        self, scanner: FastScanner, buf: bytes, i: int, n: int, events: list[Event], final: bool
    ) -> int:
        """The fast path through markup (see consentgate.html.fastscan); returns where the
        exact scanner or another mode takes over, or where the unfinished tail starts."""
        base = self._base
        limit = self.max_buffer
        leaves = scanner.leaves
        self._stalled = False
        lo = i  # in the data state: every token before it is read
        if scanner.cased:
            lowered = buf  # the C scan reads the page as it is
        elif self._lowered is not None:
            lowered = self._lowered
        else:
            lowered = self._lowered = buf.lower()  # once per feed: see consentgate.html.fastscan
        scan = scanner.scan
        pos = i
        while True:
            code, found, lo = scan(lowered, pos, lo, n, final)
            if code != SCAN_MATCH:
                if code == SCAN_HAND_OVER:
                    return self._hand_over(lo)
                break
            index, p, pos, attrs_end, tag_start = found  # type: ignore[misc]  # SCAN_MATCH comes with one
            leaf: Leaf = leaves[index]  # type: ignore[assignment]  # every alternative ends in a leaf
            kind = leaf.kind
            if attrs_end < 0 or attrs_end + 1 - p > limit:
                # Unfinished, or longer than the buffer bound: the exact scanner reads it. From
                # p, not lo: p's place is proved, and what lies between is no candidate. (From
                # lo, each token before p would come back here to read the long tag again.)
                return self._hand_over(p)
            end = attrs_end + 1
            name = leaf.name
            if kind == "end":
                events.append(Event(END, name, base + p, base + end, base + p + 2 + len(name)))
                lo = end
                continue
            name_end = p + 1 + len(name)
            if kind == "tag" or kind == "a":
                events.append(Event(START, name, base + p, base + end, base + name_end))
                lo = end
                continue
            if kind == "foreign":
                closing = self_closing(buf, name_end, attrs_end)
                if leaf.reported:
                    events.append(Event(START, name, base + p, base + end, base + name_end, closing))
                lo = end
                if not closing:
                    self._tree.enter(name)
                    return self._leave_fast(end)
                continue
            if leaf.reported:
                events.append(Event(START, name, base + p, base + end, base + name_end))
            if kind == "plaintext":
                self._mode = _PLAINTEXT
                return self._leave_fast(end)
            if tag_start < 0 or pos - tag_start > limit:
                # content or end tag not all here (or escaped script data): raw-text modes
                if kind == "script":
                    self._mode = _SCRIPT
                    self._script_state = _NORMAL
                else:
                    self._mode = _RCDATA if name in RCDATA_ELEMENTS else _RAWTEXT
                self._raw_name = name
                return self._leave_fast(end)
            lo = pos
            if leaf.end_reported:
                events.append(Event(END, name, base + tag_start, base + lo, base + tag_start + 2 + len(name)))
        hold = settle(buf, lo, n)
        if hold < 0 or n - hold > limit or (final and hold < n):
            return self._hand_over(lo)  # the exact scanner knows what EOF makes of a cut token
        self.safe = base + hold
        self._stalled = True
        return hold

    def _scan_foreign(self, buf: bytes, i: int, n: int, events: list[Event]) -> int:
        """The fast path through svg/math content: start tags that only open an element (and
        are reported or not) and end tags that report nothing move the stack of open elements
        here, one regex match each; any other token (comments, CDATA, tags that leave foreign
        content or open an integration point) goes to the exact scanner."""
        tree = self._tree
        frames = tree.frames
        base = self._base
        limit = self.max_buffer
        special_starts, special_ends = _FOREIGN_SPECIAL_STARTS, self._foreign_special_ends
        reported = self._start_names or frozenset()
        self._stalled = False
        while True:
            m = _FOREIGN_STEP.match(buf, i)
            if m is None or m.end() - m.start(1) >= limit:
                return self._hand_over(i)
            name = m.group(2).decode("latin-1").lower()  # as _token() reads it
            if m.group(1):
                if name in special_ends:
                    return self._hand_over(i)
                depth = len(frames)
                tree.end(name)
                i = m.end()
                self.safe = base + i
                if len(frames) != depth or tree.alternative is not None:
                    return i  # left that element's frame: the caller picks the scanner
                continue
            if name in special_starts:
                return self._hand_over(i)
            end = m.end()
            closing = self_closing(buf, m.start(3), m.end(3))
            if name in reported:  # svg <use>, <image>...: as _token() reports it
                depth = len(frames)
                p = m.start(1) - 1
                self._start_tag(buf, name, p, end, m.end(2), closing, events)
                i = end
                self.safe = base + i
                if len(frames) != depth or tree.alternative is not None or not tree.foreign:
                    return i
                continue
            if not closing:
                frames[-1].open.append(name)
            i = end
            self.safe = base + i

    @property
    def _foreign_special_ends(self) -> frozenset[str]:
        """End tag names that :meth:`_scan_foreign` hands to the exact scanner (its start tags
        are ``_FOREIGN_SPECIAL_STARTS``: reported ones that only open an element it reports)."""
        found = _FOREIGN_SPECIAL_ENDS_BY_NAMES.get(self._end_names)
        if found is None:
            found = _FOREIGN_SPECIAL_ENDS_BY_NAMES[self._end_names] = _FOREIGN_SPECIAL_ENDS | (
                self._end_names or frozenset()
            )
        return found

    def _hand_over(self, i: int) -> int:
        """The exact scanner reads the next token from ``i`` (in the data state)."""
        self._exact_step = True
        return self._leave_fast(i)

    def _leave_fast(self, i: int) -> int:
        self.safe = self._base + i
        self._stalled = False
        return i

    def _in_data_state(self, buf: bytes, lo: int, p: int, n: int) -> bool:
        """Is ``p`` (a candidate, or ``n``) outside every tag, given ``lo`` is in the data state?

        Without a quoted value holding `<` or `>` in between, every tag ends at its first `>`,
        so ``p`` is in the data state unless the last tag opened before it is still unclosed.
        """
        if _QUOTED_LT_GT.search(buf, lo, min(p + 1, n)) is not None:
            return False
        q = p
        while True:
            q = buf.rfind(b"<", lo, q)
            if q < 0:
                return True
            nxt = buf[q + 1 : q + 2]
            if nxt.isalpha() or nxt in (b"!", b"/", b"?"):
                return buf.find(b">", q + 1, p) >= 0

    def _exact_next(self, buf: bytes, i: int, n: int) -> int:
        """Tokenise exactly from ``i``; position of the next candidate or unfinished token."""
        return self._scanners()[1].match(buf, i).end()  # type: ignore[union-attr]  # `*+` always matches

    def _skip_token(self, buf: bytes, p: int, n: int) -> int:
        """End of the uninteresting token at ``p`` (``p + 1`` for a text `<`); -1 if unfinished."""
        nxt = buf[p + 1 : p + 2]
        if not nxt:
            return -1
        if nxt.isalpha() or (nxt == b"/" and buf[p + 2 : p + 3].isalpha()):
            m = _TAG.match(buf, p)
            return m.end() if m is not None else -1
        if nxt == b"!" or nxt == b"?" or nxt == b"/":
            if nxt == b"/" and p + 2 >= n:
                return -1
            if buf.startswith(b"<!-", p) and p + 4 > n:
                return -1
            if self._cdata and self._in_foreign() and b"<![CDATA["[: n - p] == buf[p : p + 9]:
                return -1  # may become a CDATA opener, which is a candidate
            gt = buf.find(b">", p)
            return gt + 1 if gt >= 0 else -1
        return p + 1

    def _unfinished_from(self, buf: bytes, i: int, n: int) -> int:
        """Start of the unfinished token at the end of ``buf[i:n]``, or ``n``."""
        if not self._in_data_state(buf, i, n, n):
            p = self._exact_next(buf, i, n)
            return p if p < n else n
        q = n
        while True:
            q = buf.rfind(b"<", i, q)
            if q < 0:
                return n
            nxt = buf[q + 1 : q + 2]
            if not nxt or nxt.isalpha() or nxt in (b"!", b"/", b"?"):
                return q if buf.find(b">", q + 1, n) < 0 else n

    def _in_foreign(self) -> bool:
        return self._tree.foreign

    def _token(self, buf: bytes, p: int, n: int, events: list[Event], final: bool) -> int:
        """Handle the token at ``p`` (a candidate); returns its end, or -1 if unfinished."""
        base = self._base
        nxt = buf[p + 1 : p + 2]
        if nxt == b"!" or nxt == b"?" or (nxt == b"/" and not buf[p + 2 : p + 3].isalpha()):
            if buf.startswith(b"<!--", p):
                return self._comment(buf, p, n, events, final)
            if buf.startswith(b"<![CDATA[", p) and self._cdata and self._in_foreign():
                self._mode = _CDATA
                self._comment_start = base + p
                if not self.report_all:
                    # Reported as an element of its own: should this not be foreign content
                    # after all, it is a bogus comment to the first `>` and the rest markup.
                    events.append(Event(START, CDATA_NAME, base + p, base + p + 9, base + p + 9))
                return p + 9
            end = self._skip_token(buf, p, n)
            if end < 0 and final:
                if buf[p + 1 : p + 2] == b"/" and p + 2 >= n:
                    return n  # `</` at the end of the input is text
                self._mode = _BOGUS  # cut by EOF: a bogus comment to the end
                self._comment_start = base + p
                return p
            if end >= 0 and self.report_all and buf[p : p + 3] != b"</>":
                events.append(Event(COMMENT, "", base + p, base + end))
            return end
        # Read no further than the buffer bound: a longer tag is cut there anyway (and a 150 KB
        # `data:` frame would be read whole once more).
        m = _TAG.match(buf, p, min(n, p + self.max_buffer + 1))
        if m is None:
            return -1
        end = m.end()
        if end - p > self.max_buffer:  # as if it had arrived in pieces: see _overflow
            return self._overflow(buf, p, n, events)
        name = m.group(2).decode("latin-1").lower()
        if m.group(1):
            self._end_tag(name, base + p, base + end, base + m.end(2), events)
            return end
        closing = False
        if buf[end - 2] == 0x2F and m.end(3) > m.start(3) and (name in ("svg", "math") or self._every_tag):
            closing = self_closing(buf, m.start(3), m.end(3))
        self._start_tag(buf, name, p, end, m.end(2), closing, events)
        return end

    def _comment(self, buf: bytes, p: int, n: int, events: list[Event], final: bool) -> int:
        base = self._base
        if p + 6 > n and not final:
            return -1  # `<!-->` and `<!--->` need up to six bytes to tell
        if buf.startswith(b">", p + 4):
            end = p + 5
        elif buf.startswith(b"->", p + 4):
            end = p + 6
        else:
            m = _COMMENT_END.search(buf, p + 4)
            if m is None:
                # Comments can be long and need no rewriting: stream through them.
                self._mode = _COMMENT
                self._comment_start = base + p
                return p + 4
            end = m.end()
        if self.report_all:
            events.append(Event(COMMENT, "", base + p, base + end))
        return end

    def _start_tag(
        self,
        buf: bytes,
        name: str,
        p: int,
        end: int,
        name_end: int,
        self_closing: bool,
        events: list[Event],
    ) -> None:
        base = self._base
        tree = self._tree
        foreign = False
        if self.switch_states or tree.depth > 1:
            foreign = tree.start(
                name,
                self_closing,
                font_breaks=name == "font" and _FONT_ATTR.search(buf, name_end, end) is not None,
                html_encoding=_is_html_annotation(buf, name, name_end, end),
            )
        alternative = None
        if tree.alternative is not None and not foreign and name in _RAW_ELEMENTS:
            alternative = tree.alternative.copy()
        if (
            self.report_all
            or (self._start_names is not None and name in self._start_names)
            or (name == "a" and self._wants_a and _has_ping(buf, name_end, end))
            or (foreign and name == "script")
            or alternative is not None
        ):
            events.append(
                Event(
                    START,
                    name,
                    base + p,
                    base + end,
                    base + name_end,
                    self_closing,
                    foreign,
                    alternative=alternative,
                )
            )
        if foreign or not self.switch_states:
            return
        if name == "script":
            self._mode = _SCRIPT
            self._script_state = _NORMAL
            self._raw_name = name
        elif name in RAWTEXT_ELEMENTS and (self._scripting or name != "noscript"):
            self._mode = _RAWTEXT
            self._raw_name = name
        elif name in RCDATA_ELEMENTS:
            self._mode = _RCDATA
            self._raw_name = name
        elif name == "plaintext":
            self._mode = _PLAINTEXT

    def _end_tag(self, name: str, start: int, end: int, name_end: int, events: list[Event]) -> None:
        tree = self._tree
        if tree.depth > 1 or tree.alternative is not None:
            foreign = tree.foreign
            tree.end(name)
            if foreign and name == "script":  # the end of an SVG/MathML script's content
                events.append(Event(END, name, start, end, name_end, foreign=True))
                return
        if self.report_all or (self._end_names is not None and name in self._end_names):
            events.append(Event(END, name, start, end, name_end))

    # -- raw text ----------------------------------------------------------------------------
    def _raw_end(self, buf: bytes, p: int, n: int, events: list[Event]) -> int:
        """The appropriate end tag at ``p``: its end, or -1 if unfinished."""
        m = _TAG.match(buf, p)
        if m is None:
            return -1
        if m.end() - p > self.max_buffer:
            return self._hold_end_tag(buf, p, n, events)
        name = self._raw_name
        self._mode = _DATA
        if (
            self.report_all
            or (self._end_names is not None and name in self._end_names)
            or name in _ALWAYS_ENDED
            or self._tree.alternative is not None
        ):
            base = self._base
            events.append(Event(END, name, base + p, base + m.end(), base + m.end(2)))
        return m.end()

    def _scan_raw(self, buf: bytes, i: int, n: int, events: list[Event], final: bool) -> int:
        base = self._base
        self._stalled = False
        name = self._raw_name
        if not name:  # no appropriate end tag possible (html5lib tests without lastStartTag)
            return self._text_to(buf, i, n, n, events, stall=True)
        m = _end_tag_finder(name).search(buf, i)
        if m is None:
            keep = n if final else max(i, n - len(name) - 3)
            return self._text_to(buf, i, keep, n, events, stall=True)
        p = m.start()
        self._text_to(buf, i, p, n, events, stall=False)
        end = self._raw_end(buf, p, n, events)
        if end < 0:
            return self._hold_end_tag(buf, p, n, events)
        self.safe = base + end
        return end

    def _hold_end_tag(self, buf: bytes, p: int, n: int, events: list[Event]) -> int:
        if n - p > self.max_buffer:  # an end tag with 64 KiB of attributes: stream it through
            cut = p + self.max_buffer
            name = self._raw_name
            if (
                self.report_all
                or (self._end_names is not None and name in self._end_names)
                or name in _ALWAYS_ENDED
                or self._tree.alternative is not None
            ):
                base = self._base
                events.append(
                    Event(END, name, base + p, base + cut, base + p + 2 + len(name), truncated=True)
                )
            self._after_mode = _DATA
            self._mode = _TAGTAIL
            self._tail_state = _tail_state_of(buf, p, cut)
            self.safe = self._base + cut
            return cut
        self.safe = self._base + p
        self._stalled = True
        return p

    def _text_to(self, buf: bytes, i: int, j: int, n: int, events: list[Event], *, stall: bool) -> int:
        if self.report_all and j > i:
            events.append(Event(TEXT, "", self._base + i, self._base + j))
        if stall:
            self.safe = self._base + j
            self._stalled = True
        return j

    def _scan_script(self, buf: bytes, i: int, n: int, events: list[Event], final: bool) -> int:
        base = self._base
        self._stalled = False
        finders = _SCRIPT_FINDERS if self._raw_name == "script" else _script_finders(self._raw_name)
        while True:
            state = self._script_state
            m = finders[state].search(buf, i)
            if m is None:
                keep = n if final else max(i, n - _SCRIPT_TAIL)
                return self._text_to(buf, i, keep, n, events, stall=True)
            p = m.start()
            token = m.group()
            if token == b"<!--":
                self._script_state = _ESCAPED
                i = p + 2  # the two dashes also count towards a closing `-->`
            elif token == b"-->":
                self._script_state = _NORMAL
                i = m.end()
            elif token[1:2] == b"/":
                if state == _DOUBLE:  # `</script` ends double escaping, whatever the element
                    self._script_state = _ESCAPED
                    i = m.end()
                    continue
                self._text_to(buf, i, p, n, events, stall=False)
                end = self._raw_end(buf, p, n, events)
                if end < 0:
                    return self._hold_end_tag(buf, p, n, events)
                self.safe = base + end
                return end
            else:
                self._script_state = _DOUBLE
                i = m.end()

    # -- comments, CDATA, bogus comments that outgrew one buffer ------------------------------
    def _scan_until(
        self,
        buf: bytes,
        i: int,
        n: int,
        end_rx: re.Pattern[bytes],
        tail: int,
        final: bool,
        kind: int,
        events: list[Event],
    ) -> int:
        self._stalled = False
        m = end_rx.search(buf, i)
        if m is None and final:
            # EOF: the comment ends here; the mode stays, so closer() can tell what was open.
            self._stalled = True
            if self.report_all:
                events.append(Event(kind, "", self._comment_start, self._base + n))
            self.safe = self._base + n
            return n
        if m is None:
            keep = max(i, n - tail)
            self.safe = self._base + keep
            self._stalled = True
            return keep
        self._mode = _DATA
        if self.report_all:
            events.append(Event(kind, "", self._comment_start, self._base + m.end()))
        elif kind == CDATA:
            start = self._base + m.start()
            events.append(Event(END, CDATA_NAME, start, self._base + m.end(), start))
        self.safe = self._base + m.end()
        return m.end()

    # -- tags longer than max_buffer ---------------------------------------------------------
    def _overflow(self, buf: bytes, p: int, n: int, events: list[Event]) -> int:
        """The token at ``p`` is longer than max_buffer: report what its first max_buffer bytes
        say, and stream the rest. The cut is always ``p + max_buffer``, whatever the chunks,
        so the output does not depend on how the input was split."""
        base = self._base
        cut = p + self.max_buffer
        if buf.startswith(b"<!--", p):
            self._mode = _COMMENT
            self._comment_start = base + p
            return p + 4
        m = _TAG_NAME.match(buf, p)
        if m is not None and m.end() <= cut:  # `<name` or `</name`
            name = m.group(2).decode("latin-1").lower()
            self._after_mode = _DATA
            if m.group(1):
                self._end_tag(name, base + p, base + cut, base + m.end(2), events)
                if events and events[-1].start == base + p:
                    events[-1].truncated = True
            else:
                before = self._mode
                self._start_tag(buf, name, p, cut, m.end(2), False, events)
                if events and events[-1].start == base + p:
                    events[-1].truncated = True
                self._after_mode = self._mode
                self._mode = before
            self._mode = _TAGTAIL
            self._tail_state = _tail_state_of(buf, p, cut)
            self.safe = base + cut
            return cut
        # `<!x`, `<?x`, `</ x`: a bogus comment, or a doctype; ends at the next `>`.
        self._mode = _BOGUS
        self._comment_start = base + p
        return p + 2

    def _scan_tag_tail(self, buf: bytes, i: int, n: int, events: list[Event]) -> int:
        self._stalled = False
        state, end = _advance_tag_state(buf, i, n, self._tail_state)
        self._tail_state = state
        if end < 0:
            self.safe = self._base + n
            self._stalled = True
            return n
        self._mode = self._after_mode
        self.safe = self._base + end
        return end

    def closer(self) -> bytes | None:
        """Bytes that bring the stream back to markup at EOF (``b""`` if it is there already);
        None when nothing can (``<plaintext>``, or inside a tag longer than max_buffer)."""
        mode = self._mode
        if mode == _DATA:
            return b""
        if mode == _SCRIPT:
            end = b"</script>" if self._raw_name == "script" else b""
            return (b"\n-->" + end) if self._script_state == _DOUBLE else end
        if mode in (_RAWTEXT, _RCDATA):
            return b"</" + self._raw_name.encode("ascii") + b">"
        return {_COMMENT: b"-->", _CDATA: b"]]>", _BOGUS: b">"}.get(mode)


_GT = re.compile(rb">")
_ALWAYS_ENDED = frozenset({"script", "iframe", "noscript"})
# Text, then one tag (see Tokenizer._scan_foreign).
_FOREIGN_STEP = re.compile(rb"[^<]*+<(/?)([a-zA-Z][^\t\n\f\r />]*+)(" + ATTRS + rb")>")
# Start tags that do more in svg/math than open an element: they leave it, open an integration
# point, or are reported; end tags that leave it or are reported.
_FOREIGN_SPECIAL_STARTS: Final = (
    BREAKOUT
    | SVG_INTEGRATION
    | MATH_TEXT_INTEGRATION
    | {"font", "a", "svg", "math", "annotation-xml", "script"}
)
_FOREIGN_SPECIAL_ENDS: Final = frozenset({"p", "br", "script"})
_FOREIGN_SPECIAL_ENDS_BY_NAMES: dict[frozenset[str] | None, frozenset[str]] = {}
_PING = re.compile(rb"ping[\t\n\f\r ]*+(?:=|\Z)")  # `\Z`: the `=` may come in the next feed
_RAW_ELEMENTS = RAWTEXT_ELEMENTS | RCDATA_ELEMENTS | {"script", "plaintext"}
_TAG_NAME = re.compile(rb"<(/?)([a-zA-Z][^\t\n\f\r />]*+)")
_FONT_ATTR = re.compile(
    rb"[\t\n\f\r /](?:[cC][oO][lL][oO][rR]|[fF][aA][cC][eE]|[sS][iI][zZ][eE])[\t\n\f\r /=>]"
)
_HTML_ENCODING = re.compile(
    rb"[eE][nN][cC][oO][dD][iI][nN][gG][\t\n\f\r ]*+=[\t\n\f\r ]*+[\"']?"
    rb"(?i:text/html|application/xhtml\+xml)[\"'\t\n\f\r />]"
)


def _has_ping(buf: bytes, start: int, end: int) -> bool:
    return buf[start:end].lower().find(b"ping") >= 0 and b"ping" in attr_map(buf, start, end)


def _is_html_annotation(buf: bytes, name: str, start: int, end: int) -> bool:
    return name == "annotation-xml" and _HTML_ENCODING.search(buf, start, end) is not None


# Tag-interior states for tags longer than max_buffer (rare: a byte-wise walk with jumps).
_T_BEFORE, _T_NAME, _T_AFTER_NAME, _T_BEFORE_VALUE, _T_DQ, _T_SQ, _T_UQ, _T_SLASH = range(8)
_WS_BYTES = frozenset(_WS)


def _tail_state_of(buf: bytes, p: int, n: int) -> int:
    m = _TAG_NAME.match(buf, p)
    start = m.end() if m is not None else p + 2
    return _advance_tag_state(buf, start, n, _T_BEFORE)[0]


def _advance_tag_state(buf: bytes, i: int, n: int, state: int) -> tuple[int, int]:
    """Walk tag-interior bytes from ``state``; returns (state, end after `>` or -1)."""
    while i < n:
        if state in (_T_DQ, _T_SQ):
            q = buf.find(b'"' if state == _T_DQ else b"'", i, n)
            if q < 0:
                return state, -1
            i, state = q + 1, _T_BEFORE
            continue
        c = buf[i]
        if state == _T_UQ:
            if c in _WS_BYTES:
                state = _T_BEFORE
            elif c == 0x3E:
                return state, i + 1
        elif state == _T_BEFORE_VALUE:
            if c == 0x22:
                state = _T_DQ
            elif c == 0x27:
                state = _T_SQ
            elif c == 0x3E:
                return state, i + 1
            elif c not in _WS_BYTES:
                state = _T_UQ
        elif c == 0x3E:
            return state, i + 1
        elif state == _T_NAME:
            if c in _WS_BYTES:
                state = _T_AFTER_NAME
            elif c == 0x2F:
                state = _T_SLASH
            elif c == 0x3D:
                state = _T_BEFORE_VALUE
        elif state == _T_AFTER_NAME:
            if c == 0x3D:
                state = _T_BEFORE_VALUE
            elif c == 0x2F:
                state = _T_SLASH
            elif c not in _WS_BYTES:
                state = _T_NAME
        else:  # _T_BEFORE or _T_SLASH
            if c == 0x2F:
                state = _T_SLASH
            elif c not in _WS_BYTES:
                state = _T_NAME
        i += 1
    return state, -1
