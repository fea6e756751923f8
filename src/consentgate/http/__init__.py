"""The ASGI side of consentgate: the middleware, its response pipeline and its endpoints."""

from __future__ import annotations

from consentgate.http.cookies import parse_cookie_headers, parse_set_cookie
from consentgate.http.middleware import ConsentGate

__all__ = ["ConsentGate", "parse_cookie_headers", "parse_set_cookie"]
