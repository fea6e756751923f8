"""Audit writer benchmark: the cost of ``enqueue`` and sustained events/s into each store.

    .venv/bin/python bench/audit.py [--events 200000] [--pg postgresql://postgres@127.0.0.1/test]

What is measured:
- ``enqueue``: ns per call on prebuilt events (the only cost a request pays), against a bare
  ``deque.append`` in the same run;
- sealing: µs per event to assign chain fields and HMAC (done by the background task);
- sustained throughput: events/s from the first ``enqueue`` until the store has them all, with
  the writer's defaults (batch 500, keyed chain), against one commit per event in the same run.
Events are built before timing: building a ``ConsentEvent`` is the caller's cost, not the log's.
PostgreSQL runs in a throw-away schema; without a server it is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path

from consentgate.audit.chain import Sealer
from consentgate.audit.events import ConsentEvent
from consentgate.audit.stores import Store, open_store
from consentgate.audit.writer import AuditWriter

KEY = b"benchmark-audit-key-0123456789abcdef"
CATEGORIES = ({"necessary": True, "analytics": True, "marketing": True}, {"necessary": True, "analytics": False})


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


async def run_store(url: str, sample: list[ConsentEvent], baseline: list[ConsentEvent], work: Path) -> None:
    kind = url.split(":", 1)[0]
    rates = []
    for attempt in range(2):
        store = open_store(url)
        if kind.startswith("postgres"):
            await store.migrate()
        rates.append(await sustained(store, sample, work / f"spool-{kind}-{attempt}"))
    store = open_store(url)
    await store.open()
    single = await one_commit_per_event(store, baseline)
    await store.close()
    best = max(rates)
    print(
        f"{kind:<11} {best:>10,.0f} events/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})   "
        f"one commit per event: {single:>7,.0f}/s   batching x{best / single:,.0f}"
    )


async def run_postgres(dsn: str, sample: list[ConsentEvent], baseline: list[ConsentEvent], work: Path) -> None:
    try:
        import psycopg
    except ImportError:
        print("postgresql  skipped: psycopg is not installed")
        return
    schema = f"cg_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    except psycopg.OperationalError as exc:
        print(f"postgresql  skipped: {str(exc).strip().splitlines()[0]}")
        return
    try:
        separator = "&" if "?" in dsn else "?"
        await run_store(f"{dsn}{separator}options=-csearch_path%3D{schema}", sample, baseline, work)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--pg", default=os.environ.get("CONSENTGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    sample = events(args.events)
    baseline = sample[:2000]
    print(f"consentgate audit benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    writer_ns, deque_ns = bench_enqueue(sample[:100_000])
    print(f"enqueue     {writer_ns:>10.0f} ns/call   (deque.append alone: {deque_ns:.0f} ns; x{writer_ns / deque_ns:.1f})")
    keyed, plain = bench_seal(sample[:50_000], KEY), bench_seal(sample[:50_000], None)
    print(f"seal        {keyed:>10.2f} µs/event keyed (HMAC-SHA256), {plain:.2f} µs plain SHA-256")
    with tempfile.TemporaryDirectory(prefix="consentgate-bench-") as folder:
        work = Path(folder)
        asyncio.run(run_store(f"sqlite:///{work}/bench.db", sample, baseline, work))
        asyncio.run(run_store(f"jsonl:///{work}/bench.jsonl", sample[: args.events // 4], baseline[:500], work))
        asyncio.run(run_postgres(args.pg, sample, baseline, work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
