"""Tamper evidence: one hash chain per writer instance, and its verification.

Each writer instance starts its own chain (``chain_id`` random per start), numbers its records
``seq`` = 1, 2, … and stores in each the ``prev_hash`` of the record before, so several instances
writing one PostgreSQL log never contend for a shared head.

A record's ``hash`` covers every field before it, as the UTF-8 bytes of one canonical JSON array
(RFC 8785 / JCS rules for the types used: no whitespace, keys sorted, strings minimally escaped,
non-ASCII as UTF-8) of the 24 values in ``EVENT_FIELDS`` order, where ``categories``,
``services`` and ``detail`` appear as strings holding their own canonical JSON text — the exact
text the stores keep (the SQL stores keep the whole array text too, in one column). With a key
the hash is HMAC-SHA256(key, bytes), without one SHA-256(bytes): a plain chain detects
accidents, not an insider who recomputes every later hash.

References:
- RFC 2104 (HMAC), RFC 8785 (JSON Canonicalization Scheme)
- GDPR art. 7(1); CNIL deliberation 2020-092 (time-stamped, verifiable proof)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import json.encoder
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Literal

from consentgate.audit.events import EVENT_FIELDS, ConsentEvent
from consentgate.audit.stores.base import (
    BOOL_FIELDS,
    HASHED_FIELDS,
    MAP_FIELDS,
    Checkpoint,
    Record,
    Row,
    Store,
)

__all__ = ["HASHED_FIELDS", "Sealer", "canonical_json", "make_mac", "record_hash", "verify", "with_record"]
_EVENT_VALUE_FIELDS = HASHED_FIELDS[: HASHED_FIELDS.index("chain_id")]
_read_event = attrgetter(*_EVENT_VALUE_FIELDS)
_read_event_dict = itemgetter(*_EVENT_VALUE_FIELDS)  # from an event's __dict__: twice as fast
_quote = json.encoder.encode_basestring  # what the encoder does to each str (C when available)
_EMPTY_MAP = _quote("{}")
_MAP_POSITIONS = tuple(i for i, name in enumerate(HASHED_FIELDS) if name in MAP_FIELDS)
_NON_STR = MAP_FIELDS | {"ts", "seq", "sec_gpc", "dnt"}
_STR_POSITIONS = tuple(i for i, name in enumerate(_EVENT_VALUE_FIELDS) if name not in _NON_STR)
_read_strings = itemgetter(*_STR_POSITIONS)
_CONSENT_ID = HASHED_FIELDS.index("consent_id")
_TS = HASHED_FIELDS.index("ts")
_BOOL_POSITIONS = (HASHED_FIELDS.index("sec_gpc"), HASHED_FIELDS.index("dnt"))
MAX_CONSENT_ID = 200  # indexed column: a B-tree entry must stay small
MIN_KEY_BYTES = 32


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    # The C encoder without JSONEncoder.encode's per-call set-up: a third of the cost.
    _iterencode = _c_make_encoder(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def canonical_json(value: object) -> str:
        """Canonical JSON text (JCS for str/int/bool/dict/list values)."""
        return "".join(_iterencode(value, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _encoder = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_not_json
    )

    def canonical_json(value: object) -> str:
        """Canonical JSON text (JCS for str/int/bool/dict/list values)."""
        return _encoder.encode(value)


Mac = Callable[[bytes], str]


def load_key(key: bytes | str | None, *, name: str = "audit_key") -> bytes | None:
    """Validate an audit key: at least 32 bytes (a str is taken as UTF-8), white space around
    it ignored. A key file written by ``print()`` or an editor ends in a newline: the writer
    and ``--key-file`` must read the same key from it, or a sound log fails verification."""
    if key is None:
        return None
    raw = (key.encode() if isinstance(key, str) else bytes(key)).strip()
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"{name} must be at least {MIN_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def make_mac(key: bytes | None) -> Mac:
    """HMAC-SHA256 hex (RFC 2104) with precomputed pads, or SHA-256 hex without a key."""
    if key is None:
        return lambda data: hashlib.sha256(data).hexdigest()
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner_pad = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer_pad = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def mac(data: bytes) -> str:
        inner = inner_pad.copy()
        inner.update(data)
        outer = outer_pad.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    return mac


def new_chain_id(now_ms: int | None = None) -> str:
    """Start time (48-bit ms, hex) + 32 random bits: chains sort by when their writer started."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{ms:012x}{secrets.token_hex(4)}"


