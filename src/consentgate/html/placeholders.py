"""A placeholder's form, apart from the placeholder: the placeholder stays phrasing content.

A blocked frame may stand where only phrasing content is allowed: in a paragraph (the classic
WordPress editor wraps embeds in ``<p>``), a heading, a ``<span>``. A ``<form>`` start tag there
ends the paragraph (so would a ``<div>`` or a ``<p>``): the rest of the page's paragraph falls
out of it and its ``</p>`` makes an empty one. Inside a form the page opened (ASP.NET wraps
every page in one), a ``<form>`` start tag is ignored instead, and "Load content" would post the
page's form. So the placeholder keeps only phrasing content, its controls name their form with
a ``form`` attribute, and the form itself, hidden and holding only hidden inputs, waits for a
place where a form start tag changes nothing around it: after the page's ``</form>``, before
``</body>``, or at the end (the rewriter decides; see ``HtmlRewriter._placed``).

Controls find the form their ``form`` attribute names anywhere in their document, and none if
no element has that id: they never join the page's form. A form's id is a hash of the form, so
every placeholder that grants the same thing shares one form, and a piece of a page that a
script fetches later (htmx) cannot reuse an id the page gave another form.

Reference: WHATWG HTML 4.10.17.3 (association of controls and forms), 13.2.6.4.7 (a ``<form>``
start tag "in body": closes a ``<p>`` in button scope; ignored while the form element pointer
is set).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, NamedTuple

__all__ = ["Detached", "DetachedForms", "detach_form", "form_id_for", "split_form"]

# Distinct forms waiting for their place: a page form never closed, with an embed of every
# service of the catalog inside, keeps memory bounded.
MAX_WAITING: Final = 64
_OWN_FORM: Final = re.compile(rb"<form\b([^>]*)>(.*?)</form>", re.DOTALL)
_HIDDEN_INPUT: Final = re.compile(rb'<input type="hidden"[^>]*>')
_CONTROL: Final = re.compile(rb"<(button|input|select|textarea)\b")


class Detached(NamedTuple):
    """A placeholder split ahead of time (consentgate.ui does it once per shape, on its
    stencil): what stays in place, the id its controls name, and the hidden form."""

    inline: bytes
    form_id: bytes
    form: bytes


def form_id_for(form: bytes) -> bytes:
    """The id of a detached form: a hash of what it holds (``form`` is the form as it would
    be without an id), so two forms share an id only when they grant the same thing."""
    return b"consentgate-embed-" + hashlib.blake2b(form, digest_size=8).hexdigest().encode("ascii")


def split_form(markup: bytes, form_id: bytes) -> tuple[bytes, bytes] | None:
    """:func:`detach_form` with a given id, or None for markup without a form: for a caller
    that splits a template once and fills the id in later."""
    found = _split(markup, form_id)
    return None if found is None else (found[0], found[2])


def detach_form(markup: bytes, form_id: bytes | None = None) -> tuple[bytes, bytes]:
    """Split snippet ``markup`` (a placeholder: consentgate.ui's, ASCII) that holds a ``<form>``
    into what stays in place, whose controls name the form with a ``form`` attribute, and the
    form itself, hidden, with the hidden inputs, to go where no other form is open and no
    paragraph would end. ``form_id`` defaults to a hash of the form.

    Markup without a form of this shape comes back whole, with no form.

    >>> detach_form(b'<span><form method="post"><input type="hidden" name="a" value="1">'
    ...             b'<button type="submit">Load</button></form></span>', b"f1")
    (b'<span><button form="f1" type="submit">Load</button></span>', \
b'<form id="f1" hidden method="post"><input type="hidden" name="a" value="1"></form>')
    """
    found = _split(markup, form_id)
    return (markup, b"") if found is None else (found[0], found[2])


def _split(markup: bytes, form_id: bytes | None) -> tuple[bytes, bytes, bytes] | None:
    m = _OWN_FORM.search(markup)
    if m is None:
        return None
    if form_id is None:
        form_id = form_id_for(m.group())
    attrs, content = m.groups()
    hidden = b"".join(_HIDDEN_INPUT.findall(content))
    shown = _CONTROL.sub(rb'<\1 form="' + form_id + rb'"', _HIDDEN_INPUT.sub(b"", content))
    form = b'<form id="' + form_id + b'" hidden' + attrs + b">" + hidden + b"</form>"
    return markup[: m.start()] + shown + markup[m.end() :], form_id, form


class DetachedForms:
    """The forms of one document's placeholders, from the placeholder's place to theirs.

    >>> forms = DetachedForms()
    >>> ph = b'<span><form method="post"><button>Load</button></form></span>'
    >>> forms.detach(ph) == forms.detach(ph)  # the same grant: one form for both
    True
    >>> forms.take().count(b"<form"), forms.take()
    (1, b'')
    """

    def __init__(self) -> None:
        self._waiting: list[bytes] = []
        self._ids: set[bytes] = set()  # given out in this document: waiting or placed

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def detach(self, placeholder: bytes | Detached) -> bytes:
        """What goes where the placeholder stands (``b""``: none, past MAX_WAITING forms
        waiting; the frame is granted from the banner as any other). A :class:`Detached` one
        comes split already; plain markup is split here."""
        if isinstance(placeholder, Detached):
            inline, form_id, form = placeholder
        else:
            found = _split(placeholder, None)
            if found is None:
                return placeholder
            inline, form_id, form = found
        if form_id not in self._ids:
            if len(self._waiting) >= MAX_WAITING:
                return b""
            self._ids.add(form_id)
            self._waiting.append(form)
        return inline

    def take(self) -> bytes:
        """The forms waiting, for the place reached now (they are not given again)."""
        forms = b"".join(self._waiting)
        self._waiting.clear()
        return forms
