"""ConsentGate around a Quart app (Quart is an ASGI Flask).

    uvicorn quart_app:app --app-dir examples

Wrap ``quart_app`` (the ASGI callable) and keep a reference to the Quart object for routes.
"""

from __future__ import annotations

import os
import secrets

from quart import Quart, request

from consentgate import Consent, ConsentGate

SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Quart + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE6"></script>
</head>
<body>
<h1>Hello from Quart</h1>
<p>Analytics allowed: {analytics}.</p>
</body>
</html>
"""

quart_app = Quart(__name__)


@quart_app.get("/")
async def home() -> tuple[str, int, dict[str, str]]:
    consent: Consent = request.scope["consentgate"]  # type: ignore[typeddict-item]
    analytics = "yes" if consent.allows("analytics") else "no"
    return PAGE.format(analytics=analytics), 200, {"Content-Type": "text/html; charset=utf-8"}


app = ConsentGate(
    quart_app,
    secret_keys=[SECRET_KEY],
    audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
)