def encode_map(value: object) -> str:
    if not value:
        return "{}"
    try:
        return canonical_json(value)
    except TypeError:
        return canonical_json(_clean_map(value))


def _clean_str(value: object) -> str:
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if "\x00" in text:  # PostgreSQL text cannot hold NUL
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:  # lone surrogates
        text = text.encode("utf-8", "replace").decode()
    return text


def _clean_map(value: object) -> dict[str, object]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    items = value.items() if isinstance(value, Mapping) else ()
    cleaned: dict[str, object] = {}
    for key, item in items:
        if isinstance(item, bool | int) and not isinstance(item, float):
            cleaned[_clean_str(key)] = item
        else:
            cleaned[_clean_str(key)] = _clean_str(item)
    return cleaned


def _normalise(values: list[object]) -> None:
    """Make one event storable everywhere: right types, no NUL, valid UTF-8, bounded id."""
    for position, name in enumerate(_EVENT_VALUE_FIELDS):
        value = values[position]
        if name in MAP_FIELDS:
            values[position] = canonical_json(_clean_map(value))
        elif name in ("sec_gpc", "dnt"):
            values[position] = isinstance(value, int) and bool(value)  # bool is an int
        elif name == "ts":
            try:
                values[position] = int(value) if isinstance(value, int | float) else 0
            except (ValueError, OverflowError):  # NaN, infinity
                values[position] = 0
        else:
            values[position] = _clean_str(value)
    consent_id = values[_CONSENT_ID]
    if isinstance(consent_id, str) and len(consent_id) > MAX_CONSENT_ID:
        values[_CONSENT_ID] = consent_id[:MAX_CONSENT_ID]


class Sealer:
    """Assigns chain fields and hashes, in order. One per writer instance.

    >>> sealer = Sealer(b"k" * 32)
    >>> rows = sealer.seal([ConsentEvent(consent_id="c1", action="accept_all", categories={})])
    >>> rows[0][EVENT_FIELDS.index("seq")], sealer.seq
    (1, 1)
    """

    def __init__(self, key: bytes | None, *, chain_id: str | None = None) -> None:
        self.chain_id = chain_id or new_chain_id()
        self.seq = 0
        self.prev_hash = ""
        self.keyed = key is not None
        self._mac = make_mac(key)

    def seal(self, events: Iterable[ConsentEvent]) -> list[Row]:
        rows: list[Row] = []
        append = rows.append
        mac = self._mac
        chain_id, seq, prev_hash = self.chain_id, self.seq, self.prev_hash
        for event in events:
            seq += 1
            try:
                sealed = _seal_plain(event, chain_id, seq, prev_hash, mac)
            except (TypeError, ValueError, AttributeError, KeyError):  # (ValueError: surrogates)
                sealed = None
            if sealed is None:
                sealed = _seal_any(event, chain_id, seq, prev_hash, mac)
            row, prev_hash = sealed
            append(row)
        self.seq, self.prev_hash = seq, prev_hash
        return rows


