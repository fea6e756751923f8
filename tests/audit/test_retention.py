"""Purge: exactly the expired records go, every chain still verifies, tampering is not laundered."""

from __future__ import annotations

from consentgate.audit.chain import Sealer, verify
from consentgate.audit.retention import DAY_MS, purge, purge_rule
from consentgate.audit.stores.base import Query, Store

from .conftest import KEY, StoreCase, make_event

NOW = 2_000 * DAY_MS
YEAR = 365 * DAY_MS


async def _ids(store: Store) -> set[str]:
    return {str(r["event_id"]) async for r in store.read(Query())}


async def test_purge_removes_exactly_the_expired_records_and_verify_stays_green(store: Store) -> None:
    old = Sealer(KEY)  # a writer instance that ran four years ago
    old_events = [make_event(i, consent_id=f"old-{i}", ts=NOW - 4 * YEAR + i) for i in range(30)]
    await store.write(old.seal(old_events))
    mixed = Sealer(KEY)  # ran across the cutoff
    mixed_events = [make_event(i, consent_id=f"mixed-{i}", ts=NOW - 3 * YEAR - 10 + i * 2) for i in range(10)]
    await store.write(mixed.seal(mixed_events))
    recent = Sealer(KEY)
    recent_events = [make_event(i, ts=NOW - DAY_MS + i) for i in range(5)]
    await store.write(recent.seal(recent_events))

    rule = purge_rule(now_ms=NOW, older_than_ms=3 * YEAR, consent_lifetime_ms=0)
    report = await purge(store, KEY, rule, now_ms=NOW)
    assert not report.skipped
    assert report.deleted == 30 + 5  # mixed: the 5 records before the cutoff
    expected = {e.event_id for e in mixed_events[5:] + recent_events}
    assert await _ids(store) == expected
    verified = await verify(store, KEY)
    assert verified.ok, verified.problems
    assert {c.chain_id: c.checkpoint_seq for c in verified.chains}[old.chain_id] == 30
    # Purging again finds nothing; writing on keeps verifying.
    assert (await purge(store, KEY, rule, now_ms=NOW)).deleted == 0
    await store.write(mixed.seal([make_event(99, ts=NOW)]))
    assert (await verify(store, KEY)).ok


async def test_us_opt_outs_and_live_consents_are_kept(store: Store) -> None:
    sealer = Sealer(KEY)
    events = [
        make_event(0, consent_id="eu-gone", ts=NOW - 20 * 30 * DAY_MS, region="DE"),
        make_event(1, consent_id="us-optout", ts=NOW - 18 * 30 * DAY_MS, region="US-CA", action="gpc_optout"),
        make_event(2, consent_id="eu-gone-2", ts=NOW - 17 * 30 * DAY_MS, region="FR"),
    ]
    other = Sealer(KEY)
    live = [
        make_event(3, consent_id="returning", ts=NOW - 20 * 30 * DAY_MS, region="DE"),
        make_event(4, consent_id="returning", ts=NOW - 2 * DAY_MS, region="DE"),
    ]
    await store.write(sealer.seal(events))
    await store.write(other.seal(live))
    # A one-year retention (e.g. a region policy) with no extra consent lifetime.
    rule = purge_rule(now_ms=NOW, older_than_ms=YEAR, consent_lifetime_ms=0)
    report = await purge(store, KEY, rule, now_ms=NOW)
    # The US opt-out (18 months < 24) stays, so only the record before it in its chain goes;
    # "returning" was used two days ago, so its old record stays too.
    assert report.deleted == 1
    assert await _ids(store) == {e.event_id for e in (*events[1:], *live)}
    assert (await verify(store, KEY)).ok


async def test_a_broken_chain_is_not_purged(store_case: StoreCase, store: Store) -> None:
    sealer = Sealer(KEY)
    await store.write(sealer.seal(make_event(i, ts=NOW - 4 * YEAR + i) for i in range(10)))
    store_case.edit(4, "action", "accept_all")  # tampering inside the prefix due for deletion
    rule = purge_rule(now_ms=NOW, older_than_ms=3 * YEAR, consent_lifetime_ms=0)
    report = await purge(store, KEY, rule, now_ms=NOW)
    assert report.deleted == 0
    [(chain_id, why)] = report.skipped
    assert chain_id == sealer.chain_id and "seq 4" in why and "edited" in why
    [problem] = (await verify(store, KEY)).problems
    assert problem.seq == 4  # the evidence is still there


async def test_a_dry_run_deletes_nothing(store: Store) -> None:
    sealer = Sealer(KEY)
    await store.write(sealer.seal(make_event(i, ts=NOW - 4 * YEAR + i) for i in range(10)))
    rule = purge_rule(now_ms=NOW, older_than_ms=3 * YEAR, consent_lifetime_ms=0)
    report = await purge(store, KEY, rule, dry_run=True, now_ms=NOW)
    assert [(c.chain_id, c.upto_seq) for c in report.purged] == [(sealer.chain_id, 10)]
    assert len(await _ids(store)) == 10 and await store.checkpoints() == {}


async def test_records_reinserted_after_a_purge_break_the_chain_at_the_checkpoint(
    store_case: StoreCase, store: Store
) -> None:
    sealer = Sealer(KEY)
    rows = sealer.seal(make_event(i, ts=NOW - 4 * YEAR + i) for i in range(6))
    await store.write(rows)
    await store.write(sealer.seal([make_event(9, ts=NOW)]))
    rule = purge_rule(now_ms=NOW, older_than_ms=3 * YEAR, consent_lifetime_ms=0)
    assert (await purge(store, KEY, rule, now_ms=NOW)).deleted == 6
    store_case.edit(7, "prev_hash", "0" * 64)  # the first record kept no longer chains to the checkpoint
    [problem] = (await verify(store, KEY)).problems
    assert problem.seq == 7 and problem.kind in ("edited", "forged")


async def test_a_chain_whose_checkpoint_was_forged_is_not_purged_again(store: Store) -> None:
    from consentgate.audit.stores.base import Checkpoint

    sealer = Sealer(KEY)
    rows = sealer.seal(make_event(i, ts=NOW - 4 * YEAR + i) for i in range(6))
    await store.write(rows)
    await store.purge(Checkpoint(sealer.chain_id, 2, str(rows[1][-1]), 1, 1, "forged-signature"))
    rule = purge_rule(now_ms=NOW, older_than_ms=3 * YEAR, consent_lifetime_ms=0)
    report = await purge(store, KEY, rule, now_ms=NOW)
    assert report.deleted == 0 and "wrong signature" in report.skipped[0][1]
