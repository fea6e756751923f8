"""PostgreSQL audit store: many application instances, one log.

Each writer instance keeps its own chain, so instances never contend for a shared head: a batch
is one COPY into ``audit_events`` (primary key ``(chain_id, seq)``) of nine columns per event —
the indexed ones and the record text, kept as ``text`` so the stored bytes are the hashed ones.
A spool replay goes through a temporary staging table and ``INSERT … ON CONFLICT DO NOTHING``,
because COPY itself cannot skip rows that a half-acknowledged earlier attempt already stored.
The schema is created by ``consentgate audit migrate --store URL`` (run by a role that may
create tables; the application's role needs only INSERT and SELECT — see docs/audit.md).

References:
- https://www.psycopg.org/psycopg3/docs/basic/copy.html
- https://www.psycopg.org/psycopg3/docs/advanced/pool.html
- https://www.postgresql.org/docs/current/datatype-json.html (json keeps the input text)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from consentgate.audit.chain import upgrade_v1_row
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.stores.base import (
    MAP_FIELDS,
    STORED_COLUMN_LIST,
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
    events_table_ddl,
    plan_purge_sql,
    redact,
    select_events,
    stored_to_record,
    stored_values,
)

SCHEMA_VERSION = "2"  # 2: the record text in one column (1: a column per field)
_FETCH = 2000

_SCHEMA: tuple[str, ...] = (
    events_table_ddl(postgres=True),
    # Time-range exports stream in ts order straight from this index.
    "CREATE INDEX IF NOT EXISTS audit_events_ts ON audit_events (ts)",
    # One visitor's events (receipt, export by consent id), already in time order.
    "CREATE INDEX IF NOT EXISTS audit_events_consent ON audit_events (consent_id, ts)",
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'consentgate audit events are append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events",
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TABLE IF NOT EXISTS audit_notices (notice_hash TEXT PRIMARY KEY, "
    "first_seen BIGINT NOT NULL, doc JSON NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_cookies (name TEXT NOT NULL, domain TEXT NOT NULL, "
    "classification TEXT NOT NULL, service TEXT NOT NULL, first_seen BIGINT NOT NULL, "
    "last_seen BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (name, domain))",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (chain_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, "
    "hash TEXT NOT NULL, created BIGINT NOT NULL, cutoff BIGINT NOT NULL, signature TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_COPY = f"COPY audit_events ({STORED_COLUMN_LIST}) FROM STDIN"
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS audit_stage (LIKE audit_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COPY_STAGE = f"COPY audit_stage ({STORED_COLUMN_LIST}) FROM STDIN"
_MERGE_STAGE = (
    f"INSERT INTO audit_events ({STORED_COLUMN_LIST}) SELECT {STORED_COLUMN_LIST} FROM audit_stage "
    "ON CONFLICT (chain_id, seq) DO NOTHING"
)
# Distinct chains by walking the primary key (a loose index scan): thousands of chains among
# 100M rows cost thousands of index probes, not a scan.
_HEADS = """
WITH RECURSIVE chains AS (
    (SELECT chain_id FROM audit_events ORDER BY chain_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.chain_id FROM audit_events e WHERE e.chain_id > c.chain_id
            ORDER BY e.chain_id LIMIT 1)
    FROM chains c WHERE c.chain_id IS NOT NULL
)
SELECT c.chain_id, f.seq, l.seq, l.hash, f.ts, l.ts FROM chains c
CROSS JOIN LATERAL (SELECT seq, ts FROM audit_events WHERE chain_id = c.chain_id
                    ORDER BY seq LIMIT 1) f
CROSS JOIN LATERAL (SELECT seq, hash, ts FROM audit_events WHERE chain_id = c.chain_id
                    ORDER BY seq DESC LIMIT 1) l
