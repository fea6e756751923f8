from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.policy.toml_lines import KeyPath, key_lines, line_of

DOCUMENT = '''# a comment with = and [brackets]
version = "1"  # trailing comment
"quoted key" = 'x'
dotted.key.path = 3
site."a.b".c = true

[services.matomo]
name = """multi
line = with equals
[not a table]
"""
hosts = [
  "a.example",
  "b.example", # comment inside an array
]
inline = { x = 1, y = { z = "}" } }

[[services.matomo.cookies]]
name = "_pk_id"

[[services.matomo.cookies]]
name = '_pk_ses'
lifetime = "30 min"

[services.matomo.cookies.extra]
note = "sub-table of the last array element"

[ "regions" ]
"US-CA" = { mode = "opt_out" }
cookies = [
  { name = "a" },
  { name = "b" },
]
'''


def test_keys_map_to_the_line_that_defines_them() -> None:
    lines = key_lines(DOCUMENT)
    expected: dict[KeyPath, int] = {
        ("version",): 2,
        ("quoted key",): 3,
        ("dotted",): 4,
        ("dotted", "key", "path"): 4,
        ("site", "a.b", "c"): 5,
        ("services",): 7,
        ("services", "matomo"): 7,
        ("services", "matomo", "name"): 8,
        ("services", "matomo", "hosts"): 12,
        ("services", "matomo", "hosts", 0): 13,
        ("services", "matomo", "hosts", 1): 14,
        ("services", "matomo", "inline", "y", "z"): 16,
        ("services", "matomo", "cookies"): 18,
        ("services", "matomo", "cookies", 0): 18,
        ("services", "matomo", "cookies", 0, "name"): 19,
        ("services", "matomo", "cookies", 1): 21,
        ("services", "matomo", "cookies", 1, "lifetime"): 23,
        ("services", "matomo", "cookies", 1, "extra", "note"): 26,
        ("regions",): 28,
        ("regions", "US-CA", "mode"): 29,
        ("regions", "cookies", 1, "name"): 32,
    }
    for path, line in expected.items():
        assert lines.get(path) == line, path


def test_text_inside_strings_is_not_taken_for_tables_or_keys() -> None:
    lines = key_lines(DOCUMENT)
    assert ("not a table",) not in lines
    assert ("line ",) not in lines


def test_line_of_falls_back_to_the_enclosing_table() -> None:
    lines = key_lines(DOCUMENT)
    assert line_of(lines, ("services", "matomo", "cookies", 1, "domain")) == 21
    assert line_of(lines, ("services", "matomo", "purposes")) == 7
    assert line_of(lines, ("unknown",)) is None


def test_broken_text_returns_what_was_found_without_raising() -> None:
    lines = key_lines('a = 1\n[b\nc = "unterminated\n')
    assert lines[("a",)] == 1
    assert key_lines('x = """never closed') == {("x",): 1}
    assert key_lines("= 1") == {}


_BARE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
_ANY_KEY = st.one_of(_BARE, st.text(min_size=1, max_size=8).filter(lambda s: s.isprintable()))


def _quote(key: str) -> str:
    if key and all((c.isalnum() and c.isascii()) or c in "_-" for c in key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_ANY_KEY, _ANY_KEY, st.integers()), min_size=1, max_size=12, unique_by=lambda t: t[0])
)
def test_generated_documents_give_each_key_its_own_line(entries: list[tuple[str, str, int]]) -> None:
    text_lines: list[str] = []
    expected: dict[KeyPath, int] = {}
    for table, key, value in entries:
        text_lines.append(f"[{_quote(table)}]")
        text_lines.append(f"# {key} = {value}")
        text_lines.append(f"{_quote(key)} = {value}")
        expected[(table, key)] = len(text_lines)
    text = "\n".join(text_lines) + "\n"
    tomllib.loads(text)  # the generator only writes valid TOML
    lines = key_lines(text)
    for path, line in expected.items():
        assert lines[path] == line
