"""What an operator or a data protection officer runs into first: a key file ending in a
newline, a mistyped store path, the store URL in the environment. None of them may make a sound
log look forged, nor an empty log look sound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consentgate.audit.chain import load_key
from consentgate.audit.signing import key_id
from consentgate.audit.stores import open_store
from consentgate.cli import main
from consentgate.http.middleware import ConsentGate
from tests.http.test_durable_consent import KEY as SECRET
from tests.http.test_durable_consent import POLICY, SAME_ORIGIN, app, client

AUDIT_KEY = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEF"


async def test_a_log_written_with_a_key_file_ending_in_a_newline_verifies_with_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The docs' recipe: ``audit_key=open("audit.key", "rb").read()`` of a file that
    ``print()`` or an editor wrote; ``--key-file`` reads the same file."""
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(AUDIT_KEY + b"\n")
    url = f"sqlite:///{tmp_path}/audit.db"
    middleware = ConsentGate(
        app, secret_keys=[SECRET], policy=POLICY, audit=url, audit_key=key_file.read_bytes()
    )
    async with client(middleware) as http:
        for action in ("accept_all", "withdraw"):
            response = await http.post("/_consentgate/consent", json={"action": action}, headers=SAME_ORIGIN)
            assert response.status_code == 200
    await middleware.audit.stop()
    # (The command runs its own event loop: in a thread, as from a shell.)
    assert (
        await asyncio.to_thread(main, ["audit", "verify", "--store", url, "--key-file", str(key_file)]) == 0
    )
    assert "OK: 1 chains, 2 records verified" in capsys.readouterr().out


@pytest.mark.parametrize(
    "key", [AUDIT_KEY + b"\n", AUDIT_KEY + b"\r\n", b"  " + AUDIT_KEY, AUDIT_KEY.decode() + "\n"]
)
def test_white_space_around_a_key_is_not_part_of_it(key: bytes | str) -> None:
    assert load_key(key) == AUDIT_KEY


