from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.examples.example_flow import GTAG, client, consent_flow, lifespan, load_example, stored_events


async def test_quart_example_blocks_the_tracker_until_accept_and_records_the_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("quart") is None:
        missing("quart is not installed (pip install quart)")
    app = load_example("quart_app.py", tmp_path, monkeypatch).app
    async with lifespan(app), client(app) as http:
        flow = await consent_flow(http, "/", GTAG + "G-EXAMPLE6")
    assert "Analytics allowed: no." in flow.before.text
    assert "Analytics allowed: yes." in flow.after.text
    assert [e["action"] for e in await stored_events(tmp_path)] == ["accept_all"]
