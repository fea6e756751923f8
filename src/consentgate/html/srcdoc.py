"""Documents inside attributes: ``<iframe srcdoc="...">`` as bytes the rewriter can read and
write back, and the ``javascript:`` or ``data:`` URL of a frame as text to classify.

A ``srcdoc`` attribute holds a whole HTML document, escaped once as an attribute value. The
browser renders it in the frame with the page's origin (unless sandboxed) and loads whatever it
names: a pixel or a tag manager there is as live as in the page itself. Lazy video embeds put
the provider's thumbnail there; ad slots put whole ad documents there.

The rewriter never decodes the page, so neither does this module: it undoes the attribute's
character references only where they stand for ASCII (the bytes markup is made of), and keeps
every other reference, and every NUL, as it was, out of the rewriter's sight behind a marker.
Going back, every ``&`` and ``"`` the document holds is escaped again and the markers become
what they stood for, so the browser reads the same document, save what the rewriter changed.

Reference: WHATWG HTML 4.8.5 (``srcdoc``), 13.2.5.72-80 (character references in attribute
values: a legacy name without ``;`` followed by ``=`` or an alphanumeric is not decoded).
"""

from __future__ import annotations

import base64
import binascii
import html
import html.entities
import re
from typing import Final
from urllib.parse import unquote_to_bytes

__all__ = ["escape_document", "unescape_document", "url_document"]

_REFERENCE: Final = re.compile(rb"&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z][A-Za-z0-9]*)(;?))|\x00")
_MARKER: Final = re.compile(rb"\x00([0-9]+)\x00")
_NAMES: Final = {name.encode("ascii"): text for name, text in html.entities.html5.items()}
_LEGACY: Final = frozenset(name for name in _NAMES if not name.endswith(b";"))


def unescape_document(value: bytes) -> tuple[bytes, list[bytes]]:
    """The document an attribute value holds, and what its markers stand for.

    References to ASCII characters are decoded (``&quot;`` -> ``"``, ``&#60;`` -> ``<``);
    any other reference, and any NUL byte, becomes ``\\x00<n>\\x00`` with its bytes kept as
    item ``n`` of the list. What a browser leaves as it is stays as it is."""
    kept: list[bytes] = []

    def keep(raw: bytes) -> bytes:
        kept.append(raw)
        return b"\x00%d\x00" % (len(kept) - 1)

    def ascii_or_kept(text: str, raw: bytes) -> bytes:
        return text.encode("ascii") if text.isascii() else keep(raw)

    def decode(m: re.Match[bytes]) -> bytes:
        raw = m.group()
        if raw == b"\x00":
            return keep(raw)
        number = m.group(1) or m.group(2)
        if number is not None:
            code = int(number, 16 if m.group(1) is not None else 10) if len(number) < 9 else -1
            return bytes([code]) if 0 < code < 0x80 else keep(raw)
        name, semicolon = m.group(3), m.group(4)
        if semicolon and name + b";" in _NAMES:
            return ascii_or_kept(_NAMES[name + b";"], raw)
        legacy = next((name[:cut] for cut in range(len(name), 1, -1) if name[:cut] in _LEGACY), None)
        if legacy != name or (not semicolon and value[m.end() : m.end() + 1] == b"="):
            # no name, a name run on into letters or digits (`&ampx`), or `&amp=`: in an
            # attribute value the browser keeps these as they are
            return raw
        return ascii_or_kept(_NAMES[name], b"&" + name) + semicolon

    return _REFERENCE.sub(decode, value), kept


def escape_document(document: bytes, kept: list[bytes]) -> bytes:
    """``document`` as a double-quoted attribute value, the markers put back."""
    escaped = document.replace(b"&", b"&amp;").replace(b'"', b"&quot;")
    if not kept:
        return escaped
    return _MARKER.sub(lambda m: kept[int(m.group(1))] if int(m.group(1)) < len(kept) else m.group(), escaped)


_DOCUMENT_URL: Final = re.compile(r"[\x00-\x20]*+(javascript|data):(.*)", re.IGNORECASE | re.DOTALL)
_URL_NOISE: Final = re.compile(r"[\t\n\r]")  # removed by the URL parser wherever they are
_NOT_BASE64: Final = re.compile(rb"[^A-Za-z0-9+/]")


def url_document(value: bytes) -> bytes | None:
    """The document a frame's ``javascript:`` or ``data:`` URL holds, or None for any other URL.

    ``javascript:'<img src=...>'`` renders the string its code returns, and a ``data:`` URL
    (percent-encoded or base64) is a document of its own; either loads what it names. The text
    is returned as the browser would run or parse it, near enough to find hosts and signatures
    in: character references undone (an attribute value), tabs and newlines dropped, percent
    escapes decoded, base64 decoded."""
    text = value.decode("latin-1")
    if "&" in text:
        text = html.unescape(text)
    m = _DOCUMENT_URL.match(_URL_NOISE.sub("", text))
    if m is None:
        return None
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "javascript":
        return unquote_to_bytes(rest)
    header, comma, payload = rest.partition(",")
    if not comma:
        return b""
    data = unquote_to_bytes(payload)
    if header.lower().rstrip().endswith(";base64"):
        packed = _NOT_BASE64.sub(b"", data)  # whitespace and padding do not count
        try:
            return base64.b64decode(packed + b"=" * (-len(packed) % 4))
        except binascii.Error:
            return data  # not base64 after all: the browser shows nothing; looking costs nothing
    return data
