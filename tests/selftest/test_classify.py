"""Judging observations against a policy, without a browser: each rule on a hand-made phase."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from consentgate.selftest.classify import Assessment, assess, region_mode
from consentgate.selftest.records import (
    BannerCheck,
    Choice,
    ConsentCall,
    CookieRecord,
    CookieWrite,
    Phase,
    PhaseObservation,
    RequestRecord,
    Stage,
    StorageRecord,
    TagEvent,
)

from .selftest_sites import POLICY_DATA

SITE = "http://127.0.0.1:8000"
PAGE = SITE + "/"
BANNER = BannerCheck("Accept all", "Reject all", None, reject_is_link=False, found_by="accessible name")


def request(host: str, stage: Stage = "pre_choice", path: str = "/t.js") -> RequestRecord:
    return RequestRecord(f"http://{host}{path}", host, "script", "GET", PAGE, stage)


def cookie(name: str, domain: str = "127.0.0.1", **changes: object) -> CookieRecord:
    base = CookieRecord(
        name=name,
        domain=domain,
        path="/",
        expires=None,
        http_only=False,
        secure=False,
        same_site="Lax",
        third_party=domain != "127.0.0.1",
        source="script",
        set_by="http://localhost:9/tracker.js",
        first_page=PAGE,
        first_stage="pre_choice",
        present_after_choice=False,
        written_after_choice=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def made(action: str, *steps: str, **changes: object) -> Choice:
    return replace(Choice(action, made=True, steps=steps or ("Reject all",)), **changes)  # type: ignore[arg-type]


def phase(name: Phase, **fields: object) -> PhaseObservation:
    return replace(PhaseObservation(name), **fields)  # type: ignore[arg-type]


def judge(
    *phases: PhaseObservation, policy: Policy, region: str | None = None, gpc: bool = False
) -> Assessment:
    return assess(phases, policy, site_host="127.0.0.1", region=region, gpc=gpc)


def rules(assessment: Assessment) -> list[tuple[str, str, str]]:
    return [(f.severity, f.phase, f.rule) for f in assessment.findings]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_dict(POLICY_DATA)


def test_tracker_request_before_any_choice_is_a_violation(policy: Policy) -> None:
    result = judge(phase("before", requests=(request("localhost"), request("127.0.0.1"))), policy=policy)
    (finding,) = result.violations
    assert (finding.phase, finding.rule, finding.requirement) == ("before", "tracker-request", "CG-01")
    assert finding.service_id == "local-tracker" and finding.category == "marketing"
    assert result.phases[0].third_party_requests == 1


def test_tracker_request_after_accept_is_allowed(policy: Policy) -> None:
    accepted = phase(
        "accept", requests=(request("localhost", "post_choice"),), choice=made("accept", "Accept all")
    )
    assert judge(accepted, policy=policy).findings == ()


def test_after_reject_only_requests_after_the_click_are_judged(policy: Policy) -> None:
    rejected = phase(
        "reject",
        requests=(request("localhost", "pre_choice"), request("localhost", "post_choice", "/pixel")),
        choice=made("reject"),
        banner=BANNER,
    )
    (finding,) = judge(rejected, policy=policy).violations
    assert finding.phase == "reject" and finding.count == 1
    assert finding.evidence == ("http://localhost/pixel",)


def test_withdrawal_violations_cite_the_withdrawal_requirement(policy: Policy) -> None:
    withdrawn = phase(
        "withdraw",
        requests=(request("localhost", "post_choice"),),
        choice=made("withdraw", "Settings", "Reject"),
    )
    (finding,) = judge(withdrawn, policy=policy).violations
    assert (finding.phase, finding.requirement) == ("withdraw", "CG-22")


def test_a_phase_whose_choice_failed_is_not_judged(policy: Policy) -> None:
    failed = phase(
        "accept",
        requests=(request("localhost"),),
        choice=Choice("accept", made=False, detail="no accept control"),
    )
    result = judge(failed, policy=policy)
    assert not result.phases[0].judged
    assert [h.verdict for h in result.phases[0].hosts] == ["not judged"]
    assert result.violations == ()


def test_unclassified_host_is_one_warning_listing_every_phase(policy: Policy) -> None:
    result = judge(
        phase("before", requests=(request("127.0.0.2"),)),
        phase("accept", requests=(request("127.0.0.2", "post_choice"),), choice=made("accept", "Accept all")),
        policy=policy,
    )
    (warning,) = result.warnings
    assert (warning.phase, warning.rule, warning.subject) == ("before", "unclassified-host", "127.0.0.2")
    assert warning.evidence[-1] == "seen in: before, accept"


def test_server_cookie_before_consent_cites_the_set_cookie_requirement(policy: Policy) -> None:
    ga = cookie("_ga", source="header", set_by=PAGE)
    (finding,) = judge(phase("before", cookies=(ga,)), policy=policy).violations
    assert (finding.rule, finding.requirement, finding.category) == ("cookie", "CG-03", "analytics")
    assert "Set-Cookie header" in finding.message


def test_necessary_and_consent_cookies_are_fine_and_unknown_ones_are_warnings(policy: Policy) -> None:
    cookies = (cookie("session", source="header"), cookie("consentgate", source="header"), cookie("mystery"))
    result = judge(phase("before", cookies=cookies), policy=policy)
    assert {c.cookie.name: c.verdict for c in result.phases[0].cookies} == {
        "session": "ok",
        "consentgate": "ok",
        "mystery": "unclassified",
    }
    assert rules(result) == [("warning", "before", "unclassified-cookie")]


@pytest.mark.parametrize("name", ["consentgate", "__Host-consentgate"])
def test_consentgates_own_cookie_is_necessary_without_a_policy(name: str) -> None:
    result = judge(phase("before", cookies=(cookie(name, source="header"),)), policy=load_dict({}))
    assert [(row.category, row.verdict) for row in result.phases[0].cookies] == [("necessary", "ok")]
    assert result.findings == ()


def test_consentgates_default_cookie_name_is_necessary_under_a_policy_that_renames_it() -> None:
    renamed = load_dict({**POLICY_DATA, "cookie": {"name": "site_consent"}})
    cookies = (cookie("consentgate"), cookie("__Host-site_consent"), cookie("__Host-consentgate"))
    result = judge(phase("before", cookies=cookies), policy=renamed)
    assert {row.cookie.name: row.verdict for row in result.phases[0].cookies} == {
        "consentgate": "ok",
        "__Host-site_consent": "ok",
        "__Host-consentgate": "ok",
    }


def write(
    name: str, origin: str = PAGE, stage: Stage = "pre_choice", *, deletion: bool = False
) -> CookieWrite:
    return CookieWrite(name, "header", origin, PAGE, stage, deletion)


def test_tracking_cookie_set_and_deleted_before_the_jar_was_read_is_still_a_violation(policy: Policy) -> None:
    writes = (write("_ga"), write("_ga", SITE + "/app.js", deletion=True), write("_ga", SITE + "/shop"))
    (finding,) = judge(phase("before", cookie_writes=writes), policy=policy).violations
    assert (finding.rule, finding.requirement, finding.subject) == ("cookie", "CG-03", "_ga (127.0.0.1)")
    assert finding.count == 2 and finding.evidence == (PAGE, SITE + "/shop")
    assert "deleted again" in finding.message


def test_brief_cookies_that_are_allowed_unknown_in_the_jar_or_before_the_choice_are_not_reported(
    policy: Policy,
) -> None:
    writes = (write("session"), write("mystery"), write("_tracker_id"), write("_ga", stage="pre_choice"))
    jar = (cookie("_tracker_id", present_after_choice=True, written_after_choice=True),)
    before = judge(phase("before", cookie_writes=writes[:2]), policy=policy)
    rejected = phase("reject", cookies=jar, cookie_writes=writes[2:], choice=made("reject"), banner=BANNER)
    assert before.findings == ()
    # _tracker_id is judged from the jar (once); _ga was written before the click only.
    assert [(f.rule, f.subject) for f in judge(rejected, policy=policy).violations] == [
        ("cookie", "_tracker_id (127.0.0.1)")
    ]


def test_first_party_cookie_left_after_withdrawal_is_a_violation(policy: Policy) -> None:
    kept = cookie("_tracker_id", present_after_choice=True)
    withdrawn = phase("withdraw", cookies=(kept,), choice=made("withdraw", "Cookie settings", "Reject all"))
    (finding,) = judge(withdrawn, policy=policy).violations
    assert finding.rule == "cookie-kept" and "not deleted" in finding.message


def test_third_party_cookie_left_after_withdrawal_is_only_a_warning(policy: Policy) -> None:
    kept = cookie("_tracker_id", domain="localhost", present_after_choice=True)
    withdrawn = phase("withdraw", cookies=(kept,), choice=made("withdraw", "Cookie settings", "Reject all"))
    result = judge(withdrawn, policy=policy)
    assert rules(result) == [("warning", "withdraw", "cookie-kept")]
    assert "cannot delete" in result.warnings[0].message


def test_cookies_gone_after_the_choice_are_not_listed_for_that_phase(policy: Policy) -> None:
    deleted = cookie("_tracker_id", present_after_choice=False)
    rejected = phase("reject", cookies=(deleted,), choice=made("reject"), banner=BANNER)
    result = judge(rejected, policy=policy)
    assert result.phases[0].cookies == () and result.findings == ()


def test_storage_written_after_reject_is_a_violation_and_kept_storage_a_warning(policy: Policy) -> None:
    written = StorageRecord(SITE, "localStorage", "_tracker_id", "tracker.js", PAGE, "pre_choice", True, True)
    kept = replace(written, origin="http://127.0.0.1:9", written_after_choice=False)
    rejected = phase("reject", storage=(written, kept), choice=made("reject"), banner=BANNER)
    assert rules(judge(rejected, policy=policy)) == [
        ("violation", "reject", "storage"),
        ("warning", "reject", "storage-kept"),
    ]


def test_us_opt_out_allows_trackers_before_a_choice_unless_gpc_is_sent(policy: Policy) -> None:
    assert region_mode(policy, "US-CA") == "opt_out"
    before = phase("before", requests=(request("localhost"),))
    assert judge(before, policy=policy, region="US-CA").violations == ()
    (finding,) = judge(before, policy=policy, region="US-CA", gpc=True).violations
    assert finding.rule == "tracker-request"


def test_region_rules_come_from_the_policy_with_the_country_as_fallback() -> None:
    policy = load_dict({**POLICY_DATA, "regions": {"BR": "notice"}})
    assert region_mode(policy, "BR") == "notice"
    assert region_mode(policy, "FR") == "opt_in"
    assert region_mode(policy, "US-WY") == "opt_out"
    assert region_mode(policy, None) == policy.default_region_mode
    assert (
        judge(phase("before", requests=(request("localhost"),)), policy=policy, region="BR").violations == ()
    )


def test_uk_statistics_categories_may_run_before_a_choice_in_gb_only() -> None:
    data = {**POLICY_DATA, "categories": {"analytics": {"uk_statistics": True}}}
    policy = load_dict(data)
    ga = cookie("_ga", source="header")
    assert judge(phase("before", cookies=(ga,)), policy=policy, region="GB").violations == ()
    assert len(judge(phase("before", cookies=(ga,)), policy=policy, region="FR").violations) == 1


def default(time_ms: float | None, document: str = "d1", value: str = "denied", **params: str) -> ConsentCall:
    values = {"ad_storage": value, "analytics_storage": value, **params}
    return ConsentCall("default", values, PAGE, document, time_ms, "pre_choice")


def tag(
    kind: str, time_ms: float, document: str = "d1", url: str = "http://localhost/gtag/js?id=G-1"
) -> TagEvent:
    return TagEvent(kind, url, PAGE, document, time_ms, "pre_choice")  # type: ignore[arg-type]


def test_google_tag_running_before_the_consent_default_is_one_violation(policy: Policy) -> None:
    late = {"consent_calls": (default(30.0),), "tag_events": (tag("requested", 10.0), tag("executed", 20.0))}
    result = judge(
        phase("before", **late), phase("accept", **late, choice=made("accept", "Accept all")), policy=policy
    )
    (finding,) = [f for f in result.findings if f.rule == "consent-default-order"]
    assert (finding.severity, finding.phase, finding.requirement) == ("violation", "before", "CG-70")
    assert finding.evidence[-1] == "seen in: before"  # accept's documents are post-choice only


def test_a_tag_requested_early_by_the_preload_scanner_but_run_after_the_default_is_fine(
    policy: Policy,
) -> None:
    ok = phase(
        "before", consent_calls=(default(30.0),), tag_events=(tag("requested", 10.0), tag("executed", 40.0))
    )
    assert judge(ok, policy=policy).findings == ()


def test_a_tag_never_seen_running_is_judged_by_when_it_was_requested(policy: Policy) -> None:
    late = phase("before", consent_calls=(default(30.0),), tag_events=(tag("requested", 10.0),))
    early = phase("before", consent_calls=(default(5.0),), tag_events=(tag("requested", 10.0),))
    assert [f.rule for f in judge(late, policy=policy).findings] == ["consent-default-order"]
    assert judge(early, policy=policy).findings == ()


def test_a_script_other_than_a_google_tag_taking_over_datalayer_is_ignored(policy: Policy) -> None:
    other = phase(
        "before", consent_calls=(default(30.0),), tag_events=(tag("executed", 5.0, url="http://x/app.js"),)
    )
    assert judge(other, policy=policy).findings == ()


def test_google_tag_without_any_default_is_a_warning(policy: Policy) -> None:
    result = judge(phase("before", tag_events=(tag("requested", 10.0),)), policy=policy)
    assert rules(result) == [("warning", "before", "consent-default-missing")]


def test_consent_mode_granting_ad_storage_after_reject_is_a_violation(policy: Policy) -> None:
    granted = ConsentCall("update", {"ad_storage": "granted"}, PAGE, "d2", 50.0, "post_choice")
    rejected = phase(
        "reject",
        consent_calls=(replace(default(10.0, "d2"), stage="post_choice"), granted),
        choice=made("reject"),
        banner=BANNER,
    )
    (finding,) = judge(rejected, policy=policy).violations
    assert (finding.rule, finding.requirement, finding.subject) == (
        "consent-mode-granted",
        "CG-73",
        "ad_storage",
    )


def test_a_region_scoped_default_for_another_region_is_ignored(policy: Policy) -> None:
    elsewhere = default(10.0, value="granted", region='["US-CA"]')
    assert judge(phase("before", consent_calls=(elsewhere,)), policy=policy, region="FR").findings == ()
    here = default(10.0, value="granted", region='["FR"]')
    assert len(judge(phase("before", consent_calls=(here,)), policy=policy, region="FR").violations) == 2


def test_reject_missing_from_the_first_layer_is_a_violation(policy: Policy) -> None:
    hidden = replace(BANNER, reject_label=None, settings_label="Settings")
    rejected = phase("reject", banner=hidden, choice=made("reject", "Settings", "Reject all"), pages=())
    (finding,) = judge(rejected, policy=policy).violations
    assert (finding.rule, finding.requirement) == ("reject-not-on-first-layer", "CG-10")
    assert "2 interactions" in finding.message and finding.evidence == ("Settings", "Reject all")


def test_reject_taking_more_clicks_than_accept_is_a_violation(policy: Policy) -> None:
    result = judge(
        phase("reject", banner=BANNER, choice=made("reject", "Reject all", "Yes, reject")),
        phase("accept", banner=BANNER, choice=made("accept", "Accept all")),
        policy=policy,
    )
    assert rules(result) == [("violation", "reject", "reject-harder-than-accept")]


def test_reject_shown_as_a_link_is_a_warning(policy: Policy) -> None:
    linked = replace(BANNER, reject_is_link=True)
    assert rules(judge(phase("reject", banner=linked, choice=made("reject")), policy=policy)) == [
        ("warning", "reject", "reject-is-link")
    ]


def test_no_banner_at_all_is_a_note(policy: Policy) -> None:
    nothing = BannerCheck(None, None, None, reject_is_link=False, found_by="none")
    failed = Choice("reject", made=False, detail="no reject control and no settings control")
    assert rules(judge(phase("reject", banner=nothing, choice=failed), policy=policy)) == [
        ("info", "reject", "no-banner")
    ]


def test_banner_still_shown_after_the_choice_is_a_warning(policy: Policy) -> None:
    sticky = made("accept", "Accept all", banner_still_visible=True)
    assert rules(judge(phase("accept", banner=BANNER, choice=sticky), policy=policy)) == [
        ("warning", "accept", "banner-persists")
    ]


def test_withdrawal_without_a_visible_reopen_control_is_a_violation(policy: Policy) -> None:
    none = Choice("withdraw", made=False, detail="no visible control reopens the cookie choices")
    assert rules(judge(phase("withdraw", choice=none), policy=policy)) == [
        ("violation", "withdraw", "no-reopen-control")
    ]
    by_api = made("withdraw", "Reject all", reopen_api="Cookiebot.renew()")
    result = judge(phase("withdraw", choice=by_api), policy=policy)
    assert rules(result) == [("violation", "withdraw", "no-reopen-control")]
    assert result.phases[0].judged  # still measured


def test_withdrawal_taking_more_than_two_interactions_is_a_violation(policy: Policy) -> None:
    long = made("withdraw", "Cookie settings", "(switch off a toggle)", "(switch off a toggle)", "Save")
    assert rules(judge(phase("withdraw", choice=long), policy=policy)) == [
        ("violation", "withdraw", "withdraw-too-hard")
    ]


def test_withdrawal_that_failed_because_accept_failed_is_left_to_the_accept_phase(policy: Policy) -> None:
    failed = Choice("withdraw", made=False, detail="could not accept first: no accept control")
    assert judge(phase("withdraw", choice=failed), policy=policy).findings == ()


def test_gpc_with_marketing_after_accept_is_a_warning_in_opt_in_regions(policy: Policy) -> None:
    accepted = phase(
        "accept", requests=(request("localhost", "post_choice"),), choice=made("accept", "Accept all")
    )
    assert rules(judge(accepted, policy=policy, gpc=True)) == [
        ("warning", "accept", "gpc-marketing-after-accept")
    ]


def test_findings_are_ordered_violations_first_then_by_phase(policy: Policy) -> None:
    result = judge(
        phase("before", requests=(request("127.0.0.2"),)),
        phase(
            "reject", requests=(request("localhost", "post_choice"),), choice=made("reject"), banner=BANNER
        ),
        policy=policy,
    )
    assert rules(result) == [
        ("violation", "reject", "tracker-request"),
        ("warning", "before", "unclassified-host"),
    ]
