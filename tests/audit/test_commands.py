"""`consentgate audit …` as an operator runs it: exit codes and what is printed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from consentgate.audit.chain import Sealer
from consentgate.audit.signing import key_id, sign_manifest
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
    assert main([*args, "--since", "2025-01-01", "-o", str(out), "--key-file", key_file]) == 0
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


def test_verify_says_which_chains_were_purged_by_retention(
    sqlite_url: str, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # "0 records verified" alone cannot be told from a deletion: the report names the purge.
    _seed(sqlite_url, 10, ts=1_000_000_000_000)  # 2001: expired

    async def recent() -> None:
        store = open_store(sqlite_url)
        await store.open()
        await store.write(Sealer(KEY).seal(make_event(i, consent_id=f"recent-{i}") for i in range(5)))
        await store.close()

    asyncio.run(recent())
    assert main(["audit", "purge", "--store", sqlite_url, "--key-file", key_file, "--older-than", "3y"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--store", sqlite_url, "--key-file", key_file]) == 0
    out = capsys.readouterr().out
    assert "OK: 2 chains, 5 records verified (keyed HMAC-SHA256)" in out
    assert (
        "retention: 1 chains start after a signed purge checkpoint (10 older records deleted by purge; "
        "1 chains purged entirely); verified from there"
    ) in out


def test_verify_of_an_empty_log_says_it_is_empty(
    sqlite_url: str, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "migrate", "--store", sqlite_url]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--store", sqlite_url, "--key-file", key_file]) == 0
    assert "note: the log holds no records" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_truncated_export_fails_verification_with_status_1(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    _seed(sqlite_url)
    out = tmp_path / f"proof.{fmt}"
    assert (
        main(
            [
                "audit",
                "export",
                "--store",
                sqlite_url,
                "--format",
                fmt,
                "-o",
                str(out),
                "--key-file",
                key_file,
            ]
        )
        == 0
    )
    for cut in (0, 7, out.stat().st_size // 2):
        out.write_bytes(out.read_bytes()[:cut] if cut else b"")
        assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 1
        printed = capsys.readouterr()
        assert "SHA-256 differs from the manifest" in printed.out and "FAILED" in printed.out
        assert "Traceback" not in printed.err


def test_a_csv_file_export_has_a_bom_unless_asked_not_to(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url)
    with_bom, without = tmp_path / "excel.csv", tmp_path / "tools.csv"
    export = ["audit", "export", "--store", sqlite_url, "--key-file", key_file]
    assert main([*export, "-o", str(with_bom)]) == 0
    assert main([*export, "--no-bom", "-o", str(without)]) == 0
    assert with_bom.read_bytes().startswith(b"\xef\xbb\xbfevent_id,")
    assert without.read_bytes().startswith(b"event_id,")
    assert main(["audit", "verify-export", str(with_bom), "--key-file", key_file]) == 0
    assert main(["audit", "verify-export", str(without), "--key-file", key_file]) == 0
    capsys.readouterr()
    assert main(["audit", "export", "--store", sqlite_url]) == 0
    assert capsys.readouterr().out.startswith("event_id,")  # stdout is piped into tools: no BOM


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
        (["audit", "export", "--store", "sqlite:///x.db", "--since", "1738281600"], "epoch seconds"),
        (["audit", "export", "--store", "sqlite:///x.db", "-o", "."], "is a directory; name the file"),
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


def test_verify_names_jsonl_lines_that_are_not_records_once(
    tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # The newest record garbled leaves no gap in its chain: the only trace is the line itself.
    path = tmp_path / "events.jsonl"
    url = f"jsonl:///{path}"
    _seed(url, 10)
    lines = path.read_text("utf-8").splitlines(keepends=True)
    lines[-1] = lines[-1][:40] + "\n"
    path.write_text("".join(lines), "utf-8")
    assert main(["audit", "verify", "--store", url, "--key-file", key_file]) == 0
    out = capsys.readouterr().out
    assert "OK: 1 chains, 9 records verified" in out
    assert f"warning: lines 10 of {url} are not records and were skipped" in out
    assert sum("skipped a line" in record.getMessage() for record in caplog.records) == 1
    assert main(["audit", "verify", "--store", url, "--key-file", key_file, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unreadable_lines"] == [10]


@pytest.mark.parametrize(
    ("kind", "name"), [("sqlite", "audit.db"), ("sqlite", "audit.db-wal"), ("jsonl", "e.jsonl")]
)
def test_an_export_never_overwrites_the_log_it_reads(
    tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str], kind: str, name: str
) -> None:
    # A typo that used to truncate the whole log to 0 bytes before reading it.
    log = tmp_path / ("audit.db" if kind == "sqlite" else "e.jsonl")
    url = f"{kind}:///{log}"
    _seed(url, 20)
    before = log.read_bytes()
    assert main(["audit", "export", "--store", url, "-o", str(tmp_path / name)]) == 2
    assert "is a file of the audit log itself" in capsys.readouterr().err
    assert log.read_bytes() == before
    assert main(["audit", "verify", "--store", url, "--key-file", key_file]) == 0
    assert "20 records verified" in capsys.readouterr().out


def test_an_export_does_not_overwrite_another_sqlite_database(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url, 5)
    other = tmp_path / "other.db"
    _seed(f"sqlite:///{other}", 5)
    before = other.read_bytes()
    assert main(["audit", "export", "--store", sqlite_url, "-o", str(other)]) == 2
    assert "is a SQLite database, not an export" in capsys.readouterr().err
    assert other.read_bytes() == before


# --- signed exports, as a regulator checks them ---------------------------------------------------

ATTACKER_KEY = b"an-insiders-own-key-of-enough-length-012345"


def _seed_case(case: StoreCase) -> None:
    _seed(case.url)


def _tamper_row(out: Path) -> str:
    out.write_bytes(out.read_bytes().replace(b'"region":"DE"', b'"region":"US"', 1))
    return "SHA-256 differs from the manifest"


def _tamper_manifest(out: Path) -> str:
    manifest = Path(f"{out}.manifest.json")
    manifest.write_bytes(manifest.read_bytes().replace(b'"rows": 20', b'"rows": 21'))
    return "the manifest was changed after it was signed"


def _remove_signature(out: Path) -> str:
    Path(f"{out}.signature.json").unlink()
    return "proof.jsonl.signature.json is missing: the manifest says it was signed with key id"


def _resign_with_another_key(out: Path) -> str:
    manifest = Path(f"{out}.manifest.json")
    manifest.write_bytes(manifest.read_bytes().replace(b'"rows": 20', b'"rows": 21'))
    Path(f"{out}.signature.json").write_bytes(sign_manifest(manifest.read_bytes(), ATTACKER_KEY))
    return f"signed with key id {key_id(ATTACKER_KEY)}; none of the keys given (key ids {key_id(KEY)})"


@pytest.mark.parametrize(
    "tamper", [_tamper_row, _tamper_manifest, _remove_signature, _resign_with_another_key]
)
def test_verify_export_fails_with_status_1_and_names_the_tampering(
    store_case: StoreCase,
    tmp_path: Path,
    key_file: str,
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[Path], str],
) -> None:
    _seed_case(store_case)
    out = tmp_path / "proof.jsonl"
    argv = ["audit", "export", "--store", store_case.url, "--format", "jsonl", "-o", str(out)]
    assert main([*argv, "--key-file", key_file]) == 0
    assert f"manifest signed with key id {key_id(KEY)}" in capsys.readouterr().err
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 0
    printed = capsys.readouterr().out
    assert f"SIGNED manifest: HMAC-SHA256 by key id {key_id(KEY)}, signature holds" in printed
    assert "OK: 20 rows checked" in printed
    expected = tamper(out)
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 1
    printed = capsys.readouterr().out
    assert expected in printed and "FAILED" in printed
    # An edited row leaves the manifest, and its signature, sound: the row is what is named.
    assert ("signature holds" in printed) == (tamper is _tamper_row)
    if tamper is _tamper_row:
        assert "(chain " in printed and "does not match its hash" in printed


def test_a_signed_export_is_checked_with_the_key_file_alone(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a regulator receives: four files and a key. The log is gone (or never reachable).
    _seed(sqlite_url)
    out = tmp_path / "sent" / "proof.csv"
    out.parent.mkdir()
    assert main(["audit", "export", "--store", sqlite_url, "--key-file", key_file, "-o", str(out)]) == 0
    for path in tmp_path.glob("audit.db*"):
        path.unlink()
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "proof.csv",
        "proof.csv.manifest.json",
        "proof.csv.notices.json",
        "proof.csv.signature.json",
    ]
    capsys.readouterr()
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 0
    assert "signature holds" in capsys.readouterr().out


def test_an_export_without_a_key_warns_and_verifies_only_as_unsigned(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url)
    out = tmp_path / "proof.jsonl"
    assert main(["audit", "export", "--store", sqlite_url, "--format", "jsonl", "-o", str(out)]) == 0
    assert "warning: the manifest is not signed" in capsys.readouterr().err
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 1
    printed = capsys.readouterr().out
    assert "BROKEN proof.jsonl.signature.json is missing: the manifest is not signed" in printed
    assert main(["audit", "verify-export", str(out), "--key-file", key_file, "--allow-unsigned"]) == 0
    printed = capsys.readouterr().out
    assert "UNSIGNED manifest (accepted: --allow-unsigned)" in printed and "OK: 20 rows" in printed


def test_the_current_key_signs_and_a_retired_one_still_verifies_old_rows(
    sqlite_url: str, tmp_path: Path, key_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(sqlite_url)  # written with KEY, now retired
    new_key = tmp_path / "new.key"
    new_key.write_bytes(b"the-new-audit-key-after-rotation-0123456789\n")
    out = tmp_path / "proof.jsonl"
    export = ["audit", "export", "--store", sqlite_url, "--format", "jsonl", "-o", str(out)]
    assert main([*export, "--key-file", str(new_key), "--key-file", key_file]) == 0
    new_id = key_id(b"the-new-audit-key-after-rotation-0123456789")
    assert f"manifest signed with key id {new_id}" in capsys.readouterr().err
    assert main(["audit", "verify-export", str(out), "--key-file", str(new_key), "--key-file", key_file]) == 0
    assert f"by key id {new_id}, signature holds" in capsys.readouterr().out
    assert main(["audit", "verify-export", str(out), "--key-file", key_file]) == 1
    assert f"signed with key id {new_id}; none of the keys given" in capsys.readouterr().out
