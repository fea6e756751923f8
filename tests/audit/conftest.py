"""Audit fixtures: one parametrised store (SQLite, JSONL, real PostgreSQL), and per store the
two things an insider or an outage does to it — tamper with rows, make it unavailable."""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from consentgate.audit.events import ConsentEvent
from consentgate.audit.stores import Store, open_store
from consentgate.audit.stores.base import HASHED_FIELDS, MAP_FIELDS, STORED_COLUMNS
from consentgate.audit.stores.jsonl import JsonlStore
from consentgate.audit.stores.postgres import PostgresStore
from consentgate.audit.stores.sqlite import SQLiteStore

KEY = b"consentgate-audit-test-key-0123456789"
CATEGORIES = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}
STORE_KINDS = ("sqlite", "jsonl", "postgresql")


def make_event(
    index: int, *, consent_id: str | None = None, ts: int | None = None, **fields: object
) -> ConsentEvent:
    values: dict[str, object] = {
        "consent_id": consent_id or f"consent-{index % 37}",
        "action": "save",
        "categories": CATEGORIES,
        "services": {"hotjar": index % 2 == 0},
        "ts": 1_760_000_000_000 + index if ts is None else ts,
        "locale": "de",
        "ui_action": "banner.save",
        "region": "DE",
        "region_source": "header:CF-IPCountry",
        "path": "/products/42",
        "ua_browser": "Firefox 133",
        "ua_os": "Linux",
        "ua_device": "pc",
        "notice_hash": "n" * 64,
    }
    values.update(fields)
    return ConsentEvent(**values)  # type: ignore[arg-type]


def fast_store(url: str) -> Store:
    """The URL's store with short lock waits, so outage tests take a second, not minutes."""
    store = open_store(url)
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path, busy_timeout=0.2)
    if isinstance(store, JsonlStore):
        return JsonlStore(store.path, lock_timeout=0.2)
    if isinstance(store, PostgresStore):
        return PostgresStore(url, lock_timeout=0.3, timeout=2.0)
    return store


def _record_text(values: list[object]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


@dataclass
class StoreCase:
    """One store under test, with raw access for tampering and outages."""

    kind: str
    url: str
    path: Path | None = None  # SQLite / JSONL file
    dsn: str | None = None  # PostgreSQL

    # --- raw access, as an insider with database rights would have -------------------------

    def _sqlite(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("DROP TRIGGER IF EXISTS audit_events_append_only")
        return conn

    def _pg(self) -> psycopg.Connection[tuple[object, ...]]:
        assert self.dsn is not None
        conn = psycopg.connect(self.dsn, autocommit=True)
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
        return conn

    def _jsonl_records(self) -> list[dict[str, object]]:
        assert self.path is not None
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines() if line.strip()]

    def _jsonl_write(self, records: list[dict[str, object]]) -> None:
        assert self.path is not None
        self.path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """Run SQL as the insider (SQLite "?" / PostgreSQL "%s" placeholders as written)."""
        if self.kind == "sqlite":
            with contextlib.closing(self._sqlite()) as conn:
                conn.execute(sql, params)
        else:
            with self._pg() as conn:
                conn.execute(sql.replace("?", "%s").encode(), params)

    def edit(self, seq: int, field: str, value: object) -> None:
        if self.kind == "jsonl":
            records = self._jsonl_records()
            for record in records:
                if record["seq"] == seq:
                    record[field] = value
            self._jsonl_write(records)
            return
        if field in STORED_COLUMNS:
            self.execute(f"UPDATE audit_events SET {field} = ? WHERE seq = ?", (value, seq))
            return
        # Every other field lives in the record text: rewrite it, as an insider would.
        [text] = self.fetch("SELECT record FROM audit_events WHERE seq = ?", (seq,))
        values = json.loads(str(text))
        values[HASHED_FIELDS.index(field)] = json.dumps(value) if field in MAP_FIELDS else value
        self.execute("UPDATE audit_events SET record = ? WHERE seq = ?", (_record_text(values), seq))

    def fetch(self, sql: str, params: tuple[object, ...] = ()) -> list[object]:
        """First column of every row, as the insider sees it."""
        if self.kind == "sqlite":
            with contextlib.closing(self._sqlite()) as conn:
                return [row[0] for row in conn.execute(sql, params)]
        with self._pg() as conn:
            return [row[0] for row in conn.execute(sql.replace("?", "%s").encode(), params)]

    def delete(self, seq: int) -> None:
        if self.kind == "jsonl":
            self._jsonl_write([r for r in self._jsonl_records() if r["seq"] != seq])
            return
        self.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))

    def swap(self, seq_a: int, seq_b: int) -> None:
        """Exchange the positions of two records in their chain."""
        if self.kind == "jsonl":
            records = self._jsonl_records()
            for record in records:
                if record["seq"] in (seq_a, seq_b):
                    record["seq"] = seq_b if record["seq"] == seq_a else seq_a
            self._jsonl_write(records)
            return
        self.execute("UPDATE audit_events SET seq = -1 WHERE seq = ?", (seq_a,))
        self.execute("UPDATE audit_events SET seq = ? WHERE seq = ?", (seq_a, seq_b))
        self.execute("UPDATE audit_events SET seq = ? WHERE seq = -1", (seq_b,))

    def insert(self, record: dict[str, object]) -> None:
        if self.kind == "jsonl":
            self._jsonl_write([*self._jsonl_records(), record])
            return
        text = _record_text(
            [json.dumps(record[name]) if name in MAP_FIELDS else record[name] for name in HASHED_FIELDS]
        )
        values = (*(record[name] for name in STORED_COLUMNS), text)
        marks = ", ".join("?" * len(values))
        self.execute(
            f"INSERT INTO audit_events ({', '.join(STORED_COLUMNS)}, record) VALUES ({marks})", values
        )

    # --- outages ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """The store refuses writes while inside (lock held by "another process")."""
        if self.kind == "sqlite":
            assert self.path is not None
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")
                conn.close()
        elif self.kind == "jsonl":
            assert self.path is not None
            with open(self.path.with_name(self.path.name + ".lock"), "a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        else:
            assert self.dsn is not None
            # Async: the LOCK may wait for a COPY in flight, which needs this event loop.
            conn = await psycopg.AsyncConnection.connect(self.dsn)
            try:
                await conn.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
                yield
            finally:
                await conn.rollback()
                await conn.close()

    async def kill_connections(self, application_name: str) -> int:
        """PostgreSQL only: terminate the backends of the writer's pool."""
        assert self.dsn is not None
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            )
            return len(await cursor.fetchall())


async def _migrate(url: str) -> None:
    store = open_store(url)
    try:
        await store.migrate()
    finally:
        await store.close()


async def _case(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    if kind == "sqlite":
        path = tmp_path / "audit.db"
        return StoreCase(kind, f"sqlite:///{path}", path=path)
    if kind == "jsonl":
        path = tmp_path / "events.jsonl"
        return StoreCase(kind, f"jsonl:///{path}", path=path)
    dsn = request.getfixturevalue("pg_schema")
    # A name of its own, so a test terminates only its own writer's connections.
    url = f"{dsn}&application_name=cgtest_{uuid.uuid4().hex[:10]}"
    await _migrate(url)
    return StoreCase(kind, url, dsn=dsn)


@pytest.fixture(params=STORE_KINDS)
async def store_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return await _case(request.param, request, tmp_path)


@pytest.fixture
async def pg_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return await _case("postgresql", request, tmp_path)


@pytest.fixture
async def store(store_case: StoreCase) -> AsyncIterator[Store]:
    opened = fast_store(store_case.url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
