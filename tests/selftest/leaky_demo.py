"""A deliberately leaky Ridgeline: the real demo site with three faults that consentgate cannot
prevent, so the self-test has something true to find.

1. A tracker outside consentgate's reach: a first-party script (``/leak.js``, no signature, so
   the rewriter rightly leaves it alone) that adds a ``<script>`` from the ads origin at run time.
2. A server cookie before consent: ``_ga`` set by a middleware *outside* ConsentGate, so the
   Set-Cookie firewall never sees it (a CDN or proxy adding cookies does the same).
3. The reject button hidden in the second layer: a stylesheet hides the banner's "Reject all";
   the preference centre still has one, two clicks away.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentgate.demo import find_demo_dir, load_demo_package

LEAK_PATH = "/leak.js"
LEAKED_COOKIE = "_ga"
HIDE_REJECT = '[data-consentgate-banner] [data-cg-action="reject_all"]{display:none!important}'


def _leak_js(ads_origin: str) -> bytes:
    return (
        "(function(){var s=document.createElement('script');s.async=true;"
        f"s.src={json.dumps(ads_origin + '/slot.js?via=leak')};document.head.appendChild(s);}})();"
    ).encode()


def _is_html(message: Message) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in message.get("headers", [])
    )


class InjectLeaks:
    """Inside ConsentGate: serves ``/leak.js`` and adds it, and the stylesheet that hides the
    first layer's reject button, to every page's ``<head>``."""

    def __init__(self, app: ASGIApp, ads_origin: str) -> None:
        self.app = app
        self.script = _leak_js(ads_origin)
        self.head = f'<style>{HIDE_REJECT}</style><script src="{LEAK_PATH}"></script></head>'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == LEAK_PATH:
            headers = [
                (b"content-type", b"text/javascript"),
                (b"content-length", str(len(self.script)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": self.script})
            return
        start: Message | None = None
        body = bytearray()

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and _is_html(message):
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    page = bytes(body).replace(b"</head>", self.head, 1)
                    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(page)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": page})
            else:
                await send(message)

        await self.app(scope, receive, buffered)


class CookieBeforeConsent:
    """Outside ConsentGate: every page sets ``_ga``, whatever the visitor chose."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and _is_html(message):
                cookie = f"{LEAKED_COOKIE}=GA1.1.424242.1700000000; Path=/; Max-Age=63072000; SameSite=Lax"
                message = {**message, "headers": [*message["headers"], (b"set-cookie", cookie.encode())]}
            await send(message)

        await self.app(scope, receive, with_cookie if scope["type"] == "http" else send)


def leaky_site(analytics: str, ads: str, video: str, secret_key: str) -> ASGIApp:
    """The demo site (its own policy, no audit log) with the three faults, using the running
    demo's third-party origins."""
    directory = find_demo_dir()
    if directory is None:
        raise RuntimeError("examples/demo not found next to the source checkout")
    demo: Any = load_demo_package(directory)
    origins = demo.Origins(analytics=analytics, ads=ads, video=video)
    site = demo.create_site(origins, secret_keys=[secret_key], policy=demo.load_policy())
    # Appended, so innermost: the page ConsentGate rewrites already holds the leaky script.
    site.user_middleware.append(Middleware(InjectLeaks, ads_origin=ads))
    return CookieBeforeConsent(site)
