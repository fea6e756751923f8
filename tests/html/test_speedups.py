"""The C speed-ups (src/consentgate/html/_speedups.c) give the same results as the Python code
they stand for, and the rewriter works the same without them.

- ``TagSearch.search`` is ``pattern.search`` for the tokenizer's fast-path pattern: every Match
  it returns is the pattern's own, at the same place, on the corpus pages and on random
  markup built to hit each rule of the quiet lookahead it evaluates in C.
- ``LiteralSet.find`` lists the same signature occurrences as the pure-Python scanner.
- With ``CONSENTGATE_PURE_PYTHON=1`` (what a machine without a compiler gets) the rewritten
  corpus pages are byte for byte the same.

In CI the module must have been built (`make test` installs it); elsewhere a missing build
skips these tests with the reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html import accel, fastscan
from consentgate.html.fastscan import FastScanner
from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Rules
from consentgate.html.signatures import SignatureScanner
from consentgate.policy.load import load_dict
from tests.conftest import REPO, missing

RULES = Rules(load_dict({}))
START = b"<!doctype html><html><head><meta charset=utf-8></head><body>"


@pytest.fixture(autouse=True)
def _built() -> None:
    if not accel.AVAILABLE:
        missing(
            "the C speed-ups are not built (no C compiler at install, or CONSENTGATE_PURE_PYTHON "
            "is set): reinstall with `make .venv/.installed-stamp`"
        )


def _scanners(**policy: object) -> list[FastScanner]:
    """The two fast-path scanners the rewriter sets up after the head (with and without `<a
    ping>`), with the catalog's hosts in the quiet lookahead."""
    rewriter = HtmlRewriter(Rules(load_dict(policy)) if policy else RULES, lambda s, c: c == "necessary")
    rewriter.feed(START)
    tok = rewriter._tok
    scanners = list(tok._fast_scanners())
    assert all(s is not None for s in scanners)
    return [s for s in scanners if s is not None]


SCANNERS = _scanners()


def _by_pattern(scanner: FastScanner, data: bytes) -> list[tuple[tuple[int, int], ...]]:
    return [m.regs for m in scanner.pattern.finditer(data)]


def _by_c(scanner: FastScanner, data: bytes) -> list[tuple[tuple[int, int], ...]]:
    found = []
    pos = 0
    while (m := scanner.search(data, pos)) is not None:
        assert m.re is scanner.pattern
        found.append(m.regs)
        pos = m.end()
    return found


def test_the_scanners_use_the_c_search_with_the_catalog_hosts() -> None:
    for scanner in SCANNERS:
        assert type(getattr(scanner.search, "__self__", None)).__name__ == "TagSearch"
    assert b"google-analytics.com" in RULES.known_host_domains


def _corpus_pages(shared: Path) -> list[Path]:
    html = shared / "corpora" / "html"
    return [html / name for name in sorted(json.loads((html / "EXPECT.json").read_text())["pages"])]


def test_the_c_search_finds_what_the_pattern_finds_on_every_corpus_page(shared_dir: Path) -> None:
    compared = 0
    for page in _corpus_pages(shared_dir):
        data = page.read_bytes().lower()  # the fast path runs on lower-cased bytes
        for scanner in SCANNERS:
            expected = _by_pattern(scanner, data)
            assert _by_c(scanner, data) == expected, page.name
            compared += len(expected)
    assert compared > 10_000


