"""The writer: nothing accepted is lost or stored twice — under load, through outages, across
a killed process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from consentgate.audit.chain import verify
from consentgate.audit.stores import Store
from consentgate.audit.stores.base import Query
from consentgate.audit.writer import AuditWriter

from .conftest import KEY, StoreCase, fast_store, make_event


async def _stored(store: Store) -> list[dict[str, object]]:
    return [record async for record in store.read(Query())]


async def _check_exactly(store: Store, event_ids: list[str]) -> None:
    records = await _stored(store)
    stored_ids = [str(r["event_id"]) for r in records]
    assert len(stored_ids) == len(set(stored_ids)), "an event was stored twice"
    assert sorted(stored_ids) == sorted(event_ids), "an accepted event is missing"
    report = await verify(store, KEY)
    assert report.ok, report.problems


def _writer(store: Store, tmp_path: Path, **options: object) -> AuditWriter:
    settings: dict[str, object] = {"flush_interval": 0.02, "retry_initial": 0.05, "retry_max": 0.2}
    settings.update(options)
    return AuditWriter(store, key=KEY, spool_path=tmp_path / "spool", **settings)  # type: ignore[arg-type]


async def _until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_ten_thousand_events_from_fifty_tasks_are_stored_exactly_once(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    writer = _writer(store, tmp_path)
    await writer.start()
    accepted: list[str] = []

    async def visitor(task: int) -> None:
        for i in range(200):
            event = make_event(task * 1000 + i, consent_id=f"visitor-{task}")
            assert writer.enqueue(event)
            accepted.append(event.event_id)
            if i % 25 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(*(visitor(task) for task in range(50)))
    await writer.stop()
    assert len(accepted) == 10_000
    await _check_exactly(store, accepted)
    stats = writer.stats
    assert (stats.accepted, stats.written, stats.spooled, stats.dropped_full) == (10_000, 10_000, 0, 0)


async def test_an_outage_spools_then_replays_in_order_without_loss_or_duplicates(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    writer = _writer(store, tmp_path, batch_size=50)
    await writer.start()
    accepted: list[str] = []

    def send(count: int) -> None:
        for _ in range(count):
            event = make_event(len(accepted))
            assert writer.enqueue(event)
            accepted.append(event.event_id)

    send(300)
    await _until(lambda: writer.stats.written == 300)
    async with store_case.outage():
        for _ in range(10):
            send(40)
            await asyncio.sleep(0.05)
        await _until(lambda: writer.stats.spooled > 0)
        send(100)
        await asyncio.sleep(0.3)
        assert writer.stats.backlog
    await _until(lambda: not writer.stats.backlog)
    send(200)
    await writer.stop()
    stats = writer.stats
    assert stats.replayed > 0 and stats.store_errors > 0
    assert stats.written + stats.replayed == len(accepted) == 1000
    await _check_exactly(store, accepted)
    assert not list((tmp_path / "spool").glob("spool-*.jsonl")), "an empty spool file was left behind"


async def test_postgres_connections_killed_mid_stream_lose_nothing(
    pg_case: StoreCase, tmp_path: Path
) -> None:
    application_name = pg_case.url.rsplit("application_name=", 1)[1]
    store = fast_store(pg_case.url)
    writer = _writer(store, tmp_path, batch_size=100)
    await writer.start()
    accepted: list[str] = []
    killed = 0
    for round_ in range(8):
        for i in range(400):
            event = make_event(round_ * 1000 + i)
            assert writer.enqueue(event)
            accepted.append(event.event_id)
        await asyncio.sleep(0.03)
        killed += await pg_case.kill_connections(application_name)
    # The pool reconnects with a back-off; once it has, the spool drains.
    await _until(lambda: not writer.stats.backlog and writer.stats.queued == 0, timeout=60)
    await writer.stop()
    assert killed > 0
    await store.open()
    await _check_exactly(store, accepted)
    await store.close()


async def test_stop_writes_everything_accepted(store: Store, tmp_path: Path) -> None:
    writer = _writer(store, tmp_path, flush_interval=30.0)  # nothing is written before stop
    await writer.start()
    events = [make_event(i) for i in range(1234)]
    assert all(writer.enqueue(event) for event in events)
    await writer.stop()
    await _check_exactly(store, [e.event_id for e in events])


async def test_events_queued_before_start_are_written_by_stop(store: Store, tmp_path: Path) -> None:
    writer = _writer(store, tmp_path)
    events = [make_event(i) for i in range(10)]
    for event in events:
        writer.enqueue(event)
    await writer.stop()
    await _check_exactly(store, [e.event_id for e in events])


async def test_a_full_queue_refuses_and_counts(tmp_path: Path) -> None:
    store = fast_store(f"sqlite:///{tmp_path}/a.db")
    writer = _writer(store, tmp_path, batch_size=10, max_queue=10)
    results = [writer.enqueue(make_event(i)) for i in range(15)]
    assert results == [True] * 10 + [False] * 5
    assert writer.stats.dropped_full == 5
    await writer.start()
    await writer.stop()
    assert writer.stats.written == 10
    assert writer.enqueue(make_event(99)) is False
    assert writer.stats.dropped_closed == 1


async def test_crawler_events_are_counted_not_logged(tmp_path: Path) -> None:
    store = fast_store(f"sqlite:///{tmp_path}/a.db")
    writer = _writer(store, tmp_path)
    await writer.start()
    assert writer.enqueue(make_event(1, ua_device="bot")) is True
    writer.skip_bot()
    writer.enqueue(make_event(2))
    await writer.stop()
    assert writer.stats.bots_skipped == 2
    await store.open()
    assert [r["ua_device"] for r in await _stored(store)] == ["pc"]
    await store.close()


async def test_start_is_idempotent_under_concurrent_first_requests(tmp_path: Path) -> None:
    store = fast_store(f"sqlite:///{tmp_path}/a.db")
    writer = _writer(store, tmp_path)
    await asyncio.gather(*(writer.start() for _ in range(5)))
    assert writer.running
    writer.enqueue(make_event(1))
    await writer.stop()
    assert not writer.running and writer.stats.written == 1


async def test_notices_and_cookies_reach_the_store(tmp_path: Path) -> None:
    store = fast_store(f"sqlite:///{tmp_path}/a.db")
    writer = _writer(store, tmp_path)
    await writer.start()
    writer.put_notice("abc", {"texts": {"en": {"title": "Cookies"}}})
    writer.put_notice("abc", {"texts": "ignored: the hash is known"})
    for _ in range(3):
        writer.observe_cookie("_ga", ".example.com", "analytics", "google-analytics")
    await writer.stop()
    await store.open()
    notice = await store.get_notice("abc")
    assert notice is not None and notice.doc == {"texts": {"en": {"title": "Cookies"}}}
    [cookie] = await store.list_cookies()
    assert (cookie.name, cookie.count, cookie.service) == ("_ga", 3, "google-analytics")
    await store.close()


class _CountingNotices:
    """The real store, counting the notice writes it is asked for."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.notice_writes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        self.notice_writes += 1
        return await self.inner.put_notice(notice_hash, doc, first_seen)


