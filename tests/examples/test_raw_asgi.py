from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.example_flow import GTAG, client, consent_flow, lifespan, load_example, stored_events


async def test_raw_asgi_example_sees_the_consent_in_its_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example("raw_asgi.py", tmp_path, monkeypatch).app
    async with lifespan(app), client(app) as http:
        flow = await consent_flow(http, "/", GTAG + "G-EXAMPLE3")
    assert "Analytics allowed: no." in flow.before.text
    assert "Analytics allowed: yes." in flow.after.text
    # The app declared Content-Length for its own body; the rewritten page must carry a true one.
    assert int(flow.before.headers["content-length"]) == len(flow.before.content)
    assert [e["action"] for e in await stored_events(tmp_path)] == ["accept_all"]
