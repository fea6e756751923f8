"""The regional rules, applied: from the stored choice, the region and the browser's signals to
what this request may run, what the page shows, and what must be stored.

No I/O and no ASGI: ``Jurisdiction(policy)`` compiles the policy once; ``decide`` runs once per
request and ``apply_choice`` once per consent POST. The middleware enforces the returned
``Decision.consent`` (rewriter and Set-Cookie firewall), renders the banner or the link it names,
and stores ``Decision.persist`` with the audit action ``Decision.event``.

Region modes (``policy.regions``, see ``consentgate.policy.regions``):

- ``opt_in``: nothing optional runs before a choice; the banner asks.
- ``uk_statistics``: as opt-in, except that categories flagged ``uk_statistics`` run before a
  choice (PECR Sch. A1 as inserted by the Data (Use and Access) Act 2025); the banner says so and
  "Reject all" objects in one click.
- ``opt_out``: everything runs until the visitor opts out; no banner, a persistent "Your Privacy
  Choices" link. An opt-out (or GPC) blocks the services flagged ``sale_share``.
- ``notice``: no consent needed; a link to the preferences only. GPC is still honoured as an
  opt-out of sale/sharing (cheap, and it shrinks the risk as US-style laws spread).

The CNIL audience-measurement exemption is per service (``cnil_exempt_audience``) and applies in
French regions (``consentgate.policy.regions.is_french``) under the opt-in modes: before a choice
those services run while the rest of their category waits; the banner says so, and the visitor
objects with the service's switch in the centre, "Reject all" or "withdraw" (each stores the
service in ``denied_services``). In France a saved choice keeps the service only when it names
it (the switch on). An opt-out signal is an objection too (GDPR art. 21(5)): with it, the
service waits for the visitor's own switch.

The opt-out preference signal (GPC, and DNT where ``policy.dnt`` says so) objects to the
*objection set*: in opt-in modes the marketing category and every ``sale_share`` service, in
opt-out modes every ``sale_share`` service. It never counts as consent. ``Consent.gpc_applied``
in the cookie means "this choice was made, or updated, with the signal taken into account": a
stored choice without it that still allows something in the objection set is withdrawn when a
signal arrives; with it, the choice stands (including an explicit re-enable, ``gpc_override``).

References:
- GDPR art. 4(11), 7(3), 21(5); ePrivacy Directive art. 5(3); PECR Sch. A1 (UK, 2025)
- CCPA regulations §7025 (opt-out preference signals), §7026 (opt-out methods)
- CNIL deliberations 2020-091 (guidelines, art. 5) and 2020-092; Loi Informatique et Libertés art. 82
- W3C Global Privacy Control; requirements CG-50..CG-53, CG-59..CG-69
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from consentgate.consent.signals import Signals
from consentgate.consent.state import Consent, Source, new_consent_id
from consentgate.policy.model import NECESSARY, Policy, RegionMode, RegionRule
from consentgate.policy.regions import is_french, rule_for

if TYPE_CHECKING:
    from consentgate.audit.events import Action

__all__ = [
    "OPT_IN_MODES",
    "REJECT_RECALL_SECONDS",
    "ChoiceAction",
    "Decision",
    "Jurisdiction",
    "LinkKind",
]

LinkKind = Literal["preferences", "privacy_choices"]
ChoiceAction = Literal["accept_all", "reject_all", "save", "withdraw"]

NO_SIGNALS = Signals()
OPT_IN_MODES: frozenset[RegionMode] = frozenset({"opt_in", "uk_statistics"})
MODES: tuple[RegionMode, ...] = ("opt_in", "uk_statistics", "opt_out", "notice")
MARKETING = "marketing"
# A region rule with `remember_reject = false` keeps a refusal this long, then asks again.
REJECT_RECALL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Decision:
    """What one request gets. ``consent`` is what the rewriter and the firewall enforce."""

    consent: Consent
    region: str  # "" when unknown
    mode: RegionMode
    rule: RegionRule
    show_banner: bool
    link: LinkKind
    link_text: str  # "" means the UI's own wording
    # An opt-out preference signal (GPC; DNT where configured) is honoured on this request.
    signal: bool
    # The objection (from a signal, now or stored) is in force: show the GPC notice/status.
    objection: bool
    # A state to store with this response (Set-Cookie), and the audit action that records it.
    persist: Consent | None = None
    event: Action | None = None
    # Services under the CNIL audience-measurement exemption here (French region, opt-in mode):
    # the UI lists them with the note and their objection switch. Empty everywhere else.
    exempt: frozenset[str] = frozenset()


class Jurisdiction:
    """The region rules of one policy, compiled once.

    >>> from consentgate.policy.model import Policy
    >>> jurisdiction = Jurisdiction(Policy.default())
    >>> decision = jurisdiction.decide(Consent.none(), region="US-CA", signals=Signals(gpc=True))
    >>> decision.mode, decision.show_banner, decision.event, decision.consent.allows("meta-pixel")
    ('opt_out', False, 'gpc_optout', False)
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._required = frozenset({NECESSARY}) | policy.required_categories
        self._all = frozenset(c.id for c in policy.categories)
        # Categories under the UK statistical exception (the audit names an objection to them).
        self.uk_statistics = frozenset(c.id for c in policy.categories if c.uk_statistics)
        self.cnil_exempt = policy.cnil_exempt_services
        self._category_of = policy.service_categories
        self._marketing = MARKETING if policy.has_category(MARKETING) else None
        sale: dict[str, set[str]] = {}
        other: dict[str, set[str]] = {}
        for service in policy.services:
            (sale if service.sale_share else other).setdefault(service.category, set()).add(service.id)
        self.sale_share = frozenset(s.id for s in policy.services if s.sale_share)
        self._sale_by_category = {cid: frozenset(ids) for cid, ids in sale.items()}
        self._other_by_category = {cid: frozenset(ids) for cid, ids in other.items()}
        self._marketing_services = self._sale_by_category.get(MARKETING, frozenset()) | (
            self._other_by_category.get(MARKETING, frozenset())
        )
        self._default_rule = RegionRule(
            mode=policy.default_region_mode, choice_lifetime_seconds=policy.choice_lifetime_seconds
        )
        # One shared value per case: an empty id marks "no choice yet" and costs nothing; the
        # page that offers a choice mints the id it will be recorded under.
        self._no_choice: dict[tuple[RegionMode, bool, bool], Consent] = {
            (mode, signal, french): self._before_choice(mode, signal, french=french)
            for mode in MODES
            for signal in (False, True)
            for french in (False, True)
        }

    # -- per request --------------------------------------------------------------------------
    def rule(self, region: str) -> RegionRule:
        return rule_for(self.policy, region) if region else self._default_rule

    def signal(self, mode: RegionMode, signals: Signals) -> bool:
        """Whether the request carries an opt-out signal this policy honours in ``mode``."""
        policy = self.policy
        if policy.gpc and signals.gpc:
            return True
        if not signals.dnt or policy.dnt == "ignore":
            return False
        # "auto": DNT is an objection where consent is the rule (LG Berlin 16 O 420/19 read it
        # as a possible art. 21(5) objection) and has no legal effect in US-style regions.
        return policy.dnt == "like_gpc" or (policy.gpc and mode in OPT_IN_MODES)

    def decide(
        self,
        stored: Consent,
        *,
        region: str,
        signals: Signals = NO_SIGNALS,
        is_bot: bool = False,
        now: int | None = None,
    ) -> Decision:
        """The effective consent and what to show and store for one request.

        ``stored`` is the verified cookie's consent (``exists=False`` when there is none or it
        is invalid); ``region`` a normalised ISO code or "" when unknown. Bots get the same
        blocking but nothing is stored for them.
        """
        rule = self.rule(region)
        mode = rule.mode
        signal = self.signal(mode, signals)
        persist: Consent | None = None
        event: Action | None = None
        exempt = self.exempt_in(region, mode)
        # A record the signal created on its own (US opt-out) is not a choice where consent is
        # the rule: the visitor still has to be asked, and the objection still stands.
        choice = stored.exists and not (mode in OPT_IN_MODES and stored.source == "gpc")
        if not choice:
            effective = self._no_choice[(mode, signal, bool(exempt))]
            if stored.exists:
                effective = replace(effective, consent_id=stored.consent_id, gpc_applied=stored.gpc_applied)
            if signal and mode not in OPT_IN_MODES and not is_bot:
                # CCPA regs §7025: the signal is an opt-out, applied now, without a banner,
                # and kept in the cookie so that a later request without it changes nothing.
                effective = self._record(effective, source="gpc", rule=rule, region=region, now=now)
                persist, event = effective, "gpc_optout"
        else:
            effective = stored
            if signal and not stored.gpc_applied and self.allows_objected(stored, mode):
                # A signal after an earlier grant withdraws what it objects to (§7025(c)(3)).
                effective = self.withdraw(stored, mode, now=now)
                if not is_bot:
                    persist, event = effective, "gpc_optout"
            if exempt:
                effective = self._with_exemption(effective, exempt, signal=signal)
            if effective.undecided:
                # Grants without a decision ("Load content" before any choice): they run beside
                # what runs before a choice here, and the banner still asks. A signal the grants
                # were made with still objects to the rest (CG-64).
                defaults = self._no_choice[(mode, signal or effective.gpc_applied, bool(exempt))]
                effective = effective.before_decision(defaults)
        objection = (signal or effective.gpc_applied) and not self.allows_objected(effective, mode)
        opt_out = mode == "opt_out"
        return Decision(
            consent=effective,
            region=region,
            mode=mode,
            rule=rule,
            show_banner=not effective.exists and mode in OPT_IN_MODES and not is_bot,
            link="privacy_choices" if opt_out else "preferences",
            link_text=rule.choices_link_text if opt_out else "",
            signal=signal,
            objection=objection,
            persist=persist,
            event=event,
            exempt=exempt,
        )

    def exempt_in(self, region: str, mode: RegionMode) -> frozenset[str]:
        """The services the CNIL exemption covers for a visitor in ``region`` under ``mode``."""
        if self.cnil_exempt and mode in OPT_IN_MODES and region and is_french(region):
            return self.cnil_exempt
        return frozenset()

    @staticmethod
    def _with_exemption(consent: Consent, exempt: frozenset[str], *, signal: bool) -> Consent:
        """A stored choice in France: exempt services run unless the visitor objected.

        A choice made elsewhere (or before the flag) never showed the switch, so only an explicit
        denial counts as an objection. An opt-out signal the choice did not take into account
        objects to what the switch did not explicitly keep.
        """
        if signal:
            if consent.gpc_applied or not exempt & consent.services:
                return consent  # the switch was set with the signal in view: it stands
            return replace(consent, services=consent.services - exempt)
        added = exempt - consent.denied_services - consent.services
        if not added:
            return consent
        return replace(consent, services=consent.services | added)

    # -- per choice ---------------------------------------------------------------------------
    def apply_choice(
        self,
        decision: Decision,
        action: ChoiceAction,
        *,
        categories: frozenset[str] = frozenset(),
        granted: frozenset[str] = frozenset(),
        denied: frozenset[str] = frozenset(),
        source: Source = "banner",
        consent_id: str | None = None,
        gpc_reported: bool = False,
        now: int | None = None,
    ) -> tuple[Consent, Action]:
        """The consent a choice stores, and the audit action it is recorded as.

        ``gpc_reported`` is the page's ``navigator.globalPrivacyControl`` (sent with the POST):
        a browser that exposes the signal only to scripts is honoured from this choice on.
        "Accept all" never lifts a standing objection; a saved choice that turns something in
        the objection set back on does, and is recorded as ``gpc_override``.
        """
        mode = decision.mode
        signal = decision.signal or (gpc_reported and self.policy.gpc)
        standing = signal or decision.objection
        if action == "accept_all":
            chosen, grants, denials = set(self._all), set(granted), set(denied)
            if standing:
                chosen, grants, denials = self._object(chosen, grants, denials, mode)
        elif action == "save":
            chosen, grants, denials = set(categories), set(granted), set(denied)
            if decision.exempt:
                # France: the centre shows each exempt service with its switch; a save that does
                # not name it (a form posts only the switches left on) objects to it.
                objected = decision.exempt - grants
                grants -= objected
                denials |= objected
            else:
                # Elsewhere an exempt service is an ordinary one: granting its category consents
                # to it, which lifts an objection made in France or by "Reject all".
                denials -= {sid for sid in self.cnil_exempt if self._category_of[sid] in chosen}
        else:
            # "Reject all" and "withdraw" refuse everything, the exempt measurement included:
            # what most French sites do, and what a visitor clicking it expects. Stored in every
            # region, so that the refusal still holds when the visitor is next in France.
            chosen, grants, denials = set(), set(), set(self.cnil_exempt)
        chosen |= self._required
        rule = decision.rule
        lifetime = rule.choice_lifetime_seconds
        if not rule.remember_reject and chosen <= self._required and not grants:
            lifetime = min(lifetime, REJECT_RECALL_SECONDS)
        base = decision.consent
        consent = Consent(
            consent_id=consent_id or base.consent_id or new_consent_id(),
            service_categories=self.policy.service_categories,
        ).with_choice(
            chosen,
            source=source,
            services=grants,
            denied_services=denials,
            lifetime_seconds=lifetime,
            fingerprint=self.policy.fingerprint(),
            now=now,
            gpc_applied=False,
            region=decision.region,
        )
        lifts = standing and self.allows_objected(consent, mode)
        consent = replace(consent, gpc_applied=signal or (decision.objection and not lifts))
        recorded: Action = "gpc_override" if lifts else action
        return consent, recorded

    # -- the objection set --------------------------------------------------------------------
    def allows_objected(self, consent: Consent, mode: RegionMode) -> bool:
        """True when ``consent`` lets anything the signal objects to in ``mode`` run."""
        denied = consent.denied_services
        if (consent.services & self.sale_share) - denied:
            return True
        for category, services in self._sale_by_category.items():
            if (category in consent.categories or category == NECESSARY) and not services <= denied:
                return True
        if mode in OPT_IN_MODES and self._marketing is not None:
            if self._marketing in consent.categories and self._marketing not in denied:
                return True
            if (consent.services & self._marketing_services) - denied:
                return True
        return False

    def objection_in_force(self, consent: Consent, mode: RegionMode, *, signal: bool = False) -> bool:
        """The same test ``decide`` uses, for a consent a choice just produced."""
        return (signal or consent.gpc_applied) and not self.allows_objected(consent, mode)

    def withdraw(self, consent: Consent, mode: RegionMode, *, now: int | None = None) -> Consent:
        """``consent`` without what the signal objects to; same id and expiry, ``gpc_applied``."""
        categories, services, denied = self._object(
            set(consent.categories), set(consent.services), set(consent.denied_services), mode
        )
        issued = int(time.time()) if now is None else now
        return replace(
            consent,
            categories=frozenset(categories),
            services=frozenset(services),
            denied_services=frozenset(denied),
            issued_at=min(issued, consent.expires_at),
            gpc_applied=True,
        )

    def _object(
        self, categories: set[str], services: set[str], denied: set[str], mode: RegionMode
    ) -> tuple[set[str], set[str], set[str]]:
        """Remove the objection set from a state, in the form that keeps the cookie small.

        The catalog flags about a thousand marketing services ``sale_share``: listing each as
        denied would overflow the 4 KB cookie. A category whose services are mostly sale/share
        is dropped instead, and its few other services are granted one by one.
        """
        services = services - self.sale_share
        if mode in OPT_IN_MODES and self._marketing is not None:
            categories.discard(self._marketing)
            services -= self._marketing_services
        for category, sale in self._sale_by_category.items():
            if category not in categories:
                continue
            others = self._other_by_category.get(category, frozenset()) - denied
            if category in self._required or len(others) >= len(sale):
                denied |= sale
            else:
                categories.discard(category)
                services |= others
        return categories, services, denied

    # -- building blocks ----------------------------------------------------------------------
    def _before_choice(self, mode: RegionMode, signal: bool, *, french: bool) -> Consent:
        """What applies before a choice: nothing under opt-in (but the CNIL-exempt services in
        France, unless an opt-out signal objects); everything under opt-out/notice."""
        categories: set[str] = set(self._required)
        if mode == "uk_statistics":
            categories |= self.uk_statistics
        elif mode in ("opt_out", "notice"):
            categories |= self._all
        services: set[str] = set()
        if french and mode in OPT_IN_MODES and not signal:
            services |= self.cnil_exempt
        denied: set[str] = set()
        if signal and mode not in OPT_IN_MODES:
            categories, services, denied = self._object(categories, services, denied, mode)
        return Consent(
            consent_id="",
            categories=frozenset(categories),
            services=frozenset(services),
            denied_services=frozenset(denied),
            gpc_applied=signal and mode not in OPT_IN_MODES,
            service_categories=self.policy.service_categories,
        )

    def _record(
        self, consent: Consent, *, source: Source, rule: RegionRule, region: str, now: int | None
    ) -> Consent:
        issued = int(time.time()) if now is None else now
        return replace(
            consent,
            consent_id=consent.consent_id or new_consent_id(),
            issued_at=issued,
            expires_at=issued + rule.choice_lifetime_seconds,
            source=source,
            fingerprint=self.policy.fingerprint(),
            exists=True,
            region=region,
        )
