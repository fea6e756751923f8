"""The 13-month cap on the cookies of CNIL-exempt audience measurement (requirements CG-53, CG-05).

The CNIL exemption holds only while the measurement cookies live 13 months at most and are *not*
extended on later visits. A ``Set-Cookie`` says how long a cookie lives from now; the browser
never tells the server when it first stored one. So the day each capped cookie was first seen
being set is kept in a companion cookie, ``<consent cookie name>_since`` (``__Host-`` over HTTPS
without a cookie domain, like the consent cookie; ``HttpOnly``, so page scripts cannot change
it). Every later ``Set-Cookie`` of the same cookie, while the browser still holds it, is capped
at 393 days from that day; once the day is 393 days old the cookie is expired instead.

The companion holds cookie names and day numbers, never an identifier or a time of day, and it
lives no longer than the cookies it limits. It is not signed: it protects the visitor from the
site, and the only party able to forge it is the visitor, who can keep their own cookies as long
as they like anyway (a page script cannot overwrite an ``HttpOnly`` cookie; a sibling subdomain
cannot set a ``__Host-`` one).

Limits, documented in docs/regions.md: a cookie written by JavaScript (``document.cookie``,
which is how matomo.js writes ``_pk_id``) never passes through the server and cannot be capped
here; a cookie already in the browser when the companion is missing (set before consentgate was
deployed, or after the visitor deleted only the companion) starts its 13 months when consentgate
first sees it.

References: CNIL deliberation 2020-091 (guidelines, art. 5), RFC 6265bis section 5.6 (attributes).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import formatdate

from consentgate.policy.model import CNIL_COOKIE_LIFETIME_SECONDS, CookieSettings

__all__ = ["LifetimeCap", "record_names"]

DAY = 24 * 3600
RECORD_SUFFIX = "_since"
# Enough for every cookie of a few measurement tools; the value stays far below 4 KB.
MAX_ENTRIES = 16
_VERSION = "1"
# A record entry: an RFC 6265 cookie name (a token: never ':' or '/') and a day number.
_ENTRY = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}):(\d{1,6})")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


def record_names(settings: CookieSettings) -> tuple[str, str]:
    """The companion's name over HTTP and over HTTPS (same prefix rule as the consent cookie)."""
    plain = settings.name + RECORD_SUFFIX
    secure = plain if settings.domain or settings.secure == "never" else "__Host-" + plain
    return plain, secure


def parse_record(value: str | None) -> dict[str, int]:
    """``{cookie name: day first set}`` from a companion value; anything malformed is skipped.

    >>> parse_record("1/_pk_id.1.ab:20454/bad/_pk_ses.1.ab:20455")
    {'_pk_id.1.ab': 20454, '_pk_ses.1.ab': 20455}
    """
    if not value:
        return {}
    version, _, rest = value.partition("/")
    if version != _VERSION:
        return {}
    days: dict[str, int] = {}
    for entry in rest.split("/")[: MAX_ENTRIES * 2]:
        match = _ENTRY.fullmatch(entry)
        if match:
            days.setdefault(match.group(1), int(match.group(2)))
    return days


class LifetimeCap:
    """Caps the ``Set-Cookie`` lines of one response; ``record_line`` stores what it learnt.

    ``held`` is what the browser sent with the request.
    """

    def __init__(
        self, settings: CookieSettings, held: Mapping[str, str], *, secure: bool, now: float | None = None
    ) -> None:
        self._settings = settings
        self._held = held
        self._secure = settings.secure == "always" or (settings.secure == "auto" and secure)
        plain, prefixed = record_names(settings)
        self._name = prefixed if self._secure else plain
        # Over HTTPS only the prefixed record counts, as for the consent cookie.
        value = held.get(prefixed) if secure else held.get(plain) or held.get(prefixed)
        self._days = parse_record(value)
        self.now = time.time() if now is None else now
        self._changed = False
        self._set: set[str] = set()

    def cap(self, name: str, lifetime: float | None, line: bytes) -> bytes:
        """``line`` (one ``Set-Cookie`` value of cookie ``name`` that lives ``lifetime`` seconds,
        None for a session cookie), with its lifetime cut to the cookie's 13 months."""
        now = self.now
        today = int(now // DAY)
        first = self._days.get(name) if name in self._held else None
        if first is None or first > today:
            # Not held by the browser: a new cookie, whose 13 months start today. Held but never
            # seen set: the clock starts now (the documented limit).
            first = today
            if _TOKEN.fullmatch(name):
                self._days[name] = first
                self._changed = True
        deadline = first * DAY + CNIL_COOKIE_LIFETIME_SECONDS
        self._set.add(name)
        if lifetime is None or lifetime <= deadline - now:
            return line
        return with_lifetime(line, max(0, int(deadline - now)), deadline)

    def record_line(self) -> bytes | None:
        """The companion ``Set-Cookie`` value when this response changed the record, else None."""
        if not self._changed:
            return None
        now = self.now
        # Only what the browser holds or was just sent, and only while its 13 months last: the
        # record never outlives or outnumbers the cookies it dates.
        live = {
            name: day
            for name, day in self._days.items()
            if (name in self._held or name in self._set) and day * DAY + CNIL_COOKIE_LIFETIME_SECONDS > now
        }
        kept = sorted(live.items(), key=lambda item: -item[1])[:MAX_ENTRIES]
        if not kept:
            return None
        value = "/".join([_VERSION, *(f"{name}:{day}" for name, day in sorted(kept))])
        max_age = max(day for _, day in kept) * DAY + CNIL_COOKIE_LIFETIME_SECONDS - int(now)
        parts = [f"{self._name}={value}", f"Max-Age={max_age}", "Path=/"]
        if self._settings.domain:
            parts.append(f"Domain={self._settings.domain}")
        parts += ["HttpOnly", f"SameSite={self._settings.same_site.capitalize()}"]
        if self._secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


def with_lifetime(line: bytes, max_age: int, expires: float) -> bytes:
    """``line`` without its ``Max-Age`` and ``Expires`` attributes, then with these two.

    >>> with_lifetime(b"a=1; Max-Age=99999999; Path=/; expires=Fri, 01 Jan 2100 00:00:00 GMT", 60, 0)
    b'a=1; Path=/; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT'
    """
    pair, *attributes = line.split(b";")
    kept = [
        attribute
        for attribute in attributes
        if attribute.partition(b"=")[0].strip(b" \t").lower() not in (b"max-age", b"expires")
    ]
    date = formatdate(expires, usegmt=True).encode("ascii")
    return b";".join([pair, *kept]) + b"; Max-Age=" + str(max_age).encode("ascii") + b"; Expires=" + date
