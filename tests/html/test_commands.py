from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from consentgate.cli import main

PAGE = (
    b"<html><head>\n"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
    b"</head><body>\n"
    b'<iframe src="https://www.youtube.com/embed/x"></iframe>\n'
    b'<script src="/app.js"></script>\n'
    b"</body></html>\n"
)


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    path = tmp_path / "page.html"
    path.write_bytes(PAGE)
    return path


def test_scan_prints_each_tracker_relevant_element_as_json(
    page_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", str(page_file)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["line"], r["element"], r["host"], r["category"], r["service"], r["rule"]) for r in rows] == [
        (2, "script", "www.googletagmanager.com", "analytics", "google-tag-manager", "host"),
        (4, "iframe", "www.youtube.com", "marketing", "youtube", "host"),
    ]


def test_scan_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(PAGE)))
    assert main(["scan", "-"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_scan_says_strictly_necessary_services_run_without_consent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "checkout.html"
    page.write_bytes(
        b'<script src="https://js.stripe.com/v3/"></script>\n'
        b'<script src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
    )
    assert main(["scan", str(page)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["service"], r["category"], r["action"]) for r in rows] == [
        ("stripe", "necessary", "allowed"),
        ("google-tag-manager", "analytics", "blocked"),
    ]


def run_rewrite(args: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> bytes:
    assert main(["rewrite", *args]) == 0
    return capsysbinary.readouterr().out


def test_rewrite_without_consent_neutralises_trackers(
    page_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = run_rewrite([str(page_file)], capsysbinary)
    assert out.count(b"data-consentgate-blocked") == 2 and b'<script src="/app.js">' in out


def test_rewrite_grants_listed_categories(
    page_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = run_rewrite([str(page_file), "--grant", "analytics"], capsysbinary)
    assert out.count(b"data-consentgate-blocked") == 1 and b'data-consentgate-service="youtube"' in out
    assert run_rewrite([str(page_file), "--grant", "all"], capsysbinary) == PAGE


def test_rewrite_uses_a_policy_file(
    tmp_path: Path, page_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    policy = tmp_path / "consentgate.toml"
    policy.write_text('unknown_third_party = "block"\n')
    page_file.write_bytes(b'<script src="https://cdn.nobody-knows.example/x.js"></script>')
    # Blocked as the policy says (without it, the default "report" lets it run)...
    assert b'type="text/plain"' in run_rewrite(
        [str(page_file), "--policy", str(policy), "--grant", "none"], capsysbinary
    )
    assert b'type="text/plain"' not in run_rewrite([str(page_file), "--grant", "none"], capsysbinary)
    # ...until what an unknown host counts as (marketing) is granted.
    assert b'type="text/plain"' in run_rewrite(
        [str(page_file), "--policy", str(policy), "--grant", "analytics"], capsysbinary
    )
    assert b'type="text/plain"' not in run_rewrite(
        [str(page_file), "--policy", str(policy), "--grant", "marketing"], capsysbinary
    )


def test_bad_grant_and_missing_file_exit_with_2(page_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rewrite", str(page_file), "--grant", "statistics"]) == 2
    assert "statistics" in capsys.readouterr().err
    assert main(["scan", str(page_file.parent / "missing.html")]) == 2


@pytest.mark.parametrize("command", ["scan", "rewrite"])
def test_a_url_is_answered_with_how_to_read_a_live_page(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "https://shop.example/"]) == 2
    err = capsys.readouterr().err
    assert (
        "not a URL" in err
        and f"curl -s https://shop.example/ | consentgate {command} - --host shop.example" in err
    )
