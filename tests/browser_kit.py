"""What the browser tests share: the Chromium they drive, local servers for it to visit, the demo
started as ``make demo`` starts it, and a few page helpers.

Chromium is launched with the self-test's own flags (``consentgate.selftest.crawler``), so the
tests drive the browser the way the product does. The ``browser`` fixture (tests/conftest.py)
launches one per test module; ``chromium_path`` there decides whether a missing Chromium skips
(outside CI) or fails (CI=true).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Route as PlaywrightRoute
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from consentgate.selftest.crawler import CHROMIUM_ARGS

SITE_HOST = "127.0.0.1"
# Violations the page itself sees, under any policy (the app's or consentgate's own).
WATCH_CSP = """window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(
    {blocked: e.blockedURI, directive: e.effectiveDirective, policy: e.originalPolicy,
     disposition: e.disposition}));"""


# -- the browser ----------------------------------------------------------------------------------
@contextmanager
def chromium(executable: str, *, back_forward_cache: bool = False) -> Iterator[Browser]:
    """A headless Chromium at ``executable`` (never a downloaded one), closed afterwards.
    Playwright turns the back/forward cache off unless told otherwise."""
    keep = {"ignore_default_args": ["--disable-back-forward-cache"]} if back_forward_cache else {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), **keep)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_tab(browser: Browser, *init_scripts: str, **context_options: Any) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookie jar), the context closed afterwards."""
    context = browser.new_context(**context_options)
    try:
        for script in init_scripts:
            context.add_init_script(script)
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
    finally:
        context.close()


@contextmanager
def error_free_tab(browser: Browser, *init_scripts: str, **context_options: Any) -> Iterator[Page]:
    """:func:`open_tab`, and afterwards: no uncaught error in the page's scripts."""
    with open_tab(browser, *init_scripts, **context_options) as tab:
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        yield tab
        assert errors == [], errors


def settle(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # anything that should not run has had time to run


def page_violations(page: Page) -> list[dict[str, str]]:
    """What ``WATCH_CSP`` saw on this page."""
    seen: list[dict[str, str]] = page.evaluate("() => window.__violations")
    return seen


def serious_violations(page: Page, context: str | None = None) -> list[str]:
    """axe's serious and critical findings on the page, or on the part ``context`` selects."""
    results = Axe().run(page, context=context)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# -- local servers --------------------------------------------------------------------------------
def free_port(host: str = SITE_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: ASGIApp, host: str = SITE_HOST, port: int = 0) -> Iterator[int]:
    """Run ``app`` with uvicorn in a thread on ``host``:``port`` (0: a free one); yields the port."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-server-{host}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server on {host}:{port} did not start")
            time.sleep(0.01)
        bound: int = server.servers[0].sockets[0].getsockname()[1]
        yield bound
    finally:
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)


@contextmanager
def serve_site(port: int, site: ASGIApp, others: Mapping[str, ASGIApp]) -> Iterator[str]:
    """``site`` on 127.0.0.1 and each of ``others`` on its own loopback address, all on ``port``:
    one origin each for the browser. Yields the site's base URL."""
    with ExitStack() as stack:
        for host, app in others.items():
            stack.enter_context(serve(app, host, port))
        stack.enter_context(serve(site, SITE_HOST, port))
        yield f"http://{SITE_HOST}:{port}"


@dataclass
class TrackerScripts:
    """Third-party script origins: ``/<name>.js`` answers ``scripts[name]`` on every address, and
    every request any of them receives is recorded in ``hits``, in order ("never loads" is checked
    on the server too). ``url(name)`` is the script on its own address, ``hosts[name]``."""

    port: int
    hosts: Mapping[str, str]
    scripts: Mapping[str, bytes]
    hits: list[str] = field(default_factory=list)

    async def script(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits.append(name)
        if name not in self.scripts:
            return Response(status_code=404)
        return Response(self.scripts[name], media_type="text/javascript")

    def apps(self) -> dict[str, ASGIApp]:
        """One app per tracker address, for ``serve_site``."""
        return {host: Starlette(routes=[Route("/{name}.js", self.script)]) for host in self.hosts.values()}

    def url(self, name: str) -> str:
        return f"http://{self.hosts[name]}:{self.port}/{name}.js"


# -- the demo -------------------------------------------------------------------------------------
DEMO_HOSTS = {"site": "127.0.0.1", "analytics": "127.0.0.2", "ads": "127.0.0.3", "video": "127.0.0.4"}


def consentgate_command() -> list[str]:
    """The installed ``consentgate`` command, or the module when the script is not there."""
    script = Path(sys.executable).with_name("consentgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "consentgate.cli"]


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    urls: dict[str, str]  # origin name ("site", "analytics", …) -> base URL
    workdir: Path
    output: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "var"  # where `make demo` keeps its data, next to where it runs

    def hits(self, origin: str) -> list[dict[str, Any]]:
        """What one of the demo's third-party origins has been asked for."""
        found: list[dict[str, Any]] = httpx.get(f"{self.urls[origin]}/hits", timeout=5).json()
        return found


@contextmanager
def run_demo(workdir: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[RunningDemo]:
    """``consentgate demo *args`` started the way ``make demo`` starts it (a subprocess, run from
    ``workdir``), every origin on a free port; stopped with Ctrl-C afterwards. The caller checks
    ``process.returncode`` when the way it stops matters."""
    ports = {name: free_port(host) for name, host in DEMO_HOSTS.items()}
    argv = [*consentgate_command(), "demo", *args]
    argv += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    urls = {name: f"http://{DEMO_HOSTS[name]}:{port}" for name, port in ports.items()}
    running = RunningDemo(process, urls, workdir)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(60) or process.poll() is not None:
            process.kill()
            pytest.fail("consentgate demo did not start:\n" + "\n".join(running.output))
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # the caller's returncode check fails on it
            process.wait()
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()


FAKE_SITE = "https://site.test/"


def third_party_requests(
    browser: Browser, page_bytes: bytes, *, click: str | None = None, wait_ms: int = 500
) -> list[str]:
    """Every URL off the fake site Chromium requests (or pings) for ``page_bytes`` served as
    ``FAKE_SITE``, the page loaded and optionally clicked. Each is answered with an empty 204
    here: nothing leaves the machine, and a script that was not neutralised shows up as a
    request, never as code that runs."""
    seen: list[str] = []

    def handle(route: PlaywrightRoute) -> None:
        url = route.request.url
        if url.startswith(FAKE_SITE):
            body = page_bytes if url == FAKE_SITE else b""
            route.fulfill(status=200, body=body, headers={"content-type": "text/html; charset=utf-8"})
            return
        seen.append(url)
        route.fulfill(status=204, body=b"")

    context = browser.new_context()
    try:
        context.route("**/*", handle)
        page = context.new_page()
        page.goto(FAKE_SITE, wait_until="load")
        if click is not None:
            page.click(click, no_wait_after=True)
        page.wait_for_timeout(wait_ms)  # late requests (pings, inserted scripts) are recorded, not timed
    finally:
        context.close()
    return seen
