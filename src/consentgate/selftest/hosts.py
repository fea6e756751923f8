"""Host arithmetic: same site or third party, cookie domain matching, Google tag URLs.

"Same site" is decided on the registrable domain (``www.shop.example`` and ``cdn.example`` are
one site). Without shipping the whole Public Suffix List, the registrable domain is the last two
labels, or three under the common second-level suffixes below (``example.co.uk``); a policy's
``first_party_hosts`` covers the rest. IP addresses and single-label hosts (``localhost``) are
sites of their own, so ``127.0.0.1`` and ``localhost`` are two sites, as for the browser.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_SECOND_LEVEL = frozenset(
    (
        "ac",
        "co",
        "com",
        "edu",
        "gov",
        "net",
        "org",
        "ltd",
        "plc",
        "sch",
        "nhs",
        "gob",
        "gouv",
        "nic",
        "or",
        "ne",
    )
)
# Paths that load a Google tag, on Google's hosts or a first-party server-side tagging host.
_GOOGLE_TAG_PATH = re.compile(r"/gtag/js$|/gtm\.js$")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def registrable_domain(host: str) -> str:
    """``www.example.co.uk`` → ``example.co.uk``; IPs and single labels are returned as is."""
    host = host.lower().rstrip(".")
    if _is_ip(host):
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(host: str, site_host: str) -> bool:
    return registrable_domain(host) == registrable_domain(site_host)


def domain_matches(cookie_domain: str, host: str) -> bool:
    """Whether a cookie stored for ``cookie_domain`` (".example.com" or "example.com") could have
    been written by, or is sent to, ``host`` (RFC 6265 §5.1.3 in both directions)."""
    domain = cookie_domain.lstrip(".").lower()
    host = host.lower()
    return host == domain or host.endswith("." + domain) or domain.endswith("." + host)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def is_google_tag(url: str) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return _GOOGLE_TAG_PATH.search(path) is not None
