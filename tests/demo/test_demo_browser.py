"""End to end in Chromium: ``consentgate demo`` started the way ``make demo`` starts it (a
subprocess, here on free ports), then a visitor refuses or accepts and the admin checks."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_kit import RunningDemo, run_demo

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-admin-password"
THIRD_PARTY_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    # Run from an empty folder: the demo must find examples/demo next to the source checkout and
    # keep its data in ./var there, like `make demo` does in the repository.
    env = dict(os.environ)
    for name in ("CONSENTGATE_SECRET_KEY", "CONSENTGATE_AUDIT_KEY", "CONSENTGATE_ADMIN_PASSWORD"):
        env.pop(name, None)
    with run_demo(tmp_path_factory.mktemp("demo"), "--admin-password", PASSWORD, env=env) as running:
        yield running
    assert running.process.returncode == 0, "\n".join(running.output)
    assert running.output[-1] == "consentgate demo stopped"


def _third_party(requests: list[str]) -> list[str]:
    return [url for url in requests if any(f"//{host}:" in url for host in THIRD_PARTY_HOSTS)]


def _cookie_names(context: Any) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def _wait_for_cookie(context: Any, name: str) -> None:
    # The consent cookie is HttpOnly: the page cannot see it, the browser context can.
    deadline = time.monotonic() + 10
    while name not in _cookie_names(context):
        assert time.monotonic() < deadline, f"{name} was never set"
        time.sleep(0.05)


def test_the_demo_prints_where_everything_is_and_generates_its_keys(demo: RunningDemo) -> None:
    text = "\n".join(demo.output)
    for url in demo.urls.values():
        assert url in text
    assert f"{demo.urls['site']}/admin/consent/" in text
    assert "generated one and saved it in var/secret.key" in text
    assert (demo.data_dir / "secret.key").is_file() and (demo.data_dir / "audit.key").is_file()


def test_nothing_third_party_runs_before_a_choice_and_everything_runs_after_accept(
    demo: RunningDemo, browser: Any
) -> None:
    context = browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    analytics_before, ads_before = len(demo.hits("analytics")), len(demo.hits("ads"))

    page.goto(demo.urls["site"] + "/shop", wait_until="networkidle")
    page.goto(demo.urls["site"] + "/articles/ridge-walks-for-short-days", wait_until="networkidle")
    page.goto(demo.urls["site"] + "/gear-finder?activity=hiking", wait_until="networkidle")
    assert _third_party(requests) == []
    assert _cookie_names(context) == set(), "not even the consent cookie before a choice"
    assert page.locator("[data-consentgate-banner]").is_visible()
    assert page.locator("#units").is_hidden(), "the preferences script has not run"

    page.goto(demo.urls["site"] + "/shop", wait_until="networkidle")
    page.locator("[data-consentgate-banner] [data-cg-action=accept_all]").click()
    # The runtime starts the allowed scripts in place, without a reload.
    page.locator("[data-pc-filled]").wait_for(timeout=10_000)
    page.wait_for_function("document.cookie.includes('_ts_uid=') && document.cookie.includes('_pc_id=')")
    assert (
        page.locator("[data-consentgate-banner]").count() == 0
        or page.locator("[data-consentgate-banner]").is_hidden()
    )
    assert page.locator("#units").is_visible(), "the site's own preferences script ran"

    page.goto(demo.urls["site"] + "/articles/ridge-walks-for-short-days", wait_until="networkidle")
    assert any(frame.url.startswith(demo.urls["video"] + "/embed/ridge-day") for frame in page.frames)
    page.goto(demo.urls["site"] + "/gear-finder", wait_until="networkidle")
    assert "_ts_sess" in _cookie_names(context), "the server-set analytics cookie now passes"

    assert len(demo.hits("analytics")) > analytics_before
    assert {"PageView", "impression"} <= {h["kind"] for h in demo.hits("ads")[ads_before:]}
    assert {"ridgeline_consent", "_ts_uid", "_pc_id", "_ts_sess"} <= _cookie_names(context)
    context.close()


def test_after_reject_all_nothing_third_party_runs_on_any_page(demo: RunningDemo, browser: Any) -> None:
    context = browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(demo.urls["site"] + "/", wait_until="networkidle")
    page.locator("[data-consentgate-banner] [data-cg-action=reject_all]").click()
    _wait_for_cookie(context, "ridgeline_consent")
    for path in ("/", "/shop", "/articles/how-we-test-rain-shells", "/gear-finder"):
        page.goto(demo.urls["site"] + path, wait_until="networkidle")
        assert page.locator("[data-consentgate-banner]").count() == 0, "a refusal is remembered"
    assert _third_party(requests) == []
    assert _cookie_names(context) == {"ridgeline_consent"}
    context.close()


def test_refusing_after_accepting_deletes_the_trackers_cookies(demo: RunningDemo, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo.urls["site"] + "/shop", wait_until="networkidle")
    page.locator("[data-consentgate-banner] [data-cg-action=accept_all]").click()
    page.wait_for_function("document.cookie.includes('_ts_uid=') && document.cookie.includes('_pc_id=')")
    page.goto(demo.urls["site"] + "/gear-finder", wait_until="networkidle")
    assert {"_ts_uid", "_pc_id", "_ts_sess"} <= _cookie_names(context)

    page.locator("[data-cg-reopen]").click()
    # Withdrawing consent reloads the page, so scripts already running stop too.
    with page.expect_navigation(wait_until="networkidle"):
        page.locator("[data-consentgate-centre] [data-cg-action=reject_all]").click()
    deadline = time.monotonic() + 10
    while _cookie_names(context) != {"ridgeline_consent"}:
        assert time.monotonic() < deadline, _cookie_names(context)
        time.sleep(0.05)
    page.goto(demo.urls["site"] + "/gear-finder", wait_until="networkidle")
    assert _cookie_names(context) == {"ridgeline_consent"}
    context.close()


def test_the_admin_needs_a_password_and_shows_the_visitors_choice(demo: RunningDemo, browser: Any) -> None:
    visitor = browser.new_context()
    page = visitor.new_page()
    page.goto(demo.urls["site"] + "/", wait_until="networkidle")
    page.locator("[data-consentgate-banner] [data-cg-action=accept_all]").click()
    page.wait_for_function("document.cookie.includes('_ts_uid=')")
    page.goto(demo.urls["site"] + "/my-consent")
    consent_id = page.locator("dd code").first.inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", consent_id), consent_id
    visitor.close()

    assert httpx.get(demo.urls["site"] + "/admin/consent/").status_code == 401
    admin = browser.new_context(http_credentials={"username": "admin", "password": PASSWORD})
    dashboard = admin.new_page()
    deadline = time.monotonic() + 10
    while True:  # the writer batches: the event lands within its flush interval
        dashboard.goto(f"{demo.urls['site']}/admin/consent/?consent_id={consent_id}")
        if dashboard.locator("table.events tbody tr .badge").count() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    row = dashboard.locator("table.events tbody tr").first
    assert "accept_all" in row.inner_text()
    assert "banner" in row.inner_text()
    assert "intact" in dashboard.locator(".kpis").inner_text()

    # Export what the page shows (this visitor's events) with the page's own buttons.
    exported: dict[str, str] = {}
    for label in ("CSV", "JSONL"):
        with dashboard.expect_download() as download:
            dashboard.locator("nav.exports a", has_text=label).click()
        exported[label] = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported["CSV"].startswith("\ufeff")  # the CLI's CSV: a BOM so that Excel reads UTF-8
    csv_lines = exported["CSV"].removeprefix("\ufeff").splitlines()
    assert csv_lines[0].startswith("event_id,consent_id,ts,action")
    assert len(csv_lines) == 2 and consent_id in csv_lines[1] and "accept_all" in csv_lines[1]
    record = json.loads(exported["JSONL"].splitlines()[0])
    assert record["consent_id"] == consent_id and record["action"] == "accept_all"
    assert record["categories"] == {
        "necessary": True,
        "preferences": True,
        "analytics": True,
        "marketing": True,
    }
    admin.close()

    with sqlite3.connect(demo.data_dir / "consent.db") as conn:
        stored = conn.execute(
            "SELECT action FROM audit_events WHERE consent_id = ?", (consent_id,)
        ).fetchall()
    assert stored == [("accept_all",)]
