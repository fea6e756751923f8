"""The documentation must not rot: links resolve, Python examples compile, the quick start stays two
commands. Reads README.md and docs/*.md as a reader's Markdown viewer would (code blocks and code
spans are text, not links)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~)(.*)$")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_LINK = re.compile(r"<(?:img|a|source)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def split_fences(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(lines outside fenced code blocks, [(info string, code) of each block])."""
    prose: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    info = ""
    code: list[str] = []
    for line in text.splitlines():
        match = _FENCE.match(line.strip())
        if fence is None and match:
            fence, info, code = match.group(1), match.group(2).strip().lower(), []
        elif fence is not None and line.strip() == fence:
            blocks.append((info, "\n".join(code) + "\n"))
            fence = None
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    assert fence is None, "an unclosed code fence"
    return prose, blocks


def links(path: Path) -> list[str]:
    prose, _ = split_fences(path.read_text("utf-8"))
    found: list[str] = []
    for line in prose:
        line = _CODE_SPAN.sub("", line)
        found += _MD_LINK.findall(line)
        found += _HTML_LINK.findall(line)
    return found


def slug(heading: str) -> str:
    """The anchor a GitHub-style renderer gives a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    prose, _ = split_fences(path.read_text("utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose:
        match = _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def relative_links() -> list[tuple[str, str]]:
    return [
        (str(doc.relative_to(REPO)), target)
        for doc in DOCUMENTS
        for target in links(doc)
        if not _SCHEME.match(target) and not target.startswith("//")
    ]


def test_the_documents_are_found_and_link_to_each_other() -> None:
    names = {doc.name for doc in DOCUMENTS}
    assert {"README.md", "index.md", "quickstart.md", "deployment.md", "markup.md", "faq.md"} <= names
    assert len(relative_links()) > 50


@pytest.mark.parametrize(("doc", "target"), relative_links(), ids=lambda v: str(v))
def test_every_relative_link_and_image_points_at_something_that_exists(doc: str, target: str) -> None:
    source = REPO / doc
    path_part, _, fragment = target.partition("#")
    destination = (source.parent / unquote(path_part)).resolve() if path_part else source
    assert destination.exists(), f"{doc} links to {target}, which does not exist"
    assert destination.is_relative_to(REPO), f"{doc} links outside the repository: {target}"
    if fragment and destination.suffix == ".md":
        assert fragment in anchors(destination), (
            f"{doc} links to #{fragment} in {destination.relative_to(REPO)}, which has no such heading"
        )


def python_blocks(path: Path) -> list[str]:
    _, blocks = split_fences(path.read_text("utf-8"))
    return [code for info, code in blocks if info in ("python", "py")]


def test_the_quickstart_has_python_examples() -> None:
    assert len(python_blocks(REPO / "docs" / "quickstart.md")) >= 4


@pytest.mark.parametrize(
    ("doc", "index"),
    [
        (name, index)
        for name in ("docs/quickstart.md", "README.md")
        for index in range(len(python_blocks(REPO / name)))
    ],
)
def test_every_python_example_compiles(doc: str, index: int) -> None:
    code = python_blocks(REPO / doc)[index]
    compile(code, f"{doc} (python block {index + 1})", "exec")


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text("utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "README.md has no '## Quick start' section"
    _, blocks = split_fences(section.group(1))
    commands = []
    for _, code in blocks:
        for line in code.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_the_readme_quick_start_is_exactly_make_demo_and_make_test() -> None:
    assert quick_start_commands() == ["make demo", "make test"]


def test_the_quick_start_commands_are_makefile_targets() -> None:
    makefile = (REPO / "Makefile").read_text("utf-8")
    for command in quick_start_commands():
        target = command.removeprefix("make ").strip()
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no '{target}' target"
