"""Browser self-test: drive a real Chromium through a site (no choice, reject, accept,
withdraw) and report what a regulator would check.

>>> from consentgate.selftest import SelftestConfig, run_selftest
>>> result = run_selftest(SelftestConfig("http://127.0.0.1:8000/", pages=3))  # doctest: +SKIP
>>> result.exit_code, len(result.assessment.violations)  # doctest: +SKIP
(0, 0)

Playwright is imported only when a run starts (``pip install 'consentgate[selftest]'``).
"""

from __future__ import annotations

from consentgate.selftest.classify import Assessment, assess
from consentgate.selftest.crawler import ChromiumMissing, SelftestError, SiteUnreachable
from consentgate.selftest.records import PHASES, Finding, PhaseObservation, SelftestConfig
from consentgate.selftest.report import render_html, summary_text, to_json
from consentgate.selftest.runner import SelftestResult, arun_selftest, run_selftest

__all__ = [
    "PHASES",
    "Assessment",
    "ChromiumMissing",
    "Finding",
    "PhaseObservation",
    "SelftestConfig",
    "SelftestError",
    "SelftestResult",
    "SiteUnreachable",
    "arun_selftest",
    "assess",
    "render_html",
    "run_selftest",
    "summary_text",
    "to_json",
]
