"""``consentgate selftest`` against the demo, end to end: the real demo started the way ``make
demo`` starts it (a subprocess, on free ports) passes; a leaky variant of it (leaky_demo.py) fails,
each fault reported in the phase where it happens."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser_kit import RunningDemo, consentgate_command, run_demo, serve

from .leaky_demo import LEAKED_COOKIE, leaky_site

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "examples" / "demo" / "consentgate.toml"
PHASES = ("before", "reject", "accept", "withdraw")


@dataclass(frozen=True)
class Report:
    exit_code: int
    output: str
    data: dict[str, Any]

    def findings(self, severity: str = "violation") -> list[dict[str, Any]]:
        return [f for f in self.data["findings"] if f["severity"] == severity]

    def phase(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(p for p in self.data["phases"] if p["phase"] == name)
        return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    workdir = tmp_path_factory.mktemp("demo")
    with run_demo(workdir, "--data-dir", str(workdir / "var")) as running:
        yield running


def _selftest(url: str, json_path: Path, chromium: str) -> subprocess.Popen[str]:
    argv = [*consentgate_command(), "selftest", url, "--pages", "4", "--policy", str(POLICY)]
    env = {**os.environ, "CONSENTGATE_CHROMIUM": chromium}
    return subprocess.Popen(
        [*argv, "--json", str(json_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def reports(
    demo: RunningDemo, chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Report]:
    """Both sites tested at once (two browsers): the runs mostly wait on page loads."""
    out = tmp_path_factory.mktemp("selftest")
    urls = demo.urls
    app = leaky_site(urls["analytics"], urls["ads"], urls["video"], secrets.token_urlsafe(32))
    with serve(app) as leaky_port:
        runs = {
            "demo": _selftest(urls["site"] + "/", out / "demo.json", chromium_path),
            "leaky": _selftest(f"http://127.0.0.1:{leaky_port}/", out / "leaky.json", chromium_path),
        }
        results: dict[str, Report] = {}
        for name, process in runs.items():
            try:
                output, _ = process.communicate(timeout=75)
            except subprocess.TimeoutExpired:
                for running in runs.values():
                    running.kill()
                    running.communicate()
                pytest.fail(f"consentgate selftest of the {name} site took more than 75 s")
            path = out / f"{name}.json"
            assert path.is_file(), f"no JSON report for the {name} site:\n{output}"
            results[name] = Report(process.returncode, output, json.loads(path.read_text(encoding="utf-8")))
    return results


def test_the_demo_passes_with_exit_0_and_no_violation_in_any_phase(reports: dict[str, Report]) -> None:
    report = reports["demo"]
    assert report.exit_code == 0, report.output
    assert report.data["result"] == "pass" and report.data["counts"]["violations"] == 0
    assert report.findings() == []
    for name in PHASES:
        phase = report.phase(name)
        assert phase["judged"], f"{name} was not judged (no choice made?)\n{report.output}"
        rows = [*phase["hosts"], *phase["cookie_rows"], *phase["storage_rows"]]
        assert [row for row in rows if row["verdict"] == "violation"] == [], name


def test_the_demo_run_exercised_every_choice_and_its_trackers(reports: dict[str, Report]) -> None:
    # A pass means something only if the choices were made and the trackers did run once allowed.
    report = reports["demo"]
    assert report.phase("before")["third_party_requests_judged"] == 0
    assert report.phase("reject")["third_party_requests_judged"] == 0
    assert report.phase("accept")["third_party_requests_judged"] > 0
    accepted = {row["host"] for row in report.phase("accept")["hosts"] if row["third_party"]}
    assert {"127.0.0.2", "127.0.0.3"} <= accepted


def test_the_leaky_demo_fails_with_exit_1(reports: dict[str, Report]) -> None:
    report = reports["leaky"]
    assert report.exit_code == 1, report.output
    assert report.data["result"] == "fail"


def test_a_tracker_outside_consentgates_reach_is_a_request_before_consent(reports: dict[str, Report]) -> None:
    (finding,) = [
        f for f in reports["leaky"].findings() if f["rule"] == "tracker-request" and f["phase"] == "before"
    ]
    assert (finding["subject"], finding["service_id"], finding["category"]) == (
        "127.0.0.3",
        "pinecone-ads",
        "marketing",
    )
    assert any("/slot.js?via=leak" in url for url in finding["evidence"])


def test_consentgate_still_blocks_the_trackers_it_can_reach(reports: dict[str, Report]) -> None:
    # Only the leak is blamed: the demo's own analytics stays blocked until "Accept all".
    blamed = {
        (f["phase"], f["subject"]) for f in reports["leaky"].findings() if f["rule"] == "tracker-request"
    }
    assert ("before", "127.0.0.2") not in blamed and ("reject", "127.0.0.2") not in blamed
    assert ("reject", "127.0.0.3") in blamed  # the leak ignores the refusal too


def test_a_server_cookie_outside_the_firewall_is_a_cookie_before_consent(reports: dict[str, Report]) -> None:
    cookies = [f for f in reports["leaky"].findings() if f["subject"].startswith(f"{LEAKED_COOKIE} ")]
    before = [f for f in cookies if f["phase"] == "before"]
    assert [(f["rule"], f["requirement"], f["category"]) for f in before] == [
        ("cookie", "CG-03", "analytics")
    ]
    assert "Set-Cookie header" in before[0]["message"]
    assert "reject" in {f["phase"] for f in cookies}


def test_a_reject_button_hidden_in_the_second_layer_is_reported_in_the_reject_phase(
    reports: dict[str, Report],
) -> None:
    (finding,) = [f for f in reports["leaky"].findings() if f["rule"] == "reject-not-on-first-layer"]
    assert (finding["phase"], finding["requirement"]) == ("reject", "CG-10")
    # Still reachable two layers down, which is why it is a finding and not a failure to reject.
    assert len(finding["evidence"]) >= 2
    assert reports["leaky"].phase("reject")["judged"]
