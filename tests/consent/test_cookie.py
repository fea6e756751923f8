from __future__ import annotations

import base64
import re
import string
from dataclasses import replace
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.consent.cookie import MAX_COOKIE_BYTES, SOURCE_CODES, ConsentCookie
from consentgate.consent.state import Consent, Source
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy

KEY_A = "a" * 16 + "A" * 16
KEY_B = "b" * 16 + "B" * 16
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_dict({"services": {"matomo": {"category": "analytics"}, "chat": {"category": "preferences"}}})


@pytest.fixture
def cookie(policy: Policy) -> ConsentCookie:
    return ConsentCookie([KEY_A], policy)


def granted(
    policy: Policy,
    *,
    services: frozenset[str] | set[str] = frozenset(),
    denied_services: frozenset[str] | set[str] = frozenset(),
    gpc_applied: bool = False,
    region: str = "FR",
    fingerprint: str | None = None,
    now: int = NOW,
) -> Consent:
    return Consent.none(policy.service_categories).with_choice(
        {"analytics"},
        source="banner",
        services=services,
        denied_services=denied_services,
        fingerprint=policy.fingerprint() if fingerprint is None else fingerprint,
        now=now,
        gpc_applied=gpc_applied,
        region=region,
    )


def test_a_choice_round_trips(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy, services={"chat"}, denied_services={"matomo"}, gpc_applied=True, region="US-CA")
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW + 10)
    assert status == "ok"
    assert loaded == consent
    assert loaded.exists
    assert loaded.allows("analytics") and not loaded.allows("matomo") and loaded.allows("chat")


def test_the_default_policy_cookie_stays_within_512_bytes() -> None:
    policy = load_dict({})
    consent = granted(policy, region="US-CA", gpc_applied=True)
    header = ConsentCookie([KEY_A], policy).set_cookie(consent, secure=True, now=NOW)
    assert len(header.encode()) <= 512


def test_set_cookie_has_the_required_attributes(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy)
    header = cookie.set_cookie(consent, secure=True, now=NOW + 100)
    name, _, rest = header.partition("=")
    assert name == "__Host-consentgate"
    attributes = [part.strip() for part in rest.split(";")[1:]]
    assert f"Max-Age={consent.expires_at - NOW - 100}" in attributes
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Secure"} <= set(attributes)
    assert not any(a.startswith("Domain=") for a in attributes)


def test_plain_http_gets_no_secure_and_no_prefix(cookie: ConsentCookie, policy: Policy) -> None:
    header = cookie.set_cookie(granted(policy), secure=False, now=NOW)
    assert header.startswith("consentgate=")
    assert "Secure" not in header
    assert cookie.name(secure=False) == "consentgate"


def test_a_shared_domain_drops_the_host_prefix() -> None:
    policy = load_dict({"cookie": {"domain": "example.com", "name": "cg"}})
    cookie = ConsentCookie([KEY_A], policy)
    header = cookie.set_cookie(granted(policy), secure=True, now=NOW)
    assert header.startswith("cg=")
    assert "; Domain=example.com;" in header and "; Secure" in header


@pytest.mark.parametrize(("mode", "secure", "expected"), [("always", False, True), ("never", True, False)])
def test_secure_setting_overrides_the_request(mode: str, secure: bool, expected: bool) -> None:
    policy = load_dict({"cookie": {"secure": mode}})
    header = ConsentCookie([KEY_A], policy).set_cookie(granted(policy), secure=secure, now=NOW)
    assert ("; Secure" in header) is expected
    assert header.startswith("__Host-") is expected


def test_max_age_is_never_negative(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy)
    assert "Max-Age=0;" in cookie.set_cookie(consent, secure=True, now=consent.expires_at + 5)


def test_delete_cookie_expires_the_same_name(cookie: ConsentCookie) -> None:
    header = cookie.delete_cookie(secure=True)
    assert header.startswith("__Host-consentgate=;")
    assert "Max-Age=0" in header and "Path=/" in header and "Secure" in header


def test_a_consent_without_fingerprint_gets_the_policys(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy, fingerprint="")
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW)
    assert status == "ok"
    assert loaded.fingerprint == policy.fingerprint()


def test_a_non_standard_consent_id_round_trips(cookie: ConsentCookie, policy: Policy) -> None:
    consent = Consent.none(policy.service_categories, consent_id="legacy-id-42").with_choice(
        set(), source="api", fingerprint=policy.fingerprint(), now=NOW
    )
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW)
    assert (status, loaded.consent_id) == ("ok", "legacy-id-42")


# -- refusals: each gives "no choice" --------------------------------------------------------------
def assert_no_choice(result: tuple[Consent, str], status: str) -> None:
    consent, got = result
    assert got == status
    assert not consent.exists
    assert not consent.allows("analytics") and not consent.allows("marketing")
    assert consent.allows("necessary")


