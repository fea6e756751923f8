"""What every audit store offers, and the value types that cross the store boundary.

A store holds four things: consent events (append-only, one hash chain per writer instance),
the notice archive (every distinct notice once, under its hash), the cookie inventory and the
purge checkpoints that keep chains verifiable after old records are deleted.

Rows go in as tuples in ``EVENT_FIELDS`` order (maps already as canonical JSON text), followed by
the record text: the exact canonical JSON the chain hashed. The SQL stores keep that text in one
``record`` column beside the few columns they index or filter on (``STORED_COLUMNS``), so a batch
binds nine values per event instead of 25, and verification re-hashes what is stored. On reading,
the columns override the values decoded from the text: editing a column alone breaks the hash
just as editing the text does. Records come out as plain dicts. Writes are idempotent on the
record's identity ``(chain_id, seq)``, which the writer assigns once together with ``event_id``,
so a replayed spool never duplicates an event.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Literal, Protocol

from consentgate.audit.events import EVENT_FIELDS

# One stored event: EVENT_FIELDS -> JSON value (maps as dicts, or as text from read_chain).
Record = dict[str, object]
# One sealed event ready to store: EVENT_FIELDS order, maps as canonical JSON text, then the
# record text (RECORD_INDEX): the canonical JSON array of the HASHED_FIELDS values.
Row = tuple[object, ...]
RECORD_INDEX = len(EVENT_FIELDS)
HASHED_FIELDS: tuple[str, ...] = EVENT_FIELDS[: EVENT_FIELDS.index("hash")]
# What the SQL stores keep as columns: the indexed and filtered fields, then the record text.
STORED_COLUMNS: tuple[str, ...] = (
    "chain_id",
    "seq",
    "event_id",
    "ts",
    "consent_id",
    "action",
    "region",
    "hash",
)
stored_values = itemgetter(*(EVENT_FIELDS.index(name) for name in STORED_COLUMNS), RECORD_INDEX)

MAP_FIELDS: frozenset[str] = frozenset({"categories", "services", "detail"})
BOOL_FIELDS: frozenset[str] = frozenset({"sec_gpc", "dnt"})
INT_FIELDS: frozenset[str] = frozenset({"ts", "seq"})
MAP_INDEXES: tuple[int, ...] = tuple(i for i, name in enumerate(EVENT_FIELDS) if name in MAP_FIELDS)
StoreKind = Literal["sqlite", "postgresql", "jsonl"]

# Every action a stored record may carry; stats and filters refer to these names.
DECISION_ACTIONS: tuple[str, ...] = ("accept_all", "reject_all", "save", "withdraw", "close", "gpc_optout")


class StoreError(RuntimeError):
    """A configuration or schema problem: raised at start-up, never spooled around."""


@dataclass(frozen=True)
class Query:
    """Which events to read. Times are UTC epoch milliseconds: ``since`` inclusive,
    ``until`` exclusive. Results come ordered by (ts, event_id), or newest first."""

    since: int | None = None
    until: int | None = None
    consent_id: str | None = None
    actions: tuple[str, ...] = ()
    limit: int | None = None
    newest_first: bool = False


@dataclass(frozen=True)
class ChainHead:
    """The stored extent of one writer's chain."""

    chain_id: str
    first_seq: int
    last_seq: int
    last_hash: str
    first_ts: int
    last_ts: int

    def to_dict(self) -> dict[str, object]:
        return {
            "chain_id": self.chain_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


@dataclass(frozen=True)
class Checkpoint:
    """Records ``seq`` and before of ``chain_id`` were purged; ``hash`` was the hash at ``seq``.
    ``signature`` is an HMAC (or plain SHA-256 without a key) over the other fields."""

    chain_id: str
    seq: int
    hash: str
    created: int
    cutoff: int
    signature: str

    def to_dict(self) -> dict[str, object]:
        return {
            "chain_id": self.chain_id,
            "seq": self.seq,
            "hash": self.hash,
            "created": self.created,
            "cutoff": self.cutoff,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class CookieRow:
    """One cookie seen in responses: aggregated counts, never a value."""

    name: str
    domain: str
    classification: str  # a category id, or "unknown"
    service: str
    first_seen: int
    last_seen: int
    count: int

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "domain": self.domain,
            "classification": self.classification,
            "service": self.service,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": self.count,
        }


@dataclass(frozen=True)
class StoredNotice:
    notice_hash: str
    first_seen: int
    doc: Mapping[str, object]


@dataclass(frozen=True)
class PurgePlan:
    """Per chain: delete every record up to ``upto_seq`` (a prefix, so the rest still chains)."""

    chain_id: str
    upto_seq: int


class Store(Protocol):
    """An audit store. Every method may be called from the event loop; none blocks it.

    A store may also have ``rows_per_write``: the largest batch it writes in one piece (SQLite:
    one INSERT statement); the writer then grows its batches no further than that."""

    kind: StoreKind
    url: str  # for messages: never contains a password
    parallel_writes: int  # batches the writer may have in flight at once

    async def open(self) -> None:
        """Connect and check the schema (SQLite/JSONL create it). Raises StoreError when the
        schema is missing or too old; connection failures raise the driver's own errors."""

    async def close(self) -> None: ...

    async def migrate(self) -> list[str]:
        """Create or upgrade the schema; returns what was done."""

    async def write(self, rows: Sequence[Row], *, replay: bool = False) -> int:
        """Append sealed rows in one transaction; returns how many were new. With ``replay``
        the store must skip rows already stored (same chain_id and seq)."""

    def read(self, query: Query) -> AsyncGenerator[Record, None]:
        """Stream matching events, maps as dicts, in constant memory (SQL stores)."""

    def read_chain(self, chain_id: str, after_seq: int = 0) -> AsyncGenerator[Record, None]:
        """Stream one chain by seq, maps as the stored JSON text (what the hash covers)."""

    async def chain_heads(self) -> list[ChainHead]: ...

    async def put_notice(self, notice_hash: str, doc: Mapping[str, object], first_seen: int) -> bool:
        """Archive a notice once; returns False when the hash was already stored."""

    async def get_notice(self, notice_hash: str) -> StoredNotice | None: ...

    async def record_cookies(self, rows: Sequence[CookieRow]) -> None:
        """Add observations: counts add up, first/last seen widen, classification updates."""

    async def list_cookies(self) -> list[CookieRow]: ...

    async def checkpoints(self) -> dict[str, Checkpoint]: ...

    async def plan_purge(self, rule: PurgeRule) -> list[PurgePlan]:
        """Per chain, the longest prefix of records that ``rule`` lets go (past checkpoints)."""

    async def purge(self, checkpoint: Checkpoint) -> int:
        """Store the checkpoint and delete the chain's records up to its seq, atomically."""


@dataclass(frozen=True)
class PurgeRule:
    """When a record may go (all times UTC epoch ms). A record is deletable when
    - ``ts < delete_before``, and
    - no event of the same consent has ``ts >= consent_live_since`` (the consent may still be in
      force, or ended less than the retention period ago), and
    - it is not a record of a protected region younger than ``protect_since`` (US records: at
      least 24 months, CCPA regs §7101(a)).
    Only a chain's prefix is deleted, so one kept record keeps every later record of its chain."""

    delete_before: int
    consent_live_since: int
    protect_regions: tuple[str, ...] = ()
    protect_since: int = 0

    def deletable(self, ts: int, region: str, consent_last_ts: int) -> bool:
        if ts >= self.delete_before or consent_last_ts >= self.consent_live_since:
            return False
        protected = any(region.startswith(prefix) for prefix in self.protect_regions)
        return not (protected and ts >= self.protect_since)


def redact(url: str) -> str:
    """A store URL or DSN without its password, for messages and manifests."""
    url = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


# --- conversions shared by the stores ---------------------------------------------------------


def _as_bool(value: object) -> object:
    # Anything but the two stored encodings is kept raw, so the chain hash flags it.
    if value is True or (value == 1 and type(value) is int):
        return True
    if value is False or (value == 0 and type(value) is int):
        return False
    return value


def parse_map(value: object) -> object:
    """Stored map text -> dict; unparseable text stays a string (and fails verification)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def stored_to_record(row: Sequence[object], *, raw_maps: bool = False) -> Record:
    """Stored columns (``STORED_COLUMNS`` + record text) -> Record. With ``raw_maps`` map text
    stays text (what the hash covers). Text that does not decode leaves its fields out, which
    verification reports as an edited record."""
    try:
        decoded = json.loads(str(row[-1]))
    except ValueError:
        decoded = None
    record: Record = (
        dict(zip(HASHED_FIELDS, decoded, strict=True))
        if isinstance(decoded, list) and len(decoded) == len(HASHED_FIELDS)
        else {}
    )
    record.update(
        zip(STORED_COLUMNS, row[: len(STORED_COLUMNS)], strict=True)
    )  # the columns the queries trusted win
    for name in BOOL_FIELDS:
        record[name] = _as_bool(record.get(name))
    if not raw_maps:
        for name in MAP_FIELDS:
            record[name] = parse_map(record.get(name))
    return record


# --- SQL shared by the SQLite and PostgreSQL stores ------------------------------------------

STORED_COLUMN_LIST = ", ".join((*STORED_COLUMNS, "record"))


def column_type(name: str, *, postgres: bool) -> str:
    """The one mapping from stored column to column type."""
    if name in INT_FIELDS:
        return "BIGINT" if postgres else "INTEGER"
    # record: text, never json/jsonb, so the stored bytes stay the ones that were hashed.
    return "TEXT"


def events_table_ddl(*, postgres: bool) -> str:
    columns = ",\n    ".join(
        f"{name} {column_type(name, postgres=postgres)} NOT NULL" for name in (*STORED_COLUMNS, "record")
    )
    key = ",\n    PRIMARY KEY (chain_id, seq)" if postgres else ""
    return f"CREATE TABLE IF NOT EXISTS audit_events (\n    {columns}{key}\n)"


def same_consent(left: str, right: str, *, tail: int = 0) -> str:
    """SQL: two consent ids are equal. With ``tail`` (SQLite only), through an index on their
    last ``tail`` characters: a small index entry in place of the whole id."""
    if not tail:
        return f"{left} = {right}"
    # The unary + keeps SQLite from propagating `id = ?` into substr(id, ...), which would no
    # longer match the indexed expression.
    return f"substr({left}, -{tail}) = substr({right}, -{tail}) AND +{left} = {right}"


def select_events(
    query: Query, param: str, columns: str = STORED_COLUMN_LIST, *, consent_tail: int = 0
) -> tuple[str, list[object]]:
    """SELECT for a Query; ``param`` is the driver's placeholder ("?" or "%s")."""
    where: list[str] = []
    params: list[object] = []
    if query.since is not None:
        where.append(f"ts >= {param}")
        params.append(query.since)
    if query.until is not None:
        where.append(f"ts < {param}")
        params.append(query.until)
    if query.consent_id is not None:
        where.append(same_consent("consent_id", param, tail=consent_tail))
        params.extend([query.consent_id] * (2 if consent_tail else 1))
    if query.actions:
        where.append(f"action IN ({', '.join([param] * len(query.actions))})")
        params.extend(query.actions)
    sql = f"SELECT {columns} FROM audit_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts DESC, event_id DESC" if query.newest_first else " ORDER BY ts, event_id"
    if query.limit is not None:
        sql += f" LIMIT {int(query.limit)}"
    return sql, params


def like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


Fetch = Callable[[str, Sequence[object]], Awaitable[Sequence[Sequence[object]]]]


async def plan_purge_sql(
    rule: PurgeRule, param: str, fetchall: Fetch, *, consent_tail: int = 0
) -> list[PurgePlan]:
    """The purge plan for a SQL store, touching only expired rows (through the ts index) and,
    per chain, the index range up to its first recent record — so a nightly purge of a 100M-row
    log reads about one day of rows, not the table."""
    consent = same_consent("n.consent_id", "e.consent_id", tail=consent_tail)
    keep = [f"EXISTS (SELECT 1 FROM audit_events n WHERE {consent} AND n.ts >= {param})"]
    params: list[object] = [rule.consent_live_since]
    for prefix in rule.protect_regions:
        keep.append(f"(e.region LIKE {param} ESCAPE '\\' AND e.ts >= {param})")
        params.extend([like_prefix(prefix), rule.protect_since])
    expired = (
        f"SELECT e.chain_id, MIN(e.seq), MAX(e.seq), MIN(CASE WHEN {' OR '.join(keep)} THEN e.seq END), "
        "COALESCE(MAX(c.seq), 0) "
        "FROM audit_events e LEFT JOIN audit_checkpoints c ON c.chain_id = e.chain_id "
        f"WHERE e.ts < {param} AND e.seq > COALESCE(c.seq, 0) GROUP BY e.chain_id ORDER BY e.chain_id"
    )
    first_recent = (
        f"SELECT seq FROM audit_events WHERE chain_id = {param} AND seq > {param} AND ts >= {param} "
        "ORDER BY seq LIMIT 1"
    )
    plans = []
    for chain_id, _first_old, last_old, first_kept_old, checkpoint_seq in await fetchall(
        expired, [*params, rule.delete_before]
    ):
        if not (isinstance(chain_id, str) and isinstance(last_old, int) and isinstance(checkpoint_seq, int)):
            continue
        recent = await fetchall(first_recent, [chain_id, checkpoint_seq, rule.delete_before])
        stops = [seq for seq in (recent[0][0] if recent else None, first_kept_old) if isinstance(seq, int)]
        upto = min(stops) - 1 if stops else last_old
        if upto > checkpoint_seq:
            plans.append(PurgePlan(chain_id, upto))
    return plans


def create_private(path: Path) -> None:
    """Create ``path`` (and its directory) readable by its owner only, unless it exists: consent
    records hold consent ids and network data, and the process umask usually leaves a new file
    readable by every local user. SQLite gives its WAL and journal files the database's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
