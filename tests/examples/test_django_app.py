from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.example_flow import GTAG, client, consent_flow, lifespan, load_example, stored_events


async def test_django_example_blocks_the_tracker_until_accept_and_records_the_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example("django_app/project.py", tmp_path, monkeypatch).application
    async with lifespan(app), client(app) as http:
        flow = await consent_flow(http, "/", GTAG + "G-EXAMPLE5")
    assert "Analytics allowed: no." in flow.before.text
    assert "Analytics allowed: yes." in flow.after.text
    assert [e["action"] for e in await stored_events(tmp_path)] == ["accept_all"]
