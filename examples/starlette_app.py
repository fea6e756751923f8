"""ConsentGate in a plain Starlette app: one entry in ``middleware=[...]``.

    CONSENTGATE_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \
        uvicorn starlette_app:app --app-dir examples

Without ``consentgate.toml`` next to it, the default policy applies: the four standard
categories and every tracker of the built-in catalog (Google Analytics below is one of them).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate import ConsentGate

# A fixed key keeps choices valid across restarts and instances; the random fallback is only
# good for trying the example (every restart forgets every choice).
SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)
POLICY = Path(__file__).with_name("consentgate.toml")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Starlette + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE1"></script>
</head>
<body>
<h1>Hello from Starlette</h1>
<p>Google Analytics is on this page, but stays inert until you accept analytics.</p>
<p><a href="/_consentgate/preferences">Cookie settings</a></p>
</body>
</html>
"""


async def home(request: Request) -> Response:
    return HTMLResponse(PAGE)


app = Starlette(
    routes=[Route("/", home)],
    middleware=[
        Middleware(
            ConsentGate,
            secret_keys=[SECRET_KEY],
            policy=POLICY if POLICY.is_file() else None,
            # Consent records go to SQLite; use "postgresql://..." with several instances.
            audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
        )
    ],
)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
