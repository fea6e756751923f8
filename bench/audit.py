"""Audit writer benchmark: the cost of ``enqueue``, of sealing, and sustained events/s into each
store through the writer, each against a baseline measured in the same process.

    .venv/bin/python bench/audit.py [--events 200000] [--runs 3] [--pg postgresql://postgres@127.0.0.1/test]

What is measured:
- ``enqueue``: ns per call on prebuilt events (the only cost a request pays), against a bare
  ``deque.append`` in the same run;
- sealing: µs per event to assign chain fields, build the canonical record text and HMAC it
  (the background task's Python work per event; its inverse is the ceiling of any writer);
- per store, alternating so each pair of runs shares the machine's load:
  - raw: presealed rows written with the store's own ``write`` in 5000-row batches (as many in
    flight as the writer allows), no queue, no task, no sealing — the store's ceiling;
  - writer: events/s from the first ``enqueue`` until the store has them all, with the writer's
    defaults (batch 500, growing to 5000 while the store is busy; keyed chain), and where the
    CPU went: µs per event on the event loop's thread (enqueue, sealing, laying out the batch)
    and on the other threads of the process (SQLite's);
  - one commit per event, for scale;
- for SQLite also ``synchronous=NORMAL`` beside the default FULL, and rows into a table without
  indexes (what no SQLite writer on this machine can beat).
Events are built before timing (building a ``ConsentEvent`` is the caller's cost, not the log's)
and frozen out of the garbage collector's way.
PostgreSQL runs in a throw-away schema; without a server it is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from statistics import median

from consentgate.audit.chain import Sealer
from consentgate.audit.events import ConsentEvent
from consentgate.audit.stores import Row, Store, open_store
from consentgate.audit.stores.base import stored_values
from consentgate.audit.stores.sqlite import _SCHEMA, SQLiteStore, _insert
from consentgate.audit.writer import AuditWriter

KEY = b"benchmark-audit-key-0123456789abcdef"
CATEGORIES = (
    {"necessary": True, "analytics": True, "marketing": True},
    {"necessary": True, "analytics": False},
)
MAX_BATCH = 5000  # the writer's largest batch (AuditWriter's default max_batch)


def events(count: int) -> list[ConsentEvent]:
    now = int(time.time() * 1000)
    return [
        ConsentEvent(
            consent_id=os.urandom(16).hex(),
            action="save",
            categories=CATEGORIES[i % 2],
            ts=now + i // 100,
            policy_version="3",
            policy_fingerprint="f" * 16,
            notice_hash="a" * 64,
            locale="de",
            ui_action="banner.save",
            region="DE",
            region_source="header:CF-IPCountry",
            path="/products/42",
            ua_browser="Firefox 133",
            ua_os="Linux",
            ua_device="pc",
        )
        for i in range(count)
    ]


def bench_enqueue(sample: list[ConsentEvent]) -> tuple[float, float]:
    """(ns per enqueue, ns per deque.append) — best of five runs."""
    writer_runs, deque_runs = [], []
    for _ in range(5):
        writer = AuditWriter(f"sqlite:///{tempfile.gettempdir()}/unused.db", max_queue=len(sample) + 1)
        gc.disable()
        started = time.perf_counter_ns()
        for event in sample:
            writer.enqueue(event)
        writer_runs.append((time.perf_counter_ns() - started) / len(sample))
        plain: deque[ConsentEvent] = deque()
        append = plain.append
        started = time.perf_counter_ns()
        for event in sample:
            append(event)
        deque_runs.append((time.perf_counter_ns() - started) / len(sample))
        gc.enable()
    return min(writer_runs), min(deque_runs)


def bench_seal(sample: list[ConsentEvent], key: bytes | None) -> float:
    """µs per event, best of five (CPU time of this thread, so the machine's load counts less)."""
    runs = []
    for _ in range(5):
        started = time.thread_time()
        Sealer(key).seal(sample)
        runs.append((time.thread_time() - started) / len(sample) * 1e6)
    return min(runs)


@dataclass(frozen=True)
class Run:
    rate: float  # events/s
    loop_cpu: float  # µs per event on the event loop's thread
    other_cpu: float  # µs per event on the process's other threads (the SQLite thread)


async def sustained(store: Store, sample: list[ConsentEvent], spool: Path) -> Run:
    """Events/s through the writer (defaults) until the store holds all of them."""
    writer = AuditWriter(store, key=KEY, spool_path=spool)
    await writer.start()
    started, loop_cpu, all_cpu = time.perf_counter(), time.thread_time(), time.process_time()
    enqueue = writer.enqueue
    for index, event in enumerate(sample):
        while not enqueue(event):  # queue full: the producer waits, as a 503 would
            await asyncio.sleep(0.001)
        if index % 1000 == 999:
            await asyncio.sleep(0)  # a real server interleaves requests with the writer
    while writer.stats.written < len(sample):
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    loop_cpu, all_cpu = time.thread_time() - loop_cpu, time.process_time() - all_cpu
    stats = writer.stats
    await writer.stop()
    if stats.spooled or stats.written != len(sample):
        raise RuntimeError(f"benchmark run was not clean: {stats}")
    per_event = 1e6 / len(sample)
    return Run(len(sample) / elapsed, loop_cpu * per_event, (all_cpu - loop_cpu) * per_event)


async def raw_store(store: Store, rows: list[Row]) -> float:
    """Rows/s of presealed rows through the store's own write in the writer's largest batches,
    as many in flight as the writer would have."""
    size = min(MAX_BATCH, getattr(store, "rows_per_write", MAX_BATCH))
    batches = [rows[start : start + size] for start in range(0, len(rows), size)]
    started = time.perf_counter()
    parallel = max(1, store.parallel_writes)
    for first in range(0, len(batches), parallel):
        await asyncio.gather(*(store.write(batch) for batch in batches[first : first + parallel]))
    return len(rows) / (time.perf_counter() - started)


async def one_commit_per_event(store: Store, sample: list[ConsentEvent]) -> float:
    sealer = Sealer(KEY)
    started = time.perf_counter()
    for event in sample:
        await store.write(sealer.seal([event]))
    return len(sample) / (time.perf_counter() - started)


def bare_sqlite(work: Path, rows: list[Row]) -> float:
    """Rows/s of 1024-row INSERTs, 4096 rows per transaction, into the store's table without
    any index, on this thread."""
    conn = sqlite3.connect(work / f"bare-{uuid.uuid4().hex[:6]}.db", isolation_level=None)
    for pragma in ("page_size = 16384", "journal_mode = WAL", "synchronous = FULL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(_SCHEMA[0])
    insert = _insert(1024).split(" ON CONFLICT")[0]  # (no key to conflict on)
    chunks = [
        tuple(chain.from_iterable(map(stored_values, rows[i : i + 1024]))) for i in range(0, len(rows), 1024)
    ]
    full = [chunk for chunk in chunks if len(chunk) == len(chunks[0])]
    started = time.perf_counter()
    for first in range(0, len(full), 4):
        conn.execute("BEGIN IMMEDIATE")
        for chunk in full[first : first + 4]:
            conn.execute(insert, chunk)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return 1024 * len(full) / elapsed


class Places:
    """A fresh, empty store for each measurement, so none runs against a larger table."""

    def __init__(self, kind: str, work: Path, dsn: str = "") -> None:
        self.kind, self.work, self.dsn = kind, work, dsn
        self.schemas: list[str] = []

    def url(self) -> str:
        name = uuid.uuid4().hex[:10]
        if self.kind == "sqlite":
            return f"sqlite:///{self.work}/{name}.db"
        if self.kind == "jsonl":
            return f"jsonl:///{self.work}/{name}.jsonl"
        import psycopg

        schema = f"cg_bench_{name}"
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
        self.schemas.append(schema)
        separator = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{separator}options=-csearch_path%3D{schema}"

    async def store(self, make: Callable[[str], Store] = open_store) -> Store:
        store = make(self.url())
        await store.migrate()
        await store.open()
        return store

    def clean(self) -> None:
        if not self.schemas:
            return
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


async def measure(
    places: Places,
    sample: list[ConsentEvent],
    runs: int,
    make: Callable[[str], Store] = open_store,
) -> tuple[list[float], list[Run]]:
    """``runs`` pairs of (raw ceiling, writer), each on a fresh store."""
    rows = Sealer(KEY).seal(sample)
    raws, writers = [], []
    for attempt in range(runs):
        store = await places.store(make)
        raws.append(await raw_store(store, rows))
        await store.close()
        store = await places.store(make)
        writers.append(await sustained(store, sample, places.work / f"spool-{places.kind}-{attempt}"))
        await store.close()
    return raws, writers


def report(label: str, raws: list[float], writers: list[Run]) -> None:
    best = max(writers, key=lambda run: run.rate)
    raw = max(raws)
    middle = sorted(writers, key=lambda run: run.rate)[len(writers) // 2]
    print(
        f"{label:<18} raw {raw:>9,.0f} rows/s (runs: {', '.join(f'{r:,.0f}' for r in raws)})\n"
        f"{'':<18} writer {best.rate:>6,.0f} events/s = {best.rate / raw:.0%} of raw "
        f"(runs: {', '.join(f'{r.rate:,.0f}' for r in writers)}; median {median(r.rate for r in writers):,.0f})\n"
        f"{'':<18} CPU per event (median run): event loop thread {middle.loop_cpu:.2f} µs, "
        f"other threads {middle.other_cpu:.2f} µs; wall {1e6 / middle.rate:.2f} µs"
    )


async def run_sqlite(work: Path, sample: list[ConsentEvent], baseline: list[ConsentEvent], runs: int) -> None:
    places = Places("sqlite", work)
    report("sqlite FULL", *await measure(places, sample, runs))

    def normal(url: str) -> Store:
        return SQLiteStore(url.removeprefix("sqlite:///"), synchronous="NORMAL")

    report("sqlite NORMAL", *await measure(places, sample, runs, normal))
    bare = max(bare_sqlite(work, Sealer(KEY).seal(sample)) for _ in range(2))
    store = await places.store()
    single = await one_commit_per_event(store, baseline)
    await store.close()
    print(
        f"{'':<18} the same rows into a table without indexes: {bare:,.0f} rows/s; "
        f"one commit per event: {single:,.0f}/s"
    )


async def run_postgres(
    dsn: str, sample: list[ConsentEvent], baseline: list[ConsentEvent], work: Path, runs: int
) -> None:
    try:
        import psycopg
    except ImportError:
        print("postgresql         skipped: psycopg is not installed")
        return
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        print(f"postgresql         skipped: {str(exc).strip().splitlines()[0]}")
        return
    places = Places("postgresql", work, dsn)
    try:
        report("postgresql COPY", *await measure(places, sample, runs))
        store = await places.store()
        single = await one_commit_per_event(store, baseline)
        await store.close()
        print(f"{'':<18} one commit per event: {single:,.0f}/s")
    finally:
        places.clean()


async def run_jsonl(work: Path, sample: list[ConsentEvent], baseline: list[ConsentEvent], runs: int) -> None:
    places = Places("jsonl", work)
    report("jsonl", *await measure(places, sample, runs))
    store = await places.store()
    single = await one_commit_per_event(store, baseline)
    await store.close()
    print(f"{'':<18} one fsync'd append per event: {single:,.0f}/s")


def section(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def main() -> int:
    logging.getLogger("consentgate.audit").setLevel(logging.CRITICAL)  # "queue full" is expected here
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="pairs of (raw, writer) runs per store")
    parser.add_argument(
        "--pg", default=os.environ.get("CONSENTGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    sample = events(args.events)
    baseline = sample[:2000]
    # The prebuilt events are this benchmark's, not the writer's: keep the cyclic collector from
    # rescanning them (a server holds a few queued events, not 200 000).
    gc.freeze()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"consentgate audit benchmark — Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load {load}; {args.events:,} events, {args.runs} runs"
    )
    writer_ns, deque_ns = bench_enqueue(sample[:100_000])
    print(f"enqueue            {writer_ns:.0f} ns/call (deque.append alone: {deque_ns:.0f} ns)")
    keyed, plain = bench_seal(sample[:50_000], KEY), bench_seal(sample[:50_000], None)
    print(
        f"seal               {keyed:.2f} µs/event keyed (HMAC-SHA256), {plain:.2f} µs plain SHA-256: "
        f"sealing alone tops out at {1e6 / keyed:,.0f} events/s on one thread"
    )
    with tempfile.TemporaryDirectory(prefix="consentgate-bench-") as folder:
        work = Path(folder)
        section(lambda: run_sqlite(work, sample, baseline, args.runs))
        section(lambda: run_postgres(args.pg, sample, baseline, work, args.runs))
        section(lambda: run_jsonl(work, sample[: args.events // 4], baseline[:500], args.runs))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load at the end: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
