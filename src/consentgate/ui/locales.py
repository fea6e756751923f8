"""UI strings: one built-in table per language, the site's overrides, Accept-Language negotiation.

Every text the visitor reads comes from here, so the notice archive (``UI.notice``) can record
exactly what was shown. A site replaces any string with ``[notice.<locale>] key = "…"``; an
unknown key is refused at start-up rather than silently ignored.

References:
- RFC 9110 §12.5.4 (Accept-Language), §12.4.2 (qvalues); RFC 4647 §3.4 (lookup)
- CLDR plural rules (one / few / other for the languages shipped here)
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from importlib import resources
from itertools import islice
from types import MappingProxyType

from consentgate.policy.model import CookieSpec, Policy

__all__ = [
    "BUILTIN_LANGUAGES",
    "MAX_ACCEPT_LANGUAGE_ENTRIES",
    "MAX_ACCEPT_LANGUAGE_LENGTH",
    "LocaleError",
    "Locales",
    "builtin_table",
    "message_keys",
    "parse_accept_language",
    "text_direction",
]

BUILTIN_LANGUAGES: tuple[str, ...] = (
    "en",
    "de",
    "fr",
    "es",
    "it",
    "nl",
    "pt",
    "pl",
    "sv",
    "da",
    "fi",
    "cs",
)

# A header is attacker-controlled: bound the work before looking at it. Browsers send a handful
# of entries; nothing legitimate comes near these limits.
MAX_ACCEPT_LANGUAGE_LENGTH = 1024
MAX_ACCEPT_LANGUAGE_ENTRIES = 24

_TAG = re.compile(r"^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$")
# Languages written right to left in their usual script, and the right-to-left scripts (a
# script subtag decides: `ku-arab` is, `ku` is not; `az-arab` is, `az` is not).
_RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ps", "sd", "syr", "ug", "ur", "yi"})
_RTL_SCRIPTS = frozenset({"adlm", "arab", "hebr", "mand", "nkoo", "rohg", "samr", "syrc", "thaa"})
_LTR_SCRIPTS = frozenset({"latn", "cyrl"})
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")

_UNITS: tuple[tuple[str, int], ...] = (
    ("unit_year", 365 * 86_400),
    ("unit_month", 30 * 86_400),
    ("unit_day", 86_400),
    ("unit_hour", 3_600),
    ("unit_minute", 60),
)


class LocaleError(ValueError):
    """Bad language configuration; ``key`` is the dotted policy key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@cache
def builtin_table(language: str) -> Mapping[str, str]:
    """The shipped texts of one built-in language (KeyError for others)."""
    if language not in BUILTIN_LANGUAGES:
        raise KeyError(language)
    raw = resources.files("consentgate.ui").joinpath("locales", f"{language}.json").read_text("utf-8")
    data = json.loads(raw)
    return MappingProxyType({str(k): str(v) for k, v in data.items()})


@cache
def message_keys() -> tuple[str, ...]:
    """Every message key, in the order of the English table."""
    return tuple(builtin_table("en"))


@cache  # (called per render; the tags are the policy's offered languages)
def text_direction(language: str) -> str:
    """``"rtl"`` for a language tag written right to left, else ``"ltr"``: the ``dir`` of every
    layer the UI puts in a page, which must not inherit the page's own direction.

    >>> text_direction("he"), text_direction("ar-EG"), text_direction("ku-Arab"), text_direction("en")
    ('rtl', 'rtl', 'rtl', 'ltr')
    """
    parts = language.lower().replace("_", "-").split("-")
    scripts = {part for part in parts[1:] if len(part) == 4 and part.isalpha()}
    if scripts & _RTL_SCRIPTS:
        return "rtl"
    return "rtl" if parts[0] in _RTL_LANGUAGES and not scripts & _LTR_SCRIPTS else "ltr"


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """(lower-case tag, q) pairs, best first; junk entries are skipped, never raised on.

    >>> parse_accept_language("de-CH, fr;q=0.8, *;q=0.1, en;q=junk")
    [('de-ch', 1.0), ('fr', 0.8), ('*', 0.1)]
    """
    entries: list[tuple[str, float]] = []
    parts = header[:MAX_ACCEPT_LANGUAGE_LENGTH].split(",")
    for part in islice(parts, MAX_ACCEPT_LANGUAGE_ENTRIES):
        tag, _, params = part.partition(";")
        tag = tag.strip().lower().replace("_", "-")
        if tag != "*" and not _TAG.match(tag):
            continue
        quality = 1.0
        for param in params.split(";") if params else ():
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                quality = float(value) if _QVALUE.match(value) else -1.0
        if quality > 0:  # q=0 means "not acceptable"
            entries.append((tag, quality))
    entries.sort(key=lambda entry: -entry[1])  # stable: equal q keeps the visitor's order
    return entries


def _plural_one_other(n: int) -> int:
    return 0 if n == 1 else 1


def _plural_zero_one_other(n: int) -> int:
    return 0 if n in (0, 1) else 1


def _plural_polish(n: int) -> int:
    if n == 1:
        return 0
    return 1 if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else 2


