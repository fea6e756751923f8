"""Pieces of the HTML tokenizer's grammar that both of its scanners use (tokenizer, fastscan).

References: WHATWG HTML 13.2.5 (tokenization), 13.2.6.4 (which start tags switch the tokenizer
to RAWTEXT or RCDATA; with scripting on, ``noscript`` too).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ATTRS", "RAWTEXT_ELEMENTS", "RCDATA_ELEMENTS", "ci"]

# One attribute, or a run of separators, exactly as the tokenizer's attribute states read them:
# a quote opens a value only right after `=`; an `=` that starts a name is part of the name;
# `/` not followed by `>` behaves like whitespace. Possessive quantifiers keep a failed match
# (an unfinished tag at the end of a chunk) linear.
ATTRS: Final = (
    rb"(?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r /=>]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >\"'][^\t\n\f\r >]*+|(?=>))"
    rb"|(?![\t\n\f\r ]*+=)))*+"
)
RAWTEXT_ELEMENTS: Final = frozenset({"style", "xmp", "iframe", "noembed", "noframes", "noscript"})
RCDATA_ELEMENTS: Final = frozenset({"title", "textarea"})


def ci(name: str | bytes) -> bytes:
    """A regex matching ``name`` with ASCII letters in either case (``script`` -> ``[sS][cC]...``)."""
    raw = name.encode("ascii") if isinstance(name, str) else name
    return b"".join(
        b"[%s%s]" % (bytes([c]), bytes([c]).upper()) if chr(c).isalpha() else re.escape(bytes([c]))
        for c in raw
    )
