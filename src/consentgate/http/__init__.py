"""The ASGI side of consentgate: the middleware, its response pipeline and its endpoints."""

from __future__ import annotations

from consentgate.http.cookies import CookieRecord, parse_cookie_headers, parse_set_cookie
from consentgate.http.fastapi import consent_dependency
from consentgate.http.middleware import ConsentGate
from consentgate.http.request import PageContext

__all__ = [
    "ConsentGate",
    "CookieRecord",
    "PageContext",
    "consent_dependency",
    "parse_cookie_headers",
    "parse_set_cookie",
]
