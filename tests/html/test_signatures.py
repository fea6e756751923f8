from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.rules import Rules
from consentgate.html.signatures import SignatureScanner
from consentgate.policy.load import load_dict

from .kit import make_policy, service

CATALOG = sorted({sig.encode() for s in load_dict({}).services for sig in s.signatures})
SCANNER = SignatureScanner(CATALOG)


def every_occurrence(data: bytes, signatures: list[bytes]) -> list[tuple[int, bytes]]:
    """The reference: ``find`` for each signature, overlaps included."""
    found = []
    for signature in set(signatures):
        at = data.find(signature)
        while at >= 0:
            found.append((at, signature))
            at = data.find(signature, at + 1)
    return sorted(found)


# JavaScript-ish text with signatures (and their fragments) mixed in.
js_text = st.lists(
    st.one_of(
        st.sampled_from(CATALOG),
        st.sampled_from(CATALOG).map(lambda s: s[: len(s) // 2]),
        st.sampled_from(
            [b"(", b".", b"_", b"\x00", b"'", b'"', b"function(){", b" ", b"\n", b"\xe2\x80\x99"]
        ),
        st.binary(max_size=12),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(js_text)
def test_scanner_finds_every_occurrence_of_the_catalog_signatures(data: bytes) -> None:
    assert sorted(SCANNER.occurrences(data)) == every_occurrence(data, CATALOG)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=12),
    st.lists(st.integers(0, 40), max_size=20),
    st.binary(max_size=60),
)
def test_scanner_finds_every_occurrence_of_any_signatures(
    signatures: list[bytes], picks: list[int], noise: bytes
) -> None:
    data = noise + b"".join(signatures[i % len(signatures)] + noise[:i] for i in picks)
    assert sorted(SignatureScanner(signatures).occurrences(data)) == every_occurrence(data, signatures)


def test_occurrences_within_a_window_stay_inside_it() -> None:
    data = b"gtag('js');fbq('init');"
    assert list(SCANNER.occurrences(data, 1, 20)) == [(11, b"fbq(")]


def rules_with(*services: tuple[str, str, list[str]]) -> Rules:
    policy = make_policy()
    extra = tuple(service(sid, category, signatures=sigs) for sid, category, sigs in services)
    return Rules.compile(type(policy)(categories=policy.categories, services=extra))


def test_the_most_sensitive_service_wins_wherever_it_is() -> None:
    rules = rules_with(("stats", "analytics", ["track("]), ("ads", "marketing", ["adsq.push("]))
    verdict = rules.classify_inline(b"track('a'); track('b'); window.adsq.push({})")
    assert verdict is not None and verdict.service is not None and verdict.service.id == "ads"


def test_among_equally_sensitive_signatures_the_first_in_the_script_wins() -> None:
    rules = rules_with(("one", "analytics", ["beta("]), ("two", "analytics", ["alpha("]))
    verdict = rules.classify_inline(b"beta(1); alpha(2)")
    assert verdict is not None and verdict.service is not None and verdict.service.id == "one"


def test_a_signature_hidden_inside_another_still_counts() -> None:
    # `_fbq(` holds both `_fbq` (analytics here) and `fbq(` (marketing): the overlap counts.
    rules = rules_with(("one", "analytics", ["_fbq"]), ("two", "marketing", ["fbq("]))
    verdict = rules.classify_inline(b"window._fbq('x')")
    assert verdict is not None and verdict.category == "marketing"


def test_inline_verdicts_are_remembered_by_content_unless_switched_off() -> None:
    script = b"gtag('js', new Date());"
    cached = Rules(make_policy())
    uncached = Rules(make_policy(), inline_cache=0)
    for rules in (cached, uncached):
        first = rules.classify_inline(script)
        assert first is not None and rules.classify_inline(bytes(script)) == first
    assert len(cached._inline_verdicts) == 1 and not uncached._inline_verdicts


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=10, unique=True),
    st.lists(st.integers(0, 3), min_size=10, max_size=10),
    st.lists(st.integers(0, 40), max_size=20),
    st.binary(max_size=30),
)
def test_first_is_the_highest_ranked_then_earliest_then_longest(
    signatures: list[bytes], ranks: list[int], picks: list[int], noise: bytes
) -> None:
    rank = {s: ranks[i] for i, s in enumerate(signatures)}
    data = noise + b"".join(signatures[i % len(signatures)] + noise[:i] for i in picks)
    found = every_occurrence(data, signatures)
    expected = min(found, key=lambda hit: (-rank[hit[1]], hit[0], -len(hit[1])))[1] if found else None
    assert SignatureScanner(signatures).first(data, rank, 3) == expected


def test_first_waits_for_a_signature_anchored_late_that_starts_early() -> None:
    # `ppq(ppQz` is anchored at its rare `Q`; `q(pp`, inside it, at its first byte: the scanner
    # meets `q(pp` first, but `ppq(ppQz` starts earlier, so it is the answer.
    long, inner = b"ppq(ppQz", b"q(pp"
    scanner = SignatureScanner([long, inner])
    assert scanner.first(b"--" + long, {long: 3, inner: 3}, 3) == long


def test_of_equals_at_one_place_the_longest_wins_in_c_and_in_python() -> None:
    # A signature that is a prefix of another, both as sensitive, at the same position: the
    # longer one names the service more precisely (the C `first` and the Python loop alike).
    for swap in (False, True):
        signatures = [b"ab", b"abc", b"abcd", b"b"]
        rank = {b"ab": 2, b"abc": 2, b"abcd": 1, b"b": 2}
        scanner = SignatureScanner(signatures[::-1] if swap else signatures)
        assert scanner.first(b"xxabcd-", rank, 3) == b"abc"
        scanner._c = None
        assert scanner.first(b"xxabcd-", rank, 3) == b"abc"
