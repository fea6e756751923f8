"""The hash chain: every kind of tampering is named, on every store."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from consentgate.audit.chain import (
    HASHED_FIELDS,
    KnownHead,
    Sealer,
    load_key,
    new_chain_id,
    sign_checkpoint,
    verify,
)
from consentgate.audit.events import EVENT_FIELDS, ConsentEvent
from consentgate.audit.stores.base import Checkpoint, Store

from .conftest import KEY, StoreCase, make_event


async def _write_chain(
    store: Store, count: int = 100, key: bytes | None = KEY
) -> dict[int, dict[str, object]]:
    sealer = Sealer(key)
    rows = sealer.seal(make_event(i) for i in range(count))
    await store.write(rows)
    return {
        int(str(row[EVENT_FIELDS.index("seq")])): dict(
            zip(EVENT_FIELDS, row[: len(EVENT_FIELDS)], strict=True)
        )
        for row in rows
    }


async def test_an_untouched_log_verifies(store: Store) -> None:
    await _write_chain(store, 100)
    await _write_chain(store, 7)  # a second writer instance
    report = await verify(store, KEY)
    assert report.ok and report.records == 107 and len(report.chains) == 2


async def test_an_edited_field_names_the_record(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store)
    store_case.edit(50, "action", "accept_all")
    report = await verify(store, KEY)
    [problem] = report.problems
    assert (problem.kind, problem.seq, problem.event_id) == ("edited", 50, records[50]["event_id"])


async def test_an_edited_category_names_the_record(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store)
    store_case.edit(12, "categories", {"necessary": True, "marketing": True})
    [problem] = (await verify(store, KEY)).problems
    assert (problem.kind, problem.event_id) == ("edited", records[12]["event_id"])


async def test_a_deleted_record_is_reported_at_the_gap(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store)
    store_case.delete(70)
    [problem] = (await verify(store, KEY)).problems
    assert (problem.kind, problem.seq, problem.event_id) == ("deleted", 71, records[71]["event_id"])
    assert "seq 70 missing" in problem.message


async def test_swapped_records_are_reported_as_reordered(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store)
    store_case.swap(40, 41)
    [problem] = (await verify(store, KEY)).problems
    assert (problem.kind, problem.seq) == ("reordered", 40)
    assert problem.event_id == records[41]["event_id"]  # the record now sitting at seq 40


async def test_a_forged_record_at_the_end_is_named(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store)
    forged = dict(records[100])
    forged.update(event_id="forged-event", seq=101, prev_hash=records[100]["hash"], action="accept_all")
    forged["categories"] = {"necessary": True, "marketing": True}
    forged["services"] = {}
    forged["detail"] = {}
    # The insider knows the format but not the key: a plain SHA-256 is the best guess.
    body = json.dumps([forged[f] for f in HASHED_FIELDS], sort_keys=True, separators=(",", ":"))
    forged["hash"] = hashlib.sha256(body.encode()).hexdigest()
    store_case.insert(forged)
    [problem] = (await verify(store, KEY)).problems
    assert (problem.kind, problem.seq, problem.event_id) == ("forged", 101, "forged-event")


async def test_a_forged_chain_of_its_own_is_named(store_case: StoreCase, store: Store) -> None:
    records = await _write_chain(store, 5)
    forged = dict(records[1])
    forged.update(event_id="forged", chain_id=new_chain_id(), seq=1, prev_hash="", hash="0" * 64)
    forged["categories"], forged["services"], forged["detail"] = {"necessary": True}, {}, {}
    store_case.insert(forged)
    report = await verify(store, KEY)
    [problem] = report.problems
    assert (problem.kind, problem.event_id) == ("forged", "forged")


async def test_a_deleted_oldest_record_without_a_checkpoint_is_reported(
    store_case: StoreCase, store: Store
) -> None:
    await _write_chain(store, 10)
    store_case.delete(1)
    [problem] = (await verify(store, KEY)).problems
    assert (problem.kind, problem.seq) == ("deleted", 2)


async def test_a_forged_purge_checkpoint_is_reported(store: Store) -> None:
    records = await _write_chain(store, 10)
    chain_id = str(records[1]["chain_id"])
    # Someone deletes records 1-5 and writes a checkpoint without the key.
    await store.purge(Checkpoint(chain_id, 5, str(records[5]["hash"]), 1, 1, "0" * 64))
    [problem] = (await verify(store, KEY)).problems
    assert problem.kind == "checkpoint"


async def test_deleting_the_newest_records_shows_against_a_published_head(
    store_case: StoreCase, store: Store
) -> None:
    records = await _write_chain(store, 10)
    head = KnownHead(str(records[10]["chain_id"]), 10, str(records[10]["hash"]))
    assert (await verify(store, KEY, known_heads=[head])).ok
    store_case.delete(10)
    store_case.delete(9)
    assert (await verify(store, KEY)).ok  # without a published head a truncation is invisible
    [problem] = (await verify(store, KEY, known_heads=[head])).problems
    assert (problem.kind, problem.seq) == ("truncated", 9)


async def test_verify_with_the_wrong_key_fails_on_the_first_record(store: Store) -> None:
    await _write_chain(store, 3)
    [problem] = (await verify(store, b"another-key-of-enough-length-000000")).problems
    assert problem.seq == 1


async def test_a_plain_chain_shows_accidents_but_not_a_careful_insider(
    store_case: StoreCase, store: Store
) -> None:
    records = await _write_chain(store, 5, key=None)
    assert (await verify(store, None)).ok
    store_case.edit(3, "action", "accept_all")
    assert [p.kind for p in (await verify(store, None)).problems] == ["edited"]
    # Recomputing hash 3 and every later link makes a plain chain look intact again: this is
    # why production logs use a key.
    previous = str(records[2]["hash"])
    for seq in range(3, 6):
        record = dict(records[seq])
        record["prev_hash"] = previous
        if seq == 3:
            record["action"] = "accept_all"
        values = [record[f] for f in HASHED_FIELDS]  # maps are their stored JSON text already
        digest = hashlib.sha256(
            json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        store_case.edit(seq, "prev_hash", previous)
        store_case.edit(seq, "hash", digest)
        previous = digest
    assert (await verify(store, None)).ok
    assert not (await verify(store, KEY)).ok


def test_the_hash_is_hmac_over_the_documented_canonical_json() -> None:
    """An auditor can recompute a hash with any JSON library and any HMAC implementation."""
    sealer = Sealer(KEY)
    event = make_event(1, path="/café", detail={"b": "2", "a": "1"})
    [row] = sealer.seal([event])
    record = dict(zip(EVENT_FIELDS, row[: len(EVENT_FIELDS)], strict=True))
    maps = ("categories", "services", "detail")
    values = [
        json.dumps(dict(getattr(event, f)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if f in maps
        else record[f]
        for f in HASHED_FIELDS
    ]
    body = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert record["hash"] == hmac.new(KEY, body, hashlib.sha256).hexdigest()
    assert record["detail"] == '{"a":"1","b":"2"}'
    assert row[-1] == body.decode()  # the record text the SQL stores keep is the hashed text


_TEXT_FIELDS = (
    "event_id",
    "consent_id",
    "action",
    "policy_version",
    "policy_fingerprint",
    "notice_hash",
    "locale",
    "ui_action",
    "region",
    "region_source",
    "path",
    "ua_browser",
    "ua_os",
    "ua_device",
    "ip",
)
# Text a JSON encoder must escape, and text it must leave alone.
_ODD_TEXTS = (
    "",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "line\nbreak",
    "\x1f",
    "\x7f",
    "é✓日本",
    "\u2028",
    "😀",
)


def _documented_record_text(event: ConsentEvent, row: tuple[object, ...]) -> str:
    """The record text as an auditor computes it with the json module, from the event."""
    values: list[object] = []
    for name in HASHED_FIELDS:
        value = getattr(event, name) if name in EVENT_FIELDS[:-4] else row[EVENT_FIELDS.index(name)]
        if name in ("categories", "services", "detail"):
            value = json.dumps(dict(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        values.append(value)
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def test_every_text_field_is_sealed_exactly_as_the_documented_canonical_json() -> None:
    """Plain text takes a one-pass path; text that needs escaping the general encoder. Both
    must give the bytes an auditor's JSON library gives, for every field."""
    events = [make_event(1)]
    events += [make_event(2, **{name: text}) for name in _TEXT_FIELDS for text in _ODD_TEXTS]
    events += [
        make_event(3, categories={'say "x"': True, "a\\b": False}, services={"é": True}),
        make_event(4, detail={"blocked-uri": 'https://x.example/?a="1"', "line": "a\nb"}),
        make_event(5, sec_gpc=True, dnt=True, services={}, detail={}),
    ]
    sealer = Sealer(KEY)
    rows = sealer.seal(events)
    for event, row in zip(events, rows, strict=True):
        text = _documented_record_text(event, row)
        assert row[-1] == text
        assert row[EVENT_FIELDS.index("hash")] == hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()
    assert [row[EVENT_FIELDS.index("seq")] for row in rows] == list(range(1, len(events) + 1))


