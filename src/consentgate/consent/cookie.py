"""The signed consent cookie: a compact binary payload, HMAC-SHA256 via itsdangerous.

Cookie value: ``1.<base64url payload>.<base64url signature>`` — the leading ``1`` is the payload
version and is signed with it. Payload (big-endian), defined only here:

====================  ================================================================
flags                 u8: bit 0 GPC applied, bit 1 id is 16 raw bytes, bit 2 fingerprint
                      is text (not hex), bit 3 grants without a decision
                      (``Consent.undecided``; cookies from before it have it clear)
consent id            16 bytes, or u8 length + UTF-8
issued at             u32 epoch seconds
lifetime              u32 seconds (expires at = issued at + lifetime)
source                u8 index into ``SOURCE_CODES``
policy fingerprint    u8 length + bytes
region                u8 length + ASCII
categories            u8 length + bitmask over the policy's category ids *sorted*
granted services      varint count + entries
denied services       varint count + entries
====================  ================================================================

A service entry is a varint ``n``: even ``n`` is the index ``n // 2`` among the policy's own
(``origin="policy"``) service ids sorted; odd ``n`` is followed by ``n // 2`` bytes of the id.
Sorted category ids and policy services are fixed by the fingerprint, which every cookie must
match, so a reordered file cannot shift a bit; catalog services change with releases and are
therefore spelled out.

References: RFC 6265 §4.1 and draft-ietf-httpbis-rfc6265bis (cookie prefixes, 4096-byte limit);
requirements CG-30 to CG-35.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from itsdangerous import BadSignature, Signer

from consentgate.consent.state import Consent, Source
from consentgate.policy.model import NECESSARY, Policy

__all__ = ["MAX_COOKIE_BYTES", "SOURCE_CODES", "UNREADABLE", "ConsentCookie", "CookieStatus"]

CookieStatus = Literal["ok", "missing", "malformed", "bad_signature", "expired", "stale_policy", "oversized"]
# A consent cookie was sent but cannot be used: recorded once in the audit log, then expired.
# (stale_policy is not among them: a choice under an earlier policy is re-asked, not voided.)
UNREADABLE: frozenset[CookieStatus] = frozenset({"malformed", "bad_signature", "expired", "oversized"})

# Append only: the index is what the cookie stores.
SOURCE_CODES: tuple[Source, ...] = ("none", "banner", "preferences", "gpc", "api", "region_default")
MAX_COOKIE_BYTES = 4096  # RFC 6265 §6.1: what every browser keeps, name and attributes included
MIN_KEY_LENGTH = 32
VERSION = "1"
SALT = b"consentgate.consent-cookie"

_FLAG_GPC = 1
_FLAG_RAW_ID = 2
_FLAG_TEXT_FINGERPRINT = 4
_FLAG_UNDECIDED = 8
_FLAGS = _FLAG_GPC | _FLAG_RAW_ID | _FLAG_TEXT_FINGERPRINT | _FLAG_UNDECIDED
_SHAPE = re.compile(r"^1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_U32 = struct.Struct(">I")
_KEY_HINT = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


class _Malformed(Exception):
    pass


class ConsentCookie:
    """Reads and writes the consent cookie for one policy.

    The first of ``secret_keys`` signs; all of them verify (rotate by putting the new key first
    and dropping the old one once its cookies have expired).

    >>> cookie = ConsentCookie(["k" * 32], Policy.default())      # doctest: +SKIP
    >>> consent, status = cookie.loads(request_cookies.get(cookie.name(secure=True)))  # doctest: +SKIP
    """

    def __init__(self, secret_keys: Sequence[str | bytes], policy: Policy, *, cache_size: int = 4096) -> None:
        keys = [secret_keys] if isinstance(secret_keys, str | bytes) else list(secret_keys)
        if not keys:
            raise ValueError(f"secret_keys: give at least one key; {_KEY_HINT}")
        for index, key in enumerate(keys):
            if not isinstance(key, str | bytes):
                raise ValueError(f"secret_keys[{index}]: expected str or bytes, got {type(key).__name__}")
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(
                    f"secret_keys[{index}] is {len(key)} characters long; the consent cookie needs "
                    f"at least {MIN_KEY_LENGTH} random characters — {_KEY_HINT}"
                )
        if cache_size < 0:
            raise ValueError("cache_size must be 0 or more")
        # itsdangerous signs with the last key and verifies with all.
        self._signer = Signer(
            [key.encode("utf-8") if isinstance(key, str) else key for key in reversed(keys)],
            salt=SALT,
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )
        self._policy = policy
        self._fingerprint = policy.fingerprint()
        self._settings = policy.cookie
        self._category_ids = sorted(category.id for category in policy.categories)
        self._category_bit = {cid: index for index, cid in enumerate(self._category_ids)}
        self._policy_service_ids = sorted(s.id for s in policy.services if s.origin == "policy")
        self._policy_service_index = {sid: index for index, sid in enumerate(self._policy_service_ids)}
        self._service_categories = policy.service_categories
        self._cache: OrderedDict[str, Consent] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        longest_name = max(len(self.name(secure=True)), len(self.name(secure=False)))
        attributes = len(self._attributes(10**9, secure=True))
        self._max_value_bytes = MAX_COOKIE_BYTES - 1 - longest_name - 1 - attributes

    # -- names and headers --------------------------------------------------------------------
    def _is_secure(self, secure: bool) -> bool:
        mode = self._settings.secure
        return secure if mode == "auto" else mode == "always"

    def name(self, secure: bool) -> str:
        """Cookie name for a request that is (``secure=True``) or is not over HTTPS."""
        if self._is_secure(secure) and not self._settings.domain:
            return "__Host-" + self._settings.name
        return self._settings.name

    def value(self, cookies: Mapping[str, str], *, secure: bool) -> str | None:
        """The consent cookie among a request's cookies. Over HTTPS only the ``__Host-`` one
        counts: a sibling subdomain can set the plain name (``Domain=.example.com``) but never
        a ``__Host-`` one. Over HTTP the browser sends no ``__Host-`` cookie anyway, except on
        localhost, where either is the visitor's own."""
        if secure:
            return cookies.get(self.name(True))
        return cookies.get(self.name(False)) or cookies.get(self.name(True))

    def _attributes(self, max_age: int, *, secure: bool) -> str:
        parts = [f"Max-Age={max_age}", "Path=/"]
        if self._settings.domain:
            parts.append(f"Domain={self._settings.domain}")
        parts += ["HttpOnly", f"SameSite={self._settings.same_site.capitalize()}"]
        if self._is_secure(secure):
            parts.append("Secure")
        return "; ".join(parts)

    def set_cookie(self, consent: Consent, *, secure: bool, now: int | None = None) -> str:
        """The ``Set-Cookie`` header value; ``Max-Age`` is the consent's remaining lifetime."""
        current = int(time.time()) if now is None else now
        max_age = max(0, consent.expires_at - current)
        return f"{self.name(secure)}={self.dumps(consent)}; {self._attributes(max_age, secure=secure)}"

    def delete_cookie(self, *, secure: bool) -> str:
        return (
            f"{self.name(secure)}=; {self._attributes(0, secure=secure)}; "
            "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        )

    # -- writing ------------------------------------------------------------------------------
    def dumps(self, consent: Consent) -> str:
        """Signed cookie value. A consent without a fingerprint gets the policy's current one.

        If explicit service choices would push the cookie past 4096 bytes, redundant ones go
        first, then explicit grants; denials are kept or widened to their whole category, so a
        shortened cookie never allows more than the choice did.
        """
        granted = set(consent.services)
        denied = set(consent.denied_services)
        categories = set(consent.categories)
        while True:
            value = self._sign(consent, categories, granted, denied)
            if len(value) <= self._max_value_bytes:
                return value
            categories, granted, denied = self._shrink(categories, granted, denied)

    def _shrink(
        self, categories: set[str], granted: set[str], denied: set[str]
    ) -> tuple[set[str], set[str], set[str]]:
        """One step towards a smaller cookie that never allows more than the choice did."""
        category_of = self._service_categories.get
        redundant_grants = {s for s in granted if category_of(s) in categories}
        redundant_denials = {s for s in denied if category_of(s) not in categories}
        if redundant_grants or redundant_denials:
            return categories, granted - redundant_grants, denied - redundant_denials
        if granted:
            return categories, set(), denied
        widened = {category_of(s) for s in denied} - {NECESSARY}
        if widened & categories:
            return categories - {c for c in widened if c}, granted, denied
        # What is left denies necessary services only, which run regardless.
        if denied:
            return categories, granted, set()
        raise ValueError("the consent cookie cannot fit in 4096 bytes")

    def _sign(self, consent: Consent, categories: set[str], granted: set[str], denied: set[str]) -> str:
        payload = self._encode(consent, categories, granted, denied)
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
        return self._signer.sign(f"{VERSION}.{body}").decode("ascii")

    def _encode(self, consent: Consent, categories: set[str], granted: set[str], denied: set[str]) -> bytes:
        flags = (_FLAG_GPC if consent.gpc_applied else 0) | (_FLAG_UNDECIDED if consent.undecided else 0)
        out = bytearray()
        raw_id = _raw_id(consent.consent_id)
        if raw_id is not None:
            flags |= _FLAG_RAW_ID
            out += raw_id
        else:
            out += _short_bytes(consent.consent_id.encode("utf-8"), "consent id")
        out += _U32.pack(_clamp_u32(consent.issued_at))
        out += _U32.pack(_clamp_u32(consent.expires_at - consent.issued_at))
        out.append(SOURCE_CODES.index(consent.source))
        fingerprint = consent.fingerprint or self._fingerprint
        try:
            fingerprint_bytes = bytes.fromhex(fingerprint)
            if fingerprint_bytes.hex() != fingerprint:
                raise ValueError
        except ValueError:
            flags |= _FLAG_TEXT_FINGERPRINT
            fingerprint_bytes = fingerprint.encode("utf-8")
        out += _short_bytes(fingerprint_bytes, "fingerprint")
        out += _short_bytes(consent.region.encode("ascii", "replace"), "region")
        mask = 0
        for category in categories:
            bit = self._category_bit.get(category)
            if bit is not None:
                mask |= 1 << bit
        out += _short_bytes(mask.to_bytes((len(self._category_ids) + 7) // 8, "little"), "categories")
        out += self._encode_services(granted)
        out += self._encode_services(denied)
        return bytes([flags]) + bytes(out)

    def _encode_services(self, service_ids: Iterable[str]) -> bytes:
        entries = sorted(service_ids)
        out = bytearray(_varint(len(entries)))
        for sid in entries:
            index = self._policy_service_index.get(sid)
            if index is not None:
                out += _varint(index * 2)
            else:
                spelled = sid.encode("utf-8")
                out += _varint(len(spelled) * 2 + 1) + spelled
        return bytes(out)

    # -- reading ------------------------------------------------------------------------------
    def loads(self, value: str | None, *, now: int | None = None) -> tuple[Consent, CookieStatus]:
        """The visitor's consent, or "no choice" with the reason. Never raises."""
        current = int(time.time()) if now is None else now
        if not value:
            return self._none(), "missing"
        if len(value) > MAX_COOKIE_BYTES:
            return self._none(), "oversized"
        with self._lock:
            cached = self._cache.get(value)
            if cached is not None:
                self._cache.move_to_end(value)
        if cached is not None:
            if current >= cached.expires_at:
                return self._none(), "expired"
            return cached, "ok"
        if not _SHAPE.match(value):
            return self._none(), "malformed"
        try:
            signed = self._signer.unsign(value.encode("ascii")).decode("ascii")
        except BadSignature:
            return self._none(), "bad_signature"
        try:
            consent = self._decode(signed.partition(".")[2])
        except (_Malformed, ValueError, IndexError, struct.error, binascii.Error):
            return self._none(), "malformed"
        if consent.fingerprint != self._fingerprint:
            return self._none(), "stale_policy"
        if current >= consent.expires_at:
            return self._none(), "expired"
        if self._cache_size:
            with self._lock:
                self._cache[value] = consent
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return consent, "ok"

    def signed_id(self, value: str) -> str | None:
        """The consent id of a cookie whose signature verifies, whatever its age or policy; None
        otherwise. For the audit record of an expired choice: never trusted for anything else."""
        if not value or len(value) > MAX_COOKIE_BYTES or not _SHAPE.match(value):
            return None
        try:
            signed = self._signer.unsign(value.encode("ascii")).decode("ascii")
            return self._decode(signed.partition(".")[2]).consent_id
        except (BadSignature, _Malformed, ValueError, IndexError, struct.error, binascii.Error):
            return None

    def _none(self) -> Consent:
        return Consent.none(self._service_categories)

    def _decode(self, body: str) -> Consent:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        reader = _Reader(payload)
        flags = reader.byte()
        if flags & ~_FLAGS:
            raise _Malformed
        if flags & _FLAG_RAW_ID:
            consent_id = base64.urlsafe_b64encode(reader.take(16)).rstrip(b"=").decode("ascii")
        else:
            consent_id = reader.short().decode("utf-8")
        issued_at = reader.u32()
        expires_at = issued_at + reader.u32()
        source = SOURCE_CODES[reader.byte()]
        fingerprint_bytes = reader.short()
        if flags & _FLAG_TEXT_FINGERPRINT:
            fingerprint = fingerprint_bytes.decode("utf-8")
        else:
            fingerprint = fingerprint_bytes.hex()
        region = reader.short().decode("ascii")
        mask = int.from_bytes(reader.short(), "little")
        if mask >> len(self._category_ids):
            raise _Malformed
        categories = frozenset(cid for bit, cid in enumerate(self._category_ids) if mask >> bit & 1)
        granted = self._decode_services(reader)
        denied = self._decode_services(reader)
        if not reader.done():
            raise _Malformed
        return Consent(
            consent_id=consent_id,
            categories=categories,
            services=granted,
            denied_services=denied,
            issued_at=issued_at,
            expires_at=expires_at,
            source=source,
            fingerprint=fingerprint,
            exists=True,
            gpc_applied=bool(flags & _FLAG_GPC),
            region=region,
            undecided=bool(flags & _FLAG_UNDECIDED),
            service_categories=self._service_categories,
        )

    def _decode_services(self, reader: _Reader) -> frozenset[str]:
        result: set[str] = set()
        for _ in range(reader.varint()):
            entry = reader.varint()
            if entry % 2 == 0:
                result.add(self._policy_service_ids[entry // 2])
            else:
                sid = reader.take(entry // 2).decode("utf-8")
                # A catalog service that a newer release dropped is simply forgotten.
                if sid in self._service_categories:
                    result.add(sid)
        return frozenset(result)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise _Malformed
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def short(self) -> bytes:
        return self.take(self.byte())

    def varint(self) -> int:
        value = 0
        for shift in range(0, 35, 7):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise _Malformed

    def done(self) -> bool:
        return self.pos == len(self.data)


def _raw_id(consent_id: str) -> bytes | None:
    """16 raw bytes when the id is the canonical base64url of 16 bytes (``new_consent_id``)."""
    if len(consent_id) != 22:
        return None
    try:
        raw = base64.urlsafe_b64decode(consent_id + "==")
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != consent_id:
        return None
    return raw


def _short_bytes(data: bytes, what: str) -> bytes:
    if len(data) > 255:
        raise ValueError(f"the consent cookie cannot hold a {what} longer than 255 bytes")
    return bytes([len(data)]) + data


def _clamp_u32(value: int) -> int:
    return min(max(value, 0), 0xFFFFFFFF)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
