"""Host arithmetic shared by the cookie firewall, the policy loader and the self-test.

"Same site" is decided on the registrable domain (``www.shop.example`` and ``cdn.example`` are
one site). Without shipping the whole Public Suffix List, the registrable domain is the last two
labels, or three under a two-label public suffix: the common country-code second levels
(``example.co.uk``, ``example.com.au``...) and the hosting platforms that give each customer a
subdomain (``example.github.io``). A policy's ``first_party_hosts`` covers the rest. IP addresses
and single-label hosts (``localhost``) are sites of their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

__all__ = ["is_ip", "listed_suffix", "registrable_domain"]

# Two-label public suffixes common enough to matter, instead of a Public Suffix List dependency.
# Without them, ``shop.example.co.uk`` would get a deletion cookie for ``Domain=co.uk``; browsers
# ignore such a line, so a missing entry costs a wasted header, never a wrong deletion.
_TWO_LABEL_SUFFIXES: Final = frozenset(
    {
        # country-code second levels
        *(f"{second}.uk" for second in ("co", "org", "ac", "gov", "ltd", "plc", "me", "net", "sch")),
        *(f"{second}.au" for second in ("com", "net", "org", "edu", "gov", "id", "asn")),
        *(f"{second}.nz" for second in ("co", "org", "net", "ac", "govt", "school")),
        *(f"{second}.jp" for second in ("co", "ne", "or", "ac", "go", "ad", "ed", "gr", "lg")),
        *(f"{second}.br" for second in ("com", "net", "org", "gov", "edu")),
        *(f"{second}.cn" for second in ("com", "net", "org", "gov", "edu")),
        *(f"{second}.in" for second in ("co", "net", "org", "gov", "ac", "firm", "gen", "ind")),
        *(f"{second}.za" for second in ("co", "org", "net", "gov", "ac")),
        *(f"{second}.kr" for second in ("co", "or", "ne", "go", "ac")),
        *(f"{second}.il" for second in ("co", "org", "net", "ac", "gov")),
        *(f"{second}.mx" for second in ("com", "org", "gob", "net", "edu")),
        *(f"{second}.tr" for second in ("com", "org", "net", "gov", "edu")),
        *(f"{second}.ar" for second in ("com", "org", "net", "gob")),
        *(f"{second}.hk" for second in ("com", "org", "net", "gov", "edu")),
        *(f"{second}.tw" for second in ("com", "org", "net", "gov", "edu")),
        *(f"{second}.sg" for second in ("com", "org", "net", "gov", "edu")),
        *(f"{second}.my" for second in ("com", "org", "net", "gov", "edu")),
        *(f"{second}.ua" for second in ("com", "org", "net", "gov", "edu")),
        "com.pl", "net.pl", "org.pl", "co.at", "or.at", "com.es", "org.es", "com.pt", "co.id",
        "or.id", "com.ph", "com.vn", "com.sa", "com.eg", "com.co", "com.pe", "co.th", "in.th",
        # hosting platforms where each customer gets a subdomain
        "github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app", "pages.dev",
        "workers.dev", "appspot.com", "web.app", "firebaseapp.com", "blogspot.com",
        "azurewebsites.net", "cloudfront.net", "onrender.com", "fly.dev", "glitch.me",
    }
)  # fmt: skip


# Second levels under any two-letter country code that are public too (``example.gouv.fr``).
_SECOND_LEVEL: Final = frozenset(
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


def is_ip(host: str) -> bool:
    """An IPv4 or IPv6 literal (brackets allowed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def listed_suffix(labels: Sequence[str]) -> bool:
    """Whether the last two ``labels`` are a two-label public suffix on the list above. What
    cookies use: an unlisted suffix costs a wasted deletion header, never a missed deletion."""
    return ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES


def registrable_domain(host: str) -> str:
    """``www.example.co.uk`` -> ``example.co.uk``; IPs and single labels are returned as is.
    Besides the list, any ``<second level>.<two-letter country>`` from ``_SECOND_LEVEL`` counts
    as a public suffix (two sites under ``gouv.fr`` are two sites).

    >>> registrable_domain("a.b.example.github.io"), registrable_domain("www.example.gouv.fr")
    ('example.github.io', 'example.gouv.fr')
    """
    host = host.lower().rstrip(".")
    if is_ip(host):
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if listed_suffix(labels) or (len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
