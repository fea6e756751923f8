"""The tokenizer finds tags where the HTML standard's tokenizer does: html5lib-tests replayed.

- ``tokenizer/*.test`` (every case, every initial state, whole and in 1-byte chunks): the
  sequence of start tags (name and attribute names, duplicates dropped), end tags, and
  comment/doctype tokens must equal the expected tokens. Character tokens are not compared
  (the rewriter copies text verbatim); character references are not decoded (attribute values
  are only read for URLs).
- ``tree_script_cases.json`` (full documents, so the tokenizer switches into script data,
  RAWTEXT, RCDATA and foreign content as a tree builder would): the text of every raw-text
  element (script, style, xmp, iframe, noembed, noframes, noscript, title, textarea) must be
  what the expected document tree holds.

Excluded, with the reason:
- tree cases with ``scripting: "off"``: they model a browser without JavaScript, where
  <noscript> content is markup; consentgate models the JavaScript browser (the rewriter
  additionally rewrites <noscript> content as markup, see test_rewriter.py).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from consentgate.html.tokenizer import COMMENT, END, START, InitialState, Tokenizer, parse_attrs

STATES: dict[str, InitialState] = {
    "Data state": "data",
    "PLAINTEXT state": "plaintext",
    "RCDATA state": "rcdata",
    "RAWTEXT state": "rawtext",
    "Script data state": "script",
    "CDATA section state": "cdata",
}
RAW_ELEMENTS = {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "title", "textarea"}
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value)
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {_unescape(k): _unescape(v) for k, v in value.items()}
    return value


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass").replace("\0", "\ufffd").translate(_LOWER)


def _input(text: str) -> bytes:
    # The input stream is preprocessed (CR LF and CR become LF) before tokenization.
    return text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8", "surrogatepass")


def _events(tokenizer: Tokenizer, data: bytes, chunk: int | None) -> list[Any]:
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    events = []
    for piece in pieces:
        events += tokenizer.feed(piece)
        tokenizer.release(tokenizer.safe)
    events += tokenizer.feed(b"", final=True)
    return events


def _tokens(data: bytes, state: InitialState, last: str | None, chunk: int | None) -> list[tuple[Any, ...]]:
    tokenizer = Tokenizer(None, None, initial_state=state, last_start_tag=last, switch_states=False)
    out: list[tuple[Any, ...]] = []
    for event in _events(tokenizer, data, chunk):
        if event.kind == START:
            attrs, _ = parse_attrs(data, event.name_end, event.end - 1)
            names: list[str] = []
            for attr in attrs:
                name = _name(data[attr.start : attr.name_end])
                if name not in names:  # names equal after U+FFFD replacement
                    names.append(name)
            out.append(("StartTag", _name(data[event.start + 1 : event.name_end]), tuple(names)))
        elif event.kind == END:
            out.append(("EndTag", _name(data[event.start + 2 : event.name_end])))
        elif event.kind == COMMENT:
            out.append(("Comment",))
    return out


def _expected(output: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for token in output:
        if token[0] == "StartTag":
            out.append(("StartTag", token[1], tuple(token[2])))
        elif token[0] == "EndTag":
            out.append(("EndTag", token[1]))
        elif token[0] in ("Comment", "DOCTYPE"):
            out.append(("Comment",))
    return out


def tokenizer_cases(corpus: Path) -> list[tuple[str, dict[str, Any], str]]:
    cases = []
    for path in sorted((corpus / "tokenizer").glob("*.test")):
        for index, case in enumerate(json.loads(path.read_text()).get("tests", [])):
            for state in case.get("initialStates", ["Data state"]):
                cases.append((f"{path.name}#{index}", case, state))
    return cases


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "html5lib-tokenizer"


def test_every_tokenizer_case_finds_the_same_tags_whole_and_byte_by_byte(corpus: Path) -> None:
    cases = tokenizer_cases(corpus)
    assert len(cases) > 2000
    failures = []
    for case_id, case, state in cases:
        text, output = case["input"], case["output"]
        if case.get("doubleEscaped"):
            text, output = _unescape(text), _unescape(output)
        data = _input(text)
        expected = _expected(output)
        for chunk in (None, 1):
            got = _tokens(data, STATES[state], case.get("lastStartTag"), chunk)
            if got != expected:
                failures.append((case_id, state, case["description"], chunk, expected, got))
    assert failures == []


def _expected_raw_texts(document: str) -> list[tuple[str, str]]:
    """(element, text) for every HTML raw-text element of an expected tree, in order."""
    lines = document.split("\n")
    nodes: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        m = re.match(r"\| ( *)(.*)$", lines[i])
        if m is None:  # continuation of a multi-line comment
            i += 1
            continue
        depth, rest = len(m.group(1)) // 2, m.group(2)
        if rest.startswith('"'):
            text = rest[1:]
            while not (text.endswith('"') and (i + 1 >= len(lines) or lines[i + 1].startswith("| "))):
                i += 1
                text += "\n" + lines[i]
            nodes.append((depth, "text", text[:-1]))
        elif rest.startswith("<") and not rest.startswith(("<!--", "<!DOCTYPE")):
            nodes.append((depth, "element", rest[1:-1]))
        i += 1
    found = []
    for index, (depth, kind, value) in enumerate(nodes):
        if kind == "element" and value in RAW_ELEMENTS:
            text = ""
            for child_depth, child_kind, child_value in nodes[index + 1 :]:
                if child_depth <= depth:
                    break
                if child_depth == depth + 1 and child_kind == "text":
                    text += child_value
            found.append((value, text))
    return found


def _raw_texts(data: bytes, chunk: int | None) -> list[tuple[str, str]]:
    tokenizer = Tokenizer(None, None)
    events = _events(tokenizer, data, chunk)
    found = []
    for index, event in enumerate(events):
        if event.kind != START or event.name not in RAW_ELEMENTS or event.foreign:
            continue
        end = None
        for later in events[index + 1 :]:
            if later.kind == END and later.name == event.name:
                end = later.start
                break
            if later.kind == START:
                break
        if end is None:  # EOF: an end tag cut by EOF is dropped, not text
            end = max(event.end, tokenizer.position)
        text = data[event.end : end].decode("utf-8", "replace").replace("\0", "\ufffd")
        if event.name in ("title", "textarea"):  # RCDATA: character references are decoded
            text = html.unescape(text)
            if event.name == "textarea" and text.startswith("\n"):
                text = text[1:]
        found.append((event.name, text))
    return found


def test_every_tree_case_gives_raw_text_elements_the_browsers_content(corpus: Path) -> None:
    cases = json.loads((corpus / "tree_script_cases.json").read_text())["tests"]
    checked = 0
    failures = []
    for case in cases:
        if case["scripting"] == "off":
            continue
        data = _input(case["data"])
        expected = _expected_raw_texts(case["document"])
        for chunk in (None, 1):
            got = _raw_texts(data, chunk)
            if got != expected:
                failures.append((case["file"], case["index"], case["data"], chunk, expected, got))
        checked += 1
    assert checked > 500
    assert failures == []
