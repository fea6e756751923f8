"""FastAPI integration: the visitor's consent as a dependency.

>>> from fastapi import Depends, FastAPI                       # doctest: +SKIP
>>> @app.get("/checkout")                                      # doctest: +SKIP
... async def checkout(consent: Consent = Depends(consent_dependency)):
...     if consent.allows("analytics"):
...         send_server_side_event()

FastAPI itself is not imported here: the dependency is a plain function of a Starlette request,
so installing consentgate never pulls FastAPI in.
"""

from __future__ import annotations

from starlette.requests import Request

from consentgate.consent.state import Consent

__all__ = ["consent_dependency"]


def consent_dependency(request: Request) -> Consent:
    """The ``Consent`` ConsentGate resolved for this request."""
    consent = request.scope.get("consentgate")
    if not isinstance(consent, Consent):
        raise RuntimeError(
            "no consent in the request scope: wrap the application with ConsentGate "
            "(app = ConsentGate(app, secret_keys=[...])) outside the routes that use this dependency"
        )
    return consent
