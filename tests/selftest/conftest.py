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

from .selftest_sites import (
    POLICY_DATA,
    POLICY_TOML,
    Sites,
    clean_site,
    leaky_site,
    serve,
    tracker_app,
    widget_app,
)


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


async def _run(url: str, chromium: str, policy: Policy) -> SelftestResult:
    config = SelftestConfig(url, pages=2, timeout=10, banner_wait=3, chromium=chromium)
    return await arun_selftest(config, policy, policy_source="tests/selftest policy")


@pytest.fixture(scope="session")
def results(sites: Sites, chromium_path: str, site_policy: Policy) -> dict[str, SelftestResult]:
    """Both sites tested at once (two browsers): the runs mostly wait for the network."""

    async def both() -> dict[str, SelftestResult]:
        async with asyncio.TaskGroup() as group:
            clean = group.create_task(_run(sites.clean, chromium_path, site_policy))
            leaky = group.create_task(_run(sites.leaky, chromium_path, site_policy))
        return {"clean": clean.result(), "leaky": leaky.result()}

    return asyncio.run(both())


@pytest.fixture(scope="session")
def clean_result(results: dict[str, SelftestResult]) -> SelftestResult:
    return results["clean"]


@pytest.fixture(scope="session")
def leaky_result(results: dict[str, SelftestResult]) -> SelftestResult:
    return results["leaky"]
