"""JSON Lines audit store: one append-only file, one event per line, fsync per batch.

For small sites and for people who want to read their log with ``jq``. Beside the events file:
``<file>.notices.jsonl`` (notice archive), ``<file>.cookies.json`` (cookie inventory, rewritten
atomically) and ``<file>.checkpoints.jsonl`` (purge checkpoints). Writers from several processes
serialise on an ``flock`` of ``<file>.lock``. Reads that need an order other than the file's
(time order, one chain by seq) keep one small key per matching line in memory, so the SQL stores
are the ones for large logs.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from consentgate.audit.chain import encode_map
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.stores.base import (
    MAP_FIELDS,
    ChainHead,
    Checkpoint,
    CookieRow,
    PurgePlan,
    PurgeRule,
    Query,
    Record,
    Row,
    StoredNotice,
    StoreError,
    StoreKind,
    create_private,
    parse_map,
)

logger = logging.getLogger("consentgate.audit")
_T = TypeVar("_T")
_CHAIN_ID = EVENT_FIELDS.index("chain_id")
_SEQ = EVENT_FIELDS.index("seq")


def _line(row: Row) -> str:
    record: dict[str, object] = {}
    for name, value in zip(EVENT_FIELDS, row[: len(EVENT_FIELDS)], strict=True):
        record[name] = parse_map(value) if name in MAP_FIELDS else value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlStore:
    """``jsonl:///relative/events.jsonl`` or ``jsonl:////absolute/events.jsonl``."""

    # One appender, so the file keeps each chain in seq order.
    parallel_writes = 1
    kind: StoreKind = "jsonl"

    def __init__(self, path: str | Path, *, lock_timeout: float = 2.0) -> None:
        self.path = Path(path)
        self.url = f"jsonl:///{self.path}"
        self.lock_timeout = lock_timeout
        self._notices = self.path.with_name(self.path.name + ".notices.jsonl")
        self._cookies = self.path.with_name(self.path.name + ".cookies.json")
        self._checkpoints = self.path.with_name(self.path.name + ".checkpoints.jsonl")
        self._lockfile = self.path.with_name(self.path.name + ".lock")
        self._executor: ThreadPoolExecutor | None = None
        self.skipped_lines = 0  # distinct lines that are not JSON objects (each logged once)
        self._reported: set[int] = set()

    def files(self) -> tuple[Path, ...]:
        """Every file this log lives in: what nothing else may ever write to."""
        return (self.path, self._notices, self._cookies, self._checkpoints, self._lockfile)

    async def _run(self, func: Callable[..., _T], *args: object) -> _T:
        if self._executor is None:
            raise StoreError(f"{self.url}: store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across processes; gives up after lock_timeout (the batch is spooled)."""
        with open(self._lockfile, "a+b") as handle:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"{self._lockfile} is locked by another process") from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    async def open(self) -> None:
        if self._executor is not None:
            return
        create_private(self.path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consentgate-jsonl")

    async def migrate(self) -> list[str]:
        existed = self.path.exists()
        await self.open()
        return [] if existed else [f"created {self.path}"]

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    # --- events ----------------------------------------------------------------------------

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        return await self._run(self._write_sync, rows, replay)

    def _write_sync(self, rows: Sequence[Row], replay: bool) -> int:
        with self._locked():
            if replay:
                stored = self._stored_keys({str(row[_CHAIN_ID]) for row in rows})
                rows = [row for row in rows if (row[_CHAIN_ID], row[_SEQ]) not in stored]
            if not rows:
                return 0
            payload = "".join(_line(row) + "\n" for row in rows).encode()
            with open(self.path, "a+b") as handle:
                # A crash mid-append leaves a torn last line: start a fresh line after it.
                if handle.seek(0, os.SEEK_END) > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        payload = b"\n" + payload
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        return len(rows)

    def _stored_keys(self, chain_ids: set[str]) -> set[tuple[object, object]]:
        # Every line is parsed: a substring pre-filter would depend on how the file is formatted.
        keys: set[tuple[object, object]] = set()
        for _, line in self._lines(self.path):
            record = self._parse(line)
            if record is not None and record.get("chain_id") in chain_ids:
                keys.add((record.get("chain_id"), record.get("seq")))
        return keys

    def _lines(self, path: Path) -> Iterator[tuple[int, str]]:
        """(offset, line) of each complete line."""
        if not path.exists():
            return
        with open(path, "rb") as handle:
            offset = 0
            for raw in handle:
                if raw.endswith(b"\n"):
                    yield offset, raw.decode("utf-8", "replace")
                offset += len(raw)

    def _parse(self, line: str) -> Record | None:
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            # Every read parses the file again: say it once per line, not once per read.
            if line.strip() and hash(line) not in self._reported and len(self._reported) < 10_000:
                self._reported.add(hash(line))
                self.skipped_lines += 1
                logger.warning("%s: skipped a line that is not a JSON object", self.path)
            return None
        return value

    def _unreadable_lines(self, limit: int) -> list[int]:
        numbers: list[int] = []
        for number, (_, line) in enumerate(self._lines(self.path), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                numbers.append(number)
                if len(numbers) >= limit:
                    break
        return numbers

    async def unreadable_lines(self, limit: int = 100) -> list[int]:
        """Line numbers (from 1) of complete lines of the events file that are not records. A
        write cut short (a full disk, a crash) leaves one, and its batch is written again after
        it; any other is damage, and its record shows as missing from its chain."""
        return await self._run(self._unreadable_lines, limit)

    def _read_at(self, offsets: Sequence[int]) -> list[Record]:
        records = []
        with open(self.path, "rb") as handle:
            for offset in offsets:
                handle.seek(offset)
                record = self._parse(handle.readline().decode("utf-8", "replace"))
                if record is not None:
                    records.append(record)
        return records

    def _select(self, query: Query) -> list[int]:
        keys: list[tuple[object, object, int]] = []
        wanted = set(query.actions)
        for offset, line in self._lines(self.path):
            record = self._parse(line)
            if record is None:
                continue
            ts = record.get("ts")
            if not isinstance(ts, int):
                continue
            if query.since is not None and ts < query.since:
                continue
            if query.until is not None and ts >= query.until:
                continue
            if query.consent_id is not None and record.get("consent_id") != query.consent_id:
                continue
            if wanted and record.get("action") not in wanted:
                continue
            keys.append((ts, str(record.get("event_id")), offset))
        keys.sort(reverse=query.newest_first)
        if query.limit is not None:
            keys = keys[: query.limit]
        return [offset for _, _, offset in keys]

    async def _stream(self, offsets: list[int], raw_maps: bool) -> AsyncGenerator[Record, None]:
        for start in range(0, len(offsets), 1000):
            for record in await self._run(self._read_at, offsets[start : start + 1000]):
                for name in MAP_FIELDS:
                    value = record.get(name)
                    if raw_maps:
                        record[name] = value if isinstance(value, str) else encode_map(value)
                    else:
                        record[name] = parse_map(value)
                yield record

    async def read(self, query: Query) -> AsyncGenerator[Record, None]:
        offsets = await self._run(self._select, query)
        async for record in self._stream(offsets, raw_maps=False):
            yield record

    def _chain_offsets(self, chain_id: str, after_seq: int) -> list[int]:
        keys: list[tuple[int, int]] = []
        for offset, line in self._lines(self.path):
            record = self._parse(line)
            if record is None or record.get("chain_id") != chain_id:
                continue
            seq = record.get("seq")
            if isinstance(seq, int) and seq > after_seq:
                keys.append((seq, offset))
        keys.sort()
        return [offset for _, offset in keys]

    async def read_chain(self, chain_id: str, after_seq: int = 0) -> AsyncGenerator[Record, None]:
        offsets = await self._run(self._chain_offsets, chain_id, after_seq)
        async for record in self._stream(offsets, raw_maps=True):
            yield record

    def _heads(self) -> list[ChainHead]:
        chains: dict[str, list[object]] = {}
        for _, line in self._lines(self.path):
            record = self._parse(line)
            if record is None:
                continue
            chain_id, seq, ts = record.get("chain_id"), record.get("seq"), record.get("ts")
            if not (isinstance(chain_id, str) and isinstance(seq, int) and isinstance(ts, int)):
                continue
            head = chains.get(chain_id)
            if head is None:
                chains[chain_id] = [seq, seq, str(record.get("hash")), ts, ts]
                continue
            first_seq, last_seq = head[0], head[1]
            if isinstance(first_seq, int) and seq < first_seq:
                head[0], head[3] = seq, ts
            if isinstance(last_seq, int) and seq > last_seq:
                head[1], head[2], head[4] = seq, str(record.get("hash")), ts
        return [
            ChainHead(chain_id, int(str(h[0])), int(str(h[1])), str(h[2]), int(str(h[3])), int(str(h[4])))
            for chain_id, h in sorted(chains.items())
        ]

    async def chain_heads(self) -> list[ChainHead]:
        return await self._run(self._heads)

    # --- notices, cookies, checkpoints -----------------------------------------------------

    def _append(self, path: Path, lines: Sequence[str]) -> None:
        # One open call creates a missing file owner-only (O_CREAT's mode): no extra system
        # calls on every write to make it private.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as handle:
            handle.write("".join(line + "\n" for line in lines).encode())
            handle.flush()
            os.fsync(handle.fileno())

    def _notice_map(self) -> dict[str, StoredNotice]:
        notices: dict[str, StoredNotice] = {}
        for _, line in self._lines(self._notices):
            record = self._parse(line)
            if record is None:
                continue
            notice_hash, first_seen, doc = (
                record.get("notice_hash"),
                record.get("first_seen"),
                record.get("doc"),
            )
            if isinstance(notice_hash, str) and isinstance(first_seen, int) and isinstance(doc, dict):
                notices.setdefault(notice_hash, StoredNotice(notice_hash, first_seen, doc))
        return notices

    def _put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        with self._locked():
            if notice_hash in self._notice_map():
                return False
            line = json.dumps(
                {"notice_hash": notice_hash, "first_seen": first_seen, "doc": doc},
                sort_keys=True,
                ensure_ascii=False,
                separators=(",", ":"),
            )
            self._append(self._notices, [line])
            return True

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        return await self._run(self._put_notice, notice_hash, doc, first_seen)

    async def get_notice(self, notice_hash: str) -> StoredNotice | None:
        return (await self._run(self._notice_map)).get(notice_hash)

    def _cookie_map(self) -> dict[tuple[str, str], CookieRow]:
        if not self._cookies.exists():
            return {}
        try:
            data = json.loads(self._cookies.read_text("utf-8"))
        except ValueError:
            logger.warning("%s is not valid JSON; starting a new cookie inventory", self._cookies)
            return {}
        cookies = {}
        for item in data if isinstance(data, list) else []:
            try:
                row = CookieRow(**item)
            except TypeError:
                continue
            cookies[(row.name, row.domain)] = row
        return cookies

    def _record_cookies(self, rows: Sequence[CookieRow]) -> None:
        with self._locked():
            cookies = self._cookie_map()
            for row in rows:
                old = cookies.get((row.name, row.domain))
                if old is not None:
                    row = CookieRow(
                        row.name,
                        row.domain,
                        row.classification,
                        row.service,
                        min(old.first_seen, row.first_seen),
                        max(old.last_seen, row.last_seen),
                        old.count + row.count,
                    )
                cookies[(row.name, row.domain)] = row
            temporary = self._cookies.with_name(self._cookies.name + ".tmp")
            temporary.write_text(json.dumps([c.to_dict() for c in cookies.values()], indent=1), "utf-8")
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self._cookies)
            _fsync_dir(self._cookies.parent)

    async def record_cookies(self, rows: Sequence[CookieRow]) -> None:
        await self._run(self._record_cookies, rows)

    async def list_cookies(self) -> list[CookieRow]:
        cookies = await self._run(self._cookie_map)
        return sorted(cookies.values(), key=lambda c: (c.classification, c.name, c.domain))

    def _checkpoint_map(self) -> dict[str, Checkpoint]:
        checkpoints: dict[str, Checkpoint] = {}
        for _, line in self._lines(self._checkpoints):
            record = self._parse(line)
            if record is None:
                continue
            try:
                checkpoint = Checkpoint(**record)  # type: ignore[arg-type]
            except TypeError:
                continue
            old = checkpoints.get(checkpoint.chain_id)
            if old is None or checkpoint.seq > old.seq:
                checkpoints[checkpoint.chain_id] = checkpoint
        return checkpoints

    async def checkpoints(self) -> dict[str, Checkpoint]:
        return await self._run(self._checkpoint_map)

    def _plan(self, rule: PurgeRule) -> list[PurgePlan]:
        checkpoints = self._checkpoint_map()
        consent_last: dict[str, int] = {}
        records: list[tuple[str, int, int, str, str]] = []
        for _, line in self._lines(self.path):
            record = self._parse(line)
            if record is None:
                continue
            chain_id, seq, ts = record.get("chain_id"), record.get("seq"), record.get("ts")
            consent_id, region = str(record.get("consent_id")), str(record.get("region"))
            if not (isinstance(chain_id, str) and isinstance(seq, int) and isinstance(ts, int)):
                continue
            consent_last[consent_id] = max(ts, consent_last.get(consent_id, ts))
            checkpoint = checkpoints.get(chain_id)
            if checkpoint is None or seq > checkpoint.seq:
                records.append((chain_id, seq, ts, consent_id, region))
        first_kept: dict[str, int] = {}
        extent: dict[str, tuple[int, int]] = {}
        for chain_id, seq, ts, consent_id, region in records:
            low, high = extent.get(chain_id, (seq, seq))
            extent[chain_id] = (min(low, seq), max(high, seq))
            if not rule.deletable(ts, region, consent_last[consent_id]):
                first_kept[chain_id] = min(seq, first_kept.get(chain_id, seq))
        plans = []
        for chain_id, (low, high) in sorted(extent.items()):
            upto = first_kept[chain_id] - 1 if chain_id in first_kept else high
            if upto >= low:
                plans.append(PurgePlan(chain_id, upto))
        return plans

    async def plan_purge(self, rule: PurgeRule) -> list[PurgePlan]:
        return await self._run(self._plan, rule)

    def _purge(self, checkpoint: Checkpoint) -> int:
        with self._locked():
            # Checkpoint first: a crash before the rewrite leaves records the checkpoint
            # already covers (verify skips them, the next purge removes them), never a gap.
            self._append(self._checkpoints, [json.dumps(checkpoint.to_dict(), separators=(",", ":"))])
            temporary = self.path.with_name(self.path.name + ".purge.tmp")
            deleted = 0
            # The rewritten log keeps the log's own mode (owner-only when we created it).
            mode = stat.S_IMODE(self.path.stat().st_mode)
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
                os.fchmod(out.fileno(), mode)  # (O_CREAT's mode passes through the umask)
                for _, line in self._lines(self.path):
                    record = self._parse(line)
                    seq = None if record is None else record.get("seq")
                    if (
                        record is not None
                        and record.get("chain_id") == checkpoint.chain_id
                        and isinstance(seq, int)
                        and seq <= checkpoint.seq
                    ):
                        deleted += 1
                        continue
                    out.write(line.encode())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
            _fsync_dir(self.path.parent)
        return deleted

    async def purge(self, checkpoint: Checkpoint) -> int:
        return await self._run(self._purge, checkpoint)
