"""Judges what the crawler saw against the site's policy and the tracker catalog.

Each phase has a window (everything in ``before``; what happened after the choice in the
others) and a consent state (none, rejected, accepted). A request, cookie or storage key whose
service's category that state does not allow is a violation; one that neither the policy nor the
catalog knows is a warning (add it to the policy, so the banner can tell visitors about it).
The region mode (opt-in, UK statistics, US opt-out, notice) comes from the policy's region
rules for ``--region``; without it, the policy's default mode (opt-in unless configured). In a
French region under an opt-in mode, a service flagged ``cnil_exempt_audience`` may run before a
choice (unless the browser sends GPC, which objects); "Reject all" objects to it.

References: requirements note CG-01..CG-03 (prior blocking), CG-10/CG-13 (first layer, equal
effort), CG-15 (information), CG-20..CG-22 (withdrawal), CG-59/CG-62 (GPC), CG-70..CG-73
(Google Consent Mode), CG-52/CG-53 (UK and French exceptions).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from consentgate.http.cookie_lifetime import RECORD_SUFFIX
from consentgate.policy.model import NECESSARY, CookieSettings, Policy, RegionMode, Service
from consentgate.policy.regions import is_french
from consentgate.selftest.hosts import domain_matches, host_of, is_google_tag, same_site
from consentgate.selftest.records import (
    BannerCheck,
    Choice,
    ConsentCall,
    CookieRecord,
    CookieWrite,
    Finding,
    Phase,
    PhaseObservation,
    Stage,
    StorageRecord,
    TagEvent,
)

ConsentState = Literal["none", "rejected", "accepted"]
Verdict = Literal["ok", "violation", "warning", "unclassified", "not judged"]

# consentgate's consent cookie under its default name: a site behind consentgate that keeps the
# default sets it whatever policy file the test is given (or none).
_DEFAULT_CONSENT_COOKIE = CookieSettings().name
_ALL_STAGES: frozenset[Stage] = frozenset({"pre_choice", "setup", "post_choice"})
_AFTER_CHOICE: frozenset[Stage] = frozenset({"post_choice"})
_WHEN: dict[Phase, str] = {
    "before": "before any choice",
    "reject": "after “Reject all”",
    "accept": "after “Accept all”",
    "withdraw": "after consent was withdrawn",
}
# Consent Mode types → the standard category that grants each (requirements CG-73), for
# policies whose categories do not say.
_STANDARD_TYPE_CATEGORY: dict[str, str] = {
    "ad_storage": "marketing",
    "ad_user_data": "marketing",
    "ad_personalization": "marketing",
    "analytics_storage": "analytics",
    "functionality_storage": "preferences",
    "personalization_storage": "preferences",
    "security_storage": NECESSARY,
}


@dataclass(frozen=True)
class HostRow:
    host: str
    third_party: bool
    service_id: str | None
    service_name: str
    category: str | None
    requests: int
    first_page: str
    examples: tuple[str, ...]
    verdict: Verdict


@dataclass(frozen=True)
class CookieRow:
    cookie: CookieRecord
    service_id: str | None
    service_name: str
    category: str | None
    verdict: Verdict


@dataclass(frozen=True)
class StorageRow:
    record: StorageRecord
    service_id: str | None
    service_name: str
    category: str | None
    verdict: Verdict


@dataclass(frozen=True)
class PhaseAssessment:
    phase: Phase
    judged: bool
    consent: ConsentState
    requests: int
    third_party_requests: int
    hosts: tuple[HostRow, ...]
    cookies: tuple[CookieRow, ...]
    storage: tuple[StorageRow, ...]


@dataclass(frozen=True)
class Assessment:
    region_mode: RegionMode
    phases: tuple[PhaseAssessment, ...]
    findings: tuple[Finding, ...]

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "violation")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")


def region_mode(policy: Policy, region: str | None) -> RegionMode:
    """The policy's mode for ``region`` (exact code, then its country), else its default."""
    if region:
        rule = policy.regions.get(region) or policy.regions.get(region.split("-", 1)[0])
        if rule is not None:
            return rule.mode
    return policy.default_region_mode


