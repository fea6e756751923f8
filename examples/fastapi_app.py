"""ConsentGate in a FastAPI app, with the consent state as a dependency.

    uvicorn fastapi_app:app --app-dir examples

``consent_dependency`` hands an endpoint the visitor's ``Consent``, so an API can decide what
to compute or return (here: personalised recommendations only with the preferences category).
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from consentgate import Consent, ConsentGate, Policy
from consentgate.http.fastapi import consent_dependency

SECRET_KEY = os.environ.get("CONSENTGATE_SECRET_KEY") or secrets.token_urlsafe(48)

# A policy can also be given as a dict (the same keys as consentgate.toml).
POLICY = Policy.from_dict(
    {
        "version": "fastapi-example-1",
        "services": {
            "google-analytics": {"catalog": "google-analytics"},
            "recommendations": {
                "name": "Personal recommendations",
                "category": "preferences",
                "description": "Remembers what you looked at to suggest similar items.",
                "cookies": [{"name": "recently_viewed", "lifetime": "30 days"}],
            },
        },
    }
)

app = FastAPI(title="FastAPI + consentgate")
app.add_middleware(
    ConsentGate,
    secret_keys=[SECRET_KEY],
    policy=POLICY,
    audit=os.environ.get("CONSENTGATE_AUDIT", "sqlite:///consent.db"),
)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FastAPI + consentgate</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-EXAMPLE2"></script>
</head>
<body>
<h1>Hello from FastAPI</h1>
<p>See <a href="/api/recommendations">/api/recommendations</a>: personalised only with consent.</p>
</body>
</html>
"""


@app.get("/", response_class=HTMLResponse)
def home() -> str:
    return PAGE


@app.get("/api/recommendations")
def recommendations(consent: Annotated[Consent, Depends(consent_dependency)]) -> dict[str, object]:
    if consent.allows("recommendations"):
        return {"personalised": True, "items": ["Storm shell", "Head torch"]}
    return {"personalised": False, "items": ["Best sellers of the week"]}
