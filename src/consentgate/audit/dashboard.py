"""The consent dashboard: consent rate, splits, latest events, leaks, chain status, cookie inventory.

Everything is read through the ``Store`` protocol and rendered on the server (the chart is an
inline SVG), so the page needs no JavaScript and no chart library. ``dashboard_app`` serves it
with the audit admin API beside it (exports, verification) behind one authentication hook; it
shows consent ids and coarse user-agent data, never cookie values or IP addresses.

    >>> app = dashboard_app(store, auth=is_admin, key=audit_key, policy=policy)  # doctest: +SKIP

The aggregates stream the period's events once (constant memory, time linear in the number of
events); chain verification is cached for ``verify_ttl`` seconds.
"""

from __future__ import annotations

import hmac
import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from consentgate.audit.events import Action
from consentgate.audit.leaks import collect_leaks
from consentgate.audit.stores.base import CookieRow, Query, Record, Store
from consentgate.policy.model import NECESSARY

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from consentgate.audit.admin import Auth
    from consentgate.audit.chain import VerifyReport
    from consentgate.policy.model import Policy

Outcome = Literal["accept", "partial", "reject"]
OUTCOMES: tuple[Outcome, ...] = ("accept", "partial", "reject")
# Choices a visitor made (or a signal made for them); the split and the rate count these.
CHOICE_ACTIONS: frozenset[str] = frozenset({"accept_all", "reject_all", "save", "close", "gpc_optout"})
ACTIONS: tuple[str, ...] = get_args(Action)
MAX_DAYS = 366
MAX_LIMIT = 500
# The event table filters by region in Python; stop after this many records so a rare region
# cannot make one page load read the whole log.
MAX_SCAN = 50_000
MAX_LEAK_GROUPS = 50  # CSP violation groups shown (consentgate audit leaks lists them all)
COLORS: Mapping[Outcome, str] = {"accept": "#2f7d4f", "partial": "#d39b2a", "reject": "#b5483b"}


# -- aggregation --------------------------------------------------------------------------------


@dataclass
class Split:
    """Counts of choices by outcome."""

    accept: int = 0
    partial: int = 0
    reject: int = 0

    @property
    def total(self) -> int:
        return self.accept + self.partial + self.reject

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def share(self, outcome: Outcome) -> float:
        return getattr(self, outcome) / self.total if self.total else 0.0

    @property
    def consent_rate(self) -> float:
        """Share of choices that allowed at least one optional category."""
        return (self.accept + self.partial) / self.total if self.total else 0.0


@dataclass
class CategoryShare:
    granted: int = 0
    total: int = 0

    @property
    def share(self) -> float:
        return self.granted / self.total if self.total else 0.0


@dataclass
class Overview:
    since: date
    until: date  # inclusive
    days: dict[date, Split]
    totals: Split = field(default_factory=Split)
    by_region: dict[str, Split] = field(default_factory=dict)
    by_category: dict[str, CategoryShare] = field(default_factory=dict)
    by_action: dict[str, int] = field(default_factory=dict)
    withdrawals: int = 0
    events: int = 0


def outcome_of(categories: object, required: frozenset[str] = frozenset({NECESSARY})) -> Outcome:
    """accept: every optional category granted; reject: none; partial: some."""
    if not isinstance(categories, Mapping):
        return "reject"
    optional = [bool(granted) for name, granted in categories.items() if name not in required]
    granted = sum(optional)
    if optional and granted == len(optional):
        return "accept"
    return "partial" if granted else "reject"


def _day(ts_ms: object) -> date | None:
    if type(ts_ms) is not int:
        return None
    return datetime.fromtimestamp(ts_ms / 1000, UTC).date()


def _epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _pending(record: Mapping[str, object]) -> bool:
    """A grant made before any decision ("Load content" on a first visit): its other categories
    were not refused, only not asked yet, so it is no accept, partial or reject."""
    detail = record.get("detail")
    return isinstance(detail, Mapping) and detail.get("decision") == "pending"


async def collect_overview(
    store: Store, since: date, until: date, *, required: frozenset[str] = frozenset({NECESSARY})
) -> Overview:
    """Aggregate the events of the days ``since``..``until`` (inclusive, UTC)."""
    overview = Overview(
        since=since,
        until=until,
        days={since + timedelta(days=i): Split() for i in range((until - since).days + 1)},
    )
    query = Query(since=_epoch_ms(since), until=_epoch_ms(until + timedelta(days=1)))
    async for record in store.read(query):
        overview.events += 1
        action = str(record.get("action", ""))
        overview.by_action[action] = overview.by_action.get(action, 0) + 1
        if action == "withdraw":
            overview.withdrawals += 1
        if action not in CHOICE_ACTIONS or _pending(record):
            continue
        categories = record.get("categories")
        outcome = outcome_of(categories, required)
        overview.totals.add(outcome)
        day = _day(record.get("ts"))
        if day in overview.days:
            overview.days[day].add(outcome)
        region = str(record.get("region") or "") or "unknown"
        overview.by_region.setdefault(region, Split()).add(outcome)
        if isinstance(categories, Mapping):
            for name, granted in categories.items():
                if name in required:
                    continue
                share = overview.by_category.setdefault(str(name), CategoryShare())
                share.total += 1
                share.granted += bool(granted)
    return overview


