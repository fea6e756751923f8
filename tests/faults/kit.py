"""Shared material for the fault tests: a load phase against the server subprocess with a fault
injected in the middle, and the audit-log assertions every fault test ends with."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.load.harness import (
    MIX_CONSENT,
    Kind,
    Server,
    Tally,
    compare,
    drive,
    read_audit,
    verify_cli,
)


async def migrate(url: str) -> None:
    from consentgate.audit.stores import open_store

    store = open_store(url)
    try:
        await store.migrate()
    finally:
        await store.close()


async def load_with_fault(
    server: Server,
    fault: Callable[[], Awaitable[None]],
    *,
    seconds: float,
    delay: float = 1.0,
    mix: tuple[Kind, ...] = MIX_CONSENT,
    concurrency: int = 8,
) -> Tally:
    """Drive ``server`` for ``seconds``; ``fault`` starts ``delay`` seconds in, runs concurrently."""

    async def injected() -> None:
        await asyncio.sleep(delay)
        await fault()

    tally, _ = await asyncio.gather(
        drive(server.port, mix=mix, seconds=seconds, concurrency=concurrency, warmup=0.0), injected()
    )
    return tally


async def wait_for_stats(
    server: Server, condition: Callable[[dict[str, object]], bool], timeout: float = 30.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    stats = await asyncio.to_thread(server.stats)
    while not condition(stats):
        if time.monotonic() > deadline:
            raise AssertionError(f"writer never reached the expected state: {json.dumps(stats)}")
        await asyncio.sleep(0.1)
        stats = await asyncio.to_thread(server.stats)
    return stats


async def assert_logged_exactly(
    url: str, acknowledged: list[str], spool: Path | None = None, *, unconfirmed: int = 0
) -> None:
    """Every acknowledged choice once, no duplicate, the chains verify, and no spool file is
    left waiting. ``unconfirmed``: how many choices answered 503 (or not at all) may still be
    in the log — "not confirmed in time" is not "not recorded" (the endpoint logs their ids)."""
    audit = await read_audit(url)
    missing, extra = compare(acknowledged, audit)
    assert not missing, f"{sum(missing.values())} acknowledged choices are not in the log"
    assert sum(extra.values()) <= unconfirmed, (
        f"{sum(extra.values())} logged choices were never acknowledged (at most {unconfirmed} unconfirmed)"
    )
    assert audit.duplicate_event_ids == 0 and audit.duplicate_positions == 0
    status, output = await asyncio.to_thread(verify_cli, url)
    assert status == 0, output
    if spool is not None:
        assert not list(spool.glob("spool-*.jsonl")), "a spool file was left behind"


def unconfirmed(tally: Tally) -> int:
    """Choices whose outcome the visitor was not told: answered 503, or no answer at all."""
    return tally.refused_503 + len(tally.uncertain)


def assert_served(tally: Tally, *, allow_503: bool = False) -> None:
    """Visitors noticed nothing: every request answered as usual (a 503 only where allowed)."""
    errors = {kind: stats.errors for kind, stats in tally.classes.items() if stats.errors}
    assert not errors and not tally.mismatches, (errors, tally.mismatches[:5])
    if not allow_503:
        assert tally.refused_503 == 0
