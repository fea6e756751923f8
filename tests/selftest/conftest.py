"""Fixtures for the self-test: the local sites (see selftest_sites.py), the policy that
classifies their trackers, and one full run per site shared by the tests that read it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from consentgate.selftest import SelftestConfig, SelftestResult, arun_selftest
from tests.browser_kit import serve

from .selftest_sites import (
    POLICY_DATA,
    POLICY_TOML,
    Sites,
    clean_site,
    leaky_site,
    platform_site,
    tracker_app,
    widget_app,
)


@pytest.fixture(scope="session")
def sites() -> Iterator[Sites]:
    with serve(tracker_app()) as tracker_port, serve(widget_app(), "127.0.0.2") as widget_port:
        tracker = f"http://localhost:{tracker_port}"
        widget = f"http://127.0.0.2:{widget_port}"
        with (
            serve(clean_site(tracker)) as clean_port,
            serve(leaky_site(tracker, widget)) as leaky_port,
            serve(platform_site(tracker)) as platform_port,
        ):
            yield Sites(
                clean=f"http://127.0.0.1:{clean_port}/",
                leaky=f"http://127.0.0.1:{leaky_port}/",
                platform=f"http://127.0.0.1:{platform_port}/",
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


async def _run(config: SelftestConfig, policy: Policy) -> SelftestResult:
    return await arun_selftest(config, policy, policy_source="tests/selftest policy")


@pytest.fixture(scope="session")
def results(sites: Sites, chromium_path: str, site_policy: Policy) -> dict[str, SelftestResult]:
    """All sites tested at once (one browser each): the runs mostly wait for the network."""
    configs = {
        "clean": SelftestConfig(sites.clean, pages=2, timeout=10, banner_wait=3, chromium=chromium_path),
        "leaky": SelftestConfig(sites.leaky, pages=2, timeout=10, banner_wait=3, chromium=chromium_path),
        "platform": SelftestConfig(
            sites.platform,
            pages=1,
            timeout=10,
            banner_wait=3,
            chromium=chromium_path,
            phases=("accept", "withdraw"),
        ),
    }

    async def run_all() -> dict[str, SelftestResult]:
        async with asyncio.TaskGroup() as group:
            tasks = {name: group.create_task(_run(config, site_policy)) for name, config in configs.items()}
        return {name: task.result() for name, task in tasks.items()}

    return asyncio.run(run_all())


@pytest.fixture(scope="session")
def clean_result(results: dict[str, SelftestResult]) -> SelftestResult:
    return results["clean"]


@pytest.fixture(scope="session")
def leaky_result(results: dict[str, SelftestResult]) -> SelftestResult:
    return results["leaky"]


@pytest.fixture(scope="session")
def platform_result(results: dict[str, SelftestResult]) -> SelftestResult:
    return results["platform"]