def _seal_plain(
    event: ConsentEvent, chain_id: str, seq: int, prev_hash: str, mac: Mac
) -> tuple[Row, str] | None:
    """The common case in one pass: every text field needs no JSON escaping, so the record text
    is the fields joined between fixed punctuation, byte for byte what ``canonical_json`` makes
    of them. None (or an exception) when anything needs escaping or cleaning: ``_seal_any``."""
    (
        event_id,
        consent_id,
        ts,
        action,
        categories,
        services,
        policy_version,
        policy_fingerprint,
        notice_hash,
        locale,
        ui_action,
        region,
        region_source,
        sec_gpc,
        dnt,
        path,
        ua_browser,
        ua_os,
        ua_device,
        ip,
        detail,
    ) = _read_event_dict(event.__dict__)
    # Each map as canonical text and as that text quoted for the record; a NUL in a map is
    # cleaned by _seal_any (PostgreSQL text cannot hold one).
    if categories:
        categories = canonical_json(categories)
        quoted_categories = _quote(categories)
        if "\\u0000" in categories:
            return None
    else:
        categories, quoted_categories = "{}", _EMPTY_MAP
    if services:
        services = canonical_json(services)
        quoted_services = _quote(services)
        if "\\u0000" in services:
            return None
    else:
        services, quoted_services = "{}", _EMPTY_MAP
    if detail:
        detail = canonical_json(detail)
        quoted_detail = _quote(detail)
        if "\\u0000" in detail:
            return None
    else:
        detail, quoted_detail = "{}", _EMPTY_MAP
    # join() raises TypeError unless every one is a str; encode_basestring adds nothing but the
    # two quotes to a text that needs no escaping (no quote, backslash or control character).
    texts = "".join(
        (
            event_id,
            consent_id,
            action,
            policy_version,
            policy_fingerprint,
            notice_hash,
            locale,
            ui_action,
            region,
            region_source,
            path,
            ua_browser,
            ua_os,
            ua_device,
            ip,
        )
    )
    if (
        len(_quote(texts)) != len(texts) + 2
        or ts.__class__ is not int
        or sec_gpc.__class__ is not bool
        or dnt.__class__ is not bool
        or len(consent_id) > MAX_CONSENT_ID
    ):
        return None
    text = "".join(
        (
            '["',
            event_id,
            '","',
            consent_id,
            '",',
            str(ts),
            ',"',
            action,
            '",',
            quoted_categories,
            ",",
            quoted_services,
            ',"',
            policy_version,
            '","',
            policy_fingerprint,
            '","',
            notice_hash,
            '","',
            locale,
            '","',
            ui_action,
            '","',
            region,
            '","',
            region_source,
            '",',
            "true" if sec_gpc else "false",
            ",",
            "true" if dnt else "false",
            ',"',
            path,
            '","',
            ua_browser,
            '","',
            ua_os,
            '","',
            ua_device,
            '","',
            ip,
            '",',
            quoted_detail,
            ',"',
            chain_id,
            '",',
            str(seq),
            ',"',
            prev_hash,
            '"]',
        )
    )
    hash_ = mac(text.encode())
    row = (
        event_id,
        consent_id,
        ts,
        action,
        categories,
        services,
        policy_version,
        policy_fingerprint,
        notice_hash,
        locale,
        ui_action,
        region,
        region_source,
        sec_gpc,
        dnt,
        path,
        ua_browser,
        ua_os,
        ua_device,
        ip,
        detail,
        chain_id,
        seq,
        prev_hash,
        hash_,
        text,
    )
    return row, hash_


def _seal_any(event: ConsentEvent, chain_id: str, seq: int, prev_hash: str, mac: Mac) -> tuple[Row, str]:
    """Any event, through the general encoder: text that needs escaping is escaped, and what
    no store could keep (wrong types, NUL, lone surrogates, an overlong id) is cleaned first."""
    values = [*_read_event(event), chain_id, seq, prev_hash]
    try:
        clean = True
        for position in _MAP_POSITIONS:
            mapping = values[position]
            if mapping:
                text = canonical_json(mapping)
                clean = clean and "\\u0000" not in text
                values[position] = text
            else:
                values[position] = "{}"
        # join() raises TypeError unless every text field is a str: one call, two checks.
        strings = "".join(_read_strings(values))
        clean = (
            clean
            and "\x00" not in strings
            and type(values[_TS]) is int
            and values[_BOOL_POSITIONS[0]].__class__ is bool
            and values[_BOOL_POSITIONS[1]].__class__ is bool
            and len(values[_CONSENT_ID]) <= MAX_CONSENT_ID
        )
        text = canonical_json(values) if clean else ""
        data = text.encode()
    except (TypeError, ValueError):  # includes UnicodeEncodeError (lone surrogates)
        clean = False
    if not clean:
        values[: len(_EVENT_VALUE_FIELDS)] = [*_read_event(event)]
        _normalise(values)
        text = canonical_json(values)
        data = text.encode()
    hash_ = mac(data)
    return (*values, hash_, text), hash_


def upgrade_v1_row(values: Sequence[object]) -> Row:
    """A row of the schema-1 table (a column per field, booleans as 0/1) as a Row."""
    fixed = [
        bool(value) if name in BOOL_FIELDS else value
        for name, value in zip(EVENT_FIELDS, values, strict=True)
    ]
    return with_record(fixed)


def with_record(values: Sequence[object]) -> Row:
    """A Row from its ``EVENT_FIELDS`` values (maps as text), e.g. read back from the spool:
    the record text is the canonical JSON of the hashed values, as the sealer made it."""
    return (*values, canonical_json(list(values[: len(HASHED_FIELDS)])))


