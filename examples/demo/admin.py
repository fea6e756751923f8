"""The demo's consent admin: dashboard, exports and verification behind HTTP Basic credentials.

A real site passes its own check as ``auth`` (an admin session, SSO): the audit log holds
consent ids, which are personal data, so it must never be public.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from consentgate.audit.dashboard import dashboard_app
from consentgate.audit.stores import Store
from consentgate.policy.model import Policy

ADMIN_USER = "admin"


class BasicCredentials:
    """The ``auth`` hook: True when the request carries these Basic credentials."""

    def __init__(self, username: str, password: str) -> None:
        if len(password) < 12:
            raise ValueError("password: use at least 12 characters")
        self.expected = f"{username}:{password}".encode()

    def __call__(self, request: Request) -> bool:
        return self.match(request.headers.get("authorization", "").encode("latin-1"))

    def match(self, header: bytes) -> bool:
        if header[:6].lower() != b"basic ":
            return False
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return secrets.compare_digest(given, self.expected)


class BasicChallenge:
    """Answers a request without valid credentials with a Basic challenge, so a browser asks for
    the password (the admin API itself only says 401)."""

    def __init__(self, app: ASGIApp, credentials: BasicCredentials, realm: str = "consentgate admin") -> None:
        self.app = app
        self.credentials = credentials
        self.challenge = f'Basic realm="{realm}", charset="UTF-8"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = b"Authentication required."
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", self.challenge),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        return any(
            name == b"authorization" and self.credentials.match(value) for name, value in scope["headers"]
        )


def create_admin(store: Store, *, password: str, key: bytes | None, policy: Policy) -> ASGIApp:
    """Dashboard and audit API for ``store``, for user ``admin`` with ``password``."""
    credentials = BasicCredentials(ADMIN_USER, password)
    return BasicChallenge(dashboard_app(store, auth=credentials, key=key, policy=policy), credentials)
