"""Stateless CSRF tokens for the consent form, bound to the visitor's consent id.

A token is ``<consent id>.<issued, base 36>.<HMAC-SHA256, base64url>``, signed with a key
derived from each of the middleware's secret keys for this purpose only (so a consent cookie
can never pass as a token, nor the reverse). The page hands it to the form; the endpoint accepts
it only when the signature verifies, it is younger than ``max_age``, and its id is the id of the
consent cookie the request carries. A first-time visitor has no cookie yet: the token's id then
becomes the new consent id, so the id shown on the page is the id the audit log records.

A browser holds nothing of ours before its first choice, so pages served then cannot be bound
to it: each names a fresh id, and a second tab's token names another id than the cookie the
first tab's choice set. The endpoint accepts such a token when the browser itself vouches that
the post comes from the site's own page (``Sec-Fetch-Site: same-origin``, or the site's
``Origin``), which another site cannot make it do (``Endpoints._consent_id``).

Every page carries a token, so issuing one is a single HMAC with a pre-derived key.

References: OWASP CSRF Prevention Cheat Sheet ("Signed Double-Submit Cookie", "Fetch
Metadata"); RFC 2104 (HMAC).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Sequence

__all__ = ["CsrfTokens"]

_TOKEN = re.compile(r"([A-Za-z0-9_-]{16,64})\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{43})")


class CsrfTokens:
    """Issue and verify consent-form tokens. The first key signs; all of them verify.

    >>> tokens = CsrfTokens(["k" * 32])
    >>> tokens.verify(tokens.issue("AAAAAAAAAAAAAAAAAAAAAA"))
    'AAAAAAAAAAAAAAAAAAAAAA'
    """

    def __init__(self, secret_keys: Sequence[str | bytes], *, max_age: int = 12 * 3600) -> None:
        if max_age <= 0:
            raise ValueError(f"csrf_max_age must be positive, got {max_age}")
        keys = [secret_keys] if isinstance(secret_keys, str | bytes) else list(secret_keys)
        if not keys:
            raise ValueError("secret_keys: give at least one key")
        self._keys = [
            hmac.new(
                key.encode() if isinstance(key, str) else key, b"consentgate.csrf", hashlib.sha256
            ).digest()
            for key in keys
        ]
        self.max_age = max_age
        self._last = ("", "")

    def issue(self, consent_id: str, *, now: float | None = None) -> str:
        payload = f"{consent_id}.{_base36(int(time.time() if now is None else now))}"
        # A returning visitor's pages within the same second carry the same token: the last
        # one is kept (one tuple, replaced whole: safe between threads).
        last = self._last
        if last[0] == payload:
            return last[1]
        token = f"{payload}.{_sign(self._keys[0], payload)}"
        self._last = (payload, token)
        return token

    def verify(self, token: str, *, now: float | None = None) -> str | None:
        """The consent id the token was issued for, or None (bad, expired or from the future)."""
        match = _TOKEN.fullmatch(token) if len(token) <= 128 else None
        if match is None:
            return None
        consent_id, issued, signature = match.groups()
        payload = f"{consent_id}.{issued}"
        if not any(hmac.compare_digest(signature, _sign(key, payload)) for key in self._keys):
            return None
        age = (time.time() if now is None else now) - int(issued, 36)
        if not -60 <= age <= self.max_age:  # a minute of clock skew between workers
            return None
        return consent_id


def _sign(key: bytes, payload: str) -> str:
    # hmac.digest: the same bytes as hmac.new(...).digest(), in C (a token is minted per page).
    digest = hmac.digest(key, payload.encode("ascii"), "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=8)  # the clock's seconds: every page of a second asks for the same
def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, remainder = divmod(number, 36)
        out = digits[remainder] + out
        if not number:
            return out
