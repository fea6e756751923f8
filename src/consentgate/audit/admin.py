"""The audit log over HTTP, for the people allowed to read it (CG-44), and the visitor's receipt.

``admin_app(store, auth=...)`` is a Starlette app to mount behind your own admin area; every
request must pass ``auth`` (a bearer token, or a callable that inspects the request), otherwise
401. Responses are ``Cache-Control: no-store``; a bad parameter is a 400, a store that is down a
503 — never a 500.

    GET /events?since=&until=&consent_id=&action=&limit=   newest first, JSON
    GET /export?format=csv|jsonl|json&since=&…             streamed download
    GET /export?format=csv&bundle=zip&…                     export, manifest, notices, signature: a zip
    GET /verify                                             chain verification (cached briefly)
    GET /heads                                              chain heads, to publish elsewhere
    GET /stats?since=&until=                                consent rates per day and region
    GET /cookies                                            the cookie inventory
    GET /notices/{hash}                                     one archived notice version

References: GDPR art. 5(1)(b), 7(1), 15; CCPA regs §7101(d).
"""

from __future__ import annotations

import contextlib
import hmac
import inspect
import shutil
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from consentgate.audit.chain import VerifyReport, load_key, verify
from consentgate.audit.export import (
    FORMATS,
    MEDIA_TYPES,
    Format,
    consent_stats,
    export_chunks,
    export_file,
    export_paths,
    export_record,
    parse_when,
)
from consentgate.audit.stores import open_store
from consentgate.audit.stores.base import Query, Store

Auth = str | Callable[[Request], bool | Awaitable[bool]]
MAX_EVENTS = 1000
MAX_RECEIPT = 1000
_NO_STORE = {"Cache-Control": "no-store"}


class _BadRequest(ValueError):
    pass


async def receipt(store: Store, consent_id: str) -> list[dict[str, object]]:
    """The events recorded under one consent id, oldest first — what a visitor may see of
    their own record (GDPR art. 15) without an admin credential."""
    if not consent_id:
        return []
    await store.open()
    query = Query(consent_id=consent_id, limit=MAX_RECEIPT)
    async with contextlib.aclosing(store.read(query)) as records:
        return [export_record(record) async for record in records]


