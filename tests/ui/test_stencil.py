"""consentgate.ui.stencil, and the UI's cached snippets: a cache hit filled with one visitor's
strings is byte for byte what a fresh render for that visitor would have been."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.consent.state import Consent
from consentgate.policy.model import Policy, RegionMode
from consentgate.ui.render import UI, RenderContext, UIConfigError
from consentgate.ui.stencil import Marks, ShapeCache, Stencil

from .uikit import choice, context, make_policy, no_choice

# -- marks and stencils ------------------------------------------------------------------------


def test_holes_are_filled_in_order_and_a_name_may_repeat() -> None:
    marks = Marks(["csrf", "next"])
    stencil = marks.cut(f"a{marks['csrf']}b{marks['next']}c{marks['csrf']}d")
    assert stencil.names == ("csrf", "next", "csrf")
    assert stencil.fill({"csrf": b"1", "next": b"2"}) == b"a1b2c1d"


def test_percent_signs_in_the_rendered_text_survive_filling() -> None:
    marks = Marks(["csrf"])
    assert marks.cut(f"100%s %b %% {marks['csrf']}").fill({"csrf": b"%s"}) == b"100%s %b %% %s"


def test_a_name_that_begins_another_is_told_apart() -> None:
    marks = Marks(["next", "next_q"])
    stencil = marks.cut(f"{marks['next_q']}|{marks['next']}")
    assert stencil.fill({"next": b"plain", "next_q": b"quoted"}) == b"quoted|plain"


def test_text_without_holes_is_returned_as_ascii() -> None:
    stencil = Marks(["csrf"]).cut("caf\u00e9 %")
    assert stencil == Stencil(b"caf&#233; %", ())
    assert stencil.fill({}) == b"caf&#233; %"


def test_marks_of_two_instances_differ() -> None:
    assert Marks(["csrf"])["csrf"] != Marks(["csrf"])["csrf"]


@pytest.mark.parametrize("name", ["", "Csrf", "csrf-token", "1st"])
def test_a_hole_name_outside_lower_case_letters_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="hole names"):
        Marks([name])


def test_shape_cache_forgets_the_least_recently_used_shape() -> None:
    cache: ShapeCache[str] = ShapeCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # now "b" is the oldest
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == ("A", None, "C", 2)


def test_shape_cache_of_size_zero_keeps_nothing() -> None:
    cache: ShapeCache[str] = ShapeCache(0)
    cache.put("a", "A")
    assert cache.get("a") is None and len(cache) == 0


# -- the UI's cache ----------------------------------------------------------------------------

POLICY = make_policy()
NASTY = [
    '"',
    "'",
    "<",
    ">",
    "&",
    "&amp;",
    "</script>",
    "<!--",
    "\r\n",
    "\u2028",
    "\u00e9",
    "\U0001f600",
    "%",
    "%s",
    "?",
    "=",
    "/",
    "\\",
    "\x00",
    " ",
    "cgslot",
]
nasty_text = st.lists(st.sampled_from(NASTY) | st.text(max_size=4), max_size=8).map("".join)
CATEGORY_IDS = ("preferences", "analytics", "marketing")
SERVICE_IDS = ("session", "matomo", "meta-pixel", "youtube", "hotjar")
MODES: tuple[RegionMode, ...] = ("opt_in", "uk_statistics", "opt_out", "notice")


@dataclass(frozen=True)
class Finding:
    category: str
    service_id: str | None
    service_name: str | None
    host: str | None


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    if not draw(st.booleans()):
        return replace(no_choice(POLICY), consent_id=draw(nasty_text | st.just("")))
    return no_choice(POLICY).with_choice(
        set(draw(st.sets(st.sampled_from(CATEGORY_IDS)))),
        source=draw(st.sampled_from(["banner", "preferences", "api"])),
        services=draw(st.frozensets(st.sampled_from(SERVICE_IDS))),
        denied_services=draw(st.frozensets(st.sampled_from(SERVICE_IDS))),
        now=draw(st.integers(0, 4_000_000_000)),
        gpc_applied=draw(st.booleans()),
        region=draw(st.sampled_from(["", "DE", "US-CA"])),
    )


@st.composite
def contexts(draw: st.DrawFn) -> RenderContext:
    consent = draw(consents())
    if consent.exists:
        consent = replace(consent, consent_id=draw(nasty_text))
    default = draw(st.none() | st.just({"ad_storage": "denied", "analytics_storage": "granted"}))
    return RenderContext(
        consent=consent,
        show_banner=draw(st.booleans()),
        locale=draw(st.sampled_from(["en", "de", "fr", "xx"])),
        csrf_token=draw(nasty_text),
        next_url=draw(nasty_text),
        nonce=draw(st.none() | nasty_text),
        met_services=tuple(
            POLICY.service(sid) for sid in draw(st.lists(st.sampled_from(SERVICE_IDS), unique=True))
        ),
        region_mode=draw(st.sampled_from(MODES)),
        gpc_honoured=draw(st.booleans()),
        consent_mode_default=default,
        extra_head=draw(st.just("") | nasty_text),
        banner_position=draw(st.sampled_from([None, "box", "center"])),
        choices_link_text=draw(st.sampled_from(["", "Your privacy choices <&>"])),
    )


findings = st.builds(
    Finding,
    category=st.sampled_from(CATEGORY_IDS),
    service_id=st.none() | st.sampled_from(SERVICE_IDS),
    service_name=st.none() | nasty_text,
    host=st.none() | st.sampled_from(["www.youtube.com", "embed.example.net"]),
)


@pytest.fixture(scope="module")
def cached() -> UI:
    # Small, so eviction happens during the run as well as hits.
    return UI(POLICY, cache_size=8)


@pytest.fixture(scope="module")
def fresh() -> UI:
    return UI(POLICY, cache_size=0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ctx=contexts(), finding=findings)
def test_cached_snippets_equal_a_fresh_render(
    cached: UI, fresh: UI, ctx: RenderContext, finding: Finding
) -> None:
    assert cached.head(ctx) == fresh.head(ctx)
    assert cached.body(ctx) == fresh.body(ctx)
    assert cached.placeholder(finding, ctx) == fresh.placeholder(finding, ctx)


@settings(max_examples=60, deadline=None)
@given(csrf=nasty_text, next_url=nasty_text, nonce=nasty_text, consent_id=nasty_text)
def test_a_cache_hit_with_another_visitors_strings_equals_a_fresh_render(
    cached: UI, fresh: UI, csrf: str, next_url: str, nonce: str, consent_id: str
) -> None:
    # The shape is fixed (rendered once, then a hit); only the per-visitor strings vary.
    consent = replace(choice(POLICY, {"analytics"}), consent_id=consent_id or "id")
    ctx = context(POLICY, consent, csrf_token=csrf, next_url=next_url, nonce=nonce or None)
    finding = Finding("marketing", "youtube", "YouTube", "www.youtube.com")
    cached.body(ctx)
    cached.head(ctx)
    cached.placeholder(finding, ctx)
    assert cached.head(ctx) == fresh.head(ctx)
    assert cached.body(ctx) == fresh.body(ctx)
    assert cached.placeholder(finding, ctx) == fresh.placeholder(finding, ctx)
    assert cached.body(ctx).isascii() and cached.head(ctx).isascii()


@settings(max_examples=60, deadline=None)
@given(now=st.integers(1, 253_402_300_799))
def test_the_choice_date_is_the_utc_time_of_the_choice(cached: UI, now: int) -> None:
    consent = no_choice(POLICY).with_choice(set(), source="banner", now=now)
    when = datetime.fromtimestamp(now, UTC)
    shown = f'<time datetime="{when:%Y-%m-%dT%H:%M:%SZ}">{when:%Y-%m-%d %H:%M} UTC</time>'
    assert shown.encode() in cached.body(context(POLICY, consent))


def test_pages_that_differ_only_in_visitor_strings_share_one_shape(policy: Policy) -> None:
    ui = UI(policy)
    for n in range(20):
        consent = no_choice(policy).with_choice({"analytics"}, source="banner", now=1_790_000_000 + n)
        ctx = context(policy, consent, csrf_token=f"token-{n}", next_url=f"/page/{n}?a=<{n}>", nonce=f"n{n}")
        ui.head(ctx)
        ui.body(ctx)
        ui.placeholder(Finding("marketing", "youtube", None, None), ctx)
    assert ui.cached_shapes() == {"head": 1, "body": 1, "placeholder": 1}


def test_the_cache_is_bounded(policy: Policy) -> None:
    ui = UI(policy, cache_size=3)
    for locale in ("en", "de", "fr", "it", "es"):
        ui.body(context(policy, locale=locale))
    assert ui.cached_shapes()["body"] == 3


def test_a_service_met_later_changes_the_shape(policy: Policy) -> None:
    ui = UI(policy)
    before = ui.body(context(policy))
    after = ui.body(context(policy, met_services=(policy.service("hotjar"),)))
    assert b'data-consentgate-service="hotjar"' not in before
    assert b'data-consentgate-service="hotjar"' in after
    assert ui.cached_shapes()["body"] == 2


@pytest.mark.parametrize("size", [-1, 1.5, True, "256"])
def test_a_bad_cache_size_is_refused(policy: Policy, size: object) -> None:
    with pytest.raises(UIConfigError, match="cache_size"):
        UI(policy, cache_size=size)  # type: ignore[arg-type]


def test_snippet_bytes_per_page_stay_small(policy: Policy) -> None:
    # Page weight is paid on every HTML response; this is the budget the report gives.
    ui = UI(policy)
    ctx = context(policy, met_services=tuple(policy.services))
    added = ui.head(ctx) + ui.body(ctx)
    assert len(gzip.compress(added)) < 3_000


@pytest.fixture
def policy() -> Policy:
    return make_policy()
