"""A small site behind the real ``ConsentGate`` for the banner browser tests.

The site runs on 127.0.0.1; its two trackers run on other loopback addresses on the same port,
each its own origin: an analytics service on 127.0.0.2 and a marketing service on 127.0.0.3.
Each tracker script records that it ran in a window flag, and each tracker server records every
request it receives, so "never loads" is checked on both ends.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.browser_kit import TrackerScripts, serve_site

KEY = "b" * 32
HOSTS = {"analytics": "127.0.0.2", "marketing": "127.0.0.3"}
SERVICES = {"analytics": "stats", "marketing": "adnet"}
FLAGS = {"analytics": "__analyticsRan", "marketing": "__marketingRan"}
_SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def tracker_origins(port: int) -> TrackerScripts:
    """Both tracker origins: each script sets its window flag when it runs."""
    scripts = {kind: f"window.{flag} = true;".encode() for kind, flag in FLAGS.items()}
    return TrackerScripts(port, HOSTS, scripts)


def _page(trackers: TrackerScripts, nonce: str | None) -> str:
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


def make_gate(
    trackers: TrackerScripts, sink: MemorySink, *, csp: str = "report-only", **options: Any
) -> ConsentGate:
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
    return ConsentGate(app, secret_keys=[KEY], policy=policy, audit=sink, **options)


@dataclass
class World:
    base: str
    gate: ConsentGate
    trackers: TrackerScripts
    sink: MemorySink

    @property
    def cookie_name(self) -> str:
        return self.gate.cookie.name(False)  # plain http: no __Host- prefix


@contextmanager
def world(port: int, *, csp: str = "report-only", **options: Any) -> Iterator[World]:
    """The site; ``options`` go to ``ConsentGate`` (``csrf_max_age=1``: pages go stale fast)."""
    scripts = tracker_origins(port)
    sink = MemorySink()
    gate = make_gate(scripts, sink, csp=csp, **options)
    with serve_site(port, gate, scripts.apps()) as base:
        yield World(base, gate, scripts, sink)


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
