"""Inline scripts that only hand data to the page's framework.

Server-rendering frameworks put a page's data into inline scripts: Next.js streams its React
payload as ``self.__next_f.push([1,"..."])``, Remix, Redux, Apollo and many others assign a
JSON literal to a global (``window.__remixContext = {...}``, ``window.__INITIAL_STATE__ =
JSON.parse("...")``). That data holds whatever the page shows, vendors' URLs included: a CMS
article's YouTube frame, the props of a ``<Script src="https://www.googletagmanager.com/...">``.
A signature found there loads nothing by itself (the framework renders the data later, as code
the server never sees), and holding such a script back breaks the page: hydration fails.

A script counts as data only when every token of it is one of

- a JSON value's tokens: strings (double- or single-quoted), numbers, ``true``, ``false``,
  ``null``, ``{ } [ ] , :``, whitespace, ``;`` and ``)``;
- an assignment to a global whose name starts with ``_`` (``window._x =``, ``self._x =``,
  ``globalThis._x =``, ``var _x =``; never ``location`` and the like, which navigate);
- ``self.__next_f.push(`` (or its ``(self.__next_f=self.__next_f||[]).push(`` start);
- ``JSON.parse(``.

Nothing in that language calls a function of the page's choosing or writes markup: no
identifier other than those heads can appear, and no ``(`` but theirs. The check is
incremental, so a long script streamed in pieces is judged on all its bytes, with O(1) state
(inside a string or not, a pending backslash, and at most a few bytes of a token cut by a
piece boundary).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DataCarrier", "is_data_carrier"]

_S = rb"[\t\n\f\r ]*"
_HEAD = (
    rb"(?:window|self|globalThis)" + _S + rb"\." + _S + rb"_[A-Za-z0-9_$]*" + _S + rb"=(?!=)"
    rb"|(?:var|let|const)[\t\n\f\r ]+_[A-Za-z0-9_$]*" + _S + rb"=(?!=)"
    rb"|\("
    + _S
    + rb"self\.__next_f"
    + _S
    + rb"="
    + _S
    + rb"self\.__next_f"
    + _S
    + rb"\|\|"
    + _S
    + rb"\["
    + _S
    + rb"\]"
    rb"" + _S + rb"\)\.push\("
    rb"|self\.__next_f\.push\("
    rb"|JSON\.parse\("
)
# One token of everything but strings.
_CODE_TOKEN = (
    rb"[\t\n\f\r ;,:{}\[\])]++|"
    + _HEAD
    + rb"|-?(?:[0-9]++\.?[0-9]*+|\.[0-9]++)(?:[eE][+-]?[0-9]++)?|true|false|null"
)
# A run of code tokens and whole strings, read by `re` in one call (a JSON payload is
# thousands of short strings); a string the piece cuts is left to the quote states below.
_DATA: Final = re.compile(
    rb"(?:" + _CODE_TOKEN + rb"|\"[^\"\\]*+(?:\\.[^\"\\]*+)*+\"|'[^'\\]*+(?:\\.[^'\\]*+)*+')*+", re.S
)
_BODY: Final = {
    0x22: re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.S),
    0x27: re.compile(rb"[^'\\]*+(?:\\.[^'\\]*+)*+", re.S),
}
_WORDISH: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$.+-")
_CARRY_MAX: Final = 64  # the longest token head cut by a piece boundary that is waited for


class DataCarrier:
    """Feed a script's text piece by piece; ``ok`` stays True while it can still be data."""

    __slots__ = ("_carry", "_escape", "_quote", "ok")

    def __init__(self) -> None:
        self.ok = True
        self._quote = 0  # 0 in code, else the byte of the open string's quote
        self._escape = False  # a backslash ended the last piece, inside a string
        self._carry = b""  # the start of a token the last piece cut

    def feed(self, data: bytes, final: bool = False) -> bool:
        if not self.ok:
            return False
        buf = self._carry + data if self._carry else data
        self._carry = b""
        i, n = 0, len(buf)
        while i < n:
            quote = self._quote
            if quote:
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                j = _BODY[quote].match(buf, i).end()  # type: ignore[union-attr]  # always matches
                if j == n:
                    i = n
                elif buf[j] == quote:
                    self._quote = 0
                    i = j + 1
                else:  # a backslash with nothing after it yet
                    self._escape = True
                    i = n
                continue
            j = _DATA.match(buf, i).end()  # type: ignore[union-attr]  # always matches
            if j < n and buf[j] in (0x22, 0x27):
                self._quote = buf[j]
                i = j + 1
                continue
            if final:
                if j < n:
                    self.ok = False
                    return False
                i = n
                continue
            # The piece may have cut a token (`tru|e`, `-2.5|e3`, half a head): from the start
            # of the word it is in, the rest waits for the next piece.
            k = j
            while k > i and buf[k - 1] in _WORDISH and j - k <= _CARRY_MAX:
                k -= 1
            if n - k > _CARRY_MAX:
                self.ok = False
                return False
            if k < n:
                self._carry = buf[k:]
            i = n
        if final and (self._quote or self._escape or self._carry):
            self.ok = False
        return self.ok


def is_data_carrier(script: bytes) -> bool:
    """Is the whole script framework data (see the module's docstring)?"""
    return DataCarrier().feed(script, final=True)
