"""Proof on demand (GDPR art. 7(1), CG-46): streaming exports with a manifest, the notices the
exported events refer to, a check an auditor can run on the files alone, and consent statistics
that hold no personal data.

``FILE`` gets two companions: ``FILE.manifest.json`` (row count, time range, chains, every
chain head of the store, SHA-256 of ``FILE`` and of the notices file) and ``FILE.notices.json``
(each referenced notice version: texts, categories, services, cookie table, first seen).
Memory stays constant: records stream from the store and are written as they come.

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
from typing import BinaryIO, Literal, TextIO

from consentgate import __version__
from consentgate.audit.chain import HASHED_FIELDS, UNVERIFIED, Keys, encode_map, make_macs, record_hash
from consentgate.audit.dashboard import CHOICE_ACTIONS, outcome_of
from consentgate.audit.events import EVENT_FIELDS
from consentgate.audit.notices import notices_document
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


def _companions(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + ".manifest.json"), path.with_name(path.name + ".notices.json")


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
        "consentgate_audit_export": 1,
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
    store: Store, path: str | Path, fmt: Format, query: Query, *, bom: bool = True
) -> dict[str, object]:
    """Write the export to ``path`` and its manifest and notices beside it; returns the manifest.
    A CSV file starts with a UTF-8 byte order mark unless ``bom`` is False."""
    target = Path(path)
    manifest_path, notices_path = _companions(target)
    tally = Tally()
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        async for chunk in export_chunks(store, query, fmt, tally, bom=bom):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    documents = await notices_document(store, tally.notices)
    notices_bytes = json.dumps({"notices": documents}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    notices_path.write_bytes(notices_bytes.encode())
    manifest = await _manifest(store, fmt, query, tally, digest.hexdigest(), size, target.name)
    manifest["notices"] = {
        "file": notices_path.name,
        "sha256": hashlib.sha256(notices_bytes.encode()).hexdigest(),
        "hashes": sorted(documents),
        "missing": sorted(h for h, doc in documents.items() if doc is None),
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
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
    return manifest


# --- checking an export without the store ----------------------------------------------------


@dataclass(frozen=True)
class ExportCheck:
    rows: int
    problems: tuple[str, ...]
    unverified: bool = False  # no row verifies: the key given is not the log's

    @property
    def ok(self) -> bool:
        return not self.problems


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


def verify_export(path: str | Path, key: Keys) -> ExportCheck:
    """Check an export with nothing but its files: the file and notices hashes against the
    manifest, and every row's own hash (with the audit key, proof the row was written by the
    application and not altered since). Streams the file: memory stays constant. A file that
    is not (or stops being) an export of its format is a problem, never an exception."""
    target = Path(path)
    manifest_path, notices_path = _companions(target)
    problems: list[str] = []
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return ExportCheck(0, (f"manifest {manifest_path} unreadable: {exc}",))
    if not isinstance(manifest, dict):
        return ExportCheck(0, (f"manifest {manifest_path} is not a JSON object",))
    if _file_sha256(target) != manifest.get("sha256"):
        problems.append(f"{target.name}: SHA-256 differs from the manifest (file changed)")
    notices = manifest.get("notices")
    if isinstance(notices, dict) and "sha256" in notices:
        if not notices_path.exists():
            problems.append(f"{notices_path.name} is missing")
        elif _file_sha256(notices_path) != notices.get("sha256"):
            problems.append(f"{notices_path.name}: SHA-256 differs from the manifest")
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        return ExportCheck(0, (*problems, f"unknown format {fmt!r} in the manifest"))
    macs = make_macs(key)
    rows = matched = 0
    mismatched: list[str] = []
    unreadable: str | None = None
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))  # a long cell the exporter wrote is no error
    try:
        # utf-8-sig: a CSV export starts with a byte order mark (for Excel).
        with open(target, encoding="utf-8-sig", newline="") as handle:
            for record in _export_rows(handle, fmt):
                rows += 1
                if any(record_hash(_hashed(record), mac) == record.get("hash") for mac in macs):
                    matched += 1
                elif len(mismatched) < _MAX_LISTED:
                    mismatched.append(
                        f"row with event_id {record.get('event_id')} (chain {record.get('chain_id')}, "
                        f"seq {record.get('seq')}) does not match its hash"
                    )
    except (ValueError, csv.Error) as exc:  # ValueError: bad UTF-8, bad JSON, a non-object row
        unreadable = f"{target.name}: not a {fmt} export after row {rows}: {exc}"
    finally:
        csv.field_size_limit(limit)
    if unreadable is not None:
        problems.append(unreadable)
    elif rows != manifest.get("rows"):
        problems.append(f"{rows} rows, the manifest says {manifest.get('rows')}")
    if rows >= 2 and matched == 0:
        # An edit leaves the other rows sound: none verifying means the key is not theirs.
        problems.append(f"no row matches its hash with the key given: {UNVERIFIED}")
        return ExportCheck(rows, tuple(problems), unverified=True)
    problems.extend(mismatched)
    if rows - matched > len(mismatched):
        problems.append(f"… and {rows - matched - len(mismatched)} more rows that do not match their hash")
    return ExportCheck(rows, tuple(problems))


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
