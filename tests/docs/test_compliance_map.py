"""The compliance mapping may only cite tests that exist: a renamed or deleted test must show."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = ("docs/compliance.md", "docs/regions.md")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def references() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        text = (REPO / doc).read_text("utf-8")
        found += [(doc, path, name) for path, name in REFERENCE.findall(text)]
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((REPO / path).read_text("utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def test_the_compliance_map_cites_tests() -> None:
    assert len(references()) > 50


@pytest.mark.parametrize(("doc", "path", "name"), references(), ids=lambda v: str(v))
def test_every_cited_test_exists(doc: str, path: str, name: str) -> None:
    assert (REPO / path).is_file(), f"{doc} cites {path}, which does not exist"
    assert name in defined_tests(path), f"{doc} cites {path}::{name}, which is not a test there"