# -- filters and the event table ----------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The page's query parameters. Anything malformed is ignored (and listed in ``ignored``)."""

    days: int = 30
    action: str = ""
    region: str = ""
    consent_id: str = ""
    since: date | None = None
    until: date | None = None
    limit: int = 25
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        ignored: list[str] = []

        def number(name: str, default: int, low: int, high: int) -> int:
            text = params.get(name, "").strip()
            if not text:
                return default
            if not text.isdigit() or not low <= int(text) <= high:
                ignored.append(name)
                return default
            return int(text)

        def day(name: str) -> date | None:
            text = params.get(name, "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                ignored.append(name)
                return None

        action = params.get("action", "").strip()
        if action and action not in ACTIONS:
            ignored.append("action")
            action = ""
        region = params.get("region", "").strip().upper()[:16]
        consent_id = params.get("consent_id", "").strip()[:64]
        return cls(
            days=number("days", 30, 1, MAX_DAYS),
            action=action,
            region=region,
            consent_id=consent_id,
            since=day("since"),
            until=day("until"),
            limit=number("limit", 25, 1, MAX_LIMIT),
            ignored=tuple(ignored),
        )

    def params(self, **changes: str | int) -> str:
        """Query string of these filters with ``changes`` applied (for links and exports)."""
        values: dict[str, str | int] = {
            "days": self.days,
            "action": self.action,
            "region": self.region,
            "consent_id": self.consent_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def query(self) -> Query:
        return Query(
            since=_epoch_ms(self.since) if self.since else None,
            until=_epoch_ms(self.until + timedelta(days=1)) if self.until else None,
            consent_id=self.consent_id or None,
            actions=(self.action,) if self.action else (),
            newest_first=True,
        )


async def latest_events(store: Store, filters: Filters) -> list[Record]:
    found: list[Record] = []
    scanned = 0
    async for record in store.read(filters.query()):
        scanned += 1
        if not filters.region or str(record.get("region", "")).upper().startswith(filters.region):
            found.append(record)
            if len(found) >= filters.limit:
                break
        if scanned >= MAX_SCAN:
            break
    return found


# -- the chart ----------------------------------------------------------------------------------


def rate_chart_svg(days: Mapping[date, Split], *, width: int = 1140, height: int = 300) -> Markup:
    """Stacked daily bars (accept, partial, reject) and the consent-rate line, as inline SVG."""
    left, right, top, bottom = 40, 44, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    items = sorted(days.items())
    count = max(len(items), 1)
    peak = max((split.total for _, split in items), default=0)
    scale = _nice_ceiling(peak)
    slot = plot_w / count
    bar = max(min(slot * 0.68, 28.0), 1.5)
    total = sum(split.total for _, split in items)
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Consent choices per day</title>',
        f'<desc id="chart-desc">{escape(_chart_description(items, total))}</desc>',
    ]
    for i in range(5):  # grid and left axis (choices), right axis (rate)
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{scale * i // 4}</text>'
        )
        parts.append(f'<text class="axis" x="{left + plot_w + 6}" y="{y + 4:.1f}">{25 * i}%</text>')
    points: list[tuple[float, float]] = []
    label_every = max(1, round(count / 10))
    for index, (day, split) in enumerate(items):
        x = left + slot * index + (slot - bar) / 2
        y = top + plot_h
        for outcome in OUTCOMES:
            value = getattr(split, outcome)
            if not value:
                continue
            h = plot_h * value / scale
            y -= h
            tip = f"{day.isoformat()}: {value} {outcome}"
            parts.append(
                f'<rect class="bar bar-{outcome}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[outcome]}"><title>{escape(tip)}</title></rect>'
            )
        if split.total:
            points.append((x + bar / 2, top + plot_h * (1 - split.consent_rate)))
        # Every n-th day, and the last one unless it would collide with the previous label.
        last = index == count - 1 and index % label_every >= label_every / 2
        if index % label_every == 0 or last or count == 1:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{day.day} {day:%b}</text>"
            )
    if len(points) > 1:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline class="rate" points="{line}"/>')
    for px, py in points:
        parts.append(f'<circle class="rate-dot" cx="{px:.1f}" cy="{py:.1f}" r="3"/>')
    if not total:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            'text-anchor="middle">No consent choices in this period yet</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_ceiling(value: int) -> int:
    """A round axis maximum divisible by 4, at least 4."""
    if value <= 4:
        return 4
    step = 1
    while step * 10 < value:
        step *= 10
    for multiple in (1, 2, 2.5, 4, 5, 8, 10):
        ceiling = int(step * multiple)
        if ceiling >= value and ceiling % 4 == 0:
            return ceiling
    return ((value + 3) // 4) * 4


def _chart_description(items: Sequence[tuple[date, Split]], total: int) -> str:
    if not items:
        return "No data."
    accepted = sum(split.accept + split.partial for _, split in items)
    rate = f"{100 * accepted / total:.0f}%" if total else "no"
    return (
        f"{total} choices from {items[0][0].isoformat()} to {items[-1][0].isoformat()}; "
        f"consent rate {rate} (choices allowing at least one optional category)."
    )


# -- rendering ----------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("consentgate.audit", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda value: f"{100 * value:.0f}%"
    env.filters["when"] = _when
    return env


def _when(ts_ms: object) -> str:
    if type(ts_ms) is not int:
        return ""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class CookieView:
    name: str
    domain: str
    classification: str
    service: str
    count: int
    last_seen: int  # epoch ms; 0 for declared but never seen
    seen: bool


def cookie_inventory(rows: Sequence[CookieRow], policy: Policy | None) -> list[CookieView]:
    """Observed cookies, unclassified first, then the policy's declared cookies never seen."""
    views = [
        CookieView(r.name, r.domain, _category_of(r, policy), r.service, r.count, r.last_seen, True)
        for r in rows
    ]
    if policy is not None:
        seen = {r.name for r in rows}
        for service in policy.services:
            if service.origin != "policy":
                continue
            for spec in service.cookies:
                if spec.is_regex and any(spec.matches(name) for name in seen):
                    continue
                if spec.name not in seen:
                    label = f"/{spec.name}/" if spec.is_regex else spec.name
                    views.append(
                        CookieView(label, spec.domain or "", service.category, service.id, 0, 0, False)
                    )
    views.sort(key=lambda v: (v.classification != "unknown", not v.seen, v.classification, v.name))
    return views


def _category_of(row: CookieRow, policy: Policy | None) -> str:
    """The cookie's category: the policy's word for its service, else what the store recorded
    (the middleware records its firewall decision there: "unknown_reported", "own", ...)."""
    if row.classification.startswith("unknown") or (not row.service and row.classification == "reported"):
        return "unknown"
    if policy is not None and row.service and policy.has_service(row.service):
        return policy.service(row.service).category
    if row.classification == "own":  # the consent cookie itself
        return NECESSARY
    return row.classification


class _VerifyCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.at = 0.0
        self.report: VerifyReport | None = None
        self.error = ""

    async def get(self, store: Store, key: bytes | None) -> tuple[VerifyReport | None, str, float]:
        now = time.monotonic()
        if self.at and now - self.at < self.ttl:
            return self.report, self.error, self.at
        from consentgate.audit.chain import verify

        try:
            self.report, self.error = await verify(store, key), ""
        except Exception as exc:  # a broken store must not take the dashboard down with it
            self.report, self.error = None, f"{type(exc).__name__}: {exc}"
        self.at = now
        return self.report, self.error, now


async def render_dashboard(
    store: Store,
    params: Mapping[str, str],
    *,
    key: bytes | None = None,
    policy: Policy | None = None,
    export_url: str = "export",
    today: date | None = None,
    verify_cache: _VerifyCache | None = None,
    title: str = "Consent dashboard",
) -> str:
    """The dashboard page for ``params`` (the request's query parameters).

    The export buttons link to ``export_url`` (the audit admin's ``/export``, relative to the
    page) for the shown period, with the action and consent id filters.
    """
    filters = Filters.from_params(params)
    until = filters.until or today or datetime.now(UTC).date()
    since = filters.since or until - timedelta(days=filters.days - 1)
    if since > until:
        since = until
    if (until - since).days >= MAX_DAYS:
        since = until - timedelta(days=MAX_DAYS - 1)
    required = frozenset({NECESSARY}) if policy is None else policy.required_categories | {NECESSARY}
    overview = await collect_overview(store, since, until, required=required)
    events = await latest_events(store, filters)
    report, verify_error, verified_at = await (verify_cache or _VerifyCache(0)).get(store, key)
    cookies = cookie_inventory(await store.list_cookies(), policy)
    leaks = await collect_leaks(
        store, since_ms=_epoch_ms(since), until_ms=_epoch_ms(until + timedelta(days=1)), max_scan=MAX_SCAN
    )
    categories = _category_rows(overview, policy)
    template = _environment().get_template("dashboard.html")
    export_links = export_urls(export_url, filters, since, until)
    return template.render(
        title=title,
        policy=policy,
        filters=filters,
        overview=overview,
        chart=rate_chart_svg(overview.days),
        regions=sorted(overview.by_region.items(), key=lambda item: (-item[1].total, item[0])),
        categories=categories,
        events=events,
        actions=ACTIONS,
        report=report,
        verify_error=verify_error,
        verified_ago=max(0, int(time.monotonic() - verified_at)),
        keyed=key is not None,
        cookies=cookies,
        service_names={} if policy is None else {s.id: s.name for s in policy.services},
        unclassified=sum(1 for c in cookies if c.classification == "unknown"),
        leaks=leaks[:MAX_LEAK_GROUPS],
        leak_groups=sum(1 for g in leaks if g.verdict == "leak"),
        exports=export_links,
        colors=COLORS,
        outcomes=OUTCOMES,
        store_url=getattr(store, "url", ""),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def export_urls(base: str, filters: Filters, since: date, until: date) -> list[tuple[str, str, str]]:
    """(label, url, hint) of each export button: the period shown, and the filters the export
    endpoint understands (action, consent id; region is a dashboard-only filter)."""
    params: dict[str, str] = {"since": since.isoformat(), "until": (until + timedelta(days=1)).isoformat()}
    if filters.action:
        params["action"] = filters.action
    if filters.consent_id:
        params["consent_id"] = filters.consent_id
    return [
        # bom=1: a download is opened in a spreadsheet, so it is the CLI's CSV file byte for byte
        # (export_chunks for both: byte order mark, formula cells marked); Excel needs the mark.
        ("CSV", f"{base}?{urlencode({'format': 'csv', **params, 'bom': '1'})}", "one row per event"),
        ("JSONL", f"{base}?{urlencode({'format': 'jsonl', **params})}", "one JSON object per line"),
        (
            "Proof bundle",
            f"{base}?{urlencode({'format': 'csv', 'bundle': 'zip', **params})}",
            "ZIP: CSV, manifest with chain heads, its signature, and the notice texts shown",
        ),
    ]


def _category_rows(overview: Overview, policy: Policy | None) -> list[tuple[str, str, CategoryShare]]:
    """(id, label, share) in policy order, then any category only the records know."""
    rows: list[tuple[str, str, CategoryShare]] = []
    known: set[str] = set()
    if policy is not None:
        for category in policy.categories:
            if category.required or category.id == NECESSARY:
                continue
            known.add(category.id)
            rows.append(
                (category.id, category.text("en")[0], overview.by_category.get(category.id, CategoryShare()))
            )
    for name, share in sorted(overview.by_category.items()):
        if name not in known:
            rows.append((name, name.capitalize(), share))
    return rows


def dashboard_app(
    store: Store,
    *,
    auth: Auth,
    key: bytes | None = None,
    policy: Policy | None = None,
    verify_ttl: float = 60.0,
) -> Starlette:
    """The dashboard at ``/`` and the audit admin API (``/export``, ``/events``, ``/verify``, …)
    beside it, behind one ``auth`` hook (as ``admin_app``'s: a bearer token, or a callable that
    inspects the request). Mount it in any app::

        app.mount("/admin/consent", dashboard_app(store, auth=is_admin, key=audit_key))
    """
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route

    from consentgate.audit.admin import admin_app

    if isinstance(auth, str) and len(auth) < 16:
        raise ValueError("auth token must be at least 16 characters")
    cache_ = _VerifyCache(verify_ttl)
    no_store = {"Cache-Control": "no-store"}

    async def page(request: Request) -> Response:
        if not await _allowed(auth, request):
            return JSONResponse(
                {"error": "authentication required"},
                status_code=401,
                headers={**no_store, "WWW-Authenticate": 'Bearer realm="consentgate-audit"'},
            )
        try:
            await store.open()
            html = await render_dashboard(
                store, request.query_params, key=key, policy=policy, verify_cache=cache_
            )
        except Exception as exc:  # the store is down or not migrated: say so, never a 500
            text = f"The audit store is unavailable ({type(exc).__name__}). Try again shortly."
            return HTMLResponse(str(escape(text)), status_code=503, headers=no_store)
        # Consent ids are personal data: never store the page in a shared cache.
        return HTMLResponse(html, headers={**no_store, "X-Robots-Tag": "noindex"})

    api = admin_app(store, auth=auth, key=key, verify_ttl=verify_ttl)
    return Starlette(routes=[Route("/", page), Mount("", app=api)])


async def _allowed(auth: Auth, request: Request) -> bool:
    # The same rule as the admin API's, so the page and its exports open for the same people.
    if isinstance(auth, str):
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), auth.encode())
    result = auth(request)
    if inspect.isawaitable(result):
        result = await result
    return result is True