@dataclass
class _Once:
    """A finding reported once however many phases show it, with the phases listed."""

    finding: Finding
    phases: list[Phase] = field(default_factory=list)


class _Judge:
    def __init__(self, policy: Policy, site_host: str, region: str | None, gpc: bool) -> None:
        self.policy = policy
        self.lookup = policy.lookup
        self.site_host = site_host
        self.region = region
        self.gpc = gpc
        self.mode = region_mode(policy, region)
        french = bool(region) and is_french(region or "") and self.mode in ("opt_in", "uk_statistics")
        self.exempt = policy.cnil_exempt_services if french else frozenset()
        # The consent cookie, and its companion that dates the exempt cookies (13-month cap).
        names = {policy.cookie.name, _DEFAULT_CONSENT_COOKIE}
        names |= {name + RECORD_SUFFIX for name in names}
        self.consent_cookies = frozenset({*names, *(f"__Host-{name}" for name in names)})
        self.findings: list[Finding] = []
        self.once: dict[tuple[str, ...], _Once] = {}

    # -- lookups ------------------------------------------------------------------------------
    def third_party(self, host: str) -> bool:
        return not same_site(host, self.site_host) and not self.lookup.is_first_party(host)

    def cookie_service(self, cookie: CookieRecord) -> tuple[Service | None, str | None, str]:
        if cookie.name in self.consent_cookies and not cookie.third_party:
            return None, NECESSARY, "consent cookie"
        service = self.lookup.service_for_cookie(cookie.name) or self.lookup.service_for_host(
            cookie.domain.lstrip(".")
        )
        if service is None:
            return None, None, ""
        return service, service.category, service.name

    def storage_service(self, record: StorageRecord) -> Service | None:
        host = record.origin.split("://", 1)[-1].split(":", 1)[0]
        return self.lookup.service_for_cookie(record.key) or (
            self.lookup.service_for_host(host) if self.third_party(host) else None
        )

    def allows(self, service: Service | None, category: str, consent: ConsentState) -> bool:
        if category == NECESSARY or category in self.policy.required_categories or consent == "accepted":
            return True
        sells = (service is not None and service.sale_share) or category == "marketing"
        if self.mode == "notice":
            return True
        if self.mode == "opt_out":
            # US opt-out: everything runs until the visitor opts out; GPC is an opt-out (CG-62).
            return not sells if consent == "rejected" or self.gpc else True
        if consent == "none" and not self.gpc and service is not None and service.id in self.exempt:
            return True  # CNIL audience-measurement exemption (France); GPC objects to it
        if self.mode == "uk_statistics" and consent == "none" and self.policy.has_category(category):
            return self.policy.category(category).uk_statistics
        return False

    # -- findings -----------------------------------------------------------------------------
    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def add_once(self, key: tuple[str, ...], phase: Phase, finding: Finding) -> None:
        entry = self.once.setdefault(key, _Once(finding))
        if phase not in entry.phases:
            entry.phases.append(phase)

    def once_findings(self) -> list[Finding]:
        return [
            dataclasses.replace(
                entry.finding, evidence=(*entry.finding.evidence, "seen in: " + ", ".join(entry.phases))
            )
            for entry in self.once.values()
        ]

    # -- one phase ----------------------------------------------------------------------------
    def window(self, obs: PhaseObservation) -> tuple[bool, ConsentState, frozenset[Stage]]:
        if obs.phase == "before":
            return True, "none", _ALL_STAGES
        if obs.choice is None or not obs.choice.made:
            return False, "none", _ALL_STAGES
        return True, ("accepted" if obs.phase == "accept" else "rejected"), _AFTER_CHOICE

    def requirement(self, phase: Phase, *, header: bool = False) -> str:
        if phase == "withdraw":
            return "CG-22"
        return "CG-03" if header else "CG-01"

    def hosts(
        self, obs: PhaseObservation, judged: bool, consent: ConsentState, stages: frozenset[Stage]
    ) -> list[HostRow]:
        grouped: dict[str, list[str]] = defaultdict(list)
        first_page: dict[str, str] = {}
        for request in obs.requests:
            if request.stage in stages and request.host:
                grouped[request.host].append(request.url)
                first_page.setdefault(request.host, request.page)
        rows = []
        for host, urls in grouped.items():
            service = self.lookup.service_for_host(host)
            third = self.third_party(host)
            verdict: Verdict
            if not judged:
                verdict = "not judged"
            elif service is None:
                verdict = "unclassified" if third else "ok"
            else:
                verdict = "ok" if self.allows(service, service.category, consent) else "violation"
            examples = tuple(dict.fromkeys(urls))[:3]
            row = HostRow(
                host=host,
                third_party=third,
                service_id=service.id if service else None,
                service_name=service.name if service else "",
                category=service.category if service else None,
                requests=len(urls),
                first_page=first_page[host],
                examples=examples,
                verdict=verdict,
            )
            rows.append(row)
            self.host_findings(obs.phase, row, consent)
        return sorted(rows, key=lambda r: (not r.third_party, r.verdict != "violation", r.host))

    def host_findings(self, phase: Phase, row: HostRow, consent: ConsentState) -> None:
        if row.verdict == "violation" and row.service_id is not None:
            self.add(
                Finding(
                    "violation",
                    phase,
                    "tracker-request",
                    self.requirement(phase),
                    row.host,
                    f"{row.requests} request(s) to {row.host} ({row.service_name}, {row.category}) "
                    f"{_WHEN[phase]}",
                    service_id=row.service_id,
                    category=row.category,
                    page=row.first_page,
                    count=row.requests,
                    evidence=row.examples,
                )
            )
        elif row.verdict == "unclassified":
            self.add_once(
                ("host", row.host),
                phase,
                Finding(
                    "warning",
                    phase,
                    "unclassified-host",
                    "CG-15",
                    row.host,
                    f"third-party host {row.host} is in neither the policy nor the catalog: declare "
                    "the service (and its category) in the policy",
                    page=row.first_page,
                    count=row.requests,
                    evidence=row.examples,
                ),
            )
        elif (
            consent == "accepted"
            and self.gpc
            and self.mode in ("opt_in", "uk_statistics")
            and row.category == "marketing"
        ):
            self.add(
                Finding(
                    "warning",
                    phase,
                    "gpc-marketing-after-accept",
                    "CG-59",
                    row.host,
                    f"the browser sent Global Privacy Control, yet {row.host} ({row.service_name}, "
                    "marketing) loaded after “Accept all”: GPC is a standing objection to marketing",
                    service_id=row.service_id,
                    category=row.category,
                    page=row.first_page,
                    count=row.requests,
                )
            )

    def cookies(self, obs: PhaseObservation, judged: bool, consent: ConsentState) -> list[CookieRow]:
        rows = []
        for cookie in obs.cookies:
            if obs.phase != "before" and judged and not cookie.present_after_choice:
                continue
            service, category, name = self.cookie_service(cookie)
            verdict: Verdict
            if not judged:
                verdict = "not judged"
            elif category is None:
                verdict = "unclassified"
            elif self.allows(service, category, consent):
                verdict = "ok"
            elif obs.phase != "before" and not cookie.written_after_choice and cookie.third_party:
                verdict = "warning"  # left from before the choice; the site cannot delete it
            else:
                verdict = "violation"
            row = CookieRow(cookie, service.id if service else None, name, category, verdict)
            rows.append(row)
            self.cookie_findings(obs.phase, row)
        return sorted(rows, key=lambda r: (r.verdict not in ("violation", "warning"), r.cookie.name))

    def cookie_findings(self, phase: Phase, row: CookieRow) -> None:
        cookie = row.cookie
        subject = f"{cookie.name} ({cookie.domain})"
        setter = _setter(cookie)
        kept = phase != "before" and not cookie.written_after_choice
        if row.verdict in ("violation", "warning"):
            what = f"cookie {cookie.name} ({row.service_name}, {row.category})"
            if kept:
                message = f"{what} is still stored {_WHEN[phase]}: {setter} before the choice and not deleted"
                if cookie.third_party:
                    message += (
                        " (a third-party cookie: the site cannot delete it, but must not call its host)"
                    )
            else:
                message = f"{what} {setter} {_WHEN[phase]}"
            self.add(
                Finding(
                    row.verdict,
                    phase,
                    "cookie-kept" if kept else "cookie",
                    self.requirement(phase, header=cookie.source == "header"),
                    subject,
                    message,
                    service_id=row.service_id,
                    category=row.category,
                    page=cookie.first_page,
                )
            )
        elif row.verdict == "unclassified":
            self.add_once(
                ("cookie", cookie.name, cookie.domain),
                phase,
                Finding(
                    "warning",
                    phase,
                    "unclassified-cookie",
                    "CG-15",
                    subject,
                    f"cookie {cookie.name} on {cookie.domain} ({setter}) is in neither the policy nor "
                    "the catalog: declare it under its service in the policy",
                    page=cookie.first_page,
                ),
            )

    def brief_cookies(
        self, obs: PhaseObservation, judged: bool, consent: ConsentState, stages: frozenset[Stage]
    ) -> None:
        """Cookies written in the window but gone before the jar was read (consentgate's firewall
        deletes a cookie it did not allow on the next response): stored all the same (CG-01/03)."""
        if not judged:
            return
        stored = [c for c in obs.cookies if obs.phase == "before" or c.present_after_choice]
        brief: dict[tuple[str, str], list[CookieWrite]] = defaultdict(list)
        for write in obs.cookie_writes:
            host = host_of(write.origin if write.source == "header" else write.page)
            if write.deletion or write.stage not in stages or not host:
                continue
            if not any(c.name == write.name and domain_matches(c.domain, host) for c in stored):
                brief[(write.name, host)].append(write)
        for (name, host), writes in brief.items():
            first = writes[0]
            record = CookieRecord(
                name, host, "/", None, False, False, "", self.third_party(host), first.source,
                first.origin, first.page, first.stage, False, True,
            )  # fmt: skip
            service, category, service_name = self.cookie_service(record)
            if category is None or self.allows(service, category, consent):
                continue
            setter = _setter(record)
            self.add(
                Finding(
                    "violation",
                    obs.phase,
                    "cookie",
                    self.requirement(obs.phase, header=first.source == "header"),
                    f"{name} ({host})",
                    f"cookie {name} ({service_name}, {category}) {setter} {_WHEN[obs.phase]}, "
                    f"{len(writes)} time(s), and deleted again before the test read the cookie jar: "
                    "it was stored all the same",
                    service_id=service.id if service else None,
                    category=category,
                    page=first.page,
                    count=len(writes),
                    evidence=tuple(dict.fromkeys(w.origin for w in writes))[:3],
                )
            )

    def storage(self, obs: PhaseObservation, judged: bool, consent: ConsentState) -> list[StorageRow]:
        rows = []
        for record in obs.storage:
            if obs.phase != "before" and judged and not record.present_after_choice:
                continue
            service = self.storage_service(record)
            verdict: Verdict
            if not judged:
                verdict = "not judged"
            elif service is None:
                verdict = "unclassified"
            elif self.allows(service, service.category, consent):
                verdict = "ok"
            elif obs.phase != "before" and not record.written_after_choice:
                verdict = "warning"
            else:
                verdict = "violation"
            row = StorageRow(
                record,
                service.id if service else None,
                service.name if service else "",
                service.category if service else None,
                verdict,
            )
            rows.append(row)
            if verdict in ("violation", "warning") and service is not None:
                kept = verdict == "warning"
                self.add(
                    Finding(
                        verdict,
                        obs.phase,
                        "storage-kept" if kept else "storage",
                        self.requirement(obs.phase),
                        f"{record.key} ({record.origin})",
                        f"{record.kind} key {record.key} ({service.name}, {service.category}) "
                        + ("is still stored " if kept else "written ")
                        + _WHEN[obs.phase]
                        + (f" (by {record.set_by})" if record.set_by else ""),
                        service_id=service.id,
                        category=service.category,
                        page=record.first_page,
                    )
                )
        return rows

    # -- Google Consent Mode ------------------------------------------------------------------
    def type_allowed(self, consent_type: str, consent: ConsentState) -> bool:
        categories = [c.id for c in self.policy.categories if consent_type in c.consent_mode]
        if not categories:
            categories = [_STANDARD_TYPE_CATEGORY.get(consent_type, "marketing")]
        return any(self.allows(None, category, consent) for category in categories)

    def applies_here(self, call: ConsentCall) -> bool:
        scoped = call.params.get("region")
        if scoped is None:
            return True
        try:
            regions = json.loads(scoped)
        except ValueError:
            regions = [scoped]
        if not self.region or not isinstance(regions, list):
            return False
        return self.region in regions or self.region.split("-", 1)[0] in regions

    def consent_mode(
        self, obs: PhaseObservation, judged: bool, consent: ConsentState, stages: frozenset[Stage]
    ) -> None:
        if not judged:
            return
        calls: dict[str, list[ConsentCall]] = defaultdict(list)
        tags: dict[str, list[TagEvent]] = defaultdict(list)
        in_window: set[str] = set()
        for call in obs.consent_calls:
            calls[call.document].append(call)
            if call.stage in stages:
                in_window.add(call.document)
        for tag in obs.tag_events:
            tags[tag.document].append(tag)
            if tag.stage in stages:
                in_window.add(tag.document)
        late: list[str] = []
        missing: list[str] = []
        granted: dict[str, list[str]] = defaultdict(list)
        for document in sorted(in_window):
            problem = _order_problem(calls[document], tags[document])
            page = (calls[document] or tags[document])[0].page
            if problem == "late":
                late.append(page)
            elif problem == "missing":
                missing.append(page)
            if consent != "accepted" and self.mode in ("opt_in", "uk_statistics"):
                for consent_type in _granted_types([c for c in calls[document] if self.applies_here(c)]):
                    if not self.type_allowed(consent_type, consent):
                        granted[consent_type].append(page)
        phase = obs.phase
        if late:
            # One cause (the page's script order), so one finding, whichever phases show it.
            self.add_once(
                ("consent-default-order",),
                phase,
                Finding(
                    "violation",
                    phase,
                    "consent-default-order",
                    "CG-70",
                    "gtag('consent', 'default')",
                    "a Google tag was loaded or ran before the Consent Mode default was set "
                    f"({len(late)} page(s)): the default must come first",
                    page=late[0],
                    count=len(late),
                    evidence=tuple(dict.fromkeys(late))[:5],
                ),
            )
        if missing:
            self.add(
                Finding(
                    "warning",
                    phase,
                    "consent-default-missing",
                    "CG-70",
                    "gtag('consent', 'default')",
                    f"a Google tag ran without any Consent Mode default ({len(missing)} page(s))",
                    page=missing[0],
                    count=len(missing),
                    evidence=tuple(dict.fromkeys(missing))[:5],
                )
            )
        for consent_type, pages in sorted(granted.items()):
            self.add(
                Finding(
                    "violation",
                    phase,
                    "consent-mode-granted",
                    "CG-71" if phase == "before" else "CG-73",
                    consent_type,
                    f"Consent Mode reports {consent_type} as granted {_WHEN[phase]}",
                    page=pages[0],
                    count=len(pages),
                    evidence=tuple(dict.fromkeys(pages))[:5],
                )
            )

    # -- banner and choices -------------------------------------------------------------------
    def choices(self, observations: Sequence[PhaseObservation]) -> None:
        by_phase = {obs.phase: obs for obs in observations}
        reject, accept, withdraw = by_phase.get("reject"), by_phase.get("accept"), by_phase.get("withdraw")
        accept_clicks = accept.choice.clicks if accept and accept.choice and accept.choice.made else None
        if reject is not None and reject.banner is not None and reject.choice is not None:
            self.reject_findings(reject, reject.banner, reject.choice, accept_clicks)
        if accept is not None and accept.choice is not None and accept.banner is not None:
            choice = accept.choice
            if not choice.made and (accept.banner.accept_label or accept.banner.reject_label):
                self.add(
                    Finding(
                        "warning",
                        "accept",
                        "accept-failed",
                        "CG-13",
                        "accept control",
                        f"could not accept ({choice.detail}); the accept phase was not judged",
                        page=accept.pages[0].url if accept.pages else "",
                    )
                )
            elif choice.banner_still_visible:
                self.banner_persists("accept", accept)
        if withdraw is not None and withdraw.choice is not None:
            self.withdraw_findings(withdraw, withdraw.choice)

    def banner_persists(self, phase: Phase, obs: PhaseObservation) -> None:
        self.add(
            Finding(
                "warning",
                phase,
                "banner-persists",
                "CG-13",
                "consent banner",
                f"the banner is still shown {_WHEN[phase]}: the choice may not have been stored",
                page=obs.pages[0].url if obs.pages else "",
            )
        )

    def reject_findings(
        self, obs: PhaseObservation, banner: BannerCheck, choice: Choice, accept_clicks: int | None
    ) -> None:
        page = obs.pages[0].url if obs.pages else ""
        steps = " → ".join(f"“{s}”" for s in choice.steps)
        if banner.accept_label is None and banner.reject_label is None:
            if not choice.made:
                self.add(
                    Finding(
                        "info",
                        "reject",
                        "no-banner",
                        "CG-10",
                        "consent banner",
                        "no consent banner was found on the first view, so no choice could be made "
                        "(use --accept-selector / --reject-selector if the site has one)",
                        page=page,
                    )
                )
            return
        if banner.reject_label is None:
            detail = (
                f"rejecting took {choice.clicks} interactions ({steps})"
                if choice.made
                else f"no way to reject was found ({choice.detail})"
            )
            self.add(
                Finding(
                    "violation",
                    "reject",
                    "reject-not-on-first-layer",
                    "CG-10",
                    "reject control",
                    f"the first layer shows “{banner.accept_label}” but no reject control; {detail}",
                    page=page,
                    evidence=tuple(choice.steps),
                )
            )
        else:
            if banner.reject_is_link:
                self.add(
                    Finding(
                        "warning",
                        "reject",
                        "reject-is-link",
                        "CG-10",
                        "reject control",
                        f"the reject control “{banner.reject_label}” is a link, not a button like "
                        f"“{banner.accept_label or 'accept'}”",
                        page=page,
                    )
                )
            if choice.made and accept_clicks is not None and choice.clicks > accept_clicks:
                self.add(
                    Finding(
                        "violation",
                        "reject",
                        "reject-harder-than-accept",
                        "CG-13",
                        "reject control",
                        f"rejecting took {choice.clicks} interactions ({steps}), accepting {accept_clicks}",
                        page=page,
                    )
                )
            if not choice.made:
                self.add(
                    Finding(
                        "violation",
                        "reject",
                        "reject-failed",
                        "CG-13",
                        "reject control",
                        f"pressing “{banner.reject_label}” failed: {choice.detail}",
                        page=page,
                    )
                )
        if choice.made and choice.banner_still_visible:
            self.banner_persists("reject", obs)

    def withdraw_findings(self, obs: PhaseObservation, choice: Choice) -> None:
        page = obs.pages[0].url if obs.pages else ""
        steps = " → ".join(f"“{s}”" for s in choice.steps)
        if not choice.made and choice.detail.startswith("could not accept"):
            return  # reported by the accept phase
        if not choice.made:
            no_opener = not choice.steps and choice.reopen_api is None
            self.add(
                Finding(
                    "violation",
                    "withdraw",
                    "no-reopen-control" if no_opener else "withdraw-failed",
                    "CG-20" if no_opener else "CG-21",
                    "withdrawal",
                    f"consent could not be withdrawn: {choice.detail}",
                    page=page,
                    evidence=tuple(choice.steps),
                )
            )
            return
        if choice.reopen_api is not None:
            self.add(
                Finding(
                    "violation",
                    "withdraw",
                    "no-reopen-control",
                    "CG-20",
                    "withdrawal",
                    "no visible control reopens the cookie choices; the test opened them with "
                    f"{choice.reopen_api} to measure the withdrawal",
                    page=page,
                )
            )
        if choice.clicks > 2:
            self.add(
                Finding(
                    "violation",
                    "withdraw",
                    "withdraw-too-hard",
                    "CG-21",
                    "withdrawal",
                    f"withdrawing took {choice.clicks} interactions ({steps}); at most 2 are expected",
                    page=page,
                )
            )
        if choice.banner_still_visible:
            self.banner_persists("withdraw", obs)

    def phase(self, obs: PhaseObservation) -> PhaseAssessment:
        judged, consent, stages = self.window(obs)
        hosts = self.hosts(obs, judged, consent, stages)
        cookies = self.cookies(obs, judged, consent)
        self.brief_cookies(obs, judged, consent, stages)
        storage = self.storage(obs, judged, consent)
        self.consent_mode(obs, judged, consent, stages)
        return PhaseAssessment(
            phase=obs.phase,
            judged=judged,
            consent=consent,
            requests=sum(r.requests for r in hosts),
            third_party_requests=sum(r.requests for r in hosts if r.third_party),
            hosts=tuple(hosts),
            cookies=tuple(cookies),
            storage=tuple(storage),
        )


