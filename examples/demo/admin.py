"""The demo's consent admin: the dashboard (and exports) behind HTTP Basic authentication.

A real site would put its own login in front (SSO, an admin session); the audit log holds
consent ids, which are personal data, so it must never be public.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from consentgate.audit.dashboard import dashboard_app
from consentgate.audit.stores import Store
from consentgate.policy.model import Policy

ADMIN_USER = "admin"


class BasicAuth:
    """Refuses every request without the right ``Authorization: Basic`` credentials (401)."""

    def __init__(
        self, app: ASGIApp, *, username: str, password: str, realm: str = "consentgate admin"
    ) -> None:
        if len(password) < 12:
            raise ValueError("password: use at least 12 characters")
        self.app = app
        self.expected = f"{username}:{password}".encode()
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
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:6].lower() == b"basic ":
                try:
                    given = base64.b64decode(value[6:].strip(), validate=True)
                except (binascii.Error, ValueError):
                    return False
                return secrets.compare_digest(given, self.expected)
        return False


def create_admin(store: Store, *, password: str, key: bytes | None, policy: Policy) -> ASGIApp:
    """The dashboard for ``store``, for user ``admin`` with ``password``."""
    return BasicAuth(dashboard_app(store, key=key, policy=policy), username=ADMIN_USER, password=password)