WHERE c.chain_id IS NOT NULL ORDER BY c.chain_id
"""
_UPSERT_COOKIE = (
    "INSERT INTO audit_cookies VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name, domain) DO UPDATE SET "
    "classification = excluded.classification, service = excluded.service, "
    "first_seen = LEAST(audit_cookies.first_seen, excluded.first_seen), "
    "last_seen = GREATEST(audit_cookies.last_seen, excluded.last_seen), "
    "count = audit_cookies.count + excluded.count"
)
_UPSERT_CHECKPOINT = (
    "INSERT INTO audit_checkpoints VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (chain_id) DO UPDATE SET "
    "seq = excluded.seq, hash = excluded.hash, created = excluded.created, cutoff = excluded.cutoff, "
    "signature = excluded.signature WHERE excluded.seq > audit_checkpoints.seq"
)


async def _copy_rows(copy: psycopg.AsyncCopy, rows: Sequence[Row]) -> None:
    for row in rows:
        await copy.write_row(stored_values(row))


_Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]


class PostgresStore:
    """``postgresql://user@host:5432/db`` (any libpq URL or key=value DSN)."""

    # Two batches in flight on two connections: one commits (WAL flush)
    # while the next streams its COPY.
    parallel_writes = 2
    kind: StoreKind = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        max_connections: int = 4,
        timeout: float = 2.0,  # below the consent endpoint's durable wait (5 s): spool, do not 503
        lock_timeout: float = 2.0,
        statement_timeout: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.url = redact(dsn)
        self.max_connections = max_connections
        self.timeout = timeout
        # A write waits this long for a lock (e.g. a migration or a LOCK TABLE), then the
        # batch goes to the spool instead of holding every later event in memory.
        self.lock_timeout_ms = int(lock_timeout * 1000)
        self.statement_timeout_ms = int(statement_timeout * 1000)
        self._pool: _Pool | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def _get_pool(self) -> _Pool:
        if self._pool is None:
            raise StoreError(f"{self.url}: store is not open")
        return self._pool

    async def _ensure_pool(self) -> _Pool:
        if self._pool is None:
            try:
                given = conninfo_to_dict(self.dsn)
            except psycopg.ProgrammingError as exc:
                raise StoreError(
                    f"audit store URL {self.url!r} is not a valid PostgreSQL DSN: {exc}"
                ) from exc
            kwargs: dict[str, Any] = {}
            if "application_name" not in given:
                kwargs["application_name"] = "consentgate-audit"
            if "connect_timeout" not in given:
                kwargs["connect_timeout"] = max(1, int(self.timeout))
            if "keepalives" not in given:
                # A silently dead server (network partition) fails a write in ~25 s instead of
                # hanging it: the batch then goes to the spool.
                kwargs.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
            pool: _Pool = AsyncConnectionPool(
                self.dsn,
                min_size=1,
                max_size=self.max_connections,
                kwargs=kwargs,
                open=False,
                timeout=self.timeout,
                configure=self._configure,
                check=AsyncConnectionPool.check_connection,
                name="consentgate-audit",
            )
            await pool.open(wait=False)
            self._pool = pool
        return self._pool

    async def _configure(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        # Session defaults for every pooled connection; purge and migrate lift them locally.
        await conn.execute(
            sql.SQL("SET lock_timeout = {}; SET statement_timeout = {}").format(
                self.lock_timeout_ms, self.statement_timeout_ms
            )
        )
        await conn.commit()

    async def open(self) -> None:
        """Open the pool and check the schema (connection errors propagate: transient)."""
        pool = await self._ensure_pool()
        async with pool.connection() as conn:
            try:
                cursor = await conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'")
                row = await cursor.fetchone()
            except psycopg.errors.UndefinedTable:
                raise StoreError(
                    f"{self.url}: no audit schema; run `consentgate audit migrate --store URL` first"
                ) from None
        if row is None or row[0] != SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise StoreError(
                f"{self.url}: audit schema version {found} is not {SCHEMA_VERSION}; "
                "run `consentgate audit migrate --store URL`"
            )

    async def migrate(self) -> list[str]:
        pool = await self._ensure_pool()
        done: list[str] = []
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")
            cursor = await conn.execute("SELECT to_regclass('audit_meta')")
            row = await cursor.fetchone()
            version = None
            if row is not None and row[0] is not None:
                cursor = await conn.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'")
                found = await cursor.fetchone()
                version = None if found is None else found[0]
            if version == SCHEMA_VERSION:
                return done
            if version == "1":
                await conn.execute("ALTER TABLE audit_events RENAME TO audit_events_v1")
                await conn.execute(
                    "ALTER TABLE audit_events_v1 RENAME CONSTRAINT audit_events_pkey TO audit_events_v1_pkey"
                )
                for index in ("audit_events_ts", "audit_events_consent"):
                    await conn.execute(f"ALTER INDEX IF EXISTS {index} RENAME TO {index}_v1".encode())
            for statement in _SCHEMA:
                await conn.execute(statement.encode())
            if version == "1":
                done.append(await self._copy_v1(conn))
            await conn.execute(
                "INSERT INTO audit_meta VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (SCHEMA_VERSION,),
            )
            done = done or [f"created audit schema version {SCHEMA_VERSION} in {self.url}"]
        return done

    async def _copy_v1(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> str:
        columns = ", ".join(f"{name}::text" if name in MAP_FIELDS else name for name in EVENT_FIELDS)
        copied = 0
        async with conn.cursor(name=f"consentgate_{secrets.token_hex(6)}") as source, conn.cursor() as target:
            await source.execute(f"SELECT {columns} FROM audit_events_v1 ORDER BY chain_id, seq".encode())
            while rows := await source.fetchmany(_FETCH):
                async with target.copy(_COPY) as copy:
                    await _copy_rows(copy, [upgrade_v1_row(row) for row in rows])
                copied += len(rows)
        await conn.execute("DROP TABLE audit_events_v1 CASCADE")
        return f"upgraded audit schema 1 to {SCHEMA_VERSION} in {self.url} ({copied} events)"

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # --- events ----------------------------------------------------------------------------

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        pool = self._get_pool()
        async with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if not replay:
                async with cursor.copy(_COPY) as copy:
                    await _copy_rows(copy, rows)
                return len(rows)
            await cursor.execute(_STAGE)
            async with cursor.copy(_COPY_STAGE) as copy:
                await _copy_rows(copy, rows)
            await cursor.execute(_MERGE_STAGE)
            return max(cursor.rowcount, 0)

    async def _stream(
        self, query: str, params: Sequence[object], raw_maps: bool
    ) -> AsyncGenerator[Record, None]:
        pool = self._get_pool()
        # A server-side cursor: the result never sits whole in this process.
        async with (
            pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name=f"consentgate_{secrets.token_hex(6)}") as cursor,
        ):
            await cursor.execute(query.encode(), params)
            while rows := await cursor.fetchmany(_FETCH):
                for row in rows:
                    yield stored_to_record(row, raw_maps=raw_maps)

    def read(self, query: Query) -> AsyncGenerator[Record, None]:
        text, params = select_events(query, "%s")
        return self._stream(text, params, raw_maps=False)

    def read_chain(self, chain_id: str, after_seq: int = 0) -> AsyncGenerator[Record, None]:
        text = f"SELECT {STORED_COLUMN_LIST} FROM audit_events WHERE chain_id = %s AND seq > %s ORDER BY seq"
        return self._stream(text, (chain_id, after_seq), raw_maps=True)

    async def _fetchall(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self._get_pool().connection() as conn:
            cursor = await conn.execute(query.encode(), params)
            return await cursor.fetchall()

    async def chain_heads(self) -> list[ChainHead]:
        return [ChainHead(*row) for row in await self._fetchall(_HEADS)]

    # --- notices, cookies, checkpoints -----------------------------------------------------

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        async with self._get_pool().connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO audit_notices VALUES (%s, %s, %s::json) ON CONFLICT (notice_hash) DO NOTHING",
                (notice_hash, first_seen, text),
            )
            return cursor.rowcount == 1

    async def get_notice(self, notice_hash: str) -> StoredNotice | None:
        rows = await self._fetchall(
            "SELECT first_seen, doc::text FROM audit_notices WHERE notice_hash = %s", (notice_hash,)
        )
        if not rows:
            return None
        return StoredNotice(notice_hash, int(rows[0][0]), json.loads(rows[0][1]))

    async def record_cookies(self, rows: Sequence[CookieRow]) -> None:
        values = [
            (r.name, r.domain, r.classification, r.service, r.first_seen, r.last_seen, r.count) for r in rows
        ]
        async with self._get_pool().connection() as conn, conn.cursor() as cursor:
            await cursor.executemany(_UPSERT_COOKIE, values)

    async def list_cookies(self) -> list[CookieRow]:
        rows = await self._fetchall(
            "SELECT name, domain, classification, service, first_seen, last_seen, count "
            "FROM audit_cookies ORDER BY classification, name, domain"
        )
        return [CookieRow(*row) for row in rows]

    async def checkpoints(self) -> dict[str, Checkpoint]:
        rows = await self._fetchall(
            "SELECT chain_id, seq, hash, created, cutoff, signature FROM audit_checkpoints"
        )
        return {row[0]: Checkpoint(*row) for row in rows}

    async def plan_purge(self, rule: PurgeRule) -> list[PurgePlan]:
        return await plan_purge_sql(rule, "%s", self._fetchall)

    async def purge(self, checkpoint: Checkpoint) -> int:
        async with self._get_pool().connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = 0")
            await conn.execute(
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
            cursor = await conn.execute(
                "DELETE FROM audit_events WHERE chain_id = %s AND seq <= %s",
                (checkpoint.chain_id, checkpoint.seq),
            )
            return max(cursor.rowcount, 0)