def _setter(cookie: CookieRecord) -> str:
    writer = cookie.set_by
    script = f"an {writer}" if writer.startswith("inline script") else f"the script {writer}"
    if cookie.source == "header":
        return f"set by a Set-Cookie header from {writer}"
    if cookie.source == "script":
        return f"set by {script}"
    if cookie.source == "header+script":
        return f"set by Set-Cookie headers and scripts (first: {writer})"
    return "set by an unknown writer"


def _order_problem(
    calls: Sequence[ConsentCall], tags: Sequence[TagEvent]
) -> Literal["late", "missing"] | None:
    """Whether a Google tag came before the first consent default in one document."""
    requested = [t.time_ms for t in tags if t.kind == "requested"]
    # A takeover of dataLayer.push by an unnamed script counts when a Google tag was requested.
    executed = [
        t.time_ms
        for t in tags
        if t.kind == "executed" and (is_google_tag(t.url) or (requested and not t.url))
    ]
    if not requested and not executed:
        return None
    defaults = [c.time_ms for c in calls if c.command == "default" and c.time_ms is not None]
    if not defaults and not any(c.command == "default" for c in calls):
        return "missing"
    first_default = min(defaults) if defaults else float("inf")
    if executed:
        return "late" if min(executed) < first_default else None
    # Not seen running (it may not touch dataLayer.push): fall back to when it was requested.
    return "late" if min(requested) < first_default else None


