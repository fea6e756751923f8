"""Streaming rewriter: neutralise non-consented trackers, inject the head and body snippets.

Bytes in, bytes out; the output depends only on the bytes, never on how they were split. What
is held back between chunks is bounded by ``max_buffer``:

- an unfinished tag (a tag longer than the bound is decided on the attributes seen so far:
  a script, frame, embed, object, image, media or link whose URL is not among them is
  neutralised, fail-closed; the rest of the tag streams through);
- an inline ``<script>`` start tag, until its ``</script>`` shows whether a tracker signature is
  in it. A longer script is classified on its first ``max_buffer`` bytes, then streamed; a
  signature met later, when its category is not granted, makes the rewriter end the script
  with ``\\n}`` — a syntax error, so none of it runs (it cannot be restored in the browser);
- ``<noscript>`` content, rewritten as markup (what a browser without JavaScript loads); so are
  CDATA sections in svg/math and raw text met after a guess about foreign content
  (consentgate.html.foreign), should the tokenizer's reading of foreign content be wrong;
- the first 1024 bytes, so the head snippet can go after a ``<meta charset>`` there (the
  browser's charset prescan only reads that far) -- unless the response's Content-Type names
  its charset (the prescan is then moot) or the page starts as usual, with ``<meta charset>``
  in its first tags: a page streamed in small pieces is not held back then (_can_start).

Scripts the site already gated (``type="text/plain"`` plus consent markup) keep their shape:
blocked ones get ``data-consentgate-blocked``/``-category`` added, allowed ones are left
byte-identical for the browser runtime to activate. So with every category granted the output
is the input plus the two snippets (plus, for a page cut inside raw text, the end tag that
closes it before the body snippet).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Final, Literal

from consentgate.html.carrier import DataCarrier
from consentgate.html.foreign import ForeignContent
from consentgate.html.grammar import ATTRS
from consentgate.html.handlers import (
    HANDLER_NAMES as _HANDLER_NAMES,
)
from consentgate.html.handlers import (
    handler_code,
    handler_names,
    import_map_entries,
    imported_specifiers,
    mapped_target,
    may_hold_handler,
    refresh_url,
)
from consentgate.html.placeholders import Detached, DetachedForms, detach_form
from consentgate.html.rules import UNKNOWN_CATEGORY, Action, Finding, Rule, Rules, Verdict, host_of
from consentgate.html.srcdoc import escape_document, unescape_document, url_document
from consentgate.html.tokenizer import (
    CDATA_NAME,
    COMMENT,
    END,
    START,
    TEXT,
    VALUE,
    Attr,
    Event,
    Tokenizer,
    attr_map,
    cut_attr_map,
    named_attrs,
    parse_attrs,
)
from consentgate.policy.model import NECESSARY

__all__ = ["HtmlRewriter", "detach_form", "not_ascii_compatible", "rewrite", "scan"]

logger = logging.getLogger("consentgate")

Allows = Callable[[str | None, str], bool]

# Elements looked at once the head snippet is in.
_START_NAMES: Final = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "img",
        "image",
        "input",  # <input type=image src> loads its src like an image
        "link",
        "embed",
        "object",
        "source",
        "video",
        "audio",
        "base",
        "noscript",
        "plaintext",
        "area",  # <area ping>: rare (image maps), so looked at always
        "use",  # SVG: these two load their href
        "feimage",
        "form",  # an open page form swallows the banner's and the placeholders' forms
        "label",  # a placeholder's button inside one would be its control (see _place_at)
        # Only for their attributes (quiet: the fast path reports them when one may matter):
        "body",  # onload=..., and the window's other handlers
        "frameset",
        "meta",  # http-equiv="refresh" content="0;url=..."
    }
)  # plus <a>, which the tokenizer reports only when the buffer mentions "ping"
# Elements looked at only for their event handlers (and a <meta>'s refresh target).
_ATTRIBUTES_ONLY: Final = frozenset({"body", "frameset", "meta", "form"})
_END_NAMES: Final = frozenset({"body", "html", "object", "form", "label"})
_HEAD_CONTENT: Final = frozenset(
    {"base", "basefont", "bgsound", "link", "meta", "noscript", "script", "style", "template", "title"}
)
_JS_TYPES: Final = frozenset(
    {
        "",
        "module",
        "application/ecmascript",
        "application/javascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    }
)
# Script types nothing runs (besides template engines' and any *json or *xml type).
_DATA_TYPES: Final = frozenset(
    {
        "importmap",
        "speculationrules",
        "text/plain",
        "text/html",
        "text/css",
        "text/markdown",
        "text/x-markdown",
    }
)
_DATA_SUFFIXES: Final = ("json", "xml", "-shader", "/x-vertex", "/x-fragment")
# Client-side template engines' script types (text/x-handlebars, text/x-jquery-tmpl...)
_TEMPLATE_WORDS: Final = ("template", "tmpl", "handlebars", "mustache", "underscore", "jsrender", "x-html")
ScriptKind = Literal["js", "data", "loader"]
_SCRIPT_MOVED: Final = {
    name: b"data-consentgate-" + name
    for name in (b"type", b"src", b"integrity", b"nonce", b"async", b"defer")
}
_FOREIGN_SCRIPT_MOVED: Final = {
    **_SCRIPT_MOVED,
    b"href": b"data-consentgate-href",
    b"xlink:href": b"data-consentgate-xlink-href",
}
# element -> attributes that load something (moved to data-consentgate-<name> when blocked)
_URL_ATTRS: Final[dict[str, tuple[bytes, ...]]] = {
    "iframe": (b"src",),
    "frame": (b"src",),
    "embed": (b"src",),
    "object": (b"data",),
    "img": (b"src", b"srcset"),
    "input": (b"src",),
    "image": (b"src", b"srcset"),
    "source": (b"src", b"srcset"),
    "video": (b"src", b"poster"),
    "audio": (b"src",),
    "link": (b"href", b"imagesrcset"),  # rel=preload as=image may name only imagesrcset
    "a": (b"ping",),
    "area": (b"ping",),  # an image map's link pings like <a>
}
# The same in SVG/MathML, where `href` and `xlink:href` load (SVG 2 prefers the first; both are
# checked). An element the tokenizer wrongly placed in foreign content keeps its HTML attributes
# too; elsewhere these elements load nothing.
_HREFS: Final = (b"href", b"xlink:href")
_FOREIGN_URL_ATTRS: Final[dict[str, tuple[bytes, ...]]] = {
    **_URL_ATTRS,
    "script": (b"src", *_HREFS),
    "image": (b"src", b"srcset", *_HREFS),
    "use": _HREFS,
    "feimage": _HREFS,
}
# Empty values inserted first in a tag too long to read (the first attribute of a name wins).
_BLANKS: Final = {
    "iframe": b' src="about:blank" srcdoc=""',  # srcdoc, wherever it is, wins over src
    "frame": b' src="about:blank"',
    "embed": b' src=""',
    "object": b' data=""',
    "img": b' src="" srcset=""',
    "input": b' src=""',
    "image": b' src="" srcset=""',
    "source": b' src="" srcset=""',
    "video": b' src="" poster=""',
    "audio": b' src=""',
    "link": b' href="" imagesrcset=""',
    "a": b' ping=""',
    "area": b' ping=""',
    "use": b' href="" xlink:href=""',
    "feimage": b' href="" xlink:href=""',
}
# Unknown hosts count for active content only: for images, stylesheets and media every CDN
# would be "unknown".
_LAZY: Final = frozenset({"img", "image", "iframe", "source"})
_LAZY_ATTRS: Final = (b"data-src", b"data-srcset")
# Where lazy loaders park the URL they copy into src/srcset: lazysizes and most (data-src),
# WP Rocket and a3 (data-lazy-src), LiteSpeed (data-litespeed-src), vanilla-lazyload options
# (data-ll-src), Avada (data-orig-src), jquery.lazyload (data-original), echo.js, Layzr.
_LAZY_NAME = re.compile(
    rb"data-(?:[a-z0-9-]*-)?src(?:set)?|data-original(?:-set)?|data-(?:lazy|lazyload|echo|layzr)"
)
_MOVED_NAME: Final = {
    b"src": b"data-consentgate-src",
    b"srcset": b"data-consentgate-srcset",
    b"data": b"data-consentgate-data",
    b"poster": b"data-consentgate-poster",
    b"href": b"data-consentgate-href",
    b"xlink:href": b"data-consentgate-xlink-href",
    b"ping": b"data-consentgate-ping",
    b"imagesrcset": b"data-consentgate-imagesrcset",
}
_UNKNOWN_COUNTS: Final = frozenset({"script", "iframe", "frame", "embed", "object", "a", "area"})
# Attributes that make Rules.classify_markup look (besides a OneTrust class).
_MARKUP_ATTRS: Final = frozenset({b"data-service", b"data-category", b"data-cookieconsent", b"data-name"})
_NO_ATTRS: Final[dict[bytes, bytes]] = {}
_LINK_RELS: Final = frozenset(
    {
        b"preload",
        b"prefetch",
        b"preconnect",
        b"dns-prefetch",
        b"stylesheet",
        b"modulepreload",
        # Browsers fetch icons by themselves (a tracker's favicon URL is a pixel).
        b"icon",
        b"apple-touch-icon",
        b"apple-touch-icon-precomposed",
        b"mask-icon",
    }
)
_PLACEHOLDER_AFTER_START: Final = frozenset({"embed"})
_PLACEHOLDER_AFTER_END: Final = frozenset({"iframe", "object"})
_PRESCAN: Final = 1024
_SKIPPED = (
    rb"(?:[\t\n\f\r ]++|<!--(?!-?>)[^-]*+(?:-(?!-!?>)[^-]*+)*+--!?>"
    rb"|<![dD][oO][cC][tT][yY][pP][eE][^>]*+>|<\?[^>]*+>)*+"
)
# What may open a page before the head's content: a byte order mark, white space, comments,
# doctypes, `<html>` and `<head>` (_first_in_head); the usual start ends it with a meta.
_OPENING_SOURCE = (
    rb"(?:\xef\xbb\xbf)?"
    + _SKIPPED
    + rb"(?:<[hH][tT][mM][lL](?=[\t\n\f\r />])"
    + ATTRS
    + rb">"
    + _SKIPPED
    + rb")?"
    rb"(?:<[hH][eE][aA][dD](?=[\t\n\f\r />])" + ATTRS + rb">" + _SKIPPED + rb")?"
)
_PROLOGUE = re.compile(_OPENING_SOURCE + rb"<[mM][eE][tT][aA](?=[\t\n\f\r />])(" + ATTRS + rb")>")
_OPENING = re.compile(_OPENING_SOURCE)
# The whole tag after the opening (_first_in_head).
_FIRST_TAG = re.compile(rb"</?([a-zA-Z][^\t\n\f\r />]*+)" + ATTRS + rb">")
# <noscript> content of images, stylesheets and frames, at most wrapped in links and blocks,
# with text that holds no `<`: one token per match (groups 1-2: an image or a stylesheet link
# and its name; 3-4: a frame and its end tag).
_NOSCRIPT_TOKEN = re.compile(
    rb"[^<]++|(<([iI][mM][gG]|[lL][iI][nN][kK])(?=[\t\n\f\r />])" + ATTRS + rb">)"
    rb"|(<[iI][fF][rR][aA][mM][eE](?=[\t\n\f\r />])" + ATTRS + rb">)[^<]*+(</[iI][fF][rR][aA][mM][eE]>)"
    rb"|</?(?:[aA]|[dD][iI][vV]|[pP]|[sS][pP][aA][nN]|[bB][rR])(?=[\t\n\f\r />])" + ATTRS + rb">"
)
# (The same without groups: `re` mistakes group spans inside a possessive repeat.)
_SIMPLE_NOSCRIPT = re.compile(
    rb"(?:" + _NOSCRIPT_TOKEN.pattern.replace(b"(<", b"(?:<").replace(b"<([", b"<(?:[") + rb")*+"
)
_META_CHARSET = re.compile(
    rb"<meta[\t\n\f\r /][^>]*?(?:charset|http-equiv)[^>]*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
# Each starts with a literal, so `re` skips to its first byte in C.
_CHAR_REFERENCE = re.compile(rb"&(?!amp;)")
_NO_SLASHES = re.compile(rb"https?:(?!//)")
_MARKUP_DATA = re.compile(rb"data-(?:category|cookieconsent|service|name)")
_TAG_HOSTS = re.compile(rb"//([^/\\?#\"'\t\n\f\r >:@]*+)([\t\n\r@]?)")
_BREAKER: Final = b"\n}"  # a syntax error at the top level of any complete script
_SIG_OVERLAP: Final = 512
_SAFE_VALUE = re.compile(rb"[^A-Za-z0-9 _.:/@+-]")
# Encoding labels a browser reads as UTF-16 (where `<` can be half of a character), as the stateful
# ISO-2022-JP (where it can be half of a kanji), or as "replacement" (the page shows as one
# U+FFFD: nothing in it runs). WHATWG Encoding, section 4.2. Any other label passes through
# the bytes as ASCII does: "utf-32", "ucs-4" and "utf-7" are no labels at all, so the browser
# falls back to an ASCII-compatible encoding and runs the page's scripts.
_NOT_ASCII_LABELS: Final = frozenset(
    {
        "csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le",
        "unicodefffe", "utf-16be",
        "csiso2022jp", "iso-2022-jp",
        "csiso2022kr", "hz-gb-2312", "iso-2022-cn", "iso-2022-cn-ext", "iso-2022-kr", "replacement",
    }
)  # fmt: skip


def not_ascii_compatible(label: str) -> bool:
    """Whether a browser decodes a page labelled ``label`` (a Content-Type charset) in a way
    that byte-level rewriting would corrupt, or that runs nothing anyway."""
    return _label(label) in _NOT_ASCII_LABELS


def _label(label: str) -> str:
    """A Content-Type charset as the Encoding Standard compares it."""
    return label.strip(" \t\n\f\r\"'").lower()


# Labels of the Encoding Standard that browsers act on in Content-Type (the common ones; a label
# left out only means the page is read as before: its <meta charset> kept in the first 1024
# bytes). A label browsers do not know (`utf8mb4`, `latin-1`, `utf-7`) is ignored by them, and
# the <meta charset> in the first 1024 bytes decides: it must stay there.
_KNOWN_LABELS: Final = frozenset(
    {
        "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8",
        "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1",
        "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1",
        "us-ascii", "windows-1252", "x-cp1252",
        "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9", "l5",
        "latin5", "windows-1254", "cp1254", "x-cp1254",
        "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7",
        "iso-8859-8", "iso-8859-8-i", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
        "iso-8859-16", "latin2", "latin9", "l2",
        "windows-1250", "windows-1251", "windows-1253", "windows-1255", "windows-1256",
        "windows-1257", "windows-1258", "cp1250", "cp1251", "cp1253", "cp1255", "cp1256", "cp1257",
        "cp1258", "windows-874", "tis-620", "koi8-r", "koi8-u", "koi8_r", "ibm866", "cp866",
        "macintosh", "x-mac-cyrillic",
        "gbk", "gb2312", "gb18030", "x-gbk", "chinese", "big5", "big5-hkscs", "x-x-big5",
        "euc-jp", "x-euc-jp", "shift_jis", "shift-jis", "sjis", "ms932", "ms_kanji", "windows-31j",
        "x-sjis", "euc-kr", "ks_c_5601-1987", "windows-949", "korean",
    }
)  # fmt: skip


def known_charset(label: str) -> bool:
    """Whether browsers decode a page by this Content-Type charset, whatever its <meta>."""
    return _label(label) in _KNOWN_LABELS


_HEAD_PROLOGUE, _HEAD_OPEN, _HEAD_AWAIT_META, _HEAD_DONE = range(4)


def _attr_value(text: str) -> bytes:
    return _SAFE_VALUE.sub(lambda m: b"&#%d;" % m.group()[0], text.encode("utf-8"))


class HtmlRewriter:
    """Rewrite one HTML response body as it streams.

    ``allows(service_id, category)`` says whether the visitor consented; ``placeholder`` gives
    the ASCII bytes shown in place of a blocked iframe, embed or object (its form goes apart:
    see consentgate.html.placeholders); ``on_finding`` hears
    about every tracker-relevant element (``line_numbers=False``: its ``line`` is 0, and the
    newlines of the page are not counted). ``page_host`` (the request's host) makes absolute
    URLs to the site itself first party; ``charset`` (from Content-Type) switches the rewriter
    off for encodings that are not ASCII-compatible.

    >>> from consentgate.policy.model import Category, Policy, Service
    >>> ga = Service("ga", "Google Analytics", "analytics", hosts=("google-analytics.com",))
    >>> rules = Rules.compile(Policy(categories=(), services=(ga,)))
    >>> r = HtmlRewriter(rules, lambda service, category: False)
    >>> r.feed(b'<script src="https://www.google-analytics.com/ga.js"></script>') + r.close()
    b'<script type="text/plain" data-consentgate-blocked data-consentgate-category="analytics" \
data-consentgate-service="ga" data-consentgate-src="https://www.google-analytics.com/ga.js"></script>'
    """

    _tok: Tokenizer  # made in __init__, or by _start() once the first bytes are in

    def __init__(
        self,
        rules: Rules,
        allows: Allows,
        *,
        head_snippet: bytes = b"",
        body_snippet: bytes = b"",
        placeholder: Callable[[Finding], bytes | Detached] | None = None,
        on_finding: Callable[[Finding], None] | None = None,
        max_buffer: int = 65536,
        page_host: str | None = None,
        charset: str | None = None,
        line_offset: int = 0,
        base_host: str | None = None,
        fragment: bool = False,
        fast: bool = True,
        tree: ForeignContent | None = None,
        line_numbers: bool = True,
        documents_only: bool = False,
    ) -> None:
        self._rules = rules
        # Sites send the same tags on every page: what a tag's bytes decide is kept per Rules
        # (or, with that memory off, for this page: `<script type="text/javascript">` repeats).
        self._memo: dict[object, object] = rules.memo if rules.memo is not None else {}
        self._allows = allows
        self._head_snippet = head_snippet
        self._body_snippet = body_snippet
        self._placeholder = placeholder
        self._on_finding = on_finding
        self._max_buffer = max(max_buffer, 64)
        self._page_host = page_host.lower().partition(":")[0] if page_host else None
        self._base_host = base_host
        self._base_seen = False
        self._fragment = fragment
        self._line_offset = line_offset
        self._passthrough = charset is not None and not_ascii_compatible(charset)
        # A charset in Content-Type that browsers know wins over any <meta charset>: no need to
        # keep one in the first 1024 bytes, nor to wait for them.
        self._charset_declared = charset is not None and known_charset(charset)
        inject_head = bool(head_snippet) and not fragment
        self._head = _HEAD_PROLOGUE if inject_head else _HEAD_DONE
        self._body_done = fragment or not body_snippet
        self._fast = fast
        # The snippets go only into a response that starts as a document (see _is_document).
        self._documents_only = documents_only and not fragment
        self._head_at = -1  # where the head snippet goes, once the first bytes are in
        self._usual: tuple[bytes, int] | None = None
        self._cut_amap: tuple[Event, dict[bytes, bytes]] | None = None  # see _amap
        if not inject_head:  # (with a head snippet, _start() picks the tokenizer from the first bytes)
            # <noscript> content is rewritten as a browser without JavaScript reads it: nested
            # <noscript> elements are markup there, so no content is rewritten twice.
            self._tok = Tokenizer(
                _START_NAMES,
                _END_NAMES,
                max_buffer=self._max_buffer,
                fast=fast,
                scripting=not fragment,
                tree=tree,
                cdata=not fragment,  # a fragment reads CDATA as markup too: nothing nests
            )
            self._quiet_resources()
        self._out: list[bytes] = []
        self._emitted = 0
        self._pre: bytes | None = b""  # the first bytes, until _PRESCAN of them are here
        self._meta_end = -1
        self._nl_pos = 0
        self._nl_count = 0
        # Line numbers cost a count of every newline of the page: only for a listener.
        self._lines = line_numbers and (on_finding is not None or placeholder is not None)
        # an inline <script> waiting for its content: (start tag event, attributes)
        self._held: tuple[Event, dict[bytes, bytes]] | None = None
        self._held_on: Verdict | None = None  # the tracker its event handlers name, if any
        self._stream_script: Verdict | None = None  # a long script being scanned as it streams
        self._stream_scan_from = -1
        self._stream_found: Verdict | None = None
        self._carrier: DataCarrier | None = None  # a streamed script that may be framework data
        self._carrier_fed = 0
        self._carrier_hit: Verdict | None = None  # what its data names (counts if it is code)
        self._stream_line = 0
        # Content rewritten as markup once its element ends: <noscript> (what a browser without
        # JavaScript loads), or raw text that is markup in the other reading of a guess about
        # foreign content. Start offset, element name, the stack it starts in.
        self._noscript_from = -1
        self._noscript_name = ""
        self._noscript_tree: ForeignContent | None = None
        self._placeholders: list[tuple[str, bytes | Detached | None]] = []
        # The HTML parser's form element pointer: set by a <form> start tag, cleared only by
        # </form>. While it is set, a <form> start tag is ignored: the placeholders' forms go
        # after the page's </form> (see _placed), and the banner's after one.
        self._form_open = False
        self._body_after_form = False  # </body> met inside the page's form: the banner follows its </form>
        # Open <label> elements, and the placeholders waiting for the outermost one's end tag: a
        # button inside a label is its control when nothing before it is, and a click on the
        # label's text would press "Load content" (a grant nobody chose).
        self._labels = 0
        self._after_label: list[bytes | Detached] = []
        self._forms = DetachedForms()  # <noscript> content shares its page's (see _inner)
        self._closed = False
        self._depth = 0  # srcdoc documents inside srcdoc documents
        self._closes = True  # close what EOF leaves open (a page's snippets must not land in it)
        # Import map specifiers mapped to a tracker's module (see _read_import_map).
        self._imports: dict[str, Verdict] = {}

    # -- public API --------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        if self._passthrough:
            _log_passthrough()
            return data
        if self._pre is not None:
            self._pre += data
            if not self._can_start(self._pre):
                return b""
            data, self._pre = self._pre, None
            if self._start(data):
                return data
        self._pump(data, False)
        return self._flush()

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._passthrough:
            return b""
        if self._pre is not None:
            data, self._pre = self._pre, None
            if self._start(data):
                return data
            self._pump(data, False)
        tok = self._tok
        self._pump(b"", True)
        end = tok.safe
        if self._held is not None:
            self._finish_held(self._held, tok.position)
        if self._stream_script is not None:
            self._end_stream(tok.position)
        self._end_noscript(tok.position)
        # A fragment (<noscript> content) ends where its element ends: nothing to close.
        closer = b"" if self._fragment or not self._closes else tok.closer()
        cut = tok.position if closer == b"" else end
        self._emit_to(cut)
        tail: list[bytes] = []
        if closer:
            tail.append(closer)
        if closer is not None or cut < end:
            tail.extend(self._placed(ph) for _, ph in reversed(self._placeholders) if ph)
            if self._after_label:
                tail.append(self._labels_ended())
            if self._head != _HEAD_DONE:
                tail.append(self._head_snippet)
                self._head = _HEAD_DONE
            if not self._body_done:
                tail.append(self._body_snippet_now())
                self._body_done = True
            if self._forms and not self._fragment:  # placeholders after </body>, or no body snippet
                tail.append((b"</form>" if self._form_open else b"") + self._forms_now())
        self._out.extend(tail)
        self._emit_to(end)
        out = b"".join(self._out)
        self._out.clear()
        return out

    # -- start-up: encoding and charset prescan ----------------------------------------------
    def _can_start(self, data: bytes) -> bool:
        """Do the first bytes, fewer than 1024, decide all that :meth:`_start` decides, as the
        first 1024 would? Then a page streamed in small pieces (a head flushed early, then a
        slow body) flows at once. They do with two bytes (the byte order mark) when there is no
        head snippet to place, or when Content-Type names the charset (no <meta charset> to
        look for), and whenever the page starts as usual, ``<!doctype html><html><head><meta
        charset>``: a match of the same regex on more bytes is the same match. Never inside
        UTF-8's byte order mark. A response fetched by a script first shows whether it is a
        document (see :func:`_is_document`; 16 KiB without an answer make it a fragment): a
        fragment starts at once, a document as any other page."""
        if self._documents_only:
            document = _is_document(data[:_DOCUMENT_LOOK])
            if document is None:
                return len(data) >= _DOCUMENT_LOOK
            if not document:
                return True  # a fragment: no snippet to place
        if len(data) >= _PRESCAN:
            return True
        if len(data) < 2 or (len(data) == 2 and _UTF8_BOM.startswith(data)):
            return False
        return self._head == _HEAD_DONE or self._charset_declared or self._usual_start(data) >= 0

    def _usual_start(self, data: bytes) -> int:
        """:func:`_usual_start`, once for the bytes both _can_start and _start look at."""
        last = self._usual
        if last is not None and last[0] is data:
            return last[1]
        found = _usual_start(data)
        self._usual = (data, found)
        return found

    def _scan_resources(self) -> None:
        """From here on the tokenizer reports what :meth:`_start_tag` looks at."""
        self._tok = Tokenizer(_START_NAMES, _END_NAMES, max_buffer=self._max_buffer, fast=self._fast)
        self._quiet_resources()

    def _start(self, data: bytes) -> bool:
        """Look at the first bytes; True when the page must pass through untouched."""
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # the UTF-16 BOMs: browsers know no other but UTF-8's
            self._passthrough = True
            _log_passthrough()
            return True
        if self._documents_only and not _is_document(data[:_DOCUMENT_LOOK]):
            # A piece of a page fetched by a script (htmx, jQuery .load()): the page it goes
            # into has its banner and runtime already; its trackers are still neutralised.
            self._head = _HEAD_DONE
            self._body_done = True
            self._scan_resources()
            return False
        if self._head != _HEAD_DONE:
            usual = self._usual_start(data)
            if usual >= 0:
                # The usual start, <!doctype html><html><head><meta charset>: the snippet goes
                # after the meta, as the tag-by-tag prologue below would find.
                self._head_at = usual
                self._head = _HEAD_DONE
                self._scan_resources()
                return False
            # (A charset in Content-Type makes any <meta charset> moot: none is looked for.)
            for m in () if self._charset_declared else _META_CHARSET.finditer(data, 0, _PRESCAN):
                tag = m.group()
                if not tag.startswith(b"<!") and _is_charset_meta(attr_map(tag, 5, len(tag) - 1)):
                    self._meta_end = m.end()
                    break
            if self._meta_end < 0:
                first = _first_in_head(data)
                if first >= 0:
                    # No <meta charset> to wait for: the snippet goes where the head's first
                    # content starts, as the tag-by-tag prologue below would find.
                    self._head_at = first
                    self._head = _HEAD_DONE
                    self._scan_resources()
                    return False
            # Any other start: the head snippet's place is found tag by tag.
            self._tok = Tokenizer(None, None, max_buffer=self._max_buffer, fast=self._fast)
            self._tok.step = True
        return False

    # -- output ------------------------------------------------------------------------------
    def _emit_to(self, offset: int) -> None:
        if offset > self._emitted:
            self._out.append(self._tok.slice(self._emitted, offset))
            self._emitted = offset

    def _replace(self, start: int, end: int, data: bytes) -> None:
        # (_emit_to(start) inlined: this runs for every element rewritten or inserted after)
        emitted = self._emitted
        out = self._out
        if start > emitted:
            out.append(self._tok.slice(emitted, start))
            emitted = start
        out.append(data)
        self._emitted = end if end > emitted else emitted

    def _flush(self) -> bytes:
        tok = self._tok
        limit = tok.safe
        if self._held is not None:
            event = self._held[0]
            if tok.safe - event.start > self._max_buffer:
                self._release_held_script(event, self._held[1])
            else:
                limit = min(limit, event.start)
        if self._stream_script is not None:
            self._scan_stream(tok.safe)
        if self._noscript_from >= 0:
            if tok.safe - self._noscript_from > self._max_buffer:
                logger.debug(
                    "consentgate: %s content longer than %d bytes passes unrewritten",
                    self._noscript_name,
                    self._max_buffer,
                )
                self._noscript_from = -1
            else:
                limit = min(limit, self._noscript_from)
        self._emit_to(limit)
        keep = self._emitted
        if self._stream_script is not None:
            keep = min(keep, self._stream_scan_from)
        self._line(keep)
        tok.release(keep)
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _pump(self, data: bytes, final: bool) -> None:
        tok = self._tok
        events = tok.feed(data, final)
        if self._head_at >= 0:
            self._replace(self._head_at, self._head_at, self._head_snippet)
            self._head_at = -1
        self._handle(events)
        while tok.stepped:  # the prologue looks at one tag at a time
            self._handle(tok.feed(b"", final))

    def _line(self, offset: int) -> int:
        if not self._lines:
            return 0
        if offset >= self._nl_pos:
            self._nl_count += self._tok.count(b"\n", self._nl_pos, offset)
            self._nl_pos = offset
            return self._nl_count + 1 + self._line_offset
        return self._nl_count - self._tok.count(b"\n", offset, self._nl_pos) + 1 + self._line_offset

    # -- events ------------------------------------------------------------------------------
    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if self._held is not None and event.kind == START:
                # A script ended without an end tag we could read: its content ends here.
                self._finish_held(self._held, event.start)
            if self._head != _HEAD_DONE and not self._prologue(event):
                continue
            kind = event.kind
            if kind == START:
                self._start_tag(event)
            elif kind == END:
                self._end_tag(event)

    def _prologue(self, event: Event) -> bool:
        """Place the head snippet; returns whether the event needs normal handling too."""
        kind = event.kind
        if self._head == _HEAD_AWAIT_META:
            if kind == START and event.name == "meta" and event.end == self._meta_end:
                self._inject_head(event.end, after_meta=True)
                return False
            if kind == START and event.name == "base" and self._before_base_fits():
                self._inject_head(event.start)
            return kind in (START, END)
        if kind == COMMENT:
            return False
        if kind == TEXT:
            text = self._tok.slice(event.start, event.end)
            skip = 3 if event.start == 0 and text.startswith(b"\xef\xbb\xbf") else 0
            m = _NOT_WS.search(text, skip)
            if m is not None:
                self._inject_head(event.start + m.start(), lookahead=False)
            return False
        name = event.name
        if kind == START and name == "html" and self._head == _HEAD_PROLOGUE:
            return False
        if kind == START and name == "head" and self._head == _HEAD_PROLOGUE:
            self._head = _HEAD_OPEN
            return False
        if kind == START and name == "meta" and _is_charset_meta(self._amap(event)):
            self._inject_head(event.end, after_meta=True)
            return False
        lookahead = (
            kind == START and name in _HEAD_CONTENT and not (name == "base" and self._before_base_fits())
        )
        self._inject_head(event.start, lookahead=lookahead)
        return kind in (START, END)

    def _before_base_fits(self) -> bool:
        """Can the snippet go before a ``<base>`` met ahead of the ``<meta charset>``? Its URLs
        are relative (``/_consentgate/...``): after a ``<base href>`` on another origin the
        browser would load the banner's style and script from there (the German federal
        sites' CMS writes ``<base>`` first). It can when the meta stays within the bytes the
        browser's charset prescan reads."""
        return self._meta_end + len(self._head_snippet) <= _PRESCAN

    def _inject_head(self, offset: int, *, lookahead: bool = False, after_meta: bool = False) -> None:
        # A <meta charset> further on, within the first 1024 bytes, and still in the head, or
        # one the snippet would push out of those bytes (after the page's first text or
        # `</head>`: browsers' charset prescan reads it there too): the snippet goes after it,
        # even in the body, so the prescan still finds it.
        pushed = self._meta_end + len(self._head_snippet) > _PRESCAN
        if (
            not after_meta
            and offset < self._meta_end
            and ((lookahead and self._meta_ahead(offset)) or (pushed and self._meta_reachable(offset)))
        ):
            self._head = _HEAD_AWAIT_META
            return
        self._replace(offset, offset, self._head_snippet)
        self._head = _HEAD_DONE
        self._tok.set_names(_START_NAMES, _END_NAMES)
        self._tok.step = False
        self._quiet_resources()

    def _quiet_resources(self) -> None:
        """Let the tokenizer's fast path skip images, media and links that :meth:`_harmless`
        would pass anyway (it needs no tag longer than its lookahead's bound, and no base
        URL, which makes relative URLs third party)."""
        if self._base_host is None and self._max_buffer > 2 * _QUIET_LONG:
            self._tok.set_quiet(
                _QUIET_NAMES,
                _quiet_lookahead(self._rules.known_host_pattern),
                _QUIET_ATTRIBUTES,
                (self._rules.known_host_domains, _QUIET_LONG),
            )
        else:
            self._tok.set_quiet(frozenset(), b"", _QUIET_ATTRIBUTES)

    def _meta_ahead(self, offset: int) -> bool:
        """Is the prescan's <meta charset> markup further on, still inside the head?

        Tokenises the bytes from ``offset`` (a token start in the data state) to the meta with
        a second tokenizer: they are all buffered, as the first 1024 bytes are gathered first.
        """
        look = Tokenizer(None, None)
        events = look.feed(self._tok.slice(offset, self._meta_end), final=False)
        raw = ""
        for event in events:
            kind, name = event.kind, event.name
            if kind == START and name == "meta" and event.end + offset == self._meta_end:
                return True
            if raw:
                if kind == END and name == raw:
                    raw = ""
                continue
            if kind == TEXT:
                if _NOT_WS.search(look.slice(event.start, event.end)) is not None:
                    return False
            elif kind == START:
                if name not in _HEAD_CONTENT or name == "template":  # (template content is inert)
                    return False
                if name in ("title", "style", "script", "noscript"):
                    raw = name
            elif kind == END and name not in _HEAD_CONTENT:
                return False
        return False

    def _meta_reachable(self, offset: int) -> bool:
        """Is the prescan's <meta charset> further on a tag the page's own parse reaches (not
        text of a script, comment or ``<noscript>``, nor inert ``<template>`` content)?"""
        look = Tokenizer(None, None)
        for event in look.feed(self._tok.slice(offset, self._meta_end), final=False):
            if event.kind == START and event.name == "template":
                return False
            if event.kind == START and event.name == "meta" and event.end + offset == self._meta_end:
                return True
        return False

    def _amap(self, event: Event) -> dict[bytes, bytes]:
        if event.truncated:
            # Parsed once: a cut tag is up to max_buffer long and several rules ask.
            last = self._cut_amap
            if last is not None and last[0] is event:
                return last[1]
            # Only whole attributes count (as in _attrs): the cut last one does not.
            tag = self._tok.slice(event.start, event.end)
            found = cut_attr_map(tag, event.name_end - event.start, len(tag))
            self._cut_amap = (event, found)
            return found
        if event.end - event.name_end <= 1:
            return _NO_ATTRS  # `<script>`
        return self._tok.attrs(event.name_end, event.end - 1)

    def _attrs(self, event: Event) -> tuple[list[Attr], bool]:
        tag = self._tok.slice(event.start, event.end)
        end = len(tag) if event.truncated else len(tag) - 1
        attrs, self_closing = parse_attrs(tag, event.name_end - event.start, end, event.start)
        if event.truncated and attrs and attrs[-1].end >= event.end:
            attrs.pop()  # cut by the buffer bound: not a whole attribute
        return attrs, self_closing

    def _start_tag(self, event: Event) -> None:
        name = event.name
        if event.alternative is not None and not event.truncated and self._noscript_from < 0:
            self._noscript_from, self._noscript_name = event.end, name
            self._noscript_tree = event.alternative
        if name == "script":
            self._script_start(event)
        elif name == "noscript" or name == CDATA_NAME:
            # <noscript> content is markup without JavaScript; CDATA in svg/math is markup
            # where the tokenizer is wrong about foreign content (a bogus comment in HTML).
            if (
                not event.truncated
                and not (self._fragment and name == "noscript")
                and self._noscript_from < 0
            ):
                self._noscript_from, self._noscript_name = event.end, name
                self._noscript_tree = None
        elif name == "plaintext":
            if not self._body_done:
                self._replace(event.start, event.start, self._body_snippet_now())
                self._body_done = True
        elif name == "form":
            if not event.foreign and not self._fragment:
                self._form_open = True
        elif name == "label":
            if not event.foreign:
                self._labels += 1
        elif name == "base":
            if not self._base_seen:
                attrs = self._amap(event)
                if b"href" in attrs:
                    self._base_seen = True
                    host = host_of(attrs[b"href"], None)
                    if host is not None:
                        self._base_host = host
                        self._quiet_resources()
        elif name in _URL_ATTRS or (event.foreign and name in _FOREIGN_URL_ATTRS):
            self._resource(event)
        if name in _ATTRIBUTES_ONLY and not event.foreign:
            self._attributes_only(event)

    def _end_tag(self, event: Event) -> None:
        name = event.name
        if name == "script":
            if self._held is not None:
                self._finish_held(self._held, event.start)
            if self._stream_script is not None:
                self._end_stream(event.start)
        if name == self._noscript_name:
            self._end_noscript(event.start)
        if name in _PLACEHOLDER_AFTER_END:
            for index in range(len(self._placeholders) - 1, -1, -1):
                if self._placeholders[index][0] == name:
                    placeholder = self._placeholders.pop(index)[1]
                    if placeholder and not event.truncated:  # never inside an unread end tag
                        self._place_at(event.end, placeholder)
                    break
        elif name == "label":
            if self._labels and not event.foreign:
                self._labels -= 1
                if not self._labels and self._after_label and not event.truncated:
                    self._replace(event.end, event.end, self._labels_ended())
        elif name in ("body", "html") and not self._fragment:
            if self._after_label:
                # A label the page never ended with </label>: the end tag of an element around
                # it (unseen here) ended it, or it is still open and nothing can be outside it.
                self._replace(event.start, event.start, self._labels_ended())
            if self._body_done:
                if self._forms and not self._form_open:  # no body snippet here (a frame), or past it
                    self._replace(event.start, event.start, self._forms_now())
            elif self._form_open:
                # A </body> inside the page's form (a template's stray one, mid-page): closing
                # the form here would cut off the fields after it; the banner follows the
                # page's own </form> (or, if none comes, the end, as for a form left open).
                self._body_after_form = True
            else:
                self._replace(event.start, event.start, self._body_snippet_now())
                self._body_done = True
        elif name == "form" and not event.foreign and not self._fragment:
            self._form_open = False
            if not event.truncated:
                after = self._forms_now()
                if self._body_after_form and not self._body_done:
                    after += self._body_snippet
                    self._body_done = True
                if after:
                    self._replace(event.end, event.end, after)

    # -- placeholders' forms: where no paragraph ends and no page form is open -----------------
    def _placed(self, placeholder: bytes | Detached) -> bytes:
        """The placeholder as it goes where the frame is, without its form: that waits (see
        consentgate.html.placeholders) for a place where the parser's form element pointer is
        clear and a form start tag ends no paragraph: the page's </form>, </body> (with the
        body snippet), or the end."""
        return self._forms.detach(placeholder)

    def _place_at(self, offset: int, placeholder: bytes | Detached) -> None:
        """A blocked frame's placeholder, after the frame: at ``offset``, or inside a
        ``<label>`` after the label (its button would be the label's control there)."""
        if self._labels:
            self._after_label.append(placeholder)
        else:
            self._replace(offset, offset, self._placed(placeholder))

    def _labels_ended(self) -> bytes:
        """The placeholders that waited for the labels around their frames to end."""
        self._labels = 0
        waiting, self._after_label = self._after_label, []
        return b"".join(self._placed(placeholder) for placeholder in waiting)

    def _forms_now(self) -> bytes:
        """The forms waiting, placed here (after the page's </form>, before </body>)."""
        return self._forms.take()

    def _body_snippet_now(self) -> bytes:
        """The body snippet, after a </form> when the page left its form open: the banner's
        forms would be ignored inside it, and its buttons would submit the page's form."""
        if not self._form_open:
            return self._forms_now() + self._body_snippet
        self._form_open = False
        return b"</form>" + self._forms_now() + self._body_snippet

    # -- scripts -----------------------------------------------------------------------------
    def _script_start(self, event: Event) -> None:
        tag = self._tok.slice(event.start, event.end)
        memo = self._memo
        key = (tag, event.foreign, self._base_host, self._page_host, bool(self._imports))
        found = memo.get(key, _UNPLANNED) if not event.truncated else _UNPLANNED
        if found is _UNPLANNED:
            plan = self._script_plan(event)
            if not event.truncated:
                _remember(memo, key, plan)
        else:
            plan = found  # type: ignore[assignment]  # (no cast(): this runs for every script)
        if plan is None:
            return
        attrs, verdict, hold, on = plan
        if hold:
            self._held = (event, attrs)
            self._held_on = on
        else:
            self._decide_script(event, attrs, verdict, on)

    def _script_plan(self, event: Event) -> _ScriptPlan | None:
        """What a script start tag asks for, from its bytes alone: nothing (None), a decision
        on ``verdict``, or (``hold``) its content first."""
        attrs = self._amap(event)
        rules = self._rules
        if not (_MARKUP_ATTRS.isdisjoint(attrs) and attrs.get(b"class", b"").find(b"optanon-category") < 0):
            gated = attrs.get(b"type", b"").strip(b" \t\n\f\r").lower() == b"text/plain"
            verdict = rules.classify_markup(attrs, gated_script=gated)
            if verdict is not None:
                return attrs, verdict, False, None  # the site's own markup decides
        kind = _script_kind(attrs)
        if kind == "data":
            if _is_import_map(attrs) and not event.truncated and not event.foreign:
                return attrs, None, True, None  # read for the module scripts after it (_read_import_map)
            return None  # a data block (JSON-LD, templates): never runs
        # A tracker's code in onload/onerror: the script waits with it (see _decide_script).
        on = None
        if not _HANDLER_NAMES.isdisjoint(attrs):
            handlers = self._handler_plan(event, self._tok.slice(event.start, event.end))
            on = handlers[0] if handlers is not None else None
        if event.foreign:
            sources = [attrs[a] for a in _FOREIGN_URL_ATTRS["script"] if a in attrs]
        elif kind == "loader":
            # Run later by a script loader (WP Rocket, LiteSpeed, Partytown, Rocket Loader...),
            # which takes the URL from src or its own data-*-src.
            sources = [value for name, value in attrs.items() if name == b"src" or name.endswith(b"-src")]
        else:
            sources = [attrs[b"src"]] if b"src" in attrs else []
        if sources:
            verdicts = [rules.classify_url(src, self._base_host, self._page_host) for src in sources]
            verdict = next((v for v in verdicts if v is not None), None)
            if verdict is None:
                # <script src="data:..."> runs the code the URL holds
                verdict = self._document_verdict(
                    src for src in sources if src.lstrip(_WS)[:5].lower() == b"data:"
                )
            return (attrs, verdict, False, on) if verdict is not None or on is not None else None
        if event.truncated:
            return attrs, None, False, on
        if rules.has_signatures or self._imports:
            # An SVG script runs its text too (its end tag comes as an END event).
            return attrs, None, True, on
        return (attrs, None, False, on) if on is not None else None

    def _finish_held(self, held: tuple[Event, dict[bytes, bytes]], content_end: int) -> None:
        """The held script's content ends at ``content_end`` (its end tag, or EOF)."""
        event, attrs = held
        if content_end - event.start <= self._max_buffer:
            self._held = None
            content = self._tok.slice(event.end, content_end)
            if b"type" in attrs and _is_import_map(attrs):
                self._read_import_map(content)
                return
            verdict = self._rules.classify_inline(content, page_host=self._page_host)
            if verdict is None and self._imports:
                verdict = self._imported_tracker(content)
            self._decide_script(event, attrs, verdict, self._held_on)
        else:  # exactly what a page streamed in small pieces gets
            self._release_held_script(event, attrs)

    def _release_held_script(self, event: Event, attrs: dict[bytes, bytes]) -> None:
        """An inline script outgrew the buffer: decide on its first max_buffer bytes (counted
        from the start tag, whatever the chunks), then scan the rest as it streams."""
        self._held = None
        if _is_import_map(attrs):
            logger.debug("consentgate: an import map longer than %d bytes is not read", self._max_buffer)
            return
        cut = max(event.end, event.start + self._max_buffer)
        first = self._tok.slice(event.end, cut)
        verdict = self._rules.classify_inline(first, whole=False)
        carrier = DataCarrier()
        if carrier.feed(first) and (
            verdict is None or self._rules.data_verdict(first, self._page_host) is None
        ):
            # Maybe a framework's data (consentgate.html.carrier), which must stay whole: what
            # it names counts only if it turns out to be code (broken at its end then).
            self._carrier, self._carrier_fed, self._carrier_hit = carrier, cut, verdict
            verdict = None
        else:
            self._decide_script(event, attrs, verdict, self._held_on)
        if verdict is None:
            self._stream_script = Verdict(UNKNOWN_CATEGORY, None, "", "signature")
            self._stream_scan_from = max(event.end, cut - _SIG_OVERLAP)
            self._stream_line = self._line(event.start)

    def _end_stream(self, content_end: int) -> None:
        """End of a streamed script: a signature met after the cut, not granted, breaks it,
        unless all of the script was a framework's data naming only frames, images or links."""
        self._scan_stream(content_end)
        carrier = self._carrier
        if carrier is not None and not carrier.feed(b"", final=True):
            self._not_data()
        self._carrier = self._carrier_hit = None
        if self._stream_found is not None and not self._stream_allowed():
            self._replace(content_end, content_end, _BREAKER)
        self._stream_script = self._stream_found = None

    def _not_data(self) -> None:
        """The streamed script is code after all: what its data named counts."""
        self._carrier = None
        if self._stream_found is None and self._carrier_hit is not None:
            self._found_in_stream(self._carrier_hit)

    def _found_in_stream(self, verdict: Verdict) -> None:
        self._stream_found = verdict
        self._report("script", verdict, self._stream_line, self._action(verdict))

    def _scan_stream(self, upto: int) -> None:
        carrier = self._carrier
        if carrier is not None and upto > self._carrier_fed:
            if not carrier.feed(self._tok.slice(self._carrier_fed, upto)):
                self._not_data()
            self._carrier_fed = upto
        if self._stream_found is None and upto > self._stream_scan_from:
            piece = self._tok.slice(self._stream_scan_from, upto)
            verdict = self._rules.classify_inline(piece, whole=False)
            if verdict is not None and self._carrier is not None:
                held = self._rules.data_verdict(piece, self._page_host)
                if held is None:  # only frames, images or links so far
                    self._carrier_hit = self._carrier_hit or verdict
                else:  # data holding a script: it waits like that script
                    self._not_data()
                    if self._stream_found is None:
                        self._found_in_stream(held)
            elif verdict is not None:
                self._found_in_stream(verdict)
        self._stream_scan_from = max(self._stream_scan_from, upto - _SIG_OVERLAP)

    def _stream_allowed(self) -> bool:
        return self._stream_found is not None and self._action(self._stream_found) != "blocked"

    def _decide_script(
        self, event: Event, attrs: dict[bytes, bytes], verdict: Verdict | None, on: Verdict | None = None
    ) -> None:
        """``on``: the tracker the script's event handlers name (onload, onerror): the script
        and its handlers wait together, as a neutralised script fires no event and the runtime
        revives it with its handlers."""
        if verdict is None and event.truncated:
            # A start tag too long to read: its src may be in the part not seen.
            verdict = Verdict(UNKNOWN_CATEGORY, None, "", "unknown")
        if on is not None:
            verdict = on if verdict is None else self._blocked_first(verdict, on)
        if verdict is None:
            return
        action = self._action(verdict)
        self._report("script", verdict, self._line(event.start), action)
        if action != "blocked":
            return
        tag = self._tok.slice(event.start, event.end)
        memo = self._memo
        service = verdict.service
        key = (tag, event.foreign, verdict.category, service.id if service else None, verdict.rule)
        blocked: bytes | None = memo.get(key) if not event.truncated else None  # type: ignore[assignment]
        if blocked is None:
            if verdict.rule == "markup" and _script_kind(attrs) == "data":
                # already gated by the site: keep its shape
                blocked = _rewritten(event, tag, _NO_ATTRS, _markers(verdict))
            else:
                moved = _FOREIGN_SCRIPT_MOVED if event.foreign else _SCRIPT_MOVED
                blocked = _rewritten(event, tag, moved, b' type="text/plain"' + _markers(verdict))
            if not event.truncated:
                _remember(memo, key, blocked)
        self._replace(event.start, event.end, blocked)

    # -- frames, images, media, links, pings -------------------------------------------------
    def _resource(self, event: Event) -> None:
        name = event.name
        tag = self._tok.slice(event.start, event.end)
        memo = self._memo
        key = (tag, event.foreign, self._base_host, self._page_host)
        found = memo.get(key, _UNPLANNED) if not event.truncated else _UNPLANNED
        if found is _UNPLANNED:
            plan = self._resource_plan(event, tag)
            handlers = self._handler_plan(event, tag)
            if not event.truncated:
                _remember(memo, key, (plan, handlers))
        else:
            plan, handlers = found  # type: ignore[misc]
        slot = len(self._placeholders)
        if name == "object":
            self._placeholders.append((name, None))  # one slot per object: they nest
        # The document in <iframe srcdoc> loads what it names, whatever happens to src.
        srcdoc = (
            name == "iframe"
            and not event.foreign
            and not event.truncated
            and tag.lower().find(b"srcdoc") >= 0
        )
        resource_blocked = False
        out = tag
        if plan is not None:
            verdict, blocked, moved, blanks = plan
            finding = self._report(name, verdict, self._line(event.start), self._action(verdict))
            resource_blocked = finding.action == "blocked"
            if resource_blocked:
                out = blocked
        if handlers is not None:
            held = self._handlers_blocked(event, handlers)
            if held is not None and resource_blocked:
                # Both blocked: one set of markers, of the one granted last (the most sensitive).
                worse = self._worse(verdict, held[0])
                out = _rewritten(event, tag, {**moved, **held[1]}, blanks + _markers(worse))
            elif held is not None:
                out = _rewritten(event, tag, held[1], _markers(held[0]))
        if srcdoc:
            self._replace_if_changed(event, tag, self._with_srcdoc(event, out))
        elif out is not tag:
            self._replace(event.start, event.end, out)
        if not resource_blocked:
            return
        placeholder = None
        if self._placeholder is not None and self._boxed(event, tag, key, verdict):
            placeholder = self._placeholder(finding)
        if name in _PLACEHOLDER_AFTER_START:
            if placeholder:
                self._place_at(event.end, placeholder)
        elif name == "object":
            self._placeholders[slot] = (name, placeholder)
        elif name in _PLACEHOLDER_AFTER_END:
            self._placeholders.append((name, placeholder))

    def _boxed(self, event: Event, tag: bytes, key: object, verdict: Verdict) -> bool:
        """Does this blocked frame get a "Load content" box: something to offer
        (:func:`_offers_content`, or a content URL), neither unseen nor a strip? From the
        tag's bytes alone, so remembered beside its plan."""
        memo_key = ("boxed", key)
        found = self._memo.get(memo_key)
        if found is None or event.truncated:
            found = bool(_offers_content(verdict) or _CONTENT_URL.search(tag) is not None)
            if found:
                attrs = self._amap(event)
                found = not _unseen(attrs) and not _strip(attrs)
            if not event.truncated:
                _remember(self._memo, memo_key, found)
        return bool(found)

    def _resource_plan(self, event: Event, tag: bytes) -> _ResourcePlan | None:
        """From the tag's bytes alone: its verdict and the tag as it is when blocked, or None."""
        name = event.name
        if (
            name not in _UNKNOWN_COUNTS
            and self._base_host is None
            and not event.truncated
            and self._harmless(tag)
        ):
            return None
        attrs = self._amap(event)
        if name == "link" and _LINK_RELS.isdisjoint(attrs.get(b"rel", b"").lower().split()):
            return None
        rules = self._rules
        verdict = rules.classify_markup(attrs)
        primary = _FOREIGN_URL_ATTRS[name] if event.foreign else _URL_ATTRS[name]
        lazy = _lazy_attrs(attrs) if name in _LAZY else ()
        source = primary
        if verdict is None:
            unknown_counts = name in _UNKNOWN_COUNTS
            verdict = self._classify_attrs(attrs, primary, unknown_counts)
            if verdict is None and lazy:
                # Lazy loaders copy data-src into src: a tracker parked there loads all the same.
                source = lazy
                verdict = self._classify_attrs(attrs, lazy, False)
        if verdict is None and name in _DOCUMENT_FRAMES:
            verdict = self._document_verdict(attrs[a] for a in primary if a in attrs)
        if verdict is None and event.truncated and (name == "iframe" or not any(a in attrs for a in primary)):
            # Its src may be in the part not seen; an iframe's srcdoc, which wins, as well.
            verdict = Verdict(UNKNOWN_CATEGORY, None, "", "unknown")
        if verdict is None:
            return None
        if source is lazy:
            moved = _lazy_moves(lazy, has_primary=any(a in attrs for a in primary))
        else:
            moved = {a: _MOVED_NAME[a] for a in source if a in attrs}
        blanks = b""
        if event.truncated:
            blanks = _BLANKS[name]
            if event.foreign and name == "image":
                blanks = _BLANKS["use"] + blanks
        return verdict, _rewritten(event, tag, moved, blanks + _markers(verdict)), moved, blanks

    # -- event handlers, a refresh's target --------------------------------------------------
    def _handler_plan(self, event: Event, tag: bytes) -> tuple[Verdict, dict[bytes, bytes]] | None:
        """The tracker whose code the tag's event-handler attributes hold (judged as an inline
        script: signatures, then the loader rules), and where those attributes go while it is
        blocked (``onload`` -> ``data-consentgate-onload``). Handlers that name no tracker
        stay where they are."""
        if event.truncated:
            attrs = self._amap(event)  # read once for all the rules (a cut tag is 64 KiB)
            if _HANDLER_NAMES.isdisjoint(attrs):
                return None
        elif not may_hold_handler(tag):
            return None
        memo = self._memo
        key = (b"on", tag, self._page_host)
        found = memo.get(key, _UNPLANNED) if not event.truncated else _UNPLANNED
        if found is not _UNPLANNED:
            return found  # type: ignore[return-value]
        attrs = self._amap(event)
        worst: Verdict | None = None
        moved: dict[bytes, bytes] = {}
        for name in handler_names(attrs):
            verdict = self._rules.classify_inline(handler_code(attrs[name]), page_host=self._page_host)
            if verdict is None:
                continue
            moved[name] = b"data-consentgate-" + name
            if worst is None or _severity(verdict) > _severity(worst):
                worst = verdict
        plan = (worst, moved) if worst is not None else None
        if not event.truncated:
            _remember(memo, key, plan)
        return plan

    def _handlers_blocked(
        self, event: Event, plan: tuple[Verdict, dict[bytes, bytes]]
    ) -> tuple[Verdict, dict[bytes, bytes]] | None:
        """Report the handlers' tracker; the plan again when it is blocked, else None."""
        verdict = plan[0]
        action = self._action(verdict)
        self._report(event.name, verdict, self._line(event.start), action)
        return plan if action == "blocked" else None

    def _blocked_first(self, first: Verdict, second: Verdict) -> Verdict:
        """Of two verdicts on one script, the one that keeps it out: blocked before allowed,
        then the most sensitive."""
        first_blocked = self._action(first) == "blocked"
        if first_blocked != (self._action(second) == "blocked"):
            return first if first_blocked else second
        return self._worse(first, second)

    # -- import maps ---------------------------------------------------------------------------
    def _read_import_map(self, content: bytes) -> None:
        """Remember the specifiers an import map sends to a tracker's host; the map itself
        stays as it is (a mapping loads nothing: the module script that imports it does)."""
        for key, url in import_map_entries(content):
            verdict = self._rules.classify_url(
                url.encode("utf-8", "replace"), self._base_host, self._page_host
            )
            if verdict is not None:
                if len(self._imports) >= _MAX_IMPORTS:
                    return
                self._imports[key] = verdict

    def _imported_tracker(self, code: bytes) -> Verdict | None:
        """The most sensitive tracker a script imports through the page's import map."""
        worst: Verdict | None = None
        for specifier in imported_specifiers(code):
            key = mapped_target(specifier, self._imports)
            if key is not None:
                verdict = self._imports[key]
                if worst is None or _severity(verdict) > _severity(worst):
                    worst = verdict
        return worst

    def _worse(self, first: Verdict, second: Verdict) -> Verdict:
        """Of two blocked verdicts on one element, the one granted last: the most sensitive."""
        return second if _severity(second) > _severity(first) else first

    def _refresh_plan(self, attrs: Mapping[bytes, bytes]) -> Verdict | None:
        """The tracker a ``<meta http-equiv="refresh">`` sends the visitor to, if any: a
        navigation hands the tracker the visit, as a pixel would."""
        if attrs.get(b"http-equiv", b"").strip(_WS).lower() != b"refresh" or b"content" not in attrs:
            return None
        url = refresh_url(attrs[b"content"])
        if url is None:
            return None
        return self._rules.classify_url(url, self._base_host, self._page_host, unknown_counts=False)

    def _attributes_only(self, event: Event) -> None:
        """``<body>``, ``<frameset>``, ``<form>``, ``<meta>``: nothing to load but what their
        event handlers run, or where a refresh goes."""
        tag = self._tok.slice(event.start, event.end)
        memo = self._memo
        key = (b"attributes", tag, self._base_host, self._page_host)
        found = memo.get(key, _UNPLANNED) if not event.truncated else _UNPLANNED
        if found is _UNPLANNED:
            handlers = self._handler_plan(event, tag)
            refresh = None
            if event.name == "meta" and tag.lower().find(b"refresh") >= 0:
                refresh = self._refresh_plan(self._amap(event))
            if not event.truncated:
                _remember(memo, key, (handlers, refresh))
        else:
            handlers, refresh = found  # type: ignore[misc]
        if handlers is None and refresh is None:
            return
        parts: list[tuple[Verdict, dict[bytes, bytes]]] = []
        if handlers is not None:
            blocked = self._handlers_blocked(event, handlers)
            if blocked is not None:
                parts.append(blocked)
        if refresh is not None:
            action = self._action(refresh)
            self._report("meta", refresh, self._line(event.start), action)
            if action == "blocked":
                parts.append((refresh, {b"content": b"data-consentgate-content"}))
        if not parts:
            return
        worst = parts[0][0]
        moved: dict[bytes, bytes] = {}
        for verdict, names in parts:
            worst = self._worse(worst, verdict)
            moved.update(names)
        self._replace(event.start, event.end, _rewritten(event, tag, moved, _markers(worst)))

    def _inner(
        self, offset: int, *, fragment: bool = False, tree: ForeignContent | None = None, closes: bool = True
    ) -> HtmlRewriter:
        """A rewriter for a document inside this page, from ``offset`` on (``<noscript>``
        content, a ``srcdoc``): same rules, consent, listeners and base URL; no snippets."""
        inner = HtmlRewriter(
            self._rules,
            self._allows,
            placeholder=self._placeholder,
            on_finding=self._on_finding,
            max_buffer=self._max_buffer,
            page_host=self._page_host,
            line_offset=self._line(offset) - 1,
            base_host=self._base_host,
            fragment=fragment,
            tree=tree,
            line_numbers=self._lines,
        )
        inner._depth = self._depth + 1
        inner._closes = closes
        if fragment:  # <noscript> content: in this document, where its placeholders' forms go
            inner._forms = self._forms
        return inner

    def _replace_if_changed(self, event: Event, tag: bytes, rewritten: bytes) -> None:
        if rewritten != tag:
            self._replace(event.start, event.end, rewritten)

    def _with_srcdoc(self, event: Event, tag: bytes) -> bytes:
        """``tag`` (an iframe's start tag, maybe already rewritten) with the document in its
        ``srcdoc`` rewritten as a page of its own (see consentgate.html.srcdoc)."""
        name_end = event.name_end - event.start
        found = named_attrs(tag, name_end, len(tag) - 1, (b"srcdoc",))
        if not found:
            return tag
        value = VALUE.match(tag, found[0][1], found[0][2])
        if value is None or value.lastindex is None:
            return tag  # no value: an empty document
        index = value.lastindex
        if self._depth >= _SRCDOC_DEPTH:
            # srcdoc in srcdoc in srcdoc...: not read further, so not shown either
            return tag[: value.start(index) - (index < 3)] + b'""' + tag[value.end(index) + (index < 3) :]
        document, kept = unescape_document(value.group(index))
        # about:srcdoc has the page's base URL; nothing follows it, so what it leaves open stays so
        inner = self._inner(event.start, closes=False)
        rewritten = inner.feed(document) + inner.close()
        if rewritten == document:
            return tag
        quoted = index < 3  # groups 1 and 2 sit inside their quotes
        start, end = value.start(index) - quoted, value.end(index) + quoted
        return tag[:start] + b'"' + escape_document(rewritten, kept) + b'"' + tag[end:]

    def _harmless(self, tag: bytes) -> bool:
        """Quick look at an image, media or link tag: no known tracker host and no consent
        markup anywhere in it? (Unknown hosts do not count for these elements.) Anything the
        quick look cannot read plainly (character references, backslashes, a host broken by
        a newline) goes the full way."""
        if _needs_full_look(tag):
            return False
        rules = self._rules
        for host, odd in _TAG_HOSTS.findall(tag):
            if odd:
                return False
            known = rules.tracker_host(host)
            if known is not None and known != self._page_host:
                return False
        return True

    def _classify_attrs(
        self, attrs: dict[bytes, bytes], names: tuple[bytes, ...], unknown_counts: bool
    ) -> Verdict | None:
        for attr in names:
            value = attrs.get(attr)
            if value is None:
                continue
            for url in _urls(attr, value):
                verdict = self._rules.classify_url(
                    url, self._base_host, self._page_host, unknown_counts=unknown_counts
                )
                if verdict is not None:
                    return verdict
        return None

    def _document_verdict(self, urls: Iterable[bytes]) -> Verdict | None:
        """A frame whose URL is a document of its own (``javascript:``, ``data:``), or a
        script whose URL is ``data:``, loads or runs what that text names: a signature in it,
        or the host of a service, decides."""
        rules = self._rules
        for url in urls:
            document = url_document(url)
            if not document:
                continue
            verdict = rules.classify_inline(document, page_host=self._page_host)
            if verdict is not None:
                return verdict
            for m in _DOCUMENT_HOST.finditer(document.lower()):
                host = rules.tracker_host(m.group(1))
                if host is not None and host != self._page_host:
                    return rules.classify_url(b"//" + m.group(1), None, None, unknown_counts=False)
        return None

    # -- noscript ----------------------------------------------------------------------------
    def _end_noscript(self, end: int) -> None:
        start = self._noscript_from
        if start < 0:
            return
        if end - start > self._max_buffer:
            # As when streamed: content longer than the buffer passes as it is (it does not
            # run in a JavaScript browser; only clients without JavaScript would load it).
            self._noscript_from = -1
            return
        self._rewrite_noscript(start, end)

    def _rewrite_noscript(self, start: int, end: int) -> None:
        self._noscript_from = -1
        content = self._tok.slice(start, end)
        if (
            self._noscript_tree is None
            and _SIMPLE_NOSCRIPT.fullmatch(content)
            and b"ping" not in content.lower()
        ):
            # The usual content (pixels, frames, stylesheets, in links or divs at most): read in
            # place, with what the fragment rewriter below would report.
            for m in _NOSCRIPT_TOKEN.finditer(content):
                if m.start(1) >= 0:
                    name = m.group(2).lower().decode("ascii")
                    tag_start = start + m.start(1)
                    self._resource(Event(START, name, tag_start, start + m.end(1), tag_start + 1 + len(name)))
                elif m.start(3) >= 0:
                    tag_start, close_start = start + m.start(3), start + m.start(4)
                    self._resource(Event(START, "iframe", tag_start, start + m.end(3), tag_start + 7))
                    self._end_tag(Event(END, "iframe", close_start, start + m.end(4), close_start + 8))
            return
        inner = self._inner(start, fragment=True, tree=self._noscript_tree)
        rewritten = inner.feed(content) + inner.close()
        if rewritten != content:
            self._replace(start, end, rewritten)

    # -- shared helpers ----------------------------------------------------------------------
    def _action(self, verdict: Verdict) -> Action:
        if verdict.rule == "unknown":
            mode = self._rules.unknown_third_party
            if verdict.host and mode == "allow":
                return "allowed"
            if verdict.host and mode == "report":
                return "reported"
            grant = self._rules.unknown_grant  # ("block": the host loads once that is granted)
            if verdict.host and grant is not None and self._allows(None, grant):
                return "allowed"
            return "blocked"
        service = verdict.service
        return "allowed" if self._allows(service.id if service else None, verdict.category) else "blocked"

    def _report(self, tag: str, verdict: Verdict, line: int, action: Action) -> Finding:
        service = verdict.service
        finding = _finding(
            tag,
            verdict.category,
            service.id if service else None,
            service.name if service else "",
            verdict.host,
            verdict.rule,
            line,
            action,
        )
        if self._on_finding is not None:
            self._on_finding(finding)
        return finding


def _rewritten(event: Event, tag: bytes, moved: Mapping[bytes, bytes], insert: bytes) -> bytes:
    """``tag`` with ``insert`` after its name and the ``moved`` attributes renamed (the first
    of each name, as browsers read them; never the unfinished last one of a cut tag)."""
    last = event.name_end - event.start
    pieces = [tag[:last], insert]
    if moved:
        end = len(tag) if event.truncated else len(tag) - 1
        for start, name_end, attr_end, name in named_attrs(tag, last, end, tuple(moved)):
            if attr_end < end or not event.truncated:
                pieces += (tag[last:start], moved[name])
                last = name_end
    pieces.append(tag[last:])
    return b"".join(pieces)


_SRCDOC_DEPTH: Final = 3
_DOCUMENT_FRAMES: Final = frozenset({"iframe", "frame", "object", "embed"})
_DOCUMENT_HOST: Final = re.compile(rb"//([^/\\?#\"'\t\n\f\r >:@<]++)")
_UNPLANNED: Final = object()  # memo sentinel
# A script start tag: its attributes, a verdict to act on, or whether its content decides;
# the tracker its event handlers name.
_ScriptPlan = tuple[dict[bytes, bytes], Verdict | None, bool, Verdict | None]
# A resource's verdict, its tag when blocked, the attributes that move, the blanks inserted first.
_ResourcePlan = tuple[Verdict, bytes, dict[bytes, bytes], bytes]


_MAX_IMPORTS: Final = 1024


def _is_import_map(attrs: Mapping[bytes, bytes]) -> bool:
    return attrs.get(b"type", b"").strip(_WS).lower() == b"importmap"


def _severity(verdict: Verdict) -> int:
    return _SEVERITY.get(verdict.category, 2)


_SEVERITY: Final = {NECESSARY: 0, "preferences": 1, "analytics": 2, "marketing": 3}
# Tag decisions remembered per Rules (dropped all at once when full). A site's templates and
# plug-ins make a few thousand distinct tags: the corpus's 80 sites together fill ≈ 4,000; a
# full memory holds ≈ 3 MB.
_MEMO_SIZE: Final = 8192


def _remember(memo: dict[object, object], key: object, value: object) -> None:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()  # bounded: keys come from pages
    memo[key] = value


@lru_cache(maxsize=1)
def _log_passthrough() -> None:
    # Once per process: a site that serves UTF-16 serves every page that way.
    logger.warning(
        "consentgate: a page in UTF-16 (or another encoding that is not ASCII-compatible) "
        "passes through without tracker blocking"
    )


@lru_cache(maxsize=1024)
def _finding(
    tag: str,
    category: str,
    service_id: str | None,
    service_name: str,
    host: str,
    rule: Rule,
    line: int,
    action: Action,
) -> Finding:
    # Findings are values: without line numbers, pages report the same few again and again
    # (a frozen dataclass costs more to build than to look up).
    return Finding(tag, category, service_id, service_name, host, rule, line, action)


def _markers(verdict: Verdict) -> bytes:
    return _marker_bytes(verdict.category, verdict.service.id if verdict.service is not None else None)


@lru_cache(maxsize=1024)
def _marker_bytes(category: str, service_id: str | None) -> bytes:
    out = b' data-consentgate-blocked data-consentgate-category="' + _attr_value(category) + b'"'
    if service_id is not None:
        out += b' data-consentgate-service="' + _attr_value(service_id) + b'"'
    return out


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _script_kind(attrs: dict[bytes, bytes]) -> ScriptKind:
    """``js``: the browser runs it; ``data``: nothing runs it (JSON-LD, import maps,
    templates, a consent tool's ``text/plain``); ``loader``: any other type, which the browser
    skips and a script loader may run later (``rocketlazyloadscript``, ``litespeed/javascript``,
    ``text/partytown``, Rocket Loader's ``<hash>-text/javascript``, ``text/babel``...)."""
    kind = attrs.get(b"type")
    if kind is None or not kind.strip(_WS):
        language = attrs.get(b"language")
        if language is None or not language.strip(_WS):
            return "js"
        # language="VBScript" and the like ran in old browsers only
        return "js" if "text/" + _text(language).strip(" \t\n\f\r").lower() in _JS_TYPES else "data"
    # Lenient like browsers in practice: "text/javascript; charset=utf-8" runs.
    name = _text(kind).lower().split(";")[0].strip(" \t\n\f\r")
    if name in _JS_TYPES:
        return "js"
    if name in _DATA_TYPES or any(word in name for word in _TEMPLATE_WORDS) or name.endswith(_DATA_SUFFIXES):
        return "data"
    return "loader"


_QUIET_NAMES: Final = frozenset(_URL_ATTRS) - _UNKNOWN_COUNTS
# An attribute that may be an event handler (`on` and a letter where a name may start), up to
# the tag's first `>`. Greedy on purpose: `re` runs `[^>]*` to the `>` in C, then steps back
# to each `o` only (a literal starts the rest); a class loop or a lazy repeat costs several
# times more per byte (measured with callgrind on the corpus pages).
_MAY_HANDLE: Final = rb"[^>]*on(?<=[\t\n\f\r \"'/]on)[a-z]"
# A quoted value holding `>`: the tag goes on past its first `>`, so the above cannot tell.
_QUOTED_GT: Final = rb"[^>]*=[\t\n\f\r ]*+[\"'][^\"'>]*+>"
# Elements looked at only for their attributes, each with a lookahead of its own: handlers,
# or a refresh.
_QUIET_ATTRIBUTES: Final = (
    (frozenset({"body", "frameset"}), rb"(?=" + _MAY_HANDLE + b"|" + _QUOTED_GT + b")"),
    (frozenset({"meta"}), rb"(?=[^>]*refresh|" + _QUOTED_GT + b")"),
)
_QUIET_LONG: Final = 256


@lru_cache(maxsize=8)
def _quiet_lookahead(known_host: bytes) -> bytes:
    """:meth:`HtmlRewriter._harmless` as a regex lookahead on lower-cased bytes: a start tag
    passes when the quick look might say no (a superset: the exact check still runs on what
    passes). It reads up to the first ``>``, so a quoted value holding ``>`` (the tag goes
    on) passes too, as do long tags (cut ones follow other rules). So does an attribute that
    may be an event handler (``on`` and a letter where a name may start): its code is judged
    exactly (``_MAY_HANDLE``, after the walk: most tags end it at their `>`)."""
    # Each trigger starts with one of the bytes `\ & : / = -`; runs of other bytes are skipped
    # in C, and at each of those bytes only the triggers that start with it are tried.
    host_byte = rb"[^/\\?#\"'\t\n\f\r >:@]"
    quoted_gt = rb"[\t\n\f\r ]*+(?:\"[^\">]*+>|'[^'>]*+>)"  # a quoted value holding `>`
    scheme = rb"(?:(?<=http:)|(?<=https:))(?!//)"
    markup = rb"(?:(?<=data-)(?:category|cookieconsent|service|name)|(?<=optanon-)category)"
    # `//` then a host broken by a newline or a user name, or a host a service may declare
    # (``known_host`` starts with `//` too: the literal comes first, which `re` scans for fast).
    hosts = rb"//(?:" + host_byte + rb"*+[\t\n\r@]|" + known_host.removeprefix(b"//") + rb")"
    plain = (
        rb"(?:[^>\\&:/=-]++|=(?!" + quoted_gt + rb")"
        rb"|(?!" + hosts + rb")/|-(?!" + markup + rb")|:(?!" + scheme + rb")|&(?=amp;))*+"
    )
    # The walk stops at `>` (harmless), or where a trigger starts: then one byte more passes.
    return rb"(?=[^>]{%d}|" % _QUIET_LONG + plain + rb"[^>]|" + _MAY_HANDLE + rb")"


def _needs_full_look(tag: bytes) -> bool:
    """Does the tag hold anything the quick look cannot read plainly: a character reference,
    a backslash, a scheme without its slashes, consent markup?

    (``bytes.find``, not ``in``, on this path and the other per-tag ones: CPython 3.11's
    ``bytes.__contains__`` first tries its operand as an integer and pays for a TypeError.)"""
    if tag.find(b"\\") >= 0:
        return True
    tag = tag.lower()
    return (
        (tag.find(b"&") >= 0 and _CHAR_REFERENCE.search(tag) is not None)
        or _NO_SLASHES.search(tag) is not None
        or _MARKUP_DATA.search(tag) is not None
        or tag.find(b"optanon-category") >= 0
    )


def _usual_start(data: bytes) -> int:
    """Where ``<!doctype html><html><head><meta charset>`` (each but the meta optional) ends
    when the page starts so; else -1. On more bytes of the same page, the same answer."""
    prologue = _PROLOGUE.match(data)
    if prologue is None or not _is_charset_meta(attr_map(data, *prologue.span(1))):
        return -1
    return prologue.end()


def _first_in_head(data: bytes) -> int:
    """Where the head's first content starts when the page opens with at most a doctype,
    comments, ``<html>`` and ``<head>`` before it: the first byte of text that is not white
    space, or of a whole tag that is neither ``html`` nor ``head``; -1 when the first bytes
    cannot tell (a bogus comment, a tag cut short, nothing after the head yet) and the
    prologue reads the page tag by tag. For a page without a ``<meta charset>`` to wait for.

    >>> _first_in_head(b"<!DOCTYPE html><html lang=en><head>\\n  <title>t</title>")
    38
    >>> _first_in_head(b"<html><head><!x><title>t</title>"), _first_in_head(b"<head><tit")
    (-1, -1)
    """
    e = _OPENING.match(data).end()  # type: ignore[union-attr]  # every part is optional
    if e + 2 >= len(data):
        return -1
    if data[e] != 0x3C:  # `<`
        return e  # text
    tag = _FIRST_TAG.match(data, e)
    if tag is None or tag.group(1).lower() in (b"html", b"head"):
        return -1
    return e


_UTF8_BOM: Final = b"\xef\xbb\xbf"
# How far a response fetched by a script is read for a doctype or <html> before it counts as a
# fragment (licence comments come before doctypes).
_DOCUMENT_LOOK: Final = 16384
# One token of what may come before a document's first tag: white space, a doctype (group 1),
# a comment (`<!-->` and `<!--->` included), a bogus comment (`<!x>`, `<?xml ...?>`).
_LEADING_TOKEN = re.compile(
    rb"[\t\n\f\r ]++|(<![dD][oO][cC][tT][yY][pP][eE][^>]*+>)"
    rb"|<!--(?:-?>|[^-]*+(?:-(?!-!?>)[^-]*+)*+--!?>)|<!(?!--)[^>]*+>|<\?[^>]*+>"
)
_HTML_TAG = re.compile(rb"<[hH][tT][mM][lL][\t\n\f\r />]")


def _is_document(data: bytes) -> bool | None:
    """Does a response start as a whole document: a doctype, or ``<html>`` as its first tag,
    after white space, comments and ``<?xml ...?>`` of any length? None while the first bytes
    cannot tell yet (the answer on more bytes of the same response is then the same).

    A piece that starts with ``<head>`` or ``<body>`` is a fragment: htmx merges a fragment's
    ``<head>`` into the page's head, where snippets would run a second runtime.

    >>> _is_document(b"<!-- page --><!DOCTYPE html><title>t</title>"), _is_document(b"<tr><td>1</td></tr>")
    (True, False)
    >>> _is_document(b"<!-- not a <!DOCTYPE html> --><li>"), _is_document(b"<!-- a licence, not yet"), _is_document(b"<ht")
    (False, None, None)
    """
    if len(data) < 3 and _UTF8_BOM.startswith(data):
        return None
    pos = 3 if data.startswith(_UTF8_BOM) else 0
    while (m := _LEADING_TOKEN.match(data, pos)) is not None:
        if m.group(1) is not None:
            return True
        pos = m.end()
    rest = data[pos : pos + 6]
    if rest.startswith((b"<!", b"<?")) or (len(rest) < 6 and b"<html ".startswith(rest.lower())):
        return None  # a comment, doctype or `<?` not finished yet, or all white space so far
    return _HTML_TAG.match(rest) is not None


# Services whose frames are ad slots or measurement, nothing a visitor would ask to load.
_NOTHING_TO_OFFER: Final = frozenset(
    {
        "advertising",
        "analytics",
        "marketing",
        "tag management",
        "performance monitoring",
        "session replay",
        "error monitoring",
        "affiliate tracking",
        "visitor identification",
        "visitor tracking",
        "email marketing",
        "pop-ups",
        "push notifications",
        "website personalisation",
        "product tours",
    }
)


# A frame URL that names a player, an embed or a map offers content, whatever its vendor's
# catalog purposes say (JW Player is catalogued as its ad business, LinkedIn's post embeds
# as its Insight tag, Bing Maps as Bing Ads).
_CONTENT_URL: Final = re.compile(rb"(?i)\bsrc\s*=\s*[\"']?[^\"'\s>]*(?:/embed|/player|/maps\b|\.player\.)")


def _offers_content(verdict: Verdict) -> bool:
    """Does a blocked frame of this verdict hold something to offer with "Load content" (a
    video, a map, a post, a chat, an unknown host's widget), rather than an ad slot or a
    measurement frame, which is simply left out until consent (852 of the catalog's services
    are advertising only)?"""
    service = verdict.service
    return service is None or not service.purposes or not _NOTHING_TO_OFFER.issuperset(service.purposes)


_CSS_COMMENT = re.compile(rb"/\*.*?(?:\*/|$)", re.DOTALL)
_DECLARATION = re.compile(rb"""([A-Za-z-]+)\s*:((?:[^;("']|\([^)]*\)?|"[^"]*"?|'[^']*'?)*)""")
_IMPORTANT = re.compile(rb"\s*!\s*important\s*$", re.IGNORECASE)
_CSS_PIXELS = re.compile(rb"\s*([0-9]*\.?[0-9]+)(px)?\s*")
_PIXELS = re.compile(rb"[\t\n\f\r ]*([0-9]+(?:\.[0-9]*)?)(?:px)?[\t\n\f\r ]*")
_STRIP_HEIGHT: Final = 90.0


def _declarations(style: bytes) -> dict[bytes, bytes]:
    """What a ``style`` attribute sets, property (lower case) -> value, as the cascade has it:
    comments out, the last declaration wins unless an earlier one is ``!important``."""
    found: dict[bytes, tuple[bytes, bool]] = {}
    for m in _DECLARATION.finditer(_CSS_COMMENT.sub(b" ", style)):
        name, value = m.group(1).lower(), m.group(2)
        bang = _IMPORTANT.search(value)
        important = bang is not None
        if bang is not None:
            value = value[: bang.start()]
        if name not in found or important or not found[name][1]:
            found[name] = (value.strip().lower(), important)
    return {name: value for name, (value, _) in found.items()}


def _size(attrs: Mapping[bytes, bytes], name: bytes) -> float | None:
    """The frame's ``width`` or ``height`` in CSS pixels as the page declares it: in its
    ``style`` (which wins, as in browsers; a number needs ``px`` there, but for 0), else in
    the attribute; None when not declared in pixels (``50%``, ``10em``, ``auto``, ``calc()``
    in the style: the attribute then says nothing either)."""
    declared = _declarations(attrs.get(b"style", b"")).get(name)
    if declared is not None:
        m = _CSS_PIXELS.fullmatch(declared)
        return float(m.group(1)) if m and (m.group(2) or float(m.group(1)) == 0) else None
    value = _PIXELS.fullmatch(attrs.get(name, b""))
    return float(value.group(1)) if value else None


def _unseen(attrs: Mapping[bytes, bytes]) -> bool:
    """Is the frame one nobody sees (``hidden``, ``display:none``, ``visibility:hidden``, or
    at most 1 x 1 px): a tracking pixel in a frame (Meta's ``/tr``, DoubleClick's, Google Tag
    Manager's ``<noscript>`` frame)? It is neutralised like any other, but a "Load content"
    box in its place would show something where the page shows nothing.

    >>> _unseen({b"width": b"1", b"height": b"1"}), _unseen({b"style": b"border:0; display: none"})
    (True, True)
    >>> _unseen({b"width": b"560", b"height": b"315"}), _unseen({b"style": b"width:1px"})
    (False, False)
    """
    style = _declarations(attrs.get(b"style", b""))
    if b"hidden" in attrs or style.get(b"display") == b"none" or style.get(b"visibility") == b"hidden":
        return True
    width, height = _size(attrs, b"width"), _size(attrs, b"height")
    return width is not None and height is not None and width <= 1 and height <= 1


def _strip(attrs: Mapping[bytes, bytes]) -> bool:
    """Is the frame a button or a strip, at most 90 px tall as the page declares it (a Like or
    Tweet button, a follow box: most social frames of the corpus pages)? A "Load content" box
    would be taller than the frame and break the row it sits in; the banner and the preference
    centre grant it with its category.

    >>> _strip({b"width": b"85", b"height": b"20"}), _strip({b"style": b"border:0;height:35px"})
    (True, True)
    >>> _strip({b"height": b"166"}), _strip({b"height": b"10%"}), _strip({})
    (False, False, False)
    """
    height = _size(attrs, b"height")
    return height is not None and height <= _STRIP_HEIGHT


def _is_charset_meta(attrs: dict[bytes, bytes]) -> bool:
    if b"charset" in attrs:
        return True
    return (
        attrs.get(b"http-equiv", b"").strip(_WS).lower() == b"content-type"
        and b"charset" in attrs.get(b"content", b"").lower()
    )


def _lazy_attrs(attrs: Mapping[bytes, bytes]) -> tuple[bytes, ...]:
    """The attributes of an image or frame a lazy loader may copy into its src or srcset."""
    return tuple(
        a
        for a in attrs
        if a.startswith(b"data-") and not a.startswith(b"data-consentgate-") and _LAZY_NAME.fullmatch(a)
    )


def _lazy_moves(lazy: tuple[bytes, ...], *, has_primary: bool) -> dict[bytes, bytes]:
    """Where a tracker's lazy attributes go while blocked. data-src/-srcset beside the site's own
    src go back under their names (lazysizes watches them); any other loader's attribute goes
    back as src or srcset itself, as its loader (which looked for it once, at start) would have
    put it; never two attributes of one name: later ones stay inert."""
    moved: dict[bytes, bytes] = {}
    taken: set[bytes] = set()
    for attr in lazy:
        if has_primary and attr in _LAZY_ATTRS:
            target = b"data-consentgate-" + attr
        else:
            target = b"data-consentgate-srcset" if attr.endswith(b"set") else b"data-consentgate-src"
        if target in taken:
            target = b"data-consentgate-inert-" + attr
        taken.add(target)
        moved[attr] = target
    return moved


def _urls(attr: bytes, value: bytes) -> list[bytes]:
    if attr.endswith(b"srcset") or attr in (b"data-original-set",):
        return [c.strip(_WS).split()[0] for c in value.split(b",") if c.strip(_WS)]
    if attr == b"ping":
        return value.split()
    return [value]


_WS: Final = b" \t\n\f\r"


_NOT_WS = re.compile(rb"[^\t\n\f\r ]")


def rewrite(
    data: bytes,
    rules: Rules,
    allows: Allows,
    *,
    head_snippet: bytes = b"",
    body_snippet: bytes = b"",
    placeholder: Callable[[Finding], bytes | Detached] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    page_host: str | None = None,
) -> bytes:
    """Rewrite a whole page at once (same result as feeding it in any chunks)."""
    rewriter = HtmlRewriter(
        rules,
        allows,
        head_snippet=head_snippet,
        body_snippet=body_snippet,
        placeholder=placeholder,
        on_finding=on_finding,
        page_host=page_host,
    )
    return rewriter.feed(data) + rewriter.close()


def scan(data: bytes, rules: Rules, *, page_host: str | None = None) -> list[Finding]:
    """Every tracker-relevant element of a page, as met with no consent at all (strictly
    necessary services run without it, as in the middleware)."""
    findings: list[Finding] = []
    rewriter = HtmlRewriter(
        rules,
        lambda service, category: category == NECESSARY,
        on_finding=findings.append,
        page_host=page_host,
    )
    rewriter.feed(data)
    rewriter.close()
    return findings
