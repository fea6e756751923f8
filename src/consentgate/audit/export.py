"""Proof on demand (GDPR art. 7(1), CG-46): streaming exports with a manifest, the notices the
exported events refer to, a check an auditor can run on the files alone, and consent statistics
that hold no personal data.

``FILE`` gets companions: ``FILE.manifest.json`` (row count, time range, chains, every chain
head of the store, SHA-256 of ``FILE`` and of the notices file), ``FILE.notices.json`` (each
referenced notice version: texts, categories, services, cookie table, first seen) and, with the
audit key, ``FILE.signature.json``: the manifest's HMAC under that key (``signing``), so that
whoever edits a row cannot recompute the manifest too. ``verify_export`` checks all of it with
the files and the key alone. Memory stays constant: records stream from the store and are
written as they come.

CSV cells that a spreadsheet would run as a formula — starting with ``= + - @`` (or their
full-width forms), a tab, a carriage return or a NUL, also after leading white space, which
some importers trim — and cells starting with ``'`` get a leading ``'``; ``verify_export`` and
any careful reader drop one leading ``'`` to get the stored value back. A CSV *file*
(``export_file``: the CLI's ``-o``, the admin bundle) starts with a UTF-8 byte order mark:
without one, Excel reads it in the machine's legacy code page and garbles every non-ASCII
character. Streams (stdout, the admin's ``/export``) have none unless asked, for the tools they
are piped into.

References:
- OWASP, "CSV Injection"; OWASP ASVS 5.0 requirement 1.2.10
- RFC 4180 (CSV), RFC 3629 §6 (the UTF-8 byte order mark)
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple, TextIO

from consentgate import __version__
from consentgate.audit.chain import (
    HASHED_FIELDS,
    UNVERIFIED,
    Keys,
    encode_map,
    key_list,
    make_macs,
    record_hash,
)
from consentgate.audit.dashboard import CHOICE_ACTIONS, outcome_of
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.notices import notices_document
from consentgate.audit.signing import ALGORITHM as SIGNATURE_ALGORITHM
from consentgate.audit.signing import SignatureCheck, check_signature, key_id, sign_manifest
from consentgate.audit.stores.base import (
    BOOL_FIELDS,
    INT_FIELDS,
    Query,
    Record,
    Store,
)

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json")
MEDIA_TYPES: Mapping[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "json": "application/json",
}
# The stored fields, then a readable time (derived from ts, not hashed).
EXPORT_COLUMNS: tuple[str, ...] = (*EVENT_FIELDS, "ts_utc")
_CHUNK = 64 * 1024
# What makes a spreadsheet evaluate a cell (OWASP; ASVS 1.2.10 adds NUL), with the full-width
# forms some locales' spreadsheets also take as formula signs.
_FORMULA_SIGNS = frozenset("=+-@\t\r\x00\uff1d\uff0b\uff0d\uff20")
# Skipped when looking for a formula sign: importers that trim cells trim these.
_LEADING_BLANKS = re.compile(r"[\s\ufeff\u200b\u200c\u200d\u2060]+")
CSV_BOM = "\ufeff"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc_iso(ms: int) -> str:
    """Epoch milliseconds -> ``2025-01-31T12:00:00.123Z`` (exact: ``parse_when`` reads it back);
    ``""`` outside years 1-9999. A stored ``ts`` is any integer (an edited one, or an event built
    by a buggy caller): one such record must not stop the export of all the others."""
    try:
        moment = _EPOCH + ms * _MS
    except OverflowError:
        return ""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_when(text: str) -> int:
    """A point in time for filters: ISO date (UTC midnight), ISO date-time (naive = UTC) or
    epoch milliseconds. ValueError with a readable reason otherwise.

    >>> parse_when("2025-01-31T12:00:00.123+01:00")
    1738321200123
    """
    value = text.strip()
    if re.fullmatch(r"\d{12,}", value):
        return int(value)
    if re.fullmatch(r"\d{10,11}", value):
        # Epoch *seconds* (`date +%s`) read as milliseconds would be a day in 1970: refuse.
        raise ValueError(
            f"{text!r} looks like epoch seconds; times are epoch milliseconds ({value}000) "
            "or ISO 8601 (2025-01-31T12:00:00Z)"
        )
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write 2025-01-31, 2025-01-31T12:00:00Z or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic: timestamp() * 1000 is a float and lands 1 ms early for some times.
    return (moment - _EPOCH) // _MS


def export_record(record: Mapping[str, object]) -> dict[str, object]:
    """A stored record in export order, with ``ts_utc`` added."""
    row = {name: record.get(name) for name in EVENT_FIELDS}
    ts = row.get("ts")
    row["ts_utc"] = utc_iso(ts) if isinstance(ts, int) else ""
    return row


def _csv_cell(value: object) -> str:
    if value is True or value is False:
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        text = encode_map(value)
    else:
        text = "" if value is None else str(value)
    return "'" + text if _needs_mark(text) else text


def _needs_mark(text: str) -> bool:
    """Would a spreadsheet run this cell as a formula (or is it marked already)?"""
    if not text:
        return False
    if text[0] in _FORMULA_SIGNS or text[0] == "'":
        return True
    blanks = _LEADING_BLANKS.match(text)
    rest = text[blanks.end() :] if blanks else ""
    return bool(rest) and rest[0] in _FORMULA_SIGNS


@dataclass
class Tally:
    """What the manifest says about the exported rows, gathered while they stream."""

    rows: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    notices: set[str] = field(default_factory=set)
    chains: dict[str, list[int]] = field(default_factory=dict)  # chain_id -> [first, last, rows]

    def add(self, record: Mapping[str, object]) -> None:
        self.rows += 1
        ts, seq, chain_id = record.get("ts"), record.get("seq"), record.get("chain_id")
        if isinstance(ts, int):
            self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
            self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        notice = record.get("notice_hash")
        if isinstance(notice, str) and notice:
            self.notices.add(notice)
        if isinstance(chain_id, str) and isinstance(seq, int):
            extent = self.chains.setdefault(chain_id, [seq, seq, 0])
            extent[0], extent[1], extent[2] = min(extent[0], seq), max(extent[1], seq), extent[2] + 1


async def export_chunks(
    store: Store, query: Query, fmt: Format, tally: Tally | None = None, *, bom: bool = False
) -> AsyncIterator[bytes]:
    """The export as a stream of byte chunks (for a file or an HTTP response). ``bom``: start a
    CSV with a UTF-8 byte order mark, so a spreadsheet reads it as UTF-8."""
    tally = tally if tally is not None else Tally()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        if bom:
            buffer.write(CSV_BOM)
        writer.writerow(EXPORT_COLUMNS)
    elif fmt == "json":
        buffer.write("[")
    first = True
    async with contextlib.aclosing(store.read(query)) as records:
        async for record in records:
            tally.add(record)
            row = export_record(record)
            if fmt == "csv":
                writer.writerow([_csv_cell(value) for value in row.values()])
            else:
                text = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
                if fmt == "json":
                    buffer.write("\n" if first else ",\n")
                buffer.write(text)
                if fmt == "jsonl":
                    buffer.write("\n")
            first = False
            if buffer.tell() >= _CHUNK:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    if fmt == "json":
        buffer.write("\n]\n" if not first else "]\n")
    if buffer.tell():
        yield buffer.getvalue().encode()


class ExportPaths(NamedTuple):
    """An export file and its companions, which travel together."""

    export: Path
    manifest: Path
    notices: Path
    signature: Path


def export_paths(path: str | Path) -> ExportPaths:
    """``FILE`` -> ``FILE``, ``FILE.manifest.json``, ``FILE.notices.json``, ``FILE.signature.json``."""
    target = Path(path)
    return ExportPaths(
        target,
        target.with_name(target.name + ".manifest.json"),
        target.with_name(target.name + ".notices.json"),
        target.with_name(target.name + ".signature.json"),
    )


def _query_dict(query: Query) -> dict[str, object]:
    return {
        "since": None if query.since is None else utc_iso(query.since),
        "until": None if query.until is None else utc_iso(query.until),
        "consent_id": query.consent_id,
        "actions": list(query.actions),
    }


async def _manifest(
    store: Store, fmt: Format, query: Query, tally: Tally, digest: str, size: int, name: str | None
) -> dict[str, object]:
    heads = await store.chain_heads()
    checkpoints = await store.checkpoints()
    return {
        # 2: signed (FILE.signature.json) when exported with the audit key.
        "consentgate_audit_export": 2,
        "generator": f"consentgate {__version__}",
        "exported_at": utc_iso(int(datetime.now(UTC).timestamp() * 1000)),
        "store": store.url,
        "file": name,
        "format": fmt,
        "bytes": size,
        "sha256": digest,
        "rows": tally.rows,
        "query": _query_dict(query),
        "time_range": None
        if tally.first_ts is None or tally.last_ts is None
        else {
            "first_ts": tally.first_ts,
            "last_ts": tally.last_ts,
            "first_utc": utc_iso(tally.first_ts),
            "last_utc": utc_iso(tally.last_ts),
        },
        "chains_in_export": [
            {"chain_id": chain_id, "first_seq": first, "last_seq": last, "rows": rows}
            for chain_id, (first, last, rows) in sorted(tally.chains.items())
        ],
        "chain_heads": [head.to_dict() for head in heads],
        "checkpoints": [checkpoint.to_dict() for checkpoint in checkpoints.values()],
        "hash": "each row's `hash` is HMAC-SHA256 (SHA-256 without an audit key) of the canonical JSON "
        "array of the fields before it; see docs/audit.md",
    }


async def export_file(
    store: Store, path: str | Path, fmt: Format, query: Query, *, key: bytes | None, bom: bool = True
) -> dict[str, object]:
    """Write the export to ``path`` and its manifest and notices beside it, and with ``key`` (the
    audit key; the current one when keys rotate) the manifest's signature; returns the manifest.
    Without a key nothing is signed, and ``verify_export`` refuses the export unless told to
    accept an unsigned one. A CSV file starts with a UTF-8 byte order mark unless ``bom`` is False.

    >>> await export_file(store, "proof.csv", "csv", Query(consent_id=cid), key=audit_key)  # doctest: +SKIP
    """
    paths = export_paths(path)
    tally = Tally()
    digest = hashlib.sha256()
    size = 0
    with open(paths.export, "wb") as out:
        async for chunk in export_chunks(store, query, fmt, tally, bom=bom):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    documents = await notices_document(store, tally.notices)
    notices_bytes = json.dumps({"notices": documents}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    paths.notices.write_bytes(notices_bytes.encode())
    manifest = await _manifest(store, fmt, query, tally, digest.hexdigest(), size, paths.export.name)
    manifest["notices"] = {
        "file": paths.notices.name,
        "sha256": hashlib.sha256(notices_bytes.encode()).hexdigest(),
        "hashes": sorted(documents),
        "missing": sorted(h for h, doc in documents.items() if doc is None),
    }
    manifest["signature"] = (
        None
        if key is None
        else {"file": paths.signature.name, "algorithm": SIGNATURE_ALGORITHM, "key_id": key_id(key)}
    )
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    paths.manifest.write_bytes(manifest_bytes)
    if key is None:
        # A signature left by an earlier export to this path would sign another manifest.
        paths.signature.unlink(missing_ok=True)
    else:
        paths.signature.write_bytes(sign_manifest(manifest_bytes, key))
    return manifest


async def export_stream(store: Store, out: BinaryIO, fmt: Format, query: Query) -> dict[str, object]:
    """Write the export to an open binary stream (e.g. stdout); returns the manifest."""
    tally = Tally()
    digest = hashlib.sha256()
    size = 0
    async for chunk in export_chunks(store, query, fmt, tally):
        out.write(chunk)
        digest.update(chunk)
        size += len(chunk)
    out.flush()
    manifest = await _manifest(store, fmt, query, tally, digest.hexdigest(), size, None)
    manifest["notices"] = {"hashes": sorted(tally.notices)}
    manifest["signature"] = None  # a stream has no file beside it to sign: use export_file
    return manifest


# --- checking an export without the store ----------------------------------------------------


@dataclass(frozen=True)
class ExportCheck:
    """What ``verify_export`` found: findings (each one fails the export), or that nothing in
    it verifies with the keys given (the wrong key, or everything rewritten)."""

    rows: int
    problems: tuple[str, ...]
    unverified: str | None = None  # nothing verifies: why (exit 3 when it is the only finding)
    signed_by: str | None = None  # the key id whose signature holds
    unsigned: bool = False  # no signature, accepted as asked: the manifest itself proves nothing

    @property
    def ok(self) -> bool:
        return not self.problems and self.unverified is None


def _from_csv_cell(name: str, text: str) -> object:
    if text.startswith("'"):
        text = text[1:]
    if name in INT_FIELDS:
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if name in BOOL_FIELDS:
        return {"true": True, "false": False}.get(text, text)
    return text  # map fields stay the JSON text that was hashed


class _Unreadable(ValueError):
    """The export file stops being rows of its format."""


def _json_row(text: str) -> Record:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise _Unreadable(f"a row is a JSON {type(value).__name__}, not an object")
    return value


def _export_rows(handle: TextIO, fmt: Format) -> Iterator[Record]:
    """The rows of an export, one at a time (constant memory, whatever the file's size)."""
    if fmt == "csv":
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return  # an empty file: no rows (the row count and SHA-256 tell the rest)
        for row in reader:
            yield {name: _from_csv_cell(name, cell) for name, cell in zip(header, row, strict=False)}
    elif fmt == "jsonl":
        for line in handle:
            if line.strip():
                yield _json_row(line)
    else:
        # export_chunks writes a JSON array one row per line: "[", "{…},", …, "{…}", "]".
        for line in handle:
            text = line.strip()
            if text not in ("", "[", "]", "[]"):
                yield _json_row(text.removesuffix(","))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hashed(record: Mapping[str, object]) -> dict[str, object]:
    return {name: record.get(name) for name in HASHED_FIELDS}


_MAX_LISTED = 20  # rows named one by one; the rest are counted


def verify_export(path: str | Path, key: Keys, *, allow_unsigned: bool = False) -> ExportCheck:
    """Check an export with nothing but its files and the audit key: the manifest's signature
    (made with one of ``key``: current first, then retired ones), the file and notices hashes it
    lists, and every row's own hash (proof the row was written by the application and not
    altered since). Streams the file: memory stays constant. A file that is not (or stops being)
    an export of its format is a problem, never an exception. ``allow_unsigned`` accepts a
    manifest without a signature (an export made without a key, or before exports were signed)
    and says so; a signature that is there must hold either way.

    >>> verify_export("proof.csv", [current_key, retired_key]).ok  # doctest: +SKIP
    True
    """
    paths = export_paths(path)
    try:
        manifest_bytes = paths.manifest.read_bytes()
    except OSError as exc:
        return ExportCheck(0, (f"manifest {paths.manifest} unreadable: {exc}",))
    signature = _signature(paths, manifest_bytes, key_list(key))
    problems: list[str] = []
    if signature.status not in ("valid", "missing", "unknown_key"):
        problems.append(f"{paths.signature.name}: {signature.message}")
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except ValueError as exc:  # (UnicodeDecodeError is a ValueError)
        return ExportCheck(0, (*problems, f"manifest {paths.manifest} unreadable: {exc}"))
    if not isinstance(manifest, dict):
        return ExportCheck(0, (*problems, f"manifest {paths.manifest} is not a JSON object"))
    unsigned = signature.status == "missing" and allow_unsigned and not _claims_signature(manifest)
    if signature.status == "missing" and not unsigned:
        problems.append(_missing_signature(paths, manifest))
    problems.extend(_file_problems(paths, manifest))
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        return ExportCheck(0, (*problems, f"unknown format {fmt!r} in the manifest"))
    rows = _check_rows(paths.export, fmt, key)
    if rows.unreadable is not None:
        problems.append(rows.unreadable)
    elif rows.count != manifest.get("rows"):
        problems.append(f"{rows.count} rows, the manifest says {manifest.get('rows')}")
    signed_by = signature.key_id if signature.valid else None
    unknown_key = signature.status == "unknown_key"
    # An edit leaves the other rows sound: none verifying means the key is not theirs (so also
    # when a signature by an unknown key comes with rows that do not verify either).
    if rows.matched == 0 and (rows.count >= 2 or unknown_key):
        what = "no row matches its hash" if rows.count else "the export has no rows to check"
        why = f"{signature.message}, and {what}" if unknown_key else f"{what} with the key given"
        return ExportCheck(rows.count, tuple(problems), f"{why}: {UNVERIFIED}", signed_by, unsigned)
    if unknown_key:
        problems.append(f"{paths.signature.name}: {signature.message}: re-signed, or a key not given")
    problems.extend(rows.mismatched)
    if rows.count - rows.matched > len(rows.mismatched):
        more = rows.count - rows.matched - len(rows.mismatched)
        problems.append(f"… and {more} more rows that do not match their hash")
    return ExportCheck(rows.count, tuple(problems), None, signed_by, unsigned)


def _signature(paths: ExportPaths, manifest: bytes, keys: list[bytes]) -> SignatureCheck:
    try:
        signature: bytes | None = paths.signature.read_bytes()
    except FileNotFoundError:
        signature = None
    except OSError as exc:
        return SignatureCheck("malformed", f"unreadable: {exc}")
    return check_signature(manifest, signature, keys)


def _claims_signature(manifest: Mapping[str, object]) -> bool:
    return isinstance(manifest.get("signature"), dict)


def _missing_signature(paths: ExportPaths, manifest: Mapping[str, object]) -> str:
    claim = manifest.get("signature")
    if isinstance(claim, dict):
        return (
            f"{paths.signature.name} is missing: the manifest says it was signed with key id "
            f"{claim.get('key_id')}"
        )
    return (
        f"{paths.signature.name} is missing: the manifest is not signed, so it proves nothing "
        "against an edit (exported without an audit key, or before exports were signed; "
        "--allow-unsigned checks the rest of such an export)"
    )


def _file_problems(paths: ExportPaths, manifest: Mapping[str, object]) -> list[str]:
    problems = []
    if _file_sha256(paths.export) != manifest.get("sha256"):
        problems.append(f"{paths.export.name}: SHA-256 differs from the manifest (file changed)")
    notices = manifest.get("notices")
    if isinstance(notices, dict) and "sha256" in notices:
        if not paths.notices.exists():
            problems.append(f"{paths.notices.name} is missing")
        elif _file_sha256(paths.notices) != notices.get("sha256"):
            problems.append(f"{paths.notices.name}: SHA-256 differs from the manifest")
    return problems


@dataclass
class _Rows:
    count: int = 0
    matched: int = 0
    mismatched: list[str] = field(default_factory=list)  # the first _MAX_LISTED
    unreadable: str | None = None


def _check_rows(target: Path, fmt: Format, key: Keys) -> _Rows:
    macs = make_macs(key)
    rows = _Rows()
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))  # a long cell the exporter wrote is no error
    try:
        # utf-8-sig: a CSV export starts with a byte order mark (for Excel).
        with open(target, encoding="utf-8-sig", newline="") as handle:
            for record in _export_rows(handle, fmt):
                rows.count += 1
                if any(record_hash(_hashed(record), mac) == record.get("hash") for mac in macs):
                    rows.matched += 1
                elif len(rows.mismatched) < _MAX_LISTED:
                    rows.mismatched.append(
                        f"row with event_id {record.get('event_id')} (chain {record.get('chain_id')}, "
                        f"seq {record.get('seq')}) does not match its hash"
                    )
    except (ValueError, csv.Error) as exc:  # ValueError: bad UTF-8, bad JSON, a non-object row
        rows.unreadable = f"{target.name}: not a {fmt} export after row {rows.count}: {exc}"
    finally:
        csv.field_size_limit(limit)
    return rows


