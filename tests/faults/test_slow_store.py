"""A slow audit store (every write delayed; a fault injector wrapping the real SQLite store)
under a flood of consent choices: the writer's queue never passes its bound, choices beyond it
are refused with 503 (never accepted and dropped), memory stays flat, pages keep being served,
and every acknowledged choice is stored once the store catches up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.kit import assert_logged_exactly, unconfirmed
from tests.load.harness import MIX_CHOICES, Server, ServerOptions, Tally, drive, rss_kb, sqlite_url

pytestmark = pytest.mark.slow

MAX_QUEUE = 100


async def test_a_slow_store_keeps_the_queue_bounded_refuses_the_excess_and_loses_nothing(
    tmp_path: Path,
) -> None:
    url, spool = sqlite_url(tmp_path / "audit.db"), tmp_path / "spool"
    options = ServerOptions(
        audit=url, spool=spool, log=tmp_path / "server.log", batch_size=10, flush_interval=0.05,
        max_queue=MAX_QUEUE, store_delay=0.5,
    )  # fmt: skip
    server = Server(options)
    server.start()
    samples: list[tuple[int, int]] = []  # (queued, RSS kB)
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            stats = await asyncio.to_thread(server.stats)
            samples.append((int(str(stats["queued"])), rss_kb(server.pid)))
            await asyncio.sleep(0.1)

    async def flood() -> object:
        try:
            # Each choice waits until it is stored, so only many visitors at once fill the queue.
            return await drive(server.port, mix=MIX_CHOICES, seconds=6.0, concurrency=160, warmup=0.0)
        finally:
            done.set()

    try:
        rss_before = server.rss_kb()
        tally, _ = await asyncio.gather(flood(), watch())
    finally:
        assert server.stop() == 0, server.log_text()  # flushes the queue into the slow store
    assert isinstance(tally, Tally)
    assert max(queued for queued, _ in samples) <= MAX_QUEUE
    assert tally.refused_503 > 0, "a queue that never fills proves nothing"
    assert tally.classes["page"].errors == 0 and tally.classes["page"].statuses[200] > 0
    assert tally.classes["consent"].errors == 0, tally.mismatches[:5]
    assert tally.classes["consent"].statuses[200] + tally.classes["consent"].statuses[303] > 0
    growth_mb = (max(rss for _, rss in samples) - rss_before) / 1024
    print(f"slow store: peak queue {max(q for q, _ in samples)}/{MAX_QUEUE}, {tally.refused_503} refused, "
          f"{len(tally.acknowledged)} acknowledged, RSS +{growth_mb:.1f} MB")  # fmt: skip
    assert growth_mb < 40, f"RSS grew by {growth_mb:.1f} MB"
    await assert_logged_exactly(url, tally.acknowledged, spool, unconfirmed=unconfirmed(tally))
