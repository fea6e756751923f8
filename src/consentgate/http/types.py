"""ASGI aliases shared by the HTTP side (Starlette's, so apps and tests can pass theirs)."""

from __future__ import annotations

from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentgate.audit.events import EventSink

__all__ = [
    "ASGIApp",
    "CookieDecision",
    "Message",
    "RawHeaders",
    "Receive",
    "Scope",
    "Send",
    "Sink",
]

# Response headers as ASGI carries them: an ordered multi-map (several Set-Cookie, several Vary).
RawHeaders = list[tuple[bytes, bytes]]

# What the Set-Cookie firewall did with one cookie the app set.
CookieDecision = Literal[
    "own",  # the middleware's own consent cookie
    "necessary",  # a cookie of a service in the necessary category
    "granted",  # a cookie of a service the visitor allowed
    "blocked",  # a cookie of a service the visitor did not allow: dropped
    "deletion",  # an expiring Set-Cookie: always passes, it removes storage
    "unknown_allowed",  # no service claims it; policy.unknown_cookies = "allow"
    "unknown_reported",  # no service claims it; "report": passes and is listed
    "unknown_blocked",  # no service claims it; "block": dropped
]


# Where consent events go: the audit package's one protocol (``AuditWriter`` fits it).
Sink = EventSink