def record_hash(record: Mapping[str, object], mac: Mac) -> str:
    """Recompute a stored record's hash (maps as stored text or as dicts)."""
    values: list[object] = []
    for name in HASHED_FIELDS:
        value = record.get(name)
        if name in MAP_FIELDS and not isinstance(value, str):
            value = encode_map(value)
        values.append(value)
    try:
        data = canonical_json(values).encode()
    except (TypeError, ValueError):
        return ""
    return mac(data)


def sign_checkpoint(chain_id: str, seq: int, hash_: str, created: int, cutoff: int, mac: Mac) -> str:
    return mac(canonical_json(["checkpoint", chain_id, seq, hash_, created, cutoff]).encode())


def checkpoint_valid(checkpoint: Checkpoint, mac: Mac) -> bool:
    expected = sign_checkpoint(
        checkpoint.chain_id, checkpoint.seq, checkpoint.hash, checkpoint.created, checkpoint.cutoff, mac
    )
    return hmac.compare_digest(expected, checkpoint.signature)


# --- verification ------------------------------------------------------------------------------

ProblemKind = Literal["edited", "deleted", "reordered", "forged", "checkpoint", "truncated", "unverified"]

# Why a log fails when none of its records verifies, whatever key is tried.
UNVERIFIED = (
    "no key given verifies any record of the log: it was written with another key (pass the "
    "--key-file it was written with; retired keys after the current one), or without one, or "
    "every record was rewritten"
)


@dataclass(frozen=True)
class Problem:
    """The first broken record of one chain."""

    kind: ProblemKind
    chain_id: str
    seq: int | None
    event_id: str | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "chain_id": self.chain_id,
            "seq": self.seq,
            "event_id": self.event_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class ChainReport:
    chain_id: str
    records: int
    first_seq: int
    last_seq: int
    last_hash: str
    checkpoint_seq: int | None
    problem: Problem | None

    def to_dict(self) -> dict[str, object]:
        return {
            "chain_id": self.chain_id,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "checkpoint_seq": self.checkpoint_seq,
            "problem": None if self.problem is None else self.problem.to_dict(),
        }


@dataclass(frozen=True)
class VerifyReport:
    keyed: bool
    chains: tuple[ChainReport, ...] = field(default=())
    problems_outside_chains: tuple[Problem, ...] = field(default=())

    @property
    def problems(self) -> list[Problem]:
        found = [chain.problem for chain in self.chains if chain.problem is not None]
        return [*found, *self.problems_outside_chains]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def records(self) -> int:
        return sum(chain.records for chain in self.chains)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "keyed": self.keyed,
            "records": self.records,
            "chains": [chain.to_dict() for chain in self.chains],
            "problems": [problem.to_dict() for problem in self.problems],
        }


@dataclass(frozen=True)
class KnownHead:
    """A chain head published earlier (export manifest, `audit heads`): the store must still
    reach it, so deleting a chain's newest records is detected too."""

    chain_id: str
    seq: int
    hash: str


def known_heads(data: object) -> list[KnownHead]:
    """Chain heads from a manifest or a ``heads`` document (``{"chain_heads": [...]}``)."""
    items = data.get("chain_heads", []) if isinstance(data, dict) else []
    heads = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        chain_id, seq, hash_ = item.get("chain_id"), item.get("last_seq"), item.get("last_hash")
        if isinstance(chain_id, str) and isinstance(seq, int) and isinstance(hash_, str):
            heads.append(KnownHead(chain_id, seq, hash_))
    return heads


def _int(value: object) -> int:
    return value if type(value) is int else -1


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


Keys = bytes | Sequence[bytes] | None


def key_list(keys: Keys) -> list[bytes]:
    """The keys given, current first; none for a plain (unkeyed) log."""
    if keys is None:
        return []
    return [keys] if isinstance(keys, bytes) else list(keys)


def make_macs(keys: Keys) -> list[Mac]:
    """One MAC per key (current key first); without keys, plain SHA-256."""
    return [make_mac(key) for key in key_list(keys)] or [make_mac(None)]


async def chain_mac(store: Store, chain_id: str, after_seq: int, macs: Sequence[Mac]) -> Mac:
    """The key a chain was written with (keys rotate; a chain keeps its writer's key)."""
    if len(macs) == 1:
        return macs[0]
    async with contextlib.aclosing(store.read_chain(chain_id, after_seq=after_seq)) as records:
        async for record in records:
            for mac in macs:
                if hmac.compare_digest(record_hash(record, mac), _text(record.get("hash"))):
                    return mac
            break
    return macs[0]


