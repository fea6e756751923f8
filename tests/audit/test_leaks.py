"""``consentgate audit leaks``: CSP violations grouped by host, category and page, newest first."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest

from consentgate.audit.events import ConsentEvent
from consentgate.audit.leaks import collect_leaks, consent_state, group_violations, register, run
from consentgate.audit.stores import open_store
from consentgate.audit.writer import AuditWriter
from consentgate.cli import main
from consentgate.consent.state import Consent
from consentgate.http.csp_reports import Violation, classify, violation_event
from consentgate.policy.load import load_dict
from tests.audit.conftest import KEY, StoreCase, make_event

POLICY = load_dict(
    {
        "include_catalog": False,
        "services": {
            "gtm": {"name": "Tag Manager", "category": "analytics", "hosts": ["tags.example"]},
            "meta": {"name": "Meta Pixel", "category": "marketing", "hosts": ["pixel.example"]},
        },
    }
)
ANALYTICS = Consent.none().with_choice({"analytics"}, source="banner")
NOTHING = Consent.none().with_choice(set(), source="banner")


def event(
    blocked: str, page: str, consent: Consent | None, *, ts: int, directive: str = "img-src"
) -> ConsentEvent:
    violation = Violation(blocked, directive, f"https://shop.example{page}?q=1", "enforce", "", "report-uri")
    found = classify(violation, POLICY, consent)
    assert found is not None
    made = violation_event(
        POLICY, violation, found, state=consent, state_source="signed" if consent else "unknown"
    )
    return ConsentEvent(**{**made.to_dict(), "ts": ts})  # type: ignore[arg-type]


def sample_events(now_ms: int) -> list[ConsentEvent]:
    return [
        event("https://pixel.example/tr", "/shop", ANALYTICS, ts=now_ms - 5000),
        event("https://pixel.example/tr2", "/shop", NOTHING, ts=now_ms - 4000, directive="script-src-elem"),
        event("https://pixel.example/tr", "/shop", None, ts=now_ms - 3000),
        event("https://cdn.example/x.png", "/", None, ts=now_ms - 2000),
        event("https://pixel.example/tr", "/cart", ANALYTICS, ts=now_ms - 1000),
        make_event(1, ts=now_ms - 500),  # a consent event: not a violation
    ]


def test_groups_by_host_category_and_page_newest_first_with_the_worst_verdict() -> None:
    groups = group_violations(e.to_dict() for e in sample_events(10_000_000))
    assert [(g.host, g.page) for g in groups] == [
        ("pixel.example", "/cart"),
        ("cdn.example", "/"),
        ("pixel.example", "/shop"),
    ]
    shop = groups[2]
    assert shop.count == 3 and shop.verdict == "leak" and shop.category == "marketing"
    assert shop.service == "meta" and shop.service_name == "Meta Pixel"
    assert shop.directives == {"img-src", "script-src-elem"}
    assert shop.granted == {"analytics", "none", "unknown"}
    assert shop.first_ts == 10_000_000 - 5000 and shop.last_ts == 10_000_000 - 3000
    assert groups[1].verdict == "unclassified" and groups[1].category == "unknown"


def test_leaks_only_drops_unclassified_hosts() -> None:
    groups = group_violations((e.to_dict() for e in sample_events(10_000_000)), leaks_only=True)
    assert {g.host for g in groups} == {"pixel.example"}


def test_consent_state_names_what_was_granted() -> None:
    assert consent_state({"necessary": True, "analytics": False}) == "none"
    assert consent_state({"marketing": True, "analytics": True}) == "analytics,marketing"
    assert consent_state(None) == "unknown"


async def write(url: str, events: list[ConsentEvent]) -> None:
    writer = AuditWriter(url, key=KEY)
    await writer.start()
    for item in events:
        assert writer.enqueue(item)
    await writer.stop()


async def test_leaks_are_read_from_every_store(store_case: StoreCase) -> None:
    import time

    now = int(time.time() * 1000)
    await write(store_case.url, sample_events(now))
    store = open_store(store_case.url)
    await store.open()
    try:
        groups = await collect_leaks(store, since_ms=now - 60_000)
        recent = await collect_leaks(store, since_ms=now - 2500)
    finally:
        await store.close()
    assert [(g.host, g.page, g.count) for g in groups] == [
        ("pixel.example", "/cart", 1),
        ("cdn.example", "/", 1),
        ("pixel.example", "/shop", 3),
    ]
    assert [(g.host, g.page) for g in recent] == [("pixel.example", "/cart"), ("cdn.example", "/")]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    import time

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    asyncio.run(write(url, sample_events(int(time.time() * 1000))))
    return url


def test_the_command_prints_one_json_object_per_group(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "leaks", "--store", sqlite_url, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(g["host"], g["page"], g["verdict"]) for g in lines] == [
        ("pixel.example", "/cart", "leak"),
        ("cdn.example", "/", "unclassified"),
        ("pixel.example", "/shop", "leak"),
    ]
    assert lines[2]["granted"] == ["analytics", "none", "unknown"] and lines[2]["enforced"] is True


def test_the_command_prints_a_table(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "leaks", "--store", sqlite_url, "--leaks-only", "--limit", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["LAST", "SEEN", "(UTC)"]
    assert (
        "Meta Pixel (meta)" in out[1] and "pixel.example" in out[1] and "/cart" in out[1] and "leak" in out[1]
    )
    assert out[2] == "... 1 more groups (use --limit)"


def test_an_empty_log_says_so(tmp_path: Path) -> None:
    assert main(["audit", "migrate", "--store", f"sqlite:///{tmp_path / 'empty.db'}"]) == 0
    out = io.StringIO()
    args = argparse.Namespace(
        store=f"sqlite:///{tmp_path / 'empty.db'}", days=0, leaks_only=False, limit=10, json=False
    )
    assert run(args, out) == 0
    assert out.getvalue().startswith("No CSP violations")


def test_a_bad_store_url_or_bad_numbers_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "leaks", "--store", "ftp://nowhere"]) == 2
    assert main(["audit", "leaks", "--store", "sqlite:///x.db", "--days", "-1"]) == 2
    assert "audit leaks" in capsys.readouterr().err


def test_registers_beside_other_audit_commands() -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")
    audit = subparsers.add_parser("audit")
    audit.add_subparsers(dest="audit_command").add_parser("verify")
    register(subparsers)
    assert parser.parse_args(["audit", "leaks", "--store", "x"]).func is run
    assert parser.parse_args(["audit", "verify"]).audit_command == "verify"


def test_audit_alone_prints_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 2
    assert "leaks" in capsys.readouterr().out


async def test_the_dashboard_shows_leaks_of_the_period(tmp_path: Path) -> None:
    import time
    from datetime import UTC, datetime

    from consentgate.audit.dashboard import render_dashboard

    now = int(time.time() * 1000)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    old = event("https://pixel.example/old", "/archive", ANALYTICS, ts=now - 40 * 86_400_000)
    await write(url, [*sample_events(now), old])
    store = open_store(url)
    await store.open()
    try:
        html = await render_dashboard(store, {"days": "7"}, policy=POLICY, today=datetime.now(UTC).date())
    finally:
        await store.close()
    section = html[html.index('id="leaks-title"') : html.index('id="chain-title"')]
    assert "2 leak(s)." in section
    rows = section.split("<tr>")[2:]
    assert len(rows) == 3 and "/archive" not in section
    assert (
        "pixel.example" in rows[0] and "/cart" in rows[0] and "Meta Pixel" in rows[0] and ">leak<" in rows[0]
    )
    assert "cdn.example" in rows[1] and "unclassified" in rows[1]
    assert "analytics | none | unknown" in rows[2] and "img-src, script-src-elem" in rows[2]


async def test_the_dashboard_says_when_there_are_no_reports(tmp_path: Path) -> None:
    from consentgate.audit.dashboard import render_dashboard

    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    await store.open()
    try:
        html = await render_dashboard(store, {}, policy=POLICY)
    finally:
        await store.close()
    assert "No CSP violation reports in this period." in html
