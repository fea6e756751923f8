"""Per-request overhead of ConsentGate beside Starlette's SessionMiddleware and GZipMiddleware.

Everything runs in one process: each stack is called directly as an ASGI app with a fake
``receive`` and a ``send`` that drops messages, many times, and the bare app in the same run is
the baseline. What a middleware *adds* is its time minus the bare app's; the targets compare
those additions:

- JSON response: ConsentGate adds at most 1/4 of what SessionMiddleware adds;
- 100 KB tracker-rich HTML page: rewriting adds at most 1/4 of what GZipMiddleware adds;
- 9 KB page: no more than GZipMiddleware adds.

Run: ``python bench/overhead.py [--rounds 7] [--json out.json] [--page some.html]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, JSONResponse

from consentgate.audit.events import MemorySink
from consentgate.consent.state import Consent
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
KEY = "bench-secret-key-0123456789abcdef"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

TRACKERS = [
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>',
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','G-ABC123');</script>",
    "<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){};t=b.createElement(e);"
    "t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script',"
    "'https://connect.facebook.net/en_US/fbevents.js');fbq('init','123');fbq('track','PageView');</script>",
    '<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=123&ev=PageView&noscript=1"></noscript>',
    '<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ"></iframe>',
    '<script src="https://static.hotjar.com/c/hotjar-1.js?sv=6"></script>',
    '<img src="https://px.ads.linkedin.com/collect/?pid=1&fmt=gif" width="1" height="1" alt="">',
    '<link rel="preconnect" href="https://www.google-analytics.com">',
    '<script src="/static/app.js" defer></script>',
]
ARTICLE = (
    '<article class="story"><h2><a href="/news/{n}">Headline number {n} about something</a></h2>'
    '<p class="lede">A paragraph of ordinary text that a news page repeats many times, with a '
    '<a href="/tag/{n}">link</a>, <em>emphasis</em> and an image <img src="/img/{n}.jpg" alt="photo {n}" '
    'loading="lazy"> to keep the tokenizer honest.</p></article>\n'
)


def make_page(size: int) -> bytes:
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bench page</title>'
        '<link rel="stylesheet" href="/static/site.css">' + "".join(TRACKERS[:4]) + "</head><body>"
    )
    parts = [head]
    n = 0
    while sum(map(len, parts)) < size - 2000:
        parts.append(ARTICLE.format(n=n))
        if n % 25 == 10:
            parts.append(TRACKERS[4 + (n // 25) % (len(TRACKERS) - 4)])
        n += 1
    parts.append("".join(TRACKERS[4:]) + "<footer>footer</footer></body></html>")
    return "".join(parts).encode()


def bare_apps(page: bytes) -> dict[str, App]:
    async def json_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await JSONResponse({"id": 123, "items": [1, 2, 3], "ok": True})(scope, receive, send)

    async def html_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await HTMLResponse(page)(scope, receive, send)

    return {"json": json_app, "html": html_app}


def request(kind: str, cookie: str) -> dict[str, Any]:
    accept = b"application/json" if kind == "json" else b"text/html,application/xhtml+xml,*/*;q=0.8"
    headers = [
        (b"host", b"www.example.com"),
        (b"user-agent", CHROME.encode()),
        (b"accept", accept),
        (b"accept-encoding", b"gzip, deflate, br, zstd"),
        (b"accept-language", b"en-GB,en;q=0.9,de;q=0.8"),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/api/items" if kind == "json" else "/news/today",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("203.0.113.7", 50000),
        "server": ("www.example.com", 443),
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def drop(message: dict[str, Any]) -> None:
    return None


async def per_request(app: App, scope: dict[str, Any], iterations: int) -> float:
    for _ in range(min(50, iterations)):  # warm caches (cookie LRU, UA LRU, compiled tables)
        await app(scope, receive, drop)
    start = time.perf_counter()
    for _ in range(iterations):
        await app(scope, receive, drop)
    return (time.perf_counter() - start) / iterations


async def measure(
    rounds: int, page_100k: bytes, page_9k: bytes, *, only: str | None = None
) -> dict[str, dict[str, float]]:
    policy = load_dict({})
    results: dict[str, dict[str, float]] = {}
    cases = [("json", None, 20000), ("html 100 KB", page_100k, 100), ("html 9 KB", page_9k, 1000)]
    for case, page, iterations in cases:
        if only is not None and not case.startswith(only):
            continue
        apps = bare_apps(page or b"")
        bare = apps["json" if page is None else "html"]
        gate = ConsentGate(bare, secret_keys=[KEY], policy=policy, audit=MemorySink())
        consent = Consent.none(policy.service_categories).with_choice({"preferences"}, source="banner")
        session = SessionMiddleware(bare, secret_key=KEY)
        # A returning visitor: a session cookie and a consent cookie that grants preferences only.
        session_value = _session_cookie(session)
        cookie = f"session={session_value}; __Host-consentgate={gate.cookie.dumps(consent)}; theme=dark"
        stacks: dict[str, App] = {
            "bare": bare,
            "ConsentGate": gate,
            "SessionMiddleware": session,
            "GZipMiddleware": GZipMiddleware(bare),
        }
        for visitor, header in (("returning", cookie), ("first visit", "")):
            scope = request("json" if page is None else "html", header)
            samples: dict[str, list[float]] = {name: [] for name in stacks}
            for _ in range(rounds):
                for name, stack in stacks.items():
                    samples[name].append(await per_request(stack, scope, iterations))
            # The fastest round is the least disturbed by other processes on the machine.
            results[f"{case}, {visitor}"] = {name: min(values) for name, values in samples.items()}
    return results


def _session_cookie(session: SessionMiddleware) -> str:
    from base64 import b64encode

    data = b64encode(json.dumps({"user": 42, "cart": [1, 2, 3]}).encode())
    return session.signer.sign(data).decode()


def report(results: dict[str, dict[str, float]]) -> tuple[str, bool]:
    lines = [
        f"{'case':<28} {'bare µs':>9} {'+ConsentGate':>13} {'+Session':>10} {'+GZip':>10}  ratio   target",
    ]
    ok = True
    for case, times in results.items():
        bare = times["bare"]
        added = {name: (value - bare) * 1e6 for name, value in times.items() if name != "bare"}
        if case.startswith("json"):
            reference, limit, versus = added["SessionMiddleware"], 0.25, "Session"
        elif "100 KB" in case:
            reference, limit, versus = added["GZipMiddleware"], 0.25, "GZip"
        else:
            reference, limit, versus = added["GZipMiddleware"], 1.0, "GZip"
        ratio = added["ConsentGate"] / reference if reference > 0 else float("inf")
        passed = ratio <= limit
        ok = ok and passed
        verdict = "ok" if passed else "MISSED"
        lines.append(
            f"{case:<28} {bare * 1e6:9.1f} {added['ConsentGate']:13.1f} {added['SessionMiddleware']:10.1f} "
            f"{added['GZipMiddleware']:10.1f}  {ratio:5.2f}   <= {limit:g} x {versus} {verdict}"
        )
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the raw figures (seconds per request) here")
    parser.add_argument("--only", choices=["json", "html"], help="run one kind of response only")
    parser.add_argument("--page", help="an HTML file to use as the large page instead of the generated one")
    args = parser.parse_args(argv)
    page_100k = open(args.page, "rb").read() if args.page else make_page(100_000)  # noqa: SIM115
    results = asyncio.run(measure(args.rounds, page_100k, make_page(9_000), only=args.only))
    text, ok = report(results)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
