"""What the self-test saw (observations) and what it concluded (findings): plain frozen values.

The crawler produces the observations, ``classify`` turns them into findings, ``report`` prints
both. Everything here serialises with ``dataclasses.asdict`` into the ``--json`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["before", "reject", "accept", "withdraw"]
PHASES: tuple[Phase, ...] = ("before", "reject", "accept", "withdraw")
PHASE_LABELS: dict[Phase, str] = {
    "before": "Before any choice",
    "reject": "After “Reject all”",
    "accept": "After “Accept all”",
    "withdraw": "After withdrawing consent",
}

# When, inside one phase, something was seen: before the choice was made, while the choice
# was being set up (withdraw phase: between "Accept all" and the withdrawal, so consented and
# not judged), or after the choice.
Stage = Literal["pre_choice", "setup", "post_choice"]

Severity = Literal["violation", "warning", "info"]
CookieSource = Literal["header", "script", "header+script", "unknown"]


@dataclass(frozen=True)
class SelftestConfig:
    """One run's settings (the CLI flags). ``chromium`` None: env CONSENTGATE_CHROMIUM, else
    /usr/bin/chromium."""

    url: str
    pages: int = 10
    region: str | None = None
    region_header: str = "CF-IPCountry"
    gpc: bool = False
    accept_selector: str | None = None
    reject_selector: str | None = None
    reopen_selector: str | None = None
    timeout: float = 15.0
    # How long to wait for a consent banner that a script adds after the page has loaded.
    banner_wait: float = 6.0
    phases: tuple[Phase, ...] = PHASES
    chromium: str | None = None


@dataclass(frozen=True)
class PageVisit:
    url: str
    final_url: str
    status: int | None
    stage: Stage
    error: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    url: str
    host: str
    resource_type: str
    method: str
    page: str  # the top-level document that made the request
    stage: Stage


@dataclass(frozen=True)
class CookieWrite:
    """A cookie the browser was asked to store: a Set-Cookie header or a ``document.cookie``
    (or ``cookieStore.set``) call. ``origin`` is the response URL or the script URL."""

    name: str
    source: Literal["header", "script"]
    origin: str
    page: str
    stage: Stage
    deletion: bool


@dataclass(frozen=True)
class CookieRecord:
    """A cookie found in the browser's cookie jar during the phase (values are never kept)."""

    name: str
    domain: str
    path: str
    expires: float | None  # epoch seconds; None: session cookie
    http_only: bool
    secure: bool
    same_site: str
    third_party: bool
    source: CookieSource
    set_by: str  # response or script URL that wrote it, "" when unknown
    first_page: str
    first_stage: Stage
    present_after_choice: bool
    written_after_choice: bool  # new or changed after the choice


@dataclass(frozen=True)
class StorageRecord:
    origin: str
    kind: Literal["localStorage", "sessionStorage"]
    key: str
    set_by: str  # script URL that called setItem, "" when not seen
    first_page: str
    first_stage: Stage
    present_after_choice: bool
    written_after_choice: bool


@dataclass(frozen=True)
class ConsentCall:
    """One ``gtag('consent', command, params)`` found in ``window.dataLayer``."""

    command: str
    params: dict[str, str]
    page: str
    document: str  # an id per loaded document: times compare only within one document
    time_ms: float | None  # performance.now() when pushed; None if found only at the end
    stage: Stage


@dataclass(frozen=True)
class TagEvent:
    """A Google tag (gtag.js / gtm.js, by path, so server-side tagging counts too) being
    requested, or a script taking over ``dataLayer.push`` (which gtag.js and gtm.js do when
    they run)."""

    kind: Literal["requested", "executed"]
    url: str
    page: str
    document: str
    time_ms: float
    stage: Stage


@dataclass(frozen=True)
class BannerCheck:
    """The first view of the site, before any choice: which controls a visitor can see."""

    accept_label: str | None
    reject_label: str | None
    settings_label: str | None
    reject_is_link: bool
    # How the reject control (else the accept control) was found: "selector", "consentgate
    # markup", "accessible name", or "none" when neither is visible.
    found_by: str


@dataclass(frozen=True)
class Choice:
    """How a phase's choice was made: the controls clicked, in order."""

    action: Literal["reject", "accept", "withdraw"]
    made: bool
    steps: tuple[str, ...] = ()
    detail: str = ""
    banner_still_visible: bool = False
    # Withdraw phase: the consent platform API that had to open the preferences because no
    # visible control did (the phase is still measured; the missing control is a finding).
    reopen_api: str | None = None

    @property
    def clicks(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class PhaseObservation:
    phase: Phase
    pages: tuple[PageVisit, ...] = ()
    requests: tuple[RequestRecord, ...] = ()
    cookies: tuple[CookieRecord, ...] = ()
    cookie_writes: tuple[CookieWrite, ...] = ()
    storage: tuple[StorageRecord, ...] = ()
    consent_calls: tuple[ConsentCall, ...] = ()
    tag_events: tuple[TagEvent, ...] = ()
    banner: BannerCheck | None = None
    choice: Choice | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One conclusion. ``requirement`` points into the project's requirements note (CG-xx)."""

    severity: Severity
    phase: Phase
    rule: str
    requirement: str
    subject: str
    message: str
    service_id: str | None = None
    category: str | None = None
    page: str = ""
    count: int = 1
    evidence: tuple[str, ...] = field(default=())
