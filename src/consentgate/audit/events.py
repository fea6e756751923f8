"""The one schema of an audit event. Every other module imports these names."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

Action = Literal[
    "accept_all",
    "reject_all",
    "save",
    "withdraw",
    "close",
    "gpc_optout",
    "gpc_override",
    "expired",
    "invalid_cookie",
    "region_default",
    "csp_violation",
]

# Column order of every store and of CSV export; `hash` covers all fields before it.
EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "consent_id",
    "ts",
    "action",
    "categories",
    "services",
    "policy_version",
    "policy_fingerprint",
    "notice_hash",
    "locale",
    "ui_action",
    "region",
    "region_source",
    "sec_gpc",
    "dnt",
    "path",
    "ua_browser",
    "ua_os",
    "ua_device",
    "ip",
    "detail",
    "chain_id",
    "seq",
    "prev_hash",
    "hash",
)

_last_ms = 0
_counter = 0


def new_event_id(now_ms: int | None = None) -> str:
    """Time-ordered unique id: 48-bit ms timestamp, 16-bit counter, 64 random bits (hex)."""
    global _last_ms, _counter
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if ms <= _last_ms:
        ms = _last_ms
        _counter = (_counter + 1) & 0xFFFF
    else:
        _last_ms, _counter = ms, 0
    return f"{ms:012x}{_counter:04x}{os.urandom(8).hex()}"


@dataclass(frozen=True)
class ConsentEvent:
    """One consent event. ``categories``/``services`` hold the state *after* the event."""

    consent_id: str
    action: Action
    categories: Mapping[str, bool]  # every policy category -> granted
    services: Mapping[str, bool] = field(default_factory=dict)  # policy services -> granted
    event_id: str = field(default_factory=new_event_id)
    ts: int = field(default_factory=lambda: int(time.time() * 1000))  # UTC epoch ms
    policy_version: str = ""
    policy_fingerprint: str = ""
    notice_hash: str = ""
    locale: str = ""
    ui_action: str = ""  # which control: "banner.accept", "preferences.save", "embed.load", ...
    region: str = ""
    region_source: str = ""  # "header:CF-IPCountry", "callable", "default"
    sec_gpc: bool = False
    dnt: bool = False
    path: str = ""  # never with a query string
    ua_browser: str = ""  # "Chrome 131"
    ua_os: str = ""  # "Windows"
    ua_device: str = ""  # "pc" | "mobile" | "tablet" | "bot" | "other"
    ip: str = ""  # per ip_mode: "", truncated network, or HMAC hex
    detail: Mapping[str, str] = field(default_factory=dict)  # e.g. csp_violation fields
    # filled by the writer's chain
    chain_id: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["categories"] = dict(self.categories)
        data["services"] = dict(self.services)
        data["detail"] = dict(self.detail)
        return data


class EventSink(Protocol):
    """Where the middleware hands each consent event. Must not block.

    ``enqueue`` returns False when it refused the event (``AuditWriter``: queue full): the
    middleware then refuses the consent change (503) rather than set a cookie it cannot prove.
    True or None means accepted.
    """

    def enqueue(self, event: ConsentEvent) -> bool | None: ...


class MemorySink:
    """Keeps events in a list; for tests and for apps that log elsewhere."""

    def __init__(self) -> None:
        self.events: list[ConsentEvent] = []

    def enqueue(self, event: ConsentEvent) -> bool:
        self.events.append(event)
        return True
