from __future__ import annotations

from consentgate.policy.catalog import load_catalog
from consentgate.policy.load import load_dict

MATOMO: dict[str, object] = {
    "name": "Matomo",
    "category": "analytics",
    "description": "Counts page views.",
    "purposes": ["audience measurement"],
    "hosts": ["matomo.example.com"],
    "cookies": [{"name": "_pk_ses", "description": "visit", "lifetime": "30 min"}],
}
BASE: dict[str, object] = {
    "version": "1",
    "categories": {"analytics": {"label": "Statistics", "description": "Counts visits."}},
    "services": {"matomo": MATOMO},
    "notice": {"en": {"banner_title": "Your privacy"}},
}


def changed(**updates: object) -> dict[str, object]:
    return {**BASE, **updates}


def fingerprint(data: dict[str, object]) -> str:
    return load_dict(data).fingerprint()


def test_the_fingerprint_is_stable_and_short() -> None:
    assert fingerprint(BASE) == fingerprint(changed())
    assert len(fingerprint(BASE)) == 12
    int(fingerprint(BASE), 16)


def test_wording_changes_keep_the_fingerprint() -> None:
    reworded = changed(
        version="1.1 typo fix",
        categories={"analytics": {"label": {"en": "Audience", "de": "Statistik"}, "description": "Visits."}},
        services={
            "matomo": {
                "name": "Matomo Analytics",
                "category": "analytics",
                "description": "Counts the pages people read.",
                "purposes": ["audience measurement"],
                "hosts": ["matomo.example.com"],
                "cookies": [{"name": "_pk_ses", "description": "the visit", "lifetime": "1h"}],
                "privacy_url": "https://matomo.org/privacy",
            }
        },
        notice={"en": {"banner_title": "We care about your privacy"}, "de": {"banner_title": "Hallo"}},
        theme={"position": "box"},
        controller={"name": "Example Ltd"},
    )
    assert fingerprint(reworded) == fingerprint(BASE)


def test_a_new_marketing_service_changes_the_fingerprint() -> None:
    services = {"matomo": MATOMO, "ads": {"category": "marketing", "hosts": ["ads.example.net"]}}
    assert fingerprint(changed(services=services)) != fingerprint(BASE)


def test_a_new_purpose_host_cookie_or_category_move_changes_the_fingerprint() -> None:
    original = MATOMO
    variants = [
        {**original, "purposes": ["audience measurement", "profiling"]},
        {**original, "hosts": ["matomo.example.com", "cdn.matomo.cloud"]},
        {**original, "cookies": [{"name": "_pk_ses"}, {"name": "_pk_id"}]},
        {**original, "category": "marketing"},
        {**original, "sale_share": True},
    ]
    base = fingerprint(BASE)
    for variant in variants:
        assert fingerprint(changed(services={"matomo": variant})) != base, variant


def test_a_new_category_or_a_uk_statistics_flag_changes_the_fingerprint() -> None:
    base = fingerprint(BASE)
    assert fingerprint(changed(categories={"social": {"label": "Social"}})) != base
    assert fingerprint(changed(categories={"analytics": {"uk_statistics": True}})) != base


def test_catalog_entries_the_site_did_not_name_do_not_count() -> None:
    # a consentgate upgrade that adds catalog entries must not reset every visitor's choice
    assert fingerprint(changed(include_catalog=False)) == fingerprint(BASE)


def test_naming_a_catalog_service_counts_it() -> None:
    tracker = next(s for s in load_catalog() if s.category == "marketing")
    named = changed(services={"matomo": MATOMO, tracker.id: {"catalog": tracker.id}})
    assert fingerprint(named) != fingerprint(BASE)
