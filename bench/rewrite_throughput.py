"""Throughput of the HTML rewriter alone (no ASGI), beside html.parser and a plain `re` scan.

    python bench/rewrite_throughput.py [--shared ../shared] [--repeat 5]

Pages are built from the corpus (../shared/corpora/html/pages) when it is there, else
synthesised: "tracker-dense" from the pages with the most tracker elements per KB,
"ordinary" from the pages with the fewest (controls first). Each page is rewritten with no
consent (every tracker neutralised), fed in 64 KiB chunks. Peak memory (tracemalloc) is taken
while streaming a 100 MB page in 4 KiB chunks. The lead merges these figures into
bench/rewrite.py and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict

HEAD = b'<script src="/_consentgate/static/runtime.js" defer></script>'
BODY = b'<div id="consentgate-banner"></div>'
TAG_SCAN = re.compile(rb"<[^>]*>")


def corpus_pages(shared: Path) -> tuple[list[bytes], list[bytes]] | None:
    html = shared / "corpora" / "html"
    expect_path = html / "EXPECT.json"
    if not expect_path.is_file():
        return None
    pages = json.loads(expect_path.read_text())["pages"]
    scored = []
    for name, entry in pages.items():
        data = (html / name).read_bytes()
        density = len(entry["trackers"]) / max(1, len(data) / 1024)
        scored.append((entry["role"] != "control", density, data))
    scored.sort(key=lambda item: (item[0], item[1]))
    ordinary = [data for _, _, data in scored[: len(scored) // 3]]
    dense = [data for _, _, data in scored[-len(scored) // 3 :]]
    return dense, ordinary


def synthetic() -> tuple[list[bytes], list[bytes]]:
    para = b'<p class="text">Lorem ipsum dolor sit amet, <a href="/x">consectetur</a> adipiscing.</p>\n'
    trackers = (
        b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n'
        b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        b"gtag('js',new Date());gtag('config','G-1');</script>\n"
        b'<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView" width="1" height="1">\n'
        b'<iframe src="https://www.youtube.com/embed/abc"></iframe>\n'
    )
    ordinary = b"<!doctype html><html><head><title>t</title></head><body>" + para * 200 + b"</body></html>"
    dense = (
        b"<!doctype html><html><head><title>t</title></head><body>"
        + (para * 5 + trackers) * 40
        + b"</body></html>"
    )
    return [dense], [ordinary]


def build(parts: list[bytes], size: int) -> bytes:
    # Whole pages one after another: a browser would parse the later ones as body content,
    # which is what a long page is anyway.
    out = bytearray()
    while len(out) < size:
        for part in parts:
            out += part
            if len(out) >= size:
                break
    return bytes(out[:size])


def timed(func: Callable[[], object], size: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        func()
        best = min(best, time.process_time() - start)
    return size / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = Rules.compile(load_dict({}))

    def deny(service_id: str | None, category: str) -> bool:
        return category == "necessary"

    def rewrite(page: bytes, chunk: int = 65536) -> None:
        rewriter = HtmlRewriter(rules, deny, head_snippet=HEAD, body_snippet=BODY)
        for i in range(0, len(page), chunk):
            rewriter.feed(page[i : i + chunk])
        rewriter.close()

    def html_parser(page: bytes) -> None:
        p = HTMLParser()
        p.feed(page.decode("latin-1"))
        p.close()

    def re_scan(page: bytes) -> None:
        for _ in TAG_SCAN.finditer(page):
            pass

    sources = corpus_pages(Path(args.shared))
    synthetic_dense, synthetic_ordinary = synthetic()
    kinds = [("synthetic tracker-dense", synthetic_dense), ("synthetic ordinary", synthetic_ordinary)]
    if sources is not None:
        kinds = [("corpus tracker-dense", sources[0]), ("corpus ordinary", sources[1]), *kinds]
    else:
        print("corpus not found: synthetic pages only")
    dense = kinds[0][1]
    print("CPU time (time.process_time), best of --repeat runs; no consent (everything neutralised)")
    print(f"{'page':34s} {'rewriter MB/s':>14s} {'html.parser MB/s':>17s} {'re scan MB/s':>13s}")
    for label, parts in kinds:
        for size, size_label in ((100_000, "100 KB"), (5_000_000, "5 MB")):
            page = build(parts, size)
            repeat = args.repeat if size < 1_000_000 else max(1, args.repeat // 2)
            mbps = timed(lambda page=page: rewrite(page), len(page), repeat)
            parser_mbps = timed(lambda page=page: html_parser(page), len(page), 1)
            re_mbps = timed(lambda page=page: re_scan(page), len(page), repeat)
            print(f"{label + ' ' + size_label:34s} {mbps:14.0f} {parser_mbps:17.1f} {re_mbps:13.0f}")

    # Peak memory while streaming 100 MB in 4 KiB chunks.
    block = build(dense, 1_000_000)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            for i in range(0, len(block), 4096):
                yield block[i : i + 4096]

    rewriter = HtmlRewriter(rules, deny, head_snippet=HEAD, body_snippet=BODY)
    tracemalloc.start()
    start = time.process_time()
    total = 0
    for piece in chunks():
        total += len(rewriter.feed(piece))
    total += len(rewriter.close())
    elapsed = time.process_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"100 MB in 4 KiB chunks: peak traced memory {peak / 1024:.0f} KiB, "
        f"{100_000_000 / elapsed / 1e6:.0f} MB/s under tracemalloc, {total} bytes out"
    )


if __name__ == "__main__":
    main()
