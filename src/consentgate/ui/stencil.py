"""Render once per shape, fill in per visitor.

The banner, the preference centre and a placeholder differ between two visitors in a handful
of strings (CSRF token, the page's URL, consent id and date, CSP nonce); everything else
depends on values with few distinct combinations across a site's traffic (language, region
mode, granted categories, services met). Rendering the templates costs milliseconds, and it
happens on every HTML page, so the UI renders each distinct *shape* once with a unique mark in
place of each per-visitor string, cuts the result at the marks into a ``Stencil``, and fills
the holes per request with values escaped exactly as the template would have escaped them.

The marks are letters and digits only, so every escaping on the way (HTML, URL quoting, JSON)
leaves them intact, and they carry a random token so no text of a policy can contain one.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Marks", "ShapeCache", "Stencil", "ascii_bytes"]

_NAME = re.compile(r"[a-z][a-z_]*")
Entry = TypeVar("Entry")


def ascii_bytes(text: str) -> bytes:
    """``text`` as ASCII, anything else as numeric character references (per character, so
    encoding the pieces of a text and joining them equals encoding the whole)."""
    return text.encode("ascii", "xmlcharrefreplace")


@dataclass(frozen=True, slots=True)
class Stencil:
    """ASCII bytes with named holes; ``fill`` is one ``bytes % tuple``."""

    form: bytes  # literal "%" doubled, one "%b" per hole
    names: tuple[str, ...]  # the hole names, in order (a name may repeat)

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        if not self.names:
            return self.form
        return self.form % tuple([values[name] for name in self.names])


class Marks:
    """One unique mark per hole name, and the cutter that finds them again.

    >>> marks = Marks(["csrf"])
    >>> marks.cut(f'<input value="{marks["csrf"]}">').fill({"csrf": b"t&amp;k"})
    b'<input value="t&amp;k">'
    """

    def __init__(self, names: Iterable[str]) -> None:
        names = tuple(names)
        for name in names:
            if not _NAME.fullmatch(name):
                raise ValueError(f"hole names are lower-case letters and '_', got {name!r}")
        prefix = f"cgslot{secrets.token_hex(8)}"
        self._marks = {name: f"{prefix}{name}Z" for name in names}
        # Longest name first and an upper-case end: one name can never swallow another.
        alternatives = "|".join(sorted(names, key=len, reverse=True))
        self._pattern = re.compile(f"{prefix}({alternatives})Z")

    def __getitem__(self, name: str) -> str:
        return self._marks[name]

    def cut(self, text: str) -> Stencil:
        pieces = self._pattern.split(text)
        names = tuple(pieces[1::2])
        if not names:
            return Stencil(ascii_bytes(text), ())
        form = b"%b".join(ascii_bytes(literal).replace(b"%", b"%%") for literal in pieces[0::2])
        return Stencil(form, names)


class ShapeCache(Generic[Entry]):
    """A bounded LRU by shape key; ``maxsize`` 0 keeps nothing."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            try:
                self._entries.move_to_end(key)
            except KeyError:  # evicted by another thread in between: the entry is still valid
                pass
        return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        if self.maxsize <= 0:
            return
        self._entries[key] = entry
        while len(self._entries) > self.maxsize:
            try:
                self._entries.popitem(last=False)
            except KeyError:  # emptied by another thread
                break
