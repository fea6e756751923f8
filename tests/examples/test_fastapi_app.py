from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.example_flow import GTAG, client, consent_flow, lifespan, load_example, stored_events


async def test_fastapi_example_blocks_the_tracker_until_accept_and_records_the_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example("fastapi_app.py", tmp_path, monkeypatch).app
    async with lifespan(app), client(app) as http:
        await consent_flow(http, "/", GTAG + "G-EXAMPLE2")
    assert [e["action"] for e in await stored_events(tmp_path)] == ["accept_all"]


async def test_fastapi_example_endpoint_personalises_only_with_consent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example("fastapi_app.py", tmp_path, monkeypatch).app
    async with lifespan(app), client(app) as http:
        before = (await http.get("/api/recommendations")).json()
        state = (await http.get("/_consentgate/state")).json()
        saved = await http.post(
            "/_consentgate/consent",
            json={"action": "save", "categories": ["preferences"], "csrf": state["csrf"]},
            headers={"Origin": "http://127.0.0.1:8000"},
        )
        assert saved.status_code == 200, saved.text
        after = (await http.get("/api/recommendations")).json()
    assert before["personalised"] is False
    assert after["personalised"] is True
