"""ConsentGate around a Litestar app.

    uvicorn litestar_app:app --app-dir examples

Wrap the whole Litestar application rather than adding ConsentGate to ``middleware=[...]``:
Litestar runs its middleware only after routing, so the ``/_consentgate/...`` routes would be
404s there, and the audit writer would never see the lifespan events it starts and stops with.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from litestar import Litestar, Request, get
from litestar.response import Response

from consentgate import Consent, ConsentGate

SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Litestar + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE4"></script>
</head>
<body>
<h1>Hello from Litestar</h1>
<p>Marketing allowed: {marketing}.</p>
</body>
</html>
"""


@get("/", sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Response[str]:
    consent: Consent = request.scope["consentgate"]  # type: ignore[typeddict-item]
    marketing = "yes" if consent.allows("marketing") else "no"
    return Response(PAGE.format(marketing=marketing), media_type="text/html")


app = ConsentGate(
    Litestar(route_handlers=[home]),
    secret_keys=[SECRET_KEY],
    audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
)
