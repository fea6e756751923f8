"""``consentgate audit …``: migrate, verify, export, verify-export, purge, stats, cookies, heads,
notice, history.

The store comes from ``--store URL`` or ``CONSENTGATE_AUDIT_STORE``; the chain key from
``--key-file FILE`` or ``CONSENTGATE_AUDIT_KEY`` (``export -o`` signs the manifest with it).
Exit status: 0 fine, 1 the log (or an export: a row, a file, the manifest's signature) failed
verification, 2 a usage or store error, 3 (verify, verify-export) nothing verifies with the key
given: not the log's key, or every record rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO, get_args

from consentgate.audit.chain import VerifyReport, known_heads, load_key, verify
from consentgate.audit.events import Action
from consentgate.audit.export import (
    FORMATS,
    consent_stats,
    export_file,
    export_paths,
    export_stream,
    parse_when,
    verify_export,
)
from consentgate.audit.history import consent_history, print_history
from consentgate.audit.notices import notices_document
from consentgate.audit.retention import DAY_MS, purge, purge_rule
from consentgate.audit.signing import ALGORITHM as SIGNATURE_ALGORITHM
from consentgate.audit.signing import key_id
from consentgate.audit.stores import Store, StoreError, open_existing_store, open_store
from consentgate.audit.stores.base import Query, redact
from consentgate.audit.stores.jsonl import JsonlStore
from consentgate.audit.stores.sqlite import SQLiteStore
from consentgate.policy.durations import parse_duration

_PROG = "consentgate audit"
_NO_EVENTS = (
    "no event of consent id {consent_id!r} in this log (ids are exact and case-sensitive; "
    "events older than the retention period are purged)"
)


class _UsageError(ValueError):
    pass


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    commands = audit_commands(subparsers)

    def add(name: str, help_: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_, description=help_)
        parser.set_defaults(func=func)
        return parser

    migrate = add(
        "migrate", "create or upgrade the audit schema (PostgreSQL: run once, as an owner role)", _migrate
    )
    _store_option(migrate)

    check = add("verify", "recompute every hash chain; exit 1 and name the record on any break", _verify)
    _store_option(check)
    _key_option(check)
    check.add_argument(
        "--heads",
        metavar="FILE",
        help="a manifest or `audit heads` output: the log must still reach those heads",
    )
    check.add_argument("--json", action="store_true", help="print the full report as JSON")

    export = add("export", "stream events to CSV/JSONL/JSON with a manifest and the notices shown", _export)
    _store_option(export)
    export.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    _filter_options(export)
    export.add_argument("--consent-id", help="only this consent id")
    export.add_argument(
        "--action",
        action="append",
        default=[],
        choices=get_args(Action),
        metavar="ACTION",
        help=f"only this action (repeatable): {', '.join(get_args(Action))}",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write FILE, FILE.manifest.json, FILE.notices.json and, with the audit key, "
        "FILE.signature.json (the manifest's signature)",
    )
    _key_option(
        export,
        "the audit key that signs the manifest (default: $CONSENTGATE_AUDIT_KEY); the first one given signs",
    )
    export.add_argument(
        "--no-bom",
        action="store_true",
        help="no UTF-8 byte order mark at the start of a CSV file (it is there for Excel)",
    )

    check_export = add(
        "verify-export",
        "check an export's signature, its files and every row's hash, without the store",
        _verify_export,
    )
    check_export.add_argument("file", help="the exported file (its manifest and signature beside it)")
    _key_option(check_export)
    check_export.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="accept an export without a signature (made without a key, or before exports were "
        "signed): its rows are still checked, but its manifest proves nothing",
    )

    retention = add(
        "purge", "delete records past retention; chains stay verifiable (signed checkpoints)", _purge
    )
    _store_option(retention)
    _key_option(retention)
    retention.add_argument(
        "--older-than",
        help="retention period, e.g. 3y, 36 months (default: the policy's audit.retention, else 3y)",
    )
    retention.add_argument(
        "--policy", metavar="FILE", help="the site's consentgate.toml: its [audit] retention is the default"
    )
    retention.add_argument(
        "--consent-lifetime", default="395 days", help="longest a choice stays in force (default 395 days)"
    )
    retention.add_argument(
        "--us-minimum", default="730 days", help="US records kept at least this long (24 months)"
    )
    retention.add_argument("--dry-run", action="store_true", help="show what would go, delete nothing")

    stats = add("stats", "consent rates per day and region (no personal data)", _stats)
    _store_option(stats)
    _filter_options(stats)
    stats.add_argument("--json", action="store_true")

    cookies = add("cookies", "the cookie inventory: names, domains, classification, counts", _cookies)
    _store_option(cookies)
    cookies.add_argument("--json", action="store_true")

    heads = add("heads", "print every chain head as JSON (publish it elsewhere, daily)", _heads)
    _store_option(heads)

    notice = add("notice", "print the archived notice an event's notice_hash refers to", _notice)
    _store_option(notice)
    notice.add_argument("notice_hash")

    history = add(
        "history",
        "one consent id's events, oldest first, each row checked, with the notice texts shown",
        _history,
    )
    _store_option(history)
    _key_option(history)
    history.add_argument("consent_id", help="the id the visitor's preference centre or receipt shows")
    history.add_argument("--json", action="store_true", help="print it as JSON")


def audit_commands(subparsers: argparse._SubParsersAction[Any]) -> argparse._SubParsersAction[Any]:
    """The ``audit`` parser's sub-commands, shared by every module that adds audit commands: the
    first to register creates the parser, the others add to it."""
    audit = subparsers.choices.get("audit")
    if audit is None:
        audit = subparsers.add_parser("audit", help="audit log tools", description="Audit log tools.")
        audit.set_defaults(func=lambda args: _usage(audit))
    for action in audit._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    commands: argparse._SubParsersAction[Any] = audit.add_subparsers(dest="audit_command", metavar="COMMAND")
    return commands


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get("CONSENTGATE_AUDIT_STORE"),
        help="audit store URL: sqlite:///path, postgresql://user@host/db or jsonl:///path "
        "(default: $CONSENTGATE_AUDIT_STORE)",
    )


def _key_option(
    parser: argparse.ArgumentParser,
    help_: str = "the audit key (default: $CONSENTGATE_AUDIT_KEY); repeat for retired keys, current key first",
) -> None:
    parser.add_argument("--key-file", metavar="FILE", action="append", default=[], help=help_)


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="from this time: 2025-01-31, 2025-01-31T12:00:00Z or epoch ms")
    parser.add_argument("--until", help="before this time (same forms)")


def _key(args: argparse.Namespace) -> list[bytes] | None:
    """The keys from --key-file (current first, then retired ones), else $CONSENTGATE_AUDIT_KEY;
    None when there is none (plain chains)."""
    keys: list[bytes] = []
    for path in getattr(args, "key_file", []):
        try:
            raw = Path(path).read_bytes().strip()
        except OSError as exc:
            raise _UsageError(f"--key-file: {exc}") from None
        keys.append(load_key(raw, name="--key-file") or b"")
    value = os.environ.get("CONSENTGATE_AUDIT_KEY")
    if not keys and value:
        keys.append(load_key(value, name="CONSENTGATE_AUDIT_KEY") or b"")
    return keys or None


def _store(args: argparse.Namespace, *, create: bool = False) -> Store:
    """The store of --store; only ``migrate`` (``create``) may make a new one."""
    if not args.store:
        raise _UsageError("no store: pass --store URL or set CONSENTGATE_AUDIT_STORE")
    return open_store(args.store) if create else open_existing_store(args.store)


def _query(args: argparse.Namespace) -> Query:
    try:
        since = parse_when(args.since) if args.since else None
        until = parse_when(args.until) if args.until else None
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if since is not None and until is not None and until <= since:
        raise _UsageError(f"--until ({args.until}) is not after --since ({args.since}): nothing can match")
    consent_id = getattr(args, "consent_id", None)
    return Query(
        since=since,
        until=until,
        consent_id=None if consent_id is None else _consent_id(consent_id),
        actions=tuple(getattr(args, "action", ()) or ()),
    )


def _run(
    args: argparse.Namespace, body: Callable[[Store], Awaitable[int]], *, open_first: bool = True
) -> int:
    """Open the store, run the command, close the store; errors become exit status 2."""

    async def main() -> int:
        store = _store(args, create=not open_first)
        try:
            if open_first:
                await store.open()
            return await body(store)
        finally:
            await store.close()

    # The PostgreSQL pool retries in the background and logs every failed attempt; a command
    # says once why it could not connect (below), so those repeats are not shown.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(main())
    except (_UsageError, StoreError, ValueError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # the reader went away (`| head`): consentgate.cli ends quietly
    except OSError as exc:
        print(f"{_PROG}: error: the audit store is unavailable: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # driver errors (e.g. psycopg.OperationalError) without a traceback
        reason = _connect_error(args.store) if type(exc).__name__ == "PoolTimeout" else None
        if reason is not None:
            print(f"{_PROG}: error: cannot connect to {redact(args.store)}: {reason}", file=sys.stderr)
        else:
            print(f"{_PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _connect_error(url: str) -> str | None:
    """Why one plain connection to a PostgreSQL store fails (the pool only says it timed out)."""
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        return " ".join(str(exc).split())
    return None


def _guard(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad options (a short key, an unparseable time) end with a message and status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (_UsageError, ValueError) as exc:
            print(f"{_PROG}: error: {exc}", file=sys.stderr)
            return 2

    return run


# --- commands ----------------------------------------------------------------------------------


@_guard
def _migrate(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        done = await store.migrate()
        print("\n".join(done) if done else f"{store.url}: audit schema is up to date")
        return 0

    return _run(args, body, open_first=False)


def print_report(report: VerifyReport, out: TextIO) -> None:
    mode = "keyed HMAC-SHA256" if report.keyed else "plain SHA-256, no key: insiders are not detected"
    for chain in report.chains:
        problem = chain.problem
        if problem is None:
            continue
        event = f", event {problem.event_id}" if problem.event_id else ""
        print(
            f"BROKEN chain {chain.chain_id} at seq {problem.seq}{event}: {problem.kind} — {problem.message}",
            file=out,
        )
    status = "OK" if report.ok else f"FAILED ({len(report.problems)} broken chains)"
    print(f"{status}: {len(report.chains)} chains, {report.records} records verified ({mode})", file=out)
    # Retention deletes chain prefixes: say so, or a DPO reading "0 records verified" of a
    # purged chain cannot tell a lawful purge from a deletion.
    purged = [
        chain
        for chain in report.chains
        if chain.checkpoint_seq is not None and (chain.problem is None or chain.problem.kind != "checkpoint")
    ]
    if purged:
        deleted = sum(chain.checkpoint_seq or 0 for chain in purged)
        whole = sum(1 for chain in purged if chain.records == 0)
        print(
            f"retention: {len(purged)} chains start after a signed purge checkpoint ({deleted} older "
            f"records deleted by purge; {whole} chains purged entirely); verified from there",
            file=out,
        )
    if not report.chains:
        print("note: the log holds no records (nothing was written yet, or everything was deleted)", file=out)


@_guard
def _verify(args: argparse.Namespace) -> int:
    key = _key(args)
    heads = []
    if args.heads:
        try:
            document = json.loads(Path(args.heads).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise _UsageError(f"--heads: {exc}") from None
        heads = known_heads(document)
        listed = document.get("chain_heads") if isinstance(document, dict) else None
        if not isinstance(listed, list) or len(heads) != len(listed):
            # A file that is not a heads document would check nothing and still say OK. (The
            # heads of an empty log, an empty list, are a heads document.)
            raise _UsageError(
                f"--heads: {args.heads} is not a heads document "
                "(chain_heads: a list of chain_id, last_seq, last_hash)"
            )

    async def body(store: Store) -> int:
        report = await verify(store, key, known_heads=heads)
        unreadable = await store.unreadable_lines() if isinstance(store, JsonlStore) else []
        if args.json:
            print(json.dumps({**report.to_dict(), "unreadable_lines": unreadable}, indent=2))
        else:
            print_report(report, sys.stdout)
            if unreadable:
                numbers = ", ".join(map(str, unreadable))
                print(
                    f"warning: lines {numbers} of {store.url} are not records and were skipped: a write "
                    "cut short (full disk, crash) leaves one; any other is damage, and its record "
                    "shows above as missing from its chain (or, at a chain's end, against published heads)",
                    file=sys.stdout,
                )
        if report.problems and all(problem.kind == "unverified" for problem in report.problems):
            return 3  # no record verifies with the key given: not its key, or all rewritten
        return 0 if report.ok else 1

    return _run(args, body)


@_guard
def _export(args: argparse.Namespace) -> int:
    query = _query(args)
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise _UsageError(f"--output: no directory {Path(args.output).resolve().parent}")
    if args.output and Path(args.output).is_dir():
        # (else the OSError would be reported as the store being unavailable)
        raise _UsageError(f"--output: {args.output} is a directory; name the file to write")

    keys = _key(args)
    key = keys[0] if keys else None

    async def body(store: Store) -> int:
        if args.output:
            _refuse_to_overwrite_a_log(store, Path(args.output))
            manifest = await export_file(store, args.output, args.format, query, key=key, bom=not args.no_bom)
            notices = manifest.get("notices")
            missing = notices.get("missing") if isinstance(notices, dict) else None
            signed = f"manifest signed with key id {key_id(key)}" if key else "manifest"
            print(
                f"{args.output}: {manifest['rows']} rows, sha256 {manifest['sha256']}; "
                f"{signed} and notices beside it",
                file=sys.stderr,
            )
            if key is None:
                print(
                    f"{_PROG}: warning: the manifest is not signed (no --key-file or "
                    "$CONSENTGATE_AUDIT_KEY): anyone who edits the export can rewrite it, and "
                    "verify-export refuses it without --allow-unsigned",
                    file=sys.stderr,
                )
            if missing:
                print(
                    f"{_PROG}: warning: notices not archived: {', '.join(map(str, missing))}", file=sys.stderr
                )
        else:
            manifest = await export_stream(store, sys.stdout.buffer, args.format, query)
            print(json.dumps(manifest, indent=2), file=sys.stderr)
        if query.consent_id is not None and manifest["rows"] == 0:
            # An empty proof file reads as "this visitor never consented": say why it may be empty.
            print(f"{_PROG}: warning: {_NO_EVENTS.format(consent_id=query.consent_id)}", file=sys.stderr)
        return 0

    return _run(args, body)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _refuse_to_overwrite_a_log(store: Store, target: Path) -> None:
    """``-o`` naming the log itself (``--store sqlite:///consent.db -o consent.db``) would
    truncate the evidence to nothing before reading it; a SQLite file is never an export either."""
    own = {path.resolve() for path in (store.files() if isinstance(store, SQLiteStore | JsonlStore) else ())}
    for path in export_paths(target):
        if path.resolve() in own:
            raise _UsageError(f"--output: {path} is a file of the audit log itself; export elsewhere")
        try:
            with open(path, "rb") as handle:
                is_database = handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
        except OSError:
            continue  # (no such file yet: fine)
        if is_database:
            raise _UsageError(f"--output: {path} is a SQLite database, not an export; export elsewhere")


@_guard
def _verify_export(args: argparse.Namespace) -> int:
    key = _key(args)
    if not Path(args.file).is_file():
        raise _UsageError(f"{args.file}: no such file")
    check = verify_export(args.file, key, allow_unsigned=args.allow_unsigned)
    if check.signed_by is not None:
        print(f"SIGNED manifest: {SIGNATURE_ALGORITHM} by key id {check.signed_by}, signature holds")
    elif check.unsigned:
        print("UNSIGNED manifest (accepted: --allow-unsigned): its row count and file hashes prove nothing")
    for problem in check.problems:
        print(f"BROKEN {problem}")
    if check.unverified is not None:
        print(f"UNVERIFIED {check.unverified}")
    print(f"{'OK' if check.ok else 'FAILED'}: {check.rows} rows checked in {args.file}")
    if check.unverified is not None and not check.problems:
        return 3  # nothing verifies with the key given: not its key, or all rewritten
    return 0 if check.ok else 1


def _duration_ms(text: str, option: str) -> int:
    try:
        return parse_duration(text) * 1000
    except ValueError as exc:
        raise _UsageError(f"{option}: {exc}") from None


@_guard
def _purge(args: argparse.Namespace) -> int:
    key = _key(args)
    now = int(time.time() * 1000)
    if args.older_than is not None:
        older_than_ms = _duration_ms(args.older_than, "--older-than")
    elif args.policy is not None:
        from consentgate.policy.load import PolicyError, load_file

        try:
            older_than_ms = load_file(args.policy).audit_retention_seconds * 1000
        except PolicyError as exc:
            raise _UsageError(f"--policy: {exc}") from None
    else:
        older_than_ms = _duration_ms("3y", "--older-than")
    rule = purge_rule(
        now_ms=now,
        older_than_ms=older_than_ms,
        consent_lifetime_ms=_duration_ms(args.consent_lifetime, "--consent-lifetime"),
        protect_min_age_ms=_duration_ms(args.us_minimum, "--us-minimum"),
    )

    async def body(store: Store) -> int:
        report = await purge(store, key, rule, dry_run=args.dry_run, now_ms=now)
        verb = "would delete" if args.dry_run else "deleted"
        for chain in report.purged:
            print(f"{verb} chain {chain.chain_id} up to seq {chain.upto_seq} ({chain.deleted} records)")
        for chain_id, why in report.skipped:
            print(f"SKIPPED chain {chain_id}: {why}", file=sys.stderr)
        days = (now - rule.delete_before) // DAY_MS
        print(f"{verb} {report.deleted} records older than {days} days; {len(report.skipped)} chains skipped")
        return 1 if report.skipped else 0

    return _run(args, body)


@_guard
def _stats(args: argparse.Namespace) -> int:
    query = _query(args)

    async def body(store: Store) -> int:
        rows = await consent_stats(store, query)
        if args.json:
            print(json.dumps([row.to_dict() for row in rows], indent=2))
            return 0
        header = ("accept", "partial", "reject")
        print(
            f"{'day':<10}  {'region':<8} "
            + " ".join(f"{h:>7}" for h in header)
            + f" {'withdraw':>8} {'rate':>6}"
        )
        for row in rows:
            rate = f"{(row.accept + row.partial) / row.choices:.0%}" if row.choices else "-"
            print(
                f"{row.day:<10}  {row.region:<8} {row.accept:>7} {row.partial:>7} {row.reject:>7} "
                f"{row.withdraw:>8} {rate:>6}"
            )
        return 0

    return _run(args, body)


@_guard
def _cookies(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        rows = await store.list_cookies()
        if args.json:
            print(json.dumps([row.to_dict() for row in rows], indent=2))
            return 0
        print(f"{'cookie':<32} {'domain':<24} {'classification':<16} {'service':<20} {'count':>8}")
        for row in rows:
            print(
                f"{row.name:<32} {row.domain:<24} {row.classification:<16} {row.service:<20} {row.count:>8}"
            )
        return 0

    return _run(args, body)


@_guard
def _heads(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        heads = await store.chain_heads()
        checkpoints = await store.checkpoints()
        document = {
            "store": store.url,
            "at": int(time.time() * 1000),
            "chain_heads": [head.to_dict() for head in heads],
            "checkpoints": [checkpoint.to_dict() for checkpoint in checkpoints.values()],
        }
        print(json.dumps(document, indent=2))
        return 0

    return _run(args, body)


@_guard
def _notice(args: argparse.Namespace) -> int:
    async def body(store: Store) -> int:
        documents = await notices_document(store, [args.notice_hash])
        found = documents[args.notice_hash]
        if found is None:
            print(f"{_PROG}: no notice archived under {args.notice_hash}", file=sys.stderr)
            return 1
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0

    return _run(args, body)


def _consent_id(text: str) -> str:
    # Ids are URL-safe tokens: white space around one is a copy-and-paste artefact, and would
    # make "no record of this visitor" out of a visitor who has records.
    value = text.strip()
    if not value:
        raise _UsageError("the consent id is empty")
    return value


@_guard
def _history(args: argparse.Namespace) -> int:
    key = _key(args)
    consent_id = _consent_id(args.consent_id)

    async def body(store: Store) -> int:
        history = await consent_history(store, consent_id, key)
        if args.json:
            print(json.dumps(history.to_dict(), ensure_ascii=False, indent=2))
        else:
            print_history(history, sys.stdout)
        if not history.events:
            print(f"{_PROG}: {_NO_EVENTS.format(consent_id=consent_id)}", file=sys.stderr)
            return 1
        return 1 if "MISMATCH" in history.checks else 0

    return _run(args, body)
