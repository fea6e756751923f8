"""Another process holding a SQLite database's write lock, for the tests of what an audit store
does while it cannot write."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Inside, every write to ``path`` fails after the writer's busy timeout."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.close()  # rolls the transaction back and frees the lock
