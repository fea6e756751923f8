"""SQLite audit store, the default: WAL, one writer connection on one dedicated thread.

Each batch (up to 4096 rows: the writer sizes them so) is one multi-row INSERT, and so its own
transaction: the SQLite thread takes the interpreter lock to bind the values and gives it back
for the whole insert and commit, while the event loop seals the next batch. An event costs one
table row of nine columns (the indexed ones and the hashed record text) and three index entries;
the consent index holds only the last eight characters of each id (random ids: as selective as
the whole id, in a much smaller entry), so its random inserts touch fewer pages.
``synchronous`` is FULL by default: the WAL is synced at each commit, so a batch the writer
reports as written survives a power cut. NORMAL (``SQLiteStore(..., synchronous="NORMAL")``)
skips that sync: never a corrupt database, but a power cut or OS crash can lose the last
batches (a process crash loses nothing). Readers use their own connections (WAL lets them run
beside the writer).

References:
- https://www.sqlite.org/wal.html (readers do not block the writer)
- https://www.sqlite.org/lang_upsert.html (ON CONFLICT … DO NOTHING / DO UPDATE, 3.24+)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from consentgate.audit.chain import upgrade_v1_row
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.stores.base import (
    STORED_COLUMN_LIST,
    STORED_COLUMNS,
    ChainHead,
    Checkpoint,
    CookieRow,
    PurgePlan,
    PurgeRule,
    Query,
    Record,
    Row,
    StoredNotice,
    StoreError,
    StoreKind,
    create_private,
    events_table_ddl,
    plan_purge_sql,
    select_events,
    stored_to_record,
    stored_values,
)

logger = logging.getLogger("consentgate.audit")
SCHEMA_VERSION = "2"  # 2: the record text in one column (1: a column per field)
Synchronous = Literal["FULL", "NORMAL"]
_FETCH = 1000
_T = TypeVar("_T")
_CONSENT_TAIL = 8  # characters of the consent id in its index (token_urlsafe ids: 48 bits)
# The index schema 2 was created with: the whole id per entry. Still used if present (queries
# match both); `consentgate audit migrate` replaces it.
_OLD_CONSENT_INDEX = "audit_events_consent"
_MAX_STATEMENT_ROWS = 4096  # a batch up to this size is one INSERT statement
# How long the event loop waits for the store's thread to start a batch (see write()).
_HANDOFF_WAIT = 0.005

_SCHEMA: tuple[str, ...] = (
    events_table_ddl(postgres=False),
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_events_chain ON audit_events (chain_id, seq)",
    "CREATE INDEX IF NOT EXISTS audit_events_ts ON audit_events (ts)",
    "CREATE INDEX IF NOT EXISTS audit_events_consent_tail ON audit_events "
    f"(substr(consent_id, -{_CONSENT_TAIL}))",
    # Append-only from the application's side; purge deletes, nothing ever updates.
    "CREATE TRIGGER IF NOT EXISTS audit_events_append_only BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'consentgate audit events are append-only'); END",
    "CREATE TABLE IF NOT EXISTS audit_notices (notice_hash TEXT PRIMARY KEY, "
    "first_seen INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_cookies (name TEXT NOT NULL, domain TEXT NOT NULL, "
    "classification TEXT NOT NULL, service TEXT NOT NULL, first_seen INTEGER NOT NULL, "
    "last_seen INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (name, domain))",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (chain_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
    "hash TEXT NOT NULL, created INTEGER NOT NULL, cutoff INTEGER NOT NULL, signature TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_WIDTH = len(STORED_COLUMNS) + 1  # bound values per row: the stored columns and the record
_ROW_MARKS = f"({', '.join('?' * _WIDTH)})"


def _insert(rows: int) -> str:
    marks = ", ".join([_ROW_MARKS] * rows)
    return f"INSERT INTO audit_events ({STORED_COLUMN_LIST}) VALUES {marks} ON CONFLICT (chain_id, seq) DO NOTHING"


_INSERT = _insert(1)


def _has_index(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
    return found.fetchone() is not None


def _shape(rows: int) -> int:
    """Rows in the INSERT that takes ``rows``: a power of two up to 512, then a multiple of 512,
    so a connection prepares (and caches) a handful of statement shapes, none much too large."""
    if rows > 512:
        return -(-rows // 512) * 512
    return 1 << (rows - 1).bit_length()


def _statements(rows: Sequence[Row], capacity: int) -> list[tuple[str, tuple[object, ...]]]:
    """Multi-row INSERTs for ``rows``, ``capacity`` rows at most each (one for a batch the
    writer sized to fit). The rows missing to fill a statement's shape repeat the last row:
    ON CONFLICT skips them."""
    values = list(itertools.chain.from_iterable(map(stored_values, rows)))
    statements = []
    for start in range(0, len(values), capacity * _WIDTH):
        chunk = values[start : start + capacity * _WIDTH]
        size = len(chunk) // _WIDTH
        shape = _shape(size)
        chunk += chunk[-_WIDTH:] * (shape - size)
        statements.append((_insert(shape), tuple(chunk)))
    return statements


# How far the WAL may grow before a checkpoint copies it back (SQLite's default: 1000 pages, 4 MB).
# Each batch dirties pages all over the consent_id index; a larger WAL lets later batches rewrite
# them there, so the database file takes each page once per checkpoint instead of once per few
# batches.
_WAL_AUTOCHECKPOINT_BYTES = 40 << 20
# For a new database (an existing one keeps its own): a 16 KiB page holds ~20 events instead of
# ~5, so appends split pages and write WAL frames a quarter as often — about a third less CPU per
# event than SQLite's 4 KiB default in this store's inserts.
_PAGE_SIZE = 16384
_HEADS = (
    "SELECT h.chain_id, h.first_seq, h.last_seq, e.hash, h.first_ts, h.last_ts FROM "
    "(SELECT chain_id, MIN(seq) AS first_seq, MAX(seq) AS last_seq, MIN(ts) AS first_ts, "
    "MAX(ts) AS last_ts FROM audit_events GROUP BY chain_id) h "
    "JOIN audit_events e ON e.chain_id = h.chain_id AND e.seq = h.last_seq ORDER BY h.chain_id"
)
_UPSERT_COOKIE = (
    "INSERT INTO audit_cookies VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, domain) DO UPDATE SET "
    "classification = excluded.classification, service = excluded.service, "
    "first_seen = MIN(audit_cookies.first_seen, excluded.first_seen), "
    "last_seen = MAX(audit_cookies.last_seen, excluded.last_seen), "
    "count = audit_cookies.count + excluded.count"
)
_UPSERT_CHECKPOINT = (
    "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chain_id) DO UPDATE SET "
    "seq = excluded.seq, hash = excluded.hash, created = excluded.created, cutoff = excluded.cutoff, "
    "signature = excluded.signature WHERE excluded.seq > audit_checkpoints.seq"
)


class SQLiteStore:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""

    # One writer connection: SQLite serialises writers anyway.
    parallel_writes = 1
    kind: StoreKind = "sqlite"

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 2.0, synchronous: Synchronous = "FULL"
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.synchronous = synchronous
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.rows_per_write = 1  # rows in one INSERT statement, from the library's limits (at open)
        self._consent_tail = _CONSENT_TAIL  # 0: the database still has the schema-2 index

    def files(self) -> tuple[Path, ...]:
        """Every file this log lives in: what nothing else may ever write to."""
        return tuple(self.path.with_name(self.path.name + end) for end in ("", "-wal", "-shm", "-journal"))

    # --- plumbing --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    async def _run(self, func: Callable[..., _T], *args: object) -> _T:
        if self._executor is None or self._conn is None:
            raise StoreError(f"{self.url}: store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    def _writer(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.url}: store is not open")
        return self._conn

    def _transaction(self, statements: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._writer()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = statements(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    # --- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        await self._start(check=True)

    async def _start(self, *, check: bool) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consentgate-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._executor, self._open_sync, check)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self, check: bool = True) -> sqlite3.Connection:
        create_private(self.path)
        conn = self._connect()
        try:
            conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")  # (before WAL: it is fixed after)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_BYTES // page_size}")
            # The consent_id index takes random inserts: keep more of it cached (default 2 MiB).
            conn.execute("PRAGMA cache_size = -32768")
            # Builds before 3.32 allow only 999 bound values per statement (newer: 32766).
            limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _WIDTH
            self.rows_per_write = max(
                (shape for shape in range(512, _MAX_STATEMENT_ROWS + 1, 512) if shape <= limit),
                default=1 << (limit.bit_length() - 1),
            )
            if check:  # migrate() upgrades an old schema instead of refusing it
                self._create(conn)
                self._use_consent_index(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _version(self, conn: sqlite3.Connection) -> str | None:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_meta'"
        ).fetchone()
        if row is None:
            return None
        version = conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()
        return None if version is None else str(version[0])

    def _create(self, conn: sqlite3.Connection, *, upgrade: bool = False) -> list[str]:
        version = self._version(conn)
        if version == SCHEMA_VERSION:
            return self._replace_consent_index(conn) if upgrade else []
        if version is not None and not (upgrade and version == "1"):
            raise StoreError(
                f"{self.url}: audit schema version {version} is not {SCHEMA_VERSION}; "
                "upgrade consentgate or run `consentgate audit migrate`"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = self._upgrade_v1(conn) if version == "1" else []
            for statement in _SCHEMA:
                conn.execute(statement)
            if version == "1":
                done.append(self._copy_v1(conn))
            conn.execute("INSERT OR REPLACE INTO audit_meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return done or [f"created audit schema version {SCHEMA_VERSION} in {self.path}"]

    def _use_consent_index(self, conn: sqlite3.Connection) -> None:
        """Query consent ids through whichever consent index the database has."""
        if _has_index(conn, _OLD_CONSENT_INDEX):
            self._consent_tail = 0
            logger.warning(
                "audit store %s: run `consentgate audit migrate` once to replace the consent_id "
                "index by a smaller one (faster writes)",
                self.url,
            )
        else:
            self._consent_tail = _CONSENT_TAIL

    def _replace_consent_index(self, conn: sqlite3.Connection) -> list[str]:
        if not _has_index(conn, _OLD_CONSENT_INDEX):
            return []
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP INDEX {_OLD_CONSENT_INDEX}")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return [f"replaced the consent_id index by one on its last {_CONSENT_TAIL} characters in {self.path}"]

    def _upgrade_v1(self, conn: sqlite3.Connection) -> list[str]:
        conn.execute("ALTER TABLE audit_events RENAME TO audit_events_v1")
        for name in (
            "audit_events_chain",
            "audit_events_ts",
            "audit_events_consent",
            "audit_events_append_only",
        ):
            kind = "TRIGGER" if name.endswith("append_only") else "INDEX"
            conn.execute(f"DROP {kind} IF EXISTS {name}")
        return []

    def _copy_v1(self, conn: sqlite3.Connection) -> str:
        cursor = conn.execute(f"SELECT {', '.join(EVENT_FIELDS)} FROM audit_events_v1 ORDER BY chain_id, seq")
        copied = 0
        while rows := cursor.fetchmany(_FETCH):
            conn.executemany(_INSERT, [stored_values(upgrade_v1_row(row)) for row in rows])
            copied += len(rows)
        conn.execute("DROP TABLE audit_events_v1")
        return f"upgraded audit schema 1 to {SCHEMA_VERSION} in {self.path} ({copied} events)"

    async def migrate(self) -> list[str]:
        await self._start(check=False)

        def upgrade() -> list[str]:
            done = self._create(self._writer(), upgrade=True)
            self._use_consent_index(self._writer())
            return done

        return await self._run(upgrade)

    async def close(self) -> None:
        conn, executor = self._conn, self._executor
        self._conn, self._executor = None, None
        if conn is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        if executor is not None:
            executor.shutdown(wait=True)

    # --- events ----------------------------------------------------------------------------

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        # ON CONFLICT (chain_id, seq) DO NOTHING always: SQLite pays nothing extra for it.
        # The values are laid out here, so the SQLite thread needs the interpreter lock only to
        # bind them; while SQLite inserts (without the lock), this thread seals the next batch.
        if self._executor is None or self._conn is None:
            raise StoreError(f"{self.url}: store is not open")
        statements = _statements(rows, self.rows_per_write)
        started = threading.Event()
        written = asyncio.get_running_loop().run_in_executor(
            self._executor, self._write_sync, statements, started
        )
        # The SQLite thread needs the interpreter lock to start, and a busy event loop can keep
        # it waiting until the loop goes idle: CPython hands the lock to a waiting thread only
        # once it has waited a whole switch interval (5 ms), and every brief release by the
        # loop (each select()) starts that wait over. So wait here, without the lock, until
        # the INSERT runs: about the time it takes to bind, ~1 ms for 4096 rows.
        started.wait(_HANDOFF_WAIT)
        return await written

    def _write_sync(
        self, statements: Sequence[tuple[str, tuple[object, ...]]], started: threading.Event
    ) -> int:
        conn = self._writer()
        before = conn.total_changes
        started.set()
        if len(statements) == 1:
            conn.execute(*statements[0])  # one statement outside BEGIN: its own transaction
        else:

            def insert(conn: sqlite3.Connection) -> None:
                for sql, values in statements:
                    conn.execute(sql, values)

            self._transaction(insert)
        return conn.total_changes - before

    async def _stream(
        self, sql: str, params: Sequence[object], raw_maps: bool
    ) -> AsyncGenerator[Record, None]:
        if self._conn is None:
            raise StoreError(f"{self.url}: store is not open")
        conn = await asyncio.to_thread(self._connect)
        try:
            conn.execute("PRAGMA query_only = ON")
            cursor = await asyncio.to_thread(conn.execute, sql, params)
            while rows := await asyncio.to_thread(cursor.fetchmany, _FETCH):
                for row in rows:
                    yield stored_to_record(row, raw_maps=raw_maps)
        finally:
            conn.close()

    def read(self, query: Query) -> AsyncGenerator[Record, None]:
        sql, params = select_events(query, "?", consent_tail=self._consent_tail)
        return self._stream(sql, params, raw_maps=False)

    def read_chain(self, chain_id: str, after_seq: int = 0) -> AsyncGenerator[Record, None]:
        sql = f"SELECT {STORED_COLUMN_LIST} FROM audit_events WHERE chain_id = ? AND seq > ? ORDER BY seq"
        return self._stream(sql, (chain_id, after_seq), raw_maps=True)

    async def chain_heads(self) -> list[ChainHead]:
        rows = await self._run(lambda: self._writer().execute(_HEADS).fetchall())
        return [ChainHead(*row) for row in rows]

    # --- notices, cookies, checkpoints -----------------------------------------------------

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO audit_notices VALUES (?, ?, ?) ON CONFLICT (notice_hash) DO NOTHING",
                (notice_hash, first_seen, text),
            )
            return cursor.rowcount == 1

        return await self._run(self._transaction, insert)

    async def get_notice(self, notice_hash: str) -> StoredNotice | None:
        row = await self._run(
            lambda: (
                self._writer()
                .execute("SELECT first_seen, doc FROM audit_notices WHERE notice_hash = ?", (notice_hash,))
                .fetchone()
            )
        )
        if row is None:
            return None
        return StoredNotice(notice_hash, int(row[0]), json.loads(row[1]))

    async def record_cookies(self, rows: Sequence[CookieRow]) -> None:
        values = [
            (r.name, r.domain, r.classification, r.service, r.first_seen, r.last_seen, r.count) for r in rows
        ]
        await self._run(self._transaction, lambda c: c.executemany(_UPSERT_COOKIE, values))

    async def list_cookies(self) -> list[CookieRow]:
        rows = await self._run(
            lambda: (
                self._writer()
                .execute(
                    "SELECT name, domain, classification, service, first_seen, last_seen, count "
                    "FROM audit_cookies ORDER BY classification, name, domain"
                )
                .fetchall()
            )
        )
        return [CookieRow(*row) for row in rows]

    async def checkpoints(self) -> dict[str, Checkpoint]:
        rows = await self._run(
            lambda: (
                self._writer()
                .execute("SELECT chain_id, seq, hash, created, cutoff, signature FROM audit_checkpoints")
                .fetchall()
            )
        )
        return {row[0]: Checkpoint(*row) for row in rows}

    async def plan_purge(self, rule: PurgeRule) -> list[PurgePlan]:
        async def fetchall(sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
            return await self._run(lambda: self._writer().execute(sql, params).fetchall())

        return await plan_purge_sql(rule, "?", fetchall, consent_tail=self._consent_tail)

    async def purge(self, checkpoint: Checkpoint) -> int:
        def apply(conn: sqlite3.Connection) -> int:
            conn.execute(
                _UPSERT_CHECKPOINT,
                (
                    checkpoint.chain_id,
                    checkpoint.seq,
                    checkpoint.hash,
                    checkpoint.created,
                    checkpoint.cutoff,
                    checkpoint.signature,
                ),
            )
            cursor = conn.execute(
                "DELETE FROM audit_events WHERE chain_id = ? AND seq <= ?",
                (checkpoint.chain_id, checkpoint.seq),
            )
            return cursor.rowcount

        return await self._run(self._transaction, apply)
