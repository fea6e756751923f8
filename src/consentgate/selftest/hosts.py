"""Host arithmetic for the self-test: same site or third party, cookie domain matching, Google
tag URLs. "Same site" is decided on the registrable domain (``consentgate.domains``), so
``127.0.0.1`` and ``localhost`` are two sites, as for the browser.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from consentgate.domains import registrable_domain

# Paths that load a Google tag, on Google's hosts or a first-party server-side tagging host.
_GOOGLE_TAG_PATH = re.compile(r"/gtag/js$|/gtm\.js$")


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
