"""The load target: the demo site (examples/demo) under uvicorn, bare or behind ConsentGate.

Run by the load harness as a subprocess on a socket it bound itself (``--fd``), so the load
generator and the server never share a CPU-bound event loop and a port is never raced for::

    python tests/load/serve.py --fd 3 --mode gated --audit sqlite:////tmp/x/audit.db

The demo's third-party origins are not served: the load generator never follows their URLs.
Both modes get the same extra JSON route (``/api/products``), the "API call" of the load mix,
and ``/__load/stats`` (the audit writer's counters as JSON, for the fault tests; ``?objects=1``
adds live objects by type, to find what grows in a soak).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from consentgate.audit.stores import open_store
from consentgate.audit.stores.base import (
    ChainHead,
    Checkpoint,
    CookieRow,
    PurgePlan,
    PurgeRule,
    Query,
    Record,
    Row,
    Store,
    StoredNotice,
    StoreKind,
)
from consentgate.audit.writer import AuditWriter
from consentgate.demo import find_demo_dir, load_demo_package

REPO = Path(__file__).resolve().parents[2]


class SlowStore:
    """A fault injector: the real store, with every write delayed by ``delay`` seconds."""

    def __init__(self, inner: Store, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.kind: StoreKind = inner.kind
        self.url = inner.url
        self.parallel_writes = inner.parallel_writes
        self.path = getattr(inner, "path", None)  # the writer puts its default spool beside it

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def migrate(self) -> list[str]:
        return await self.inner.migrate()

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        await asyncio.sleep(self.delay)
        return await self.inner.write(rows, replay=replay)

    def read(self, query: Query) -> AsyncGenerator[Record, None]:
        return self.inner.read(query)

    def read_chain(self, chain_id: str, after_seq: int = 0) -> AsyncGenerator[Record, None]:
        return self.inner.read_chain(chain_id, after_seq)

    async def chain_heads(self) -> list[ChainHead]:
        return await self.inner.chain_heads()

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        return await self.inner.put_notice(notice_hash, doc, first_seen)

    async def get_notice(self, notice_hash: str) -> StoredNotice | None:
        return await self.inner.get_notice(notice_hash)

    async def record_cookies(self, rows: Sequence[CookieRow]) -> None:
        await self.inner.record_cookies(rows)

    async def list_cookies(self) -> list[CookieRow]:
        return await self.inner.list_cookies()

    async def checkpoints(self) -> dict[str, Checkpoint]:
        return await self.inner.checkpoints()

    async def plan_purge(self, rule: PurgeRule) -> list[PurgePlan]:
        return await self.inner.plan_purge(rule)

    async def purge(self, checkpoint: Checkpoint) -> int:
        return await self.inner.purge(checkpoint)


def _products_route(products: Sequence[object]) -> Route:
    catalogue = [
        {"sku": getattr(p, "sku", ""), "name": getattr(p, "name", ""), "price": getattr(p, "price_eur", 0)}
        for p in products
    ]

    async def products_api(request: Request) -> Response:
        query = request.query_params.get("q", "").lower()
        found = [item for item in catalogue if query in str(item["name"]).lower()]
        return JSONResponse({"products": found, "count": len(found)})

    return Route("/api/products", products_api)


def _stats_route(writer: AuditWriter | None) -> Route:
    async def stats(request: Request) -> Response:
        data: dict[str, object] = writer.stats.to_dict() if writer is not None else {}
        if request.query_params.get("objects"):
            # Live objects by type, to find what grows in a soak.
            import collections
            import gc

            gc.collect()
            data["objects"] = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        return JSONResponse(data)

    return Route("/__load/stats", stats)


def build_app(args: argparse.Namespace) -> ASGIApp:
    demo_dir = find_demo_dir(REPO / "examples" / "demo")
    if demo_dir is None:
        raise SystemExit("examples/demo not found")
    demo = load_demo_package(demo_dir)
    policy = demo.load_policy()
    origins = demo.Origins(site=f"http://127.0.0.1:{args.port}")
    writer: AuditWriter | None = None
    if args.mode == "gated":
        store: Store = open_store(args.audit)
        if args.store_delay > 0:
            store = SlowStore(store, args.store_delay)
        writer = AuditWriter(
            store,
            key=args.audit_key,
            spool_path=args.spool,
            batch_size=args.batch_size,
            flush_interval=args.flush_interval,
            max_queue=args.max_queue,
            retry_initial=0.2,
            retry_max=1.0,
        )
        site = demo.create_site(origins, secret_keys=[args.secret], audit=writer, policy=policy)
        extra: list[BaseRoute] = [_products_route(demo.content.PRODUCTS), _stats_route(writer)]
        site.router.routes.extend(extra)
        return site  # type: ignore[no-any-return]
    # The same routes without the middleware: what the site costs on its own.
    gated = demo.create_site(origins, secret_keys=[args.secret], audit=None, policy=policy)
    routes = [*gated.routes, _products_route(demo.content.PRODUCTS), _stats_route(None)]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=args.secret,
                session_cookie="ridgeline_session",
                max_age=None,
                same_site="lax",
            )
        ],
        exception_handlers={404: gated.state.pages.not_found},
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="a listening socket's file descriptor")
    parser.add_argument("--port", type=int, required=True, help="the port that socket listens on")
    parser.add_argument("--mode", choices=["bare", "gated"], default="gated")
    parser.add_argument("--audit", default="", help="audit store URL (gated mode)")
    parser.add_argument("--spool", default=None, help="audit spool directory")
    parser.add_argument("--audit-key", default="consentgate-load-audit-key-0123456789abcdef")
    parser.add_argument("--secret", default="consentgate-load-secret-key-0123456789abcdef")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--flush-interval", type=float, default=0.2)
    parser.add_argument("--max-queue", type=int, default=100_000)
    parser.add_argument("--store-delay", type=float, default=0.0, help="seconds added to every write")
    args = parser.parse_args(argv)
    app = build_app(args)
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, server_header=False, timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    print(json.dumps({"ready": True, "port": args.port}), flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
