"""The request body of consentgate's own POST endpoints, read within a size limit.

Both writing endpoints (a consent choice, a CSP violation report) refuse before they buffer: a
declared ``Content-Length`` over the limit is refused unread, and a body without one is counted
as it arrives, so an endless upload costs at most ``limit`` bytes.

References: RFC 9110 section 15.5.14 (413 Content Too Large).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consentgate.http.request import Request
    from consentgate.http.types import Receive

__all__ = ["Refused", "read_body"]


class Refused(Exception):
    """A request an own endpoint answers with ``status`` and ``reason`` (plus ``headers``) and
    otherwise ignores: a refused request changes nothing."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


async def read_body(request: Request, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when the client went away first; ``Refused`` (413) over ``limit``."""
    declared = request.header(b"content-length").strip()
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
