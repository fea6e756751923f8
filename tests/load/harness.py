"""Load harness: the demo site as a uvicorn subprocess, a raw-socket HTTP/1.1 load generator
and the audit-log checks that every acknowledged consent was recorded exactly once.

The client speaks HTTP/1.1 over keep-alive connections with asyncio streams (no HTTP library
in the hot path: httpx would cost more CPU than the server it measures on a 2-core machine).
Each connection plays a sequence of visitors: a page view (which hands out the CSRF token), API
calls, consent choices by JSON and by form, with cookies carried between requests; after a few
requests the visitor leaves and a new one arrives. The mix is a fixed cycle, so two runs send
the same requests in the same proportions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[2]
SERVE = Path(__file__).resolve().parent / "serve.py"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
AUDIT_KEY = "consentgate-load-audit-key-0123456789abcdef"
SECRET = "consentgate-load-secret-key-0123456789abcdef"
CONSENT_PATH = "/_consentgate/consent"
PAGES = (
    "/",
    "/shop",
    "/articles/ridge-walks-for-short-days",
    "/articles/how-we-test-rain-shells",
    "/articles/stove-care-in-ten-minutes",
    "/articles/reading-a-map-without-the-app",
    "/gear-finder?activity=hiking&season=Winter",
    "/privacy",
)
APIS = ("/api/products", "/api/products?q=shell", "/api/products?q=lamp")
_STATE = re.compile(rb'<script type="application/json" id="consentgate-state"[^>]*>(.*?)</script>', re.S)

Kind = Literal["page", "api", "consent"]
# One cycle of the mix; every connection walks it from its own offset.
MIX_BROWSE: tuple[Kind, ...] = ("page",) * 7 + ("api",) * 3
MIX_CONSENT: tuple[Kind, ...] = ("page",) * 12 + ("api",) * 5 + ("consent",) * 3
MIX_CHOICES: tuple[Kind, ...] = ("page",) + ("consent",) * 3  # a flood of choices
REQUESTS_PER_VISITOR = 8


# --- the server subprocess ---------------------------------------------------------------------


@dataclass
class ServerOptions:
    mode: Literal["bare", "gated"] = "gated"
    audit: str = ""
    spool: Path | None = None
    batch_size: int = 500
    flush_interval: float = 0.2
    max_queue: int = 100_000
    store_delay: float = 0.0
    log: Path | None = None


class Server:
    """The demo site under uvicorn in a child process, on a socket bound here."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.port:
            sock.bind(("127.0.0.1", self.port))  # a restart keeps its address
        else:
            sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        sock.set_inheritable(True)
        self.sock = sock
        self.port = sock.getsockname()[1]
        o = self.options
        command = [
            sys.executable,
            str(SERVE),
            "--fd", str(sock.fileno()),
            "--port", str(self.port),
            "--mode", o.mode,
            "--audit", o.audit,
            "--audit-key", AUDIT_KEY,
            "--secret", SECRET,
            "--batch-size", str(o.batch_size),
            "--flush-interval", str(o.flush_interval),
            "--max-queue", str(o.max_queue),
            "--store-delay", str(o.store_delay),
        ]  # fmt: skip
        if o.spool is not None:
            command += ["--spool", str(o.spool)]
        log = open(o.log, "ab") if o.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                command, pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL, stderr=log, cwd=REPO
            )
        finally:
            if not isinstance(log, int):
                log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"load server exited with {self.process.returncode}: {self.log_text()}")
            with contextlib.suppress(OSError):
                status = _blocking_get(self.port, "/api/products")
                if status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"load server did not answer within {timeout}s: {self.log_text()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def log_text(self) -> str:
        path = self.options.log
        return path.read_text("utf-8", "replace")[-4000:] if path is not None and path.exists() else ""

    def _close_socket(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM: uvicorn shuts down, the lifespan flushes the audit writer. Returns 0 for a
        clean exit (uvicorn re-raises the signal it handled, so -SIGTERM is clean too)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._close_socket()
        return 0 if code == -signal.SIGTERM else code

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_socket()

    def stats(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(_blocking_get_body(self.port, "/__load/stats"))
        return data


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _blocking_get_body(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"GET {path}: {head[:40]!r}")
    return body


def _blocking_get(port: int, path: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        line = conn.recv(64)
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else 0


# --- a minimal HTTP/1.1 client ----------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class Connection:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Response:
        return await asyncio.wait_for(self._request(method, target, headers, body), self.timeout)

    async def _request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            return await self._read_response(method)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise

    async def _read_response(self, method: str) -> Response:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: list[tuple[str, str]] = []
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        lookup = dict(headers)
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in lookup:
            body = await self.reader.readexactly(int(lookup["content-length"]))
        elif lookup.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers from uvicorn
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await self.reader.read()
            await self.close()
        if lookup.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body)


# --- visitors and the mix ---------------------------------------------------------------------


@dataclass
class ClassStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # transport failures, timeouts, 5xx (except a 503 refusal) and wrong answers

    def merge(self, other: ClassStats) -> None:
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.errors += other.errors


@dataclass
class Tally:
    """What one phase saw; ``acknowledged`` lists the consent id of every 2xx/303 choice."""

    classes: dict[str, ClassStats] = field(
        default_factory=lambda: {k: ClassStats() for k in ("page", "api", "consent")}
    )
    acknowledged: list[str] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)  # time.monotonic() of each answer
    refused_503: int = 0
    uncertain: list[str] = field(default_factory=list)  # consent posts that got no answer at all
    mismatches: list[str] = field(default_factory=list)
    measured_seconds: float = 0.0

    def merge(self, other: Tally) -> None:
        for key, stats in other.classes.items():
            self.classes[key].merge(stats)
        self.acknowledged += other.acknowledged
        self.acknowledged_at += other.acknowledged_at
        self.refused_503 += other.refused_503
        self.uncertain += other.uncertain
        self.mismatches += other.mismatches


@dataclass
class Visitor:
    number: int
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    requests: int = 0

    def cookie_header(self) -> list[tuple[str, str]]:
        if not self.cookies:
            return []
        return [("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))]

    def absorb(self, response: Response) -> None:
        for line in response.header_list("set-cookie"):
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            name = name.strip()
            attrs = line.lower()
            if "max-age=0" in attrs or "expires=thu, 01 jan 1970" in attrs:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip()


# (action, categories granted by a "save"), in turn.
CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accept_all", ()),
    ("reject_all", ()),
    ("save", ("analytics",)),
    ("save", ("preferences", "marketing")),
    ("accept_all", ()),
    ("withdraw", ()),
)


class Worker:
    """One connection playing visitor after visitor through the mix."""

    def __init__(self, index: int, port: int, mix: Sequence[Kind], tally: Tally, gated: bool) -> None:
        self.index = index
        self.port = port
        self.mix = mix
        self.tally = tally
        self.gated = gated
        self.step = index * 7  # connections start at different points of the cycle
        self.connection = Connection(port)
        self.visitors = 0
        self.visitor = self._new_visitor()
        self.origin = f"http://127.0.0.1:{port}"

    def _new_visitor(self) -> Visitor:
        self.visitors += 1
        return Visitor(number=self.index * 1_000_000 + self.visitors)

    async def run(self, until: float, measure_from: float, stop: asyncio.Event | None = None) -> None:
        try:
            while time.monotonic() < until and not (stop is not None and stop.is_set()):
                kind = self.mix[self.step % len(self.mix)]
                self.step += 1
                if kind == "consent" and not self.visitor.csrf:
                    kind = "page"  # a visitor chooses after seeing a page (the token comes with it)
                await self._one(kind, measure=time.monotonic() >= measure_from)
                self.visitor.requests += 1
                if self.visitor.requests >= REQUESTS_PER_VISITOR:
                    self.visitor = self._new_visitor()
        finally:
            await self.connection.close()

    async def _one(self, kind: Kind, *, measure: bool) -> None:
        visitor = self.visitor
        stats = self.tally.classes[kind]
        started = time.perf_counter()
        expected_id = ""
        try:
            if kind == "page":
                path = PAGES[(visitor.number + visitor.requests) % len(PAGES)]
                headers = [("User-Agent", BROWSER_UA), ("Accept", "text/html"), *visitor.cookie_header()]
                response = await self.connection.request("GET", path, headers)
            elif kind == "api":
                path = APIS[(visitor.number + visitor.requests) % len(APIS)]
                headers = [
                    ("User-Agent", BROWSER_UA),
                    ("Accept", "application/json"),
                    *visitor.cookie_header(),
                ]
                response = await self.connection.request("GET", path, headers)
            else:
                expected_id = visitor.csrf.split(".", 1)[0]
                response = await self._choose(visitor)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            stats.errors += 1
            if measure:
                stats.statuses[0] += 1
            if kind == "consent":
                # Unknown outcome: the server may have recorded it. Listed apart, never counted.
                self.tally.uncertain.append(expected_id)
                self.tally.mismatches.append(f"transport failure on a consent post: {exc!r}")
            await self.connection.close()
            return
        elapsed = time.perf_counter() - started
        visitor.absorb(response)
        ok = self._judge(kind, response, expected_id)
        if measure:
            stats.latencies.append(elapsed)
            stats.statuses[response.status] += 1
            if not ok:
                stats.errors += 1

    def _judge(self, kind: Kind, response: Response, expected_id: str) -> bool:
        status = response.status
        if kind == "page":
            if status != 200:
                return False
            if self.gated:
                match = _STATE.search(response.body)
                if match is None:
                    self.tally.mismatches.append("a page without the consent state block")
                    return False
                self.visitor.csrf = json.loads(match.group(1))["csrf"]
            return True
        if kind == "api":
            return status == 200 and response.body.startswith(b'{"products"')
        if status == 503:
            self.tally.refused_503 += 1  # refused loudly: the visitor is asked to try again
            return True
        if status == 200:
            state = json.loads(response.body)["state"]
            if state["consentId"] != expected_id:
                self.tally.mismatches.append(f"consent id {state['consentId']} != token id {expected_id}")
                return False
            self._acknowledge(expected_id)
            return True
        if status == 303:
            self._acknowledge(expected_id)
            return True
        self.tally.mismatches.append(f"consent post answered {status}: {response.body[:200]!r}")
        return False

    def _acknowledge(self, consent_id: str) -> None:
        self.tally.acknowledged.append(consent_id)
        self.tally.acknowledged_at.append(time.monotonic())

    async def _choose(self, visitor: Visitor) -> Response:
        action, categories = CHOICES[(visitor.number + visitor.requests) % len(CHOICES)]
        headers = [
            ("User-Agent", BROWSER_UA),
            ("Origin", self.origin),
            ("Sec-Fetch-Site", "same-origin"),
            *visitor.cookie_header(),
        ]
        if visitor.requests % 3 == 2:  # every third choice is the no-JavaScript form
            fields: list[tuple[str, str]] = [
                ("action", action),
                ("csrf", visitor.csrf),
                ("ui", "banner.save"),
            ]
            fields += [("category", category) for category in categories]
            fields.append(("next", "/shop?from=banner"))
            body = urlencode(fields).encode()
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        else:
            payload: dict[str, object] = {"action": action, "csrf": visitor.csrf, "ui": "banner.accept"}
            if categories:
                payload["categories"] = list(categories)
            body = json.dumps(payload).encode()
            headers += [("Content-Type", "application/json"), ("Accept", "application/json")]
        return await self.connection.request("POST", CONSENT_PATH, headers, body)


async def drive(
    port: int,
    *,
    mix: Sequence[Kind],
    seconds: float,
    concurrency: int = 16,
    warmup: float = 1.0,
    gated: bool = True,
    stop: asyncio.Event | None = None,
) -> Tally:
    """Run ``concurrency`` connections through ``mix`` for ``warmup + seconds``; only the last
    ``seconds`` are measured, but every acknowledged choice is kept (the audit check needs all)."""
    start = time.monotonic()
    measure_from = start + warmup
    until = measure_from + seconds
    tallies = [Tally() for _ in range(concurrency)]
    workers = [Worker(i, port, mix, tallies[i], gated) for i in range(concurrency)]
    await asyncio.gather(*(worker.run(until, measure_from, stop) for worker in workers))
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    total.measured_seconds = max(1e-9, time.monotonic() - measure_from)
    return total


# --- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class PhaseFigures:
    name: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    rss_start_kb: int
    rss_end_kb: int
    per_class: dict[str, tuple[int, float, float]]  # kind -> (count, p50 ms, p99 ms)
    acknowledged: int = 0
    refused_503: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "rss_start_kb": self.rss_start_kb,
            "rss_end_kb": self.rss_end_kb,
            "per_class": {
                k: {"count": c, "p50_ms": round(a, 2), "p99_ms": round(b, 2)}
                for k, (c, a, b) in self.per_class.items()
            },
            "acknowledged_choices": self.acknowledged,
            "refused_503": self.refused_503,
        }


def figures(name: str, tally: Tally, rss_start: int, rss_end: int) -> PhaseFigures:
    latencies = [x for stats in tally.classes.values() for x in stats.latencies]
    per_class = {
        kind: (len(s.latencies), percentile(s.latencies, 0.5) * 1000, percentile(s.latencies, 0.99) * 1000)
        for kind, s in tally.classes.items()
        if s.latencies
    }
    return PhaseFigures(
        name=name,
        requests=len(latencies),
        seconds=tally.measured_seconds,
        errors=sum(s.errors for s in tally.classes.values()),
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        rss_start_kb=rss_start,
        rss_end_kb=rss_end,
        per_class=per_class,
        acknowledged=len(tally.acknowledged),
        refused_503=tally.refused_503,
    )


def format_figures(rows: Sequence[PhaseFigures]) -> str:
    out = [
        f"{'phase':<16} {'req/s':>8} {'requests':>9} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'RSS start':>10} {'RSS end':>10}"
    ]
    for row in rows:
        out.append(
            f"{row.name:<16} {row.rps:>8.1f} {row.requests:>9} {row.errors:>6} {row.p50_ms:>8.2f} "
            f"{row.p99_ms:>8.2f} {row.rss_start_kb / 1024:>8.1f}MB {row.rss_end_kb / 1024:>8.1f}MB"
        )
        for kind, (count, p50, p99) in row.per_class.items():
            out.append(f"  {kind:<14} {'':>8} {count:>9} {'':>6} {p50:>8.2f} {p99:>8.2f}")
    return "\n".join(out)


# --- the audit log afterwards -----------------------------------------------------------------


@dataclass
class AuditCheck:
    records: int
    by_consent: Counter[str]
    duplicate_event_ids: int
    duplicate_positions: int  # (chain_id, seq) stored twice
    chains: int


async def read_audit(url: str) -> AuditCheck:
    from consentgate.audit.stores import open_store
    from consentgate.audit.stores.base import Query

    store = open_store(url)
    await store.open()
    try:
        by_consent: Counter[str] = Counter()
        event_ids: Counter[str] = Counter()
        positions: Counter[tuple[str, int]] = Counter()
        async for record in store.read(Query()):
            by_consent[str(record["consent_id"])] += 1
            event_ids[str(record["event_id"])] += 1
            positions[(str(record["chain_id"]), int(str(record["seq"])))] += 1
        chains = len(await store.chain_heads())
    finally:
        await store.close()
    return AuditCheck(
        records=sum(by_consent.values()),
        by_consent=by_consent,
        duplicate_event_ids=sum(n - 1 for n in event_ids.values() if n > 1),
        duplicate_positions=sum(n - 1 for n in positions.values() if n > 1),
        chains=chains,
    )


def compare(acknowledged: Sequence[str], audit: AuditCheck) -> tuple[Counter[str], Counter[str]]:
    """(acknowledged but missing from the log, in the log but never acknowledged)."""
    expected = Counter(acknowledged)
    return expected - audit.by_consent, audit.by_consent - expected


def verify_cli(url: str) -> tuple[int, str]:
    """``consentgate audit verify`` as an operator runs it: exit code and output."""
    env = {**os.environ, "CONSENTGATE_AUDIT_KEY": AUDIT_KEY}
    command = [sys.executable, "-c", "import sys; from consentgate.cli import main; sys.exit(main())"]
    done = subprocess.run(
        [*command, "audit", "verify", "--store", url], env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path.resolve())


def sample_rss(
    pid: int, interval: float, into: list[tuple[float, int]], stop: Callable[[], bool]
) -> asyncio.Task[None]:
    async def loop() -> None:
        started = time.monotonic()
        while not stop():
            with contextlib.suppress(OSError):
                into.append((time.monotonic() - started, rss_kb(pid)))
            await asyncio.sleep(interval)

    return asyncio.create_task(loop())
