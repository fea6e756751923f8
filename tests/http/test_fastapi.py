from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from consentgate.audit.events import MemorySink
from consentgate.consent.state import Consent
from consentgate.http.fastapi import consent_dependency
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import BROWSER

POLICY = load_dict({})


def make_app() -> FastAPI:
    api = FastAPI()

    @api.get("/track")
    async def track(consent: Annotated[Consent, Depends(consent_dependency)]) -> dict[str, bool]:
        return {"analytics": consent.allows("analytics"), "exists": consent.exists}

    return api


async def test_the_dependency_gives_the_visitors_consent() -> None:
    api = make_app()
    gate = ConsentGate(api, secret_keys=["k" * 32], policy=POLICY, audit=MemorySink())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gate), base_url="http://testserver", headers={"user-agent": BROWSER}
    ) as http:
        assert (await http.get("/track")).json() == {"analytics": False, "exists": False}
        await http.post("/_consentgate/consent", json={"action": "accept_all"})
        assert (await http.get("/track")).json() == {"analytics": True, "exists": True}


async def test_without_the_middleware_the_dependency_says_what_is_missing() -> None:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=True)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": BROWSER}
    ) as http:
        with pytest.raises(RuntimeError, match="wrap the application with ConsentGate"):
            await http.get("/track")
