"""Finding and pressing a banner's controls in a live page.

Three ways to find a control, best first: the user's ``--accept-selector`` /
``--reject-selector`` / ``--reopen-selector``; consentgate's own markup; and, for any other
site, the visible buttons and links whose accessible name says what they do (``labels``).
Every frame is searched (many consent platforms render in an iframe), open shadow roots too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from consentgate.selftest.labels import classify_label, reopen_rank

if TYPE_CHECKING:
    from playwright.async_api import ElementHandle, Frame, Page

Kind = Literal["reject", "accept", "settings", "save", "reopen", "withdraw"]

# consentgate's banner and preference centre: plain forms, so they work without JavaScript.
CONSENTGATE_MARKUP: dict[Kind, str] = {
    "reject": 'button[name="action"][value="reject_all"], [data-cg-action="reject_all"]',
    "accept": 'button[name="action"][value="accept_all"], [data-cg-action="accept_all"]',
    "save": 'button[name="action"][value="save"], [data-cg-action="save"]',
    "withdraw": 'button[name="action"][value="withdraw"], [data-cg-action="withdraw"]',
    # Also on the banner's "Customise" link, but only looked for once the banner is gone.
    "reopen": "[data-consentgate-open]",
}

# One round trip per frame: every visible candidate with its name, whether it is a link, and
# which of the given selectors matched it. Visibility is what a visitor sees; the name is the
# accessible name as far as button labels need it.
_COLLECT = """
({selectors, named}) => {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2 || box.bottom < 0 || box.right < 0) return false;
    if (el.checkVisibility && !el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true,
        opacityProperty: true, visibilityProperty: true})) return false;
    return true;
  };
  const nameOf = (el) => {
    const label = el.getAttribute('aria-label');
    if (label && label.trim()) return label;
    const ids = el.getAttribute('aria-labelledby');
    if (ids) {
      const root = el.getRootNode();
      const text = ids.split(/\\s+/).map((id) => {
        const ref = root.getElementById ? root.getElementById(id) : null;
        return ref ? ref.textContent : '';
      }).join(' ');
      if (text.trim()) return text;
    }
    if (el.tagName === 'INPUT') return el.value || el.getAttribute('title') || '';
    const text = el.innerText || el.textContent || '';
    if (text.trim()) return text;
    const img = el.querySelector('img[alt]');
    return el.getAttribute('title') || (img ? img.alt : '');
  };
  const roots = [document];
  for (let i = 0; i < roots.length && i < 100; i++) {
    for (const el of roots[i].querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
  }
  const elements = [], items = [], errors = [];
  const add = (el, extra) => {
    if (!visible(el)) return;
    const name = nameOf(el).replace(/\\s+/g, ' ').trim().slice(0, 80);
    elements.push(el);
    items.push({name, link: el.tagName === 'A' || el.getAttribute('role') === 'link', ...extra});
  };
  for (const [index, css] of selectors.entries()) {
    for (const root of roots) {
      let found = [];
      try {
        found = root.querySelectorAll(css);
      } catch (e) {
        errors.push([index, String(e.message || e)]);
        break;
      }
      for (const el of found) add(el, {selector: index});
    }
  }
  if (named) {
    const clickable = 'button, a[href], [role="button"], [role="link"], input[type="button"], '
      + 'input[type="submit"], summary';
    for (const root of roots) for (const el of root.querySelectorAll(clickable)) add(el, {selector: -1});
  }
  return {elements, items, errors};
}
"""

_UNCHECK = """
() => {
  const shownBox = (node) => {
    const box = node.getBoundingClientRect();
    return box.width >= 2 && box.height >= 2 && (!node.checkVisibility || node.checkVisibility());
  };
  let count = 0;
  const toggles = document.querySelectorAll('input[type="checkbox"]:checked:not(:disabled), '
    + '[role="switch"][aria-checked="true"], [role="checkbox"][aria-checked="true"]');
  for (const el of toggles) {
    if (el.getAttribute('aria-disabled') === 'true') continue;
    const shown = [el, el.closest('label'), el.parentElement]
      .some((node) => node && shownBox(node));
    if (!shown) continue;
    el.click();
    count++;
  }
  return count;
}
"""


# Consent platforms' own "show the preferences" calls, for sites that offer no visible control:
# the withdraw phase can then still be measured (and the missing control is reported).
_REOPEN_APIS = """
() => {
  const calls = [
    ['CookieConsent.showPreferences()', () => window.CookieConsent.showPreferences()],
    ['CookieConsent.renew()', () => window.CookieConsent.renew()],
    ['Cookiebot.renew()', () => window.Cookiebot.renew()],
    ['OneTrust.ToggleInfoDisplay()', () => window.OneTrust.ToggleInfoDisplay()],
    ['UC_UI.showSecondLayer()', () => window.UC_UI.showSecondLayer()],
    ['Didomi.preferences.show()', () => window.Didomi.preferences.show()],
    ['klaro.show()', () => window.klaro.show()],
    ['tarteaucitron.userInterface.openPanel()', () => window.tarteaucitron.userInterface.openPanel()],
  ];
  for (const [name, call] of calls) {
    try { call(); return name; } catch (e) {}
  }
  return null;
}
"""


class SelectorError(ValueError):
    """A --*-selector the browser cannot parse."""


@dataclass
class Control:
    kind: Kind
    label: str
    rank: int
    is_link: bool
    found_by: str
    order: int
    frame: Frame
    handle: ElementHandle


@dataclass(frozen=True)
class _Source:
    kind: Kind
    css: str
    found_by: str
    rank: int


async def _scan_frame(frame: Frame, sources: list[_Source], *, reopen: bool, start: int) -> list[Control]:
    from playwright.async_api import Error

    try:
        result = await frame.evaluate_handle(_COLLECT, {"selectors": [s.css for s in sources], "named": True})
        collected = await (await result.get_property("items")).json_value()
        errors = await (await result.get_property("errors")).json_value()
        elements = await (await result.get_property("elements")).get_properties()
    except Error:  # detached, navigating, or a frame that cannot run scripts
        return []
    for index, message in errors:
        if sources[index].found_by == "selector":
            raise SelectorError(f"{sources[index].css!r}: {message}")
    found = []
    for position, item in enumerate(collected):
        handle = elements.get(str(position))
        element = handle.as_element() if handle is not None else None
        if element is None:
            continue
        label, is_link, index = str(item["name"]), bool(item["link"]), int(item["selector"])
        order = start + position
        if index >= 0:
            source = sources[index]
            found.append(
                Control(
                    source.kind,
                    label or source.css,
                    source.rank,
                    is_link,
                    source.found_by,
                    order,
                    frame,
                    element,
                )
            )
            continue
        rank = reopen_rank(label) if reopen else None
        if rank is not None:
            found.append(Control("reopen", label, rank, is_link, "accessible name", order, frame, element))
            continue
        kind = classify_label(label)
        if kind is not None:
            found.append(Control(kind[0], label, kind[1], is_link, "accessible name", order, frame, element))
    return found


async def scan(page: Page, selectors: Mapping[Kind, str | None], *, reopen: bool = False) -> list[Control]:
    """Every visible control of interest in the page and its frames."""
    sources = [_Source(kind, css, "selector", -2) for kind, css in selectors.items() if css]
    sources += [
        _Source(kind, css, "consentgate markup", -1)
        for kind, css in CONSENTGATE_MARKUP.items()
        if kind != "reopen" or reopen
    ]
    controls: list[Control] = []
    for index, frame in enumerate(page.frames):
        # Document order within a frame; the main frame's controls before an iframe's.
        controls += await _scan_frame(frame, sources, reopen=reopen, start=index * 100_000)
    return controls


def best(controls: list[Control], *kinds: Kind) -> Control | None:
    """The strongest match of the first kind present: selector, then markup, then name rank;
    buttons before links, then document order."""
    for kind in kinds:
        matching = [c for c in controls if c.kind == kind]
        if matching:
            return min(matching, key=lambda c: (c.rank, c.is_link, c.order))
    return None


async def wait_for_banner(page: Page, selectors: Mapping[Kind, str | None], seconds: float) -> list[Control]:
    """Scan until an accept or reject control shows (a script may add the banner late).

    Once one of them is visible, the other gets a second to appear: scripts render buttons one
    by one, and a missing reject control is a finding, so it must not be a race.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    grace: float | None = None
    while True:
        controls = await scan(page, selectors)
        kinds = {c.kind for c in controls}
        now = loop.time()
        if {"accept", "reject"} <= kinds or now >= deadline:
            return controls
        if kinds & {"accept", "reject"}:
            grace = now + 1.0 if grace is None else grace
            if now >= grace:
                return controls
        await asyncio.sleep(0.25)


async def press(control: Control) -> bool:
    from playwright.async_api import Error

    try:
        await control.handle.click(timeout=5000)
    except Error:
        # Covered by an overlay or detached mid-animation: a DOM click still reaches the
        # site's handler, which is what a visitor's click would do once the overlay moved.
        try:
            await control.handle.evaluate("el => el.click()")
        except Error:
            return False
    return True


async def uncheck_toggles(frame: Frame) -> int:
    """Switch off every enabled, checked toggle shown in ``frame``; returns how many."""
    from playwright.async_api import Error

    try:
        count = await frame.evaluate(_UNCHECK)
    except Error:
        return 0
    return int(count) if isinstance(count, int) else 0


async def reopen_by_api(page: Page) -> str | None:
    """Call the first consent platform API that opens its preferences; its name, or None."""
    from playwright.async_api import Error

    try:
        called = await page.evaluate(_REOPEN_APIS)
    except Error:
        return None
    return called if isinstance(called, str) else None
