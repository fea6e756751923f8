"""Where sealed batches wait while the store is unavailable.

One directory, one append-only file per writer instance (``spool-<chain_id>.jsonl``, one sealed
row per line as a JSON array of its ``EVENT_FIELDS`` values, fsync'd per batch), held under an
``flock`` while its writer lives. A file nobody holds belongs to a writer that died (SIGKILL,
OOM): the next writer to start claims it and replays it before anything newer. Replays are
idempotent in the stores, so a batch that was half-acknowledged before a crash is never stored
twice.

Order is kept end to end: claimed files, then this writer's file, then batches held in memory
when even the spool could not be written (disk full). New batches always join at the end.

Notices the store could not archive yet wait beside the batches (``notices-<chain_id>.jsonl``,
one ``[notice_hash, doc]`` per line, fsync'd, held under an ``flock`` the same way): events that
outlive a restart in the spool must still resolve to the text the visitor was shown (CG-42),
even when the next release shows a different notice and never offers the old one again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from consentgate.audit.chain import canonical_json, with_record
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.stores.base import Row

logger = logging.getLogger("consentgate.audit")

_PREFIX, _SUFFIX = "spool-", ".jsonl"
_NOTICES_PREFIX = "notices-"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _try_lock(handle: BinaryIO) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _SpoolFile:
    """One spool file being replayed from ``offset``."""

    def __init__(self, path: Path, handle: BinaryIO, *, orphan: bool) -> None:
        self.path = path
        self.handle = handle
        self.orphan = orphan
        self.offset = 0

    def read(self, max_rows: int) -> tuple[list[Row], int]:
        """Up to ``max_rows`` complete lines from ``offset``; the offset after them."""
        rows: list[Row] = []
        self.handle.seek(self.offset)
        offset = self.offset
        while len(rows) < max_rows:
            line = self.handle.readline()
            if not line.endswith(b"\n"):
                break  # end, or a line torn by a crash: never acknowledged, never replayed
            offset += len(line)
            try:
                values = json.loads(line)
            except ValueError:
                values = None
            if not isinstance(values, list) or len(values) != len(EVENT_FIELDS):
                logger.error("audit spool %s: skipped an unreadable line at offset %d", self.path, offset)
                continue
            rows.append(with_record(values))
        return rows, offset

    def at_end(self) -> bool:
        return self.offset >= os.fstat(self.handle.fileno()).st_size

    def torn_tail(self) -> bool:
        """Only a line without its newline is left: cut short when its writer died. Nobody
        will finish it, and it was never acknowledged (the batch was not yet fsync'd)."""
        self.handle.seek(self.offset)
        rest = self.handle.read()
        if rest and b"\n" not in rest:
            logger.error("audit spool %s: dropped a torn last line (%d bytes)", self.path, len(rest))
            return True
        return False

    def close(self) -> None:
        self.handle.close()


class Spool:
    """The backlog of one writer: claimed orphan files, its own file, then rows held in memory."""

    def __init__(self, directory: str | Path, chain_id: str) -> None:
        self.directory = Path(directory)
        self.chain_id = chain_id
        self.path = self.directory / f"{_PREFIX}{chain_id}{_SUFFIX}"
        self._own: _SpoolFile | None = None
        self._orphans: list[_SpoolFile] = []
        self._held: deque[list[Row]] = deque()
        self.held_rows = 0
        self.notices_path = self.directory / f"{_NOTICES_PREFIX}{chain_id}{_SUFFIX}"
        self._notices: BinaryIO | None = None
        self._claimed_notices: list[tuple[Path, BinaryIO]] = []

    # --- state -----------------------------------------------------------------------------

    @property
    def empty(self) -> bool:
        if self._orphans or self._held:
            return False
        return self._own is None or self._own.at_end()

    def _left_over(self, prefix: str, skip: set[Path]) -> Iterator[tuple[Path, BinaryIO]]:
        """Files named ``prefix*`` that a writer which stopped (or died) left behind, each opened
        and locked; the caller keeps the handle (and the lock) until it is done with the file.
        A live writer's file is locked already, and a finished one is unlinked: both are passed."""
        try:
            candidates = sorted(self.directory.glob(f"{prefix}*{_SUFFIX}"))
        except OSError:
            return
        for path in candidates:
            if path in skip:
                continue
            try:
                handle = open(path, "rb")  # noqa: SIM115 - handed to the caller, locked
            except OSError:
                continue
            if not _try_lock(handle) or os.fstat(handle.fileno()).st_nlink == 0:
                handle.close()
                continue
            yield path, handle

    def claim_orphans(self) -> int:
        """Take over spool files whose writer died; returns how many were claimed."""
        claimed = 0
        known = {spool.path for spool in self._orphans}
        for path, handle in self._left_over(_PREFIX, {self.path, *known}):
            self._orphans.append(_SpoolFile(path, handle, orphan=True))
            claimed += 1
            logger.warning("audit spool: replaying %s left by a writer that stopped uncleanly", path)
        return claimed

    # --- adding ----------------------------------------------------------------------------

    def _own_file(self) -> _SpoolFile:
        if self._own is None:
            self._own = _SpoolFile(self.path, self._create_locked(self.path), orphan=False)
        return self._own

    def _create_locked(self, path: Path) -> BinaryIO:
        """A new file of this writer's at ``path``, locked and appended to. Created under a
        temporary name and locked before it gets its real name, so no other writer can mistake
        it for an orphan in between; owner-only, like the log it stands in for (it holds whole
        events or notices)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{path.name}.new"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "a+b")
        if not _try_lock(handle):  # pragma: no cover - the chain id is unique
            handle.close()
            raise OSError(f"{temporary} is locked by another process")
        os.replace(temporary, path)
        _fsync_dir(self.directory)
        return handle

    def _append(self, rows: Sequence[Row]) -> None:
        own = self._own_file()
        # The EVENT_FIELDS values only: the record text is derived from them again on reading.
        width = len(EVENT_FIELDS)
        payload = "".join(canonical_json(list(row[:width])) + "\n" for row in rows).encode()
        # Unbuffered: a buffered writer keeps what a full disk refused and writes it later,
        # after the batch was already held for a retry (a duplicate, or a torn line).
        fd = own.handle.fileno()
        end = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            # Cut the partial batch off: the caller holds it and appends it whole later.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise

    def add(self, rows: list[Row]) -> None:
        """Append a batch behind everything already waiting. Raises OSError when the file
        cannot be written; the batch is then held in memory (still in order)."""
        try:
            while self._held:
                self._append(self._held[0])
                self.held_rows -= len(self._held.popleft())
            self._append(rows)
        except OSError:
            self._held.append(rows)
            self.held_rows += len(rows)
            raise

    # --- replaying -------------------------------------------------------------------------

    def next_chunk(self, max_rows: int) -> tuple[list[Row], Callable[[], None]] | None:
        """The oldest waiting rows and a callback to call once the store has them."""
        for spool in [*self._orphans, *([self._own] if self._own is not None else [])]:
            rows, offset = spool.read(max_rows)
            if rows or offset != spool.offset:
                return rows, lambda spool=spool, offset=offset: self._advance(spool, offset)
            if spool.orphan and (spool.at_end() or spool.torn_tail()):
                self._finish_orphan(spool)
                return self.next_chunk(max_rows)
        if self._held:
            return self._held[0], self._release_held
        return None

    def _advance(self, spool: _SpoolFile, offset: int) -> None:
        spool.offset = offset
        if not spool.at_end():
            return
        if spool.orphan:
            self._finish_orphan(spool)
        else:
            # Everything in our own file is stored: start it afresh instead of growing forever.
            os.ftruncate(spool.handle.fileno(), 0)
            os.fsync(spool.handle.fileno())
            spool.offset = 0

    def _finish_orphan(self, spool: _SpoolFile) -> None:
        with contextlib.suppress(FileNotFoundError):
            spool.path.unlink()
        spool.close()
        self._orphans.remove(spool)

    def _release_held(self) -> None:
        self.held_rows -= len(self._held.popleft())

    # --- notices not archived yet -----------------------------------------------------------

    def keep_notices(self, notices: Mapping[str, Mapping[str, object]]) -> None:
        """Append notices to this writer's notices file (fsync'd). Raises OSError when it cannot
        be written (they stay in memory)."""
        if self._notices is None:
            self._notices = self._create_locked(self.notices_path)
        payload = "".join(
            json.dumps([notice_hash, doc], ensure_ascii=False, sort_keys=True) + "\n"
            for notice_hash, doc in notices.items()
        ).encode()
        self._notices.write(payload)
        self._notices.flush()
        os.fsync(self._notices.fileno())

    def claim_notices(self) -> dict[str, Mapping[str, object]]:
        """The notices of writers that stopped (or died) before the store could archive them.
        Their files stay, locked, until ``notices_archived``."""
        claimed: dict[str, Mapping[str, object]] = {}
        known = {path for path, _ in self._claimed_notices}
        for path, handle in self._left_over(_NOTICES_PREFIX, {self.notices_path, *known}):
            for line in handle.read().decode("utf-8", "replace").splitlines():
                try:
                    notice_hash, doc = json.loads(line)
                except ValueError:
                    continue  # a torn last line: that notice was still in its writer's memory
                if isinstance(notice_hash, str) and isinstance(doc, dict):
                    claimed[notice_hash] = doc
            self._claimed_notices.append((path, handle))
        return claimed

    def notices_archived(self) -> None:
        """Every kept and claimed notice is in the store: remove their files."""
        files = list(self._claimed_notices)
        if self._notices is not None:
            files.append((self.notices_path, self._notices))
        self._notices, self._claimed_notices = None, []
        for path, handle in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            handle.close()

    def close(self) -> None:
        """Release the files; an empty own file is removed, a non-empty one waits for the
        next writer to start (and so do notices not archived yet)."""
        for spool in self._orphans:
            spool.close()
        self._orphans.clear()
        for _, handle in self._claimed_notices:
            handle.close()
        self._claimed_notices = []
        if self._notices is not None:
            self._notices.close()
            self._notices = None
        own, self._own = self._own, None
        if own is None:
            return
        if own.at_end():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        own.close()
