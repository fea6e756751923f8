"""Fixtures for the self-test: the local sites (see selftest_sites.py), the policy that
classifies their trackers, and one full run per site shared by the tests that read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selftest_sites import (
    POLICY_DATA,
    POLICY_TOML,
    Sites,
    clean_site,
    leaky_site,
    serve,
    tracker_app,
    widget_app,
)

from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from consentgate.selftest import SelftestConfig, SelftestResult, run_selftest


@pytest.fixture(scope="session")
def sites() -> Iterator[Sites]:
    with serve(tracker_app()) as tracker_port, serve(widget_app(), "127.0.0.2") as widget_port:
        tracker = f"http://localhost:{tracker_port}"
        widget = f"http://127.0.0.2:{widget_port}"
        with serve(clean_site(tracker)) as clean_port, serve(leaky_site(tracker, widget)) as leaky_port:
            yield Sites(
                clean=f"http://127.0.0.1:{clean_port}/",
                leaky=f"http://127.0.0.1:{leaky_port}/",
                tracker=tracker,
                widget=widget,
            )


@pytest.fixture(scope="session")
def site_policy() -> Policy:
    return load_dict(POLICY_DATA)


@pytest.fixture(scope="session")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "consentgate.toml"
    path.write_text(POLICY_TOML, encoding="utf-8")
    return path


def _run(url: str, chromium: str, policy: Policy) -> SelftestResult:
    config = SelftestConfig(url, pages=2, timeout=10, banner_wait=3, chromium=chromium)
    return run_selftest(config, policy, policy_source="tests/selftest policy")


@pytest.fixture(scope="session")
def clean_result(sites: Sites, chromium_path: str, site_policy: Policy) -> SelftestResult:
    return _run(sites.clean, chromium_path, site_policy)


@pytest.fixture(scope="session")
def leaky_result(sites: Sites, chromium_path: str, site_policy: Policy) -> SelftestResult:
    return _run(sites.leaky, chromium_path, site_policy)