def test_missing_cookie_is_no_choice(cookie: ConsentCookie) -> None:
    assert_no_choice(cookie.loads(None), "missing")
    assert_no_choice(cookie.loads(""), "missing")


def test_tampered_cookie_is_no_choice(cookie: ConsentCookie, policy: Policy) -> None:
    value = cookie.dumps(granted(policy))
    version, body, signature = value.split(".")
    payload = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[-3] ^= 0x01
    forged = base64.urlsafe_b64encode(bytes(payload)).rstrip(b"=").decode()
    assert_no_choice(cookie.loads(f"{version}.{forged}.{signature}", now=NOW), "bad_signature")


def test_every_single_character_change_is_refused(cookie: ConsentCookie, policy: Policy) -> None:
    original = granted(policy)
    value = cookie.dumps(original)
    for index, char in enumerate(value):
        replacement = "A" if char != "A" else "B"
        changed = value[:index] + replacement + value[index + 1 :]
        consent, status = cookie.loads(changed, now=NOW)
        # The last base64 character of the signature carries padding bits that decoding drops,
        # so a change there can still verify; it must then decode to exactly the same choice.
        assert status != "ok" or consent == original, (index, status)
        assert status in {"bad_signature", "malformed", "ok"}


def test_truncated_cookie_is_no_choice(cookie: ConsentCookie, policy: Policy) -> None:
    value = cookie.dumps(granted(policy))
    for cut in (1, 5, len(value) // 2, len(value) - 1):
        consent, status = cookie.loads(value[:cut], now=NOW)
        assert status in {"malformed", "bad_signature"}
        assert not consent.exists


def test_expired_cookie_is_no_choice(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy)
    assert_no_choice(cookie.loads(cookie.dumps(consent), now=consent.expires_at), "expired")


def test_expiry_is_checked_on_cache_hits(cookie: ConsentCookie, policy: Policy) -> None:
    consent = granted(policy)
    value = cookie.dumps(consent)
    assert cookie.loads(value, now=NOW)[1] == "ok"
    assert cookie.loads(value, now=NOW + 1)[1] == "ok"  # served from the cache
    assert_no_choice(cookie.loads(value, now=consent.expires_at + 1), "expired")


def test_wrong_key_is_no_choice(policy: Policy) -> None:
    value = ConsentCookie([KEY_B], policy).dumps(granted(policy))
    assert_no_choice(ConsentCookie([KEY_A], policy).loads(value, now=NOW), "bad_signature")


def test_stale_fingerprint_is_no_choice(policy: Policy) -> None:
    old_value = ConsentCookie([KEY_A], policy).dumps(granted(policy))
    changed = load_dict(
        {
            "services": {
                "matomo": {"category": "analytics"},
                "chat": {"category": "preferences"},
                "new-ads": {"category": "marketing", "hosts": ["ads.example.net"]},
            }
        }
    )
    assert changed.fingerprint() != policy.fingerprint()
    assert_no_choice(ConsentCookie([KEY_A], changed).loads(old_value, now=NOW), "stale_policy")


def test_oversized_cookie_is_refused_before_any_work(cookie: ConsentCookie) -> None:
    assert_no_choice(cookie.loads("1." + "A" * MAX_COOKIE_BYTES + ".sig"), "oversized")


@pytest.mark.parametrize("value", ["junk", "1.", "1..", "2.AAAA.BBBB", "1.AA AA.BB", "1.AAAA.BB.CC", "ü"])
def test_malformed_cookie_is_no_choice(cookie: ConsentCookie, value: str) -> None:
    assert_no_choice(cookie.loads(value), "malformed")


def test_a_signed_but_undecodable_payload_is_malformed(policy: Policy) -> None:
    import hashlib

    from itsdangerous import Signer

    from consentgate.consent.cookie import SALT

    signer = Signer([KEY_A.encode()], salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
    for payload in (b"", b"\xff", bytes(40)):
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode() or "AA"
        value = signer.sign(f"1.{body}").decode()
        assert_no_choice(ConsentCookie([KEY_A], policy).loads(value, now=NOW), "malformed")


# -- keys -----------------------------------------------------------------------------------------
def test_rotation_the_first_key_signs_and_old_keys_still_verify(policy: Policy) -> None:
    old = ConsentCookie([KEY_A], policy)
    rotated = ConsentCookie([KEY_B, KEY_A], policy)
    consent = granted(policy)
    assert rotated.loads(old.dumps(consent), now=NOW) == (consent, "ok")
    new_value = rotated.dumps(consent)
    assert ConsentCookie([KEY_B], policy).loads(new_value, now=NOW)[1] == "ok"
    assert old.loads(new_value, now=NOW)[1] == "bad_signature"


@pytest.mark.parametrize("keys", [["short"], [KEY_A, "x" * 31], [b"y" * 31]])
def test_short_secret_keys_are_refused_with_a_hint(policy: Policy, keys: list[str | bytes]) -> None:
    with pytest.raises(ValueError, match=r"secret_keys.*secrets\.token_urlsafe\(32\)"):
        ConsentCookie(keys, policy)


def test_no_secret_key_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="secret_keys"):
        ConsentCookie([], policy)


def test_a_single_string_key_is_one_key_not_a_list_of_characters(policy: Policy) -> None:
    cookie = ConsentCookie(KEY_A, policy)
    assert cookie.loads(cookie.dumps(granted(policy)), now=NOW)[1] == "ok"


def test_bytes_keys_are_accepted(policy: Policy) -> None:
    cookie = ConsentCookie([KEY_A.encode()], policy)
    assert ConsentCookie([KEY_A], policy).loads(cookie.dumps(granted(policy)), now=NOW)[1] == "ok"


def test_every_consent_source_has_a_code() -> None:
    assert set(SOURCE_CODES) == set(get_args(Source))


def test_the_cache_is_bounded(policy: Policy) -> None:
    cookie = ConsentCookie([KEY_A], policy, cache_size=2)
    values = [cookie.dumps(granted(policy, now=NOW + i)) for i in range(5)]
    for value in values:
        assert cookie.loads(value, now=NOW + 10)[1] == "ok"
    assert len(cookie._cache) == 2


# -- size: degrade, never exceed ---------------------------------------------------------------------
def test_too_many_overrides_degrade_without_allowing_more() -> None:
    services = {f"svc-{i:03d}-{'x' * 40}": {"category": "marketing"} for i in range(300)}
    policy = load_dict({"include_catalog": False, "services": services})
    catalog_like = {f"gone-{'y' * 50}-{i}" for i in range(80)}
    consent = Consent.none(policy.service_categories).with_choice(
        {"analytics", "marketing"},
        source="preferences",
        services=set(services) | catalog_like,
        denied_services=set(list(services)[:200]),
        fingerprint=policy.fingerprint(),
        now=NOW,
    )
    cookie = ConsentCookie([KEY_A], policy)
    header = cookie.set_cookie(consent, secure=True, now=NOW)
    assert len(header.encode()) < MAX_COOKIE_BYTES
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW)
    assert status == "ok"
    for service in services:
        assert consent.allows(service) or not loaded.allows(service)


