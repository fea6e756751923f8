"""``consentgate demo``: the example site and its three third parties, on loopback addresses.

The site (``examples/demo``, found from the current directory or the source checkout) runs on
127.0.0.1; its analytics, ads and video origins on 127.0.0.2, .3 and .4, so the browser treats
them as separate sites, as it would real third parties. All four servers share one process and
one event loop; Ctrl-C (SIGINT) or SIGTERM stops them and flushes the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from consentgate.http.types import Sink

# The third parties' hosts are fixed: examples/demo/consentgate.toml declares them.
ANALYTICS_HOST = "127.0.0.2"
ADS_HOST = "127.0.0.3"
VIDEO_HOST = "127.0.0.4"
SECRET_ENV = "CONSENTGATE_SECRET_KEY"
AUDIT_KEY_ENV = "CONSENTGATE_AUDIT_KEY"
ADMIN_PASSWORD_ENV = "CONSENTGATE_ADMIN_PASSWORD"
_PACKAGE_NAME = "consentgate_demo_site"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo site with its own analytics, ads and video origins",
        description="Run Ridgeline, the demo site, behind ConsentGate, plus three local 'third "
        "parties' (analytics, ads, video) on 127.0.0.2-4. Stop with Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of the site (default %(default)s)")
    for name, default, host in (
        ("site", 8000, "--host"),
        ("analytics", 8001, ANALYTICS_HOST),
        ("ads", 8002, ADS_HOST),
        ("video", 8003, VIDEO_HOST),
    ):
        env = f"CONSENTGATE_DEMO_{name.upper()}_PORT"
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=_env_port(env, default),
            metavar="PORT",
            help=f"port of the {name} origin on {host} (default: ${env}, else {default})",
        )
    for option, env, what, otherwise in (
        (
            "--secret-key",
            SECRET_ENV,
            "key that signs consent cookies, at least 32 characters",
            "one is generated and kept in DATA_DIR/secret.key",
        ),
        (
            "--audit-key",
            AUDIT_KEY_ENV,
            "key of the audit log's HMAC chain, at least 32 characters",
            "one is generated and kept in DATA_DIR/audit.key",
        ),
        (
            "--admin-password",
            ADMIN_PASSWORD_ENV,
            "password of user 'admin' for /admin/consent",
            "a new one is printed at every start",
        ),
    ):
        parser.add_argument(
            option, default=os.environ.get(env), help=f"{what} (default: ${env}, else {otherwise})"
        )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="where the audit log (consent.db) and generated keys live (default %(default)s)",
    )
    parser.add_argument("--audit", help="audit store URL (default: SQLite in DATA_DIR/consent.db)")
    parser.add_argument("--demo-dir", type=Path, help="the demo site's folder (default: examples/demo)")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level; 'info' shows every request (default %(default)s)",
    )
    parser.set_defaults(func=run)


def _env_port(env: str, default: int) -> int:
    value = os.environ.get(env, "")
    return int(value) if value.isdigit() else default


# -- locating and loading the demo site -------------------------------------------------------


def find_demo_dir(explicit: Path | None = None) -> Path | None:
    """``explicit``, else ``./examples/demo``, else the one next to this source checkout."""
    if explicit is not None:
        return explicit if (explicit / "__init__.py").is_file() else None
    candidates = (Path.cwd() / "examples" / "demo", Path(__file__).resolve().parents[2] / "examples" / "demo")
    return next((c for c in candidates if (c / "__init__.py").is_file()), None)


def load_demo_package(directory: Path) -> ModuleType:
    """Import ``examples/demo`` as a package (it is not installed with consentgate)."""
    directory = directory.resolve()
    loaded = sys.modules.get(_PACKAGE_NAME)
    if loaded is not None and Path(str(loaded.__file__)).parent == directory:
        return loaded
    spec = importlib.util.spec_from_file_location(
        _PACKAGE_NAME, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the demo site from {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_PACKAGE_NAME]
        raise
    return module


# -- keys ---------------------------------------------------------------------------------------


def resolve_key(given: str | None, path: Path, *, option: str, env: str) -> tuple[str, str]:
    """A key and a sentence saying where it came from.

    ``given`` (from ``option`` or ``$env``) wins; else the key saved in ``path``; else a new one
    is generated and saved there (owner-only), so consent choices and the audit chain stay
    valid when the demo restarts.
    """
    if given:
        if len(given) < 32:
            raise ValueError(f"{option}: must be at least 32 characters")
        return given, f"given ({option} or ${env})"
    if path.is_file():
        stored = path.read_text(encoding="utf-8").strip()
        if len(stored) >= 32:
            return stored, f"read from {path}"
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key, f"none given ({option} or ${env}): generated one and saved it in {path}"


# -- servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    label: str
    app: ASGIApp
    host: str
    port: int
    lifespan: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _bind(endpoint: Endpoint) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((endpoint.host, endpoint.port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def bind_all(endpoints: Sequence[Endpoint]) -> list[socket.socket]:
    """Bind every listening socket first, so a busy port fails before anything starts."""
    sockets: list[socket.socket] = []
    try:
        for endpoint in endpoints:
            try:
                sockets.append(_bind(endpoint))
            except OSError as exc:
                hint = ""
                if endpoint.host.startswith("127.") and endpoint.host != "127.0.0.1":
                    hint = f" (on macOS, add the address first: sudo ifconfig lo0 alias {endpoint.host} up)"
                raise OSError(
                    f"cannot listen on {endpoint.url} for the {endpoint.label}: {exc.strerror}{hint}"
                ) from exc
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def serve_all(
    endpoints: Sequence[Endpoint],
    sockets: Sequence[socket.socket],
    log_level: str,
    on_ready: Callable[[], None],
) -> int:
    import uvicorn

    class _Server(uvicorn.Server):
        # One signal handler for all servers (installed below); uvicorn's own would only stop
        # the server that installed it last.
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    servers = [
        _Server(
            uvicorn.Config(
                endpoint.app,
                host=endpoint.host,
                port=endpoint.port,
                lifespan="on" if endpoint.lifespan else "off",
                log_level=log_level,
                access_log=log_level in {"info", "debug"},
                server_header=False,
            )
        )
        for endpoint in endpoints
    ]

    def stop() -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True  # a second Ctrl-C: stop waiting for open connections
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)

    async def serve(server: _Server, sock: socket.socket) -> bool:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits this way when the app's startup fails; it logged why
            return False
        return True

    tasks = [asyncio.create_task(serve(server, sock)) for server, sock in zip(servers, sockets, strict=True)]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                stop()
                break
            await asyncio.sleep(0.02)
        else:
            on_ready()
        results = await asyncio.gather(*tasks)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0 if all(results) else 1


# -- the command ----------------------------------------------------------------------------------

_BUILTIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>consentgate demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-DEMO"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}
gtag('js',new Date());gtag('config','G-DEMO');</script>
<style>body{font:17px/1.6 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style>
</head><body>
<h1>consentgate is running</h1>
<p>The example site (<code>examples/demo</code>) was not found, so this is the minimal built-in
page. It loads Google Analytics the usual way; consentgate keeps it inert until you accept
analytics. View the page source to see the neutralised tags.</p>
<p><a href="/_consentgate/preferences">Cookie settings</a></p>
</body></html>
"""