def _granted_types(calls: Iterable[ConsentCall]) -> list[str]:
    """Consent Mode types granted once every default and update of a document is applied."""
    timed = sorted((c for c in calls if c.time_ms is not None), key=lambda c: c.time_ms or 0.0)
    untimed = [c for c in calls if c.time_ms is None]
    state: dict[str, str] = {}
    for call in (*timed, *untimed):
        if call.command in ("default", "update"):
            for key, value in call.params.items():
                if key in _STANDARD_TYPE_CATEGORY:
                    state[key] = value
    return [key for key, value in state.items() if value == "granted"]


def assess(
    observations: Sequence[PhaseObservation],
    policy: Policy,
    *,
    site_host: str,
    region: str | None = None,
    gpc: bool = False,
) -> Assessment:
    """Classify every phase and collect the findings (violations first)."""
    judge = _Judge(policy, site_host, region, gpc)
    phases = tuple(judge.phase(obs) for obs in observations)
    judge.choices(observations)
    findings = [*judge.findings, *judge.once_findings()]
    order = {"violation": 0, "warning": 1, "info": 2}
    phase_order = {"before": 0, "reject": 1, "accept": 2, "withdraw": 3}
    findings.sort(key=lambda f: (order[f.severity], phase_order[f.phase]))
    return Assessment(region_mode=judge.mode, phases=phases, findings=tuple(findings))
