"""The self-test judge and the CNIL audience-measurement exemption (CG-53): in France, an exempt
service may run before a choice, but not after "Reject all" and not against GPC; elsewhere it
is an ordinary analytics service."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consentgate.policy.load import load_dict
from consentgate.policy.model import CNIL_CONDITIONS, Policy
from consentgate.selftest.classify import Assessment, assess
from consentgate.selftest.records import Choice, CookieRecord, Phase, PhaseObservation, RequestRecord

SITE = "http://www.shop.fr"
PAGE = SITE + "/"
CONDITIONS = tuple(name for name, _ in CNIL_CONDITIONS)  # all asserted (tests/policy checks each)
POLICY: Policy = load_dict(
    {
        "include_catalog": False,
        "first_party_hosts": ["www.shop.fr"],
        "services": {
            "audience": {
                "category": "analytics",
                "hosts": ["stats.shop.fr"],
                "cookies": [{"pattern": "_pk_id\\..*", "lifetime": "13 months"}],
                "cnil_exempt_audience": dict.fromkeys(CONDITIONS, True),
            },
            "stats": {"category": "analytics", "hosts": ["stats.example"]},
        },
    }
)


def request(host: str) -> RequestRecord:
    return RequestRecord(f"https://{host}/t.js", host, "script", "GET", PAGE, "pre_choice")


def cookie(name: str, **changes: object) -> CookieRecord:
    base = CookieRecord(
        name=name, domain="www.shop.fr", path="/", expires=None, http_only=False, secure=True,
        same_site="Lax", third_party=False, source="header", set_by=PAGE, first_page=PAGE,
        first_stage="pre_choice", present_after_choice=False, written_after_choice=False,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def observed(name: Phase, **fields: object) -> PhaseObservation:
    return replace(PhaseObservation(name), **fields)  # type: ignore[arg-type]


def judge(*phases: PhaseObservation, region: str | None, gpc: bool = False) -> Assessment:
    return assess(phases, POLICY, site_host="www.shop.fr", region=region, gpc=gpc)


def flagged(assessment: Assessment) -> set[str | None]:
    return {finding.service_id for finding in assessment.violations}


BEFORE = observed(
    "before",
    requests=(request("stats.shop.fr"), request("stats.example")),
    cookies=(cookie("_pk_id.1.ab"), cookie("consentgate_since", http_only=True)),
)


@pytest.mark.parametrize("region", ["FR", "FR-75", "RE"])
def test_the_exempt_service_before_a_choice_in_france_is_no_violation(region: str) -> None:
    result = judge(BEFORE, region=region)
    assert flagged(result) == {"stats"}
    assert not [f for f in result.findings if "consentgate_since" in f.subject]  # consentgate's own


@pytest.mark.parametrize("region", ["DE", "GB", None])
def test_outside_france_the_exempt_service_before_a_choice_is_a_violation(region: str | None) -> None:
    assert flagged(judge(BEFORE, region=region)) == {"audience", "stats"}


def test_gpc_objects_to_the_exempt_service_in_france() -> None:
    assert flagged(judge(BEFORE, region="FR", gpc=True)) == {"audience", "stats"}


def test_after_reject_all_the_exempt_service_must_stop_in_france() -> None:
    after = RequestRecord("https://stats.shop.fr/t.js", "stats.shop.fr", "script", "GET", PAGE, "post_choice")
    rejected = observed(
        "reject", requests=(after,), choice=Choice("reject", made=True, steps=("Reject all",))
    )
    assert flagged(judge(rejected, region="FR")) == {"audience"}
