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


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            'gpc = true\n[theme]\nlight = { fg = "#ffffff", bg = "#ffffff" }\n',
            3,
            "theme.light.fg",
            "contrast",
        ),
        ('[theme]\nradius = "huge"\n', 2, "theme.radius", "CSS length"),
        ('[theme]\nlight = { background = "#ffffff" }\n', 2, "theme.light.background", "unknown theme key"),
        (
            'languages = ["en"]\n\n[notice.en]\nbanner_titel = "x"\n',
            4,
            "notice.en.banner_titel",
            "banner_title",
        ),
        ('languages = ["xx-YY"]\n', 1, "notice.xx-YY", "no built-in texts"),
    ],
    ids=["contrast", "radius", "palette-key", "notice-key", "language-without-texts"],
)
def test_what_the_middleware_would_refuse_at_start_up_is_refused_here_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, key: str, message: str
) -> None:
    """check-policy promises the middleware starts with what it passes: the banner's theme
    and texts are built as the middleware builds them."""
    path = write(tmp_path, text)
    assert main(["check-policy", path]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}: {key}: " in err and message in err
    assert "Traceback" not in err


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "consentgate.toml"
    path.write_bytes(b"\xef\xbb\xbfgpc = true\n")
    assert main(["check-policy", str(path)]) == 0
    assert ": OK (" in capsys.readouterr().out


def test_a_file_not_in_utf8_names_the_line_and_the_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "consentgate.toml"
    path.write_bytes(b'gpc = true\n[notice.fr]\nbanner_title = "Caf\xe9"\n')  # Latin-1 from an old editor
    assert main(["check-policy", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: not UTF-8: byte 0xe9 (column 20)" in err


@pytest.mark.parametrize(
    ("code", "accepted"),
    [
        ("US-CA", True),
        ("US-DC", True),
        ("US-PR", True),
        ("CA-QC", True),
        ("FR-75", True),
        ("DE-BY", True),
        ("US-ZZ", False),
        ("US-CAL", False),
        ("CA-XX", False),
    ],
)
def test_a_made_up_us_or_canadian_subdivision_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, accepted: bool
) -> None:
    """State and provincial laws are written per subdivision there: a typo would never match a
    visitor and silently leave the default rule in force."""
    path = write(tmp_path, f'[regions]\n"{code}" = "opt_out"\n')
    assert main(["check-policy", path]) == (0 if accepted else 1)
    if not accepted:
        assert f"{path}:2: regions.{code}: " in capsys.readouterr().err