_IDS = st.text(alphabet=string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=40).filter(
    lambda s: s[0].isalnum()
)


@st.composite
def policies_and_consents(draw: st.DrawFn) -> tuple[Policy, Consent]:
    extra = draw(
        st.lists(
            st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=20),
            max_size=60,
            unique=True,
        ).map(lambda ids: [i for i in ids if i not in {"necessary", "preferences", "analytics", "marketing"}])
    )
    categories = {cid: {"label": cid.title()} for cid in extra}
    all_categories = ["preferences", "analytics", "marketing", *extra]
    service_ids = draw(st.lists(_IDS, max_size=80, unique=True))
    services = {
        sid: {"category": draw(st.sampled_from(all_categories))}
        for sid in service_ids
        if sid not in categories and sid not in all_categories
    }
    include_catalog = draw(st.booleans())
    policy = load_dict({"categories": categories, "services": services, "include_catalog": include_catalog})
    known = [s.id for s in policy.services]
    chosen = draw(st.sets(st.sampled_from(all_categories)))
    grants = draw(st.sets(st.sampled_from(known), max_size=60)) if known else set()
    denials = draw(st.sets(st.sampled_from(known), max_size=60)) if known else set()
    consent = Consent.none(policy.service_categories).with_choice(
        chosen,
        source=draw(st.sampled_from(SOURCE_CODES)),
        services=grants,
        denied_services=denials - grants,
        lifetime_seconds=draw(st.integers(1, 400 * 86400)),
        fingerprint=policy.fingerprint(),
        now=NOW,
        gpc_applied=draw(st.booleans()),
        region=draw(st.sampled_from(["", "FR", "US-CA", "GB", "BR"])),
    )
    return policy, consent


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies_and_consents())
def test_generated_policies_round_trip_and_stay_under_4096_bytes(case: tuple[Policy, Consent]) -> None:
    policy, consent = case
    cookie = ConsentCookie([KEY_A], policy)
    header = cookie.set_cookie(consent, secure=True, now=NOW)
    assert len(header.encode()) < MAX_COOKIE_BYTES
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW)
    assert status == "ok"
    # A shortened cookie never allows more than the choice did; an unshortened one is equal.
    for service in policy.services:
        assert consent.allows(service.id) or not loaded.allows(service.id)
    if len(cookie.dumps(consent)) < 3000:
        assert loaded == consent


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_random_cookie_values_never_raise(value: str) -> None:
    cookie = ConsentCookie([KEY_A], _DEFAULT)
    consent, status = cookie.loads(value)
    assert status != "ok"
    assert not consent.exists


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=120))
def test_validly_signed_random_payloads_never_raise(payload: bytes) -> None:
    import hashlib

    from itsdangerous import Signer

    from consentgate.consent.cookie import SALT

    signer = Signer([KEY_A.encode()], salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
    value = signer.sign("1." + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()).decode()
    consent, status = ConsentCookie([KEY_A], _DEFAULT).loads(value, now=NOW)
    assert status in {"ok", "malformed", "stale_policy", "expired"}
    if status != "ok":
        assert not consent.exists


_DEFAULT = load_dict({})


def test_cookie_values_use_only_cookie_octets(cookie: ConsentCookie, policy: Policy) -> None:
    value = cookie.dumps(granted(policy))
    assert re.fullmatch(r"1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", value)


def test_odd_constructor_arguments_are_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match=r"secret_keys\[0\]"):
        ConsentCookie([12345], policy)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="cache_size"):
        ConsentCookie([KEY_A], policy, cache_size=-1)


