"""atheris target: arbitrary consent requests (body, content type, headers) through ConsentGate.

    .venv/bin/python fuzz/fuzz_consent_endpoint.py -max_total_time=300 fuzz/corpus/endpoint

A crash is any exception, a 5xx, or an answer that is not 200/303/4xx.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from consentgate.audit.events import MemorySink
    from consentgate.http import endpoints, request  # noqa: F401 - imported lazily otherwise: instrument them
    from consentgate.http.middleware import ConsentGate
    from consentgate.policy.load import load_dict

CONTENT_TYPES = [
    b"application/json",
    b"application/x-www-form-urlencoded",
    b"text/plain",
    b"",
    b"application/json; charset=utf-8",
]
HEADER_NAMES = [
    b"origin",
    b"sec-fetch-site",
    b"cookie",
    b"referer",
    b"accept-language",
    b"sec-gpc",
    b"host",
    b"user-agent",
]


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


GATE = ConsentGate(
    app, secret_keys=["fuzz-secret-key-0123456789abcdefghij"], policy=load_dict({}), audit=MemorySink()
)


def request(provider: atheris.FuzzedDataProvider) -> tuple[dict[str, Any], list[bytes]]:
    headers = [(b"content-type", CONTENT_TYPES[provider.ConsumeIntInRange(0, len(CONTENT_TYPES) - 1)])]
    for _ in range(provider.ConsumeIntInRange(0, 4)):
        name = HEADER_NAMES[provider.ConsumeIntInRange(0, len(HEADER_NAMES) - 1)]
        value = bytes(
            b for b in provider.ConsumeBytes(provider.ConsumeIntInRange(0, 80)) if b not in b"\r\n\x00"
        )
        headers.append((name, value))
    method = "POST" if provider.ConsumeBool() else provider.ConsumeString(6).upper() or "GET"
    routes = ["consent", "consent", "consent", "state", "preferences", "receipt", "static/runtime.js"]
    choice = provider.ConsumeIntInRange(0, len(routes))
    path = "/_consentgate/" + (
        routes[choice] if choice < len(routes) else provider.ConsumeUnicodeNoSurrogates(12)
    )
    body = provider.ConsumeBytes(provider.remaining_bytes())
    pieces = [body[: len(body) // 2], body[len(body) // 2 :]]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode("utf-8", "replace"), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("192.0.2.1", 1), "server": ("shop.example", 443),
    }  # fmt: skip
    return scope, pieces


def test_one_input(raw: bytes) -> None:
    scope, pieces = request(atheris.FuzzedDataProvider(raw))
    messages: list[dict[str, Any]] = []
    queue = [{"type": "http.request", "body": piece, "more_body": i == 0} for i, piece in enumerate(pieces)]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(GATE(scope, receive, send))
    status = messages[0]["status"]
    if status >= 500 or not (status in (200, 303) or 400 <= status < 500 or status == 204):
        raise AssertionError(f"status {status} for {scope['method']} {scope['path']!r}: {messages[1:2]!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
