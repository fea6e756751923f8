"""atheris target: arbitrary bytes through the HTML rewriter, whole and in chunks.

    .venv/bin/python fuzz/fuzz_rewriter.py -max_total_time=300 fuzz/corpus/rewriter

A crash is any exception, or output that depends on how the input was split.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from consentgate.html.rewriter import HtmlRewriter
    from consentgate.html.rules import Rules
    from consentgate.policy.load import load_dict

RULES = Rules.compile(load_dict({}))
HEAD = b'<script src="/_consentgate/static/runtime.js"></script>'
BODY = b'<div id="cg-banner"></div>'


def deny(service_id: str | None, category: str) -> bool:
    return category == "necessary"


def rewrite(data: bytes, size: int | None) -> bytes:
    rewriter = HtmlRewriter(RULES, deny, head_snippet=HEAD, body_snippet=BODY, max_buffer=4096)
    if size is None:
        return rewriter.feed(data) + rewriter.close()
    out = [rewriter.feed(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(out) + rewriter.close()


def test_one_input(raw: bytes) -> None:
    provider = atheris.FuzzedDataProvider(raw)
    size = provider.ConsumeIntInRange(1, 512)
    data = provider.ConsumeBytes(provider.remaining_bytes())
    whole = rewrite(data, None)
    if rewrite(data, size) != whole:
        raise AssertionError(f"output depends on chunking (size {size}): {data[:200]!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