# --- statistics without personal data --------------------------------------------------------


@dataclass
class DayRegion:
    day: str
    region: str
    accept: int = 0
    partial: int = 0
    reject: int = 0
    withdraw: int = 0

    @property
    def choices(self) -> int:
        return self.accept + self.partial + self.reject

    def to_dict(self) -> dict[str, object]:
        rate = (self.accept + self.partial) / self.choices if self.choices else None
        return {
            "day": self.day,
            "region": self.region,
            "accept": self.accept,
            "partial": self.partial,
            "reject": self.reject,
            "withdraw": self.withdraw,
            "choices": self.choices,
            "consent_rate": None if rate is None else round(rate, 4),
        }


async def consent_stats(store: Store, query: Query) -> list[DayRegion]:
    """Choices per UTC day and region: counts of accept / partial / reject and withdrawals.
    Nothing identifies a visitor (no ids, no paths, no user agents)."""
    wanted = (*sorted(CHOICE_ACTIONS), "withdraw")
    table: dict[tuple[str, str], DayRegion] = {}
    select = Query(since=query.since, until=query.until, actions=wanted)
    async with contextlib.aclosing(store.read(select)) as records:
        async for record in records:
            ts = record.get("ts")
            if not isinstance(ts, int):
                continue
            day = utc_iso(ts)[:10] or "invalid"  # (a ts no calendar holds)
            region = str(record.get("region") or "") or "unknown"
            cell = table.setdefault((day, region), DayRegion(day, region))
            if record.get("action") == "withdraw":
                cell.withdraw += 1
            else:
                outcome = outcome_of(record.get("categories"))
                setattr(cell, outcome, getattr(cell, outcome) + 1)
    return [table[key] for key in sorted(table)]
