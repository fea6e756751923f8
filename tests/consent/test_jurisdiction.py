"""Region modes, the opt-out preference signal and choices under it (CG-50..CG-52, CG-59..CG-69)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.jurisdiction import REJECT_RECALL_SECONDS, Decision, Jurisdiction
from consentgate.consent.signals import Signals
from consentgate.consent.state import Consent
from consentgate.policy.load import load_dict
from consentgate.policy.model import CNIL_CONDITIONS, Policy
from consentgate.policy.regions import US_CHOICE_LIFETIME

NOW = 1_800_000_000
GPC = Signals(gpc=True)
DNT = Signals(dnt=True)
NONE = Signals()
KEY = "k" * 32

SITE: dict[str, Any] = {
    "version": "2026-11-01",
    "include_catalog": False,
    "categories": {"analytics": {"uk_statistics": True}},
    "services": {
        "stats": {"category": "analytics", "hosts": ["stats.example"]},
        "adpixel": {"category": "marketing", "hosts": ["ads.example"], "sale_share": True},
        "newsletter": {"category": "marketing", "hosts": ["mail.example"]},
        "video": {"category": "preferences", "hosts": ["video.example"]},
    },
}


@cache
def site() -> Policy:
    return load_dict(SITE)


@cache
def catalog() -> Policy:
    return load_dict({"version": "2026-11-01"})


def jurisdiction(policy: Policy | None = None) -> Jurisdiction:
    return Jurisdiction(policy or site())


def none(policy: Policy | None = None) -> Consent:
    return Consent.none((policy or site()).service_categories)


def stored(categories: set[str], policy: Policy | None = None, **kwargs: Any) -> Consent:
    policy = policy or site()
    return none(policy).with_choice(
        categories, source="banner", fingerprint=policy.fingerprint(), now=NOW - 100, **kwargs
    )


def decide(consent: Consent, region: str, signals: Signals = NONE, **kwargs: Any) -> Decision:
    return jurisdiction(kwargs.pop("policy", None)).decide(
        consent, region=region, signals=signals, now=NOW, **kwargs
    )


# -- modes before a choice --------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["FR", "DE", "CH", "NO", "", "BR", "JP"])
def test_opt_in_and_unknown_regions_block_everything_optional_and_ask(region: str) -> None:
    decision = decide(none(), region)
    assert decision.mode == "opt_in"
    assert decision.show_banner
    assert decision.link == "preferences"
    assert decision.consent.allows("necessary")
    assert not any(decision.consent.allows(s) for s in ("stats", "adpixel", "newsletter", "video"))
    assert decision.persist is None and decision.event is None


def test_uk_runs_flagged_statistics_before_a_choice_and_still_asks() -> None:
    decision = decide(none(), "GB")
    assert decision.mode == "uk_statistics"
    assert decision.show_banner
    assert decision.consent.allows("stats")
    assert not decision.consent.allows("adpixel")
    assert not decision.consent.allows("video")


def test_uk_without_a_flagged_category_is_plain_opt_in() -> None:
    assert decide(none(catalog()), "GB", policy=catalog()).mode == "opt_in"


@pytest.mark.parametrize("region", ["US-CA", "US-CO", "US-TX", "US-WY", "US"])
def test_us_regions_run_everything_without_a_banner_and_show_the_choices_link(region: str) -> None:
    decision = decide(none(), region)
    assert decision.mode == "opt_out"
    assert not decision.show_banner
    assert (decision.link, decision.link_text) == ("privacy_choices", "Your Privacy Choices")
    assert all(decision.consent.allows(s) for s in ("stats", "adpixel", "newsletter", "video"))
    assert not decision.consent.exists
    assert decision.persist is None and not decision.objection


def test_notice_mode_runs_everything_with_a_link_only() -> None:
    policy = load_dict({**SITE, "regions": {"BR": "notice"}})
    decision = decide(none(policy), "BR", policy=policy)
    assert decision.mode == "notice"
    assert not decision.show_banner and decision.link == "preferences"
    assert decision.consent.allows("adpixel")


def test_bots_never_get_a_banner() -> None:
    assert not decide(none(), "FR", is_bot=True).show_banner


# -- GPC in opt-out regions ---------------------------------------------------------------------------


def test_gpc_in_california_opts_out_of_sale_share_on_the_first_request_without_a_banner() -> None:
    decision = decide(none(), "US-CA", GPC)
    effective = decision.consent
    assert not decision.show_banner
    assert not effective.allows("adpixel")
    assert effective.allows("newsletter") and effective.allows("stats") and effective.allows("video")
    assert decision.objection and decision.signal
    assert decision.event == "gpc_optout"
    assert decision.persist is effective
    assert effective.exists and effective.gpc_applied and effective.source == "gpc"
    assert effective.region == "US-CA"
    assert effective.expires_at - effective.issued_at == US_CHOICE_LIFETIME
    assert effective.consent_id


def test_stored_gpc_opt_out_survives_a_request_without_the_signal() -> None:
    policy = site()
    cookie = ConsentCookie([KEY], policy)
    first = decide(none(), "US-CA", GPC)
    assert first.persist is not None
    loaded, status = cookie.loads(cookie.dumps(first.persist), now=NOW + 60)
    assert status == "ok"
    later = decide(loaded, "US-CA", NONE)
    assert not later.consent.allows("adpixel")
    assert later.objection  # the status stays visible
    assert later.persist is None and later.event is None


def test_gpc_opt_out_with_the_whole_catalog_fits_in_the_cookie() -> None:
    policy = catalog()
    decision = decide(none(policy), "US-CA", GPC, policy=policy)
    assert decision.persist is not None
    assert not decision.consent.allows("meta-pixel") and not decision.consent.allows("google-ads")
    assert decision.consent.allows("google-analytics") and decision.consent.allows("hotjar")
    cookie = ConsentCookie([KEY], policy)
    header = cookie.set_cookie(decision.persist, secure=True, now=NOW)
    assert len(header) < 4096
    loaded, status = cookie.loads(cookie.dumps(decision.persist), now=NOW + 1)
    assert status == "ok"
    assert loaded.categories == decision.consent.categories
    assert loaded.denied_services == decision.consent.denied_services


def test_a_category_mostly_not_sale_share_keeps_running_and_denies_the_sale_share_ones() -> None:
    services = {f"mail{i}": {"category": "marketing", "hosts": [f"m{i}.example"]} for i in range(3)}
    policy = load_dict({**SITE, "services": {**SITE["services"], **services}})
    effective = decide(none(policy), "US-CA", GPC, policy=policy).consent
    assert "marketing" in effective.categories
    assert effective.denied_services == {"adpixel"}
    assert effective.allows("mail0") and effective.allows("newsletter")


def test_sale_share_outside_marketing_is_blocked_too() -> None:
    policy = load_dict(
        {
            **SITE,
            "categories": {},
            "services": {**SITE["services"], "heatmap": {"category": "analytics", "sale_share": True}},
        }
    )
    effective = decide(none(policy), "US-CO", GPC, policy=policy).consent
    assert not effective.allows("heatmap") and not effective.allows("adpixel")
    assert effective.allows("stats")


def test_gpc_after_an_earlier_opt_in_withdraws_sale_share_and_is_stored() -> None:
    choice = stored(
        {"analytics", "marketing", "preferences"}, region="US-CA", lifetime_seconds=US_CHOICE_LIFETIME
    )
    decision = decide(choice, "US-CA", GPC)
    assert not decision.consent.allows("adpixel")
    assert decision.consent.allows("stats")
    assert decision.event == "gpc_optout"
    assert decision.persist is not None
    assert decision.persist.consent_id == choice.consent_id
    assert decision.persist.expires_at == choice.expires_at  # the signal does not extend a choice
    assert decision.persist.source == "banner"


def test_gpc_changes_nothing_when_the_stored_choice_already_refuses() -> None:
    choice = stored(set())
    decision = decide(choice, "US-CA", GPC)
    assert decision.consent is choice
    assert decision.persist is None and decision.objection


def test_bots_get_the_opt_out_but_nothing_is_stored() -> None:
    decision = decide(none(), "US-CA", GPC, is_bot=True)
    assert not decision.consent.allows("adpixel")
    assert decision.persist is None and decision.event is None


def test_gpc_in_notice_mode_is_honoured_as_an_opt_out() -> None:
    policy = load_dict({**SITE, "regions": {"BR": "notice"}})
    decision = decide(none(policy), "BR", GPC, policy=policy)
    assert not decision.consent.allows("adpixel") and decision.event == "gpc_optout"


def test_gpc_is_ignored_when_the_policy_turns_it_off() -> None:
    policy = load_dict({**SITE, "gpc": False})
    decision = decide(none(policy), "US-CA", GPC, policy=policy)
    assert decision.consent.allows("adpixel") and not decision.signal and decision.persist is None


# -- GPC in opt-in regions ---------------------------------------------------------------------------


def test_gpc_in_the_eu_is_never_consent_and_nothing_is_stored_before_a_choice() -> None:
    decision = decide(none(), "DE", GPC)
    assert decision.show_banner
    assert decision.objection
    assert not decision.consent.allows("stats")
    assert decision.persist is None


def test_gpc_after_an_eu_grant_withdraws_marketing_and_keeps_analytics() -> None:
    choice = stored({"analytics", "marketing", "preferences"}, region="DE")
    decision = decide(choice, "DE", GPC)
    assert decision.consent.allows("stats") and decision.consent.allows("video")
    assert not decision.consent.allows("adpixel") and not decision.consent.allows("newsletter")
    assert decision.event == "gpc_optout" and decision.persist is decision.consent
    assert not decision.show_banner


def test_a_signal_created_us_record_is_not_consent_in_the_eu() -> None:
    us = decide(none(), "US-CA", GPC).persist
    assert us is not None
    decision = decide(us, "FR", NONE)
    assert decision.show_banner
    assert not decision.consent.allows("stats")
    assert decision.consent.consent_id == us.consent_id
    assert decision.objection


@pytest.mark.parametrize(
    ("dnt_mode", "region", "honoured"),
    [
        ("auto", "FR", True),
        ("auto", "GB", True),
        ("auto", "US-TX", False),
        ("auto", "US-CA", False),
        ("like_gpc", "US-TX", True),
        ("ignore", "FR", False),
    ],
)
def test_dnt_effect_follows_the_policy_option(dnt_mode: str, region: str, honoured: bool) -> None:
    policy = load_dict({**SITE, "dnt": dnt_mode})
    decision = decide(none(policy), region, DNT, policy=policy)
    assert decision.signal is honoured
    if region.startswith("US"):
        assert decision.consent.allows("adpixel") is not honoured


def test_dnt_auto_follows_gpc_being_turned_off() -> None:
    policy = load_dict({**SITE, "gpc": False})
    assert not decide(none(policy), "FR", DNT, policy=policy).signal


# -- choices ---------------------------------------------------------------------------------------


def choose(decision: Decision, action: str, **kwargs: Any) -> tuple[Consent, str]:
    return jurisdiction(kwargs.pop("policy", None)).apply_choice(
        decision,
        action,  # type: ignore[arg-type]
        consent_id="id-1",
        now=NOW,
        **kwargs,
    )


def test_accept_all_under_gpc_in_the_eu_keeps_marketing_denied() -> None:
    consent, action = choose(decide(none(), "DE", GPC), "accept_all")
    assert action == "accept_all"
    assert consent.allows("stats") and consent.allows("video")
    assert not consent.allows("adpixel") and not consent.allows("newsletter")
    assert consent.gpc_applied
    # The next request with the signal changes nothing: the choice already took it into account.
    again = decide(consent, "DE", GPC)
    assert again.consent is consent and again.persist is None and again.objection


def test_explicit_marketing_toggle_under_gpc_is_an_override_and_sticks() -> None:
    decision = decide(none(), "DE", GPC)
    consent, action = choose(decision, "save", categories=frozenset({"analytics", "marketing"}))
    assert action == "gpc_override"
    assert consent.allows("adpixel") and consent.gpc_applied
    again = decide(consent, "DE", GPC)
    assert again.consent.allows("adpixel") and again.persist is None and not again.objection


def test_save_without_marketing_under_gpc_is_a_plain_save() -> None:
    consent, action = choose(decide(none(), "DE", GPC), "save", categories=frozenset({"analytics"}))
    assert action == "save" and consent.gpc_applied and not consent.allows("adpixel")


def test_accept_all_without_a_signal_grants_everything() -> None:
    consent, action = choose(decide(none(), "FR"), "accept_all")
    assert action == "accept_all" and not consent.gpc_applied
    assert all(consent.allows(s) for s in ("stats", "adpixel", "newsletter", "video"))
    assert consent.expires_at - consent.issued_at == site().choice_lifetime_seconds


def test_opting_back_in_after_a_us_opt_out_is_logged_as_override() -> None:
    decision = decide(none(), "US-CA", GPC)
    consent, action = choose(
        decision, "save", categories=frozenset({"analytics", "marketing", "preferences"})
    )
    assert action == "gpc_override" and consent.allows("adpixel")
    assert consent.consent_id == "id-1"


def test_opting_back_in_later_without_the_header_is_also_an_override() -> None:
    optout = decide(none(), "US-CA", GPC).persist
    assert optout is not None
    decision = decide(optout, "US-CA", NONE)
    consent, action = choose(decision, "save", categories=frozenset({"analytics", "marketing"}))
    assert action == "gpc_override" and consent.allows("adpixel") and not consent.gpc_applied
    # A signal arriving after that grant (made without it) withdraws it again.
    assert not decide(consent, "US-CA", GPC).consent.allows("adpixel")


def test_dom_reported_gpc_applies_from_that_choice_on() -> None:
    decision = decide(none(), "US-CA", NONE)
    consent, action = choose(decision, "accept_all", gpc_reported=True)
    assert action == "accept_all" and consent.gpc_applied and not consent.allows("adpixel")
    later = decide(consent, "US-CA", NONE)
    assert not later.consent.allows("adpixel") and later.objection


def test_reject_and_withdraw_keep_only_required_categories() -> None:
    for action in ("reject_all", "withdraw"):
        consent, recorded = choose(decide(none(), "FR"), action, categories=frozenset({"marketing"}))
        assert recorded == action
        assert consent.categories == {"necessary"}
        assert consent.exists


def test_choice_lifetime_follows_the_region_rule() -> None:
    consent, _ = choose(decide(none(), "US-TX"), "save", categories=frozenset({"analytics"}))
    assert consent.expires_at - consent.issued_at == US_CHOICE_LIFETIME
    assert consent.region == "US-TX"


def test_remember_reject_false_asks_again_after_a_day() -> None:
    policy = load_dict({**SITE, "regions": {"FR": {"mode": "opt_in", "remember_reject": False}}})
    rejected, _ = choose(decide(none(policy), "FR", policy=policy), "reject_all", policy=policy)
    assert rejected.expires_at - rejected.issued_at == REJECT_RECALL_SECONDS
    accepted, _ = choose(decide(none(policy), "FR", policy=policy), "accept_all", policy=policy)
    assert accepted.expires_at - accepted.issued_at == policy.choice_lifetime_seconds


def test_choices_link_text_comes_from_the_region_rule() -> None:
    text = "Do Not Sell or Share My Personal Information"
    policy = load_dict({**SITE, "regions": {"US-CA": {"mode": "opt_out", "choices_link_text": text}}})
    assert decide(none(policy), "US-CA", policy=policy).link_text == text


# -- properties ----------------------------------------------------------------------------------

SERVICES = ("stats", "adpixel", "newsletter", "video")
CATEGORIES = ("preferences", "analytics", "marketing")
REGION_CODES = ("FR", "GB", "US-CA", "US-WY", "BR", "")


@st.composite
def stored_states(draw: st.DrawFn) -> Consent:
    if not draw(st.booleans()):
        return none()
    return stored(
        set(draw(st.sets(st.sampled_from(CATEGORIES)))),
        services=draw(st.sets(st.sampled_from(SERVICES))),
        denied_services=draw(st.sets(st.sampled_from(SERVICES))),
        gpc_applied=draw(st.booleans()),
    )


@given(stored_states(), st.sampled_from(REGION_CODES), st.booleans(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_a_fresh_signal_never_lets_sale_share_run_and_what_is_stored_is_what_is_enforced(
    consent: Consent, region: str, gpc: bool, dnt: bool
) -> None:
    decision = decide(consent, region, Signals(gpc=gpc, dnt=dnt))
    effective = decision.consent
    if decision.signal and not consent.gpc_applied:
        assert not effective.allows("adpixel")
    if not decision.signal and decision.persist is None:
        assert effective.allows("adpixel") is (
            consent.allows("adpixel") if consent.exists else decision.mode in ("opt_out", "notice")
        )
    if decision.persist is not None:
        cookie = ConsentCookie([KEY], site())
        loaded, status = cookie.loads(cookie.dumps(decision.persist), now=NOW)
        assert status == "ok"
        assert all(loaded.allows(s) is effective.allows(s) for s in SERVICES)
        again = decide(loaded, region, Signals(gpc=gpc, dnt=dnt))
        assert again.persist is None
        assert all(again.consent.allows(s) is effective.allows(s) for s in SERVICES)


@given(stored_states(), st.sampled_from(REGION_CODES), st.booleans())
@settings(max_examples=100, deadline=None)
def test_accept_all_under_a_signal_never_allows_the_objection_set(
    consent: Consent, region: str, gpc: bool
) -> None:
    decision = decide(consent, region, Signals(gpc=gpc))
    accepted, action = choose(decision, "accept_all")
    assert action == "accept_all"
    assert accepted.allows("adpixel") is not (decision.signal or decision.objection)
    assert accepted.allows("stats")


# -- the CNIL audience-measurement exemption (CG-53) ------------------------------------------------
CNIL_SITE: dict[str, Any] = {
    **SITE,
    "categories": {},
    "first_party_hosts": ["www.example.fr"],
    "services": {
        **SITE["services"],
        "audience": {
            "category": "analytics",
            "hosts": ["stats.example.fr"],
            "cnil_exempt_audience": dict.fromkeys((name for name, _ in CNIL_CONDITIONS), True),
        },
    },
}


@cache
def cnil_site() -> Policy:
    return load_dict(CNIL_SITE)


@pytest.mark.parametrize(
    "region", ["FR", "FR-13", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF"]
)
def test_france_and_its_overseas_codes_run_the_exempt_service_before_a_choice_and_still_ask(
    region: str,
) -> None:
    decision = decide(none(cnil_site()), region, policy=cnil_site())
    assert decision.exempt == {"audience"}
    assert decision.show_banner and decision.persist is None
    assert decision.consent.allows("audience")
    assert not decision.consent.allows("stats") and not decision.consent.allows("analytics")


@pytest.mark.parametrize("region", ["DE", "BE", "MC", "GB", "CH", "US-CA", ""])
def test_the_exemption_does_not_apply_outside_france(region: str) -> None:
    decision = decide(none(cnil_site()), region, policy=cnil_site())
    assert decision.exempt == frozenset()
    assert decision.consent.allows("audience") == (region == "US-CA")  # opt-out: everything runs


def test_a_french_region_in_notice_mode_has_nothing_to_exempt() -> None:
    policy = load_dict({**CNIL_SITE, "regions": {"FR": "notice"}})
    decision = decide(none(policy), "FR", policy=policy)
    assert decision.exempt == frozenset() and decision.consent.allows("audience")


def test_a_signal_objects_to_the_exempt_service_in_france() -> None:
    decision = decide(none(cnil_site()), "FR", GPC, policy=cnil_site())
    assert decision.exempt == {"audience"} and not decision.consent.allows("audience")


def cnil_choose(region: str, action: str, signals: Signals = NONE, **kwargs: Any) -> Consent:
    decision = decide(none(cnil_site()), region, signals, policy=cnil_site())
    consent, _ = jurisdiction(cnil_site()).apply_choice(decision, action, now=NOW, **kwargs)  # type: ignore[arg-type]
    return consent


def test_in_france_a_save_keeps_the_exempt_service_only_when_it_names_it() -> None:
    kept = cnil_choose("FR", "save", granted=frozenset({"audience"}))
    objected = cnil_choose("FR", "save", categories=frozenset({"analytics"}))
    assert kept.allows("audience") and "audience" in kept.services
    assert not objected.allows("audience") and objected.allows("stats")
    assert objected.denied_services == {"audience"}


@pytest.mark.parametrize("action", ["reject_all", "withdraw"])
@pytest.mark.parametrize("region", ["FR", "DE"])
def test_reject_all_and_withdraw_object_to_the_exempt_service_in_every_region(
    action: str, region: str
) -> None:
    consent = cnil_choose(region, action)
    assert consent.denied_services == {"audience"}
    assert not decide(consent, "FR", policy=cnil_site()).consent.allows("audience")


def test_outside_france_granting_the_category_lifts_an_earlier_objection() -> None:
    refused = cnil_choose("DE", "reject_all")
    decision = decide(refused, "DE", policy=cnil_site())
    consent, _ = jurisdiction(cnil_site()).apply_choice(
        decision, "save", categories=frozenset({"analytics"}), denied=frozenset({"audience"}), now=NOW
    )
    assert consent.allows("audience") and consent.denied_services == frozenset()


def test_a_choice_made_elsewhere_without_objection_runs_the_exempt_service_in_france() -> None:
    elsewhere = cnil_choose("DE", "save", categories=frozenset({"preferences"}))
    assert not decide(elsewhere, "DE", policy=cnil_site()).consent.allows("audience")
    in_france = decide(elsewhere, "FR", policy=cnil_site()).consent
    assert in_france.allows("audience") and not in_france.allows("stats")


def test_a_signal_after_a_french_choice_objects_unless_the_choice_saw_the_signal() -> None:
    kept = cnil_choose("FR", "save", granted=frozenset({"audience"}))
    assert not decide(kept, "FR", GPC, policy=cnil_site()).consent.allows("audience")
    kept_under_signal = cnil_choose("FR", "save", GPC, granted=frozenset({"audience"}))
    assert decide(kept_under_signal, "FR", GPC, policy=cnil_site()).consent.allows("audience")
