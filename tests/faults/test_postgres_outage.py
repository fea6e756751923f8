"""The PostgreSQL audit store fails under load — its connections killed, its table locked — and
visitors notice nothing: every request is answered, every acknowledged choice waits in the
spool and reaches the store exactly once when it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.faults.kit import (
    assert_logged_exactly,
    assert_served,
    load_with_fault,
    migrate,
    unconfirmed,
    wait_for_stats,
)
from tests.load.harness import Server, ServerOptions

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _dsn_with_name(dsn: str) -> tuple[str, str]:
    name = f"cg_fault_{uuid.uuid4().hex[:10]}"
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name={name}", name


async def _terminate(dsn: str, application_name: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )
        return len(await cursor.fetchall())


async def test_killed_connections_during_load_lose_no_acknowledged_choice(
    pg_schema: str, tmp_path: Path
) -> None:
    url, name = _dsn_with_name(pg_schema)
    await migrate(url)
    spool = tmp_path / "spool"
    server = Server(ServerOptions(audit=url, spool=spool, log=tmp_path / "server.log", batch_size=50))
    server.start()
    killed: list[int] = []

    async def kill_repeatedly() -> None:
        for _ in range(8):
            killed.append(await _terminate(pg_schema, name))
            await asyncio.sleep(0.4)

    try:
        tally = await load_with_fault(server, kill_repeatedly, seconds=6.0)
        stats = await wait_for_stats(server, lambda s: not s["backlog"] and s["queued"] == 0)
    finally:
        assert server.stop() == 0, server.log_text()
    assert sum(killed) > 0, "the fault was never injected"
    assert int(str(stats["store_errors"])) > 0 or int(str(stats["spooled"])) > 0, stats
    # A write caught by the kill waits for the pool (5 s) before it spools, longer than the
    # endpoint waits for durability (5 s): those few choices are answered 503, and may still
    # be logged. Counted, not hidden (see SECURITY.md).
    print(f"killed connections: {len(tally.acknowledged)} acknowledged, {tally.refused_503} answered 503")
    assert_served(tally, allow_503=True)
    assert tally.refused_503 <= len(tally.acknowledged) // 4
    assert len(tally.acknowledged) > 10
    await assert_logged_exactly(url, tally.acknowledged, spool, unconfirmed=unconfirmed(tally))


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