# Pieces that reach each branch of the quiet lookahead and of the prefilter.
PIECES = [
    b"<img",
    b"<link",
    b"<source",
    b"<video",
    b"<a",
    b"<script",
    b"</script>",
    b"<style>",
    b"<iframe",
    b"<meta",
    b"<body",
    b"<div",
    b"<!--",
    b"-->",
    b"--!>",
    b"<",
    b">",
    b"/>",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\f",
    b"/",
    b"=",
    b'"',
    b"'",
    b" src=",
    b" href=",
    b" ping=",
    b' src="',
    b"//",
    b"https://",
    b"http:",
    b"https:",
    b"http:/x",
    b"www.google-analytics.com",
    b"google-analytics.com.",
    b"connect.facebook.net",
    b"cdn.example.org",
    b"example.com",
    b".",
    b"..",
    b"@",
    b"user@",
    b"&amp;",
    b"&",
    b"amp;",
    b"\\",
    b"data-category",
    b"data-name",
    b"data-service",
    b"data-cookieconsent",
    b"optanon-category",
    b"data-",
    b"-",
    b":",
    b" onload=x",
    b"on",
    b"onerror",
    b" class=",
    b"a" * 300,
    b"x",
    b"\xc3\xa9",
    b"\x00",
    b"<IMG",
    b"<Link",
    b"<A",
    b" PING=",
    b"DATA-CATEGORY",
    b"Optanon-Category",
    b"HTTPS:",
    b"HTTP:/x",
    b"WWW.GOOGLE-ANALYTICS.COM",
    b"Connect.Facebook.Net",
    b"&AMP;",
    b" ONLOAD=x",
    b"<SCRIPT",
    b"</SCRIPT>",
    b"<!--",
    b"<META",
    b"<BODY",
]
MARKUP = st.lists(st.sampled_from(PIECES) | st.binary(max_size=3), max_size=60).map(b"".join)


@settings(max_examples=1500, deadline=None)
@given(MARKUP)
def test_the_c_search_finds_what_the_pattern_finds_on_random_markup(data: bytes) -> None:
    data = data.lower()
    for scanner in SCANNERS:
        assert _by_c(scanner, data) == _by_pattern(scanner, data)


@settings(max_examples=300, deadline=None)
@given(MARKUP, st.integers(min_value=0, max_value=400))
def test_the_c_search_from_any_position_is_the_patterns(data: bytes, pos: int) -> None:
    data = data.lower()
    for scanner in SCANNERS:
        got = scanner.search(data, pos)
        want = scanner.pattern.search(data, pos)
        assert (got and got.regs) == (want and want.regs)


def test_a_policy_host_is_known_to_the_c_search() -> None:
    scanners = _scanners(
        services={"stats": {"category": "analytics", "hosts": ["stats.example.org"], "name": "Stats"}}
    )
    data = b'<img src="https://stats.example.org/p.gif"><img src="https://cdn.example.org/p.gif">'
    for scanner in scanners:
        found = _by_c(scanner, data)
        assert found == _by_pattern(scanner, data)
        assert [regs[0][0] for regs in found] == [0]  # only the first: its host is declared


def test_quiet_images_are_skipped_and_trackers_are_not() -> None:
    harmless = b'<img src="/logo.png" alt="x"><link rel=stylesheet href="https://cdn.example.org/a.css">'
    tracking = b'<img src="https://www.facebook.com/tr?id=1" width=1>'
    for scanner in SCANNERS:
        assert _by_c(scanner, harmless) == []
        assert [regs[0][0] for regs in _by_c(scanner, harmless + tracking)] == [len(harmless)]


SIGNATURES = [s.encode() for s in ("gtag(", "fbq(", "_fbq", "ga(", "hj(", "rdt(", "x", "_hjSettings")]
SCRIPT = st.lists(st.sampled_from([*SIGNATURES, b"g", b"f", b"(", b"_", b" "]) | st.binary(max_size=4)).map(
    b"".join
)


@settings(max_examples=1000, deadline=None)
@given(SCRIPT, st.integers(0, 10), st.integers(0, 10))
def test_the_c_signature_search_lists_every_occurrence(script: bytes, cut_start: int, cut_end: int) -> None:
    scanner = SignatureScanner(SIGNATURES)
    assert scanner._c is not None
    start, end = min(cut_start, len(script)), max(0, len(script) - cut_end)
    got = sorted(scanner.occurrences(script, start, end))
    naive = sorted(
        (m.start(), s)
        for s in set(SIGNATURES)
        for m in re.finditer(b"(?=" + re.escape(s) + b")", script)
        if start <= m.start() and m.start() + len(s) <= end
    )
    assert got == naive
    scanner._c = None  # the pure-Python path on the same input
    assert sorted(scanner.occurrences(script, start, end)) == naive


