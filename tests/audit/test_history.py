"""`consentgate audit history`: a DPO answers "what did visitor X choose, when, and what did the
banner say" from the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from consentgate.audit.chain import Sealer
from consentgate.audit.history import consent_history
from consentgate.audit.notices import notice_digest
from consentgate.audit.stores import open_store
from consentgate.audit.stores.base import Store
from consentgate.cli import main

from .conftest import KEY, StoreCase, make_event

OLD_NOTICE = {"texts": {"de": {"title": "Wir verwenden Cookies", "body": "Alte Fassung"}}}
NEW_NOTICE = {"texts": {"de": {"title": "Wir verwenden Cookies", "body": "Neue Fassung"}}}
ALL = {"necessary": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "analytics": False, "marketing": False}


async def _visitor(store: Store) -> None:
    """Alice accepts under the old notice, withdraws under the new one; Bob in between."""
    old, new = notice_digest(OLD_NOTICE), notice_digest(NEW_NOTICE)
    events = [
        make_event(0, consent_id="alice", action="accept_all", categories=ALL, notice_hash=old, ts=3000),
        make_event(1, consent_id="bob", action="reject_all", categories=NONE, notice_hash=old, ts=2000),
        make_event(2, consent_id="alice", action="withdraw", categories=NONE, notice_hash=new, ts=5000),
    ]
    await store.write(Sealer(KEY).seal(events))
    await store.put_notice(old, OLD_NOTICE, 1000)
    await store.put_notice(new, NEW_NOTICE, 4000)


async def test_a_history_is_one_consents_events_in_order_with_the_notices_shown(store: Store) -> None:
    await _visitor(store)
    history = await consent_history(store, "alice", KEY)
    assert [event["action"] for event in history.events] == ["accept_all", "withdraw"]
    assert history.checks == ("verified", "verified")
    assert {doc["doc"]["texts"]["de"]["body"] for doc in history.notices.values()} == {  # type: ignore[index]
        "Alte Fassung",
        "Neue Fassung",
    }


async def test_an_edited_row_shows_in_the_history(store_case: StoreCase, store: Store) -> None:
    await _visitor(store)
    store_case.edit(3, "region", "US")
    history = await consent_history(store, "alice", KEY)
    assert history.checks == ("verified", "MISMATCH")
    assert (await consent_history(store, "alice", None)).checks == ("not checked", "not checked")


def _seed(url: str) -> None:
    async def write() -> None:
        store = open_store(url)
        await store.open()
        try:
            await _visitor(store)
        finally:
            await store.close()

    asyncio.run(write())


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "audit.key"
    path.write_bytes(KEY + b"\n")
    return str(path)


def test_the_command_prints_choices_and_notice_texts(
    tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed(url)
    # Pasted from an e-mail: white space around the id is not part of it.
    assert main(["audit", "history", "--store", url, "--key-file", key_file, " alice\n"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("consent id alice: 2 events, oldest first")
    assert out.index("accept_all") < out.index("withdraw") and "bob" not in out
    assert "categories: analytics=yes marketing=yes necessary=yes" in out
    assert out.count("[row verified]") == 2
    assert "Alte Fassung" in out and "Neue Fassung" in out
    assert "archived under its own SHA-256" in out
    assert main(["audit", "history", "--store", url, "--json", "alice"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [event["row_check"] for event in document["events"]] == ["not checked", "not checked"]
    assert len(document["notices"]) == 2


def test_an_unknown_consent_id_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed(url)
    assert main(["audit", "history", "--store", url, "Alice"]) == 1
    assert "no event of consent id 'Alice'" in capsys.readouterr().err


def test_an_export_of_a_pasted_consent_id_finds_its_rows_and_an_empty_one_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTGATE_AUDIT_KEY", KEY.decode())  # (signs the manifest: no warning)
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed(url)
    out = tmp_path / "alice.jsonl"
    argv = ["audit", "export", "--store", url, "--format", "jsonl", "-o", str(out)]
    assert main([*argv, "--consent-id", "alice "]) == 0
    assert len(out.read_text().splitlines()) == 2
    assert "warning" not in capsys.readouterr().err
    assert main([*argv, "--consent-id", "carol"]) == 0
    assert "warning: no event of consent id 'carol'" in capsys.readouterr().err
