"""`consentgate audit …` as an operator runs it: exit codes and what is printed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from consentgate.audit.chain import Sealer
from consentgate.audit.stores import open_store
from consentgate.cli import main

from .conftest import KEY, StoreCase, make_event

DAY = 86_400_000


def _seed(url: str, events: int = 20, *, ts: int | None = None) -> Sealer:
    sealer = Sealer(KEY)

    async def write() -> None:
        store = open_store(url)
        await store.open()
        base = ts if ts is not None else 1_760_000_000_000
        await store.write(sealer.seal(make_event(i, ts=base + i) for i in range(events)))
        await store.put_notice("n" * 64, {"texts": {"en": {"title": "Cookies"}}}, 1)
        await store.close()

    asyncio.run(write())
    return sealer


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "audit.key"
    path.write_bytes(KEY + b"\n")
    return str(path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/audit.db"


def test_verify_passes_then_names_the_edited_record(
    tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = StoreCase("sqlite", f"sqlite:///{tmp_path}/audit.db", path=tmp_path / "audit.db")
    _seed(case.url)
    assert main(["audit", "verify", "--store", case.url, "--key-file", key_file]) == 0
    assert "OK: 1 chains, 20 records verified (keyed HMAC-SHA256)" in capsys.readouterr().out
    case.edit(7, "region", "US")
    assert main(["audit", "verify", "--store", case.url, "--key-file", key_file]) == 1
    out = capsys.readouterr().out
    assert "BROKEN chain" in out and "at seq 7" in out and "edited" in out


def test_verify_takes_the_key_from_the_environment_and_published_heads(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONSENTGATE_AUDIT_KEY", KEY.decode())
    monkeypatch.setenv("CONSENTGATE_AUDIT_STORE", sqlite_url)
    _seed(sqlite_url)
    assert main(["audit", "heads"]) == 0
    heads = tmp_path / "heads.json"
    heads.write_text(capsys.readouterr().out)
    assert main(["audit", "verify", "--heads", str(heads)]) == 0
    capsys.readouterr()
    StoreCase("sqlite", sqlite_url, path=tmp_path / "audit.db").delete(20)
    assert main(["audit", "verify", "--heads", str(heads), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"][0]["kind"] == "truncated"


def test_export_writes_the_file_manifest_and_notices_and_they_verify(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url)
    out = tmp_path / "proof.jsonl"
    args = ["audit", "export", "--store", sqlite_url, "--format", "jsonl", "--consent-id", "consent-3"]
    assert main([*args, "--since", "2025-01-01", "-o", str(out)]) == 0
    assert out.exists() and Path(f"{out}.manifest.json").exists() and Path(f"{out}.notices.json").exists()
    assert [json.loads(line)["consent_id"] for line in out.read_text().splitlines()] == ["consent-3"]
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 0
    out.write_text(out.read_text().replace("consent-3", "consent-4"))
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 1
    assert "BROKEN" in capsys.readouterr().out


def test_purge_deletes_old_records_and_verify_stays_green(
    sqlite_url: str, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url, 10, ts=1_000_000_000_000)  # 2001
    args = ["audit", "purge", "--store", sqlite_url, "--key-file", key_file, "--older-than", "3y"]
    assert main([*args, "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out
    assert main(args) == 0
    assert "deleted 10 records" in capsys.readouterr().out
    assert main(["audit", "verify", "--store", sqlite_url, "--key-file", key_file]) == 0


def test_stats_and_cookies_print_tables_and_json(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(sqlite_url)
    assert main(["audit", "stats", "--store", sqlite_url]) == 0
    table = capsys.readouterr().out
    assert "2025-10-09" in table and "DE" in table
    assert main(["audit", "stats", "--store", sqlite_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["choices"] == 20
    assert main(["audit", "cookies", "--store", sqlite_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_migrate_creates_the_postgres_schema(pg_schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "migrate", "--store", pg_schema]) == 0
    assert "created audit schema" in capsys.readouterr().out
    assert main(["audit", "migrate", "--store", pg_schema]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["audit", "verify", "--store", pg_schema]) == 0
    assert "plain SHA-256" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "verify"], "no store"),
        (["audit", "verify", "--store", "mysql://x"], "is not sqlite"),
        (["audit", "export", "--store", "sqlite:///x.db", "--since", "soon"], "is not a time"),
        (["audit", "purge", "--store", "sqlite:///x.db", "--older-than", "3 fortnights"], "--older-than"),
        (["audit", "verify-export", "missing.csv"], "no such file"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CONSENTGATE_AUDIT_STORE", raising=False)
    monkeypatch.delenv("CONSENTGATE_AUDIT_KEY", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_short_key_file_is_refused(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short.key"
    short.write_text("too-short")
    assert main(["audit", "verify", "--store", sqlite_url, "--key-file", str(short)]) == 2
    assert "--key-file must be at least 32 bytes" in capsys.readouterr().err
