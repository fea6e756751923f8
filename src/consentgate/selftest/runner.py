"""Crawl, then judge: one self-test run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from consentgate.policy.model import Policy
from consentgate.selftest.classify import Assessment, assess
from consentgate.selftest.crawler import Crawl, crawl
from consentgate.selftest.records import SelftestConfig


@dataclass(frozen=True)
class SelftestResult:
    config: SelftestConfig
    crawl: Crawl
    assessment: Assessment
    policy_source: str
    policy_fingerprint: str
    started_at: float
    finished_at: float

    @property
    def exit_code(self) -> int:
        """0 when no violation was found, 1 otherwise (warnings do not fail the run)."""
        return 1 if self.assessment.violations else 0


def default_policy() -> Policy:
    from consentgate.policy.load import load_dict

    return load_dict({})


async def arun_selftest(
    config: SelftestConfig, policy: Policy | None = None, *, policy_source: str = ""
) -> SelftestResult:
    """Run the self-test from async code (a test's event loop, say).

    >>> result = await arun_selftest(SelftestConfig("http://127.0.0.1:8000/", pages=3))  # doctest: +SKIP
    >>> result.exit_code  # doctest: +SKIP
    0
    """
    started = time.time()
    if policy is None:
        policy = default_policy()
        policy_source = policy_source or "default policy (the tracker catalog)"
    crawled = await crawl(config)
    assessment = assess(
        crawled.phases, policy, site_host=crawled.site_host, region=config.region, gpc=config.gpc
    )
    return SelftestResult(
        config=config,
        crawl=crawled,
        assessment=assessment,
        policy_source=policy_source or "policy given by the caller",
        policy_fingerprint=policy.fingerprint(),
        started_at=started,
        finished_at=time.time(),
    )


def run_selftest(
    config: SelftestConfig, policy: Policy | None = None, *, policy_source: str = ""
) -> SelftestResult:
    """Run the self-test (blocking). Raises ``SelftestError`` when the run cannot be done."""
    return asyncio.run(arun_selftest(config, policy, policy_source=policy_source))
