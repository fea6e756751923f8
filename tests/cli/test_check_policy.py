from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.cli import main


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "consentgate.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_valid_policy_exits_0_with_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        'version = "2026-11"\n[services.matomo]\ncategory = "analytics"\nhosts = ["stats.example.com"]\n',
    )
    assert main(["check-policy", path]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK (version 2026-11, fingerprint " in out
    assert "services: 1 declared" in out
    assert "analytics (" in out


def test_every_problem_is_printed_with_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """gpc = "yes"
[services.hotjar-own]
category = "analytic"
[regions]
UK = "opt_in"
""",
    )
    assert main(["check-policy", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}:1: gpc: expected a boolean")
    assert err[1].startswith(f"{path}:3: services.hotjar-own.category: unknown category 'analytic'")
    assert err[2].startswith(f"{path}:5: regions.UK:")
    assert err[3] == f"{path}: 3 problems; the policy was not loaded"


def test_a_syntax_error_is_reported_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, 'version = "1"\nversion = "2"\n')
    assert main(["check-policy", path]) == 1
    assert capsys.readouterr().err.startswith(f"{path}:2: not valid TOML")


def test_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-policy", str(tmp_path / "nope.toml")]) == 1
    assert "cannot read the policy" in capsys.readouterr().err


def test_risky_settings_are_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        'cookie_wall = true\ngpc = false\nunknown_third_party = "allow"\n'
        '[consent_mode]\nmode = "advanced"\nurl_passthrough = true\n',
    )
    assert main(["check-policy", path]) == 0
    err = capsys.readouterr().err
    for setting in ("cookie_wall", "gpc", "unknown_third_party", "consent_mode.mode", "url_passthrough"):
        assert setting in err
