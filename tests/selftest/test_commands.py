"""``consentgate selftest``: flags, exit codes (0 clean, 1 violations, 2 cannot run), outputs."""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
import pytest

from consentgate.cli import build_parser, main

from .selftest_sites import Sites


@pytest.fixture
def browser_env(monkeypatch: pytest.MonkeyPatch, chromium_path: str) -> None:
    monkeypatch.setenv("CONSENTGATE_CHROMIUM", chromium_path)


def test_selftest_is_a_cli_command_with_the_documented_defaults() -> None:
    args = build_parser().parse_args(["selftest", "https://www.example.com/"])
    assert callable(args.func)
    assert (args.pages, args.region, args.region_header, args.gpc, args.timeout) == (
        10,
        None,
        "CF-IPCountry",
        False,
        15.0,
    )
    assert args.phases == ("before", "reject", "accept", "withdraw")


@pytest.mark.parametrize(
    "flags",
    [
        ["--pages", "0"],
        ["--pages", "ten"],
        ["--region", "France"],
        ["--region-header", "Bad Header"],
        ["--timeout", "-1"],
        ["--phases", "before,later"],
    ],
)
def test_bad_flags_are_usage_errors(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["selftest", "http://127.0.0.1/", *flags])
    assert exited.value.code == 2
    assert "selftest" in capsys.readouterr().err


def test_region_codes_are_normalised_to_upper_case() -> None:
    args = build_parser().parse_args(
        ["selftest", "http://127.0.0.1/", "--region", "us-ca", "--phases", "accept,before"]
    )
    assert args.region == "US-CA" and args.phases == ("before", "accept")


def test_a_url_that_is_not_http_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest", "file:///etc/passwd"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_missing_chromium_exits_2_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CONSENTGATE_CHROMIUM", str(tmp_path / "no-chromium"))
    assert main(["selftest", "http://127.0.0.1:9/"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install chromium" in err and "CONSENTGATE_CHROMIUM" in err


def test_a_bad_policy_file_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "consentgate.toml"
    policy.write_text('[services.x]\ncategory = "nonsense"\n', encoding="utf-8")
    assert main(["selftest", "http://127.0.0.1:9/", "--policy", str(policy)]) == 2
    assert "services.x.category" in capsys.readouterr().err


@pytest.mark.browser
def test_an_unreachable_site_exits_2(
    browser_env: None, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["selftest", f"http://127.0.0.1:{free_port}/", "--pages", "1", "--phases", "before"]) == 2
    assert "could not load" in capsys.readouterr().err


@pytest.mark.browser
def test_clean_site_exits_0_and_writes_json_and_html(
    browser_env: None, sites: Sites, policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_html = tmp_path / "out.json", tmp_path / "out.html"
    code = main(
        [
            "selftest",
            sites.clean,
            "--pages",
            "1",
            "--phases",
            "before,reject",
            "--policy",
            str(policy_file),
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ]
    )
    assert code == 0, capsys.readouterr().out
    assert "Result: PASS" in capsys.readouterr().out
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert (data["result"], data["policy"]["source"]) == ("pass", str(policy_file))
    assert [p["phase"] for p in data["phases"]] == ["before", "reject"]
    document = html5lib.parse(out_html.read_text(encoding="utf-8"), namespaceHTMLElements=False)
    assert {t.get("data-phase") for t in document.iter("table") if t.get("class") == "pages"} == {
        "before",
        "reject",
    }


@pytest.mark.browser
def test_leaky_site_exits_1(
    browser_env: None, sites: Sites, policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["selftest", sites.leaky, "--pages", "1", "--phases", "before", "--policy", str(policy_file)])
    assert code == 1
    out = capsys.readouterr().out
    assert "x [before] CG-03 cookie: cookie _ga" in out and "Result: FAIL" in out


@pytest.mark.browser
def test_an_invalid_css_selector_exits_2(
    browser_env: None, sites: Sites, policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--pages", "1", "--phases", "before,reject", "--policy", str(policy_file)]
    assert main(["selftest", sites.clean, *flags, "--reject-selector", "b[["]) == 2
    assert "'b[['" in capsys.readouterr().err


@pytest.mark.browser
def test_selectors_find_controls_the_names_would_miss(
    browser_env: None, sites: Sites, policy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    flags = ["--phases", "reject", "--pages", "1", "--policy", str(policy_file), "--json", str(out)]
    selectors = ["--accept-selector", "#acc", "--reject-selector", "#rej"]
    assert main(["selftest", sites.leaky, *flags, *selectors]) == 1
    reject = json.loads(out.read_text(encoding="utf-8"))["phases"][0]["observed"]
    assert reject["banner"]["found_by"] == "selector"
    # Found, but hidden on the first layer: still not a first-layer reject control.
    assert reject["banner"]["reject_label"] is None
    assert reject["choice"]["steps"] == ["Settings", "Reject all"]
