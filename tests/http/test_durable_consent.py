"""A consent answer with a cookie means the choice is on disk: the save endpoint waits for the
audit writer's durable acknowledgement, and refuses (503, no cookie) when it does not come."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.audit.stores.sqlite import SQLiteStore
from consentgate.audit.writer import AuditWriter
from consentgate.http.endpoints import AuditSetup
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import BROWSER
from tests.sqlite_lock import locked

KEY = "k" * 32
POLICY = load_dict({})
SAME_ORIGIN = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("app")(scope, receive, send)


def client(middleware: ConsentGate) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware),
        base_url="http://testserver",
        headers={"user-agent": BROWSER},
    )


def stored(path: Path) -> list[tuple[str, str]]:
    """(consent_id, action) of every record, as another process reading the database sees it."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [(str(c), str(a)) for c, a in conn.execute("SELECT consent_id, action FROM audit_events")]


def slow_writer(tmp_path: Path, **options: Any) -> AuditWriter:
    # A flush interval no response could sit out: a row found right after the answer was
    # written because the endpoint asked for it, not because a timer happened to fire.
    store = SQLiteStore(tmp_path / "audit.db", busy_timeout=options.pop("busy_timeout", 2.0))
    return AuditWriter(store, key=b"k" * 32, spool_path=tmp_path / "spool", flush_interval=30.0, **options)


async def test_a_json_choice_is_in_the_database_when_the_answer_arrives(tmp_path: Path) -> None:
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=slow_writer(tmp_path))
    async with client(middleware) as http:  # no lifespan: the writer starts on this request
        response = await http.post(
            "/_consentgate/consent", json={"action": "accept_all"}, headers=SAME_ORIGIN
        )
        rows = stored(tmp_path / "audit.db")
    assert response.status_code == 200 and response.headers.get("set-cookie")
    assert rows == [(response.json()["state"]["consentId"], "accept_all")]
    await middleware.audit.stop()


async def test_a_form_choice_is_in_the_database_when_the_redirect_arrives(tmp_path: Path) -> None:
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=slow_writer(tmp_path))
    async with client(middleware) as http:
        token = (await http.get("/_consentgate/state")).json()["csrf"]
        response = await http.post(
            "/_consentgate/consent",
            data={"action": "reject_all", "csrf": token, "next": "/shop"},
            headers=SAME_ORIGIN,
        )
        rows = stored(tmp_path / "audit.db")
    assert response.status_code == 303 and response.headers.get("set-cookie")
    assert rows == [(token.partition(".")[0], "reject_all")]
    await middleware.audit.stop()


async def test_the_default_sqlite_setup_also_answers_only_after_the_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=f"sqlite:///{path}")
    async with client(middleware) as http:
        for action in ("accept_all", "reject_all", "withdraw"):
            response = await http.post("/_consentgate/consent", json={"action": action}, headers=SAME_ORIGIN)
            assert response.status_code == 200
            assert [a for _, a in stored(path)][-1] == action
    await middleware.audit.stop()


async def test_a_full_audit_queue_answers_503_with_a_reason_and_no_cookie(tmp_path: Path) -> None:
    writer = slow_writer(tmp_path, batch_size=1, max_queue=1)
    assert writer.enqueue(ConsentEvent(consent_id="earlier", action="save", categories={}))  # fills it
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=writer)
    async with client(middleware) as http:
        response = await http.post(
            "/_consentgate/consent", json={"action": "accept_all"}, headers=SAME_ORIGIN
        )
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    assert "could not be recorded" in response.json()["error"]
    assert middleware.counters["consent_unrecorded"] == 1
    await middleware.audit.stop()
    assert stored(tmp_path / "audit.db") == [("earlier", "save")]


async def test_an_unconfirmed_write_answers_503_and_no_cookie(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=slow_writer(tmp_path))
    middleware.audit.durable_timeout = 0.2  # the store waits 2 s for the lock before spooling
    async with client(middleware) as http:
        await middleware.audit.start()  # creates the database, so that it can be locked
        with locked(tmp_path / "audit.db"):
            response = await http.post(
                "/_consentgate/consent", json={"action": "accept_all"}, headers=SAME_ORIGIN
            )
    assert response.status_code == 503
    assert "set-cookie" not in response.headers
    assert "did not confirm it within 0.2 s" in response.json()["error"]
    assert "not confirmed durable" in caplog.text
    await middleware.audit.stop()


def test_the_durable_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="durable_timeout"):
        AuditSetup(None, audit_key=None, secret_key=KEY, durable_timeout=0)


def test_the_middleware_passes_its_durable_timeout_to_the_audit_setup() -> None:
    from consentgate.http.middleware import ConsentGate

    gate = ConsentGate(PlainTextResponse("ok"), secret_keys=[KEY], audit=MemorySink(), durable_timeout=1.5)
    assert gate.audit.durable_timeout == 1.5
    with pytest.raises(ValueError, match="durable_timeout"):
        ConsentGate(PlainTextResponse("ok"), secret_keys=[KEY], durable_timeout=-1)
