"""Real Chromium against the local sites: what each phase records and what it concludes."""

from __future__ import annotations

import asyncio

import pytest

from consentgate.policy.model import Policy
from consentgate.selftest import PhaseObservation, SelftestConfig, SelftestResult, arun_selftest
from consentgate.selftest.classify import PhaseAssessment
from consentgate.selftest.crawler import ChromiumMissing, SelftestError, check_url, chromium_executable
from consentgate.selftest.hosts import is_google_tag
from tests.browser_kit import serve

from .selftest_sites import signals_app

pytestmark = pytest.mark.browser


def observed(result: SelftestResult, phase: str) -> PhaseObservation:
    return next(o for o in result.crawl.phases if o.phase == phase)


def assessed(result: SelftestResult, phase: str) -> PhaseAssessment:
    return next(a for a in result.assessment.phases if a.phase == phase)


def findings(result: SelftestResult, rule: str) -> list[tuple[str, str, str]]:
    return [(f.severity, f.phase, f.requirement) for f in result.assessment.findings if f.rule == rule]


# -- the clean site -----------------------------------------------------------------------------
def test_clean_site_has_no_findings_and_exit_code_0(clean_result: SelftestResult) -> None:
    assert clean_result.assessment.findings == ()
    assert clean_result.exit_code == 0
    assert [o.phase for o in clean_result.crawl.phases] == ["before", "reject", "accept", "withdraw"]


def test_consentgate_markup_drives_reject_and_withdrawal(clean_result: SelftestResult) -> None:
    reject = observed(clean_result, "reject")
    assert reject.banner is not None and reject.banner.found_by == "consentgate markup"
    assert (reject.banner.accept_label, reject.banner.reject_label) == ("Accept all", "Reject all")
    assert reject.choice is not None and reject.choice.steps == ("Reject all",)
    withdraw = observed(clean_result, "withdraw").choice
    assert withdraw is not None and withdraw.made
    assert withdraw.steps == ("Cookie settings", "Reject all")
    assert not withdraw.banner_still_visible


def test_tracker_is_contacted_only_after_accept(clean_result: SelftestResult) -> None:
    hosts = {
        a.phase: {h.host: h.verdict for h in a.hosts if h.third_party} for a in clean_result.assessment.phases
    }
    assert hosts == {"before": {}, "reject": {}, "accept": {"localhost": "ok"}, "withdraw": {}}


def test_cookies_are_attributed_to_header_or_script(clean_result: SelftestResult) -> None:
    cookies = {c.cookie.name: c.cookie for c in assessed(clean_result, "accept").cookies}
    assert cookies["consent"].source == "header" and cookies["consent"].http_only
    assert cookies["_tracker_id"].source == "script"
    assert cookies["_tracker_id"].set_by.endswith("/tracker.js")
    assert cookies["_tracker_id"].expires is not None and not cookies["_tracker_id"].third_party
    assert cookies["session"].expires is None


def test_withdrawal_leaves_only_necessary_cookies(clean_result: SelftestResult) -> None:
    assert {c.cookie.name for c in assessed(clean_result, "withdraw").cookies} == {"consent", "session"}


def test_consent_default_and_google_tag_are_timed_in_the_same_document(clean_result: SelftestResult) -> None:
    accept = observed(clean_result, "accept")
    tags = [t for t in accept.tag_events if t.stage == "post_choice"]
    assert {t.kind for t in tags} == {"requested", "executed"}
    assert all(is_google_tag(t.url) for t in tags)
    # The preload scanner may request the tag before the inline default runs; what counts is
    # that the tag runs after it.
    for tag in (t for t in tags if t.kind == "executed"):
        defaults = [c for c in accept.consent_calls if c.document == tag.document and c.command == "default"]
        assert defaults and defaults[0].time_ms is not None and defaults[0].time_ms < tag.time_ms
        assert defaults[0].params["ad_storage"] == "granted"


def test_later_phases_crawl_the_pages_the_first_phase_found(clean_result: SelftestResult) -> None:
    before = [v.url for v in observed(clean_result, "before").pages]
    assert [url.split("/", 3)[3] for url in before] == ["", "about"]
    reject = observed(clean_result, "reject").pages
    assert [v.stage for v in reject] == ["pre_choice", "post_choice", "post_choice"]
    assert [v.url for v in reject[1:]] == before


# -- the leaky site -----------------------------------------------------------------------------
def test_leaky_site_exit_code_is_1(leaky_result: SelftestResult) -> None:
    assert leaky_result.exit_code == 1


def test_tracker_request_before_consent_is_a_before_phase_violation(leaky_result: SelftestResult) -> None:
    assert ("violation", "before", "CG-01") in findings(leaky_result, "tracker-request")


def test_server_set_ga_cookie_before_consent_is_reported_with_its_source(
    leaky_result: SelftestResult,
) -> None:
    (ga,) = [
        f for f in leaky_result.assessment.violations if f.phase == "before" and f.subject.startswith("_ga ")
    ]
    assert (ga.rule, ga.requirement, ga.service_id) == ("cookie", "CG-03", "google-analytics")
    assert "Set-Cookie header" in ga.message
    cookie = next(c.cookie for c in assessed(leaky_result, "before").cookies if c.cookie.name == "_ga")
    assert cookie.source == "header"


