"""The three outputs: terminal summary, JSON, and the self-contained HTML page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import html5lib
import pytest

from consentgate.policy.model import Policy
from consentgate.selftest import SelftestResult, assess, render_html, summary_text, to_json
from consentgate.selftest.report import write_html
from tests.browser_kit import chromium

pytestmark = pytest.mark.browser


def parse(text: str) -> ET.Element:
    tree: ET.Element = html5lib.parse(text, namespaceHTMLElements=False)
    return tree


def cells(row: ET.Element) -> list[str]:
    return [" ".join("".join(cell.itertext()).split()) for cell in row.findall("td")]


def table(document: ET.Element, selector: str, phase: str) -> list[list[str]]:
    for element in document.iter("table"):
        if element.get("class") == selector and element.get("data-phase") == phase:
            return [cells(row) for row in element.iter("tr") if row.findall("td")]
    raise AssertionError(f"no table.{selector}[data-phase={phase}]")


def verdict_line(text: str) -> str:
    return text.splitlines()[-1]


def test_summary_names_each_phase_the_findings_and_the_verdict(leaky_result: SelftestResult) -> None:
    text = summary_text(leaky_result)
    for label in (
        "Before any choice",
        "After “Reject all”",
        "After “Accept all”",
        "After withdrawing consent",
    ):
        assert label in text
    assert "x [reject] CG-10 reject-not-on-first-layer" in text
    violations, warnings = len(leaky_result.assessment.violations), len(leaky_result.assessment.warnings)
    assert verdict_line(text) == f"Result: FAIL: {violations} violation(s), {warnings} warning(s)"


def test_clean_summary_passes(clean_result: SelftestResult) -> None:
    assert verdict_line(summary_text(clean_result)) == "Result: PASS: no violations, 0 warning(s)"


def test_json_holds_every_observation_and_finding(leaky_result: SelftestResult) -> None:
    data = json.loads(json.dumps(to_json(leaky_result)))
    assert data["result"] == "fail" and data["exit_code"] == 1
    assert data["counts"]["violations"] == len(leaky_result.assessment.violations)
    assert len(data["findings"]) == len(leaky_result.assessment.findings)
    phases = {p["phase"]: p for p in data["phases"]}
    assert list(phases) == ["before", "reject", "accept", "withdraw"]
    reject = phases["reject"]
    assert reject["observed"]["choice"]["clicks"] == 2
    assert reject["observed"]["banner"]["reject_label"] is None
    assert any(r["host"] == "localhost" for r in reject["observed"]["requests"])
    assert {c["cookie"]["name"] for c in phases["before"]["cookie_rows"]} == {"_ga", "_tracker_id", "mystery"}
    assert all("value" not in c["cookie"] for c in phases["before"]["cookie_rows"])  # values never kept


def test_html_report_tables_match_the_findings(leaky_result: SelftestResult) -> None:
    document = parse(render_html(leaky_result))
    verdict = next(e for e in document.iter("div") if e.get("id") == "verdict")
    assert "".join(verdict.itertext()).startswith("FAIL")
    summary = next(e for e in document.iter("table") if e.get("id") == "summary")
    assert [row.get("data-phase") for row in summary.iter("tr") if row.get("data-phase")] == [
        "before",
        "reject",
        "accept",
        "withdraw",
    ]
    findings = next(e for e in document.iter("table") if e.get("id") == "findings")
    rows = [row for row in findings.iter("tr") if row.get("data-rule")]
    assert [(r.get("data-phase"), r.get("data-rule")) for r in rows] == [
        (f.phase, f.rule) for f in leaky_result.assessment.findings
    ]
    hosts = table(document, "hosts", "before")
    localhost = next(row for row in hosts if row[0] == "localhost")
    assert localhost[1:3] == ["Local tracker", "marketing"] and localhost[-1] == "violation"
    assert int(localhost[3]) == next(
        h.requests for h in leaky_result.assessment.phases[0].hosts if h.host == "localhost"
    )
    cookies = {row[0]: row for row in table(document, "cookies", "before")}
    assert cookies["_ga"][3].startswith("header") and cookies["_ga"][-1] == "violation"
    assert cookies["mystery"][-1] == "unclassified"
    assert [row[-1] for row in table(document, "cookies", "withdraw")] == ["not judged"] * 4


def test_html_report_is_self_contained(leaky_result: SelftestResult) -> None:
    text = render_html(leaky_result)
    document = parse(text)
    for tag in ("script", "link", "img", "iframe", "object", "embed"):
        assert list(document.iter(tag)) == [], tag
    assert all(e.get("src") is None for e in document.iter())
    hrefs = [e.get("href") for e in document.iter("a")]
    assert hrefs and all(h is not None and h.startswith("#phase-") for h in hrefs)


def test_every_value_from_the_site_is_escaped(leaky_result: SelftestResult, site_policy: Policy) -> None:
    evil = '<img src=x onerror="alert(1)">'
    before = leaky_result.crawl.phases[0]
    cookie = replace(before.cookies[0], name=evil, set_by=f"javascript:{evil}")
    page = replace(before.pages[0], url=f"http://127.0.0.1/{evil}", error=f"</td><script>{evil}")
    hostile = replace(before, cookies=(cookie, *before.cookies[1:]), pages=(page,))
    phases = (hostile, *leaky_result.crawl.phases[1:])
    result = replace(
        leaky_result,
        crawl=replace(leaky_result.crawl, phases=phases),
        assessment=assess(phases, site_policy, site_host=leaky_result.crawl.site_host),
    )
    document = parse(render_html(result))
    assert list(document.iter("img")) == [] and list(document.iter("script")) == []
    text = "".join(document.itertext())
    assert evil in text and f"</td><script>{evil}" in text


def test_html_report_renders_in_chromium_without_any_request(
    leaky_result: SelftestResult, chromium_path: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    write_html(leaky_result, report)
    requested: list[str] = []
    with chromium(chromium_path) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(report.as_uri())
        assert page.locator("#verdict").inner_text().startswith("FAIL")
        assert page.locator("table.cookies").count() == 4
        page.screenshot(path=tmp_path / "report.png", full_page=True)
    assert requested == [report.as_uri()]
    assert (tmp_path / "report.png").stat().st_size > 10_000
