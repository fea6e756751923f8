"""Retention: delete records once their period ends, and keep every chain verifiable.

Only a chain's *prefix* is ever deleted, and in the same transaction a signed checkpoint records
the last deleted ``seq`` and its hash, so ``verify`` starts from the checkpoint. Before deleting,
the prefix is itself verified: a purge never launders tampering.

A record may go when (CG-45):
- it is older than ``older_than`` (default 3 years), and
- its consent ended at least that long ago: the consent's newest event is older than
  ``older_than`` + ``consent_lifetime`` (the longest a choice stays in force, 13 months), and
- it is not a US record younger than 24 months (CCPA regs §7101(a)).
Because only prefixes go, one record that must stay keeps every later record of its chain.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from consentgate.audit.chain import (
    ChainWalk,
    Keys,
    Mac,
    chain_mac,
    checkpoint_mac,
    make_macs,
    sign_checkpoint,
    unverifiable,
)
from consentgate.audit.stores.base import Checkpoint, PurgePlan, PurgeRule, Store

DAY_MS = 86_400_000
DEFAULT_OLDER_THAN_MS = 3 * 365 * DAY_MS
DEFAULT_CONSENT_LIFETIME_MS = 395 * DAY_MS  # 13 calendar months at most
US_MINIMUM_MS = 730 * DAY_MS  # 24 months


@dataclass(frozen=True)
class PurgedChain:
    chain_id: str
    upto_seq: int
    deleted: int


@dataclass(frozen=True)
class PurgeReport:
    rule: PurgeRule
    purged: tuple[PurgedChain, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (chain_id, why)
    dry_run: bool = False

    @property
    def deleted(self) -> int:
        return sum(chain.deleted for chain in self.purged)

    def to_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "delete_before": self.rule.delete_before,
            "deleted": self.deleted,
            "purged": [
                {"chain_id": c.chain_id, "upto_seq": c.upto_seq, "deleted": c.deleted} for c in self.purged
            ],
            "skipped": [{"chain_id": chain_id, "reason": why} for chain_id, why in self.skipped],
        }


def purge_rule(
    *,
    now_ms: int,
    older_than_ms: int = DEFAULT_OLDER_THAN_MS,
    consent_lifetime_ms: int = DEFAULT_CONSENT_LIFETIME_MS,
    protect_regions: tuple[str, ...] = ("US",),
    protect_min_age_ms: int = US_MINIMUM_MS,
) -> PurgeRule:
    if older_than_ms <= 0:
        raise ValueError(f"older_than must be positive, got {older_than_ms} ms")
    delete_before = now_ms - older_than_ms
    return PurgeRule(
        delete_before=delete_before,
        consent_live_since=delete_before - consent_lifetime_ms,
        protect_regions=protect_regions,
        protect_since=now_ms - protect_min_age_ms,
    )


async def purge(
    store: Store, key: Keys, rule: PurgeRule, *, dry_run: bool = False, now_ms: int | None = None
) -> PurgeReport:
    """Delete what ``rule`` lets go, chain by chain, each behind a signed checkpoint.

    >>> rule = purge_rule(now_ms=now, older_than_ms=3 * 365 * DAY_MS)  # doctest: +SKIP
    >>> (await purge(store, key, rule)).deleted  # doctest: +SKIP
    """
    macs = make_macs(key)  # checkpoints are signed with the current (first) key
    created = int(time.time() * 1000) if now_ms is None else now_ms
    checkpoints = await store.checkpoints()
    purged: list[PurgedChain] = []
    skipped: list[tuple[str, str]] = []
    for plan in await store.plan_purge(rule):
        previous = checkpoints.get(plan.chain_id)
        if previous is None:
            chain_key = await chain_mac(store, plan.chain_id, 0, macs)
        else:
            found = checkpoint_mac(previous, macs)
            if found is None:
                skipped.append((plan.chain_id, "its purge checkpoint has a wrong signature"))
                continue
            chain_key = found
        last_hash, why = await _verified_prefix(store, plan, previous, chain_key)
        start_seq = previous.seq if previous is not None else 0
        if why and await unverifiable(store, plan.chain_id, start_seq, macs):
            why = (
                "not purged: no record of this chain verifies under the keys given (pass the "
                "--key-file it was written with; retired keys after the current one), or it was forged"
            )
        if why:
            skipped.append((plan.chain_id, why))
            continue
        if dry_run:  # what the purge would delete: the verified prefix after the checkpoint
            purged.append(PurgedChain(plan.chain_id, plan.upto_seq, plan.upto_seq - start_seq))
            continue
        signature = sign_checkpoint(
            plan.chain_id, plan.upto_seq, last_hash, created, rule.delete_before, macs[0]
        )
        checkpoint = Checkpoint(
            plan.chain_id, plan.upto_seq, last_hash, created, rule.delete_before, signature
        )
        purged.append(PurgedChain(plan.chain_id, plan.upto_seq, await store.purge(checkpoint)))
    return PurgeReport(rule, tuple(purged), tuple(skipped), dry_run)


async def _verified_prefix(
    store: Store, plan: PurgePlan, previous: Checkpoint | None, mac: Mac
) -> tuple[str, str]:
    """(hash at plan.upto_seq, "") when records up to there verify, else ("", why)."""
    start_seq, prev_hash = (previous.seq, previous.hash) if previous is not None else (0, "")
    walk = ChainWalk(plan.chain_id, mac, start_seq, prev_hash, None)
    async with contextlib.aclosing(store.read_chain(plan.chain_id, after_seq=start_seq)) as records:
        ended = True
        async for record in records:
            if walk.step(record) or (walk.pending is None and walk.last_seq >= plan.upto_seq):
                ended = False
                break
    if ended:
        walk.finish()
    if walk.problem is not None:
        problem = walk.problem
        return "", f"not purged: the chain is broken at seq {problem.seq} ({problem.kind}: {problem.message})"
    if walk.last_seq < plan.upto_seq:
        return "", f"not purged: the chain ends at seq {walk.last_seq}, before {plan.upto_seq}"
    return walk.last_hash, ""
