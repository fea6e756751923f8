"""The self-test's three outputs: a terminal summary, a JSON file, and one HTML page.

The HTML report is self-contained (inline CSS, no scripts, images or fonts from anywhere) and
rendered by an autoescaping Jinja2 template: every value in it came from the crawled site, so
every value is escaped, and URLs are shown as text, never as links.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import jinja2

from consentgate.selftest.classify import PhaseAssessment
from consentgate.selftest.hosts import is_google_tag
from consentgate.selftest.records import PHASE_LABELS, Finding, Phase, PhaseObservation
from consentgate.selftest.runner import SelftestResult

_MARK = {"violation": "x", "warning": "!", "info": "i"}
_VERDICT_MARK = {"ok": "ok", "violation": "VIOLATION", "warning": "warning", "unclassified": "unclassified"}


def _version() -> str:
    from consentgate import __version__

    return __version__


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(findings: tuple[Finding, ...]) -> dict[Phase, Counter[str]]:
    counts: dict[Phase, Counter[str]] = {}
    for finding in findings:
        counts.setdefault(finding.phase, Counter())[finding.severity] += 1
    return counts


def _pairs(result: SelftestResult) -> list[tuple[PhaseObservation, PhaseAssessment]]:
    return list(zip(result.crawl.phases, result.assessment.phases, strict=True))


def _state(assessment: PhaseAssessment, observation: PhaseObservation) -> str:
    if assessment.phase == "before":
        return "no choice made"
    choice = observation.choice
    if choice is None or not choice.made:
        return "choice failed: not judged"
    steps = " → ".join(f"“{step}”" for step in choice.steps)
    return f"{choice.clicks} interaction(s): {steps}"


# -- terminal ---------------------------------------------------------------------------------
def summary_text(result: SelftestResult) -> str:
    config = result.config
    assessment = result.assessment
    lines = [
        f"consentgate selftest  {config.url}",
        f"{result.crawl.browser} · region {config.region or '(none)'} ({assessment.region_mode}) · "
        f"GPC {'on' if config.gpc else 'off'} · up to {config.pages} page(s) per phase · "
        f"policy: {result.policy_source}",
    ]
    banner = next((o.banner for o in result.crawl.phases if o.banner is not None), None)
    if banner is not None:
        lines.append(
            f"First layer: accept {_quoted(banner.accept_label)} · reject {_quoted(banner.reject_label)}"
            f" · settings {_quoted(banner.settings_label)}"
        )
    counts = _counts(assessment.findings)
    lines += [
        "",
        f"{'Phase':<28}{'Pages':>6}{'Requests':>10}{'3rd-party':>11}{'Cookies':>9}{'Violations':>12}{'Warnings':>10}",
    ]
    for observation, phase in _pairs(result):
        count = counts.get(phase.phase, Counter())
        lines.append(
            f"{PHASE_LABELS[phase.phase]:<28}{len(observation.pages):>6}{phase.requests:>10}"
            f"{phase.third_party_requests:>11}{len(phase.cookies):>9}{count['violation']:>12}{count['warning']:>10}"
        )
    for observation, phase in _pairs(result):
        lines += ["", f"{PHASE_LABELS[phase.phase]} — {_state(phase, observation)}"]
        third = [h for h in phase.hosts if h.third_party or h.verdict == "violation"]
        hosts = ", ".join(
            f"{h.host} ×{h.requests} ({h.service_name or 'unclassified'}"
            f"{', ' + h.category if h.category else ''}) {_VERDICT_MARK.get(h.verdict, h.verdict)}"
            for h in third
        )
        lines.append(f"  third parties: {hosts or 'none'}")
        cookies = ", ".join(
            f"{c.cookie.name} ({c.category or 'unclassified'}, {c.cookie.source}) "
            + _VERDICT_MARK.get(c.verdict, c.verdict)
            for c in phase.cookies
        )
        lines.append(f"  cookies: {cookies or 'none'}")
    for severity, title in (("violation", "Violations"), ("warning", "Warnings"), ("info", "Notes")):
        selected = [f for f in assessment.findings if f.severity == severity]
        if not selected:
            continue
        lines += ["", f"{title} ({len(selected)})"]
        for finding in selected:
            where = f"[{finding.phase}] {finding.requirement} {finding.rule}"
            lines.append(f"  {_MARK[severity]} {where}: {finding.message}")
            if finding.page:
                lines.append(f"      first on {finding.page}")
    violations = len(assessment.violations)
    verdict = f"FAIL: {violations} violation(s)" if violations else "PASS: no violations"
    lines += ["", f"Result: {verdict}, {len(assessment.warnings)} warning(s)"]
    return "\n".join(lines)


def _quoted(label: str | None) -> str:
    return f"“{label}”" if label else "— none"


# -- JSON -------------------------------------------------------------------------------------
def to_json(result: SelftestResult) -> dict[str, object]:
    """Everything the run saw and concluded, as plain JSON data."""
    phases = []
    for observation, phase in _pairs(result):
        raw = dataclasses.asdict(observation)
        if observation.choice is not None:
            raw["choice"]["clicks"] = observation.choice.clicks
        phases.append(
            {
                "phase": phase.phase,
                "label": PHASE_LABELS[phase.phase],
                "judged": phase.judged,
                "consent": phase.consent,
                "requests_judged": phase.requests,
                "third_party_requests_judged": phase.third_party_requests,
                "hosts": [dataclasses.asdict(h) for h in phase.hosts],
                "cookie_rows": [dataclasses.asdict(c) for c in phase.cookies],
                "storage_rows": [dataclasses.asdict(s) for s in phase.storage],
                "observed": raw,
            }
        )
    return {
        "tool": "consentgate selftest",
        "version": _version(),
        "url": result.config.url,
        "origin": result.crawl.origin,
        "browser": result.crawl.browser,
        "started_at": _when(result.started_at),
        "finished_at": _when(result.finished_at),
        "config": dataclasses.asdict(result.config),
        "policy": {"source": result.policy_source, "fingerprint": result.policy_fingerprint},
        "region_mode": result.assessment.region_mode,
        "result": "fail" if result.exit_code else "pass",
        "exit_code": result.exit_code,
        "counts": {
            "violations": len(result.assessment.violations),
            "warnings": len(result.assessment.warnings),
        },
        "findings": [dataclasses.asdict(f) for f in result.assessment.findings],
        "phases": phases,
    }


def write_json(result: SelftestResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- HTML -------------------------------------------------------------------------------------
def _expiry(expires: float | None, now: float) -> str:
    if expires is None:
        return "session"
    days = (expires - now) / 86400
    if days < 1:
        return f"{max(days * 24, 0):.0f} h"
    return f"{days:.0f} days" if days < 730 else f"{days / 365:.1f} years"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("consentgate.selftest", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["expiry"] = _expiry
    return environment


def _shortener(origin: str) -> Callable[[str], str]:
    def short(url: str) -> str:
        # Pages of the tested site show as paths; the origin is in the report's header.
        return url[len(origin) :] if url.startswith(origin + "/") else url

    return short


def _timeline(observation: PhaseObservation) -> list[dict[str, object]]:
    """Consent calls and Google tag events per document, in time order."""
    pages: dict[str, int] = {}
    events: list[tuple[int, str, float, dict[str, object]]] = []
    for call in observation.consent_calls:
        order = pages.setdefault(call.document, len(pages))
        details = [f"{key}: {value}" for key, value in sorted(call.params.items())]
        moment = call.time_ms if call.time_ms is not None else float("inf")
        events.append(
            (
                order,
                call.document,
                moment,
                {
                    "page": call.page,
                    "label": f"gtag('consent', '{call.command}')",
                    "details": details,
                    "url": "",
                },
            )
        )
    for tag in observation.tag_events:
        order = pages.setdefault(tag.document, len(pages))
        if tag.kind == "requested":
            label = "Google tag requested"
        else:
            label = "Google tag ran" if is_google_tag(tag.url) else "a script took over dataLayer.push"
        events.append(
            (
                order,
                tag.document,
                tag.time_ms,
                {"page": tag.page, "label": label, "details": [], "url": tag.url, "tag": True},
            )
        )
    rows = []
    previous = None
    for _, document, moment, row in sorted(events, key=lambda e: (e[0], e[2])):
        at = "—" if moment == float("inf") else f"{moment:.0f}"
        rows.append({"tag": False, **row, "at": at, "first": document != previous})
        previous = document
    return rows


def html_context(result: SelftestResult) -> Mapping[str, object]:
    counts = _counts(result.assessment.findings)
    phases = []
    for observation, phase in _pairs(result):
        count = counts.get(phase.phase, Counter())
        phases.append(
            {
                "id": phase.phase,
                "label": PHASE_LABELS[phase.phase],
                "state": _state(phase, observation),
                "judged": phase.judged,
                "observation": observation,
                "assessment": phase,
                "third_party_hosts": [h for h in phase.hosts if h.third_party or h.verdict == "violation"],
                "violations": count["violation"],
                "warnings": count["warning"],
                "findings": [f for f in result.assessment.findings if f.phase == phase.phase],
                "timeline": _timeline(observation),
            }
        )
    banner = next((o.banner for o in result.crawl.phases if o.banner is not None), None)
    return {
        "result": result,
        "config": result.config,
        "version": _version(),
        "finished": _when(result.finished_at),
        "duration": f"{result.finished_at - result.started_at:.1f} s",
        "phases": phases,
        "banner": banner,
        "findings": result.assessment.findings,
        "violations": len(result.assessment.violations),
        "warnings": len(result.assessment.warnings),
        "pages": sum(len(o.pages) for o in result.crawl.phases),
        "third_party_hosts": len(
            {h.host for p in result.assessment.phases for h in p.hosts if h.third_party}
        ),
    }


def render_html(result: SelftestResult) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render({**html_context(result), "short": _shortener(result.crawl.origin)})


def write_html(result: SelftestResult, path: str | Path) -> None:
    Path(path).write_text(render_html(result), encoding="utf-8")