def test_chain_fields_link_each_record_to_the_one_before() -> None:
    sealer = Sealer(KEY)
    first = sealer.seal([make_event(1), make_event(2)])
    second = sealer.seal([make_event(3)])
    seq, prev, hash_ = (EVENT_FIELDS.index(f) for f in ("seq", "prev_hash", "hash"))
    assert [r[seq] for r in (*first, *second)] == [1, 2, 3]
    assert first[0][prev] == "" and first[1][prev] == first[0][hash_] and second[0][prev] == first[1][hash_]
    assert Sealer(KEY).chain_id != sealer.chain_id


def test_checkpoint_signatures_depend_on_the_key() -> None:
    from consentgate.audit.chain import make_mac

    one = sign_checkpoint("c", 5, "h", 1, 2, make_mac(KEY))
    assert one == sign_checkpoint("c", 5, "h", 1, 2, make_mac(KEY))
    assert one != sign_checkpoint("c", 6, "h", 1, 2, make_mac(KEY))
    assert one != sign_checkpoint("c", 5, "h", 1, 2, make_mac(b"x" * 32))


def test_a_short_key_is_refused_with_the_option_name() -> None:
    with pytest.raises(ValueError, match="audit_key must be at least 32 bytes"):
        load_key(b"short")
    assert load_key("s" * 32) == b"s" * 32
    assert load_key(None) is None


async def test_chains_written_before_a_key_rotation_verify_with_the_retired_key(store: Store) -> None:
    new_key = b"the-new-audit-key-after-rotation-000"
    await _write_chain(store, 5, key=KEY)
    await _write_chain(store, 5, key=new_key)
    assert not (await verify(store, new_key)).ok
    report = await verify(store, [new_key, KEY])
    assert report.ok and report.records == 10
