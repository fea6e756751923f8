"""Shared fixtures. Outside CI a test that needs PostgreSQL, Chromium or ../shared/corpora skips
with a message naming what is missing; in CI (CI=true) the same situation fails the test."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CONSENTGATE_SHARED", REPO.parent / "shared"))
PG_DSN = os.environ.get("CONSENTGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def missing(what: str) -> None:
    """Skip outside CI, fail in CI: CI must run every test."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: this test must run, not skip)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "corpora").is_dir():
        missing(f"the shared corpora folder is missing: {SHARED / 'corpora'}")
    return SHARED


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CONSENTGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing("Chromium is not installed (apt-get install -y chromium, or set CONSENTGATE_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One Chromium per test module (see tests/browser_kit.py)."""
    from tests.browser_kit import chromium

    with chromium(chromium_path) as launched:
        yield launched


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards. Yields a DSN using it."""
    if not _pg_reachable():
        missing(f"PostgreSQL is not reachable at {PG_DSN}")
    import psycopg

    schema = f"cg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in PG_DSN else "?"
        yield f"{PG_DSN}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def anyio_backend() -> AsyncIterator[str]:
    yield "asyncio"