def test_reject_hidden_on_the_second_layer_is_a_reject_phase_violation(leaky_result: SelftestResult) -> None:
    assert findings(leaky_result, "reject-not-on-first-layer") == [("violation", "reject", "CG-10")]
    reject = observed(leaky_result, "reject")
    assert reject.banner is not None and reject.banner.reject_label is None
    assert reject.banner.settings_label == "Settings" and reject.banner.found_by == "accessible name"
    assert reject.choice is not None and reject.choice.made
    assert reject.choice.steps == ("Settings", "Reject all")


def test_trackers_after_reject_are_reject_phase_violations(leaky_result: SelftestResult) -> None:
    assert ("violation", "reject", "CG-01") in findings(leaky_result, "tracker-request")
    names = {
        f.subject.split()[0]
        for f in leaky_result.assessment.violations
        if f.phase == "reject" and f.rule == "cookie"
    }
    assert names == {"_ga", "_tracker_id"}


def test_google_tag_before_the_consent_default_is_reported_once(leaky_result: SelftestResult) -> None:
    assert findings(leaky_result, "consent-default-order") == [("violation", "before", "CG-70")]


def test_missing_reopen_control_is_a_withdraw_phase_violation(leaky_result: SelftestResult) -> None:
    assert findings(leaky_result, "no-reopen-control") == [("violation", "withdraw", "CG-20")]
    assert not assessed(leaky_result, "withdraw").judged


def test_undeclared_host_and_cookie_are_warnings(leaky_result: SelftestResult) -> None:
    warnings = {(f.rule, f.subject) for f in leaky_result.assessment.warnings}
    assert warnings == {("unclassified-host", "127.0.0.2"), ("unclassified-cookie", "mystery (127.0.0.1)")}


def test_script_writes_name_the_script_that_made_them(leaky_result: SelftestResult) -> None:
    before = assessed(leaky_result, "before")
    tracker = next(c.cookie for c in before.cookies if c.cookie.name == "_tracker_id")
    assert tracker.source == "script" and "/tracker.js" in tracker.set_by
    mystery = next(c.cookie for c in before.cookies if c.cookie.name == "mystery")
    assert mystery.set_by.startswith("inline script on http://127.0.0.1:")
    (storage,) = before.storage
    assert (storage.record.key, storage.verdict) == ("_tracker_id", "violation")
    assert "/tracker.js" in storage.record.set_by


# -- signals, errors --------------------------------------------------------------------------
def test_region_header_and_gpc_reach_the_server_and_the_page(chromium_path: str, site_policy: Policy) -> None:
    seen: dict[bool, list[dict[str, str]]] = {True: [], False: []}

    async def both(urls: dict[bool, str]) -> None:
        async with asyncio.TaskGroup() as group:
            for gpc, url in urls.items():
                config = SelftestConfig(
                    url,
                    pages=1,
                    region="FR",
                    region_header="X-Test-Region",
                    gpc=gpc,
                    phases=("before",),
                    timeout=10,
                    chromium=chromium_path,
                )
                group.create_task(arun_selftest(config, site_policy))

    with serve(signals_app(seen[True])) as with_gpc, serve(signals_app(seen[False])) as without:
        asyncio.run(both({True: f"http://127.0.0.1:{with_gpc}/", False: f"http://127.0.0.1:{without}/"}))
    for gpc, requests in seen.items():
        assert [s["path"] for s in requests] == ["/", "/beacon"]
        assert all(s["region"] == "FR" for s in requests)
        assert all(s["sec_gpc"] == ("1" if gpc else "") for s in requests)
        assert requests[1]["dom_gpc"] == ("true" if gpc else "undefined")


def test_withdrawal_through_a_platform_api_and_toggles_is_measured_and_reported(
    platform_result: SelftestResult,
) -> None:
    result = platform_result
    withdraw = observed(result, "withdraw").choice
    assert withdraw is not None and withdraw.made
    assert withdraw.reopen_api == "CookieConsent.showPreferences()"
    assert withdraw.steps == ("(switch off a toggle)", "(switch off a toggle)", "Save my choices")
    assert {(f.rule, f.requirement) for f in result.assessment.violations} == {
        ("no-reopen-control", "CG-20"),
        ("withdraw-too-hard", "CG-21"),
    }
    # Measured all the same: the tracker is gone after the withdrawal, and so is its cookie.
    assert assessed(result, "withdraw").judged
    assert [h.host for h in assessed(result, "withdraw").hosts if h.third_party] == []
    assert [h.host for h in assessed(result, "accept").hosts if h.third_party] == ["localhost"]
    assert {c.cookie.name for c in assessed(result, "withdraw").cookies} == {"consent"}


def test_missing_chromium_names_the_ways_to_get_one(tmp_path: object) -> None:
    with pytest.raises(ChromiumMissing, match="apt-get install chromium") as caught:
        chromium_executable("/nonexistent/chromium")
    assert "CONSENTGATE_CHROMIUM" in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com", "http:///nohost", "http://[bad/"])
def test_urls_without_http_scheme_and_host_are_refused(url: str) -> None:
    with pytest.raises(SelftestError, match="URL"):
        check_url(url)