async def unverifiable(store: Store, chain_id: str, after_seq: int, macs: Sequence[Mac]) -> bool:
    """Does no record of the chain (after ``after_seq``; two at least) verify under any key?
    Then the key is wrong or missing: edits leave the records around them sound. (Read only
    when verification already failed.)"""
    seen = 0
    async with contextlib.aclosing(store.read_chain(chain_id, after_seq=after_seq)) as records:
        async for record in records:
            stored = _text(record.get("hash"))
            if any(hmac.compare_digest(record_hash(record, mac), stored) for mac in macs):
                return False
            seen += 1
    return seen >= 2


def checkpoint_mac(checkpoint: Checkpoint, macs: Sequence[Mac]) -> Mac | None:
    return next((mac for mac in macs if checkpoint_valid(checkpoint, mac)), None)


async def verify(store: Store, key: Keys, *, known_heads: Sequence[KnownHead] = ()) -> VerifyReport:
    """Recompute every chain; report the first broken record of each. ``key`` may be a list
    (current key first, then retired ones): each chain is checked with the key it was written with.

    >>> report = await verify(store, key)  # doctest: +SKIP
    >>> report.ok, [p.message for p in report.problems]  # doctest: +SKIP
    """
    macs = make_macs(key)
    checkpoints = await store.checkpoints()
    heads = {head.chain_id: head for head in await store.chain_heads()}
    known = {head.chain_id: head for head in known_heads}
    chain_ids = sorted(set(heads) | set(checkpoints) | set(known))
    reports = []
    for chain_id in chain_ids:
        reports.append(
            await _verify_chain(store, chain_id, macs, checkpoints.get(chain_id), known.get(chain_id))
        )
    # A chain none of whose records verifies is "unverified" (the key is not the log's) only
    # when nothing in the log verifies: when other chains or a checkpoint do, the key is right
    # and such a chain was forged (or written with a retired key not given).
    if any(report.records for report in reports) or any(
        checkpoint_mac(checkpoint, macs) is not None for checkpoint in checkpoints.values()
    ):
        reports = [_forged_if_unverified(report) for report in reports]
    return VerifyReport(keyed=key is not None and key != [], chains=tuple(reports))


def _forged_if_unverified(report: ChainReport) -> ChainReport:
    problem = report.problem
    if problem is None or problem.kind != "unverified":
        return report
    message = (
        "no record of this chain matches its hash under the keys given, while the rest of the log "
        "does: forged records, or a chain written with a retired key not given (--key-file)"
    )
    return dataclasses.replace(
        report, problem=Problem("forged", problem.chain_id, problem.seq, problem.event_id, message)
    )


async def _verify_chain(
    store: Store, chain_id: str, macs: Sequence[Mac], checkpoint: Checkpoint | None, known: KnownHead | None
) -> ChainReport:
    start_seq, prev_hash = 0, ""
    mac = macs[0]
    if checkpoint is not None:
        found = checkpoint_mac(checkpoint, macs)
        if found is None:
            forged = Problem(
                "checkpoint",
                chain_id,
                checkpoint.seq,
                None,
                f"purge checkpoint at seq {checkpoint.seq} has a wrong signature (forged or edited)",
            )
            return ChainReport(chain_id, 0, 0, 0, "", checkpoint.seq, forged)
        mac = found
        start_seq, prev_hash = checkpoint.seq, checkpoint.hash
    else:
        mac = await chain_mac(store, chain_id, start_seq, macs)
    walk = ChainWalk(chain_id, mac, start_seq, prev_hash, known)
    # aclosing: leaving the loop early must release the store's cursor (and its transaction).
    async with contextlib.aclosing(store.read_chain(chain_id, after_seq=start_seq)) as records:
        async for record in records:
            if walk.step(record):
                break
    problem = walk.finish()
    if problem is not None and problem.kind == "forged" and walk.suspect is not None:
        problem = await _classify_link(store, chain_id, walk.suspect, problem, start_seq)
    if problem is not None and walk.count == 0 and await unverifiable(store, chain_id, start_seq, macs):
        problem = Problem("unverified", chain_id, problem.seq, problem.event_id, UNVERIFIED)
    return ChainReport(
        chain_id,
        walk.count,
        walk.first_seq or (start_seq + 1),
        walk.last_seq,
        walk.last_hash,
        None if checkpoint is None else checkpoint.seq,
        problem,
    )


