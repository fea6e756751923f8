"""One suite for every store: SQLite, JSONL and a real PostgreSQL behave the same."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from types import MappingProxyType

import psycopg
import pytest

from consentgate.audit.chain import Sealer, verify
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.stores import StoreError, open_store
from consentgate.audit.stores.base import Checkpoint, CookieRow, PurgeRule, Query, Store, select_events
from consentgate.audit.stores.jsonl import JsonlStore
from consentgate.audit.stores.postgres import PostgresStore
from consentgate.audit.stores.sqlite import SQLiteStore

from .conftest import KEY, StoreCase, make_event
from .conftest import _case as store_case_of

DAY = 86_400_000


async def _all(store: Store, query: Query | None = None) -> list[dict[str, object]]:
    return [record async for record in store.read(query or Query())]


async def test_written_rows_read_back_in_time_order_with_every_field(store: Store) -> None:
    events = [make_event(i, ts=1_000_000 + (i * 7919) % 1000) for i in range(300)]
    rows = Sealer(KEY).seal(events)
    assert await store.write(rows[:150]) == 150
    assert await store.write(rows[150:]) == 150
    records = await _all(store)
    assert [(r["ts"], r["event_id"]) for r in records] == sorted((e.ts, e.event_id) for e in events)
    by_id = {r["event_id"]: r for r in records}
    first = by_id[events[0].event_id]
    assert set(first) == set(EVENT_FIELDS)
    assert first["categories"] == events[0].categories
    assert first["services"] == {"hotjar": True}
    assert first["sec_gpc"] is False and first["seq"] == 1 and first["prev_hash"] == ""


async def test_filters_by_time_consent_and_action(store: Store) -> None:
    events = [
        make_event(
            i, consent_id="alice" if i % 3 == 0 else "bob", action="withdraw" if i % 5 == 0 else "save"
        )
        for i in range(60)
    ]
    await store.write(Sealer(KEY).seal(events))
    base = events[0].ts
    alice = await _all(store, Query(consent_id="alice"))
    assert [r["event_id"] for r in alice] == [e.event_id for e in events if e.consent_id == "alice"]
    window = await _all(store, Query(since=base + 10, until=base + 20))
    assert [r["ts"] for r in window] == list(range(base + 10, base + 20))
    withdrawals = await _all(store, Query(actions=("withdraw",), consent_id="bob"))
    assert {r["action"] for r in withdrawals} == {"withdraw"}
    assert len(withdrawals) == sum(1 for e in events if e.action == "withdraw" and e.consent_id == "bob")
    assert await _all(store, Query(consent_id="nobody")) == []


async def test_newest_first_with_a_limit(store: Store) -> None:
    events = [make_event(i) for i in range(20)]
    await store.write(Sealer(KEY).seal(events))
    newest = await _all(store, Query(newest_first=True, limit=5))
    assert [r["event_id"] for r in newest] == [e.event_id for e in reversed(events)][:5]


async def test_replaying_rows_already_stored_adds_nothing(store: Store) -> None:
    rows = Sealer(KEY).seal(make_event(i) for i in range(50))
    await store.write(rows[:30])
    # A spool replay after a half-acknowledged write: the first 30 are there already.
    assert await store.write(rows, replay=True) == 20
    assert await store.write(rows, replay=True) == 0
    records = await _all(store)
    assert len(records) == 50
    assert len({r["event_id"] for r in records}) == 50


async def test_batches_of_any_size_are_stored_exactly_once(store: Store) -> None:
    # 1337 = 1024 + 256 + 32 + 16 + 8 + 1: every multi-row statement shape the SQLite store uses.
    rows = Sealer(KEY).seal(make_event(i) for i in range(2000))
    assert await store.write(rows[:1337]) == 1337
    assert await store.write(rows, replay=True) == 663
    records = await _all(store)
    assert sorted(str(r["event_id"]) for r in records) == sorted(str(row[0]) for row in rows)
    assert (await verify(store, KEY)).ok


async def test_text_columns_with_tabs_newlines_and_backslashes_round_trip(store: Store) -> None:
    """The indexed columns are written as COPY text (PostgreSQL) or bound values (SQLite): a
    separator inside one must come back as it went in, whichever column holds it."""
    odd = (
        ("event_id", "tab\t-in-the-id"),
        ("consent_id", "new\nline"),
        ("region", "carriage\rreturn"),
        ("action", "back\\slash"),
        ("region", "start\x01of-heading"),
    )
    sealer = Sealer(KEY)
    for index, (name, value) in enumerate(odd):  # one batch each: each must be caught alone
        await store.write(sealer.seal([make_event(10 * index), make_event(10 * index + 1, **{name: value})]))
    records = await _all(store)
    assert len(records) == 2 * len(odd)
    for name, value in odd:
        assert [r[name] for r in records].count(value) == 1
    [found] = await _all(store, Query(consent_id="new\nline"))
    assert found["consent_id"] == "new\nline"
    assert (await verify(store, KEY)).ok


async def test_read_chain_gives_the_hashed_map_text_in_seq_order(store: Store) -> None:
    sealer = Sealer(KEY)
    rows = sealer.seal(make_event(i, ts=5_000 - i) for i in range(40))  # time runs backwards
    await store.write(rows)
    chain = [r async for r in store.read_chain(sealer.chain_id)]
    assert [r["seq"] for r in chain] == list(range(1, 41))
    assert chain[0]["categories"] == rows[0][EVENT_FIELDS.index("categories")]
    assert isinstance(chain[0]["categories"], str)
    tail = [r["seq"] async for r in store.read_chain(sealer.chain_id, after_seq=35)]
    assert tail == [36, 37, 38, 39, 40]


async def test_chain_heads_name_each_writers_chain(store: Store) -> None:
    first, second = Sealer(KEY), Sealer(KEY)
    rows_a = first.seal(make_event(i) for i in range(10))
    rows_b = second.seal(make_event(i) for i in range(3))
    await store.write(rows_a)
    await store.write(rows_b)
    heads = {head.chain_id: head for head in await store.chain_heads()}
    assert set(heads) == {first.chain_id, second.chain_id}
    assert (heads[first.chain_id].first_seq, heads[first.chain_id].last_seq) == (1, 10)
    assert heads[first.chain_id].last_hash == first.prev_hash
    assert heads[second.chain_id].last_hash == second.prev_hash


async def test_unicode_and_odd_input_round_trip_and_verify(store: Store) -> None:
    odd = [
        make_event(1, path="/straße/日本/✓", detail={"blocked-uri": "https://x.example/ü"}),
        make_event(2, path="/nul\x00byte", detail={"k\x00": "v\x00"}),  # PostgreSQL text refuses NUL
        make_event(3, path="/surrogate\udcff"),
        make_event(4, consent_id="x" * 5000),  # indexed column: bounded
        # A caller that ignores the types must not poison the log (a batch that never stores).
        make_event(5, path=None, policy_version=3, sec_gpc=1, ts=1.7e12),
        make_event(6, categories=MappingProxyType({"analytics": True}), detail={"n": 1.5}),
    ]
    await store.write(Sealer(KEY).seal(odd))
    records = await _all(store)
    assert len(records) == 6
    typed = next(r for r in records if r["policy_version"] == "3")
    assert (typed["path"], typed["sec_gpc"], typed["ts"]) == ("", True, 1_700_000_000_000)
    paths = {r["path"] for r in records}
    assert "/straße/日本/✓" in paths and "/nul\ufffdbyte" in paths
    assert all(len(str(r["consent_id"])) <= 200 for r in records)
    assert (await verify(store, KEY)).ok


async def test_a_notice_is_archived_once_under_its_hash(store: Store) -> None:
    doc = {"texts": {"de": {"title": "Wir nutzen Cookies"}}, "categories": ["analytics"], "cookies": []}
    assert await store.put_notice("h1", doc, 1000) is True
    assert await store.put_notice("h1", {"texts": "other"}, 2000) is False
    stored = await store.get_notice("h1")
    assert stored is not None and stored.doc == doc and stored.first_seen == 1000
    assert await store.get_notice("unknown") is None


async def test_cookie_observations_add_up(store: Store) -> None:
    await store.record_cookies([CookieRow("_ga", ".example.com", "analytics", "google-analytics", 10, 20, 3)])
    await store.record_cookies(
        [
            CookieRow("_ga", ".example.com", "analytics", "google-analytics", 5, 30, 2),
            CookieRow("sid", "", "necessary", "", 7, 7, 1),
        ]
    )
    cookies = {(c.name, c.domain): c for c in await store.list_cookies()}
    ga = cookies[("_ga", ".example.com")]
    assert (ga.first_seen, ga.last_seen, ga.count) == (5, 30, 5)
    assert cookies[("sid", "")].classification == "necessary"


async def test_purge_removes_a_chain_prefix_and_keeps_the_checkpoint(store: Store) -> None:
    sealer = Sealer(KEY)
    rows = sealer.seal(make_event(i) for i in range(20))
    await store.write(rows)
    at_eight = rows[7][EVENT_FIELDS.index("hash")]
    checkpoint = Checkpoint(sealer.chain_id, 8, str(at_eight), 99, 98, "sig")
    assert await store.purge(checkpoint) == 8
    assert [r["seq"] async for r in store.read_chain(sealer.chain_id)] == list(range(9, 21))
    assert (await store.checkpoints())[sealer.chain_id] == checkpoint
    # An older checkpoint never replaces a newer one.
    await store.purge(Checkpoint(sealer.chain_id, 3, "x", 1, 1, "sig"))
    assert (await store.checkpoints())[sealer.chain_id].seq == 8


async def test_purge_plan_keeps_live_consents_protected_regions_and_what_follows(store: Store) -> None:
    old, new = 1_000 * DAY, 2_000 * DAY
    sealer = Sealer(KEY)
    events = [
        make_event(0, consent_id="gone-1", ts=old),
        make_event(1, consent_id="gone-2", ts=old + 1),
        make_event(2, consent_id="returning", ts=old + 2),  # same consent is used again later
        make_event(3, consent_id="gone-3", ts=old + 3),
        make_event(4, consent_id="returning", ts=new),
    ]
    await store.write(sealer.seal(events))
    us = Sealer(KEY)
    await store.write(us.seal([make_event(5, consent_id="us-1", ts=old, region="US-CA")]))
    rule = PurgeRule(delete_before=new, consent_live_since=new, protect_regions=("US",), protect_since=old)
    plans = {plan.chain_id: plan.upto_seq for plan in await store.plan_purge(rule)}
    assert plans == {sealer.chain_id: 2}  # seq 3 ("returning") stays, so everything after it does
    rule = PurgeRule(
        delete_before=new, consent_live_since=new, protect_regions=("US",), protect_since=old + 1
    )
    plans = {plan.chain_id: plan.upto_seq for plan in await store.plan_purge(rule)}
    assert plans[us.chain_id] == 1


# --- store-specific behaviour ----------------------------------------------------------------


def test_open_store_picks_the_store_from_the_url(tmp_path: Path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/a.db"), SQLiteStore)
    assert open_store("sqlite:///relative/a.db").path == Path("relative/a.db")  # type: ignore[attr-defined]
    assert open_store(f"sqlite:///{tmp_path}/a.db").path == tmp_path / "a.db"  # type: ignore[attr-defined]
    assert isinstance(open_store(f"jsonl:///{tmp_path}/e.jsonl"), JsonlStore)
    assert isinstance(open_store("events.jsonl"), JsonlStore)
    assert isinstance(open_store("consent.sqlite3"), SQLiteStore)
    pg = open_store("postgresql://app:s3cret@db.internal/consent")
    assert isinstance(pg, PostgresStore) and "s3cret" not in pg.url
    with pytest.raises(StoreError, match="sqlite:///path") as error:
        open_store("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(error.value)


async def test_sqlite_rows_cannot_be_updated_by_the_application(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a.db")
    await store.open()
    await store.write(Sealer(KEY).seal([make_event(1)]))
    await store.close()
    with (
        sqlite3.connect(tmp_path / "a.db") as conn,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        conn.execute("UPDATE audit_events SET action = 'accept_all'")


async def test_sqlite_refuses_an_unknown_schema_version(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("UPDATE audit_meta SET value = '99'")
    with pytest.raises(StoreError, match="schema version 99"):
        await store.open()


async def test_postgres_without_schema_names_the_migrate_command(pg_schema: str) -> None:
    store = open_store(pg_schema)
    with pytest.raises(StoreError, match="consentgate audit migrate"):
        await store.open()
    assert await store.migrate() != []
    assert await store.migrate() == []  # idempotent
    await store.open()
    await store.close()


async def test_postgres_rows_cannot_be_updated_or_truncated(pg_schema: str) -> None:
    store = open_store(pg_schema)
    await store.migrate()
    await store.open()
    await store.write(Sealer(KEY).seal([make_event(1)]))
    await store.close()
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE audit_events SET action = 'accept_all'")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("TRUNCATE audit_events")


async def test_jsonl_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    store = JsonlStore(path)
    await store.open()
    sealer = Sealer(KEY)
    await store.write(sealer.seal([make_event(1)]))
    with open(path, "ab") as handle:
        handle.write(b'{"event_id":"torn')  # the process died mid-append
    await store.write(sealer.seal([make_event(2)]))
    records = [r async for r in store.read(Query())]
    assert len(records) == 2
    assert (await verify(store, KEY)).ok
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["seq"] == 2
    await store.close()


# --- schema 1 (a column per field) is upgraded by migrate ---------------------------------------

_V1_TYPES = {"ts": "INTEGER", "seq": "INTEGER", "sec_gpc": "INTEGER", "dnt": "INTEGER"}


def _v1_rows(count: int) -> list[tuple[object, ...]]:
    rows = Sealer(KEY).seal([make_event(i, detail={"b": "é"}) for i in range(count)])
    return [row[: len(EVENT_FIELDS)] for row in rows]


async def test_migrate_upgrades_a_schema_1_sqlite_log_that_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    columns = ", ".join(f"{name} {_V1_TYPES.get(name, 'TEXT')} NOT NULL" for name in EVENT_FIELDS)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE audit_events ({columns})")
        conn.execute("CREATE UNIQUE INDEX audit_events_chain ON audit_events (chain_id, seq)")
        conn.execute("CREATE INDEX audit_events_consent ON audit_events (consent_id)")
        conn.execute("CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO audit_meta VALUES ('schema_version', '1')")
        marks = ", ".join("?" * len(EVENT_FIELDS))
        conn.executemany(f"INSERT INTO audit_events VALUES ({marks})", _v1_rows(12))
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="audit migrate"):
        await store.open()
    [message] = await store.migrate()
    assert "upgraded" in message and "12 events" in message
    assert await store.migrate() == []  # idempotent
    try:
        report = await verify(store, KEY)
        assert report.ok and report.records == 12, report.problems
        assert [r["detail"] for r in await _all(store, Query(limit=1))] == [{"b": "é"}]
    finally:
        await store.close()


async def test_migrate_upgrades_a_schema_1_postgres_log_that_still_verifies(pg_schema: str) -> None:
    kinds = {"ts": "BIGINT", "seq": "BIGINT", "sec_gpc": "BOOLEAN", "dnt": "BOOLEAN"}
    kinds.update(dict.fromkeys(("categories", "services", "detail"), "JSON"))
    columns = ", ".join(f"{name} {kinds.get(name, 'TEXT')} NOT NULL" for name in EVENT_FIELDS)
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE audit_events ({columns}, PRIMARY KEY (chain_id, seq))".encode())
        conn.execute("CREATE INDEX audit_events_ts ON audit_events (ts)")
        conn.execute("CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO audit_meta VALUES ('schema_version', '1')")
        marks = ", ".join("%s" for _ in EVENT_FIELDS)
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO audit_events VALUES ({marks})".encode(), _v1_rows(7))
    store = open_store(pg_schema)
    with pytest.raises(StoreError, match="audit migrate"):
        await store.open()
    [message] = await store.migrate()
    assert "upgraded" in message and "7 events" in message
    assert await store.migrate() == []
    try:
        await store.open()
        report = await verify(store, KEY)
        assert report.ok and report.records == 7, report.problems
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_case(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    return await store_case_of(request.param, request, tmp_path)


async def test_a_column_that_disagrees_with_the_record_text_is_reported(sql_case: StoreCase) -> None:
    """The SQL stores filter on columns: a column edited alone must not pass verification."""
    store_case = sql_case
    store = open_store(store_case.url)
    await store.open()
    try:
        await store.write(Sealer(KEY).seal([make_event(i) for i in range(5)]))
        store_case.execute("UPDATE audit_events SET region = 'US-CA' WHERE seq = 2")
        [problem] = (await verify(store, KEY)).problems
        assert (problem.kind, problem.seq) == ("edited", 2)
    finally:
        await store.close()


class _OldSQLite(SQLiteStore):
    """A SQLite build from before 3.32: at most 999 bound values per statement."""

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        return conn


async def test_sqlite_batches_fit_an_old_librarys_limit_on_bound_values(tmp_path: Path) -> None:
    store = _OldSQLite(tmp_path / "old-lib.db")
    await store.open()
    try:
        rows = Sealer(KEY).seal(make_event(i) for i in range(1337))
        assert await store.write(rows) == 1337
        assert (await verify(store, KEY)).records == 1337
    finally:
        await store.close()


def _consent_plan(path: Path, consent_id: str) -> str:
    """How SQLite runs the store's own query for one consent id."""
    sql, params = select_events(Query(consent_id=consent_id), "?", consent_tail=8)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return " ".join(str(step[-1]) for step in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


async def test_sqlite_log_with_the_schema_2_consent_index_works_and_migrate_replaces_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "schema2.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    events = [make_event(i, consent_id="alice" if i % 4 == 0 else f"v-{i}") for i in range(40)]
    await store.write(Sealer(KEY).seal(events))
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:  # the index schema 2 was created with
        conn.execute("DROP INDEX audit_events_consent_tail")
        conn.execute("CREATE INDEX audit_events_consent ON audit_events (consent_id)")
        conn.commit()
    alice = [e.event_id for e in events if e.consent_id == "alice"]

    await store.open()  # still works as it is, and says how to get the smaller index
    assert "consentgate audit migrate" in caplog.text
    assert [r["event_id"] for r in await _all(store, Query(consent_id="alice"))] == alice
    await store.write(Sealer(KEY).seal([make_event(99, consent_id="alice")]))
    await store.close()

    [message] = await store.migrate()
    assert "replaced the consent_id index" in message
    assert await store.migrate() == []  # idempotent
    assert "USING INDEX audit_events_consent_tail" in _consent_plan(path, "alice")
    try:
        await store.open()
        assert len(await _all(store, Query(consent_id="alice"))) == len(alice) + 1
        report = await verify(store, KEY)
        assert report.ok and report.records == 41, report.problems
    finally:
        await store.close()


def test_sqlite_synchronous_is_full_or_normal(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "a.db", synchronous="OFF")  # type: ignore[arg-type]