def test_the_catalog_signatures_agree_on_the_corpus_scripts(shared_dir: Path) -> None:
    signatures = sorted(RULES._signature_rank)
    fast = SignatureScanner(signatures)
    pure = SignatureScanner(signatures)
    pure._c = None
    pure._reach = max(len(s) for s in signatures)  # the pure scanner's own bound is at least this
    script = re.compile(rb"<script[^>]*>(.*?)</script", re.S | re.I)
    scripts = 0
    for page in _corpus_pages(shared_dir)[::3]:
        for m in script.finditer(page.read_bytes()):
            body = m.group(1)
            assert sorted(fast.occurrences(body)) == sorted(pure.occurrences(body))
            top = max(RULES._signature_rank.values())
            assert fast.first(body, RULES._signature_rank, top) == pure.first(
                body, RULES._signature_rank, top
            )
            scripts += 1
    assert scripts > 300


_REWRITE_PAGES = """
import hashlib, json, sys
from pathlib import Path
from consentgate.html import accel, fastscan
from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Rules
from consentgate.policy.load import load_dict
rules = Rules(load_dict({}), inline_cache=0)
out = {"accel": accel.AVAILABLE}
for path in sys.argv[1:]:
    rewriter = HtmlRewriter(rules, lambda s, c: c == "necessary", head_snippet=b"<!--h-->", body_snippet=b"<!--b-->")
    data = Path(path).read_bytes()
    body = b"".join(rewriter.feed(data[i : i + 4096]) for i in range(0, len(data), 4096)) + rewriter.close()
    out[Path(path).name] = hashlib.sha256(body).hexdigest()
print(json.dumps(out))
"""


def test_without_the_speed_ups_the_rewritten_pages_are_the_same(shared_dir: Path) -> None:
    pages = [str(p) for p in _corpus_pages(shared_dir)[::4]]
    results = []
    for pure in ("", "1"):
        env = {**os.environ, "CONSENTGATE_PURE_PYTHON": pure}
        done = subprocess.run(
            [sys.executable, "-c", _REWRITE_PAGES, *pages],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        results.append(json.loads(done.stdout))
    assert results[0].pop("accel") is True
    assert results[1].pop("accel") is False
    assert results[0] == results[1]
    assert len(results[0]) == len(pages)


# One trigger each: the quiet lookahead passes an <img> for that reason alone.
TRIGGERS = [
    b'<img class="optanon-category-C0004" src="/a.png">',
    b'<img data-category="marketing" src="/a.png">',
    b'<img data-name="x" src="/a.png">',
    b'<img data-service="x" src="/a.png">',
    b'<img data-cookieconsent="marketing" src="/a.png">',
    b'<img src="https:/a.png">',
    b'<img src="http:a.png">',
    b'<img src="//www.google\n-analytics.com/x">',
    b'<img src="//user@cdn.example.org/x">',
    b'<img src="/a.png?x=1&y=2">',
    b'<img src="\\\\a.png">',
    b'<img alt="a>b" src="/a.png">',
    b'<img onload="x()" src="/a.png">',
    b"<img/onerror=x src=/a.png>",
    b'<img src="//www.google-analytics.com./x">',
    b'<img src="https://sub.google-analytics.com/x">',
    b'<img src="https://google-analytics.com/x">',
    b"<img src='//connect.facebook.net'>",
    b'<img alt="' + b"x" * 300 + b'">',
]
CALM = [
    b'<img src="/a.png?x=1&amp;y=2">',
    b'<img src="https://cdn.example.org/x.png" alt="">',
    b'<img data-src="/x.png" class="lazy-load">',
    b'<link rel="stylesheet" href="/style.css">',
    b'<img src="https://notgoogle-analytics.com/x">',
    b'<img src="https://google-analytics.com.evil.example/x">',
    b"<img alt=upon src=/a.png>",
    b'<img src="/a.png"',  # no `>` yet: the fast path leaves an unfinished tag to the exact one
]


@pytest.mark.parametrize("tag", TRIGGERS)
def test_each_reason_to_look_at_an_image_is_seen_by_the_c_search(tag: bytes) -> None:
    data = (b"<p>text</p>" + tag).lower()
    for scanner in SCANNERS:
        found = _by_c(scanner, data)
        assert found == _by_pattern(scanner, data)
        assert [regs[0][0] for regs in found] == [11]


@pytest.mark.parametrize("tag", CALM)
def test_a_harmless_image_is_skipped_by_both(tag: bytes) -> None:
    for scanner in SCANNERS:
        assert _by_c(scanner, tag) == _by_pattern(scanner, tag) == []


TAG_PIECES = [p for p in PIECES if b"<" not in p and b">" not in p]


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([b"<img", b"<link", b"<source", b"<video", b"<input", b"<track"]),
    st.lists(st.sampled_from(TAG_PIECES), max_size=6),
    st.sampled_from([b">", b"", b"/>", b'">']),
)
def test_one_quiet_tag_is_judged_alike(name: bytes, pieces: list[bytes], end: bytes) -> None:
    data = (name + b" " + b"".join(pieces) + end).lower()
    for scanner in SCANNERS:
        assert _by_c(scanner, data) == _by_pattern(scanner, data)


