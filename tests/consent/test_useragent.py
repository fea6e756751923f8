from __future__ import annotations

import json
from pathlib import Path

import crawleruseragents
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.consent.useragent import MAX_UA_LENGTH, UAInfo, classify, crawler_pattern, is_bot

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36"
)


def test_desktop_chrome_is_a_person_on_a_pc() -> None:
    assert classify(CHROME_WINDOWS) == UAInfo(
        is_bot=False, browser="Chrome 131", os="Windows 10", device="pc"
    )


def test_phones_and_tablets_are_told_apart() -> None:
    assert classify(IPHONE).device == "mobile"
    assert classify(IPAD).device == "tablet"
    assert classify(IPHONE).os == "iOS 17"


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "",
    ],
)
def test_crawlers_and_scripts_are_bots(user_agent: str) -> None:
    info = classify(user_agent)
    assert info.is_bot and info.device == "bot"
    assert is_bot(user_agent)


def test_missing_user_agent_counts_as_a_bot() -> None:
    assert is_bot(None)


def test_rendering_browsers_used_by_auditors_see_the_banner() -> None:
    # Headless Chromium and Lighthouse render the page like a visitor's browser; consent audits
    # (and our own selftest) drive them, so they must get what people get.
    assert not is_bot(HEADLESS)
    assert not is_bot(CHROME_WINDOWS + " Chrome-Lighthouse")


@pytest.mark.parametrize(
    "user_agent",
    [
        # phone models whose names contain a crawler pattern
        "Mozilla/5.0 (Linux; Android 4.1.1; HTC Butterfly Build/JRO03C) AppleWebKit/535.19 "
        "(KHTML, like Gecko) Chrome/18.0.1025.166 Mobile Safari/535.19",
        "Mozilla/5.0 (Linux; U; Android 2.2.2; En-us; ViewSonic-ViewPad4 Build/FRG83G) AppleWebKit/533.1 "
        "(KHTML, Like Gecko) Version/4.0 Mobile Safari/533.1",
    ],
)
def test_device_names_that_contain_crawler_words_are_people(user_agent: str) -> None:
    assert not is_bot(user_agent)


def test_every_listed_crawler_example_is_detected() -> None:
    """The trie-compiled regex (and the tightened patterns) still match every example string."""
    pattern = crawler_pattern()
    missed = []
    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
        if "browser-automation" in (entry.get("tags") or []) or entry["pattern"] == "Chrome-Lighthouse":
            continue
        missed += [ua for ua in entry.get("instances", []) if pattern.search(ua) is None]
    assert missed == []


def test_results_are_cached_per_distinct_string() -> None:
    assert classify(IPHONE) is classify(IPHONE)


def test_very_long_user_agents_are_cut_before_parsing() -> None:
    long_ua = CHROME_WINDOWS + " x" * 10_000
    assert classify(long_ua) is classify(long_ua[:MAX_UA_LENGTH])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600))
def test_arbitrary_user_agents_never_raise(user_agent: str) -> None:
    info = classify(user_agent)
    assert info.device in {"pc", "mobile", "tablet", "bot", "other"}


@pytest.mark.corpus
def test_bot_detection_rates_on_the_labelled_corpus(shared_dir: Path) -> None:
    """Targets: >= 95% of labelled crawlers detected, <= 0.5% of people taken for bots.

    The figures and how they were measured are in docs/bots.md.
    """
    corpus = json.loads((shared_dir / "corpora" / "ua" / "ua_labeled.json").read_text("utf-8"))
    entries = corpus["entries"]
    bots = [e["ua"] for e in entries if e["label"] == "bot"]
    people = [e["ua"] for e in entries if e["label"] == "human"]
    detected = sum(is_bot(ua) for ua in bots)
    false_positives = sum(is_bot(ua) for ua in people)
    assert detected / len(bots) >= 0.95, (detected, len(bots))
    assert false_positives / len(people) <= 0.005, (false_positives, len(people))
