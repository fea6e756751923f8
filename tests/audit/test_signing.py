"""Manifest signatures: the documented HMAC, key ids, key rotation, and a parser that turns any
damaged signature file into a finding."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.audit.chain import key_list
from consentgate.audit.signing import check_signature, key_id, sign_manifest

from .conftest import KEY

OTHER_KEY = b"an-attackers-or-another-sites-key-0123456789"
RETIRED_KEY = b"the-key-this-log-used-until-last-year-0123"
MANIFEST = '{\n  "rows": 3,\n  "sha256": "ab…",\n  "store": "sqlite:///über.db"\n}\n'.encode()


def test_the_signature_is_the_documented_hmac_over_the_manifest_bytes() -> None:
    """An auditor can check a signature with any JSON library and any HMAC implementation."""
    document = json.loads(sign_manifest(MANIFEST, KEY))
    manifest_sha256 = hashlib.sha256(MANIFEST).hexdigest()
    expected_id = hmac.new(KEY, b'["consentgate-key-id"]', hashlib.sha256).hexdigest()[:16]
    message = json.dumps(["consentgate-export-manifest", expected_id, manifest_sha256], separators=(",", ":"))
    assert document == {
        "consentgate_export_signature": 1,
        "algorithm": "HMAC-SHA256",
        "key_id": expected_id,
        "manifest_sha256": manifest_sha256,
        "signature": hmac.new(KEY, message.encode(), hashlib.sha256).hexdigest(),
    }
    check = check_signature(MANIFEST, sign_manifest(MANIFEST, KEY), [KEY])
    assert check.valid and check.key_id == expected_id == key_id(KEY)


def test_key_ids_tell_keys_apart_and_hold_nothing_of_the_key() -> None:
    assert key_id(KEY) == key_id(KEY) != key_id(OTHER_KEY)
    assert len(key_id(KEY)) == 16 and int(key_id(KEY), 16) >= 0
    assert KEY.hex()[:16] != key_id(KEY) and hashlib.sha256(KEY).hexdigest()[:16] != key_id(KEY)


def test_a_signature_by_a_retired_key_is_found_among_the_keys_given() -> None:
    signature = sign_manifest(MANIFEST, RETIRED_KEY)
    check = check_signature(MANIFEST, signature, key_list([KEY, RETIRED_KEY]))
    assert check.valid and check.key_id == key_id(RETIRED_KEY)


def test_a_signature_by_a_key_not_given_names_both_key_ids() -> None:
    check = check_signature(MANIFEST, sign_manifest(MANIFEST, OTHER_KEY), [KEY])
    assert check.status == "unknown_key"
    assert key_id(OTHER_KEY) in check.message and key_id(KEY) in check.message
    nothing = check_signature(MANIFEST, sign_manifest(MANIFEST, KEY), key_list(None))
    assert nothing.status == "unknown_key" and "no key was given" in nothing.message


def test_a_signature_document_claiming_a_known_key_id_with_a_wrong_value_is_a_mismatch() -> None:
    # Someone who knows the key id (it is public) but not the key.
    document = json.loads(sign_manifest(MANIFEST, KEY))
    document["signature"] = hmac.new(OTHER_KEY, b"anything", hashlib.sha256).hexdigest()
    check = check_signature(MANIFEST, json.dumps(document).encode(), [KEY])
    assert check.status == "mismatch" and "forged or edited" in check.message


def test_no_signature_is_missing_not_valid() -> None:
    assert check_signature(MANIFEST, None, [KEY]).status == "missing"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(MANIFEST) - 1), st.integers(min_value=1, max_value=255))
def test_any_byte_changed_in_the_manifest_breaks_its_signature(position: int, flip: int) -> None:
    edited = bytearray(MANIFEST)
    edited[position] ^= flip
    check = check_signature(bytes(edited), sign_manifest(MANIFEST, KEY), [KEY])
    assert check.status == "manifest_changed"


_HEX = "0123456789abcdef"


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["key_id", "manifest_sha256", "signature"]),
    st.integers(min_value=0, max_value=63),
    st.sampled_from([*_HEX, "A", "F", " ", "é"]),
)
def test_any_character_changed_in_the_signature_file_fails(field: str, position: int, char: str) -> None:
    document = json.loads(sign_manifest(MANIFEST, KEY))
    value = document[field]
    position %= len(value)
    if value[position] == char:
        char = "0" if char != "0" else "1"
    document[field] = value[:position] + char + value[position + 1 :]
    check = check_signature(MANIFEST, json.dumps(document, ensure_ascii=False).encode(), [KEY])
    assert not check.valid
    expected = {
        "key_id": {"unknown_key", "malformed"},
        "manifest_sha256": {"manifest_changed", "malformed"},
        "signature": {"mismatch", "malformed"},
    }
    assert check.status in expected[field]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=70),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner, max_size=6)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {
                "consentgate_export_signature": st.sampled_from([1, 2, "1", None]),
                "algorithm": st.sampled_from(["HMAC-SHA256", "hmac-sha256", "none", ""]),
                "key_id": st.text(alphabet=_HEX + "xG", max_size=20),
                "manifest_sha256": st.text(alphabet=_HEX, max_size=70),
                "signature": st.text(alphabet=_HEX + "\x00é", max_size=70),
            }
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_whatever_a_signature_file_holds_it_is_a_finding_never_a_crash(data: bytes) -> None:
    check = check_signature(MANIFEST, data, [KEY])
    assert not check.valid and check.message
