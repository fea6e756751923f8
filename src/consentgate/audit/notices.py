"""The notice archive (CG-42): every distinct notice — texts per locale, categories, services,
cookie table — stored once under its hash with the time it was first seen, so an event's
``notice_hash`` always resolves to exactly what the visitor was shown.

``notice_digest`` is the recommended hash: SHA-256 of the notice's canonical JSON. A notice
archived under its own digest proves itself: anyone can recompute the hash from the stored text.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping

from consentgate.audit.stores.base import Store, StoredNotice


def canonical_notice(doc: Mapping[str, object]) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def notice_digest(doc: Mapping[str, object]) -> str:
    """SHA-256 hex of the notice's canonical JSON (sorted keys, no whitespace, UTF-8)."""
    return hashlib.sha256(canonical_notice(doc).encode()).hexdigest()


def self_verifying(notice: StoredNotice) -> bool:
    """True when the notice is archived under its own digest (and so cannot have been edited)."""
    return notice.notice_hash == notice_digest(notice.doc)


async def archive_notice(store: Store, doc: Mapping[str, object], *, now_ms: int | None = None) -> str:
    """Store ``doc`` under its digest (once); returns the digest."""
    digest = notice_digest(doc)
    await store.put_notice(digest, doc, int(time.time() * 1000) if now_ms is None else now_ms)
    return digest


def _utc(ms: int) -> str:
    from consentgate.audit.export import utc_iso  # export imports this module

    return utc_iso(ms)


async def notices_document(store: Store, hashes: Iterable[str]) -> dict[str, object | None]:
    """Each referenced notice with its first-seen time and content hash; None when missing."""
    notices: dict[str, object | None] = {}
    for notice_hash in sorted(set(hashes)):
        stored = await store.get_notice(notice_hash)
        if stored is None:
            notices[notice_hash] = None
            continue
        notices[notice_hash] = {
            "first_seen": stored.first_seen,
            "first_seen_utc": _utc(stored.first_seen),
            "content_sha256": notice_digest(stored.doc),
            "self_verifying": self_verifying(stored),
            "doc": stored.doc,
        }
    return notices
