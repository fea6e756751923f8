from __future__ import annotations

import base64
from dataclasses import replace

from consentgate.consent.state import Consent, new_consent_id

SERVICE_CATEGORIES = {"ga": "analytics", "pixel": "marketing", "cart": "necessary", "chat": "preferences"}


def fresh() -> Consent:
    return Consent.none(SERVICE_CATEGORIES)


def test_no_choice_allows_only_necessary() -> None:
    consent = fresh()
    assert not consent.exists
    assert consent.allows("necessary") and consent.allows("cart")
    assert not consent.allows("analytics") and not consent.allows("ga")
    assert not consent.allows("unknown-service")


def test_a_granted_category_allows_its_services() -> None:
    consent = fresh().with_choice({"analytics"}, source="banner", now=100)
    assert consent.exists
    assert consent.allows("analytics") and consent.allows("ga")
    assert not consent.allows("pixel")
    assert "necessary" in consent.categories


def test_an_explicit_denial_beats_a_granted_category() -> None:
    consent = fresh().with_choice({"analytics"}, source="preferences", denied_services={"ga"})
    assert consent.allows("analytics")
    assert not consent.allows("ga")
    assert not consent.allows_service("ga", "analytics")


def test_an_explicit_grant_works_without_its_category() -> None:
    consent = fresh().with_choice(set(), source="preferences", services={"pixel"})
    assert not consent.allows("marketing")
    assert consent.allows("pixel")
    assert consent.allows_service("pixel", "marketing")
    assert not consent.allows_service("other", "marketing")
    assert consent.allows_service("other", "necessary")


def test_with_choice_sets_lifetime_source_and_keeps_id() -> None:
    before = fresh()
    after = before.with_choice(
        {"marketing"}, source="banner", now=1000, lifetime_seconds=50, fingerprint="abc", region="FR"
    )
    assert (after.issued_at, after.expires_at, after.source) == (1000, 1050, "banner")
    assert (after.fingerprint, after.region, after.consent_id) == ("abc", "FR", before.consent_id)
    again = after.with_choice(set(), source="preferences", gpc_applied=True, now=2000)
    assert (again.fingerprint, again.region, again.gpc_applied) == ("abc", "FR", True)


def test_consent_ids_are_128_random_bits_and_unique() -> None:
    ids = {new_consent_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    sample = next(iter(ids))
    assert len(base64.urlsafe_b64decode(sample + "==")) == 16


def test_service_categories_do_not_take_part_in_equality() -> None:
    one = Consent(consent_id="x", service_categories={"ga": "analytics"})
    two = Consent(consent_id="x")
    assert one == two
    assert two.service_categories == {}


# -- grants without a decision ("Load content" before any choice) --------------------------------


def test_a_choice_is_a_decision_even_over_grants_without_one() -> None:
    loaded = replace(fresh().with_choice(set(), source="banner", services={"pixel"}), undecided=True)
    decided = loaded.with_choice(set(), source="banner")
    assert loaded.undecided and not decided.undecided
    assert decided.consent_id == loaded.consent_id


def test_grants_without_a_decision_run_beside_the_regions_defaults_and_still_ask() -> None:
    loaded = replace(
        fresh().with_choice(set(), source="banner", services={"pixel"}, denied_services={"ga"}, now=100),
        undecided=True,
        gpc_applied=True,
    )
    # What runs before a choice in the UK: the statistics category (ga is in it).
    defaults = Consent(
        "", categories=frozenset({"necessary", "analytics"}), services=frozenset({"ga", "chat"})
    )
    view = loaded.before_decision(defaults)
    assert not view.exists and view.undecided  # no choice: the banner asks
    assert view.allows("pixel") and view.allows("analytics") and view.allows("chat")
    assert not view.allows("ga")  # its own denial stands over the defaults
    assert not view.allows("marketing")  # a grant of one service is not its category
    assert (view.consent_id, view.gpc_applied, view.issued_at) == (loaded.consent_id, True, 100)
