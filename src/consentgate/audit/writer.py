"""The audit writer: a bounded in-memory queue, a background task that seals and writes
batches, and a spool for when the store is down.

``enqueue`` is an O(1) append that never blocks and never awaits; it returns False when the
queue is full so the caller can refuse the consent change (503) rather than accept a choice it
cannot prove. An event ``enqueue`` accepted is written by ``stop()`` at the latest: to the store,
or else to the spool (replayed on the next start), or — only if the spool disk is also failing —
reported loudly as lost.

``enqueue_durable`` is the same append plus a future for callers that must not answer before
the event is on disk (the consent endpoint: "2xx means recorded"). While anyone waits, the
background task drains at once instead of sleeping the flush interval; requests that arrive
while a batch is being written share the next one (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from consentgate.audit.chain import Sealer, load_key
from consentgate.audit.events import EVENT_FIELDS, ConsentEvent
from consentgate.audit.spool import Spool
from consentgate.audit.stores import open_store
from consentgate.audit.stores.base import CookieRow, Row, Store, StoreError

logger = logging.getLogger("consentgate.audit")

_MAX_COOKIE_KEYS = 10_000  # distinct (name, domain) pairs buffered between flushes
_MAX_BATCH = 5000  # rows per transaction when the store falls behind (default max_batch)
_REPLAY_BUDGET = 0.5  # seconds of replay per loop turn, so new batches keep reaching the spool
# Start and stop replay for at most this long; the rest stays in order in the spool (on disk)
# for the background task or the next start, so a large backlog never stalls start-up or shutdown.
_EDGE_REPLAY_BUDGET = 3.0
_EVENT_ID = EVENT_FIELDS.index("event_id")  # position in a sealed Row


@dataclass(slots=True)
class _CookieCount:
    name: str
    domain: str
    classification: str
    service: str
    first_seen: int
    last_seen: int
    count: int

    def row(self) -> CookieRow:
        return CookieRow(
            self.name,
            self.domain,
            self.classification,
            self.service,
            self.first_seen,
            self.last_seen,
            self.count,
        )


@dataclass(frozen=True)
class WriterStats:
    """Counters since start. ``accepted`` = written + spooled-not-yet-replayed + queued."""

    accepted: int
    written: int  # rows stored directly
    spooled: int  # rows that went to the spool
    replayed: int  # spooled rows later stored (new rows only)
    dropped_full: int  # enqueue refused: queue full
    dropped_closed: int  # enqueue refused: writer stopped
    bots_skipped: int  # events from crawlers: counted, never logged
    store_errors: int
    spool_errors: int
    queued: int
    backlog: bool  # something waits in the spool (or in memory behind it)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class AuditWriter:
    """Batches consent events into a store; one hash chain per instance.

    >>> writer = AuditWriter("sqlite:///var/consent.db", key=audit_key)  # doctest: +SKIP
    >>> await writer.start()  # doctest: +SKIP
    >>> writer.enqueue(event)  # doctest: +SKIP
    True
    >>> await writer.stop()  # flushes everything accepted  # doctest: +SKIP

    ``spool_path`` is a directory (default: ``<db or file>.spool`` beside a SQLite/JSONL store,
    ``./consentgate-spool`` for PostgreSQL). Call ``enqueue`` from the event loop's thread.
    """

    def __init__(
        self,
        store: Store | str,
        *,
        key: bytes | str | None = None,
        spool_path: str | Path | None = None,
        batch_size: int = 500,
        max_batch: int | None = None,
        flush_interval: float = 0.2,
        max_queue: int = 100_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        max_batch = max(batch_size, _MAX_BATCH) if max_batch is None else max_batch
        if max_batch < batch_size:
            raise ValueError(f"max_batch ({max_batch}) must be at least batch_size ({batch_size})")
        if max_queue < batch_size:
            raise ValueError(f"max_queue ({max_queue}) must be at least batch_size ({batch_size})")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        self._owns_store = isinstance(store, str)
        self.store: Store = open_store(store) if isinstance(store, str) else store
        self._key = load_key(key)
        self._sealer = Sealer(self._key)
        self.chain_id = self._sealer.chain_id
        self.spool = Spool(
            _default_spool_dir(self.store) if spool_path is None else spool_path, self.chain_id
        )
        self.batch_size = batch_size
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._retry_delay = retry_initial
        self._retry_at = 0.0
        self._side_retry_at = 0.0  # notices and cookies: not before (after a failure)
        self._side_task: asyncio.Task[None] | None = None
        self._queue: deque[ConsentEvent] = deque()
        self._waiters: dict[str, asyncio.Future[bool]] = {}  # event_id -> enqueue_durable's future
        self._capacity = max_queue  # max_queue minus rows held in memory behind a failed spool
        self._closed = False
        self._store_open = False
        self._spool_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._start_lock: asyncio.Lock | None = None
        self._open_lock: asyncio.Lock | None = None
        self._notices: dict[str, Mapping[str, object]] = {}
        self._notices_known: set[str] = set()
        self._notices_kept: set[str] = set()  # also on disk beside the spool (store failing)
        self._cookies: dict[tuple[str, str], _CookieCount] = {}
        self._last_drop_log = 0.0
        self._drops_since_log = 0
        self._last_orphan_scan = 0.0
        self._accepted = self._written = self._spooled = self._replayed = 0
        self._dropped_full = self._dropped_closed = self._bots = 0
        self._store_errors = self._spool_errors = 0

    # --- the hot path ----------------------------------------------------------------------

    def enqueue(self, event: ConsentEvent) -> bool:
        """Queue one event; O(1), never blocks. False: refused (queue full or stopped)."""
        if event.ua_device == "bot":
            self._bots += 1  # crawlers give no consent: counted, not logged
            return True
        queue = self._queue
        if len(queue) >= self._capacity or self._closed:
            return self._refuse()
        queue.append(event)
        self._accepted += 1
        if len(queue) == self.batch_size:
            self._wake_soon()
        return True

    def enqueue_durable(self, event: ConsentEvent) -> asyncio.Future[bool]:
        """Queue one event like ``enqueue``; the future says when it is safe to confirm it.

        True once the event's batch is committed to the store or fsync'd to the spool (or at
        once for a crawler, whose events are never logged); False when the queue refused it or
        when neither the store nor the spool could take it. Bound the wait yourself:

        >>> if not await asyncio.wait_for(writer.enqueue_durable(event), 5.0):  # doctest: +SKIP
        ...     refuse()
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        accepted = self.enqueue(event)
        if not accepted or event.ua_device == "bot":
            future.set_result(accepted)
            return future
        # (An event enqueued twice shares the first waiter: its first delivery settles both.)
        future = self._waiters.setdefault(event.event_id, future)
        self._wake_soon()
        return future

    def skip_bot(self) -> None:
        """Count an event not built because the visitor is a crawler."""
        self._bots += 1

    def _refuse(self) -> bool:
        if self._closed:
            self._dropped_closed += 1
            return False
        self._dropped_full += 1
        self._drops_since_log += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 10.0:  # at most one line per 10 s, however many refusals
            logger.error(
                "audit queue full (%d events): %d consent events refused since the last report; "
                "the store is too slow or down",
                self.max_queue,
                self._drops_since_log,
            )
            self._last_drop_log, self._drops_since_log = now, 0
        return False

    def _wake_soon(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # --- side channels: notices and cookies ------------------------------------------------

    def put_notice(self, notice_hash: str, doc: Mapping[str, object]) -> None:
        """Archive a notice version (once per hash); written by the background task."""
        if notice_hash and notice_hash not in self._notices_known:
            self._notices_known.add(notice_hash)
            self._notices[notice_hash] = doc

    def observe_cookie(self, name: str, domain: str, classification: str, service: str = "") -> None:
        """Count a cookie seen in a response (name and domain only, never a value)."""
        key = (name, domain)
        entry = self._cookies.get(key)
        now = int(time.time() * 1000)
        if entry is not None:
            entry.classification, entry.service, entry.last_seen = classification, service, now
            entry.count += 1
        elif len(self._cookies) < _MAX_COOKIE_KEYS:
            self._cookies[key] = _CookieCount(name, domain, classification, service, now, now, 1)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Open the store, replay any spool left behind, start the background task.
        Idempotent; safe to call from concurrent first requests."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.running:
                return
            self._closed = False
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._wake = asyncio.Event()
            if self._waiters:  # waits began before start: don't make them sit out an interval
                self._wake.set()
            self._spool_lock = asyncio.Lock()
            if self._key is None:
                logger.warning(
                    "audit chain is unkeyed (plain SHA-256): it shows accidental damage but not an "
                    "insider who rewrites records; set an audit key to make it tamper-evident"
                )
            try:
                await self._ensure_open()
            except StoreError:
                raise
            except Exception as exc:  # the database may come up later: spool until then
                self._store_errors += 1
                logger.error("audit store %s unavailable at start (%s); spooling", self.store.url, exc)
            self.spool.claim_orphans()
            # Notices a writer stopped (or died) with, the store down: archived like new ones.
            claimed = self.spool.claim_notices()
            self._notices_known.update(claimed)
            self._notices_kept.update(claimed)
            self._notices.update(claimed)
            self._last_orphan_scan = time.monotonic()
            if not self.spool.empty:
                await self._replay(deadline=time.monotonic() + _EDGE_REPLAY_BUDGET)
            self._task = asyncio.create_task(self._run(self._wake), name="consentgate-audit-writer")

    async def stop(self) -> None:
        """Write every accepted event (store, else spool), then release the store."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            if self._wake is not None:
                self._wake.set()
            await task
        elif self._queue:  # never started: write what was queued anyway
            await self._flush_queue()
            await self._flush_side_channels()
        if self._notices:
            await self._keep_notices()  # for the next start: its events may wait in the spool
        if not self.spool.empty:
            logger.error(
                "audit store %s unavailable at shutdown: events wait in %s for the next start",
                self.store.url,
                self.spool.directory,
            )
        if self.spool.held_rows:
            logger.critical(
                "audit: %d accepted consent events could be written neither to the store nor to the "
                "spool and are lost at shutdown",
                self.spool.held_rows,
            )
        # Every accepted event went through _deliver above; anything left was lost to an
        # unexpected error, and its waiter must hear so rather than hang.
        self._settle(list(self._waiters), durable=False)
        self.spool.close()
        if self._owns_store and self._store_open:
            self._store_open = False
            await self.store.close()

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            accepted=self._accepted,
            written=self._written,
            spooled=self._spooled,
            replayed=self._replayed,
            dropped_full=self._dropped_full,
            dropped_closed=self._dropped_closed,
            bots_skipped=self._bots,
            store_errors=self._store_errors,
            spool_errors=self._spool_errors,
            queued=len(self._queue),
            backlog=not self.spool.empty,
        )

    # --- the background task ---------------------------------------------------------------

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            stopping = self._closed
            if not stopping and len(self._queue) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.flush_interval)
                wake.clear()
            try:
                await self._flush_queue()
                if self._notices and not self.spool.empty:
                    await self._keep_notices()  # the store is failing: events and notices wait
                self._start_side_channels()
                if not self.spool.empty and (stopping or time.monotonic() >= self._retry_at):
                    budget = _EDGE_REPLAY_BUDGET if stopping else _REPLAY_BUDGET
                    await self._replay(deadline=time.monotonic() + budget)
                if time.monotonic() - self._last_orphan_scan > 60.0:
                    self._last_orphan_scan = time.monotonic()
                    self.spool.claim_orphans()
            except Exception:  # never let the writer die: the next turn retries
                logger.exception("audit writer: unexpected error; retrying")
                await asyncio.sleep(self.flush_interval)
            if stopping and not self._queue:
                if self._side_task is not None:
                    await self._side_task
                if self._side_channels_due():  # what came in while the last flush ran
                    await self._side_channels()
                return

    def _side_channels_due(self) -> bool:
        # Notices and cookies wait while the store is failing: each try could take the store's
        # whole connect timeout (PostgreSQL: 2 s) for nothing.
        return bool(self._notices or self._cookies) and (
            self.spool.empty and time.monotonic() >= max(self._retry_at, self._side_retry_at)
        )

    def _start_side_channels(self) -> None:
        """Write notices and cookies beside the event batches, never in front of them: a slow or
        failing write there must not hold consent events (and their durable waits) back."""
        if (self._side_task is None or self._side_task.done()) and self._side_channels_due():
            self._side_task = asyncio.create_task(self._side_channels(), name="consentgate-audit-side")

    async def _side_channels(self) -> None:
        try:
            await self._flush_side_channels()
        except Exception:  # never raised into the writer; the next turn tries again
            logger.exception("audit writer: unexpected error writing notices and cookies")

    async def _flush_queue(self) -> None:
        """Seal and deliver everything queued; sealing the next batch overlaps writing this one
        (and PostgreSQL takes two batches at once on two connections)."""
        queue, size = self._queue, self.batch_size
        parallel = max(1, self.store.parallel_writes)
        # A store may write batches up to some size in one piece (SQLite: one INSERT statement).
        largest = max(size, min(self.max_batch, getattr(self.store, "rows_per_write", self.max_batch)))
        in_flight: deque[asyncio.Future[None]] = deque()
        try:
            while queue:
                rows = self._sealer.seal([queue.popleft() for _ in range(min(size, len(queue)))])
                # While the store is still busy with earlier batches, grow this one (up to
                # max_batch): a store that falls behind gets fewer, larger transactions, and
                # one that keeps up still gets batch_size rows at a time (short latency).
                while queue and len(rows) < largest and len(in_flight) >= parallel:
                    if in_flight[0].done():
                        break
                    await asyncio.sleep(0)  # requests run between sealed chunks
                    more = min(size, len(queue), largest - len(rows))
                    rows.extend(self._sealer.seal([queue.popleft() for _ in range(more)]))
                while len(in_flight) >= parallel:
                    await in_flight.popleft()
                in_flight.append(asyncio.ensure_future(self._deliver(rows)))
        finally:
            while in_flight:
                await in_flight.popleft()

    async def _ensure_open(self) -> None:
        # A store that was down at start is opened on the first write that finds it back (event
        # batches and notices may both get there first: one opens it).
        if self._store_open:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._store_open:
                await self.store.open()
                self._store_open = True

    async def _deliver(self, rows: list[Row]) -> None:
        if self.spool.empty:
            try:
                await self._ensure_open()
                stored = await self.store.write(rows)  # (not `+= await`: lost updates in parallel)
                self._written += stored
                self._settle_rows(rows, durable=True)
                return
            except Exception as exc:
                self._store_errors += 1
                self._schedule_retry(failed=True)
                logger.error(
                    "audit store %s failed (%s: %s); spooling to %s",
                    self.store.url,
                    type(exc).__name__,
                    exc,
                    self.spool.directory,
                )
        self._settle_rows(rows, durable=await self._to_spool(rows))

    def _settle_rows(self, rows: list[Row], *, durable: bool) -> None:
        if self._waiters:  # (costs nothing while nobody waits)
            self._settle([str(row[_EVENT_ID]) for row in rows], durable=durable)

    def _settle(self, event_ids: list[str], *, durable: bool) -> None:
        for event_id in event_ids:
            waiter = self._waiters.pop(event_id, None)
            if waiter is not None and not waiter.done():  # done: the caller gave up waiting
                waiter.set_result(durable)

    async def _to_spool(self, rows: list[Row]) -> bool:
        # In a thread (an fsync must not stall requests), one batch at a time (two deliveries
        # may fail together) so lines never interleave.
        async with self._spool_lock:
            try:
                await asyncio.to_thread(self.spool.add, rows)
            except OSError as exc:
                self._spool_failed(exc)
                durable = False  # held in memory only: a SIGKILL now would lose it
            else:
                self._spooled += len(rows)
                durable = True
        # Queue plus held rows never exceed max_queue: with the store and the spool both down,
        # new choices are refused (503) instead of growing memory without bound.
        self._capacity = max(0, self.max_queue - self.spool.held_rows)
        return durable

    def _spool_failed(self, exc: OSError) -> None:
        self._spool_errors += 1
        logger.critical(
            "audit spool %s cannot be written (%s): %d events held in memory until the store "
            "or the spool works again",
            self.spool.directory,
            exc,
            self.spool.held_rows,
        )

    def _schedule_retry(self, *, failed: bool) -> None:
        if failed:
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, self._retry_max)
        else:
            self._retry_at = 0.0
            self._retry_delay = self._retry_initial

    async def _replay(self, deadline: float) -> None:
        """Move the backlog into the store, oldest first, until done, failed or out of time."""
        while (chunk := self.spool.next_chunk(self.batch_size)) is not None:
            rows, done = chunk
            try:
                await self._ensure_open()
                stored = await self.store.write(rows, replay=True) if rows else 0
                self._replayed += stored
            except Exception as exc:
                self._store_errors += 1
                self._schedule_retry(failed=True)
                logger.warning("audit store %s still unavailable (%s); next retry later", self.store.url, exc)
                return
            done()
            self._capacity = max(0, self.max_queue - self.spool.held_rows)
            if time.monotonic() >= deadline:
                return
        self._schedule_retry(failed=False)
        logger.info("audit spool replayed into %s", self.store.url)

    async def _keep_notices(self) -> None:
        """Put the notices not archived yet on disk beside the spool, so that neither a stop
        nor a crash while the store is down loses the text a spooled event refers to."""
        async with self._spool_lock:
            pending = {h: doc for h, doc in self._notices.items() if h not in self._notices_kept}
            if not pending:
                return
            try:
                await asyncio.to_thread(self.spool.keep_notices, pending)
            except OSError as exc:
                logger.critical("audit notices cannot be kept in %s (%s)", self.spool.directory, exc)
                return
            self._notices_kept.update(pending)

    async def _flush_side_channels(self) -> None:
        if self._notices:
            notices, self._notices = self._notices, {}
            now = int(time.time() * 1000)
            for notice_hash, doc in list(notices.items()):
                try:
                    await self._ensure_open()
                    await self.store.put_notice(notice_hash, doc, now)
                except Exception as exc:
                    # Kept, with the rest, for a later turn (and on disk for the next start).
                    self._notices.update(notices)
                    self._side_retry_at = time.monotonic() + self._retry_delay
                    logger.warning("audit notice %s not archived yet: %s", notice_hash, exc)
                    await self._keep_notices()
                    return
                del notices[notice_hash]
            if self._notices_kept:
                async with self._spool_lock:
                    if not self._notices:  # (nothing came in, or was kept, meanwhile)
                        self.spool.notices_archived()
                        self._notices_kept.clear()
        if self._cookies:
            cookies, self._cookies = self._cookies, {}
            rows = [count.row() for count in cookies.values()]
            try:
                await self._ensure_open()
                await self.store.record_cookies(rows)
            except Exception as exc:
                self._side_retry_at = time.monotonic() + self._retry_delay
                logger.warning("audit cookie inventory not updated (%s); %d names dropped", exc, len(rows))


def _default_spool_dir(store: Store) -> Path:
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        return path.with_name(path.name + ".spool")
    return Path(os.environ.get("CONSENTGATE_SPOOL_DIR", "consentgate-spool")).resolve()
