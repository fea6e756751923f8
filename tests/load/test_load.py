"""A short, bounded load run in CI: the demo site behind ConsentGate under uvicorn, page views,
API calls and consent choices (JSON and form) over keep-alive connections for a few seconds.
Every choice answered 200/303 is in the audit log exactly once and the chain verifies.
(``make load`` runs the long version and prints the figures.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.harness import (
    MIX_CONSENT,
    Server,
    ServerOptions,
    compare,
    drive,
    figures,
    read_audit,
    sqlite_url,
    verify_cli,
)

pytestmark = pytest.mark.slow


async def test_every_acknowledged_choice_is_logged_once_and_the_chain_verifies(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "audit.db")
    server = Server(ServerOptions(audit=url, spool=tmp_path / "spool", log=tmp_path / "server.log"))
    server.start()
    try:
        rss_start = server.rss_kb()
        tally = await drive(server.port, mix=MIX_CONSENT, seconds=8.0, concurrency=8)
        rss_end = server.rss_kb()
    finally:
        code = server.stop()
    assert code == 0, server.log_text()
    row = figures("ci", tally, rss_start, rss_end)
    assert tally.mismatches == [] and row.errors == 0, (tally.mismatches[:5], row.to_dict())
    assert row.per_class["page"][0] > 50 and row.per_class["api"][0] > 20
    assert len(tally.acknowledged) > 10 and tally.refused_503 == 0
    audit = await read_audit(url)
    missing, extra = compare(tally.acknowledged, audit)
    assert not missing, f"{sum(missing.values())} acknowledged choices are not in the log"
    assert not extra, f"{sum(extra.values())} logged choices were never acknowledged"
    assert audit.duplicate_event_ids == 0 and audit.duplicate_positions == 0
    assert audit.records == len(tally.acknowledged)
    status, output = verify_cli(url)
    assert status == 0, output
    assert f"{audit.records} records verified" in output
    assert not list((tmp_path / "spool").glob("spool-*.jsonl")), "a spool file was left behind"


async def test_the_bare_site_serves_the_same_mix_without_errors(tmp_path: Path) -> None:
    server = Server(ServerOptions(mode="bare", log=tmp_path / "server.log"))
    server.start()
    try:
        tally = await drive(server.port, mix=MIX_CONSENT[:17], seconds=2.0, concurrency=4, gated=False)
    finally:
        assert server.stop() == 0
    row = figures("bare", tally, 0, 0)
    assert row.errors == 0 and row.requests > 100
