"""User-agent classification: is this a crawler, and which browser / OS / device class.

Crawlers get no banner and leave no audit record. Two sources decide ``is_bot``:

- ``user-agents`` (ua-parser's device family ``Spider``) — it misses about 40% of real crawler
  strings (docs/bots.md);
- the crawler-user-agents pattern list, compiled once into one regex (literal patterns merged
  into a trie so a lookup is one pass over the string, not 1,500 alternatives per position).

Left out of that list on purpose: patterns for *browser automation* (HeadlessChrome, Playwright,
Puppeteer, Selenium, PhantomJS, AI agents that browse for a person) and Lighthouse. Those render
the page as a visitor would, and consent-auditing tools (the EDPB Website Auditing Tool, our own
``selftest``) drive them: hiding the banner from them would hide the very thing they audit. A few
patterns that also match phone model names (HTC *Butterfly*, View*Sonic*) are anchored more
tightly.

The result is cached per distinct string in a bounded LRU, so the cost (~1 ms) is paid once per
user agent, not per request.

>>> classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").is_bot
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import crawleruseragents
import user_agents

__all__ = ["UAInfo", "classify", "crawler_pattern", "is_bot"]

Device = Literal["pc", "mobile", "tablet", "bot", "other"]

# Longer strings are not browsers; cutting them bounds both the parse time and the cache memory.
MAX_UA_LENGTH = 512
CACHE_SIZE = 4096

# Tags whose user agents render pages like a person's browser (see the module docstring).
_RENDERING_TAGS = frozenset({"browser-automation"})
_RENDERING_PATTERNS = frozenset({"Chrome-Lighthouse"})
# Patterns that also match device or app names in real browsers' strings -> stricter versions
# that still match every example crawler string the list gives for them.
_TIGHTER = {
    "Butterfly": r"Butterfly\/",
    "Sonic": r"(?:^|[^A-Za-z])Sonic\/|RankSonic",
    "speedy": r"[Ss]peedy[ _]?[Ss]pider",
    r"008\/": r"(?:^|[\s(;])008\/",
}
_REGEX_SYNTAX = re.compile(r"[.^$*+?{}\[\]|()\\]")


@dataclass(frozen=True)
class UAInfo:
    is_bot: bool
    browser: str  # family and major version, e.g. "Chrome 131"; "" when unknown
    os: str  # family and major version, e.g. "Windows 10"
    device: Device


def _literal(pattern: str) -> str | None:
    """The plain text a pattern stands for, or None if it uses regex syntax."""
    text = re.sub(r"\\([^A-Za-z0-9])", r"\1", pattern)
    return None if _REGEX_SYNTAX.search(text) else text


_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, with shared prefixes factored out."""
    trie: _Trie = {}
    for word in sorted(set(words)):
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word
    return _emit(trie)


def _emit(node: _Trie) -> str:
    if "" in node:
        # A search only needs *some* word to occur: the shorter one already does.
        return ""
    branches = [re.escape(char) + _emit(child) for char, child in sorted(node.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _patterns() -> list[str]:
    selected = []
    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
        pattern = str(entry.get("pattern", ""))
        tags = entry.get("tags") or []
        if not pattern or pattern in _RENDERING_PATTERNS or _RENDERING_TAGS.intersection(tags):
            continue
        selected.append(_TIGHTER.get(pattern, pattern))
    return selected


@lru_cache(maxsize=1)
def crawler_pattern() -> re.Pattern[str]:
    """The compiled crawler regex (built on first use, then shared)."""
    literals: list[str] = []
    regexes: list[str] = []
    for pattern in _patterns():
        text = _literal(pattern)
        if text is None:
            regexes.append(f"(?:{pattern})")
        else:
            literals.append(text)
    return re.compile("|".join([_trie_regex(literals), *regexes]))


@lru_cache(maxsize=CACHE_SIZE)
def _classify(user_agent: str) -> UAInfo:
    if not user_agent.strip():
        # Every browser sends a User-Agent; an empty one is a script.
        return UAInfo(is_bot=True, browser="", os="", device="bot")
    parsed = user_agents.parse(user_agent)
    bot = bool(parsed.is_bot) or crawler_pattern().search(user_agent) is not None
    return UAInfo(
        is_bot=bot,
        browser=_name(parsed.browser.family, parsed.browser.version),
        os=_name(parsed.os.family, parsed.os.version),
        device=_device(parsed, bot),
    )


def _name(family: object, version: object) -> str:
    family_text = str(family or "")
    if family_text == "Other":
        return ""
    if isinstance(version, tuple) and version:
        return f"{family_text} {version[0]}"
    return family_text


def _device(parsed: user_agents.parsers.UserAgent, bot: bool) -> Device:
    if bot:
        return "bot"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_pc:
        return "pc"
    return "other"


def classify(user_agent: str | None) -> UAInfo:
    """Classify a User-Agent header value (None or empty counts as a bot).

    >>> classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    ...          "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
    UAInfo(is_bot=False, browser='Chrome 131', os='Windows 10', device='pc')
    """
    return _classify((user_agent or "")[:MAX_UA_LENGTH])


def is_bot(user_agent: str | None) -> bool:
    return classify(user_agent).is_bot
