"""One visitor's consent history, as a DPO answers an access request or a regulator's question
("show me what this visitor chose, when, and what the banner said"): every event of one consent
id in time order, each with its row checked against its own hash when the key is known, and every
notice version those events refer to, with its texts.

A row check proves the row is one the application wrote, unaltered; that no row of the consent is
*missing* is what ``consentgate audit verify`` (the whole chain) and published heads prove.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TextIO

from consentgate.audit.chain import Keys, encode_map, make_macs, record_hash
from consentgate.audit.export import export_record, utc_iso
from consentgate.audit.notices import notices_document
from consentgate.audit.stores.base import Query, Record, Store

RowCheck = Literal["verified", "MISMATCH", "not checked"]


@dataclass(frozen=True)
class History:
    consent_id: str
    events: tuple[dict[str, object], ...]  # export_record() of each event, oldest first
    checks: tuple[RowCheck, ...]  # per event: its row against its own hash
    notices: Mapping[str, object | None]  # notice_hash -> archived notice (None: not archived)

    def to_dict(self) -> dict[str, object]:
        return {
            "consent_id": self.consent_id,
            "events": [
                {**event, "row_check": check} for event, check in zip(self.events, self.checks, strict=True)
            ],
            "notices": dict(self.notices),
        }


def _check(record: Record, keys: Keys, checked: bool) -> RowCheck:
    if not checked:
        return "not checked"
    stored = record.get("hash")
    if not isinstance(stored, str):
        return "MISMATCH"
    found = any(hmac.compare_digest(record_hash(record, mac), stored) for mac in make_macs(keys))
    return "verified" if found else "MISMATCH"


async def consent_history(store: Store, consent_id: str, keys: Keys) -> History:
    """Every event of ``consent_id``, oldest first, and the notices they refer to. Rows are
    checked only with a key (a plain hash anyone can recompute proves nothing about a row)."""
    events: list[dict[str, object]] = []
    checks: list[RowCheck] = []
    hashes: set[str] = set()
    async with contextlib.aclosing(store.read(Query(consent_id=consent_id))) as records:
        async for record in records:
            checks.append(_check(record, keys, keys is not None))
            events.append(export_record(record))
            notice = record.get("notice_hash")
            if isinstance(notice, str) and notice:
                hashes.add(notice)
    return History(consent_id, tuple(events), tuple(checks), await notices_document(store, hashes))


def _granted(value: object) -> str:
    if not isinstance(value, Mapping) or not value:
        return "-"
    return " ".join(f"{name}={'yes' if granted is True else 'no'}" for name, granted in sorted(value.items()))


def print_history(history: History, out: TextIO) -> None:
    """The history as text: one block per event, then each notice shown, in full."""
    print(f"consent id {history.consent_id}: {len(history.events)} events, oldest first", file=out)
    for event, check in zip(history.events, history.checks, strict=True):
        source = f" ({event['region_source']})" if event.get("region_source") else ""
        signals = [name for name in ("sec_gpc", "dnt") if event.get(name) is True]
        print(
            f"\n{event['ts_utc']}  {event['action']}  via {event.get('ui_action') or '-'}  [row {check}]",
            file=out,
        )
        print(f"  categories: {_granted(event.get('categories'))}", file=out)
        if event.get("services"):
            print(f"  services:   {_granted(event.get('services'))}", file=out)
        print(
            f"  region {event.get('region') or '-'}{source}, locale {event.get('locale') or '-'}, "
            f"page {event.get('path') or '-'}, signals {' '.join(signals) or 'none'}",
            file=out,
        )
        print(
            f"  policy {event.get('policy_version') or '-'}, notice {event.get('notice_hash') or '-'}",
            file=out,
        )
        if event.get("detail"):
            print(f"  detail: {encode_map(event.get('detail'))}", file=out)
        print(f"  event {event['event_id']}, chain {event['chain_id']} seq {event['seq']}", file=out)
    for notice_hash, notice in sorted(history.notices.items()):
        print(f"\nnotice {notice_hash}:", file=out)
        if not isinstance(notice, Mapping):
            print("  NOT ARCHIVED: the text shown cannot be produced from this log", file=out)
            continue
        first_seen = notice.get("first_seen")
        since = utc_iso(first_seen) if isinstance(first_seen, int) else "?"
        proof = "archived under its own SHA-256" if notice.get("self_verifying") else "hash not recomputable"
        print(f"  first seen {since}; {proof}", file=out)
        text = json.dumps(notice.get("doc"), ensure_ascii=False, indent=2, sort_keys=True)
        print(textwrap.indent(text, "  "), file=out)
