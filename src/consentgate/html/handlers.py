"""Code and URLs that sit in attributes or data blocks rather than in an element's own URL:
event-handler attributes (``onload="..."``), a ``<meta http-equiv="refresh">`` target, and an
import map's specifiers (``<script type="importmap">``) as module scripts use them.

The rewriter (consentgate.html.rewriter) judges what these return with the rules that already
exist: a handler's code as an inline script (``Rules.classify_inline``: signatures, then the
loader rules), a refresh target and a mapped module URL as a URL (``Rules.classify_url``).

References: WHATWG HTML 8.1.8.1 (event handler content attributes), 4.2.5.3 (the shared
declarative refresh steps), 8.1.5.3 (import maps: parsing, and resolving a module specifier).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Final

from consentgate.html.srcdoc import unescape_document

__all__ = [
    "HANDLER_NAMES",
    "handler_code",
    "handler_names",
    "import_map_entries",
    "imported_specifiers",
    "mapped_target",
    "may_hold_handler",
    "refresh_url",
]

# In the lower-cased tag, an attribute name that starts with `on` and a letter, where a name
# can start (after white space, a quote that closed a value, or `/`): a superset of the event
# handlers of a tag. The literal `on` first lets `re` skip to each one in C: a long tag (a
# 64 KiB `data:` URL) is not read byte by byte against a character class.
_HANDLER_START: Final = re.compile(rb"on(?<=[\t\n\f\r /\"']on)[a-z]")
# Event handler content attributes (WHATWG HTML 8.1.8.2: GlobalEventHandlers,
# WindowEventHandlers, DocumentAndElementEventHandlers, plus the animation, transition, pointer
# and touch events and the prefixed ones browsers still fire): an `on...` attribute that is
# none of these runs nothing (`one="..."` is data).
_EVENT_NAMES: Final = """
    abort auxclick beforeinput beforematch beforetoggle blur cancel canplay canplaythrough change
    click close contextlost contextmenu contextrestored copy cuechange cut dblclick drag dragend
    dragenter dragleave dragover dragstart drop durationchange emptied ended error focus focusin
    focusout formdata input invalid keydown keypress keyup load loadeddata loadedmetadata
    loadstart mousedown mouseenter mouseleave mousemove mouseout mouseover mouseup mousewheel
    paste pause play playing progress ratechange reset resize scroll scrollend securitypolicyviolation
    seeked seeking select slotchange stalled submit suspend timeupdate toggle volumechange waiting
    wheel afterprint beforeprint beforeunload hashchange languagechange message messageerror
    offline online pagehide pagereveal pageshow pageswap popstate rejectionhandled storage
    unhandledrejection unload animationstart animationiteration animationend animationcancel
    transitionrun transitionstart transitionend transitioncancel pointerdown pointerup
    pointermove pointerover pointerout pointerenter pointerleave pointercancel pointerrawupdate
    gotpointercapture lostpointercapture touchstart touchend touchmove touchcancel
    webkitanimationstart webkitanimationiteration webkitanimationend webkittransitionend
    selectstart selectionchange search begin end repeat zoom
"""
HANDLER_NAMES: Final = frozenset(b"on" + name.encode("ascii") for name in _EVENT_NAMES.split())
_WS: Final = b" \t\n\f\r"


def may_hold_handler(tag: bytes) -> bool:
    """Might the start tag ``tag`` carry an event-handler attribute? (A cheap superset.)"""
    return _HANDLER_START.search(tag.lower()) is not None


def handler_names(attrs: Mapping[bytes, bytes]) -> list[bytes]:
    """The (lower-case) event-handler attributes among ``attrs``, in order."""
    return [name for name in attrs if name in HANDLER_NAMES]


def handler_code(value: bytes) -> bytes:
    """The JavaScript a handler attribute holds: its character references undone where they
    stand for ASCII (``&quot;``, ``&#47;``), as the browser reads it."""
    if value.find(b"&") < 0:
        return value
    return unescape_document(value)[0]


# -- <meta http-equiv="refresh"> ----------------------------------------------------------------
_DELAY: Final = re.compile(rb"[\t\n\f\r ]*+([0-9]*+)((?:\.[0-9.]*+)?)")


def refresh_url(content: bytes) -> bytes | None:
    """The URL a ``<meta http-equiv="refresh" content="...">`` navigates to, as the browser's
    shared declarative refresh steps read ``content``; None when it reloads the page itself or
    is not a refresh at all (``content="x"``).

    >>> refresh_url(b"0; url='https://t.example/p?a=1'"), refresh_url(b"5"), refresh_url(b"0;URL=/next")
    (b'https://t.example/p?a=1', None, b'/next')
    """
    content = handler_code(content)
    delay = _DELAY.match(content)
    if delay is None or (not delay.group(1) and not delay.group(2)):
        return None
    rest = content[delay.end() :]
    if not rest:
        return None
    if rest[:1] not in (b";", b",") and rest[:1] not in (b" ", b"\t", b"\n", b"\f", b"\r"):
        return None
    rest = rest.lstrip(_WS)
    if rest[:1] in (b";", b","):
        rest = rest[1:].lstrip(_WS)
    if not rest:
        return None
    if rest[:3].lower() == b"url":
        after = rest[3:].lstrip(_WS)
        if after[:1] == b"=":
            rest = after[1:].lstrip(_WS)
    if rest[:1] in (b'"', b"'"):
        quote, rest = rest[:1], rest[1:]
        rest = rest.partition(quote)[0]
    url = rest.strip(_WS)
    return url or None


# -- import maps ---------------------------------------------------------------------------------
def import_map_entries(text: bytes) -> list[tuple[str, str]]:
    """``(specifier key, URL)`` of every mapping in an import map, its ``scopes`` included
    (a mapping that only applies in a scope still applies to the modules loaded from there).
    An import map that is not valid JSON is ignored by the browser, and here."""
    try:
        found = json.loads(text.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return []
    if not isinstance(found, dict):
        return []
    tables = [found.get("imports")]
    scopes = found.get("scopes")
    if isinstance(scopes, dict):
        tables += list(scopes.values())
    entries: list[tuple[str, str]] = []
    for table in tables:
        if isinstance(table, dict):
            entries += [(key, url) for key, url in table.items() if isinstance(url, str) and key]
    return entries


# `import "x"`, `import a from "x"`, `export * from "x"`, `import("x")`: the string a module
# specifier is written in (the dynamic form in classic scripts too: import maps apply there).
_SPECIFIER: Final = re.compile(
    rb"(?:\bimport|\bfrom)[\t\n\f\r ]*+\(?[\t\n\f\r ]*+([\"'`])((?:(?!\1)[^\\\n])*+)\1"
)


def imported_specifiers(code: bytes) -> Iterator[str]:
    """The module specifiers a script's code imports, statically or with ``import()``."""
    if code.find(b"import") < 0 and code.find(b"from") < 0:
        return
    for m in _SPECIFIER.finditer(code):
        yield m.group(2).decode("utf-8", "replace")


def mapped_target(specifier: str, mapping: Mapping[str, object]) -> str | None:
    """The key of ``mapping`` that resolves ``specifier``: the key itself, or the longest key
    ending in ``/`` that starts it (a "packages via trailing slashes" mapping)."""
    if specifier in mapping:
        return specifier
    best = None
    for key in mapping:
        if key.endswith("/") and specifier.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return best