async def test_while_the_store_fails_notices_wait_instead_of_holding_events_back(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    """Each try against a failing store can take its whole connect timeout (PostgreSQL: 2 s),
    while consent events queue behind it and their durable waits run out."""
    counting = _CountingNotices(store)
    writer = _writer(counting, tmp_path)  # type: ignore[arg-type]
    await writer.start()
    accepted: list[str] = []

    def send(count: int) -> None:
        for _ in range(count):
            event = make_event(len(accepted))
            assert writer.enqueue(event)
            accepted.append(event.event_id)

    async with store_case.outage():
        send(10)
        await _until(lambda: writer.stats.spooled > 0)
        writes_before = counting.notice_writes
        writer.put_notice("n1", {"texts": {"en": {"title": "Cookies"}}})
        for _ in range(5):
            send(10)
            await asyncio.sleep(0.05)
        await _until(lambda: writer.stats.spooled == len(accepted))
        assert counting.notice_writes == writes_before
    await _until(lambda: not writer.stats.backlog and counting.notice_writes > writes_before)
    await writer.stop()
    notice = await store.get_notice("n1")
    assert notice is not None and notice.doc == {"texts": {"en": {"title": "Cookies"}}}
    await _check_exactly(store, accepted)


async def test_an_unusable_spool_keeps_events_in_memory_until_the_store_is_back(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the spool directory cannot be created under a file")
    writer = AuditWriter(
        store, key=KEY, spool_path=blocker / "spool", flush_interval=0.02, retry_initial=0.05, retry_max=0.2
    )
    await writer.start()
    accepted: list[str] = []
    async with store_case.outage():
        for i in range(120):
            event = make_event(i)
            assert writer.enqueue(event)
            accepted.append(event.event_id)
        await _until(lambda: writer.stats.spool_errors > 0)
        assert writer.spool.held_rows > 0
    await _until(lambda: not writer.stats.backlog)
    await writer.stop()
    await _check_exactly(store, accepted)


def test_configuration_errors_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        AuditWriter(f"sqlite:///{tmp_path}/a.db", batch_size=0)
    with pytest.raises(ValueError, match="max_queue"):
        AuditWriter(f"sqlite:///{tmp_path}/a.db", batch_size=100, max_queue=10)
    with pytest.raises(ValueError, match="audit_key"):
        AuditWriter(f"sqlite:///{tmp_path}/a.db", key=b"short")
    with pytest.raises(ValueError, match="max_batch"):
        AuditWriter(f"sqlite:///{tmp_path}/a.db", batch_size=100, max_batch=50)


class _SlowStore:
    """Delegates to a real store; each write takes a while and its size is recorded."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def write(self, rows: list[object], *, replay: bool = False) -> int:
        self.batches.append(len(rows))
        await asyncio.sleep(0.05)
        return await self.inner.write(rows, replay=replay)  # type: ignore[arg-type]


async def test_a_store_that_falls_behind_gets_larger_transactions(tmp_path: Path) -> None:
    inner = fast_store(f"sqlite:///{tmp_path}/a.db")
    store = _SlowStore(inner)
    writer = _writer(store, tmp_path, batch_size=10, max_batch=40)  # type: ignore[arg-type]
    await writer.start()
    events = [make_event(i) for i in range(300)]
    for event in events:
        assert writer.enqueue(event)
    await writer.stop()
    await inner.open()
    try:
        await _check_exactly(inner, [event.event_id for event in events])
    finally:
        await inner.close()
    assert max(store.batches) == 40, store.batches  # grown while the store was busy
    assert sum(store.batches) == 300


def test_enqueue_is_a_cheap_append(tmp_path: Path) -> None:
    writer = AuditWriter(f"sqlite:///{tmp_path}/a.db", max_queue=200_000)
    events = [make_event(i) for i in range(100_000)]
    started = time.perf_counter()
    for event in events:
        writer.enqueue(event)
    per_call = (time.perf_counter() - started) / len(events)
    assert per_call < 20e-6  # bench/audit.py measures it properly; this only catches a blocking call


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from consentgate.audit.stores.jsonl import JsonlStore
    from consentgate.audit.stores.postgres import PostgresStore
    from consentgate.audit.stores.sqlite import SQLiteStore
    from consentgate.audit.stores import open_store
    from consentgate.audit.writer import AuditWriter
    sys.path.insert(0, sys.argv[4])
    from tests.audit.conftest import KEY, fast_store, make_event

    async def main() -> None:
        store = fast_store(sys.argv[1])
        writer = AuditWriter(store, key=KEY, spool_path=sys.argv[2], flush_interval=0.02,
                             retry_initial=3600)
        await writer.start()
        count = int(sys.argv[3])
        for i in range(count):
            writer.enqueue(make_event(i))
        while writer.stats.spooled < count:
            await asyncio.sleep(0.02)
        print("spooled", writer.chain_id, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_spool_left_by_a_killed_process_is_replayed_on_the_next_start(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    spool = tmp_path / "spool"
    async with store_case.outage():
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, store_case.url, str(spool), "300", str(repo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
            assert line.startswith("spooled"), line
            dead_chain = line.split()[1]
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
    assert [path.name for path in spool.glob("spool-*.jsonl")] == [f"spool-{dead_chain}.jsonl"]
    writer = _writer(store, tmp_path)
    await writer.start()  # replays the dead writer's spool before anything else
    assert writer.stats.replayed == 300
    await writer.stop()
    records = await _stored(store)
    assert sorted(int(str(r["seq"])) for r in records) == list(range(1, 301))
    assert {r["chain_id"] for r in records} == {dead_chain}
    assert (await verify(store, KEY)).ok
    assert not list(spool.glob("spool-*.jsonl"))


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from consentgate.audit.stores import open_store
    from consentgate.audit.writer import AuditWriter
    sys.path.insert(0, sys.argv[4])
    from tests.audit.conftest import KEY, make_event

    async def main() -> None:
        # A worker of `uvicorn --workers N`: its own writer, the shared store and spool directory.
        writer = AuditWriter(open_store(sys.argv[1]), key=KEY, spool_path=sys.argv[2], flush_interval=0.02)
        await writer.start()
        name, count = sys.argv[3], 1500
        for i in range(count):
            while not writer.enqueue(make_event(i, consent_id=f"{name}-{i}")):
                await asyncio.sleep(0.01)
            if i % 50 == 0:
                await asyncio.sleep(0)  # requests arrive over time, not in one burst
        await writer.stop()
        print("accepted", writer.stats.accepted, flush=True)

    asyncio.run(main())
    """
)


async def test_several_processes_write_one_log_and_every_accepted_event_is_stored_once(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    spool = tmp_path / "spool"
    names = ["w1", "w2", "w3", "w4"]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, store_case.url, str(spool), name, str(repo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outputs = []
    for child in children:
        out, _ = await asyncio.to_thread(child.communicate, timeout=180)
        assert child.returncode == 0
        outputs.append(out.strip())
    assert outputs == ["accepted 1500"] * len(names)
    # Whatever a worker could not store before it stopped waits in the spool for the next start.
    writer = _writer(store, tmp_path)
    await writer.start()
    await writer.stop()
    assert not list(spool.glob("spool-*.jsonl"))
    records = await _stored(store)
    consent_ids = [str(record["consent_id"]) for record in records]
    assert len(consent_ids) == len(set(consent_ids)) == 1500 * len(names)
    report = await verify(store, KEY)
    assert report.ok and len(report.chains) == len(names)


NOTICE = {"texts": {"de": {"title": "Wir verwenden Cookies", "body": "Fassung vom März"}}}


async def _archived(store: Store, writer: AuditWriter, notice_hash: str, timeout: float = 60.0) -> None:
    """Until the writer has replayed its backlog and archived the notice (a killed writer's
    PostgreSQL backend may still hold a lock for a moment: the writer retries)."""
    deadline = time.monotonic() + timeout
    while writer.stats.backlog or await store.get_notice(notice_hash) is None:
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_notice_pending_at_a_stop_during_an_outage_is_archived_by_the_next_start(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    # The next release may show another notice and never offer this one again: the spooled
    # events must still resolve to the text their visitors saw.
    writer = _writer(store, tmp_path)
    await writer.start()
    async with store_case.outage():
        writer.put_notice("march", NOTICE)
        event = make_event(1, notice_hash="march")
        assert writer.enqueue(event)
        await _until(lambda: writer.stats.spooled == 1)
        await writer.stop()
    assert [path.name for path in (tmp_path / "spool").glob("notices-*.jsonl")] == [
        f"notices-{writer.chain_id}.jsonl"
    ]
    after_restart = _writer(store, tmp_path)
    await after_restart.start()
    try:
        await _archived(store, after_restart, "march")
    finally:
        await after_restart.stop()
    notice = await store.get_notice("march")
    assert notice is not None and notice.doc == NOTICE
    await _check_exactly(store, [event.event_id])
    assert not list((tmp_path / "spool").glob("*"))


_NOTICE_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from consentgate.audit.writer import AuditWriter
    sys.path.insert(0, sys.argv[3])
    from tests.audit.conftest import KEY, fast_store, make_event

    async def main() -> None:
        writer = AuditWriter(fast_store(sys.argv[1]), key=KEY, spool_path=sys.argv[2],
                             flush_interval=0.02, retry_initial=3600)
        await writer.start()
        writer.put_notice("march", {"texts": {"de": {"title": "Wir verwenden Cookies"}}})
        writer.enqueue(make_event(1, notice_hash="march"))
        while not (writer.stats.spooled and writer.spool.notices_path.exists()):
            await asyncio.sleep(0.02)
        print("kept", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_notice_pending_when_the_process_is_killed_during_an_outage_survives(
    store_case: StoreCase, store: Store, tmp_path: Path
) -> None:
    repo = Path(__file__).resolve().parents[2]
    spool = tmp_path / "spool"
    async with store_case.outage():
        child = subprocess.Popen(
            [sys.executable, "-c", _NOTICE_CHILD, store_case.url, str(spool), str(repo)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
            assert line.strip() == "kept", line
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
    writer = _writer(store, tmp_path)
    await writer.start()
    try:
        await _archived(store, writer, "march")
    finally:
        await writer.stop()
    notice = await store.get_notice("march")
    assert notice is not None and notice.doc == {"texts": {"de": {"title": "Wir verwenden Cookies"}}}
    assert len(await _stored(store)) == 1
    assert not list(spool.glob("*"))
