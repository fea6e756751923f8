"""Stateless CSRF tokens for the consent form, bound to the visitor's consent id.

A token is ``<consent id>.<issued>.<HMAC>`` signed with the middleware's secret keys under its
own salt (so a consent cookie can never pass as a token, nor the reverse). The page hands it to
the form; the endpoint accepts it only when the signature verifies, it is younger than
``max_age``, and its id is the id of the consent cookie the request carries. A first-time
visitor has no cookie yet: the token's id then becomes the new consent id, so the id shown on
the page is the id the audit log records.

References: OWASP CSRF Prevention Cheat Sheet ("Signed Double-Submit Cookie", "Fetch
Metadata"); itsdangerous ``TimestampSigner`` (key rotation: the last key signs, all verify).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

from itsdangerous import BadSignature, TimestampSigner

__all__ = ["CsrfTokens"]

_CONSENT_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class CsrfTokens:
    """Issue and verify consent-form tokens.

    >>> tokens = CsrfTokens(["k" * 32])
    >>> tokens.verify(tokens.issue("AAAAAAAAAAAAAAAAAAAAAA"))
    'AAAAAAAAAAAAAAAAAAAAAA'
    """

    def __init__(self, secret_keys: Sequence[str | bytes], *, max_age: int = 12 * 3600) -> None:
        if max_age <= 0:
            raise ValueError(f"csrf_max_age must be positive, got {max_age}")
        keys = [secret_keys] if isinstance(secret_keys, str | bytes) else list(secret_keys)
        # Same order as the consent cookie: the first key signs. itsdangerous signs with the last.
        self._signer = TimestampSigner(
            [key.encode() if isinstance(key, str) else key for key in reversed(keys)],
            salt="consentgate.csrf",
            digest_method=hashlib.sha256,
        )
        self.max_age = max_age

    def issue(self, consent_id: str) -> str:
        return self._signer.sign(consent_id).decode("ascii")

    def verify(self, token: str, *, now: float | None = None) -> str | None:
        """The consent id the token was issued for, or None (bad, expired or from the future)."""
        if not token or len(token) > 256 or not token.isascii():
            return None
        try:
            value, issued = self._signer.unsign(token, return_timestamp=True)
        except BadSignature:
            return None
        age = (time.time() if now is None else now) - issued.timestamp()
        if not -60 <= age <= self.max_age:  # a minute of clock skew between workers
            return None
        consent_id = value.decode("ascii")
        return consent_id if _CONSENT_ID.fullmatch(consent_id) else None