def test_a_key_of_white_space_padding_is_still_too_short() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_key(b"short" + b" " * 40)


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["audit", "export", "--format", "jsonl"],
        ["audit", "stats"],
        ["audit", "cookies"],
        ["audit", "heads"],
        ["audit", "purge", "--dry-run"],
        ["audit", "notice", "0" * 64],
        ["audit", "leaks"],
    ],
    ids=lambda argv: argv[1],
)
@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_command_on_a_mistyped_path_says_there_is_no_log_and_creates_none(
    command: list[str], scheme: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "consent.db"
    assert main([*command, "--store", f"{scheme}:///{missing}"]) == 2
    err = capsys.readouterr().err
    assert "no audit log at" in err and str(missing) in err
    assert not (tmp_path / "no").exists()


def test_migrate_still_creates_a_new_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new" / "consent.db"
    assert main(["audit", "migrate", "--store", f"sqlite:///{path}"]) == 0
    assert path.is_file()
    assert main(["audit", "verify", "--store", f"sqlite:///{path}"]) == 0
    assert "OK: 0 chains" in capsys.readouterr().out


def test_leaks_takes_the_store_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "consent.db"
    assert main(["audit", "migrate", "--store", f"sqlite:///{path}"]) == 0
    monkeypatch.setenv("CONSENTGATE_AUDIT_STORE", f"sqlite:///{path}")
    assert main(["audit", "leaks"]) == 0
    monkeypatch.delenv("CONSENTGATE_AUDIT_STORE")
    assert main(["audit", "leaks"]) == 2
    assert "no store" in capsys.readouterr().err


def _seed_years_ago(url: str, years: float, events: int, key_file: Path) -> None:
    from tests.audit.test_commands import _seed

    _seed(url, events, ts=int((time.time() - years * 365.25 * 86400) * 1000))


@pytest.fixture
def audit_key_file(tmp_path: Path) -> Path:
    from tests.audit.conftest import KEY

    path = tmp_path / "audit.key"
    path.write_bytes(KEY + b"\n")
    return path


def test_a_dry_run_counts_what_the_purge_then_deletes(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed_years_ago(url, 6, 12, audit_key_file)
    args = ["audit", "purge", "--store", url, "--key-file", str(audit_key_file), "--older-than", "3y"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "(12 records)" in out and "would delete 12 records" in out
    assert main(args) == 0
    assert "deleted 12 records" in capsys.readouterr().out
    # Twice: from the purge checkpoint on, nothing more is due.
    assert main([*args, "--dry-run"]) == 0
    assert "would delete 0 records" in capsys.readouterr().out


def test_purge_keeps_records_for_the_retention_the_policy_declares(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[audit] retention = "8 years"` in the site's policy: records 6 years old (and their
    consents ended long ago) stay; the default of 3 years would delete them."""
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed_years_ago(url, 6, 5, audit_key_file)
    policy = tmp_path / "consentgate.toml"
    policy.write_text('[audit]\nretention = "8 years"\n')
    base = ["audit", "purge", "--store", url, "--key-file", str(audit_key_file)]
    assert main([*base, "--policy", str(policy)]) == 0
    assert "deleted 0 records older than 2920 days" in capsys.readouterr().out
    # An explicit --older-than wins over the policy; without either, 3 years.
    assert main([*base, "--policy", str(policy), "--older-than", "3y", "--dry-run"]) == 0
    assert "would delete 5 records older than 1095 days" in capsys.readouterr().out
    assert main([*base, "--dry-run"]) == 0
    assert "would delete 5 records older than 1095 days" in capsys.readouterr().out
    policy.write_text('[audit]\nretention = "forever"\n')
    assert main([*base, "--policy", str(policy)]) == 2
    assert "--policy" in capsys.readouterr().err


def test_a_wrong_or_missing_key_is_not_reported_as_tampering(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.audit.test_commands import _seed

    monkeypatch.delenv("CONSENTGATE_AUDIT_KEY", raising=False)
    url = f"sqlite:///{tmp_path}/audit.db"
    _seed(url, 6)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("w" * 40)
    for key_args in (["--key-file", str(wrong)], []):
        assert main(["audit", "verify", "--store", url, *key_args]) == 3
        out = capsys.readouterr().out
        assert "unverified" in out and "--key-file it was written with" in out
        assert "edited" not in out and "forged" not in out
    # The right key after the wrong one (a retired key listed first) verifies.
    assert (
        main(["audit", "verify", "--store", url, "--key-file", str(wrong), "--key-file", str(audit_key_file)])
        == 0
    )
    capsys.readouterr()
    # A purge with the wrong key skips the chain and says why; nothing is deleted.
    assert main(["audit", "purge", "--store", url, "--key-file", str(wrong), "--older-than", "1 day"]) == 1
    assert "--key-file it was written with" in capsys.readouterr().err
    # An export checked with the wrong key: not "every row broken".
    export = tmp_path / "out.jsonl"
    argv = ["audit", "export", "--store", url, "--format", "jsonl", "-o", str(export)]
    assert main([*argv, "--key-file", str(audit_key_file)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify-export", str(export), "--key-file", str(wrong)]) == 3
    out = capsys.readouterr().out
    assert out.count("UNVERIFIED") == 1 and "BROKEN" not in out
    assert f"signed with key id {key_id(load_key(audit_key_file.read_bytes()) or b'')}" in out
    assert main(["audit", "verify-export", str(export), "--key-file", str(audit_key_file)]) == 0


def test_edits_with_the_right_key_are_still_tampering_however_many(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.audit.conftest import StoreCase
    from tests.audit.test_commands import _seed

    case = StoreCase("sqlite", f"sqlite:///{tmp_path}/audit.db", path=tmp_path / "audit.db")
    _seed(case.url, 6)
    case.edit(1, "region", "US")
    case.edit(2, "region", "US")  # the first two: a key problem would look the same so far
    assert main(["audit", "verify", "--store", case.url, "--key-file", str(audit_key_file)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN chain" in out and "at seq 1" in out and "unverified" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["export", "--action", "bogus"], "invalid choice: 'bogus'"),
        (["export", "--since", "2026-11-29", "--until", "2026-11-28"], "is not after --since"),
        (["export", "-o", "/nonexistent-dir/x.jsonl"], "--output: no directory /nonexistent-dir"),
    ],
    ids=["unknown-action", "empty-period", "output-directory"],
)
def test_an_export_that_could_only_come_out_empty_or_fail_says_why(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    assert main(["audit", "migrate", "--store", url]) == 0
    command, *options = extra
    with pytest.raises(SystemExit) if "bogus" in options else contextlib.nullcontext():
        assert main(["audit", command, "--store", url, *options]) == 2
    err = capsys.readouterr().err
    assert message in err and "store is unavailable" not in err


def test_verify_against_a_heads_file_without_heads_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    assert main(["audit", "migrate", "--store", url]) == 0
    heads = tmp_path / "heads.json"
    heads.write_text("{}")
    assert main(["audit", "verify", "--store", url, "--heads", str(heads)]) == 2
    assert "is not a heads document" in capsys.readouterr().err
    # What `audit heads` writes for an empty log is a heads document: it verifies.
    assert main(["audit", "heads", "--store", url]) == 0
    heads.write_text(capsys.readouterr().out)
    assert main(["audit", "verify", "--store", url, "--heads", str(heads)]) == 0


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<script src="https://www.google-analytics.com/analytics.js"></script>\n' * 5000)
    done = subprocess.run(
        f"{shlex.quote(sys.executable)} -m consentgate.cli scan {shlex.quote(str(page))} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "[\n"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from consentgate import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    from consentgate.html import accel

    rewriter = "C speed-ups" if accel.AVAILABLE else "pure Python"
    assert capsys.readouterr().out.strip() == f"consentgate {__version__} (HTML rewriter: {rewriter})"


def test_version_says_when_the_rewriter_runs_in_pure_python() -> None:
    """An operator can tell whether the install compiled the C speed-ups (a machine without a
    compiler, or CONSENTGATE_PURE_PYTHON=1, runs the pure-Python rewriter)."""
    from consentgate.html import accel

    code = "from consentgate.cli import main; main(['--version'])"
    for pure, said in (("1", "pure Python"), ("", "C speed-ups" if accel.AVAILABLE else "pure Python")):
        env = {**os.environ, "CONSENTGATE_PURE_PYTHON": pure}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(f"(HTML rewriter: {said})")


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_a_new_log_is_readable_by_its_owner_only(
    tmp_path: Path, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.audit.test_commands import _seed

    os.umask(0o022)  # the usual umask: new files readable by every local user
    path = tmp_path / "logs" / f"consent.{'db' if scheme == 'sqlite' else 'jsonl'}"
    _seed(f"{scheme}:///{path}", 3)
    # (The JSONL store's empty lock file holds nothing.)
    written = [p for p in path.parent.iterdir() if p.name.startswith("consent.") and p.suffix != ".lock"]
    assert path in written
    for file in written:  # the database, its WAL and shared-memory files, the notices file
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, (file.name, oct(file.stat().st_mode))


def test_an_unreachable_postgres_is_named_once_with_the_reason_and_no_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.browser_kit import free_port

    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/test"
    assert main(["audit", "verify", "--store", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line: not one per retry of the pool
    assert "cannot connect to postgresql://postgres:***@127.0.0.1" in err and "Connection refused" in err
    assert "s3cret" not in err


def test_a_forged_chain_beside_sound_ones_is_forged_not_a_key_problem(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records inserted by someone without the key form a chain none of whose records
    verifies; the rest of the log verifies with the key given, so the key is right."""
    from consentgate.audit.chain import Sealer
    from tests.audit.conftest import make_event
    from tests.audit.test_commands import _seed

    url = f"sqlite:///{tmp_path}/audit.db"
    _seed(url, 5)
    forger = Sealer(b"f" * 40)

    async def inject() -> None:
        store = open_store(url)
        await store.open()
        await store.write(forger.seal(make_event(i, ts=1_760_000_100_000 + i) for i in range(2)))
        await store.close()

    asyncio.run(inject())
    assert main(["audit", "verify", "--store", url, "--key-file", str(audit_key_file)]) == 1
    out = capsys.readouterr().out
    assert "forged" in out and "unverified" not in out


def test_a_purged_jsonl_log_and_a_spool_stay_owner_only(
    tmp_path: Path, audit_key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from consentgate.audit.chain import Sealer
    from consentgate.audit.spool import Spool
    from tests.audit.conftest import KEY, make_event

    os.umask(0o022)
    path = tmp_path / "consent.jsonl"
    url = f"jsonl:///{path}"
    _seed_years_ago(url, 6, 4, audit_key_file)
    assert (
        main(["audit", "purge", "--store", url, "--key-file", str(audit_key_file), "--older-than", "3y"]) == 0
    )
    assert "deleted 4 records" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealer = Sealer(KEY)
    spool = Spool(tmp_path / "spool", sealer.chain_id)
    spool.add(
        [
            sealer.seal_one(make_event(0))
            if hasattr(sealer, "seal_one")
            else next(iter(sealer.seal([make_event(0)])))
        ]
    )
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    spool.close()
