"""A page streamed in small pieces (a head flushed early, then a slow body) is not held back
until 1024 bytes are in (engineering note P11): the first piece reaches the server while the app
still waits, with the head snippet in it, through the real ``ConsentGate``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from starlette.responses import StreamingResponse

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import Recorder, receiver, scope

HEAD_SNIPPET = b'id="consentgate-state"'


def gate(first: bytes, media_type: str, release: anyio.Event) -> ConsentGate:
    async def chunks() -> AsyncIterator[bytes]:
        yield first
        await release.wait()
        yield b"<p>the slow part</p></body></html>"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        response = StreamingResponse(chunks())
        response.headers["content-type"] = media_type  # as given, charset or not
        await response(scope, receive, send)

    return ConsentGate(app, secret_keys=["k" * 32], policy=load_dict({}), audit=MemorySink())


async def first_piece(first: bytes, media_type: str) -> tuple[bytes, Recorder]:
    """What reached ``send`` while the app was still waiting, and the whole recording."""
    release = anyio.Event()
    middleware = gate(first, media_type, release)
    send = Recorder()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(middleware, scope("/", headers=[("accept", "text/html")]), receiver(), send)
        with anyio.move_on_after(1):
            while not send.body:
                await anyio.sleep(0.005)
        early = send.body
        release.set()
    return early, send


@pytest.mark.parametrize(
    ("first", "media_type"),
    [
        # Content-Type names the charset: no <meta charset> to look for, nothing to wait for.
        (b"<html><body><h1>first</h1>", "text/html; charset=utf-8"),
        # The usual start, <meta charset> among the first tags.
        (b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title>', "text/html"),
    ],
)
async def test_a_small_first_piece_goes_out_before_the_app_finishes(first: bytes, media_type: str) -> None:
    early, send = await first_piece(first, media_type)
    assert first[-10:] in early
    assert HEAD_SNIPPET in early
    assert send.finished and send.body.endswith(b"</html>")
    assert send.body.count(HEAD_SNIPPET) == 1 and b"data-consentgate-banner" in send.body


async def test_without_a_declared_charset_the_first_1024_bytes_are_awaited() -> None:
    # A <meta charset> may come later in them: the head snippet must not push it out of the
    # bytes a browser's charset prescan reads.
    early, send = await first_piece(b"<html><body><h1>first</h1>", "text/html")
    assert early == b""
    assert send.finished and HEAD_SNIPPET in send.body
