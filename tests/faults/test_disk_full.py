"""The store is down and the spool's disk is full: pages are still served, the audit writer
says so loudly (CRITICAL log, ``spool_errors``), choices are kept in memory up to the queue
bound and refused with 503 beyond it — never accepted and then lost. When the store is back,
every acknowledged choice is stored exactly once and nothing is left in the spool.

A full disk is a 64 KB tmpfs where the sandbox allows mounting one (root), else a file size
limit (RLIMIT_FSIZE) for the spool-level test, which needs no privilege."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consentgate.audit.spool import Spool
from consentgate.audit.stores.sqlite import SQLiteStore
from consentgate.audit.writer import AuditWriter
from consentgate.policy.load import load_dict
from tests.faults.kit import assert_logged_exactly
from tests.hostile.kit import CONSENT, SAME_ORIGIN, call, gate
from tests.load.harness import AUDIT_KEY

JSON_POST = [*SAME_ORIGIN, ("content-type", "application/json")]


@contextlib.contextmanager
def full_disk(directory: Path, *, mount: bool) -> Iterator[Callable[[], None]]:
    """``directory`` on a full disk: with ``mount``, a 64 KB tmpfs filled up (where mounting is
    allowed: root), else a file size limit for this process. Yields the call that frees space."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)],
            capture_output=True,
            check=False,
        )
        if mount
        else None
    )
    if mounted is not None and mounted.returncode == 0:
        filler = directory / "filler"
        filler.write_bytes(b"x" * (60 * 1024))
        try:
            yield lambda: filler.unlink(missing_ok=True)
        finally:
            subprocess.run(["umount", "-l", str(directory)], check=False)
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(file_size_limit(1024))
        yield stack.close


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes beyond ``limit`` bytes fail (EFBIG) in this process, like a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def rows(first: int, count: int) -> list[tuple[object, ...]]:
    from consentgate.audit.events import EVENT_FIELDS

    return [tuple(f"{name}-{i}" for name in EVENT_FIELDS) for i in range(first, first + count)]


def drain(spool: Spool) -> list[tuple[object, ...]]:
    """Everything waiting, oldest first (the EVENT_FIELDS values of each row)."""
    from consentgate.audit.events import EVENT_FIELDS

    found: list[tuple[object, ...]] = []
    while (chunk := spool.next_chunk(1000)) is not None:
        batch, done = chunk
        found += [tuple(row[: len(EVENT_FIELDS)]) for row in batch]
        done()
    return found


def test_a_batch_cut_short_by_a_full_disk_leaves_no_torn_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "chain-under-test")
    spool.add(rows(0, 10))
    size = spool.path.stat().st_size
    with file_size_limit(size + 700), pytest.raises(OSError):
        spool.add(rows(10, 10))  # part of the batch fits, the rest does not
    assert spool.held_rows == 10
    spool.add(rows(20, 10))  # room again: the held batch goes first, then this one
    text = spool.path.read_bytes()
    assert text.endswith(b"\n") and all(json.loads(line) for line in text.splitlines())
    assert drain(spool) == rows(0, 30)
    assert spool.empty
    spool.close()
    assert not spool.path.exists()


def test_a_torn_last_line_left_by_a_dead_writer_does_not_keep_the_spool_busy(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    dead = Spool(directory, "dead-writer")
    dead.add(rows(0, 5))
    with open(dead.path, "ab") as handle:
        handle.write(b'["torn-by-a-crash", "no newline')
    dead.close()  # the process died: its lock is gone, its file stays
    live = Spool(directory, "live-writer")
    assert live.claim_orphans() == 1
    assert drain(live) == rows(0, 5)
    assert live.empty  # the torn line can never be completed: the file is done
    live.close()
    assert not dead.path.exists()


class _Counting(logging.Handler):
    def __init__(self, level: int = logging.CRITICAL) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("disk", ["tmpfs", "rlimit"])
async def test_store_down_and_spool_disk_full_serves_pages_refuses_beyond_the_bound_and_loses_nothing(
    tmp_path: Path, disk: str
) -> None:
    database = tmp_path / "audit.db"
    spool_dir = tmp_path / "spool"
    store = SQLiteStore(database, busy_timeout=0.05)
    writer = AuditWriter(
        store, key=AUDIT_KEY, spool_path=spool_dir, batch_size=20, flush_interval=0.02, max_queue=200,
        retry_initial=0.05, retry_max=0.2,
    )  # fmt: skip
    app, _ = gate(load_dict({}), sink=writer)
    await writer.start()  # the database exists before the disk fills up
    critical = _Counting()
    logging.getLogger("consentgate.audit").addHandler(critical)
    warnings = _Counting(logging.WARNING)
    logging.getLogger("consentgate").addHandler(warnings)
    acknowledged: list[str] = []
    refused = pages = 0
    blocker = sqlite3.connect(database, isolation_level=None)
    try:
        with full_disk(spool_dir, mount=disk == "tmpfs") as free_space:
            blocker.execute("BEGIN EXCLUSIVE")
            for _ in range(8):  # rounds of 50 visitors choosing at once, and one page view
                replies = await asyncio.gather(
                    *(
                        call(app, CONSENT, method="POST", body=b'{"action": "accept_all"}', headers=JSON_POST)
                        for _ in range(50)
                    )
                )
                for reply in replies:
                    if reply.status == 200:
                        acknowledged.append(reply.json()["state"]["consentId"])
                    else:
                        assert reply.status == 503, reply.body
                        refused += 1
                page = await call(app, "/", headers=[("accept", "text/html")])
                pages += page.status == 200
            stats = writer.stats
            assert stats.spool_errors > 0 and refused > 0
            assert critical.messages and "cannot be written" in critical.messages[0]
            assert app.counters["consent_unrecorded"] == refused
            # Every 503 names its event id in the log, for an auditor to reconcile.
            unconfirmed = [m for m in warnings.messages if "not confirmed" in m]
            assert len(unconfirmed) == refused and len(set(unconfirmed)) == refused
            assert pages == 8  # pages never depended on the audit log
            # Nothing on disk, nothing confirmed: a choice is acknowledged only once it is durable.
            assert len(acknowledged) == stats.spooled
            # The bound: queued + held in memory <= max_queue, plus the batches in flight.
            assert stats.accepted - stats.spooled <= 200 + store.parallel_writes * 20
            assert stats.dropped_full > 0
            blocker.execute("ROLLBACK")
            free_space()
            for _ in range(200):
                if not writer.stats.backlog and writer.stats.queued == 0:
                    break
                await asyncio.sleep(0.05)
            assert not writer.stats.backlog, writer.stats
    finally:
        blocker.close()
        logging.getLogger("consentgate.audit").removeHandler(critical)
        logging.getLogger("consentgate").removeHandler(warnings)
        await writer.stop()
    # Choices answered 503 while held in memory are written when the store is back: "not
    # confirmed" is not "not recorded" (the endpoint's 503 says so; see SECURITY.md).
    await assert_logged_exactly(f"sqlite:///{database}", acknowledged, spool_dir, unconfirmed=refused)
