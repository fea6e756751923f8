"""Which control a visible label names, in the languages sites use."""

from __future__ import annotations

import pytest

from consentgate.selftest.labels import classify_label, normalise, reopen_rank


@pytest.mark.parametrize(
    "label",
    [
        "Reject all",
        "REJECT ALL COOKIES",
        "Decline",
        "Only necessary cookies",
        "Accept only necessary cookies",
        "Continue without accepting",
        "✕ Refuser",
        "Alle ablehnen",
        "Alle Cookies ablehnen",
        "Nur notwendige Cookies akzeptieren",
        "Tout refuser",
        "Rechazar todo",
        "Rifiuta tutto",
        "Alles weigeren",
        "Rejeitar",
        "Odrzuć wszystkie",
        "Avvisa alla",
        "Afvis alle",
        "Hylkää kaikki",
        "Odmítnout vše",
    ],
)
def test_reject_labels_in_common_languages_are_reject(label: str) -> None:
    assert classify_label(label) is not None
    assert classify_label(label)[0] == "reject"  # type: ignore[index]


@pytest.mark.parametrize(
    "label",
    [
        "Accept all",
        "Accept all cookies",
        "Allow all",
        "Alle akzeptieren",
        "Tout accepter",
        "Aceptar todo",
        "Accetta tutto",
        "Alles accepteren",
        "Aceitar tudo",
        "Zaakceptuj wszystkie",
        "Acceptera alla",
        "Hyväksy kaikki",
        "Přijmout vše",
        "I agree",
    ],
)
def test_accept_labels_in_common_languages_are_accept(label: str) -> None:
    assert classify_label(label) == ("accept", classify_label(label)[1])  # type: ignore[index]


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("Settings", "settings"),
        ("Manage options", "settings"),
        ("Einstellungen", "settings"),
        ("Personnaliser", "settings"),
        ("Save my choices", "save"),
        ("Auswahl akzeptieren", "save"),
        ("Accept selected", "save"),
    ],
)
def test_settings_and_save_labels(label: str, kind: str) -> None:
    found = classify_label(label)
    assert found is not None and found[0] == kind


@pytest.mark.parametrize(
    "label",
    ["Learn how we use cookies and how to reject them in our cookie policy", "Home", "", "×", "Read more"],
)
def test_long_or_unrelated_labels_name_no_control(label: str) -> None:
    assert classify_label(label) is None


def test_all_wording_outranks_the_bare_verb() -> None:
    reject_all = classify_label("Reject all")
    reject = classify_label("Reject")
    assert reject_all is not None and reject is not None
    assert reject_all[1] < reject[1]


def test_exact_phrase_outranks_a_longer_label() -> None:
    exact = classify_label("Accept")
    longer = classify_label("Accept cookies and continue")
    assert exact is not None and longer is not None
    assert exact[1] < longer[1]


@pytest.mark.parametrize(
    "label", ["Cookie settings", "Your Privacy Choices", "Cookie-Einstellungen", "Cookies"]
)
def test_reopen_controls_are_found_by_name(label: str) -> None:
    assert reopen_rank(label) is not None


@pytest.mark.parametrize(
    "label", ["Privacy policy", "Cookie policy", "Datenschutz", "Settings", "Reject all"]
)
def test_policy_links_and_plain_settings_are_not_reopen_controls(label: str) -> None:
    assert reopen_rank(label) is None


def test_normalise_folds_case_spacing_apostrophes_and_edge_symbols() -> None:
    assert normalise("  ✕  I DON’T\n accept → ") == "i don't accept"
