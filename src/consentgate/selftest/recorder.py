"""Records one phase in one browser context: requests, cookie writes, the cookie jar, web storage,
``dataLayer`` consent calls and Google tag timing.

A script injected before any page script (``PAGE_SCRIPT``) reports to Python through a binding:
cookie writes from ``document.cookie`` / ``cookieStore`` with the calling script's URL, every
``gtag('consent', …)`` pushed to ``window.dataLayer`` with its time, the moment a script takes
over ``dataLayer.push`` (what gtag.js and gtm.js do when they run) and when a Google tag was
requested (Resource Timing, on the same clock). Set-Cookie headers come from the responses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal

from consentgate.selftest.hosts import domain_matches, host_of, same_site
from consentgate.selftest.records import (
    ConsentCall,
    CookieRecord,
    CookieSource,
    CookieWrite,
    Phase,
    PhaseObservation,
    RequestRecord,
    Stage,
    StorageRecord,
    TagEvent,
)

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, Request, Response

BINDING = "__consentgateSelftest"

PAGE_SCRIPT = r"""
(() => {
  const send = (kind, data) => {
    try {
      const binding = window.__consentgateSelftest;
      if (typeof binding === 'function') Promise.resolve(binding(kind, data)).catch(() => {});
    } catch (e) {}
  };
  const doc = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const scriptUrl = () => {
    const match = String(new Error().stack || '').match(/(https?:\/\/[^\s()]+?):\d+:\d+/);
    if (match) return match[1];
    const current = document.currentScript;
    return current && current.src ? current.src : '';
  };

  const cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
  if (cookie && cookie.get && cookie.set) {
    Object.defineProperty(Document.prototype, 'cookie', {
      configurable: true,
      enumerable: cookie.enumerable,
      get() { return cookie.get.call(this); },
      set(value) {
        try {
          const text = String(value);
          const first = text.split(';')[0];
          const eq = first.indexOf('=');
          send('cookie', {name: eq < 0 ? '' : first.slice(0, eq).trim(),
                          attrs: text.slice(first.length), script: scriptUrl(), href: location.href});
        } catch (e) {}
        cookie.set.call(this, value);
      },
    });
  }
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key) {
    try {
      const kind = this === window.localStorage ? 'localStorage' : 'sessionStorage';
      const origin = location.origin;
      send('storage', {key: String(key), kind, origin, script: scriptUrl(), href: location.href});
    } catch (e) {}
    return setItem.apply(this, arguments);
  };
  if (window.CookieStore && CookieStore.prototype.set) {
    const set = CookieStore.prototype.set;
    const remove = CookieStore.prototype.delete;
    const nameOf = (arg) => typeof arg === 'string' ? arg : (arg && arg.name) || '';
    const report = (arg, attrs) => {
      try {
        send('cookie', {name: nameOf(arg), attrs, script: scriptUrl(), href: location.href});
      } catch (e) {}
    };
    CookieStore.prototype.set = function (arg) {
      report(arg, '');
      return set.apply(this, arguments);
    };
    if (remove) {
      CookieStore.prototype.delete = function (arg) {
        report(arg, '; max-age=0');
        return remove.apply(this, arguments);
      };
    }
  }

  if (window !== window.top) return;
  const seen = new WeakSet();
  const record = (item, live) => {
    try {
      if (!item || typeof item !== 'object' || seen.has(item)) return;
      seen.add(item);
      if (Object.prototype.toString.call(item) !== '[object Arguments]' || item[0] !== 'consent') return;
      let params = {};
      try { params = JSON.parse(JSON.stringify(item[2] === undefined ? {} : item[2])); } catch (e) {}
      send('consent', {doc, command: String(item[1]), params, t: live ? performance.now() : null,
                       href: location.href});
    } catch (e) {}
  };
  const wrap = (layer) => {
    if (!Array.isArray(layer) || Object.getOwnPropertyDescriptor(layer, '__consentgateWrapped')) return layer;
    try {
      Object.defineProperty(layer, '__consentgateWrapped', {value: true});
      for (const item of layer) record(item, true);
      let current = layer.push;
      let wrappedFor = null;
      let wrapped = null;
      Object.defineProperty(layer, 'push', {
        configurable: true,
        enumerable: false,
        get() {
          // Each wrapper calls the push that was current when it was read: gtag.js keeps the
          // old push and calls it from its own, which must not loop back into itself.
          if (wrappedFor !== current) {
            const target = current;
            wrappedFor = current;
            wrapped = function (...items) {
              for (const item of items) record(item, true);
              return target.apply(this, items);
            };
          }
          return wrapped;
        },
        set(fn) {
          current = fn;
          send('tag', {doc, kind: 'executed', url: scriptUrl(), t: performance.now(), href: location.href});
        },
      });
    } catch (e) {}
    return layer;
  };
  let dataLayer;
  try {
    Object.defineProperty(window, 'dataLayer', {
      configurable: true, enumerable: true,
      get() { return dataLayer; },
      set(value) { dataLayer = wrap(value); },
    });
  } catch (e) {}
  Object.defineProperty(window, '__consentgateSelftestScan', {
    value: () => { if (Array.isArray(dataLayer)) for (const item of dataLayer) record(item, false); },
  });
  const googleTag = /\/gtag\/js(\?|$)|\/gtm\.js(\?|$)/;
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (googleTag.test(entry.name.split('#')[0])) {
          send('tag', {doc, kind: 'requested', url: entry.name, t: entry.startTime, href: location.href});
        }
      }
    }).observe({type: 'resource', buffered: true});
  } catch (e) {}
})();
"""

GPC_SCRIPT = """
Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {
  configurable: true, enumerable: true, get: () => true,
});
"""

_STORAGE_SCRIPT = """
() => {
  try {
    return {origin: location.origin, local: Object.keys(localStorage), session: Object.keys(sessionStorage)};
  } catch (e) { return null; }
}
"""

_CookieKey = tuple[str, str, str]
_StorageKey = tuple[str, str, str]


@dataclass
class _Seen:
    """What the jar (or storage) showed across snapshots, for one cookie or key."""

    first_page: str
    first_stage: Stage
    details: Mapping[str, object]
    fingerprint: str  # value + expiry digest; the value itself is never kept
    fingerprint_before_choice: str | None
    present_after_choice: bool = False
    changed_after_choice: bool = False


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _is_deletion(attrs: str) -> bool:
    for part in attrs.split(";"):
        key, _, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "max-age":
            try:
                if int(value) <= 0:
                    return True
            except ValueError:
                continue
        elif key == "expires":
            try:
                if parsedate_to_datetime(value).timestamp() < time.time():
                    return True
            except (TypeError, ValueError):
                continue
    return False


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _writer(source: str, origin: str, page: str) -> str:
    """The URL that wrote a cookie or key; an inline script shows as its page."""
    if source == "script" and origin == page:
        return f"inline script on {page}"
    return origin


class Recorder:
    """Collects events for one phase; ``stage`` is moved forward by the crawler."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.stage: Stage = "pre_choice"
        self.current_page = ""
        self._requests: list[RequestRecord] = []
        self._writes: list[CookieWrite] = []
        self._calls: list[ConsentCall] = []
        self._tags: list[TagEvent] = []
        self._cookies: dict[_CookieKey, _Seen] = {}
        self._storage: dict[_StorageKey, _Seen] = {}
        # (origin, kind, key) -> [(stage, writer, page)] from Storage.setItem calls
        self._storage_writes: dict[_StorageKey, list[tuple[Stage, str, str]]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []

    async def attach(self, context: BrowserContext, *, gpc: bool) -> None:
        await context.expose_binding(BINDING, self._on_binding)
        await context.add_init_script(PAGE_SCRIPT)
        if gpc:
            await context.add_init_script(GPC_SCRIPT)
        context.on("request", self._on_request)
        context.on("response", self._on_response)

    # -- events -------------------------------------------------------------------------------
    def _page_of(self, request: Request) -> str:
        try:
            frame = request.frame
            if request.is_navigation_request() and frame.parent_frame is None:
                return _strip_fragment(request.url)
            return _strip_fragment(frame.page.main_frame.url)
        except Exception:  # no frame: a worker's request
            return self.current_page

    def _on_request(self, request: Request) -> None:
        url = request.url
        if not url.startswith(("http://", "https://")):
            return
        self._requests.append(
            RequestRecord(
                url=url,
                host=host_of(url),
                resource_type=request.resource_type,
                method=request.method,
                page=self._page_of(request),
                stage=self.stage,
            )
        )

    def _on_response(self, response: Response) -> None:
        if not response.url.startswith(("http://", "https://")):
            return
        task = asyncio.get_running_loop().create_task(
            self._read_set_cookie(response, self.stage, self._page_of(response.request))
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _read_set_cookie(self, response: Response, stage: Stage, page: str) -> None:
        try:
            values = await response.header_values("set-cookie")
        except Exception:  # the page or context went away first
            return
        for header in values:
            for line in header.split("\n"):
                first, _, attrs = line.partition(";")
                name, eq, _ = first.partition("=")
                if not eq:
                    continue
                self._writes.append(
                    CookieWrite(
                        name=name.strip(),
                        source="header",
                        origin=response.url,
                        page=page,
                        stage=stage,
                        deletion=_is_deletion(attrs),
                    )
                )

    def _on_binding(self, source: Mapping[str, object], kind: str, data: object) -> None:
        if not isinstance(data, Mapping):
            return
        page = _strip_fragment(_text(data, "href"))
        if kind == "cookie":
            self._writes.append(
                CookieWrite(
                    name=_text(data, "name"),
                    source="script",
                    origin=_text(data, "script") or page,
                    page=page,
                    stage=self.stage,
                    deletion=_is_deletion(_text(data, "attrs")),
                )
            )
        elif kind == "storage":
            key = (_text(data, "origin"), _text(data, "kind"), _text(data, "key"))
            self._storage_writes.setdefault(key, []).append((self.stage, _text(data, "script") or page, page))
        elif kind == "consent":
            raw = data.get("params")
            params = {
                str(key): value if isinstance(value, str) else json.dumps(value)
                for key, value in (raw.items() if isinstance(raw, Mapping) else ())
            }
            moment = data.get("t")
            self._calls.append(
                ConsentCall(
                    command=_text(data, "command"),
                    params=params,
                    page=page,
                    document=_text(data, "doc"),
                    time_ms=float(moment) if isinstance(moment, int | float) else None,
                    stage=self.stage,
                )
            )
        elif kind == "tag":
            moment = data.get("t")
            tag_kind: Literal["requested", "executed"] = (
                "requested" if data.get("kind") == "requested" else "executed"
            )
            self._tags.append(
                TagEvent(
                    kind=tag_kind,
                    url=_text(data, "url"),
                    page=page,
                    document=_text(data, "doc"),
                    time_ms=float(moment) if isinstance(moment, int | float) else 0.0,
                    stage=self.stage,
                )
            )

    # -- snapshots ----------------------------------------------------------------------------
    async def snapshot(self, context: BrowserContext, page: Page) -> None:
        """Read the jar, web storage and any dataLayer entries the hook missed."""
        try:
            await page.evaluate(
                "() => window.__consentgateSelftestScan && window.__consentgateSelftestScan()"
            )
        except Exception:  # navigated away meanwhile; the next snapshot scans again
            pass
        try:
            jar = await context.cookies()
        except Exception as exc:
            self.errors.append(f"could not read cookies: {exc}")
            jar = []
        for cookie in jar:
            key = (cookie.get("name", ""), cookie.get("domain", ""), cookie.get("path", "/"))
            expires = cookie.get("expires", -1)
            details = {
                "expires": None if expires is None or expires < 0 else float(expires),
                "http_only": bool(cookie.get("httpOnly", False)),
                "secure": bool(cookie.get("secure", False)),
                "same_site": str(cookie.get("sameSite", "")),
            }
            self._observe(self._cookies, key, _digest(cookie.get("value", ""), expires), details)
        for frame in page.frames:
            try:
                found = await frame.evaluate(_STORAGE_SCRIPT)
            except Exception:  # detached or not yet ready
                continue
            if not isinstance(found, Mapping):
                continue
            origin = found.get("origin")
            if not isinstance(origin, str) or not origin.startswith("http"):
                continue
            for kind, field in (("localStorage", "local"), ("sessionStorage", "session")):
                keys = found.get(field)
                for name in keys if isinstance(keys, list) else ():
                    if isinstance(name, str):
                        self._observe(self._storage, (origin, kind, name), "", {})

    def _observe(
        self, table: dict[_CookieKey, _Seen], key: _CookieKey, fingerprint: str, details: Mapping[str, object]
    ) -> None:
        seen = table.get(key)
        after = self.stage == "post_choice"
        if seen is None:
            seen = table[key] = _Seen(
                first_page=self.current_page,
                first_stage=self.stage,
                details=details,
                fingerprint=fingerprint,
                fingerprint_before_choice=None if after else fingerprint,
            )
        else:
            if not after:
                seen.fingerprint_before_choice = fingerprint
            seen.details = details
            seen.fingerprint = fingerprint
        if after:
            seen.present_after_choice = True
            if seen.fingerprint_before_choice != fingerprint:
                seen.changed_after_choice = True

    async def drain(self) -> None:
        """Wait (briefly) for Set-Cookie headers still being read."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)

    # -- result -------------------------------------------------------------------------------
    def _cookie_origin(self, name: str, domain: str) -> tuple[CookieSource, str, bool]:
        """How a jar cookie was written: header and/or script, the first writer, and whether
        it was written again after the choice."""
        sources: set[str] = set()
        first_writer = ""
        written_after = False
        for write in self._writes:
            if write.name != name or write.deletion:
                continue
            if not domain_matches(domain, host_of(write.origin if write.source == "header" else write.page)):
                continue
            sources.add(write.source)
            first_writer = first_writer or _writer(write.source, write.origin, write.page)
            written_after = written_after or write.stage == "post_choice"
        source: CookieSource = (
            "header+script"
            if len(sources) == 2
            else "header"
            if "header" in sources
            else "script"
            if "script" in sources
            else "unknown"
        )
        return source, first_writer, written_after

    def observation(self, site_host: str) -> PhaseObservation:
        cookies = []
        for (name, domain, path), seen in sorted(self._cookies.items()):
            source, set_by, written_after = self._cookie_origin(name, domain)
            expires = seen.details.get("expires")
            cookies.append(
                CookieRecord(
                    name=name,
                    domain=domain,
                    path=path,
                    expires=expires if isinstance(expires, float) else None,
                    http_only=bool(seen.details.get("http_only")),
                    secure=bool(seen.details.get("secure")),
                    same_site=str(seen.details.get("same_site", "")),
                    third_party=not same_site(domain.lstrip("."), site_host),
                    source=source,
                    set_by=set_by,
                    first_page=seen.first_page,
                    first_stage=seen.first_stage,
                    present_after_choice=seen.present_after_choice,
                    written_after_choice=seen.changed_after_choice
                    or (written_after and seen.present_after_choice),
                )
            )
        storage = []
        for (origin, kind, key), seen in sorted(self._storage.items()):
            writes = self._storage_writes.get((origin, kind, key), [])
            storage.append(
                StorageRecord(
                    origin=origin,
                    kind="localStorage" if kind == "localStorage" else "sessionStorage",
                    key=key,
                    set_by=_writer("script", writes[0][1], writes[0][2]) if writes else "",
                    first_page=seen.first_page,
                    first_stage=seen.first_stage,
                    present_after_choice=seen.present_after_choice,
                    written_after_choice=seen.present_after_choice
                    and (seen.first_stage == "post_choice" or any(w[0] == "post_choice" for w in writes)),
                )
            )
        return PhaseObservation(
            phase=self.phase,
            requests=tuple(self._requests),
            cookies=tuple(cookies),
            cookie_writes=tuple(self._writes),
            storage=tuple(storage),
            consent_calls=tuple(self._calls),
            tag_events=tuple(self._tags),
            errors=tuple(self.errors),
        )
