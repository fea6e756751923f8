"""What the site's own pages load, learned from the HTML rewriter's findings (bounded, in-process).

The consent-derived CSP (``consentgate.http.csp``) is an allow-list: a host it does not name is
blocked (``enforce``) or reported (``report-only``). Listing every catalog host of every granted
category would make a header of tens of kilobytes, and listing none would break the site's CDNs
and widgets. So it names what this site is seen to use:

- services the rewriter met on the site's pages (allowed or blocked: a visitor who grants them
  must be able to load them), and services a signed violation report showed a consenting
  visitor's page trying to load (a tag manager loading a granted tag); for each, the hosts it was
  met on (a catalog entry may list a dozen hosts; naming them all for every visitor would make
  the header too big for common proxies' header buffers);
- hosts no service claims that the rewriter let through (``unknown_third_party`` is ``allow`` or
  ``report``): the site's CDNs, payment widgets and embeds;
- hosts of elements the site itself marked with a category (``data-category``), per category.

Everything is bounded: a page that reflects user input could otherwise grow the header without
limit. When a table is full it stops learning (it never evicts), so a flood of junk cannot push
out the hosts the site really needs; the header then names fewer hosts, and what it misses shows
up in violation reports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final, Literal, Protocol

from consentgate.html.rules import unknown_grant
from consentgate.policy.model import Policy, Service

__all__ = ["GROUPS", "Group", "HostInventory", "groups_of", "valid_host"]

logger = logging.getLogger("consentgate.http")

# The CSP directives consentgate restricts, by the kind of load.
Group = Literal["script", "frame", "img", "connect", "style", "font"]
GROUPS: Final[tuple[Group, ...]] = ("script", "frame", "img", "connect", "style", "font")

# Which directives an element's URL is checked against. A <link> may preload a script, a style or a
# font; an <a ping> is a beacon (connect-src). <object>/<embed> show documents like frames do.
_TAG_GROUPS: Final[Mapping[str, tuple[Group, ...]]] = {
    "script": ("script",),
    "iframe": ("frame",),
    "frame": ("frame",),
    "embed": ("frame",),
    "object": ("frame",),
    "img": ("img",),
    "input": ("img",),
    "image": ("img",),
    "source": ("img",),
    "video": ("img",),
    "audio": ("img",),
    "link": ("script", "style", "font"),
    "a": ("connect",),
    "area": ("connect",),
}
# CSP host-char is ALPHA / DIGIT / "-" (CSP3 2.3.1): a name outside that grammar cannot be listed,
# and nothing else may ever reach a header (";" or "," would start a new directive or policy).
_CSP_HOST: Final = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*\Z"
)


class FindingLike(Protocol):
    """The fields of ``consentgate.html.rules.Finding`` the inventory reads."""

    @property
    def tag(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def service_id(self) -> str | None: ...
    @property
    def host(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def action(self) -> str: ...


def valid_host(host: str) -> bool:
    """True for a host name a CSP host-source can name (lower-case LDH labels, IPv4 dotted quads).

    >>> valid_host("cdn.example.net"), valid_host("a_b.example"), valid_host("x;script-src *")
    (True, False, False)
    """
    return _CSP_HOST.match(host) is not None


def groups_of(tag: str) -> tuple[Group, ...]:
    """The directives an element's URL falls under; () for tags that load nothing."""
    return _TAG_GROUPS.get(tag, ())


