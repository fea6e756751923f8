"""The PostgreSQL audit store fails under load — its connections killed, its table locked — and
visitors notice nothing: every request is answered, every acknowledged choice waits in the
spool and reaches the store exactly once when it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.faults.kit import (
    assert_logged_exactly,
    assert_served,
    load_with_fault,
    migrate,
    wait_for_stats,
)
from tests.load.harness import Server, ServerOptions

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _dsn_with_name(dsn: str) -> tuple[str, str]:
    name = f"cg_fault_{uuid.uuid4().hex[:10]}"
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name={name}", name


def _as_user(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


async def _admin(dsn: str, *statements: str) -> list[int]:
    counts: list[int] = []
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            cursor = await conn.execute(statement.encode())
            counts.append(len(await cursor.fetchall()) if cursor.description else 0)
    return counts


async def test_killed_connections_during_load_lose_no_acknowledged_choice(
    pg_schema: str, tmp_path: Path
) -> None:
    """The store's role may not log in and its connections are killed, twice, for 2.5 s each —
    longer than the pool's 2 s wait for a connection, so a write that starts in the outage fails
    for real (a write takes milliseconds: a kill rarely lands inside one), spools, and replays
    when the database lets the application back in."""
    role = f"cg_fault_{uuid.uuid4().hex[:10]}"
    await _admin(
        pg_schema, f'CREATE ROLE "{role}" LOGIN', f'GRANT ALL ON SCHEMA {_schema(pg_schema)} TO "{role}"'
    )
    url, name = _dsn_with_name(_as_user(pg_schema, role))
    killed: list[int] = []
    try:
        await migrate(url)
        spool = tmp_path / "spool"
        server = Server(ServerOptions(audit=url, spool=spool, log=tmp_path / "server.log", batch_size=50))
        server.start()

        async def outages() -> None:
            for _ in range(2):
                counts = await _admin(
                    pg_schema,
                    f'ALTER ROLE "{role}" NOLOGIN',
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE application_name = '{name}'",
                )
                killed.append(counts[1])
                await asyncio.sleep(2.5)
                await _admin(pg_schema, f'ALTER ROLE "{role}" LOGIN')
                await asyncio.sleep(1.0)

        try:
            tally = await load_with_fault(server, outages, seconds=7.0)
            stats = await wait_for_stats(server, lambda s: not s["backlog"] and s["queued"] == 0)
        finally:
            assert server.stop() == 0, server.log_text()
        assert sum(killed) > 0, "the fault was never injected"
        assert int(str(stats["store_errors"])) > 0 and int(str(stats["spooled"])) > 0, stats
        assert int(str(stats["replayed"])) > 0, stats
        # A write caught by the outage waits for the pool (2 s) and then spools, inside the
        # endpoint's 5 s durable wait: visitors get their answer. (With a 5 s pool wait they got 503s.)
        print(f"outages: {len(tally.acknowledged)} acknowledged, {tally.refused_503} answered 503")
        assert_served(tally)
        assert len(tally.acknowledged) > 10
        await assert_logged_exactly(url, tally.acknowledged, spool, unconfirmed=len(tally.uncertain))
    finally:
        await _admin(
            pg_schema, f'ALTER ROLE "{role}" LOGIN', f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"'
        )


def _schema(dsn: str) -> str:
    return '"' + dsn.rsplit("search_path%3D", 1)[1].split("&")[0] + '"'


async def test_a_locked_events_table_during_load_delays_no_page_and_loses_nothing(
    pg_schema: str, tmp_path: Path
) -> None:
    url, _ = _dsn_with_name(pg_schema)
    await migrate(url)
    spool = tmp_path / "spool"
    server = Server(ServerOptions(audit=url, spool=spool, log=tmp_path / "server.log", batch_size=50))
    server.start()
    held: list[float] = []

    async def lock_table() -> None:
        async with await psycopg.AsyncConnection.connect(pg_schema) as conn:
            await conn.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            await asyncio.sleep(4.0)  # longer than the store's 2 s lock_timeout: batches spool
            held.append(time.monotonic() - started)
            await conn.rollback()

    try:
        tally = await load_with_fault(server, lock_table, seconds=7.0)
        stats = await wait_for_stats(server, lambda s: not s["backlog"] and s["queued"] == 0)
    finally:
        assert server.stop() == 0, server.log_text()
    assert held and held[0] >= 4.0
    assert int(str(stats["spooled"])) > 0 and int(str(stats["replayed"])) > 0, stats
    assert_served(tally)
    # Pages never wait for the audit log; a choice waits until it is on disk: the store's
    # lock_timeout (2 s), then the spool's fsync — well inside the endpoint's 5 s.
    pages = sorted(tally.classes["page"].latencies)
    consent = sorted(tally.classes["consent"].latencies)
    assert pages[int(len(pages) * 0.99)] < 2.0
    assert consent[-1] < 4.5
    await assert_logged_exactly(url, tally.acknowledged, spool)
