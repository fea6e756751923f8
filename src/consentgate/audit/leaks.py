"""``consentgate audit leaks``: CSP violation reports, grouped by host, category and page.

Each ``csp_violation`` event (written by ``consentgate.http.csp_endpoint``) says which host a
page tried to load against the visitor's choice. Grouped, newest first, they answer "which tracker
leaks where, for whom": a ``leak`` is a host of a service the visitor had not granted (a granted
tag manager injecting an ad pixel); ``not_listed`` a granted service the header did not name yet;
``granted_on_page`` a service the visitor granted on the page after it was served; ``follow_on``
a load by a script that was not allowed either (its own report tells); ``unclassified`` a host no
service claims (declare it: docs/csp.md).

    $ consentgate audit leaks --store sqlite:///var/consent.db --days 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from consentgate.audit.stores.base import Query, Record, Store
from consentgate.policy.model import NECESSARY

__all__ = ["LeakGroup", "collect_leaks", "group_violations", "register"]

# Most severe first: a group shows the worst verdict any of its reports had. After the leaks come
# the hosts that enforce mode would break (unclassified, first_party), then configuration gaps.
VERDICTS: tuple[str, ...] = (
    "leak", "suspected_leak", "follow_on", "unclassified", "first_party", "not_listed", "granted_on_page"
)  # fmt: skip
LEAK_VERDICTS = frozenset({"leak", "suspected_leak"})
MAX_SCAN = 200_000  # events read at most; the newest come first


@dataclass
class LeakGroup:
    """Violations of one host on one page, for one category."""

    host: str
    category: str
    page: str
    service: str = ""
    service_name: str = ""
    verdict: str = ""
    count: int = 0
    first_ts: int = 0
    last_ts: int = 0
    directives: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)  # consent states seen, e.g. "analytics"
    sources: set[str] = field(default_factory=set)  # hosts of the scripts that made the load
    enforced: bool = False  # at least one report came from an enforced (blocking) policy

    def add(self, record: Record) -> None:
        detail = _mapping(record.get("detail"))
        ts = record.get("ts")
        ts = ts if isinstance(ts, int) else 0
        self.count += 1
        self.first_ts = ts if not self.first_ts else min(self.first_ts, ts)
        self.last_ts = max(self.last_ts, ts)
        verdict = detail.get("verdict", "")
        if verdict in VERDICTS and (
            not self.verdict or VERDICTS.index(verdict) < VERDICTS.index(self.verdict)
        ):
            self.verdict = verdict
        self.service = self.service or detail.get("service", "")
        self.service_name = self.service_name or detail.get("service_name", "")
        if detail.get("directive"):
            self.directives.add(detail["directive"])
        if detail.get("source_host"):
            self.sources.add(detail["source_host"])
        self.enforced = self.enforced or detail.get("disposition") == "enforce"
        self.granted.add(consent_state(record.get("categories")))

    def to_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "category": self.category,
            "page": self.page,
            "service": self.service,
            "service_name": self.service_name,
            "verdict": self.verdict,
            "count": self.count,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "directives": sorted(self.directives),
            "granted": sorted(self.granted),
            "sources": sorted(self.sources),
            "enforced": self.enforced,
        }


def _mapping(value: object) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def consent_state(categories: object) -> str:
    """ "analytics,preferences", "none" (nothing granted) or "unknown" (no state known).

    >>> consent_state({"necessary": True, "analytics": True, "marketing": False}), consent_state({})
    ('analytics', 'unknown')
    """
    if not isinstance(categories, Mapping) or not categories:
        return "unknown"
    granted = sorted(str(k) for k, v in categories.items() if v is True and k != NECESSARY)
    return ",".join(granted) or "none"


def group_violations(records: Iterable[Record], *, leaks_only: bool = False) -> list[LeakGroup]:
    """Records of ``csp_violation`` events -> groups by (host, category, page), newest first."""
    groups: dict[tuple[str, str, str], LeakGroup] = {}
    for record in records:
        if record.get("action") != "csp_violation":
            continue
        detail = _mapping(record.get("detail"))
        if leaks_only and detail.get("verdict") not in LEAK_VERDICTS:
            continue
        page = record.get("path")
        key = (
            detail.get("blocked_host", "?"),
            detail.get("category", "unknown"),
            page if isinstance(page, str) else "",
        )
        group = groups.get(key)
        if group is None:
            group = groups[key] = LeakGroup(host=key[0], category=key[1], page=key[2])
        group.add(record)
    return sorted(groups.values(), key=lambda g: (g.last_ts, g.count), reverse=True)


async def collect_leaks(
    store: Store,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    leaks_only: bool = False,
    max_scan: int = MAX_SCAN,
) -> list[LeakGroup]:
    """Read ``csp_violation`` events (newest first, at most ``max_scan``) and group them."""
    query = Query(
        since=since_ms, until=until_ms, actions=("csp_violation",), newest_first=True, limit=max_scan
    )
    records = [record async for record in store.read(query)]
    return group_violations(records, leaks_only=leaks_only)


# --- command line ----------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    from consentgate.audit.commands import audit_commands

    audit = audit_commands(subparsers)
    parser = audit.add_parser(
        "leaks",
        help="CSP violations: trackers that tried to load against the visitor's choice",
        description="List csp_violation events grouped by blocked host, category and page, newest "
        "first. Verdicts: leak (a service the visitor had not granted), suspected_leak (consent "
        "state unknown), follow_on (loaded by a script that was not allowed either), unclassified "
        "(no service claims the host: declare it), first_party, not_listed (granted but not yet in "
        "the header), granted_on_page (granted after the page was served).",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("CONSENTGATE_AUDIT_STORE"),
        help="audit store URL, e.g. sqlite:///var/consent.db (default: $CONSENTGATE_AUDIT_STORE)",
    )
    parser.add_argument("--days", type=int, default=30, help="look back this many days (default 30; 0: all)")
    parser.add_argument("--leaks-only", action="store_true", help="only leak and suspected_leak groups")
    parser.add_argument("--limit", type=int, default=100, help="show at most this many groups (default 100)")
    parser.add_argument("--json", action="store_true", help="one JSON object per group, one per line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from consentgate.audit.stores import StoreError, open_existing_store

    out = out if out is not None else sys.stdout
    if not args.store:
        print(
            "consentgate audit leaks: no store: pass --store URL or set CONSENTGATE_AUDIT_STORE",
            file=sys.stderr,
        )
        return 2
    if args.days < 0 or args.limit < 1:
        print("consentgate audit leaks: --days must be 0 or more and --limit at least 1", file=sys.stderr)
        return 2
    since = int((time.time() - args.days * 86400) * 1000) if args.days else None
    try:
        store = open_existing_store(args.store)
    except StoreError as error:
        print(f"consentgate audit leaks: {error}", file=sys.stderr)
        return 2

    async def read() -> list[LeakGroup]:
        await store.open()
        try:
            return await collect_leaks(store, since_ms=since, leaks_only=args.leaks_only)
        finally:
            await store.close()

    try:
        groups = asyncio.run(read())
    except (StoreError, OSError) as error:
        print(f"consentgate audit leaks: {error}", file=sys.stderr)
        return 1
    shown = groups[: args.limit]
    if args.json:
        for group in shown:
            print(json.dumps(group.to_dict(), separators=(",", ":")), file=out)
    else:
        _table(shown, total=len(groups), out=out)
    return 0


def _when(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _table(groups: Sequence[LeakGroup], *, total: int, out: TextIO) -> None:
    if not groups:
        print("No CSP violations recorded in this period.", file=out)
        return
    header = (
        "LAST SEEN (UTC)",
        "COUNT",
        "VERDICT",
        "CATEGORY",
        "SERVICE",
        "HOST",
        "PAGE",
        "DIRECTIVES",
        "GRANTED",
    )
    rows = [header]
    for g in groups:
        service = f"{g.service_name} ({g.service})" if g.service_name and g.service else g.service or "-"
        rows.append(
            (
                _when(g.last_ts),
                str(g.count),
                g.verdict + ("" if g.enforced else " (report-only)"),
                g.category,
                service,
                g.host,
                g.page,
                ",".join(sorted(g.directives)) or "-",
                " | ".join(sorted(g.granted)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )
    if total > len(groups):
        print(f"... {total - len(groups)} more groups (use --limit)", file=out)
