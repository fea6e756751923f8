"""The spool: order kept, torn lines skipped, files of dead writers claimed, disk failures held."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.audit.chain import Sealer
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.spool import Spool
from consentgate.audit.stores.base import Row

from .conftest import KEY, make_event

SEQ = EVENT_FIELDS.index("seq")


def _rows(sealer: Sealer, count: int) -> list[Row]:
    return sealer.seal(make_event(i) for i in range(count))


def _drain(spool: Spool, size: int = 7) -> list[Row]:
    out: list[Row] = []
    while (chunk := spool.next_chunk(size)) is not None:
        rows, done = chunk
        out.extend(rows)
        done()
    return out


def test_batches_come_back_in_order_and_the_file_is_reset(tmp_path: Path) -> None:
    sealer = Sealer(KEY)
    spool = Spool(tmp_path, sealer.chain_id)
    assert spool.empty
    first, second = _rows(sealer, 10), _rows(sealer, 5)
    spool.add(first)
    spool.add(second)
    assert not spool.empty
    assert _drain(spool) == [*first, *second]  # rows round-trip exactly: bools, ints, map text
    assert spool.empty and spool.path.stat().st_size == 0
    spool.close()
    assert not spool.path.exists()


def test_a_torn_last_line_is_not_replayed(tmp_path: Path) -> None:
    sealer = Sealer(KEY)
    spool = Spool(tmp_path, sealer.chain_id)
    rows = _rows(sealer, 3)
    spool.add(rows)
    with open(spool.path, "ab") as handle:
        handle.write(b'["half a row')
    assert _drain(spool) == rows
    spool.close()


def test_a_dead_writers_file_is_claimed_and_removed_after_replay(tmp_path: Path) -> None:
    dead = Sealer(KEY)
    alive = Spool(tmp_path, dead.chain_id)
    rows = _rows(dead, 4)
    alive.add(rows)
    other = Spool(tmp_path, Sealer(KEY).chain_id)
    assert other.claim_orphans() == 0  # its writer still holds the lock
    alive.close()  # the writer goes away with its rows unreplayed: the file stays
    assert alive.path.exists()
    assert other.claim_orphans() == 1
    assert [row[SEQ] for row in _drain(other)] == [1, 2, 3, 4]
    assert not alive.path.exists()
    other.close()


def test_an_unwritable_spool_holds_rows_in_memory_in_order(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sealer = Sealer(KEY)
    spool = Spool(blocker / "spool", sealer.chain_id)
    first, second = _rows(sealer, 3), _rows(sealer, 2)
    for rows in (first, second):
        with pytest.raises(OSError):
            spool.add(rows)
    assert spool.held_rows == 5 and not spool.empty
    assert _drain(spool) == [*first, *second]
    assert spool.held_rows == 0 and spool.empty
