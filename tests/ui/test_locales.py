"""consentgate.ui.locales: the shipped texts, the site's overrides, Accept-Language."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.policy.model import CookieSpec, Policy
from consentgate.ui.locales import (
    BUILTIN_LANGUAGES,
    MAX_ACCEPT_LANGUAGE_ENTRIES,
    LocaleError,
    Locales,
    builtin_table,
    message_keys,
    parse_accept_language,
    text_direction,
)

from .uikit import make_policy

PLURAL_FORMS = {"pl": 3, "cs": 3}


@pytest.fixture
def locales() -> Locales:
    return Locales(make_policy())


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_every_language_has_every_key_with_a_real_text(language: str) -> None:
    table = builtin_table(language)
    assert tuple(table) == message_keys()
    for key, text in table.items():
        assert text.strip() == text and text, key
        assert "{" not in text, key
    for key in ("unit_minute", "unit_hour", "unit_day", "unit_month", "unit_year"):
        assert len(table[key].split("|")) == PLURAL_FORMS.get(language, 2), key


def test_languages_other_than_english_are_translated() -> None:
    english = builtin_table("en")
    for language in BUILTIN_LANGUAGES[1:]:
        table = builtin_table(language)
        assert table["reject_all"] != english["reject_all"], language
        assert table["banner_text"] != english["banner_text"], language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("en;q=0.1, sv;q=0.9", "sv"),
        ("ja, pt-BR;q=0.8", "pt"),
        ("ja, zh", "en"),
        ("*", "en"),
        ("da;q=0, fi;q=0.5", "fi"),
        ("cs;q=1.0, pl;q=1", "cs"),
        ("nl;q=2, it;q=0.3", "it"),
        ("en_GB", "en"),
        ("", "en"),
    ],
)
def test_accept_language_negotiation(locales: Locales, header: str, expected: str) -> None:
    assert locales.negotiate(header) == expected


def test_an_explicit_lang_wins_over_the_header(locales: Locales) -> None:
    assert locales.negotiate("de", "fr") == "fr"
    assert locales.negotiate("de", "FR-be") == "fr"
    assert locales.negotiate("de", "klingon") == "de"
    assert locales.negotiate(None, "<script>") == "en"
    assert locales.negotiate(None) == "en"


def test_only_the_policy_languages_are_offered() -> None:
    locales = Locales(make_policy(languages=("en", "pt-BR", "de"), default_language="de"))
    assert locales.available == ("en", "pt-BR", "de")
    assert locales.negotiate("pt-PT") == "pt-BR"
    assert locales.negotiate("pt-br") == "pt-BR"
    assert locales.negotiate("fr") == "de"
    assert locales.texts("pt-BR")["reject_all"] == builtin_table("pt")["reject_all"]
    assert locales.texts("fr") == locales.texts("de")


def test_the_default_language_must_be_offered() -> None:
    with pytest.raises(LocaleError) as error:
        Locales(make_policy(languages=("en", "de"), default_language="fr"))
    assert error.value.key == "default_language"


def test_a_language_tag_must_be_well_formed() -> None:
    with pytest.raises(LocaleError) as error:
        Locales(make_policy(languages=("en", "not a tag")))
    assert error.value.key == "languages[1]"


def test_texts_for_a_language_not_offered_are_refused() -> None:
    with pytest.raises(LocaleError) as error:
        Locales(make_policy(languages=("en",), notice={"de": {"reject_all": "Ablehnen"}}))
    assert error.value.key == "notice.de"


def test_a_new_language_needs_every_key() -> None:
    with pytest.raises(LocaleError) as error:
        Locales(make_policy(notice={"ja": {"reject_all": "x"}}))
    assert error.value.key == "notice.ja"
    assert "banner_title" in str(error.value)


def test_a_new_language_with_every_key_is_offered_and_negotiated() -> None:
    japanese = {key: f"ja:{key}" for key in message_keys()}
    japanese["unit_day"] = "日"
    locales = Locales(make_policy(notice={"ja": japanese}))
    assert "ja" in locales.available
    assert locales.negotiate("ja-JP, en;q=0.5") == "ja"
    assert locales.texts("ja")["reject_all"] == "ja:reject_all"
    assert locales.duration("ja", CookieSpec("x", lifetime_seconds=2 * 86_400)) == "2 日"


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_override_is_refused(text: str) -> None:
    with pytest.raises(LocaleError) as error:
        Locales(make_policy(notice={"en": {"save": text}}))
    assert error.value.key == "notice.en.save"


def test_parse_caps_the_number_of_entries() -> None:
    header = ",".join(f"en-x{i};q=0.5" for i in range(5000))
    assert len(parse_accept_language(header)) <= MAX_ACCEPT_LANGUAGE_ENTRIES


def test_thousands_of_entries_are_answered_quickly(locales: Locales) -> None:
    header = ", ".join(f"zz-{i};q=0.{i % 9 + 1}" for i in range(20_000)) + ", de"
    start = time.perf_counter()
    for _ in range(50):
        assert locales.negotiate(header + str(_)) == "en"  # "de" lies past the cap
    assert time.perf_counter() - start < 1.0


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(st.text(max_size=12), max_size=40).map(",".join)))
def test_junk_headers_never_raise_and_give_an_offered_language(header: str) -> None:
    locales = Locales(make_policy())
    assert locales.negotiate(header) in locales.available
    assert locales.negotiate(header, header) in locales.available
    for tag, quality in parse_accept_language(header):
        assert 0 < quality <= 1 and tag == tag.lower()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([*BUILTIN_LANGUAGES, "ja", "zh-Hant", "*"]), st.integers(0, 1000)),
        min_size=1,
        max_size=8,
    )
)
def test_the_best_quality_offered_language_wins(entries: list[tuple[str, int]]) -> None:
    locales = Locales(make_policy())
    header = ", ".join(f"{tag};q={q / 1000:.3f}" for tag, q in entries)
    ranked = sorted(((q, -i, tag) for i, (tag, q) in enumerate(entries) if q > 0), reverse=True)
    expected = "en"
    for _q, _i, tag in ranked:
        if tag == "*" or tag in BUILTIN_LANGUAGES:
            expected = "en" if tag == "*" else tag
            break
    assert locales.negotiate(header) == expected


@pytest.mark.parametrize(
    ("language", "seconds", "expected"),
    [
        ("en", 390 * 86_400, "13 months"),
        ("en", 2 * 365 * 86_400, "2 years"),
        ("en", 365 * 86_400, "1 year"),
        ("en", 86_400, "1 day"),
        ("en", 100_000, "1 day"),
        ("en", 1800, "30 minutes"),
        ("en", 7200, "2 hours"),
        ("en", 59, "1 minute"),
        ("de", 30 * 86_400, "1 Monat"),
        ("fr", 2 * 365 * 86_400, "2 ans"),
        ("pl", 2 * 365 * 86_400, "2 lata"),
        ("pl", 5 * 365 * 86_400, "5 lat"),
        ("pl", 22 * 365 * 86_400, "22 lata"),
        ("pl", 12 * 365 * 86_400, "12 lat"),
        ("cs", 3 * 86_400, "3 dny"),
        ("cs", 5 * 86_400, "5 dní"),
        ("fi", 2 * 86_400, "2 päivää"),
    ],
)
def test_cookie_lifetimes_read_naturally(
    locales: Locales, language: str, seconds: int, expected: str
) -> None:
    assert locales.duration(language, CookieSpec("x", lifetime_seconds=seconds)) == expected


def test_session_cookies_and_free_text_lifetimes(locales: Locales) -> None:
    assert locales.duration("de", CookieSpec("x")) == builtin_table("de")["session"]
    assert locales.duration("en", CookieSpec("x", lifetime="until logout")) == "until logout"


def test_an_empty_policy_offers_every_built_in_language() -> None:
    locales = Locales(Policy(categories=(), services=()))
    assert locales.available == BUILTIN_LANGUAGES
    assert locales.default == "en"


def test_overrides_apply_to_their_language_only() -> None:
    policy = make_policy(notice={"de": {"save": "Speichern"}})
    locales = Locales(replace(policy))
    assert locales.texts("de")["save"] == "Speichern"
    assert locales.texts("en")["save"] == "Save choices"


@pytest.mark.parametrize(
    ("language", "direction"),
    [
        ("he", "rtl"),
        ("iw", "rtl"),
        ("ar", "rtl"),
        ("ar-EG", "rtl"),
        ("fa-IR", "rtl"),
        ("ur", "rtl"),
        ("yi", "rtl"),
        ("ckb", "rtl"),
        ("ku-Arab", "rtl"),  # the script decides
        ("az-Arab-IR", "rtl"),
        ("pa-Arab", "rtl"),
        ("ku", "ltr"),
        ("az", "ltr"),
        ("ar-Latn", "ltr"),
        ("en", "ltr"),
        ("de-CH", "ltr"),
        ("sr-Cyrl", "ltr"),
        ("zh-Hant-TW", "ltr"),
        ("en_GB", "ltr"),
    ],
)
def test_text_direction_follows_the_language_and_its_script(language: str, direction: str) -> None:
    assert text_direction(language) == direction
