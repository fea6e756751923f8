"""Shared material for the hostile-input tests: the middleware in front of a tiny page, and a
raw ASGI call that records every message and checks the protocol (Content-Length against the
body, one start, nothing after the last body message)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.model import Policy

KEY = "hostile-test-secret-key-0123456789abcdef"
OLD_KEY = "hostile-test-rotated-out-key-0123456789ab"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HOST = "shop.example"
ORIGIN = f"https://{HOST}"
SAME_ORIGIN = (("origin", ORIGIN), ("sec-fetch-site", "same-origin"))
CONSENT = "/_consentgate/consent"
GA = "https://www.google-analytics.com/analytics.js"
PIXEL = "https://www.facebook.com/tr?id=1&ev=PageView"
PAGE = (
    "<!doctype html><html><head><title>t</title>"
    f'<script async src="{GA}"></script></head>'
    f'<body><p>hello</p><img src="{PIXEL}" alt=""></body></html>'
)
STATE = re.compile(rb'<script type="application/json" id="consentgate-state"[^>]*>(.*?)</script>', re.S)
Message = dict[str, Any]


async def page_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"].startswith("/api"):
        await JSONResponse({"ok": True})(scope, receive, send)
    else:
        await HTMLResponse(PAGE)(scope, receive, send)


def gate(
    policy: Policy | None = None,
    *,
    keys: Sequence[str] = (KEY,),
    sink: Any = None,
    app: Callable[..., Awaitable[None]] = page_app,
    **options: Any,
) -> tuple[ConsentGate, MemorySink]:
    sink = sink if sink is not None else MemorySink()
    return ConsentGate(app, secret_keys=list(keys), policy=policy, audit=sink, **options), sink


@dataclass
class Reply:
    messages: list[Message]

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.messages[0].get("headers", [])]

    def header_list(self, name: str) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == name.encode()]

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    def json(self) -> Any:
        return json.loads(self.body)

    def state(self) -> dict[str, Any]:
        match = STATE.search(self.body)
        assert match is not None, self.body[:400]
        data: dict[str, Any] = json.loads(match.group(1))
        return data


async def call(
    app: Any,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str] | tuple[bytes, bytes]] = (),
    body: bytes = b"",
    query: bytes = b"",
    scheme: str = "https",
    chunks: int = 1,
) -> Reply:
    """One request straight into the ASGI app; the body arrives in ``chunks`` pieces."""
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        raw.append(
            (
                name.lower().encode("latin-1") if isinstance(name, str) else name.lower(),
                value.encode("latin-1") if isinstance(value, str) else value,
            )
        )
    if not any(k == b"host" for k, _ in raw):
        raw.insert(0, (b"host", HOST.encode()))
    if not any(k == b"user-agent" for k, _ in raw):
        raw.append((b"user-agent", BROWSER.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": raw,
        "client": ("203.0.113.7", 50000),
        "server": (HOST, 443),
    }
    size = max(1, -(-len(body) // max(1, chunks)))
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    pending = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]
    messages: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            assert not messages, "response started twice"
            for key, value in message.get("headers", []):
                assert isinstance(key, bytes) and isinstance(value, bytes)
                # What any HTTP/1.1 server would refuse to send (h11 raises, others split).
                assert not re.search(rb"[\r\n\x00]", key + value), (
                    f"control bytes in header {key!r}: {value!r}"
                )
        else:
            assert messages, f"{kind} before the start"
            assert messages[-1].get("more_body", True), f"{kind} after the last body message"
        messages.append(message)

    await app(scope, receive, send)
    reply = Reply(messages)
    assert messages and messages[-1]["type"] == "http.response.body" and not messages[-1].get("more_body")
    declared = reply.header("content-length")
    if declared is not None and method != "HEAD":
        assert int(declared) == len(reply.body), f"content-length {declared}, body {len(reply.body)}"
    return reply


def cookie_header(reply: Reply) -> tuple[str, str]:
    """The Cookie header a browser would send after ``reply`` (its own cookies only)."""
    pairs = [line.split(";", 1)[0] for line in reply.header_list("set-cookie") if "Max-Age=0" not in line]
    return ("cookie", "; ".join(pairs))
