"""Throughput of the HTML rewriter alone (no ASGI), beside html.parser and a plain `re` scan.

    python bench/rewrite_throughput.py [--shared ../shared] [--repeat 7] [--sizes 100000,5000000]

Pages are built from the corpus (../shared/corpora/html/pages) when it is there: "tracker-dense"
from the third of the pages with the most tracker elements per KB, "ordinary" from the third
with the fewest (controls first). Synthetic pages beside them: "news" (a tracker every ~3 KB,
the density of real tracker-heavy pages), "pathological" (a tracker every ~800 bytes) and
"plain" (no tracker). Each page is rewritten with no consent (every tracker neutralised), fed in
64 KiB chunks.

The machine is shared and noisy: CPU time (time.process_time), the best of --repeat runs, with
the `re` scan (``<[^>]*>`` over the same bytes) measured in the same rounds; "ratio" is
rewriter MB/s / re MB/s. "cold" rewrites with the per-Rules memory off (``Rules(inline_cache=0)``:
every inline script scanned, every tag decided afresh except repeats within one page), "warm"
with it on, as on a live site whose pages share their tags and inline scripts (the long pages
repeat the corpus pages, so the figures for them are a best case, cold ones included).

Peak memory (tracemalloc) is taken while streaming a 100 MB page in 4 KiB chunks.
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

from consentgate.html import accel
from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict

HEAD = b'<script src="/_consentgate/static/runtime.js" defer></script>'
BODY = b'<div id="consentgate-banner"></div>'
TAG_SCAN = re.compile(rb"<[^>]*>")

TRACKERS = [
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n',
    b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
    b"gtag('js',new Date());gtag('config','G-1');</script>\n",
    b'<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&amp;ev=PageView"></noscript>\n',
    b'<iframe width="560" height="315" src="https://www.youtube.com/embed/abc"></iframe>\n',
    b'<script src="https://static.hotjar.com/c/hotjar-1.js?sv=6"></script>\n',
    b'<img src="https://px.ads.linkedin.com/collect/?pid=1&amp;fmt=gif" width="1" height="1" alt="">\n',
    b'<link rel="preconnect" href="https://www.google-analytics.com">\n',
]
ARTICLE = (
    b'<article class="story"><h2><a href="/news/%d">Headline number %d about something</a></h2>'
    b'<p class="lede">A paragraph of ordinary text that a news page repeats many times, with a '
    b'<a href="/tag/%d">link</a>, <em>emphasis</em> and an image '
    b'<img src="https://cdn.example.net/img/%d.jpg" '
    b'alt="photo %d" loading="lazy"> from the site\'s own CDN.</p></article>\n'
)
PARA = b'<p class="text">Lorem ipsum dolor sit amet, <a href="/x">consectetur</a> adipiscing.</p>\n'


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


def synthetic() -> dict[str, list[bytes]]:
    start = b"<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body>"
    news = [start, b'<script type="application/ld+json">{"@type": "NewsArticle"}</script>\n']
    for n in range(300):
        news.append(ARTICLE % (n, n, n, n, n))
        if n % 8 == 3:  # ~one tracker per 3 KB
            news.append(TRACKERS[n // 7 % len(TRACKERS)])
    news.append(b"</body></html>")
    pathological = start + (PARA * 5 + b"".join(TRACKERS[:4])) * 40 + b"</body></html>"
    plain = start + PARA * 200 + b"</body></html>"
    return {
        "synthetic news": [b"".join(news)],
        "synthetic pathological": [pathological],
        "synthetic plain": [plain],
    }


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


def deny(service_id: str | None, category: str) -> bool:
    return category == "necessary"


def rewrite(rules: Rules, page: bytes, chunk: int = 65536) -> None:
    rewriter = HtmlRewriter(rules, deny, head_snippet=HEAD, body_snippet=BODY)
    for i in range(0, len(page), chunk):
        rewriter.feed(page[i : i + chunk])
    rewriter.close()


def html_parser(page: bytes) -> None:
    parser = HTMLParser()
    parser.feed(page.decode("latin-1"))
    parser.close()


def re_scan(page: bytes) -> None:
    for _ in TAG_SCAN.finditer(page):
        pass


def best_of(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best CPU time of each, run in turns so that a noisy neighbour hits them alike."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, func in funcs.items():
            gc.collect()
            start = time.process_time()
            func()
            best[name] = min(best[name], time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="100000,5000000")
    args = parser.parse_args()
    policy = load_dict({})
    warm = Rules(policy)
    cold = Rules(policy, inline_cache=0)

    kinds = synthetic()
    sources = corpus_pages(Path(args.shared))
    if sources is not None:
        kinds = {"corpus tracker-dense": sources[0], "corpus ordinary": sources[1], **kinds}
    else:
        print("corpus not found: synthetic pages only")
    print("CPU time (time.process_time), best of --repeat runs; no consent (everything neutralised)")
    print(
        "C speed-ups:",
        "in use" if accel.AVAILABLE else "off (pure Python: not built, or CONSENTGATE_PURE_PYTHON set)",
    )
    print(
        f"{'page':34s} {'cold MB/s':>9s} {'warm MB/s':>9s} {'re MB/s':>8s} "
        f"{'ratio cold':>10s} {'ratio warm':>10s} {'html.parser':>11s}"
    )
    for label, parts in kinds.items():
        for size in (int(s) for s in args.sizes.split(",")):
            page = build(parts, size)
            repeat = args.repeat if size < 1_000_000 else max(2, args.repeat // 2)
            times = best_of(
                {
                    "re": lambda page=page: re_scan(page),
                    "cold": lambda page=page: rewrite(cold, page),
                    "warm": lambda page=page: rewrite(warm, page),
                },
                repeat,
            )
            parser_time = best_of({"p": lambda page=page: html_parser(page)}, 1)["p"]
            mbps = {name: len(page) / seconds / 1e6 for name, seconds in times.items()}
            size_label = f"{size / 1e6:g} MB" if size >= 1_000_000 else f"{size // 1000} KB"
            print(
                f"{label + ' ' + size_label:34s} {mbps['cold']:9.0f} {mbps['warm']:9.0f} {mbps['re']:8.0f} "
                f"{mbps['cold'] / mbps['re']:10.2f} {mbps['warm'] / mbps['re']:10.2f} "
                f"{len(page) / parser_time / 1e6:11.1f}"
            )

    if sources is not None:
        # Every page of each corpus set as a response of its own (the rows above build one long
        # page from the first pages of a set). "cold": no memory across pages; "warm": one
        # memory for all of them, filled by the run before (40 different sites: it does not
        # hold them all, which is why it is near cold); "same page": each page rewritten twice
        # in a row and the second one timed, as a site's page served again.
        for label, pages in (("tracker-dense", sources[0]), ("ordinary", sources[1])):
            total = sum(map(len, pages))
            times = best_of(
                {
                    "re": lambda pages=pages: [re_scan(page) for page in pages],
                    "cold": lambda pages=pages: [rewrite(cold, page) for page in pages],
                    "warm": lambda pages=pages: [rewrite(warm, page) for page in pages],
                },
                max(2, args.repeat // 2),
            )
            again = 0.0
            for page in pages:
                rewrite(warm, page)
                again += best_of({"p": lambda page=page: rewrite(warm, page)}, 3)["p"]
            mbps = {name: total / seconds / 1e6 for name, seconds in times.items()}
            print(
                f"{f'corpus {label}, page by page':34s} {mbps['cold']:9.0f} {mbps['warm']:9.0f} {mbps['re']:8.0f} "
                f"{mbps['cold'] / mbps['re']:10.2f} {mbps['warm'] / mbps['re']:10.2f}"
                f"   ({len(pages)} pages, {total / 1e6:.1f} MB; same page again: {total / again / 1e6:.0f} MB/s, "
                f"{total / again / 1e6 / mbps['re']:.2f} x re)"
            )

    # Peak memory while streaming 100 MB in 4 KiB chunks.
    block = build(next(iter(kinds.values())), 1_000_000)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            for i in range(0, len(block), 4096):
                yield block[i : i + 4096]

    # The per-Rules memory (inline scripts and tags already decided) fills on the first pass;
    # it is bounded and shared by every page, not part of streaming one: filled before tracing,
    # whatever --sizes ran before.
    rewrite(warm, block)
    rewriter = HtmlRewriter(warm, deny, head_snippet=HEAD, body_snippet=BODY)
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
