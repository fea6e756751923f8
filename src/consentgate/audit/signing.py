"""Signed export manifests: proof that an export's files are the ones the audit key's holder made.

A manifest names the SHA-256 of the exported file and of the notices file, but whoever edits a
row can recompute both. ``FILE.signature.json`` beside it holds an HMAC-SHA256 of the manifest's
exact bytes under the audit key — the key that keys the hash chain and signs purge checkpoints,
read the same way (``chain.load_key``), rotated the same way (current key first, retired ones
after) — and the id of the key used, so a verifier holding several keys knows which one to
use and a wrong key is named rather than mistaken for tampering.

Checking needs the key and the files, nothing else (no store, no network):

    key_id    = HMAC-SHA256(key, '["consentgate-key-id"]')[:16]                 (hex)
    signature = HMAC-SHA256(key, '["consentgate-export-manifest",KEY_ID,SHA256]')
                where SHA256 is the hex SHA-256 of the manifest file's bytes

HMAC is symmetric: whoever can check a signature could make one. It proves that the export
comes from a holder of the key, as each row's hash does; see docs/audit.md ("Signed exports")
for what that means when the key is handed to an auditor.

References:
- RFC 2104 (HMAC); RFC 8785 (the canonical JSON of the signed message)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from consentgate.audit.chain import canonical_json, make_mac

ALGORITHM = "HMAC-SHA256"
SIGNATURE_VERSION = 1
_KEY_ID_INPUT = canonical_json(["consentgate-key-id"]).encode()
# A tag of its own: no row (a 24-value array) or checkpoint (["checkpoint", …]) signs the same text.
_MANIFEST_TAG = "consentgate-export-manifest"
# The signed fields and their form (lower-case hex, as written).
_HEX_FIELDS = {"key_id": 16, "manifest_sha256": 64, "signature": 64}

SignatureStatus = Literal["valid", "missing", "malformed", "manifest_changed", "unknown_key", "mismatch"]


def key_id(key: bytes) -> str:
    """A short public name for a key (64 bits of an HMAC under it: it reveals nothing of it).

    >>> key_id(b"k" * 32)
    'c601cf4be68a826b'
    """
    return make_mac(key)(_KEY_ID_INPUT)[:16]


def _message(signer_id: str, manifest_sha256: str) -> bytes:
    return canonical_json([_MANIFEST_TAG, signer_id, manifest_sha256]).encode()


def sign_manifest(manifest: bytes, key: bytes) -> bytes:
    """The signature document (``FILE.signature.json``) for the manifest's exact bytes."""
    digest = hashlib.sha256(manifest).hexdigest()
    signer_id = key_id(key)
    document = {
        "consentgate_export_signature": SIGNATURE_VERSION,
        "algorithm": ALGORITHM,
        "key_id": signer_id,
        "manifest_sha256": digest,
        "signature": make_mac(key)(_message(signer_id, digest)),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


@dataclass(frozen=True)
class SignatureCheck:
    status: SignatureStatus
    message: str
    key_id: str | None = None  # the signature's key id, when it could be read

    @property
    def valid(self) -> bool:
        return self.status == "valid"


def _read_signature(data: bytes) -> dict[str, str] | str:
    """The signature document's fields, or why it is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"not JSON ({exc})"
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    if document.get("consentgate_export_signature") != SIGNATURE_VERSION:
        return f"unknown signature version {document.get('consentgate_export_signature')!r}"
    if document.get("algorithm") != ALGORITHM:
        return f"unknown algorithm {document.get('algorithm')!r} (expected {ALGORITHM})"
    fields: dict[str, str] = {}
    for name, length in _HEX_FIELDS.items():
        value = document.get(name)
        if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            return f"{name} is not {length} lower-case hex digits"
        fields[name] = value
    return fields


def check_signature(manifest: bytes, signature: bytes | None, keys: Sequence[bytes]) -> SignatureCheck:
    """Does ``signature`` (the bytes of ``FILE.signature.json``, None when there is none) sign
    exactly ``manifest``, under one of ``keys``?"""
    if signature is None:
        return SignatureCheck("missing", "no signature")
    fields = _read_signature(signature)
    if isinstance(fields, str):
        return SignatureCheck("malformed", f"unreadable signature: {fields}")
    signer_id = fields["key_id"]
    digest = hashlib.sha256(manifest).hexdigest()
    if fields["manifest_sha256"] != digest:
        return SignatureCheck(
            "manifest_changed",
            "the manifest was changed after it was signed (its SHA-256 differs)",
            signer_id,
        )
    known = {key_id(key): key for key in keys}
    key = known.get(signer_id)
    if key is None:
        given = f"none of the keys given (key ids {', '.join(known)})" if known else "no key was given"
        return SignatureCheck("unknown_key", f"signed with key id {signer_id}; {given}", signer_id)
    expected = make_mac(key)(_message(signer_id, digest))
    if not hmac.compare_digest(expected, fields["signature"]):
        return SignatureCheck(
            "mismatch",
            f"the signature does not match the manifest under key id {signer_id} (forged or edited)",
            signer_id,
        )
    return SignatureCheck("valid", f"{ALGORITHM} by key id {signer_id}", signer_id)