class ChainWalk:
    """Streaming check with one record of look-ahead: the record after a bad one tells an edit
    (the next record still chains to the stored hash) from a forgery or a reordering."""

    def __init__(self, chain_id: str, mac: Mac, start_seq: int, prev_hash: str, known: KnownHead | None):
        self.chain_id = chain_id
        self.mac = mac
        self.expected = start_seq + 1
        self.prev_hash = prev_hash
        self.known = known
        self.count = 0
        self.first_seq = 0
        self.last_seq = start_seq
        self.last_hash = prev_hash
        self.pending: Record | None = None
        self.pending_link_broken = False
        self.problem: Problem | None = None
        self.suspect: Record | None = None  # broken link: maybe reordered, decided later

    def _fail(self, kind: ProblemKind, record: Record, message: str) -> bool:
        seq, event_id = _int(record.get("seq")), _text(record.get("event_id"))
        self.problem = Problem(kind, self.chain_id, seq, event_id, message)
        return True

    def step(self, record: Record) -> bool:
        """Check one record; True when the chain is broken (stop reading)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            return self._judge(pending, record)
        seq, stored_hash = _int(record.get("seq")), _text(record.get("hash"))
        if seq > self.expected:
            gap = f"seq {self.expected}" if seq == self.expected + 1 else f"seq {self.expected}..{seq - 1}"
            return self._fail("deleted", record, f"{gap} missing (deleted) before this record")
        if seq < self.expected:
            return self._fail("forged", record, f"a second record with seq {seq} (inserted)")
        content_ok = hmac.compare_digest(record_hash(record, self.mac), stored_hash)
        link_ok = record.get("prev_hash") == self.prev_hash
        if not (content_ok and link_ok):
            self.pending, self.pending_link_broken = record, not link_ok
            return False
        self.count += 1
        self.first_seq = self.first_seq or seq
        self.expected = seq + 1
        self.last_seq = seq
        self.last_hash = self.prev_hash = stored_hash
        if self.known is not None and seq == self.known.seq and stored_hash != self.known.hash:
            return self._fail("forged", record, "hash differs from the published chain head (rewritten)")
        return False

    def _judge(self, pending: Record, following: Record | None) -> bool:
        vouched = (
            following is not None
            and _int(following.get("seq")) == _int(pending.get("seq")) + 1
            and following.get("prev_hash") == pending.get("hash")
        )
        content_ok = hmac.compare_digest(record_hash(pending, self.mac), _text(pending.get("hash")))
        if vouched and not content_ok:
            return self._fail("edited", pending, "fields were changed after the record was written")
        if self.pending_link_broken:
            self.suspect = pending
            return self._fail("forged", pending, "prev_hash does not match the record before")
        where = "" if following is not None else "last record: "
        return self._fail("forged", pending, f"{where}record does not match its hash (forged or edited)")

    def finish(self) -> Problem | None:
        if self.problem is None and self.pending is not None:
            pending, self.pending = self.pending, None
            self._judge(pending, None)
        if self.problem is None and self.known is not None and self.last_seq < self.known.seq:
            self.problem = Problem(
                "truncated",
                self.chain_id,
                self.last_seq + 1,
                None,
                f"published head was seq {self.known.seq}; the store ends at seq {self.last_seq} "
                "(newest records deleted)",
            )
        return self.problem


async def _classify_link(
    store: Store, chain_id: str, record: Record, problem: Problem, start_seq: int
) -> Problem:
    """A broken prev_hash: if it points at a later record, records were reordered."""
    target, seq = record.get("prev_hash"), _int(record.get("seq"))
    async with contextlib.aclosing(store.read_chain(chain_id, after_seq=seq)) as later_records:
        async for later in later_records:
            if later.get("hash") == target:
                return Problem(
                    "reordered",
                    chain_id,
                    seq,
                    problem.event_id,
                    f"record at seq {seq} was chained after the record now at seq {_int(later.get('seq'))}",
                )
    if seq == start_seq + 1 and start_seq > 0:
        message = "first record after the purge checkpoint does not chain to it"
    else:
        message = "prev_hash does not match the record before (that one was replaced, or this inserted)"
    return Problem("forged", chain_id, seq, problem.event_id, message)
