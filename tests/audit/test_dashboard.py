"""The consent dashboard: aggregates over a real SQLite store, the SVG chart, the page."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.requests import Request

from consentgate.audit.chain import Sealer
from consentgate.audit.dashboard import (
    Filters,
    Split,
    collect_overview,
    cookie_inventory,
    dashboard_app,
    outcome_of,
    rate_chart_svg,
    render_dashboard,
)
from consentgate.audit.events import ConsentEvent
from consentgate.audit.export import verify_export
from consentgate.audit.signing import key_id
from consentgate.audit.stores import Store, open_store
from consentgate.audit.stores.base import CookieRow
from consentgate.cli import main
from consentgate.policy.load import load_dict

from .conftest import StoreCase, fast_store

KEY = b"dashboard-test-key-" + b"k" * 32
TODAY = date(2026, 11, 20)
ALL = {"necessary": True, "preferences": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
SOME = {"necessary": True, "preferences": False, "analytics": True, "marketing": False}


def at(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def event(
    action: str, categories: dict[str, bool], day: date, region: str = "", cid: str = "c"
) -> ConsentEvent:
    return ConsentEvent(
        consent_id=cid,
        action=action,  # type: ignore[arg-type]
        categories=categories,
        ts=at(day),
        region=region,
        ui_action="banner." + action,
        ua_browser="Chrome 131",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/audit.db")
    await opened.migrate()
    await opened.open()
    yield opened
    await opened.close()


async def write(store: Store, events: Sequence[ConsentEvent], key: bytes | None = KEY) -> None:
    await store.write(Sealer(key).seal(sorted(events, key=lambda e: e.ts)))


def test_outcome_counts_only_optional_categories() -> None:
    assert outcome_of(ALL) == "accept"
    assert outcome_of(NONE) == "reject"
    assert outcome_of(SOME) == "partial"
    assert outcome_of({"necessary": True}) == "reject"
    assert outcome_of("not a map") == "reject"
    assert outcome_of(
        {"necessary": True, "security": True, "analytics": False}, frozenset({"necessary", "security"})
    ) == ("reject")


async def test_overview_splits_choices_by_day_region_and_category(store: Store) -> None:
    yesterday = TODAY - timedelta(days=1)
    await write(
        store,
        [
            event("accept_all", ALL, yesterday, "FR", "a"),
            event("reject_all", NONE, yesterday, "FR", "b"),
            event("save", SOME, TODAY, "DE", "c"),
            event("withdraw", NONE, TODAY, "DE", "a"),
            event("csp_violation", NONE, TODAY),
            event("accept_all", ALL, TODAY - timedelta(days=30), "FR", "old"),  # outside the period
        ],
    )
    overview = await collect_overview(store, TODAY - timedelta(days=6), TODAY)
    assert (overview.totals.accept, overview.totals.partial, overview.totals.reject) == (1, 1, 1)
    assert overview.withdrawals == 1 and overview.events == 5
    assert len(overview.days) == 7
    assert overview.days[yesterday].total == 2 and overview.days[TODAY].partial == 1
    assert overview.by_region["FR"].accept == 1 and overview.by_region["DE"].partial == 1
    assert overview.by_category["analytics"].granted == 2 and overview.by_category["analytics"].total == 3
    assert overview.by_category["marketing"].share == pytest.approx(1 / 3)
    assert "necessary" not in overview.by_category
    assert overview.totals.consent_rate == pytest.approx(2 / 3)


async def test_a_grant_made_before_any_decision_is_not_counted_as_a_reject(store: Store) -> None:
    # "Load content" on a first visit stores one service's grant with detail.decision = "pending":
    # the categories it leaves false were never asked about, so the split must not read a refusal.
    pending = ConsentEvent(
        consent_id="p",
        action="save",
        categories=NONE,
        services={"youtube": True},
        ts=at(TODAY),
        ui_action="embed.save",
        detail={"decision": "pending"},
    )
    await write(store, [pending, event("save", SOME, TODAY, "DE", "c")])
    overview = await collect_overview(store, TODAY - timedelta(days=6), TODAY)
    assert (overview.totals.accept, overview.totals.partial, overview.totals.reject) == (0, 1, 0)
    assert overview.events == 2 and overview.by_action["save"] == 2
    assert overview.by_category["analytics"].total == 1


def test_empty_split_has_zero_rates() -> None:
    assert Split().consent_rate == 0.0 and Split().share("accept") == 0.0


def test_bad_filter_values_are_ignored_and_named() -> None:
    filters = Filters.from_params(
        {
            "days": "0",
            "action": "drop_table",
            "since": "yesterday",
            "limit": "x",
            "region": " fr ",
            "until": "",
        }
    )
    assert filters.days == 30 and filters.action == "" and filters.since is None and filters.limit == 25
    assert filters.region == "FR"
    assert set(filters.ignored) == {"days", "action", "since", "limit"}


def test_filters_round_trip_through_the_query_string() -> None:
    filters = Filters.from_params({"days": "7", "action": "save", "consent_id": "abc", "until": "2026-11-20"})
    assert filters.params() == "days=7&action=save&consent_id=abc&until=2026-11-20"
    assert filters.params(consent_id="") == "days=7&action=save&until=2026-11-20"
    query = filters.query()
    assert query.actions == ("save",) and query.consent_id == "abc" and query.newest_first
    assert query.until == at(date(2026, 11, 21), 0)


def test_chart_has_one_bar_per_outcome_and_a_rate_line() -> None:
    days = {TODAY - timedelta(days=i): Split(accept=3, partial=1, reject=1 + i) for i in range(10)}
    svg = str(rate_chart_svg(days))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="bar bar-accept"') == 10 and svg.count('class="bar bar-reject"') == 10
    assert svg.count("<circle") == 10 and "<polyline" in svg
    assert '<desc id="chart-desc">' in svg and "consent rate" in svg
    bars = [
        (float(y), float(h))
        for y, h in re.findall(
            r'<rect class="bar[^"]*" x="[0-9.]+" y="([0-9.]+)" '
            r'width="[0-9.]+" height="([0-9.]+)"',
            svg,
        )
    ]
    assert len(bars) == 30
    # Every stack stays inside the plot area (the axis maximum is at least the tallest day).
    assert min(y for y, _ in bars) >= 14 and max(y + h for y, h in bars) <= 300 - 28 + 0.1


def test_chart_of_an_empty_period_says_so() -> None:
    svg = str(rate_chart_svg({TODAY: Split()}))
    assert "No consent choices in this period yet" in svg and "<rect" not in svg


def test_chart_escapes_nothing_it_should_not() -> None:
    # Labels come from dates only; the description is escaped text.
    svg = str(rate_chart_svg({}))
    assert "No data." in svg


def test_cookie_inventory_lists_unclassified_first_and_declared_cookies_never_seen() -> None:
    policy = load_dict(
        {
            "include_catalog": False,
            "services": {
                "stats": {
                    "name": "Stats",
                    "category": "analytics",
                    "cookies": [{"name": "_s_id"}, {"pattern": "_s_v\\..*"}, {"name": "_s_seen"}],
                }
            },
        }
    )
    rows = [
        CookieRow("_s_seen", "", "granted", "stats", 1, 2, 5),
        CookieRow("_s_v.1", "", "analytics", "stats", 1, 2, 1),
        CookieRow("mystery", "", "unknown_reported", "", 1, 2, 3),
        CookieRow("consentgate", "", "own", "", 1, 2, 9),
    ]
    views = cookie_inventory(rows, policy)
    assert [(v.name, v.classification, v.seen) for v in views] == [
        ("mystery", "unknown", True),
        ("_s_seen", "analytics", True),
        ("_s_v.1", "analytics", True),
        ("consentgate", "necessary", True),
        ("_s_id", "analytics", False),
    ]


async def test_page_shows_figures_events_chain_status_and_export_links(store: Store) -> None:
    await write(
        store,
        [
            event("accept_all", ALL, TODAY, "FR", "visitor-one"),
            event("reject_all", NONE, TODAY, "US-CA", "two"),
        ],
    )
    await store.record_cookies([CookieRow("ab_bucket", "", "unknown", "", at(TODAY), at(TODAY), 2)])
    html = await render_dashboard(store, {"days": "7"}, key=KEY, today=TODAY)
    assert "intact" in html and "Every record verifies: 2 records" in html
    assert "visitor-one"[:12] in html and "US-CA" in html
    assert "1 unclassified cookie(s)" in html and "ab_bucket" in html
    period = "since=2026-11-14&amp;until=2026-11-21"
    assert f'href="export?format=csv&amp;{period}&amp;bom=1"' in html
    assert f'href="export?format=jsonl&amp;{period}"' in html
    assert f'href="export?format=csv&amp;bundle=zip&amp;{period}"' in html
    assert "<svg" in html and "50%" in html


async def test_page_filters_events_by_region_and_consent(store: Store) -> None:
    await write(
        store,
        [
            event("accept_all", ALL, TODAY, "FR", "french-visitor"),
            event("save", SOME, TODAY, "DE", "german-visitor"),
        ],
    )
    by_region = await render_dashboard(store, {"region": "de"}, today=TODAY, key=KEY)
    assert "german-visi" in by_region and "french-visi" not in by_region
    by_consent = await render_dashboard(store, {"consent_id": "french-visitor"}, today=TODAY, key=KEY)
    assert "french-visi" in by_consent and "german-visi" not in by_consent
    nothing = await render_dashboard(store, {"action": "withdraw"}, today=TODAY, key=KEY)
    assert "No events match these filters." in nothing


async def test_page_reports_an_edited_record(store: Store, tmp_path: Path) -> None:
    await write(store, [event("reject_all", NONE, TODAY, "FR", f"v{i}") for i in range(3)])
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        # Make the record say "accepted" after the fact (the append-only trigger blocks UPDATE).
        conn.execute("DROP TRIGGER audit_events_append_only")
        conn.execute("UPDATE audit_events SET action = 'accept_all' WHERE seq = 2")
    html = await render_dashboard(store, {}, key=KEY, today=TODAY)
    assert "broken" in html and "The log has been altered" in html


async def test_page_with_the_wrong_key_does_not_claim_an_intact_chain(store: Store) -> None:
    await write(store, [event("accept_all", ALL, TODAY)])
    html = await render_dashboard(store, {}, key=b"another-key-" + b"x" * 32, today=TODAY)
    assert "Every record verifies" not in html


async def test_page_names_the_ignored_filters(store: Store) -> None:
    html = await render_dashboard(store, {"since": "soon"}, today=TODAY)
    assert "Ignored invalid filter values: since" in html


async def test_app_needs_the_auth_hook_for_the_page_and_the_exports(store: Store) -> None:
    await write(store, [event("accept_all", ALL, date.today(), "FR", "exported-visitor")])
    app = dashboard_app(store, auth="a-long-admin-token-0123", key=KEY, verify_ttl=60)
    admin = {"Authorization": "Bearer a-long-admin-token-0123"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as client:
        anonymous = await client.get("/")
        wrong = await client.get("/", headers={"Authorization": "Bearer not-the-token-at-all"})
        page = await client.get("/", headers=admin)
        other = await client.get("/?days=90", headers=admin)
        link = re.search(r'href="(export\?format=jsonl[^"]*)"', page.text)
        assert link is not None
        export = await client.get("/" + link.group(1).replace("&amp;", "&"), headers=admin)
        anonymous_export = await client.get("/" + link.group(1).replace("&amp;", "&"))
    assert anonymous.status_code == wrong.status_code == anonymous_export.status_code == 401
    assert page.status_code == 200 and "intact" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "checked 0 s ago" in page.text and "90 days" in other.text
    assert export.status_code == 200 and '"consent_id":"exported-visitor"' in export.text.replace(" ", "")


async def test_app_accepts_a_callable_auth_hook_and_refuses_short_tokens(store: Store) -> None:
    async def only_alice(request: Request) -> bool:
        return request.headers.get("x-user") == "alice"

    app = dashboard_app(store, auth=only_alice)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as client:
        assert (await client.get("/", headers={"x-user": "bob"})).status_code == 401
        assert (await client.get("/", headers={"x-user": "alice"})).status_code == 200
    with pytest.raises(ValueError, match="16 characters"):
        dashboard_app(store, auth="short")


async def test_app_says_when_the_store_is_unavailable(tmp_path: Path) -> None:
    broken = open_store(f"sqlite:///{tmp_path}/missing/dir/../../not-a-db.db")
    (tmp_path / "not-a-db.db").write_text("this is not a database")
    app = dashboard_app(broken, auth=lambda request: True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as client:
        response = await client.get("/")
    assert response.status_code == 503 and "unavailable" in response.text


async def test_the_csv_download_is_the_cli_export_file_byte_for_byte(
    store_case: StoreCase, tmp_path: Path
) -> None:
    # Excel users download from the dashboard: the same file the CLI writes, with the byte order
    # mark (else "/über-uns" shows as mojibake) and visitor-controlled formulas marked.
    shown = fast_store(store_case.url)
    await shown.open()
    try:
        traps = [("/über-uns", '=HYPERLINK("x")'), ("/Ελληνικά", "@SUM(1)"), ("/日本語", "DE")]
        await write(
            shown,
            [
                ConsentEvent(
                    consent_id=f"v{i}",
                    action="save",
                    categories=SOME,
                    ts=at(datetime.now(UTC).date(), 8 + i),
                    region=region,
                    path=path,
                    ui_action="banner.save",
                )
                for i, (path, region) in enumerate(traps)
            ],
        )
        app = dashboard_app(shown, auth="a-long-admin-token-0123", key=KEY)
        admin = {"Authorization": "Bearer a-long-admin-token-0123"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            page = await client.get("/", headers=admin)
            link = re.search(r'href="(export\?format=csv&amp;[^"]*)"', page.text)
            assert link is not None
            url = link.group(1).replace("&amp;", "&")
            download = await client.get("/" + url, headers=admin)
    finally:
        await shown.close()
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    params = dict(parse_qsl(url.partition("?")[2]))
    cli_file = tmp_path / "cli.csv"
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    argv = [
        "audit",
        "export",
        "--store",
        store_case.url,
        "--since",
        params["since"],
        "--until",
        params["until"],
    ]
    assert await asyncio.to_thread(main, [*argv, "--key-file", str(key_file), "-o", str(cli_file)]) == 0
    assert download.content == cli_file.read_bytes()
    assert download.content.startswith(b"\xef\xbb\xbfevent_id,")
    text = download.content.decode("utf-8-sig")
    assert "/über-uns" in text and "/Ελληνικά" in text
    assert '"\'=HYPERLINK(""x"")"' in text and ",'@SUM(1)," in text
    # Saved beside the CLI's manifest and signature, the download is that proven file.
    (tmp_path / "cli.csv").write_bytes(download.content)
    assert verify_export(cli_file, KEY).signed_by == key_id(KEY)
