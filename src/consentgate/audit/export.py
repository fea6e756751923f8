"""Proof on demand (GDPR art. 7(1), CG-46): streaming exports with a manifest, the notices the
exported events refer to, a check an auditor can run on the files alone, and consent statistics
that hold no personal data.

``FILE`` gets two companions: ``FILE.manifest.json`` (row count, time range, chains, every
chain head of the store, SHA-256 of ``FILE`` and of the notices file) and ``FILE.notices.json``
(each referenced notice version: texts, categories, services, cookie table, first seen).
Memory stays constant: records stream from the store and are written as they come.

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) — and cells starting with ``'`` — get a leading ``'``; ``verify_export`` and any
careful reader drop one leading ``'`` to get the stored value back.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO, Literal

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
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def utc_iso(ms: int) -> str:
    """Epoch milliseconds -> ``2025-01-31T12:00:00.123Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_when(text: str) -> int:
    """A point in time for filters: ISO date (UTC midnight), ISO date-time (naive = UTC) or
    epoch milliseconds. ValueError with a readable reason otherwise."""
    value = text.strip()
    if re.fullmatch(r"\d{10,}", value):
        return int(value)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write 2025-01-31, 2025-01-31T12:00:00Z or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


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
    return "'" + text if text.startswith(_FORMULA_START) else text


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
    store: Store, query: Query, fmt: Format, tally: Tally | None = None
) -> AsyncIterator[bytes]:
    """The export as a stream of byte chunks (for a file or an HTTP response)."""
    tally = tally if tally is not None else Tally()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
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


async def export_file(store: Store, path: str | Path, fmt: Format, query: Query) -> dict[str, object]:
    """Write the export to ``path`` and its manifest and notices beside it; returns the manifest."""
    target = Path(path)
    manifest_path, notices_path = _companions(target)
    tally = Tally()
    digest = hashlib.sha256()
    size = 0
    with open(target, "wb") as out:
        async for chunk in export_chunks(store, query, fmt, tally):
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


def _read_export(path: Path, fmt: Format) -> list[Record]:
    text = path.read_text("utf-8")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, body = rows[0], rows[1:]
        return [
            {name: _from_csv_cell(name, cell) for name, cell in zip(header, row, strict=False)}
            for row in body
        ]
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data if isinstance(data, list) else []


def _hashed(record: Mapping[str, object]) -> dict[str, object]:
    return {name: record.get(name) for name in HASHED_FIELDS}


def verify_export(path: str | Path, key: Keys) -> ExportCheck:
    """Check an export with nothing but its files: the file and notices hashes against the
    manifest, and every row's own hash (with the audit key, proof the row was written by the
    application and not altered since)."""
    target = Path(path)
    manifest_path, notices_path = _companions(target)
    problems: list[str] = []
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return ExportCheck(0, (f"manifest {manifest_path} unreadable: {exc}",))
    content = target.read_bytes()
    if hashlib.sha256(content).hexdigest() != manifest.get("sha256"):
        problems.append(f"{target.name}: SHA-256 differs from the manifest (file changed)")
    notices = manifest.get("notices")
    if isinstance(notices, dict) and "sha256" in notices:
        if not notices_path.exists():
            problems.append(f"{notices_path.name} is missing")
        elif hashlib.sha256(notices_path.read_bytes()).hexdigest() != notices.get("sha256"):
            problems.append(f"{notices_path.name}: SHA-256 differs from the manifest")
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        return ExportCheck(0, (*problems, f"unknown format {fmt!r} in the manifest"))
    records = _read_export(target, fmt)
    if len(records) != manifest.get("rows"):
        problems.append(f"{len(records)} rows, the manifest says {manifest.get('rows')}")
    macs = make_macs(key)
    matched = [any(record_hash(_hashed(r), mac) == r.get("hash") for mac in macs) for r in records]
    if len(records) >= 2 and not any(matched):
        # An edit leaves the other rows sound: none verifying means the key is not theirs.
        problems.append(f"no row matches its hash with the key given: {UNVERIFIED}")
        return ExportCheck(len(records), tuple(problems), unverified=True)
    for record, ok in zip(records, matched, strict=True):
        if not ok:
            problems.append(
                f"row with event_id {record.get('event_id')} (chain {record.get('chain_id')}, "
                f"seq {record.get('seq')}) does not match its hash"
            )
            if len(problems) >= 20:
                problems.append("… stopped after 20 rows")
                break
    return ExportCheck(len(records), tuple(problems))


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
            day = utc_iso(ts)[:10]
            region = str(record.get("region") or "") or "unknown"
            cell = table.setdefault((day, region), DayRegion(day, region))
            if record.get("action") == "withdraw":
                cell.withdraw += 1
            else:
                outcome = outcome_of(record.get("categories"))
                setattr(cell, outcome, getattr(cell, outcome) + 1)
    return [table[key] for key in sorted(table)]