SETTLE_PIECES = [
    b"<",
    b">",
    b'"',
    b"'",
    b"=",
    b" ",
    b"\n",
    b"a",
    b"Z",
    b"!",
    b"/",
    b"?",
    b"-",
    b"1",
    b"<a",
    b"= ",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(SETTLE_PIECES), max_size=40).map(b"".join), st.data())
def test_settle_in_c_is_the_python_settle(buf: bytes, data: st.DataObject) -> None:
    from consentgate.html import fastscan

    assert fastscan.settle is not fastscan.settle_py
    p = data.draw(st.integers(0, len(buf)))
    lo = data.draw(st.integers(0, p))
    assert fastscan.settle(buf, lo, p) == fastscan.settle_py(buf, lo, p)


def test_settle_in_c_refuses_positions_outside_the_buffer() -> None:
    from consentgate.html import fastscan

    with pytest.raises(ValueError):
        fastscan.settle(b"<a>", 2, 1)
    with pytest.raises(ValueError):
        fastscan.settle(b"<a>", 0, 4)


def _scan_py(scanner: FastScanner) -> Callable[[bytes, int, int, int, bool], tuple[int, object, int]]:
    raw_groups = bytes(
        1 if leaf is not None and leaf.kind in ("script", "raw") else 0 for leaf in scanner.leaves
    )
    return partial(
        fastscan.scan_py, scanner.pattern.search, scanner.pattern.groupindex["comment"], raw_groups
    )


def _scan_result(result: tuple[int, object, int]) -> tuple[int, object, int]:
    code, found, lo = result
    return code, (found if code == fastscan.SCAN_MATCH else None), lo


COMMENTS = [b"<!--", b"-->", b"--!>", b"<!-->", b"<!--->", b"<!---->", b"--", b"-", b"!", b">", b"<!-- x -->"]


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES + COMMENTS) | st.binary(max_size=3), max_size=50).map(b"".join),
    st.data(),
)
def test_the_c_scan_is_scan_py(data: bytes, draw: st.DataObject) -> None:
    """Comments read past in C, candidates proved in place: the same answers as the Python
    loop over the pattern, from any position, for a buffer the tokenizer may still extend
    (``final`` false) or not."""
    pos = draw.draw(st.integers(0, len(data)))
    lo = draw.draw(st.integers(0, pos))
    final = draw.draw(st.booleans())
    for scanner in SCANNERS:
        assert scanner.scan.__self__.__class__.__name__ == "TagSearch"  # type: ignore[attr-defined]
        assert scanner.cased  # the C scan reads the page as it is; scan_py its lower-cased copy
        want = _scan_result(_scan_py(scanner)(data.lower(), pos, lo, len(data), final))
        assert _scan_result(scanner.scan(data, pos, lo, len(data), final)) == want