class HostInventory:
    """Services and hosts the site's pages use; read by every response, written rarely.

    ``version`` changes whenever something is learned, so a builder can cache per version.

    >>> from consentgate.policy.load import load_dict
    >>> inventory = HostInventory(load_dict({"include_catalog": False}))
    >>> inventory.record_host("img", "cdn.example.net"), inventory.hosts("img")
    (True, frozenset({'cdn.example.net'}))
    """

    def __init__(
        self,
        policy: Policy,
        *,
        max_hosts: int = 256,
        max_services: int = 128,
        max_reported_services: int = 32,
    ) -> None:
        for name, value in (
            ("max_hosts", max_hosts),
            ("max_services", max_services),
            ("max_reported_services", max_reported_services),
        ):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        self._policy = policy
        self._max_hosts = max_hosts
        self._max_services = max_services
        self._max_reported = max_reported_services
        self._hosts: dict[Group, set[str]] = {group: set() for group in GROUPS}
        self._host_count = 0
        # category -> group -> hosts of elements the site marked with that category
        self._category_hosts: dict[str, dict[Group, set[str]]] = {}
        self._services: dict[str, Service] = {}
        self._service_hosts: dict[str, set[str]] = {}
        self._reported = 0
        self._styled: set[str] = set()  # services met as <link>: they may serve styles or fonts
        self._full_warned = False
        self.version = 0
        # Under unknown_third_party = "block" a host no service claims loads once this category
        # is granted (rules.unknown_grant): it is that category's host. None: it loads for all.
        self._unknown_grant = unknown_grant(policy) if policy.unknown_third_party == "block" else None

    # -- learning ---------------------------------------------------------------------------
    def observe(self, finding: FindingLike) -> None:
        """Learn from one rewriter finding (``HtmlRewriter(on_finding=...)``)."""
        service_id = finding.service_id
        if service_id is not None:
            # Blocked or allowed alike: the site uses it, so a visitor who grants it loads it.
            used = self.use_service(service_id, host=finding.host)
            if used and finding.tag == "link" and service_id not in self._styled:
                self._styled.add(service_id)
                self.version += 1
            return
        host = finding.host
        if not host:
            return
        groups = groups_of(finding.tag)
        if finding.rule == "unknown":
            if self._policy.unknown_third_party == "block":
                # Blocked for this visitor or not: a visitor who grants the category loads it.
                grant = self._unknown_grant
                if grant is not None and self._policy.lookup.service_for_host(host) is None:
                    for group in groups:
                        self._record_category_host(grant, group, host)
            elif finding.action != "blocked":  # "allow" and "report" let it load for everyone
                for group in groups:
                    self.record_host(group, host)
        elif self._policy.has_category(finding.category):
            # Blocked for this visitor or not: a visitor who grants the category loads it.
            for group in groups:
                self._record_category_host(finding.category, group, host)

    def record_host(self, group: Group, host: str) -> bool:
        """Allow ``host`` for ``group`` for every visitor (a non-tracker host the site uses).
        False when the host cannot be listed, belongs to a service, or the table is full."""
        host = host.lower()
        known = self._hosts[group]
        if host in known:
            return True
        if not valid_host(host) or self._policy.lookup.service_for_host(host) is not None:
            return False
        if not self._room():
            return False
        known.add(host)
        self._host_count += 1
        self.version += 1
        return True

    def _record_category_host(self, category: str, group: Group, host: str) -> None:
        host = host.lower()
        by_group = self._category_hosts.setdefault(category, {})
        known = by_group.setdefault(group, set())
        if host in known or not valid_host(host) or not self._room():
            return
        known.add(host)
        self._host_count += 1
        self.version += 1

    def _room(self) -> bool:
        if self._host_count < self._max_hosts:
            return True
        if not self._full_warned:
            self._full_warned = True
            logger.warning(
                "consentgate: the CSP host inventory is full (%d hosts); hosts met from now on are "
                "not added to the Content-Security-Policy (declare them in the policy instead)",
                self._max_hosts,
            )
        return False

    def use_service(self, service_id: str, *, host: str = "", from_report: bool = False) -> bool:
        """Mark a policy service as used by the site, and ``host`` as one it loads from; False
        when the service is unknown or over the bound.

        ``from_report``: learned from a violation report rather than from the site's own HTML;
        such entries have their own, smaller bound, because anyone can send a report.
        """
        if service_id not in self._services:
            if not self._policy.has_service(service_id) or len(self._services) >= self._max_services:
                return False
            if from_report:
                if self._reported >= self._max_reported:
                    return False
                self._reported += 1
            self._services[service_id] = self._policy.service(service_id)
            self.version += 1
        host = host.lower()
        if host:
            met = self._service_hosts.setdefault(service_id, set())
            if host not in met and valid_host(host) and self._room():
                met.add(host)
                self._host_count += 1
                self.version += 1
        return True

    # -- reading ----------------------------------------------------------------------------
    def hosts(self, group: Group) -> frozenset[str]:
        return frozenset(self._hosts[group])

    def category_hosts(self, category: str, group: Group) -> frozenset[str]:
        return frozenset(self._category_hosts.get(category, {}).get(group, ()))

    def categories_with_hosts(self) -> tuple[str, ...]:
        return tuple(self._category_hosts)

    def services(self) -> tuple[Service, ...]:
        return tuple(self._services.values())

    def service_hosts(self, service_id: str) -> frozenset[str]:
        """The hosts the service was met on (its catalog entry may list many more)."""
        return frozenset(self._service_hosts.get(service_id, ()))

    def styled_services(self) -> frozenset[str]:
        """Services the site loads through ``<link>``: their hosts may serve styles or fonts."""
        return frozenset(self._styled)
