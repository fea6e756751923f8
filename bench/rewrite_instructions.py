"""One pass of the rewriter over the 120 corpus pages, for counting instructions under callgrind.

Timings on the shared machines move by ±30% from run to run; instruction counts do not (the
same binary and input give the same count, whatever else runs). Run each part under
``valgrind --tool=callgrind`` and subtract ``setup`` (imports, the catalog, building the
scanners) from the others:

    for part in setup rewrite scan signatures; do
      valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$part \\
        .venv/bin/python bench/rewrite_instructions.py --part $part 2>&1 | grep Collected
    done

``rewrite``: every page rewritten with no consent, the per-Rules memory off (as the "cold"
column of bench/rewrite_throughput.py); ``warm``: every page rewritten ``--passes`` times more
with the memory on, after a pass that fills it (two runs with different ``--passes`` give one
warm pass by difference; ``--set dense`` or ``ordinary`` takes the pages of that row of
bench/rewrite_throughput.py, page by page); ``scan``: the tokenizer's candidate regex alone over
the lower-cased pages; ``signatures``: the inline-signature scanner alone over every inline
script of the pages. ``callgrind_annotate /tmp/cg.rewrite`` then says which C functions of the
interpreter (the regex engine, bytes.lower, memcpy, the bytecode loop) the instructions went to.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict

HEAD = b'<script src="/_consentgate/static/runtime.js" defer></script>'
BODY = b'<div id="consentgate-banner"></div>'
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def deny(service_id: str | None, category: str) -> bool:
    return category == "necessary"


def rewrite(rules: Rules, page: bytes, chunk: int = 65536) -> bytes:
    rewriter = HtmlRewriter(rules, deny, head_snippet=HEAD, body_snippet=BODY)
    out = [rewriter.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)]
    out.append(rewriter.close())
    return b"".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument(
        "--part", choices=["setup", "rewrite", "warm", "scan", "signatures"], default="rewrite"
    )
    parser.add_argument("--set", choices=["all", "dense", "ordinary"], default="all")
    parser.add_argument("--passes", type=int, default=1, help="warm passes after the one that fills")
    args = parser.parse_args()
    html = Path(args.shared) / "corpora" / "html"
    names = json.loads((html / "EXPECT.json").read_text())["pages"]
    pages = [(html / name).read_bytes() for name in names]
    if args.set != "all":
        from rewrite_throughput import corpus_pages  # the same pages as its page-by-page rows

        found = corpus_pages(Path(args.shared))
        assert found is not None
        pages = found[0] if args.set == "dense" else found[1]
    rules = Rules(load_dict({})) if args.part == "warm" else Rules(load_dict({}), inline_cache=0)
    probe = HtmlRewriter(rules, deny, head_snippet=HEAD, body_snippet=BODY)
    probe.feed(pages[0])  # builds the scanners: part of setup, not of the pass
    probe.close()
    scripts = [m.group(1) for page in pages for m in INLINE_SCRIPT.finditer(page)]
    if args.part == "rewrite":
        for page in pages:
            rewrite(rules, page)
    elif args.part == "warm":
        for _ in range(1 + args.passes):
            for page in pages:
                rewrite(rules, page)
    elif args.part == "scan":
        plain = probe._tok._fast_scanners()[1]  # built by the probe
        assert plain is not None, "the tokenizer has no fast path"
        pattern = plain.pattern
        for page in pages:
            for _ in pattern.finditer(page.lower()):
                pass
    elif args.part == "signatures":
        for script in scripts:
            rules.classify_inline(script)
    print(f"{args.part}: {sum(map(len, pages)):,} bytes in {len(pages)} pages, {len(scripts)} inline scripts",
          file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
