"""ConsentGate around a bare ASGI callable: no framework needed.

    uvicorn raw_asgi:app --app-dir examples

ConsentGate is itself a plain ASGI app that wraps another one. The wrapped app sees the
visitor's choice in ``scope["consentgate"]``.
"""

from __future__ import annotations

import os
import secrets
from html import escape

from starlette.types import Receive, Scope, Send

from consentgate import Consent, ConsentGate

SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Raw ASGI + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE3"></script>
</head>
<body>
<h1>Hello from a raw ASGI app</h1>
<p>Analytics allowed: {analytics}.</p>
</body>
</html>
"""


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        # Lifespan reaches the app after ConsentGate has seen it (it starts its audit writer).
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    consent: Consent = scope["consentgate"]
    body = PAGE.format(analytics=escape("yes" if consent.allows("analytics") else "no")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = ConsentGate(
    hello,
    secret_keys=[SECRET_KEY],
    audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
)
