"""``Link`` response headers that would make the browser fetch a tracker before consent.

``Link: <https://connect.facebook.net/en_US/fbevents.js>; rel=preload; as=script`` on a page
makes the browser request the tracker (with its cookies, and the visitor's address) just as
``<link rel=preload>`` in the markup would, which the rewriter neutralises. So the same rule
applies to the header: a link-value whose ``rel`` fetches or connects and whose target belongs
to a service the visitor has not granted is dropped; the rest of the header stays byte-exact.

The grammar is RFC 8288 §3: ``#link-value``, each ``"<" URI-Reference ">" *( OWS ";" OWS
link-param )``; commas and semicolons inside ``<…>`` or a quoted string do not separate.
"""

from __future__ import annotations

from collections.abc import Callable

from consentgate.http.types import RawHeaders

__all__ = ["FETCHING_RELS", "filter_link_headers", "link_target", "link_values", "rels"]

# Relations that make a browser connect to or fetch the target before anything runs.
FETCHING_RELS = frozenset({"preload", "prefetch", "preconnect", "dns-prefetch", "modulepreload", "prerender"})


def link_values(value: bytes) -> list[bytes]:
    """The comma-separated link-values of one header field, each as its exact bytes (stripped
    of the separating white space)."""
    return [stripped for part in _split(value, 0x2C, targets=True) if (stripped := part.strip(b" \t"))]


def _split(value: bytes, separator: int, *, targets: bool) -> list[bytes]:
    """``value`` cut at ``separator`` bytes outside quoted strings (and, with ``targets``,
    outside ``<…>``)."""
    parts: list[bytes] = []
    start = 0
    in_target = in_quote = escaped = False
    for index, byte in enumerate(value):
        if in_quote:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_quote = False
        elif in_target:
            if byte == 0x3E:  # >
                in_target = False
        elif byte == 0x3C and targets:  # <
            in_target = True
        elif byte == 0x22:
            in_quote = True
        elif byte == separator:
            parts.append(value[start:index])
            start = index + 1
    parts.append(value[start:])
    return parts


def link_target(link_value: bytes) -> bytes | None:
    """The URI-Reference of one link-value; None when it has no ``<…>``."""
    if not link_value.startswith(b"<"):
        return None
    end = link_value.find(b">")
    return link_value[1:end].strip(b" \t") if end > 0 else None


def rels(link_value: bytes) -> frozenset[str]:
    """The lower-case relation types of one link-value's ``rel`` parameter(s)."""
    end = link_value.find(b">")
    found: set[str] = set()
    for param in _split(link_value[end + 1 :] if end >= 0 else b"", 0x3B, targets=False):
        name, _, raw = param.partition(b"=")
        if name.strip(b" \t").lower() == b"rel":
            text = raw.strip(b" \t")
            if text.startswith(b'"') and text.endswith(b'"') and len(text) >= 2:
                text = text[1:-1]
            found.update(text.decode("latin-1").lower().split())
    return frozenset(found)


def filter_link_headers(headers: RawHeaders, keep: Callable[[bytes], bool]) -> tuple[RawHeaders, int]:
    """``headers`` without the fetching link-values whose target ``keep`` refuses; and how many
    were dropped. A field left with no link-value is removed; untouched fields stay as sent."""
    if not any(key.lower() == b"link" for key, _ in headers):
        return headers, 0
    out: RawHeaders = []
    dropped = 0
    for key, value in headers:
        if key.lower() != b"link":
            out.append((key, value))
            continue
        values = link_values(value)
        kept = [
            one
            for one in values
            if (target := link_target(one)) is None or FETCHING_RELS.isdisjoint(rels(one)) or keep(target)
        ]
        dropped += len(values) - len(kept)
        if len(kept) == len(values):
            out.append((key, value))
        elif kept:
            out.append((key, b", ".join(kept)))
    return out, dropped