@pytest.mark.parametrize(
    "comment",
    [
        b"<!-->",
        b"<!--->",
        b"<!---->",
        b"<!-- a -->",
        b"<!-- a --!>",
        b"<!-- a --->",
        b"<!-- -- - -->",
        b"<!--x--!x-->",
    ],
)
def test_every_way_a_comment_ends_is_read_alike(comment: bytes) -> None:
    data = b"<p>" + comment + b"<script>x</script> tail"
    for scanner in SCANNERS:
        got = _scan_result(scanner.scan(data, 0, 0, len(data), True))
        assert got == _scan_result(_scan_py(scanner)(data, 0, 0, len(data), True))
        assert got[0] == fastscan.SCAN_MATCH and got[2] == 3 + len(comment)  # the comment read past


def test_an_unfinished_comment_hands_over_from_the_last_place_known() -> None:
    data = b"<p>text</p><!-- x --><!-- not closed <script>x</script>"
    for scanner in SCANNERS:
        # the first comment is read past; the exact scanner takes the second from its start
        assert scanner.scan(data, 0, 0, len(data), False) == (fastscan.SCAN_HAND_OVER, None, 21)
        assert _scan_py(scanner)(data, 0, 0, len(data), False) == (fastscan.SCAN_HAND_OVER, None, 21)


NATIVE_PIECES = [
    b"<script",
    b"<style",
    b"<iframe",
    b"<title",
    b"<textarea",
    b"<noscript",
    b"<svg",
    b"<math",
    b"<object",
    b"<embed",
    b"<plaintext",
    b"</body",
    b"</form",
    b"</object",
    b"</script",
    b"</style",
    b"</iframe",
    b"</title",
    b"</script>",
    b"</style>",
    b"<!--",
    b"-->",
    b">",
    b"<",
    b"/",
    b"/>",
    b" ",
    b"\t",
    b"\n",
    b"=",
    b" = ",
    b'"',
    b"'",
    b' a="x>y"',
    b" b='q'",
    b" b='x y>z'",
    b' d="p q"',
    b" c=d",
    b" c=d>e",
    b" =e",
    b" src=//www.google-analytics.com/a.js",
    b" async",
    b"x",
    b"if (a<b) {}",
    b"<a",
    b"<img",
    b"<SCRIPT",
    b"</Script>",
    b"</SCRIPT",
    b"<StYlE>",
    b"<IFRAME",
    b"</BODY>",
    b"<SVG",
    b"<A",
    b" SRC=//WWW.Google-Analytics.COM/a.js",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(NATIVE_PIECES), max_size=40).map(b"".join), st.booleans())
def test_tags_and_raw_text_read_in_c_are_read_as_the_pattern_reads_them(data: bytes, final: bool) -> None:
    """The attribute grammar, raw text up to its end tag, `<!--` in a script: every candidate
    the C reads itself gives the tuple the pattern's Match gives, all the way through."""
    for scanner in SCANNERS:
        _walk_alike(scanner, data, final)


