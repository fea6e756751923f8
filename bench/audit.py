"""Audit writer benchmark: the cost of ``enqueue`` and sustained events/s into each store.

    .venv/bin/python bench/audit.py [--events 200000] [--pg postgresql://postgres@127.0.0.1/test]

What is measured:
- ``enqueue``: ns per call on prebuilt events (the only cost a request pays), against a bare
  ``deque.append`` in the same run;
- sealing: µs per event to assign chain fields and HMAC (done by the background task);
- sustained throughput: events/s from the first ``enqueue`` until the store has them all, with
  the writer's defaults (batch 500, growing to 5000 while the store is busy; keyed chain),
  against one commit per event in the same run;
- for SQLite also: ``synchronous=NORMAL`` beside the default FULL, and the raw ceiling of this
  machine in the same run: presealed rows inserted with ``executemany`` in 5000-row transactions
  into the same schema, and into a table without indexes (what no writer can beat).
Events are built before timing: building a ``ConsentEvent`` is the caller's cost, not the log's.
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
from pathlib import Path

from consentgate.audit.chain import Sealer
from consentgate.audit.events import ConsentEvent
from consentgate.audit.stores import Store, open_store
from consentgate.audit.stores.base import stored_values
from consentgate.audit.stores.sqlite import _INSERT, _SCHEMA, SQLiteStore
from consentgate.audit.writer import AuditWriter

KEY = b"benchmark-audit-key-0123456789abcdef"
CATEGORIES = (
    {"necessary": True, "analytics": True, "marketing": True},
    {"necessary": True, "analytics": False},
)


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
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        Sealer(key).seal(sample)
        runs.append((time.perf_counter() - started) / len(sample) * 1e6)
    return min(runs)


async def sustained(store: Store, sample: list[ConsentEvent], spool: Path) -> float:
    """Events/s through the writer (defaults) until the store holds all of them."""
    writer = AuditWriter(store, key=KEY, spool_path=spool)
    await writer.start()
    started = time.perf_counter()
    for event in sample:
        while not writer.enqueue(event):  # queue full: the producer waits, as a 503 would
            await asyncio.sleep(0.001)
        if writer.stats.queued % 1000 == 0:
            await asyncio.sleep(0)  # a real server interleaves requests with the writer
    while writer.stats.written < len(sample):
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    stats = writer.stats
    await writer.stop()
    if stats.spooled or stats.written != len(sample):
        raise RuntimeError(f"benchmark run was not clean: {stats}")
    return len(sample) / elapsed


async def one_commit_per_event(store: Store, sample: list[ConsentEvent]) -> float:
    sealer = Sealer(KEY)
    started = time.perf_counter()
    for event in sample:
        await store.write(sealer.seal([event]))
    return len(sample) / (time.perf_counter() - started)


async def store_ceiling(store: Store, sample: list[ConsentEvent]) -> float:
    """Events/s of the same work done inline: seal 500, write 500, repeat (no queue, no task)."""
    sealer = Sealer(KEY)
    started = time.perf_counter()
    for start in range(0, len(sample), 500):
        await store.write(sealer.seal(sample[start : start + 500]))
    return len(sample) / (time.perf_counter() - started)


def raw_sqlite(work: Path, sample: list[ConsentEvent], *, indexes: bool) -> float:
    """Rows/s of bare executemany (presealed, 5000 per transaction, synchronous=FULL)."""
    rows = [stored_values(row) for row in Sealer(KEY).seal(sample)]
    conn = sqlite3.connect(work / f"raw-{indexes}-{uuid.uuid4().hex[:6]}.db", isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "wal_autocheckpoint = 10000"):
        conn.execute(f"PRAGMA {pragma}")
    for statement in _SCHEMA if indexes else _SCHEMA[:1]:
        conn.execute(statement)
    started = time.perf_counter()
    for start in range(0, len(rows), 5000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT if indexes else _INSERT.split(" ON CONFLICT")[0], rows[start : start + 5000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


async def sqlite_variants(work: Path, sample: list[ConsentEvent]) -> None:
    normal = []
    for attempt in range(2):
        store = SQLiteStore(work / f"normal-{attempt}.db", synchronous="NORMAL")
        await store.open()
        normal.append(await sustained(store, sample, work / f"spool-normal-{attempt}"))
        await store.close()
    raw = max(raw_sqlite(work, sample, indexes=True) for _ in range(2))
    bare = max(raw_sqlite(work, sample, indexes=False) for _ in range(2))
    print(
        f"sqlite      {max(normal):>10,.0f} events/s with synchronous=NORMAL "
        f"(runs: {', '.join(f'{r:,.0f}' for r in normal)})\n"
        f"sqlite raw  {raw:>10,.0f} rows/s executemany into the same schema (3 indexes); "
        f"{bare:,.0f} rows/s without indexes"
    )


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

    async def store(self) -> Store:
        store = open_store(self.url())
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


async def run_store(places: Places, sample: list[ConsentEvent], baseline: list[ConsentEvent]) -> None:
    rates = []
    for attempt in range(2):
        store = await places.store()
        rates.append(await sustained(store, sample, places.work / f"spool-{places.kind}-{attempt}"))
        await store.close()
    store = await places.store()
    ceiling = await store_ceiling(store, sample)
    await store.close()
    store = await places.store()
    single = await one_commit_per_event(store, baseline)
    await store.close()
    best = max(rates)
    print(
        f"{places.kind:<11} {best:>10,.0f} events/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}) = "
        f"{best / ceiling:.0%} of sealing and writing inline ({ceiling:,.0f}/s); "
        f"one commit per event {single:,.0f}/s: batching x{best / single:,.0f}"
    )


async def run_postgres(
    dsn: str, sample: list[ConsentEvent], baseline: list[ConsentEvent], work: Path
) -> None:
    try:
        import psycopg
    except ImportError:
        print("postgresql  skipped: psycopg is not installed")
        return
    places = Places("postgresql", work, dsn)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        print(f"postgresql  skipped: {str(exc).strip().splitlines()[0]}")
        return
    try:
        await run_store(places, sample, baseline)
    finally:
        places.clean()


def main() -> int:
    logging.getLogger("consentgate.audit").setLevel(logging.CRITICAL)  # "queue full" is expected here
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--pg", default=os.environ.get("CONSENTGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    sample = events(args.events)
    baseline = sample[:2000]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"consentgate audit benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}"
    )
    writer_ns, deque_ns = bench_enqueue(sample[:100_000])
    ratio = writer_ns / deque_ns
    print(f"enqueue     {writer_ns:>10.0f} ns/call   (deque.append alone: {deque_ns:.0f} ns; x{ratio:.1f})")
    keyed, plain = bench_seal(sample[:50_000], KEY), bench_seal(sample[:50_000], None)
    print(f"seal        {keyed:>10.2f} µs/event keyed (HMAC-SHA256), {plain:.2f} µs plain SHA-256")
    with tempfile.TemporaryDirectory(prefix="consentgate-bench-") as folder:
        work = Path(folder)
        asyncio.run(run_store(Places("sqlite", work), sample, baseline))
        asyncio.run(sqlite_variants(work, sample))
        asyncio.run(run_store(Places("jsonl", work), sample[: args.events // 4], baseline[:500]))
        asyncio.run(run_postgres(args.pg, sample, baseline, work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
