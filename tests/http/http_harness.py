"""Raw-ASGI test harness: a strict recording ``send`` and request scopes built by hand.

Test clients buffer responses and check none of the protocol rules, so protocol tests record
every message and check them here (engineering note, section 2.0).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from consentgate.html.rules import Action, Finding, Rule

Message = dict[str, Any]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


class Recorder:
    """A ``send`` that records messages and fails on any ASGI protocol violation."""

    def __init__(self, method: str = "GET") -> None:
        self.method = method
        self.messages: list[Message] = []
        self.started = False
        self.finished = False
        self.trailers_expected = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        self.messages.append(message)
        if kind == "http.response.debug":
            assert not self.started, "debug after start"
        elif kind == "http.response.start":
            assert not self.started, "start sent twice"
            self.started = True
            self.trailers_expected = bool(message.get("trailers", False))
            for key, value in message.get("headers", []):
                assert isinstance(key, bytes) and isinstance(value, bytes), (key, value)
        elif kind == "http.response.trailers":
            assert self.finished and self.trailers_expected, "trailers out of place"
        else:
            assert self.started, f"{kind} before start"
            assert not self.finished, f"{kind} after the final body message"
            if kind == "http.response.body":
                if not message.get("more_body", False):
                    self.finished = True
                    self._check_length()
            elif kind == "http.response.pathsend":
                self.finished = True

    def _check_length(self) -> None:
        body = self.body
        # (HEAD: apps may send the GET body, which the server drops; tests check what we send.)
        if self.status in (204, 304):
            assert body == b"", f"a body on {self.status}"
        declared = self.header("content-length")
        if declared is not None and self.method != "HEAD" and self.status not in (204, 304):
            assert int(declared) == len(body), f"content-length {declared} but {len(body)} bytes"

    @property
    def start(self) -> Message:
        return next(m for m in self.messages if m["type"] == "http.response.start")

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.start.get("headers", [])]

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == name.encode()]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.messages]


def scope(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    extensions: dict[str, Any] | None = None,
    scheme: str = "http",
    query: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if not any(k == b"host" for k, _ in raw):
        raw.insert(0, (b"host", b"testserver"))
    if not any(k == b"user-agent" for k, _ in raw):
        raw.append((b"user-agent", BROWSER.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": raw,
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 80),
        "extensions": extensions if extensions is not None else {},
    }


def receiver(*bodies: bytes) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that yields the request body in the given chunks, then waits forever."""
    queue = [
        {"type": "http.request", "body": body, "more_body": index < len(bodies) - 1}
        for index, body in enumerate(bodies or (b"",))
    ]

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        import anyio

        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


def finding(
    tag: str,
    category: str,
    service_id: str | None,
    host: str,
    *,
    rule: Rule = "host",
    action: Action = "allowed",
    service_name: str = "",
    line: int = 1,
) -> Finding:
    """What the rewriter reports for one element, as the CSP and the host inventory read it."""
    return Finding(tag, category, service_id, service_name, host, rule, line, action)