def _walk_alike(scanner: FastScanner, data: bytes, final: bool) -> int:
    """Both scans, candidate after candidate, as the tokenizer steps (past a hand-over, to the
    next `>`, as the exact scanner would move on); the number of candidates."""
    slow = _scan_py(scanner)
    lower = data.lower()
    pos = lo = 0
    seen = 0
    while True:
        want = _scan_result(slow(lower, pos, lo, len(data), final))
        got = _scan_result(scanner.scan(data, pos, lo, len(data), final))
        assert got == want, (pos, lo)
        code, found, lo = want
        if code == fastscan.SCAN_END:
            return seen
        if code == fastscan.SCAN_HAND_OVER:
            step = data.find(b">", lo + 1)
            if step < 0:
                return seen
            pos = lo = step + 1
            continue
        seen += 1
        assert isinstance(found, tuple)
        pos = lo = found[2]


def test_every_corpus_page_is_walked_alike(shared_dir: Path) -> None:
    seen = 0
    for page in _corpus_pages(shared_dir):
        data = page.read_bytes()  # as served: the C scan reads it so, scan_py lower-cased
        for scanner in SCANNERS:
            seen += _walk_alike(scanner, data, True)
    assert seen > 5_000


@pytest.mark.parametrize(
    ("page", "found"),  # where the start tag's `>` is, where the end tag starts
    [
        (b"<script>a<!--b</script>", (7, -1)),  # escaped script data: raw-text mode takes it
        (b"<script>a</script>", (7, 9)),
        (b"<script x='a>b'>c</script >", (15, 17)),
        (b"<style>a<!--b</style>", (6, 13)),  # only scripts have escaped states
        (b"<title>a</titlex></title>", (6, 17)),
        (b"<script>a</script", (7, -1)),  # the end tag is not all here
        (b'<iframe src="a', (-1, -1)),
    ],
)
def test_raw_text_and_its_end_tag_in_c(page: bytes, found: tuple[int, int]) -> None:
    for scanner in SCANNERS:
        code, got, _ = scanner.scan(page, 0, 0, len(page), True)
        assert code == fastscan.SCAN_MATCH and got is not None
        assert (got[3], got[4]) == found
        assert _scan_py(scanner)(page, 0, 0, len(page), True) == (code, got, 0)


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        # (the 17 and 33 bytes of text move the rest across the C scan's 16-byte blocks)
        st.sampled_from(
            [
                b"ping",
                b"PING",
                b"Ping",
                b"p",
                b"P",
                b"ing",
                b"=",
                b" ",
                b"\t",
                b"x",
                b"x" * 17,
                b"pP" * 16 + b"y",
            ]
        ),
        max_size=12,
    ).map(b"".join),
    st.data(),
)
def test_says_ping_in_c_is_the_tokenizers_ping_pattern(data: bytes, draw: st.DataObject) -> None:
    from consentgate.html import tokenizer

    start = draw.draw(st.integers(0, len(data)))
    assert accel.speedups is not None
    assert accel.speedups.says_ping(data, start) == (tokenizer._PING.search(data.lower(), start) is not None)


def test_an_upper_case_page_is_read_as_its_lower_case_copy() -> None:
    page = (
        b"<HTML><HEAD><SCRIPT SRC='https://WWW.GOOGLETAGMANAGER.COM/gtag/js'></SCRIPT></HEAD>"
        b'<BODY><IMG SRC="HTTPS://WWW.FACEBOOK.COM/TR?ID=1"><IMG SRC="/LOGO.PNG">'
        b'<A HREF="/x" PING="https://t.example/p">x</A><!-- c --><IFRAME SRC="//WWW.YOUTUBE.COM/embed/x"></IFRAME>'
        b"</BODY></HTML>"
    )
    for scanner in SCANNERS:
        assert _walk_alike(scanner, page, True) >= 5


@pytest.mark.parametrize("tag", TRIGGERS)
def test_each_reason_to_look_at_an_image_is_seen_in_upper_case_too(tag: bytes) -> None:
    data = b"<p>text</p>" + tag.upper()
    for scanner in SCANNERS:
        code, found, _ = scanner.scan(data, 0, 0, len(data), True)
        assert (code, found and found[1]) == (fastscan.SCAN_MATCH, 11)
        assert _walk_alike(scanner, data, True) == 1
