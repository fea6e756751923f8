"""Where each key of a TOML document is defined: tomllib returns values without positions.

``key_lines(text)`` maps key paths to 1-based line numbers. A path is a tuple of table keys and
array indexes, as the loader walks the parsed data: ``("services", "matomo", "cookies", 0,
"name")``. It understands table headers, arrays of tables, dotted and quoted keys, inline tables
and arrays spanning lines. It is run on text tomllib has already accepted; on anything else it
returns what it found so far instead of raising.

>>> lines = key_lines('[services.matomo]\\nname = "Matomo"\\n')
>>> lines[("services", "matomo", "name")]
2
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Mapping

KeyPath = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}\n#")


class _Stop(Exception):
    """The text ended or was not TOML after all: keep what was found."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        self.lines: dict[KeyPath, int] = {}
        # resolved path of an array of tables -> index of its last element
        self.array_tables: dict[KeyPath, int] = {}

    # -- low level ------------------------------------------------------------------------------
    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_right(self.line_starts, self.pos if pos is None else pos)

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Stop
        self.pos += 1

    def skip_blank(self, *, newlines: bool) -> None:
        while True:
            char = self.peek()
            if char in (" ", "\t", "\r") or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def record(self, path: KeyPath, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- keys -----------------------------------------------------------------------------------
    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            parts.append(self.simple_key())
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.pos += 1

    def simple_key(self) -> str:
        char = self.peek()
        if char == '"':
            raw = self.basic_string()
            try:
                return str(tomllib.loads(f"k = {raw}")["k"])
            except tomllib.TOMLDecodeError as exc:
                raise _Stop from exc
        if char == "'":
            return self.literal_string()[1:-1]
        start = self.pos
        while self.peek() and self.peek() in _BARE:
            self.pos += 1
        if start == self.pos:
            raise _Stop
        return self.text[start : self.pos]

    # -- strings --------------------------------------------------------------------------------
    def basic_string(self) -> str:
        start = self.pos
        multi = self.text.startswith('"""', self.pos)
        self.pos += 3 if multi else 1
        while True:
            char = self.peek()
            if not char or (char == "\n" and not multi):
                raise _Stop
            if char == "\\":
                self.pos += 2
            elif multi and self.text.startswith('"""', self.pos):
                self.pos += 3
                while self.peek() == '"':  # up to two quotes may end the content
                    self.pos += 1
                return self.text[start : self.pos]
            elif char == '"' and not multi:
                self.pos += 1
                return self.text[start : self.pos]
            else:
                self.pos += 1

    def literal_string(self) -> str:
        start = self.pos
        quote = "'''" if self.text.startswith("'''", self.pos) else "'"
        self.pos += len(quote)
        end = self.text.find(quote, self.pos)
        if end < 0 or (quote == "'" and "\n" in self.text[self.pos : end]):
            raise _Stop
        self.pos = end + len(quote)
        while quote == "'''" and self.peek() == "'":
            self.pos += 1
        return self.text[start : self.pos]

    # -- values ---------------------------------------------------------------------------------
    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char == '"':
            self.basic_string()
        elif char == "'":
            self.literal_string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            start = self.pos
            while self.peek() and self.peek() not in _SCALAR_END:
                self.pos += 1
            if start == self.pos:
                raise _Stop

    def array(self, path: KeyPath) -> None:
        self.expect("[")
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "]":
                self.pos += 1
                return
            self.record((*path, index), self.line())
            self.value((*path, index))
            index += 1
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.pos += 1

    def inline_table(self, path: KeyPath) -> None:
        self.expect("{")
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "}":
                self.pos += 1
                return
            self.key_value(path)
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.pos += 1

    def key_value(self, table: KeyPath) -> None:
        line = self.line()
        parts = self.key()
        for depth in range(1, len(parts) + 1):
            self.record((*table, *parts[:depth]), line)
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.value((*table, *parts))

    # -- document -------------------------------------------------------------------------------
    def resolve(self, parts: list[str]) -> KeyPath:
        """Header keys through arrays of tables point at their last element."""
        resolved: KeyPath = ()
        for part in parts:
            resolved = (*resolved, part)
            if resolved in self.array_tables:
                resolved = (*resolved, self.array_tables[resolved])
        return resolved

    def header(self) -> KeyPath:
        line = self.line()
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        parts = self.key()
        self.expect("]")
        if is_array:
            self.expect("]")
            array = (*self.resolve(parts[:-1]), parts[-1])
            index = self.array_tables.get(array, -1) + 1
            self.array_tables[array] = index
            self.record(array, line)
            table: KeyPath = (*array, index)
        else:
            table = self.resolve(parts)
        for depth in range(1, len(table) + 1):
            self.record(table[:depth], line)
        return table

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            char = self.peek()
            if not char:
                return
            if char == "[":
                table = self.header()
            else:
                self.key_value(table)


def key_lines(text: str) -> dict[KeyPath, int]:
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (_Stop, IndexError):
        pass
    return scanner.lines


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """Line of ``path``, or of the nearest enclosing key or table that has one."""
    for depth in range(len(path), 0, -1):
        line = lines.get(path[:depth])
        if line is not None:
            return line
    return None
