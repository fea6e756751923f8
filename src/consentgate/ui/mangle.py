"""Shorter local names for runtime.js: the bytes every page pays for, without a JS toolchain.

The runtime must stay within its byte budget (6 KB gzipped with the stylesheet) and still grow
when a real page needs it to. Its source keeps readable names; what is served renames every
name the file *declares* (``var``, ``function``, parameters, ``catch``) to the shortest name
the file does not already use, the most frequent first.

Safe for runtime.js because everything in it is local to one function (the file is one
IIFE), so renaming a declared name at every use keeps each binding and each shadowing as it
was; and because the file is plain ES5 with no ``with``, ``eval``, labels or shorthand
properties. A name is left alone where it is not a variable: after ``.`` (a property), as an
object key (``{show: show}`` keeps its key), or after ``get``/``set`` in an object literal.
String and regex literals are whole tokens, never looked into. A new name never equals any
name in the file, property names included, nor a keyword. tests/ui/test_render.py checks the
served file is the source token for token under the renaming, and every browser test runs
the served file.
"""

from __future__ import annotations

import itertools
import re
import string
from collections import Counter
from collections.abc import Iterator
from typing import Final, NamedTuple

__all__ = ["Mangled", "mangle"]

_TOKEN: Final = re.compile(
    r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'"""
    # runtime.js writes no division and no comments are left: a `/` starts a regex literal
    # (checked in mangle(): one must follow an operator or a keyword)
    r"|/(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n])+/[a-z]*"
    r"|\d[\w.]*"
    r"|[A-Za-z_$][\w$]*"
    r"|[\s\S]"
)
_BEFORE_REGEX: Final = frozenset("(,=:!&|?;{}[") | {
    "",
    "return",
    "typeof",
    "else",
    "case",
    "in",
    "throw",
    "void",
}
# Properties the runtime sets on elements for its own bookkeeping (`el.cgQueued`): renamed too,
# to `_` and a fresh name (no DOM property starts with `_`).
_EXPANDO: Final = re.compile(r"cg[A-Z][\w$]*\Z")
_NAME: Final = re.compile(r"[A-Za-z_$][\w$]*\Z")
_KEYWORDS: Final = frozenset(
    [
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "let",
        "new",
        "null",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "await",
        "of",
        "get",
        "set",
        "arguments",
        "eval",
        "undefined",
        "NaN",
        "Infinity",
    ]
)


class Mangled(NamedTuple):
    code: str
    names: dict[str, str]  # source name -> served name


def _tokens(js: str) -> list[str]:
    return _TOKEN.findall(js)


def _declared(tokens: list[str]) -> set[str]:
    """Every name bound by ``var``, ``function`` (its own name and its parameters) or
    ``catch``."""
    names: set[str] = set()
    code = [t for t in tokens if not t.isspace()]
    for i, token in enumerate(code):
        if token == "var":
            depth = 0
            expect_name = True
            for t in code[i + 1 :]:
                if expect_name and _NAME.match(t):
                    names.add(t)
                expect_name = False
                if t in "([{":
                    depth += 1
                elif t in ")]}":
                    depth -= 1
                    if depth < 0:
                        break
                elif depth == 0 and t == ",":
                    expect_name = True
                elif (depth == 0 and t == ";") or t == "in":
                    break
        elif token in ("function", "catch") and (i == 0 or code[i - 1] != "."):  # not `.catch(`
            j = i + 1
            if token == "function" and j < len(code) and _NAME.match(code[j]):
                names.add(code[j])
                j += 1
            if j < len(code) and code[j] == "(":
                for t in itertools.takewhile(lambda t: t != ")", code[j + 1 :]):
                    if _NAME.match(t):
                        names.add(t)
    return names - _KEYWORDS


def _fresh(taken: set[str]) -> Iterator[str]:
    letters = string.ascii_letters
    for size in itertools.count(1):
        for chars in itertools.product(letters, repeat=size):
            name = "".join(chars)
            if name not in taken and name not in _KEYWORDS:
                yield name


def _is_variable(code: list[str], k: int) -> bool:
    """Whether the name at ``code[k]`` (spaces left out) is a variable, not a property or key."""
    before = code[k - 1] if k else ""
    after = code[k + 1] if k + 1 < len(code) else ""
    if before == ".":
        return False
    if after == ":" and before in ("{", ","):
        return False  # an object key (a ternary's `a ? b : c` has `?` before `b`)
    return not (before in ("get", "set") and after == "(")


def mangle(js: str) -> Mangled:
    tokens = _tokens(js)
    if "".join(tokens) != js:  # pragma: no cover - the token pattern ends with a catch-all
        raise ValueError("runtime.js did not tokenize")
    if "`" in tokens:
        # Text in a template literal would be renamed with the names it happens to contain.
        raise ValueError("runtime.js: template literals are not supported by the name shortener")
    declared = _declared(tokens)
    code_at = [i for i, t in enumerate(tokens) if not t.isspace()]
    code = [tokens[i] for i in code_at]
    uses: Counter[str] = Counter()
    expandos: Counter[str] = Counter()
    renamed = [False] * len(code)
    for k, token in enumerate(code):
        if token.startswith("/") and len(token) > 1 and (code[k - 1] if k else "") not in _BEFORE_REGEX:
            raise ValueError(f"runtime.js: a division or a regex literal in an unknown place: {token!r}")
        if token in declared and _is_variable(code, k):
            renamed[k] = True
            uses[token] += 1
        elif _EXPANDO.match(token) and k and code[k - 1] == ".":
            renamed[k] = True
            expandos[token] += 1
    literals = " ".join(t for t in code if t[0] in "\"'/")
    if any(name in literals for name in expandos):
        raise ValueError("runtime.js: an expando property is also named in a string")
    taken = {t for t in tokens if _NAME.match(t)}
    fresh = _fresh(taken)
    spare = next(fresh)
    # The most used names get the shortest new ones; a name no longer than its new one stays.
    names: dict[str, str] = {}
    for name, _ in sorted(uses.items(), key=lambda item: (-item[1], item[0])):
        if len(spare) < len(name):
            names[name], spare = spare, next(fresh)
    for name, _ in sorted(expandos.items(), key=lambda item: (-item[1], item[0])):
        while "_" + spare in taken:
            spare = next(fresh)
        names[name], spare = "_" + spare, next(fresh)
    out = list(tokens)
    for k, i in enumerate(code_at):
        if renamed[k] and code[k] in names:
            out[i] = names[code[k]]
    return Mangled("".join(out), names)
