"""The bounded registry of what the site's own pages load."""

from __future__ import annotations

import pytest

from consentgate.http.inventory import HostInventory, groups_of, valid_host
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from tests.http.http_harness import finding


@pytest.fixture
def policy() -> Policy:
    return load_dict(
        {
            "include_catalog": False,
            "services": {"pixel": {"category": "marketing", "hosts": ["pixel.example"]}},
        }
    )


def test_an_unknown_host_let_through_is_recorded_for_its_element_kind(policy: Policy) -> None:
    inventory = HostInventory(policy)
    inventory.observe(
        finding("iframe", "unknown", None, "Maps.Example.org", rule="unknown", action="reported")
    )
    assert inventory.hosts("frame") == {"maps.example.org"}
    assert inventory.hosts("script") == frozenset()


def test_a_tracker_host_is_never_recorded_as_a_plain_host(policy: Policy) -> None:
    inventory = HostInventory(policy)
    assert not inventory.record_host("img", "www.pixel.example")
    assert inventory.hosts("img") == frozenset()


def test_a_met_service_is_used_whether_it_was_blocked_or_not(policy: Policy) -> None:
    inventory = HostInventory(policy)
    inventory.observe(finding("img", "marketing", "pixel", "pixel.example", action="blocked"))
    assert [s.id for s in inventory.services()] == ["pixel"]
    assert inventory.styled_services() == frozenset()


def test_a_service_met_as_a_link_may_serve_styles(policy: Policy) -> None:
    inventory = HostInventory(policy)
    inventory.observe(finding("link", "marketing", "pixel", "pixel.example", action="blocked"))
    assert inventory.styled_services() == {"pixel"}


def test_unknown_services_are_ignored(policy: Policy) -> None:
    inventory = HostInventory(policy)
    assert not inventory.use_service("nobody")
    inventory.observe(finding("script", "analytics", "nobody", "x.example"))
    assert inventory.services() == ()


def test_version_changes_only_when_something_is_learned(policy: Policy) -> None:
    inventory = HostInventory(policy)
    before = inventory.version
    inventory.record_host("img", "cdn.example")
    after = inventory.version
    inventory.record_host("img", "cdn.example")
    assert before < after == inventory.version


def test_a_full_table_stops_learning_and_keeps_what_it_has(
    policy: Policy, caplog: pytest.LogCaptureFixture
) -> None:
    inventory = HostInventory(policy, max_hosts=2)
    assert inventory.record_host("img", "a.example")
    assert inventory.record_host("img", "b.example")
    assert not inventory.record_host("img", "c.example")
    assert not inventory.record_host("img", "d.example")
    assert inventory.hosts("img") == {"a.example", "b.example"}
    assert sum("inventory is full" in r.message for r in caplog.records) == 1


def test_services_learned_from_reports_have_their_own_bound() -> None:
    services = {f"s{i}": {"category": "analytics", "hosts": [f"s{i}.example"]} for i in range(5)}
    policy = load_dict({"include_catalog": False, "services": services})
    inventory = HostInventory(policy, max_reported_services=2)
    assert inventory.use_service("s0", from_report=True)
    assert inventory.use_service("s1", from_report=True)
    assert not inventory.use_service("s2", from_report=True)
    assert inventory.use_service("s3")  # the site's own pages still teach


def test_hosts_that_a_csp_cannot_name_are_refused(policy: Policy) -> None:
    inventory = HostInventory(policy)
    for bad in ("a;b.example", "a b", "a_b.example", "x.example,y", "[::1]", ""):
        assert not inventory.record_host("img", bad)
        assert not valid_host(bad)


def test_negative_bounds_are_refused_naming_the_option(policy: Policy) -> None:
    with pytest.raises(ValueError, match="max_hosts"):
        HostInventory(policy, max_hosts=-1)


def test_element_kinds_map_to_their_directives() -> None:
    assert groups_of("script") == ("script",)
    assert groups_of("a") == ("connect",)
    assert set(groups_of("link")) == {"script", "style", "font"}
    assert groups_of("div") == ()


def test_a_service_remembers_the_hosts_it_was_met_on(policy: Policy) -> None:
    inventory = HostInventory(policy)
    inventory.observe(finding("img", "marketing", "pixel", "www.pixel.example"))
    inventory.use_service("pixel", host="cdn.pixel.example", from_report=True)
    inventory.use_service("pixel", host="bad host")
    assert inventory.service_hosts("pixel") == {"www.pixel.example", "cdn.pixel.example"}