def builtin_site(secret_keys: list[str], audit: Sink | None) -> ASGIApp:
    """One page through the middleware, with the default policy (the tracker catalog)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from consentgate.http.middleware import ConsentGate

    async def page(request: Request) -> Response:
        return HTMLResponse(_BUILTIN_PAGE)

    return ConsentGate(Starlette(routes=[Route("/", page)]), secret_keys=secret_keys, audit=audit)


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path.resolve())


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in {"", "0.0.0.0"} else f"[{host}]" if ":" in host else host


def run(args: argparse.Namespace) -> int:
    def fail(message: str, code: int = 2) -> int:
        print(f"consentgate demo: {message}", file=sys.stderr)
        return code

    data_dir: Path = args.data_dir
    try:
        secret, secret_note = resolve_key(
            args.secret_key, data_dir / "secret.key", option="--secret-key", env=SECRET_ENV
        )
        audit_key, audit_key_note = resolve_key(
            args.audit_key, data_dir / "audit.key", option="--audit-key", env=AUDIT_KEY_ENV
        )
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    if args.admin_password is not None and len(args.admin_password) < 12:
        return fail("--admin-password: use at least 12 characters")
    password: str = args.admin_password or secrets.token_urlsafe(12)
    demo_dir = find_demo_dir(args.demo_dir)
    if args.demo_dir is not None and demo_dir is None:
        return fail(f"--demo-dir: no demo site (__init__.py) in {args.demo_dir}")

    from consentgate.audit.stores import StoreError, open_store
    from consentgate.audit.writer import AuditWriter

    audit_url: str = args.audit or sqlite_url(data_dir / "consent.db")
    try:
        store = open_store(audit_url)
    except StoreError as exc:
        return fail(f"--audit: {exc}")
    # One store object for the writer and the dashboard; the writer opens it at start-up.
    writer = AuditWriter(store, key=audit_key)
    site_url = f"http://{_display_host(args.host)}:{args.site_port}"
    summary: list[tuple[str, str]] = [("site", site_url + "/")]
    if demo_dir is None:
        endpoints = [
            Endpoint("site", builtin_site([secret], writer), args.host, args.site_port, lifespan=True)
        ]
        summary.append(("note", "examples/demo not found: serving a minimal built-in page"))
    else:
        demo = load_demo_package(demo_dir)
        policy = demo.load_policy()
        origins = demo.Origins(
            site=site_url,
            analytics=f"http://{ANALYTICS_HOST}:{args.analytics_port}",
            ads=f"http://{ADS_HOST}:{args.ads_port}",
            video=f"http://{VIDEO_HOST}:{args.video_port}",
        )
        admin = demo.create_admin(store, password=password, key=audit_key.encode(), policy=policy)
        create_site = cast("Callable[..., ASGIApp]", demo.create_site)
        site = create_site(origins, secret_keys=[secret], audit=writer, policy=policy, admin=admin)
        endpoints = [
            Endpoint("site", site, args.host, args.site_port, lifespan=True),
            Endpoint(
                "analytics", cast("ASGIApp", demo.create_analytics_app()), ANALYTICS_HOST, args.analytics_port
            ),
            Endpoint("ads", cast("ASGIApp", demo.create_ads_app()), ADS_HOST, args.ads_port),
            Endpoint("video", cast("ASGIApp", demo.create_video_app()), VIDEO_HOST, args.video_port),
        ]
        summary += [
            ("admin", f"{site_url}{demo.ADMIN_PATH}/  (user admin, password {password})"),
            ("analytics", f"{endpoints[1].url}/  Trailstats Analytics, a third party"),
            ("ads", f"{endpoints[2].url}/  Pinecone Ads, a third party"),
            ("video", f"{endpoints[3].url}/  Trailcast Video, a third party"),
            ("policy", str(demo.POLICY_PATH)),
        ]
    summary += [("audit log", audit_url), ("secret key", secret_note), ("audit key", audit_key_note)]
    try:
        sockets = bind_all(endpoints)
    except OSError as exc:
        return fail(str(exc), 1)

    def on_ready() -> None:
        lines = ["consentgate demo is running"]
        lines += [f"  {label:<11} {value}" for label, value in summary]
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)

    try:
        code = asyncio.run(serve_all(endpoints, sockets, args.log_level, on_ready))
    finally:
        for sock in sockets:
            sock.close()
    print("consentgate demo stopped", flush=True)
    return code