def test_a_fingerprint_that_is_not_hex_survives_and_is_then_stale(
    cookie: ConsentCookie, policy: Policy
) -> None:
    value = cookie.dumps(granted(policy, fingerprint="not-hex"))
    assert cookie.loads(value, now=NOW)[1] == "stale_policy"


def test_denials_of_unknown_services_go_first_and_categories_stay() -> None:
    services = {f"n{i:03d}-{'z' * 50}": {"category": "necessary", "justification": "x"} for i in range(100)}
    policy = load_dict({"include_catalog": False, "services": services})
    consent = Consent.none(policy.service_categories).with_choice(
        {"analytics"},
        source="preferences",
        denied_services={f"unknown-{'q' * 60}-{i}" for i in range(60)} | set(services),
        fingerprint=policy.fingerprint(),
        now=NOW,
    )
    cookie = ConsentCookie([KEY_A], policy)
    loaded, status = cookie.loads(cookie.dumps(consent), now=NOW)
    assert status == "ok"
    assert loaded.categories == consent.categories


def test_an_id_longer_than_the_cookie_allows_is_refused_when_writing(
    cookie: ConsentCookie, policy: Policy
) -> None:
    consent = Consent.none(consent_id="x" * 300).with_choice(set(), source="api", now=NOW)
    with pytest.raises(ValueError, match="consent id"):
        cookie.dumps(consent)


# -- grants without a decision ------------------------------------------------------------------


def _flags(value: str) -> int:
    body = value.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[0]


def test_grants_without_a_decision_round_trip(cookie: ConsentCookie, policy: Policy) -> None:
    consent = replace(granted(policy, services={"chat"}), undecided=True)
    value = cookie.dumps(consent)
    loaded, status = cookie.loads(value, now=NOW + 10)
    assert status == "ok" and loaded == consent
    assert loaded.exists and loaded.undecided
    assert _flags(value) & 8


def test_a_cookie_from_before_the_flag_reads_as_a_decision(cookie: ConsentCookie, policy: Policy) -> None:
    # Cookies already out there have bit 3 clear: they stay the choices they were.
    value = cookie.dumps(granted(policy))
    assert not _flags(value) & 8
    loaded, status = ConsentCookie([KEY_A], policy).loads(value, now=NOW + 10)
    assert status == "ok" and loaded.exists and not loaded.undecided


def test_the_flag_is_signed_with_the_rest(cookie: ConsentCookie, policy: Policy) -> None:
    # Turning a decision into "grants without one" (or back) breaks the signature: no choice.
    value = cookie.dumps(granted(policy))
    version, body, signature = value.split(".")
    payload = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[0] |= 8
    forged = f"{version}.{base64.urlsafe_b64encode(bytes(payload)).rstrip(b'=').decode()}.{signature}"
    assert_no_choice(cookie.loads(forged, now=NOW + 10), "bad_signature")


def test_an_unknown_flag_is_still_malformed(policy: Policy) -> None:
    import hashlib

    from itsdangerous import Signer

    from consentgate.consent.cookie import SALT

    value = ConsentCookie([KEY_A], policy).dumps(granted(policy))
    body = value.split(".")[1]
    payload = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[0] |= 16
    signer = Signer([KEY_A.encode()], salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
    resigned = signer.sign("1." + base64.urlsafe_b64encode(bytes(payload)).rstrip(b"=").decode()).decode()
    assert_no_choice(ConsentCookie([KEY_A], policy).loads(resigned, now=NOW + 10), "malformed")
