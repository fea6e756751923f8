"""Grants without a decision: "Load content" on a blocked embed before any choice
(``Consent.undecided``), as the regional rules apply them (``Jurisdiction.decide``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from consentgate.consent.cookie import ConsentCookie
from consentgate.consent.state import Consent
from consentgate.policy.model import Policy
from tests.consent.test_jurisdiction import GPC, KEY, NOW, cnil_site, decide, jurisdiction, site, stored


def loaded(*services: str, policy: Policy | None = None, **kwargs: Any) -> Consent:
    """What "Load content" stores on a first visit: its one grant, and no decision."""
    return replace(stored(set(), policy, services=set(services), **kwargs), undecided=True)


@pytest.mark.parametrize("region", ["DE", "FR", "CH", ""])
def test_the_loaded_service_runs_and_the_banner_still_asks(region: str) -> None:
    record = loaded("video")
    decision = decide(record, region)
    assert decision.show_banner
    effective = decision.consent
    assert effective.allows("video")
    assert not any(effective.allows(s) for s in ("stats", "adpixel", "newsletter"))
    # No choice to show (the centre opens as a first choice), but the record keeps its id.
    assert not effective.exists and effective.consent_id == record.consent_id
    assert decision.persist is None and decision.event is None


def test_a_decided_choice_with_the_same_grant_asks_nothing() -> None:
    decision = decide(replace(loaded("video"), undecided=False), "DE")
    assert not decision.show_banner and decision.consent.exists


def test_uk_statistics_keep_running_beside_a_loaded_embed() -> None:
    decision = decide(loaded("video"), "GB")
    assert decision.mode == "uk_statistics" and decision.show_banner
    assert decision.consent.allows("stats") and decision.consent.allows("video")
    assert not decision.consent.allows("adpixel")


def test_french_exempt_measurement_keeps_running_beside_a_loaded_embed() -> None:
    policy = cnil_site()
    decision = decide(loaded("video", policy=policy), "FR", policy=policy)
    assert decision.show_banner and decision.exempt == {"audience"}
    assert decision.consent.allows("audience") and decision.consent.allows("video")
    assert not decision.consent.allows("stats")


def test_in_a_us_region_everything_runs_and_nothing_asks() -> None:
    decision = decide(loaded("video"), "US-CA")
    assert not decision.show_banner
    assert all(decision.consent.allows(s) for s in ("stats", "adpixel", "newsletter", "video"))
    assert decision.persist is None


def test_grants_made_with_the_signal_in_view_keep_the_opt_out_where_it_binds() -> None:
    # Loaded under GPC in the EU; later in California without the signal (CG-64).
    decision = decide(loaded("video", gpc_applied=True), "US-CA")
    assert decision.consent.allows("video") and decision.consent.allows("newsletter")
    assert not decision.consent.allows("adpixel")
    assert decision.persist is None


def test_a_signal_after_a_loaded_marketing_embed_withdraws_it_and_still_asks() -> None:
    record = loaded("adpixel")
    decision = decide(record, "DE", GPC)
    assert not decision.consent.allows("adpixel")
    assert decision.show_banner and decision.event == "gpc_optout"
    persisted = decision.persist
    assert persisted is not None and persisted.undecided and persisted.gpc_applied
    assert "adpixel" not in persisted.services and persisted.consent_id == record.consent_id
    # Stored once: the next request with the signal changes nothing more.
    assert decide(persisted, "DE", GPC).persist is None


def test_the_first_real_choice_replaces_the_grants_without_a_decision() -> None:
    record = loaded("video")
    before = decide(record, "DE")
    consent, action = jurisdiction().apply_choice(before, "reject_all", consent_id=record.consent_id, now=NOW)
    assert (action, consent.undecided, consent.consent_id) == ("reject_all", False, record.consent_id)
    after = decide(consent, "DE")
    assert not after.show_banner and not after.consent.allows("video")


def test_the_record_survives_the_cookie_and_a_tampered_one_is_no_choice() -> None:
    cookie = ConsentCookie([KEY], site())
    value = cookie.dumps(loaded("video"))
    back, status = cookie.loads(value, now=NOW)
    assert status == "ok" and back.undecided and back.allows("video")
    tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    gone, status = cookie.loads(tampered, now=NOW)
    assert status == "bad_signature" and not gone.exists and not gone.allows("video")
    assert decide(gone, "DE").show_banner and not decide(gone, "DE").consent.allows("video")