def _query(request: Request, *, default_limit: int | None = None) -> Query:
    params = request.query_params
    try:
        since = parse_when(params["since"]) if params.get("since") else None
        until = parse_when(params["until"]) if params.get("until") else None
    except ValueError as exc:
        raise _BadRequest(str(exc)) from None
    limit = default_limit
    if params.get("limit"):
        text = params["limit"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_EVENTS:
            raise _BadRequest(f"limit must be a number from 1 to {MAX_EVENTS}")
        limit = int(text)
    actions = tuple(a for value in params.getlist("action") for a in value.split(",") if a)
    return Query(
        since=since,
        until=until,
        # (white space around an id is a copy-and-paste artefact: ids are URL-safe tokens)
        consent_id=params.get("consent_id", "").strip() or None,
        actions=actions,
        limit=limit,
        newest_first=default_limit is not None,
    )


class _Admin:
    """Per-app state: the store (opened on first use) and a short-lived verification cache."""

    def __init__(self, store: Store, auth: Auth, key: bytes | None, verify_ttl: float) -> None:
        if isinstance(auth, str) and len(auth) < 16:
            raise ValueError("auth token must be at least 16 characters")
        self.store = store
        self.auth = auth
        self.key = key
        self.verify_ttl = verify_ttl
        self._verified: tuple[float, VerifyReport] | None = None

    async def allowed(self, request: Request) -> bool:
        if isinstance(self.auth, str):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                token.strip().encode(), self.auth.encode()
            )
        result = self.auth(request)
        if inspect.isawaitable(result):
            result = await result
        return result is True

    def guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not await self.allowed(request):
                return JSONResponse(
                    {"error": "authentication required"},
                    status_code=401,
                    headers={**_NO_STORE, "WWW-Authenticate": 'Bearer realm="consentgate-audit"'},
                )
            try:
                await self.store.open()
                response = await handler(request)
            except _BadRequest as exc:
                return JSONResponse({"error": str(exc)}, status_code=400, headers=_NO_STORE)
            except Exception as exc:  # the store is down or broken: say so, do not crash
                return JSONResponse(
                    {"error": f"audit store unavailable: {type(exc).__name__}"},
                    status_code=503,
                    headers=_NO_STORE,
                )
            response.headers.update(_NO_STORE)
            return response

        return endpoint

    async def events(self, request: Request) -> Response:
        query = _query(request, default_limit=100)
        async with contextlib.aclosing(self.store.read(query)) as records:
            events = [export_record(record) async for record in records]
        return JSONResponse({"events": events, "count": len(events)})

    async def export(self, request: Request) -> Response:
        fmt = request.query_params.get("format", "csv")
        if fmt not in FORMATS:
            raise _BadRequest(f"format must be one of {', '.join(FORMATS)}")
        query = _query(request)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"consent-audit-{stamp}.{fmt}"
        if request.query_params.get("bundle") == "zip":
            return await self._zip(fmt, query, name)
        # &bom=1: a CSV for a spreadsheet (Excel needs the mark to read UTF-8); the zip's file has it.
        bom = request.query_params.get("bom") in ("1", "true")
        return StreamingResponse(
            export_chunks(self.store, query, fmt, bom=bom),
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def _zip(self, fmt: Format, query: Query, name: str) -> Response:
        # Built on disk, not in memory: an export may be large.
        folder = Path(tempfile.mkdtemp(prefix="consentgate-export-"))
        try:
            # Signed with the audit key: the bundle is checkable with the key alone (verify-export).
            await export_file(self.store, folder / name, fmt, query, key=self.key)
            bundle = folder / f"{name}.zip"
            with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in export_paths(folder / name):
                    if part.exists():  # (no signature without a key)
                        archive.write(part, part.name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def chunks() -> Iterator[bytes]:
            try:
                with open(bundle, "rb") as handle:
                    while chunk := handle.read(64 * 1024):
                        yield chunk
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        return StreamingResponse(
            chunks(),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
        )

    async def verify(self, request: Request) -> Response:
        now = time.monotonic()
        if self._verified is None or now - self._verified[0] > self.verify_ttl:
            self._verified = (now, await verify(self.store, self.key))
        report = self._verified[1]
        return JSONResponse({**report.to_dict(), "checked_seconds_ago": round(now - self._verified[0], 1)})

    async def heads(self, request: Request) -> Response:
        heads = await self.store.chain_heads()
        return JSONResponse({"chain_heads": [head.to_dict() for head in heads]})

    async def stats(self, request: Request) -> Response:
        rows = await consent_stats(self.store, _query(request))
        return JSONResponse({"days": [row.to_dict() for row in rows]})

    async def cookies(self, request: Request) -> Response:
        return JSONResponse({"cookies": [row.to_dict() for row in await self.store.list_cookies()]})

    async def notice(self, request: Request) -> Response:
        notice_hash = str(request.path_params["notice_hash"])
        stored = await self.store.get_notice(notice_hash)
        if stored is None:
            return JSONResponse({"error": "no notice with this hash"}, status_code=404)
        return JSONResponse({"notice_hash": notice_hash, "first_seen": stored.first_seen, "doc": stored.doc})


def admin_app(
    store: Store | str, *, auth: Auth, key: bytes | None = None, verify_ttl: float = 60.0
) -> Starlette:
    """A mountable Starlette app serving the audit log to authenticated admins.

    >>> app.mount("/admin/audit", admin_app("sqlite:///var/consent.db", auth=token))  # doctest: +SKIP
    """
    # Read as the writer reads it (white space around it ignored), or a sound log fails /verify.
    admin = _Admin(
        open_store(store) if isinstance(store, str) else store, auth, load_key(key, name="key"), verify_ttl
    )
    routes = [
        Route("/events", admin.guarded(admin.events)),
        Route("/export", admin.guarded(admin.export)),
        Route("/verify", admin.guarded(admin.verify)),
        Route("/heads", admin.guarded(admin.heads)),
        Route("/stats", admin.guarded(admin.stats)),
        Route("/cookies", admin.guarded(admin.cookies)),
        Route("/notices/{notice_hash}", admin.guarded(admin.notice)),
    ]
    return Starlette(routes=routes)