def _plural_czech(n: int) -> int:
    if n == 1:
        return 0
    return 1 if n in (2, 3, 4) else 2


_PLURALS: Mapping[str, Callable[[int], int]] = {
    "fr": _plural_zero_one_other,
    "pt": _plural_zero_one_other,
    "pl": _plural_polish,
    "cs": _plural_czech,
}


class Locales:
    """The language tables of one policy, merged and checked once.

    >>> from consentgate.policy.model import Policy
    >>> locales = Locales(Policy(categories=(), services=(), languages=("en", "de")))
    >>> locales.negotiate("fr;q=1, de-AT;q=0.5"), locales.texts("de")["reject_all"]
    ('de', 'Alle ablehnen')
    """

    def __init__(self, policy: Policy) -> None:
        keys = message_keys()
        extra = tuple(loc for loc in policy.notice if _base(loc) not in BUILTIN_LANGUAGES)
        offered = policy.languages or (*BUILTIN_LANGUAGES, *extra)
        tables: dict[str, Mapping[str, str]] = {}
        for position, language in enumerate(offered):
            if not _TAG.match(language.lower()):
                raise LocaleError(f"languages[{position}]", f"{language!r} is not a BCP 47 tag")
            tables[language] = self._table(language, policy.notice, keys)
        for locale in policy.notice:
            if locale not in tables:
                raise LocaleError(
                    f"notice.{locale}",
                    f"texts for a language that is not offered; add {locale!r} to `languages`",
                )
        if policy.default_language not in tables:
            raise LocaleError(
                "default_language",
                f"{policy.default_language!r} is not one of the offered languages ({', '.join(tables)})",
            )
        self.available: tuple[str, ...] = tuple(tables)
        self.default = policy.default_language
        self._tables = tables
        self._exact = {language.lower(): language for language in tables}
        self._by_base: dict[str, str] = {}
        for language in tables:
            self._by_base.setdefault(_base(language), language)
        # The same few headers arrive again and again; the cache is bounded like every other one.
        self._negotiate = lru_cache(maxsize=1024)(self._negotiate_uncached)

    @staticmethod
    def _table(
        language: str, notice: Mapping[str, Mapping[str, str]], keys: tuple[str, ...]
    ) -> Mapping[str, str]:
        merged: dict[str, str] = {}
        base = _base(language)
        shipped = base in BUILTIN_LANGUAGES
        if shipped:
            merged.update(builtin_table(base))
        overrides = notice.get(language, {})
        for key, text in overrides.items():
            if key not in keys:
                hint = difflib.get_close_matches(key, keys, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise LocaleError(f"notice.{language}.{key}", f"unknown message key{suggestion}")
            if not isinstance(text, str) or not text.strip():
                raise LocaleError(f"notice.{language}.{key}", "must be a non-empty string")
            merged[key] = text
        if not shipped:
            missing = [key for key in keys if key not in merged]
            if missing:
                raise LocaleError(
                    f"notice.{language}",
                    f"{language!r} has no built-in texts; give every key (missing: "
                    f"{', '.join(missing[:5])}{', …' if len(missing) > 5 else ''})",
                )
        return MappingProxyType(merged)

    def texts(self, language: str) -> Mapping[str, str]:
        """The merged table of an offered language (the default language's for any other)."""
        return self._tables.get(language) or self._tables[self.default]

    def negotiate(self, accept_language: str | None, override: str | None = None) -> str:
        """The offered language that best matches an explicit ``lang`` or the header."""
        if override:
            chosen = self._match(override.strip().lower().replace("_", "-")[:35])
            if chosen is not None:
                return chosen
        if not accept_language:
            return self.default
        return self._negotiate(accept_language[:MAX_ACCEPT_LANGUAGE_LENGTH])

    def _negotiate_uncached(self, header: str) -> str:
        for tag, _quality in parse_accept_language(header):
            if tag == "*":
                return self.default
            chosen = self._match(tag)
            if chosen is not None:
                return chosen
        return self.default

    def _match(self, tag: str) -> str | None:
        # RFC 4647 lookup, shortened: the exact tag, then any offered tag with the same language.
        exact = self._exact.get(tag)
        if exact is not None:
            return exact
        return self._by_base.get(_base(tag))

    def duration(self, language: str, spec: CookieSpec) -> str:
        """How long a cookie lives, in words of ``language``."""
        table = self.texts(language)
        seconds = spec.lifetime_seconds
        if seconds is None:
            return table["session"] if spec.lifetime.strip().lower() in ("", "session") else spec.lifetime
        plural = _PLURALS.get(_base(language), _plural_one_other)
        for key, size in _UNITS:
            if seconds >= size and (seconds % size == 0 or key == "unit_day"):
                count = round(seconds / size)
                forms = table[key].split("|")
                return f"{count} {forms[min(plural(count), len(forms) - 1)]}"
        count = max(1, -(-seconds // 60))
        forms = table["unit_minute"].split("|")
        return f"{count} {forms[min(plural(count), len(forms) - 1)]}"


def _base(tag: str) -> str:
    return tag.lower().split("-", 1)[0]
