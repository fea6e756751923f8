"""A small site behind the real ``ConsentGate`` for the banner browser tests.

The site runs on 127.0.0.1; its two trackers run on other loopback addresses on the same port,
each its own origin: an analytics service on 127.0.0.2 and a marketing service on 127.0.0.3.
Each tracker script records that it ran in a window flag, and each tracker server records every
request it receives, so "never loads" is checked on both ends.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict

KEY = "b" * 32
HOSTS = {"analytics": "127.0.0.2", "marketing": "127.0.0.3"}
SERVICES = {"analytics": "stats", "marketing": "adnet"}
FLAGS = {"analytics": "__analyticsRan", "marketing": "__marketingRan"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


@dataclass
class Trackers:
    """Both tracker origins (one app per address): what each was asked for, in order."""

    port: int
    hits: list[str] = field(default_factory=list)

    async def script(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in FLAGS:
            return Response(status_code=404)
        self.hits.append(kind)
        return Response(f"window.{FLAGS[kind]} = true;", media_type="text/javascript")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{kind}.js", self.script)])

    def url(self, kind: str) -> str:
        return f"http://{HOSTS[kind]}:{self.port}/{kind}.js"


def _page(trackers: Trackers, nonce: str | None) -> str:
    attr = f' nonce="{nonce}"' if nonce else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'><title>Shop</title>"
        f"<script{attr}>window.__siteRan = true;</script>"
        f'<script src="{trackers.url("analytics")}"{attr}></script>'
        f'<script src="{trackers.url("marketing")}"{attr}></script>'
        "</head><body><main><h1>Shop</h1><p>Things for sale.</p></main></body></html>"
    )


def strict_csp(nonce: str) -> str:
    return f"script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'"


def make_gate(trackers: Trackers, sink: MemorySink, *, csp: str = "report-only") -> ConsentGate:
    async def home(request: Request) -> Response:
        return HTMLResponse(_page(trackers, None))

    async def strict(request: Request) -> Response:
        # A fresh nonce per response, as a real strict-CSP site does.
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(_page(trackers, nonce), headers={"content-security-policy": strict_csp(nonce)})

    policy = load_dict(
        {
            "version": "2026-11-01",
            "include_catalog": False,
            "csp": csp,
            "services": {
                SERVICES["analytics"]: {
                    "name": "Stats",
                    "category": "analytics",
                    "hosts": [HOSTS["analytics"]],
                },
                SERVICES["marketing"]: {
                    "name": "Ad Network",
                    "category": "marketing",
                    "hosts": [HOSTS["marketing"]],
                },
            },
        }
    )
    app = Starlette(routes=[Route("/", home), Route("/strict", strict)])
    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=sink)


@contextmanager
def serve(app: Any, host: str, port: int) -> Iterator[None]:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the test server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class World:
    base: str
    gate: ConsentGate
    trackers: Trackers
    sink: MemorySink

    @property
    def cookie_name(self) -> str:
        return self.gate.cookie.name(False)  # plain http: no __Host- prefix


@contextmanager
def world(port: int, *, csp: str = "report-only") -> Iterator[World]:
    trackers = Trackers(port)
    sink = MemorySink()
    gate = make_gate(trackers, sink, csp=csp)
    with ExitStack() as stack:
        for host in HOSTS.values():
            stack.enter_context(serve(trackers.app(), host, port))
        stack.enter_context(serve(gate, "127.0.0.1", port))
        yield World(f"http://127.0.0.1:{port}", gate, trackers, sink)


def tracker_scripts(html: str, port: int) -> dict[str, str]:
    """Each tracker's script tag in served/serialised HTML: "live" when the browser would fetch
    it, "blocked" when it is neutralised (inert type, URL parked in data-consentgate-src)."""
    found: dict[str, str] = {}
    for tag in _SCRIPT_TAG.findall(html):
        for kind, host in HOSTS.items():
            url = f"http://{host}:{port}/{kind}.js"
            if f'data-consentgate-src="{url}"' in tag:
                inert = 'type="text/plain"' in tag and "data-consentgate-blocked" in tag
                found[kind] = "blocked" if inert else "broken"
            elif re.search(rf'(?<![-\w])src="{re.escape(url)}"', tag):
                found[kind] = "live"
    return found
