"""The tokenizer's fast path: one compiled regex that finds only the tags that matter.

Most of a page is tags nobody asked about (``div``, ``span``, ``a`` without ``ping``...). The
exact scanner (:class:`consentgate.html.tokenizer.Tokenizer`) proves each candidate is in the
data state by tokenising the bytes before it; here that proof is local and cheap
(:func:`settle`), and the regex itself reads a whole candidate: its start tag with the exact
attribute grammar, and for raw text (``<script>``, ``<style>``, ``<title>``...) the content and
the end tag too, so the Python loop only sees the few tags a caller wants.

Anything unusual (an unfinished tag, ``<!--`` inside a script, ``svg``/``math``, a tag longer
than the buffer bound, a candidate the local proof cannot settle) is handed back to the exact
scanner for one token; the two produce the same events (tests/html/test_fastscan.py).

The pattern runs on the lower-cased bytes (``bytes.lower`` changes ASCII letters only, so
every offset is the same): names are plain literals, which ``re`` tests in one comparison
where a ``[sS]`` class costs a set lookup, at every branch of the name trie.

Cost model (CPython's ``re``): a pattern that starts with one literal byte skips to each
occurrence in C; a character class costs a few nanoseconds per byte it is tried on; each
alternative tried costs a few more. Hence the three-byte prefilter at each ``<`` (one class
per position, which rejects ``div``, ``span``, ``li``, ``p``, end tags... at once) before the
name trie, and ``[^<]*+`` (a single excluded byte, the fastest loop ``re`` has) for content.

The tokenizer asks :func:`scan_py` for one candidate at a time (comments read past, the place
of each proved). With the C speed-ups built (consentgate.html.accel, ``_speedups.c``) the same
function runs in C: it reads the candidates without a lookahead of their own itself and calls
the pattern only for the rest; the answers are the same (tests/html/test_speedups.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import Final, Literal

from consentgate.html.accel import speedups
from consentgate.html.grammar import ATTRS, RAWTEXT_ELEMENTS, RCDATA_ELEMENTS

__all__ = ["FastScanner", "Kind", "Leaf", "fast_scanner", "settle", "settle_py"]

Kind = Literal["script", "raw", "tag", "end", "plaintext", "foreign", "a", "comment"]

_ATTRS = ATTRS
_DELIM = rb"(?=[\t\n\f\r />])"
# Elements whose start tag changes the tokenizer's state: always candidates.
STATE_CHANGERS: Final = frozenset({"script", "plaintext", "svg", "math"}) | RAWTEXT_ELEMENTS | RCDATA_ELEMENTS
# Raw-text elements whose end tag the tokenizer always reports.
ALWAYS_ENDED: Final = frozenset({"script", "iframe", "noscript"})
_LEAF_GROUP = re.compile(r"[^a-z0-9]")


def _lit(name: str | bytes) -> bytes:
    """``name`` as it reads in lower-cased bytes."""
    return re.escape(name.lower().encode("ascii") if isinstance(name, str) else name.lower())


@dataclass(frozen=True)
class Leaf:
    kind: Kind
    name: str  # lower-case element name
    reported: bool  # a START (or, for kind "end", END) event is wanted
    end_reported: bool = False  # raw text: an END event is wanted for its end tag


@dataclass(frozen=True)
class FastScanner:
    pattern: re.Pattern[bytes]
    # group number -> what the group found (its start tag's attributes are the next group,
    # raw text's end tag the one after: see _leaf_pattern)
    leaves: tuple[Leaf | None, ...]
    # `pattern.search`, or the C search that gives the same Match objects (consentgate.html.accel)
    search: Callable[[bytes, int], re.Match[bytes] | None]
    # scan_py for this scanner (on lower-cased bytes), or the same in C (on the page as it is)
    scan: Callable[[bytes, int, int, int, bool], tuple[int, Found | None, int]]
    cased: bool = False  # scan reads the page as it is, not lower-cased


# A candidate as the tokenizer reads it: (its leaf's group, start, end, where its attributes end
# (the `>` is there; -1: the tag is unfinished), where the end tag of its raw text starts (-1:
# not found, or not a raw-text leaf)).
Found = tuple[int, int, int, int, int]

# What the C search needs to rule out a quiet tag itself: the hosts that the quiet lookahead
# knows and the length from which it passes any tag. Given only when the lookahead is exactly
# consentgate.html.rewriter._quiet_lookahead of those hosts (tests/html/test_speedups.py).
QuietKnown = tuple[frozenset[bytes], int]


def _content(name: bytes, *, script: bool) -> bytes:
    """Raw text up to its end tag (script data also stops at ``<!--``: escaped states are the
    exact scanner's job)."""
    stop = rb"/" + _lit(name) + rb"[\t\n\f\r />]" + (rb"|!--" if script else b"")
    return rb"[^<]*+(?:<(?!" + stop + rb")[^<]*+)*+"


def _leaf_pattern(group: str, leaf: Leaf) -> bytes:
    """The group for one leaf."""
    g = group.encode()
    if leaf.kind == "comment":
        # `<!-->` and `<!--->` end at once; otherwise the first `-->` or `--!>` ends it.
        # (Dashes one by one rather than a lazy `.*?`, which `re` retries at every byte.)
        return rb"(?P<" + g + rb">(?P<" + g + rb"_e>-?>|[^-]*+(?:-(?!-!?>)[^-]*+)*+--!?>)?)"
    tag = rb"(?P<" + g + rb"_a>" + _ATTRS + rb")>"
    if leaf.kind in ("script", "raw"):
        name = leaf.name.encode()
        body = (
            _content(name, script=leaf.kind == "script")
            + rb"(?P<"
            + g
            + rb"_e></"
            + _lit(name)
            + _ATTRS
            + rb">)"
        )
        return rb"(?P<" + g + rb">" + _DELIM + rb"(?:" + tag + rb"(?:" + body + rb")?)?)"
    return rb"(?P<" + g + rb">" + _DELIM + rb"(?:" + tag + rb")?)"


def _trie(entries: dict[bytes, bytes]) -> bytes:
    """Alternation of ``key + tail`` shaped as a trie on the keys (case-insensitive letters)."""
    root: dict[int, dict] = {}  # type: ignore[type-arg]
    for key in entries:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = {}

    def emit(node: dict, prefix: bytes) -> bytes:  # type: ignore[type-arg]
        branches = [
            _lit(bytes([b])) + emit(child, prefix + bytes([b])) for b, child in sorted(node.items()) if b >= 0
        ]
        if -1 in node:
            branches.append(entries[prefix])  # after the longer names that share this prefix
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    return emit(root, b"")


def _prefilter_sets(keys: list[bytes]) -> list[bytes]:
    """The bytes each leading position allows (up to three): most `<` fail here at once."""
    width = min(3, *(len(k) for k in keys))
    return [bytes(sorted({k[position] for k in keys})) for position in range(width)]


def _prefilter(sets: list[bytes]) -> bytes:
    """One character class per leading position."""
    return b"(?=" + b"".join(b"[" + re.escape(chars) + b"]" for chars in sets) + b")"


def _masks(sets: list[bytes]) -> bytes:
    """The same sets as 256-byte tables, one per position, letters in either case (the C scan
    reads the page as it is)."""
    masks = bytearray(256 * len(sets))
    for position, chars in enumerate(sets):
        for byte in chars:
            masks[256 * position + byte] = 1
            masks[256 * position + bytes([byte]).upper()[0]] = 1
    return bytes(masks)


@cache
def fast_scanner(
    start_names: frozenset[str],
    end_names: frozenset[str],
    quiet_names: frozenset[str] = frozenset(),
    wanted: bytes = b"",
    scripting: bool = True,
    *,
    pings: bool = True,
    more_quiet: tuple[tuple[frozenset[str], bytes], ...] = (),
    quiet_known: QuietKnown | None = None,
) -> FastScanner:
    """The candidate regex for a tokenizer reporting ``start_names`` and ``end_names``; start
    tags named in ``quiet_names`` only count when they pass the lookahead ``wanted`` (and those
    of each ``(names, wanted)`` of ``more_quiet``, when they pass its own).
    ``scripting=False``: ``<noscript>`` content is markup (a browser without JavaScript).
    ``pings=False``: no ``<a>`` is reported (the input holds no ``ping=``).
    ``quiet_known``: see :data:`QuietKnown` (without it, the C search leaves ``wanted`` to
    the pattern)."""
    leaves: dict[str, Leaf] = {}
    entries: dict[bytes, bytes] = {}
    quiet: dict[bytes, bytes] = {}  # names that must pass `wanted` first: a trie of their own
    # Names with a small lookahead of their own: it goes right after the name, in the main trie
    # (a branch that fails there costs other tags nothing, where a group of its own would be
    # tried at every `<` that passes the prefilter).
    own = {name: lookahead for names, lookahead in more_quiet for name in names}

    def add(key: str, group: str, leaf: Leaf) -> None:
        leaves[group] = leaf
        if key in own:
            entries[key.encode()] = _DELIM + own[key] + _leaf_pattern(group, leaf)
        else:
            (quiet if key in quiet_names and wanted else entries)[key.encode()] = _leaf_pattern(group, leaf)

    add("!--", "comment", Leaf("comment", "", False))
    for name in sorted((start_names | STATE_CHANGERS) - {"a"}):
        group = "s_" + _LEAF_GROUP.sub("_", name)
        reported = name in start_names
        if name == "script":
            leaf = Leaf("script", name, reported, True)
        elif (name in RAWTEXT_ELEMENTS and (scripting or name != "noscript")) or name in RCDATA_ELEMENTS:
            leaf = Leaf("raw", name, reported, name in end_names or name in ALWAYS_ENDED)
        elif name == "plaintext":
            leaf = Leaf("plaintext", name, reported)
        elif name in ("svg", "math"):
            leaf = Leaf("foreign", name, reported)
        else:
            leaf = Leaf("tag", name, True)
        add(name, group, leaf)
    for name in sorted(end_names):
        add("/" + name, "e_" + _LEAF_GROUP.sub("_", name), Leaf("end", name, True))
    # One prefilter for the names of both tries: the `<` of a `div` or `span` fails one test.
    sets = _prefilter_sets([*entries, *quiet])
    pattern = rb"<(?:" + _prefilter(sets) + rb"(?:" + _trie(entries)
    if quiet:
        # `wanted` once for all of them, read from the name on (names hold no byte it looks for)
        names = b"|".join(re.escape(k) for k in sorted(quiet, key=len, reverse=True))
        pattern += rb"|(?=(?:" + names + rb")" + _DELIM + rb")" + wanted + _trie(quiet)
    pattern += b")"
    if "a" in start_names:
        leaves["s_a"] = Leaf("tag", "a", True)
        pattern += b"|a" + _leaf_pattern("s_a", leaves["s_a"])
    elif pings:
        # <a> matters only with a `ping` attribute: the lookahead walks the attributes with
        # the exact grammar and wants one named `ping`.
        leaves["a_ping"] = Leaf("a", "a", True)
        other = (
            rb"(?:[\t\n\f\r /]++|(?!ping[\t\n\f\r /=>])[^\t\n\f\r />][^\t\n\f\r /=>]*+"
            rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >\"'][^\t\n\f\r >]*+|(?=>))"
            rb"|(?![\t\n\f\r ]*+=)))*+"
        )
        pattern += (
            b"|"
            + b"a"
            + rb"(?=[\t\n\f\r /])(?="
            + other
            + b"ping"
            + rb"[\t\n\f\r /=>])"
            + _leaf_pattern("a_ping", leaves["a_ping"])
        )
    compiled = re.compile(pattern + b")")
    by_index: list[Leaf | None] = [None] * (compiled.groups + 1)
    for group, leaf in leaves.items():
        by_index[compiled.groupindex[group]] = leaf
    comment = compiled.groupindex["comment"]
    raw_groups = bytes(1 if leaf is not None and leaf.kind in ("script", "raw") else 0 for leaf in by_index)
    if speedups is None:
        search = compiled.search
        return FastScanner(compiled, tuple(by_index), search, partial(scan_py, search, comment, raw_groups))
    known, long = quiet_known if quiet and quiet_known is not None else (frozenset(), 0)
    # Leaves the C reads itself: no lookahead of their own (quiet ones, `<a ping>`, the
    # `more_quiet` names and comments are the pattern's, or read apart).
    # A quiet name whose lookahead the C sees pass for certain (a host the catalog knows) is
    # read as a native leaf too: the rest of the pattern is that leaf.
    native: dict[bytes, tuple[int, int, bytes]] = {}
    quiet_leaves: dict[bytes, tuple[int, int, bytes]] = {}
    for group, leaf in leaves.items():
        key = ("/" + leaf.name if leaf.kind == "end" else leaf.name).encode()
        if leaf.kind == "comment" or key.decode() in own or group == "a_ping":
            continue
        kind = {"script": 1, "raw": 2}.get(leaf.kind, 0)
        (quiet_leaves if key in quiet else native)[key] = (
            compiled.groupindex[group],
            kind,
            leaf.name.encode(),
        )
    # Where no native key, comment or `<a` is, the pattern can only match these names.
    delegated = frozenset(quiet) | frozenset(name.encode() for name in own)
    c_search = speedups.TagSearch(
        compiled.match,
        _masks(sets),
        "a" in start_names or pings,
        tuple(sorted(quiet)) if quiet and quiet_known is not None else (),
        known,
        long,
        native,
        raw_groups,
        delegated,
        quiet_leaves,
    )
    return FastScanner(compiled, tuple(by_index), c_search.search, c_search.scan, cased=True)


SCAN_MATCH: Final = 0  # a candidate that is not a comment, in the data state
SCAN_END: Final = 1  # no candidate left
SCAN_HAND_OVER: Final = 2  # from `lo` on, the exact scanner must read


def scan_py(
    search: Callable[[bytes, int], re.Match[bytes] | None],
    comment: int,
    raw_groups: bytes,
    data: bytes,
    pos: int,
    lo: int,
    n: int,
    final: bool,
) -> tuple[int, Found | None, int]:
    """The next candidate at or after ``pos`` that the tokenizer must look at, with comments
    read past and every candidate's place proved (:func:`settle`); ``lo`` is in the data
    state, every token before it read. Returns ``(SCAN_MATCH, found, lo)`` (see
    :data:`Found`), ``(SCAN_END, None, lo)``, or ``(SCAN_HAND_OVER, _, lo)`` where the exact
    scanner takes over (a candidate not surely in the data state, an unfinished comment, or
    one too near the end of the bytes to tell). ``data`` is the lower-cased buffer:
    :func:`settle` reads the same there (it tells letters from other bytes, never one letter
    from another)."""
    while True:
        m = search(data, pos)
        if m is None:
            return SCAN_END, None, lo
        p = m.start()
        if p > lo and settle(data, lo, p) != p:
            return SCAN_HAND_OVER, None, lo
        index = m.lastindex or 0
        if index != comment:
            tag_start = m.start(index + 2) if raw_groups[index] else -1
            return SCAN_MATCH, (index, p, m.end(), m.end(index + 1), tag_start), lo
        if m.start(comment + 1) < 0 or (p + 6 > n and not final):
            return SCAN_HAND_OVER, None, lo  # unfinished, or too short to tell yet
        lo = pos = m.end()


_OPENER = re.compile(rb"<(?:[a-zA-Z!/?]|\Z)")


def settle_py(buf: bytes, lo: int, p: int) -> int:
    """Where the data state ends in ``buf[lo:p]``, given ``lo`` is in it and no candidate
    starts in between: ``p`` when all of it is settled data or whole tokens; the start of an
    unfinished tag or bogus comment; or -1 when a cheap look cannot tell.

    Between candidates there are only tags, bogus comments and text. ``p`` is inside one of
    them only if (a) a tag or bogus comment opened after the last ``>`` before ``p`` (call it
    ``g``), or (b) ``g`` itself sits in a quoted attribute value, whose opening quote is then
    the last quote of its kind before ``g``, right after ``=``. (A tag that ends after a
    quoted value holding ``>`` has that ``>`` as ``g``, so (b) covers it.) A quote after
    ``=`` that closes a value (``integrity="...="``) only makes the answer "don't know".
    """
    g = buf.rfind(b">", lo, p)
    if g >= 0:
        for quote in (b'"', b"'"):
            q = buf.rfind(quote, lo, g) - 1
            while q > lo and buf[q] in _SPACE:
                q -= 1
            if q >= lo and buf[q] == 0x3D:  # `=`
                return -1
    start = g + 1 if g >= 0 else lo
    if buf.find(b"<", start, p) < 0:
        return p
    opener = _OPENER.search(buf, start, p)
    return p if opener is None else opener.start()


_SPACE: Final = frozenset(b"\t\n\f\r ")

# The same function in C when the speed-ups are built (tests/html/test_speedups.py).
settle = settle_py if speedups is None else speedups.settle
