"""Google Consent Mode v2 default and update values (CG-70..CG-75)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from consentgate.consent.consent_mode import AD_TYPES, ConsentMode, ConsentModeDefault
from consentgate.consent.state import Consent
from consentgate.policy.load import load_dict
from consentgate.policy.model import CONSENT_MODE_TYPES, Policy

SITE: dict[str, Any] = {
    "include_catalog": False,
    "consent_mode": {"mode": "basic"},
    "services": {
        "google-tag-manager": {"category": "analytics", "hosts": ["googletagmanager.com"]},
        "google-ads": {"category": "marketing", "hosts": ["googleadservices.com"], "sale_share": True},
    },
}


def policy(**changes: Any) -> Policy:
    data = dict(SITE)
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return load_dict(data)


def granted(p: Policy, *categories: str, **kwargs: Any) -> Consent:
    return Consent.none(p.service_categories).with_choice(set(categories), source="banner", **kwargs)


def parse_default(script: str) -> dict[str, Any]:
    match = re.search(r'gtag\("consent","default",(\{.*?\})\);', script)
    assert match, script
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def test_nothing_granted_denies_everything_but_security_storage() -> None:
    values = ConsentMode(policy()).values(Consent.none())
    assert set(values) == set(CONSENT_MODE_TYPES)
    assert {k for k, v in values.items() if v == "granted"} == {"security_storage"}


@pytest.mark.parametrize(
    ("category", "types"),
    [
        ("analytics", {"analytics_storage"}),
        ("marketing", {"ad_storage", "ad_user_data", "ad_personalization"}),
        ("preferences", {"functionality_storage", "personalization_storage"}),
    ],
)
def test_each_category_grants_its_standard_types(category: str, types: set[str]) -> None:
    p = policy()
    values = ConsentMode(p).values(granted(p, category))
    assert {k for k, v in values.items() if v == "granted"} == types | {"security_storage"}


def test_the_mapping_is_configurable_per_category() -> None:
    p = policy(categories={"preferences": {"consent_mode": ["functionality_storage"]}})
    values = ConsentMode(p).values(granted(p, "preferences"))
    assert values["functionality_storage"] == "granted"
    assert values["personalization_storage"] == "denied"


def test_an_objection_denies_the_ad_types_even_when_marketing_is_granted() -> None:
    p = policy()
    values = ConsentMode(p).values(granted(p, "analytics", "marketing"), objection=True)
    assert all(values[k] == "denied" for k in AD_TYPES)
    assert values["analytics_storage"] == "granted"


def test_default_is_none_when_consent_mode_is_off() -> None:
    p = policy(consent_mode={"mode": "off"})
    assert ConsentMode(p).default(Consent.none(), objection=False, choice_pending=True) is None


def test_wait_for_update_only_while_a_choice_is_pending() -> None:
    p = policy(consent_mode={"wait_for_update_ms": 800})
    mode = ConsentMode(p)
    pending = mode.default(Consent.none(), objection=False, choice_pending=True)
    settled = mode.default(granted(p, "analytics"), objection=False, choice_pending=False)
    assert pending is not None and settled is not None
    assert parse_default(pending.script())["wait_for_update"] == 800
    assert "wait_for_update" not in parse_default(settled.script())


def test_ads_data_redaction_only_while_ad_storage_is_denied_and_no_url_passthrough_by_default() -> None:
    p = policy()
    mode = ConsentMode(p)
    denied = mode.default(Consent.none(), objection=False, choice_pending=True)
    allowed = mode.default(granted(p, "marketing"), objection=False, choice_pending=False)
    assert denied is not None and allowed is not None
    assert 'gtag("set","ads_data_redaction",true);' in denied.script()
    assert "ads_data_redaction" not in allowed.script()
    assert "url_passthrough" not in denied.script()


def test_url_passthrough_is_an_explicit_option_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="consentgate.consent_mode"):
        mode = ConsentMode(policy(consent_mode={"url_passthrough": True}))
    assert "url_passthrough" in caplog.text
    default = mode.default(Consent.none(), objection=False, choice_pending=True)
    assert default is not None and 'gtag("set","url_passthrough",true);' in default.script()


def test_script_defines_gtag_first_and_carries_the_nonce_escaped() -> None:
    default = ConsentModeDefault({"ad_storage": "denied"}, None, False, False)
    script = default.script('a"b')
    assert script.startswith('<script nonce="a&quot;b">window.dataLayer=window.dataLayer||[];')
    assert script.index("function gtag()") < script.index('gtag("consent","default"')
    assert script.isascii()


def test_advanced_mode_lets_google_tags_load_except_against_a_denial_or_an_opt_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="consentgate.consent_mode"):
        advanced = ConsentMode(policy(consent_mode={"mode": "advanced"}))
    assert "risk decision" in caplog.text
    nothing = Consent.none()
    assert advanced.tag_loads("google-tag-manager", nothing, objection=False)
    assert advanced.tag_loads("google-ads", nothing, objection=False)
    assert not advanced.tag_loads("google-ads", nothing, objection=True)
    assert advanced.tag_loads("google-tag-manager", nothing, objection=True)
    denied = granted(policy(), denied_services={"google-tag-manager"})
    assert not advanced.tag_loads("google-tag-manager", denied, objection=False)
    assert not advanced.tag_loads("meta-pixel", nothing, objection=False)


def test_basic_mode_never_exempts_google_tags() -> None:
    assert not ConsentMode(policy()).tag_loads("google-tag-manager", Consent.none(), objection=False)


# --- in Chromium: the default survives a page that assigns a new dataLayer ---------------------

DATA_LAYER = "Array.from(window.dataLayer, e => Object.prototype.toString.call(e) === '[object Arguments]' ? ['args', ...Array.from(e)] : e)"


def _run_in_chromium(browser: Any, page_scripts: str) -> list[Any]:
    default = ConsentModeDefault({"ad_storage": "denied", "analytics_storage": "granted"}, None, True, False)
    page = browser.new_page()
    try:
        page.set_content(
            f"<!doctype html><html><head>{default.script()}{page_scripts}</head><body></body></html>"
        )
        result: list[Any] = page.evaluate(DATA_LAYER)
        return result
    finally:
        page.close()


@pytest.mark.parametrize(
    "assignment",
    [
        "dataLayer = [{'pageType': 'product'}];",  # Google's older GTM instruction
        "var dataLayer = [{'pageType': 'product'}];",
        "window.dataLayer = [{'pageType': 'product'}];",
    ],
)
def test_a_page_that_assigns_a_new_data_layer_keeps_the_default_first(browser: Any, assignment: str) -> None:
    layer = _run_in_chromium(browser, f"<script>{assignment}</script><script>gtag('event', 'view');</script>")
    # Before: [{'pageType': 'product'}, ['args', 'event', 'view']] - a container loaded next saw no
    # consent state and took ad_storage as granted.
    assert layer[0] == [
        "args",
        "consent",
        "default",
        {"ad_storage": "denied", "analytics_storage": "granted"},
    ]
    assert layer[1] == ["args", "set", "ads_data_redaction", True]
    assert layer[2:] == [{"pageType": "product"}, ["args", "event", "view"]]


def test_the_usual_snippets_leave_the_data_layer_as_they_found_it(browser: Any) -> None:
    usual = (
        "<script>window.dataLayer = window.dataLayer || []; dataLayer.push({'pageType': 'home'});"
        "function gtag(){dataLayer.push(arguments);} gtag('js', 1);</script>"
        "<script>dataLayer = dataLayer;</script>"
    )
    layer = _run_in_chromium(browser, usual)
    assert [entry[1] if isinstance(entry, list) else entry for entry in layer] == [
        "consent",
        "set",
        {"pageType": "home"},
        "js",
    ]
