"""Group commit: ``enqueue_durable`` resolves only once the event is on disk — committed to the
store, or fsync'd to the spool when the store is down — and never makes a caller sit out the
flush interval."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from consentgate.audit.stores.base import Row
from consentgate.audit.stores.sqlite import SQLiteStore
from consentgate.audit.writer import AuditWriter

from .conftest import KEY, make_event

SLOW = 30.0  # a flush interval no test could sit out: every wait here must be a drain on demand


class CountingStore(SQLiteStore):
    """A real SQLite store that also remembers the size of each transaction."""

    def __init__(self, path: Path, **options: float) -> None:
        super().__init__(path, **options)  # type: ignore[arg-type]
        self.batches: list[int] = []

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        self.batches.append(len(rows))
        return await super().write(rows, replay=replay)


def stored_ids(path: Path) -> set[str]:
    """What another process reading the database sees now."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {str(row[0]) for row in conn.execute("SELECT event_id FROM audit_events")}


def spooled_text(directory: Path) -> str:
    return "".join(p.read_text("utf-8") for p in sorted(directory.iterdir()) if p.is_file())


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process holds the write lock: the store's writes fail after its busy timeout."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def writer_for(store: SQLiteStore, tmp_path: Path, **options: int) -> AuditWriter:
    return AuditWriter(store, key=KEY, spool_path=tmp_path / "spool", flush_interval=SLOW, **options)


async def test_the_future_resolves_only_once_the_row_is_readable_from_the_database(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    writer = writer_for(SQLiteStore(path), tmp_path)
    await writer.start()
    event = make_event(1)
    seen_at_resolution: list[bool] = []
    future = writer.enqueue_durable(event)
    # Checked at the very moment the future resolves, not later when the test gets round to it.
    future.add_done_callback(lambda _: seen_at_resolution.append(event.event_id in stored_ids(path)))
    assert not future.done() and event.event_id not in stored_ids(path)
    assert await asyncio.wait_for(future, 5.0) is True
    assert seen_at_resolution == [True]
    await writer.stop()


async def test_concurrent_waiters_share_one_transaction(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "audit.db")
    writer = writer_for(store, tmp_path)
    await writer.start()
    events = [make_event(i) for i in range(20)]
    results = await asyncio.wait_for(asyncio.gather(*(writer.enqueue_durable(e) for e in events)), 5.0)
    assert results == [True] * 20
    assert store.batches == [20]
    assert {e.event_id for e in events} <= stored_ids(tmp_path / "audit.db")
    await writer.stop()


async def test_waiters_arriving_during_a_write_are_grouped_into_the_next_one(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "audit.db")
    writer = writer_for(store, tmp_path)
    await writer.start()
    first = writer.enqueue_durable(make_event(0))
    while not store.batches:  # until the writer has taken the first event into a transaction
        await asyncio.sleep(0)
    later = [writer.enqueue_durable(make_event(i)) for i in range(1, 11)]
    assert await asyncio.wait_for(asyncio.gather(first, *later), 5.0) == [True] * 11
    assert store.batches == [1, 10]
    await writer.stop()


async def test_with_the_store_locked_the_future_resolves_once_the_spool_has_the_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    writer = writer_for(SQLiteStore(path, busy_timeout=0.2), tmp_path)
    await writer.start()
    event = make_event(7)
    with locked(path):
        future = writer.enqueue_durable(event)
        spooled_at_resolution: list[bool] = []
        future.add_done_callback(
            lambda _: spooled_at_resolution.append(event.event_id in spooled_text(writer.spool.directory))
        )
        assert await asyncio.wait_for(future, 5.0) is True
        assert spooled_at_resolution == [True]
        assert event.event_id not in stored_ids(path)
        assert writer.stats.store_errors >= 1 and writer.stats.spooled == 1
    await writer.stop()  # the store is back: the spool is replayed into it
    assert event.event_id in stored_ids(path)


async def test_a_full_queue_or_a_stopped_writer_resolves_false_at_once(tmp_path: Path) -> None:
    writer = writer_for(SQLiteStore(tmp_path / "audit.db"), tmp_path, batch_size=1, max_queue=1)
    assert writer.enqueue(make_event(0))  # not started: the one slot stays taken
    refused = writer.enqueue_durable(make_event(1))
    assert refused.done() and refused.result() is False
    await writer.start()
    await writer.stop()
    after_stop = writer.enqueue_durable(make_event(2))
    assert after_stop.done() and after_stop.result() is False
    assert (writer.stats.dropped_full, writer.stats.dropped_closed) == (1, 1)


async def test_a_crawler_event_is_confirmed_without_being_logged(tmp_path: Path) -> None:
    writer = writer_for(SQLiteStore(tmp_path / "audit.db"), tmp_path)
    bot = writer.enqueue_durable(make_event(0, ua_device="bot"))
    assert bot.done() and bot.result() is True
    assert writer.stats.queued == 0 and writer.stats.bots_skipped == 1


async def test_a_wait_begun_before_start_does_not_sit_out_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    writer = writer_for(SQLiteStore(path), tmp_path)
    event = make_event(3)
    future = writer.enqueue_durable(event)
    await writer.start()
    assert await asyncio.wait_for(future, 5.0) is True
    assert event.event_id in stored_ids(path)
    await writer.stop()


async def test_a_caller_that_gives_up_does_not_disturb_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    writer = writer_for(SQLiteStore(path, busy_timeout=1.0), tmp_path)
    await writer.start()
    event = make_event(4)
    with locked(path):
        try:
            await asyncio.wait_for(writer.enqueue_durable(event), 0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the locked store confirmed a write")
    follow_up = make_event(5)
    assert await asyncio.wait_for(writer.enqueue_durable(follow_up), 5.0) is True
    await writer.stop()
    assert {event.event_id, follow_up.event_id} <= stored_ids(path)
