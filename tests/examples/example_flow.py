"""Shared steps for the integration example tests: load one by path, run its lifespan, walk
consent flow a visitor walks, and read what reached the audit store."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from consentgate.audit.stores import Query, open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE_URL = "http://127.0.0.1:8000"
# A real browser's user agent: bots get no banner and leave no audit record.
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GTAG = "https://www.googletagmanager.com/gtag/js?id="

App = Callable[..., Any]


def load_example(relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``examples/<relative>`` afresh, with its audit log in ``tmp_path``."""
    monkeypatch.setenv("CONSENTGATE_AUDIT", f"sqlite:///{tmp_path}/consent.db")
    monkeypatch.setenv("CONSENTGATE_SECRET_KEY", "example-test-key-" + "k" * 32)
    monkeypatch.chdir(tmp_path)
    path = EXAMPLES / relative
    name = "consentgate_example_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # removed again after the test
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """Drive the ASGI lifespan protocol as a server does (the test client does not)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), 10)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), 10)
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await asyncio.wait_for(task, 10)


def client(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE_URL,
        headers={"User-Agent": CHROME, "Accept-Language": "en"},
    )


@dataclass
class FlowResult:
    before: httpx.Response
    state: dict[str, Any]
    saved: dict[str, Any]
    after: httpx.Response


async def consent_flow(http: httpx.AsyncClient, page: str, tracker: str) -> FlowResult:
    """First visit (banner, tracker inert), read the state, accept all, visit again."""
    before = await http.get(page)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/html")
    html = before.text
    assert "data-consentgate-banner" in html, "the banner is injected on a first visit"
    assert 'id="consentgate-state"' in html
    tag = _script_tag(html, tracker)
    assert 'type="text/plain"' in tag and "data-consentgate-blocked" in tag, tag
    assert f'data-consentgate-src="{tracker}' in tag, tag

    response = await http.get("/_consentgate/state")
    assert response.status_code == 200
    state = response.json()
    assert state["v"] == 1 and state["exists"] is False
    assert state["categories"]["analytics"] is False

    response = await http.post(
        "/_consentgate/consent",
        json={"action": "accept_all", "csrf": state["csrf"], "ui": "banner.accept"},
        headers={"Origin": BASE_URL},
    )
    assert response.status_code == 200, response.text
    saved = response.json()["state"]
    assert saved["exists"] is True and saved["categories"]["analytics"] is True
    assert any(c.name.endswith("consentgate") for c in http.cookies.jar), "the consent cookie is set"

    after = await http.get(page)
    assert "data-consentgate-banner" not in after.text, "no banner once a choice is stored"
    restored = _script_tag(after.text, tracker)
    assert f'src="{tracker}' in restored and "data-consentgate-blocked" not in restored, restored
    return FlowResult(before, state, saved, after)


def _script_tag(html: str, url_start: str) -> str:
    at = html.find(url_start)
    assert at >= 0, f"{url_start} not in the page"
    start = html.rfind("<script", 0, at)
    return html[start : html.find(">", at) + 1]


async def stored_events(tmp_path: Path) -> list[dict[str, object]]:
    store = open_store(f"sqlite:///{tmp_path}/consent.db")
    await store.open()
    try:
        return [record async for record in store.read(Query())]
    finally:
        await store.close()


def state_json(html: str) -> dict[str, Any]:
    start = html.index('id="consentgate-state">') + len('id="consentgate-state">')
    parsed: dict[str, Any] = json.loads(html[start : html.index("</script>", start)])
    return parsed
