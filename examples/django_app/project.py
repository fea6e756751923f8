"""A minimal Django project behind ConsentGate, served through Django's ASGI application.

    uvicorn project:application --app-dir examples/django_app

Settings are configured in code to keep the example to one file; in a real project the last
lines go in ``asgi.py``: wrap ``get_asgi_application()`` in ``ConsentGate``.
"""

from __future__ import annotations

import os
import secrets

import django
from django.conf import settings

SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(48),
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        USE_TZ=True,
    )
    django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings above)
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from consentgate import Consent, ConsentGate  # noqa: E402

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Django + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE5"></script>
</head>
<body>
<h1>Hello from Django</h1>
<p>Analytics allowed: {analytics}.</p>
</body>
</html>
"""


def home(request: HttpRequest) -> HttpResponse:
    # Django's ASGI request keeps the ASGI scope; ConsentGate put the visitor's choice there.
    consent: Consent = request.scope["consentgate"]
    return HttpResponse(PAGE.format(analytics="yes" if consent.allows("analytics") else "no"))


urlpatterns = [path("", home)]


class AnswerLifespan:
    """Django's ASGI handler refuses the lifespan protocol. Answer it here, so ConsentGate
    (which watches lifespan) starts its audit writer at start-up and flushes it at shutdown:
    without this, choices made just before a shutdown could be lost from the audit log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


application = ConsentGate(
    AnswerLifespan(get_asgi_application()),
    secret_keys=[SECRET_KEY],
    audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
)
