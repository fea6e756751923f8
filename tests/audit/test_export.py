"""Exports: exactly the asked-for events, in order, with a manifest whose hashes match and the
notices shown; a row-level check that needs nothing but the files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from consentgate.audit.chain import Sealer
from consentgate.audit.export import (
    EXPORT_COLUMNS,
    consent_stats,
    export_chunks,
    export_file,
    parse_when,
    utc_iso,
    verify_export,
)
from consentgate.audit.stores.base import Query, Store

from .conftest import KEY, make_event

NOTICE = {
    "texts": {"de": {"title": "Wir verwenden Cookies"}},
    "categories": ["analytics"],
    "cookies": [["_ga", "2y"]],
}


async def _fill(store: Store) -> list[str]:
    """Two writer instances interleaving three visitors; returns alice's event ids in time order."""
    one, two = Sealer(KEY), Sealer(KEY)
    alice: list[tuple[int, str]] = []
    for i in range(60):
        event = make_event(i, consent_id=("alice", "bob", "carol")[i % 3], ts=1_700_000_000_000 + i * 1000)
        if event.consent_id == "alice":
            alice.append((event.ts, event.event_id))
        await store.write((one if i % 2 else two).seal([event]))
    await store.put_notice("n" * 64, NOTICE, 1_690_000_000_000)
    return [event_id for _, event_id in sorted(alice)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
async def test_one_consent_ids_export_has_exactly_its_events_in_order(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    alice = await _fill(store)
    target = tmp_path / f"alice.{fmt}"
    manifest = await export_file(store, target, fmt, Query(consent_id="alice"))  # type: ignore[arg-type]
    content = target.read_bytes()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(content.decode())))
        assert list(rows[0]) == list(EXPORT_COLUMNS)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in content.decode().splitlines()]
    else:
        rows = json.loads(content)
    assert [row["event_id"] for row in rows] == alice
    assert {row["consent_id"] for row in rows} == {"alice"}
    assert manifest["rows"] == len(alice) == 20
    assert manifest["sha256"] == hashlib.sha256(content).hexdigest()
    assert len(manifest["chain_heads"]) == 2  # type: ignore[arg-type]
    assert manifest["time_range"]["first_utc"] == utc_iso(1_700_000_000_000)  # type: ignore[index]
    on_disk = json.loads(target.with_name(target.name + ".manifest.json").read_text())
    assert on_disk == manifest
    notices = json.loads(target.with_name(target.name + ".notices.json").read_text())["notices"]
    assert notices["n" * 64]["doc"] == NOTICE
    assert verify_export(target, KEY).ok


async def test_an_export_verifies_row_by_row_and_catches_edits(store: Store, tmp_path: Path) -> None:
    await _fill(store)
    target = tmp_path / "all.csv"
    await export_file(store, target, "csv", Query())
    check = verify_export(target, KEY)
    assert check.ok and check.rows == 60
    # An edited row with a recomputed file hash: the row's own HMAC still gives it away.
    text = target.read_text().replace("banner.save", "banner.accept", 1)
    target.write_text(text)
    manifest_path = target.with_name(target.name + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    [problem] = verify_export(target, KEY).problems
    assert "does not match its hash" in problem
    target.write_text(text + "extra\r\n")
    assert any("SHA-256 differs" in p for p in verify_export(target, KEY).problems)


async def test_spreadsheet_formulas_are_neutralised_and_still_verify(store: Store, tmp_path: Path) -> None:
    await store.write(Sealer(KEY).seal([make_event(1, consent_id="-12", ui_action='=HYPERLINK("x")')]))
    target = tmp_path / "x.csv"
    await export_file(store, target, "csv", Query())
    [row] = list(csv.DictReader(io.StringIO(target.read_text())))
    assert row["ui_action"] == '\'=HYPERLINK("x")' and row["consent_id"] == "'-12"
    assert verify_export(target, KEY).ok


async def test_a_large_export_streams_in_chunks(store: Store) -> None:
    sealer = Sealer(KEY)
    await store.write(sealer.seal(make_event(i, path="/" + "p" * 200) for i in range(2000)))
    chunks = [chunk async for chunk in export_chunks(store, Query(), "jsonl")]
    assert len(chunks) > 3 and all(len(chunk) < 200_000 for chunk in chunks)
    assert sum(chunk.count(b"\n") for chunk in chunks) == 2000


async def test_stats_count_choices_per_day_and_region_without_identifiers(store: Store) -> None:
    day = parse_when("2025-03-01")
    all_on = {"necessary": True, "analytics": True, "marketing": True}
    some = {"necessary": True, "analytics": True, "marketing": False}
    none = {"necessary": True, "analytics": False, "marketing": False}
    events = [
        make_event(0, action="accept_all", categories=all_on, ts=day + 1, region="DE"),
        make_event(1, action="save", categories=some, ts=day + 2, region="DE"),
        make_event(2, action="reject_all", categories=none, ts=day + 3, region="DE"),
        make_event(3, action="withdraw", categories=none, ts=day + 4, region="DE"),
        make_event(4, action="close", categories=none, ts=day + 86_400_000, region="FR"),
        make_event(5, action="invalid_cookie", categories=none, ts=day + 5, region="DE"),
    ]
    await store.write(Sealer(KEY).seal(events))
    rows = [row.to_dict() for row in await consent_stats(store, Query())]
    assert rows == [
        {
            "day": "2025-03-01",
            "region": "DE",
            "accept": 1,
            "partial": 1,
            "reject": 1,
            "withdraw": 1,
            "choices": 3,
            "consent_rate": 0.6667,
        },
        {
            "day": "2025-03-02",
            "region": "FR",
            "accept": 0,
            "partial": 0,
            "reject": 1,
            "withdraw": 0,
            "choices": 1,
            "consent_rate": 0.0,
        },
    ]


def test_times_are_read_as_utc() -> None:
    assert parse_when("2025-01-31") == 1_738_281_600_000
    assert parse_when("2025-01-31T00:00:00Z") == parse_when("2025-01-31T01:00:00+01:00") == 1_738_281_600_000
    assert parse_when("1738281600000") == 1_738_281_600_000
    with pytest.raises(ValueError, match="is not a time"):
        parse_when("last tuesday")
