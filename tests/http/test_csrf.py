from __future__ import annotations

import time

import pytest

from consentgate.consent.state import new_consent_id
from consentgate.http.csrf import CsrfTokens

OLD, NEW = "o" * 32, "n" * 32


def test_a_token_names_the_consent_id_it_was_issued_for() -> None:
    tokens = CsrfTokens([NEW])
    consent_id = new_consent_id()
    assert tokens.verify(tokens.issue(consent_id)) == consent_id


def test_a_tampered_token_is_refused() -> None:
    tokens = CsrfTokens([NEW])
    token = tokens.issue(new_consent_id())
    forged = new_consent_id() + token[22:]
    assert tokens.verify(forged) is None
    middle = len(token) - 10  # inside the signature
    flipped = "A" if token[middle] != "A" else "B"
    assert tokens.verify(token[:middle] + flipped + token[middle + 1 :]) is None
    assert tokens.verify("") is None
    assert tokens.verify("x" * 300) is None


def test_a_token_expires_after_its_max_age() -> None:
    tokens = CsrfTokens([NEW], max_age=3600)
    token = tokens.issue(new_consent_id())
    assert tokens.verify(token, now=time.time() + 3500) is not None
    assert tokens.verify(token, now=time.time() + 3700) is None
    assert tokens.verify(token, now=time.time() - 3600) is None  # issued "in the future"


def test_tokens_signed_with_the_previous_key_verify_after_rotation() -> None:
    token = CsrfTokens([OLD]).issue(new_consent_id())
    rotated = CsrfTokens([NEW, OLD])
    assert rotated.verify(token) is not None
    assert CsrfTokens([NEW]).verify(token) is None
    assert CsrfTokens([OLD]).verify(rotated.issue(new_consent_id())) is None  # the first key signs


def test_a_consent_cookie_value_is_not_a_token() -> None:
    from consentgate.consent.cookie import ConsentCookie
    from consentgate.consent.state import Consent
    from consentgate.policy.model import Category, Policy

    policy = Policy(categories=(Category("necessary", {"en": "N"}, {}, required=True),), services=())
    value = ConsentCookie([NEW], policy).dumps(Consent.none().with_choice(set(), source="banner"))
    assert CsrfTokens([NEW]).verify(value) is None


def test_max_age_must_be_positive() -> None:
    with pytest.raises(ValueError, match="csrf_max_age"):
        CsrfTokens([NEW], max_age=0)
