from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.example_flow import GTAG, client, consent_flow, lifespan, load_example, stored_events


async def test_starlette_example_blocks_the_tracker_until_accept_and_records_the_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example("starlette_app.py", tmp_path, monkeypatch).app
    async with lifespan(app), client(app) as http:
        flow = await consent_flow(http, "/", GTAG + "G-EXAMPLE1")
    events = await stored_events(tmp_path)
    assert [e["action"] for e in events] == ["accept_all"]
    assert events[0]["consent_id"] == flow.saved["consentId"]
    assert events[0]["ui_action"] == "banner.accept"
