"""Drives a real Chromium through the site in four phases, each in a fresh browser context.

1. ``before``: no choice; crawl.
2. ``reject``: press the banner's reject control (second layer if the first has none); crawl.
3. ``accept``: press the accept control; crawl.
4. ``withdraw``: accept, reopen the choices, reject, reload; crawl.

Pages are found breadth-first from the start URL through same-origin ``<a href>`` links; the
later phases visit the pages the first one found, so the tables compare like with like. The
browser is never downloaded: Debian's ``chromium`` (or ``CONSENTGATE_CHROMIUM``). Service
workers are blocked so that every request is seen by the recorder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from consentgate.selftest import controls
from consentgate.selftest.controls import Kind
from consentgate.selftest.hosts import host_of
from consentgate.selftest.recorder import Recorder
from consentgate.selftest.records import (
    BannerCheck,
    Choice,
    PageVisit,
    Phase,
    PhaseObservation,
    SelftestConfig,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_SKIPPED_EXTENSIONS: tuple[str, ...] = (
    ".pdf",
    ".zip",
    ".gz",
    ".tar",
    ".rar",
    ".7z",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".webp",
    ".avif",
    ".svg",
    ".ico",
    ".mp3",
    ".mp4",
    ".webm",
    ".mov",
    ".avi",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".ppt",
    ".pptx",
    ".odt",
    ".ods",
    ".dmg",
    ".exe",
    ".msi",
    ".apk",
    ".css",
    ".js",
    ".json",
    ".xml",
    ".rss",
    ".txt",
    ".csv",
    ".woff",
    ".woff2",
)
_BUTTON_KINDS: tuple[Kind, ...] = ("accept", "reject")


class SelftestError(Exception):
    """The run itself could not be done (exit code 2): no browser, bad URL, site unreachable."""


class ChromiumMissing(SelftestError):
    pass


class SiteUnreachable(SelftestError):
    pass


@dataclass(frozen=True)
class Crawl:
    origin: str  # scheme://host[:port] of the start page after redirects
    browser: str
    phases: tuple[PhaseObservation, ...]

    @property
    def site_host(self) -> str:
        return host_of(self.origin)


def chromium_executable(configured: str | None = None) -> str:
    """The Chromium to drive: ``configured``, else $CONSENTGATE_CHROMIUM, else ``chromium`` on
    PATH, else /usr/bin/chromium. Raises ChromiumMissing with install advice."""
    explicit = configured or os.environ.get("CONSENTGATE_CHROMIUM")
    path = explicit or shutil.which("chromium") or DEFAULT_CHROMIUM
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        source = "" if not explicit else " (from --chromium / CONSENTGATE_CHROMIUM)"
        raise ChromiumMissing(
            f"Chromium not found at {path}{source}. Install it with `apt-get install chromium` "
            "(Debian/Ubuntu), or set CONSENTGATE_CHROMIUM to the path of a Chromium or Chrome "
            "binary. The self-test never downloads a browser."
        )
    return path


def check_url(url: str) -> str:
    """The URL if the self-test can start from it; SelftestError otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise SelftestError(f"not a valid URL: {url!r} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise SelftestError(f"not an http(s) URL with a host: {url!r} (example: https://www.example.com/)")
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _PhaseRun:
    """One phase: its own context, recorder and page."""

    def __init__(
        self, config: SelftestConfig, phase: Phase, context: BrowserContext, page: Page, origin: str | None
    ) -> None:
        self.config = config
        self.phase = phase
        self.context = context
        self.page = page
        self.origin = origin
        self.recorder = Recorder(phase)
        self.visits: list[PageVisit] = []
        selectors: dict[Kind, str | None] = {
            "accept": config.accept_selector,
            "reject": config.reject_selector,
        }
        self.selectors: Mapping[Kind, str | None] = selectors
        self.reopen_selectors: Mapping[Kind, str | None] = {**selectors, "reopen": config.reopen_selector}

    # -- loading ------------------------------------------------------------------------------
    async def settle(self) -> None:
        from playwright.async_api import Error

        try:
            await self.page.wait_for_load_state("load", timeout=self.config.timeout * 1000)
        except Error:
            pass
        try:
            # Trackers often fire a little after "load"; idle = no request for 500 ms.
            await self.page.wait_for_load_state("networkidle", timeout=min(self.config.timeout, 5.0) * 1000)
        except Error:
            pass

    async def visit(self, url: str) -> PageVisit:
        from playwright.async_api import Error

        self.recorder.current_page = url
        status: int | None = None
        error: str | None = None
        try:
            response = await self.page.goto(url, wait_until="load", timeout=self.config.timeout * 1000)
            status = response.status if response is not None else None
        except Error as exc:
            error = _first_line(exc)
        await self.settle()
        self.recorder.current_page = _strip_fragment(self.page.url)
        await self.recorder.snapshot(self.context, self.page)
        visit = PageVisit(
            url=url, final_url=self.page.url, status=status, stage=self.recorder.stage, error=error
        )
        self.visits.append(visit)
        return visit

    async def after_click(self) -> None:
        await self.page.wait_for_timeout(300)  # let a navigation the click started begin
        await self.settle()
        self.recorder.current_page = _strip_fragment(self.page.url)
        await self.recorder.snapshot(self.context, self.page)

    async def links(self) -> list[str]:
        from playwright.async_api import Error

        if self.origin is None:
            return []
        try:
            hrefs = await self.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        except Error:
            return []
        found = []
        for href in hrefs if isinstance(hrefs, list) else ():
            if not isinstance(href, str) or not href.startswith(("http://", "https://")):
                continue
            url = _strip_fragment(href)
            try:
                same_origin = _origin(url) == self.origin
            except ValueError:
                continue
            if same_origin and not urlsplit(url).path.lower().endswith(_SKIPPED_EXTENSIONS):
                found.append(url)
        return found

    async def crawl(self, seed: list[str]) -> list[str]:
        """Visit up to ``config.pages`` pages breadth-first; the URLs visited, in order."""
        queue = deque(seed)
        seen = set(seed)
        visited: list[str] = []
        while queue and len(visited) < self.config.pages:
            url = queue.popleft()
            visit = await self.visit(url)
            if self.origin is None:
                if visit.status is None:
                    raise SiteUnreachable(f"could not load {url}: {visit.error or 'no response'}")
                self.origin = _origin(visit.final_url)
            visited.append(url)
            seen.add(_strip_fragment(visit.final_url))
            for link in await self.links():
                if link not in seen:
                    seen.add(link)
                    queue.append(link)
        return visited

    # -- choices ------------------------------------------------------------------------------
    async def banner_still_visible(self, banner: BannerCheck) -> bool:
        labels = {label for label in (banner.accept_label, banner.reject_label) if label}
        found = await controls.scan(self.page, self.selectors)
        return any(c.label in labels for c in found if c.kind in _BUTTON_KINDS)

    async def choose(self, want: Kind) -> tuple[BannerCheck, Choice]:
        """Press the banner's accept or reject control; a second layer if need be."""
        action: Literal["reject", "accept"] = "reject" if want == "reject" else "accept"
        found = await controls.wait_for_banner(self.page, self.selectors, self.config.banner_wait)
        accept = controls.best(found, "accept")
        reject = controls.best(found, "reject")
        settings = controls.best(found, "settings")
        shown = [c for c in (reject, accept) if c is not None]
        banner = BannerCheck(
            accept_label=accept.label if accept else None,
            reject_label=reject.label if reject else None,
            settings_label=settings.label if settings else None,
            reject_is_link=reject.is_link if reject else False,
            found_by=shown[0].found_by if shown else "none",
        )
        target = accept if want == "accept" else reject
        steps: list[str] = []
        if target is None:
            if settings is None:
                return banner, Choice(
                    action, made=False, detail=f"no {action} control and no settings control"
                )
            steps.append(settings.label)
            await controls.press(settings)
            await self.after_click()
            layer = await controls.scan(self.page, self.selectors)
            target = controls.best(layer, want)
            if target is None and want == "reject":
                target, switched = await self.save_with_toggles_off(layer)
                steps += ["(switch off a toggle)"] * switched
            if target is None:
                return banner, Choice(
                    action, made=False, steps=tuple(steps), detail=f"no {action} control on the second layer"
                )
        self.recorder.stage = "setup" if self.phase == "withdraw" else "post_choice"
        steps.append(target.label)
        if not await controls.press(target):
            return banner, Choice(
                action, made=False, steps=tuple(steps), detail="the control could not be pressed"
            )
        await self.after_click()
        still = await self.banner_still_visible(banner)
        return banner, Choice(action, made=True, steps=tuple(steps), banner_still_visible=still)

    async def save_with_toggles_off(
        self, layer: list[controls.Control]
    ) -> tuple[controls.Control | None, int]:
        save = controls.best(layer, "save")
        if save is None:
            return None, 0
        return save, await controls.uncheck_toggles(save.frame)

    async def withdraw(self) -> Choice:
        """After an accept: reopen the choices, reject, reload."""
        steps: list[str] = []
        api: str | None = None
        opener = controls.best(await controls.scan(self.page, self.reopen_selectors, reopen=True), "reopen")
        if opener is not None:
            steps.append(opener.label)
            await controls.press(opener)
        else:
            api = await controls.reopen_by_api(self.page)
            if api is None:
                return Choice(
                    "withdraw",
                    made=False,
                    detail="no visible control reopens the cookie choices "
                    "(looked for [data-consentgate-open] and names such as “Cookie settings”)",
                )
        await self.after_click()
        layer = await controls.scan(self.page, self.selectors)
        target = controls.best(layer, "withdraw", "reject")
        if target is None:
            settings = controls.best(layer, "settings")
            if settings is not None:
                steps.append(settings.label)
                await controls.press(settings)
                await self.after_click()
                layer = await controls.scan(self.page, self.selectors)
                target = controls.best(layer, "withdraw", "reject")
        if target is None:
            target, switched = await self.save_with_toggles_off(layer)
            steps += ["(switch off a toggle)"] * switched
        if target is None:
            return Choice(
                "withdraw",
                made=False,
                steps=tuple(steps),
                detail="the reopened choices show no reject or withdraw control",
                reopen_api=api,
            )
        self.recorder.stage = "post_choice"
        steps.append(target.label)
        if not await controls.press(target):
            return Choice(
                "withdraw", made=False, steps=tuple(steps), detail="the control could not be pressed"
            )
        await self.after_click()
        from playwright.async_api import Error

        try:
            await self.page.reload(wait_until="load", timeout=self.config.timeout * 1000)
        except Error as exc:
            self.recorder.errors.append(f"reload after withdrawing: {_first_line(exc)}")
        await self.after_click()
        return Choice("withdraw", made=True, steps=tuple(steps), reopen_api=api)

    async def run(self, seed: list[str]) -> tuple[PhaseObservation, list[str]]:
        banner: BannerCheck | None = None
        choice: Choice | None = None
        if self.phase != "before":
            first = await self.visit(self.config.url)
            if self.origin is None:
                if first.status is None:
                    raise SiteUnreachable(f"could not load {self.config.url}: {first.error or 'no response'}")
                self.origin = _origin(first.final_url)
            banner, choice = await self.choose("reject" if self.phase == "reject" else "accept")
            if self.phase == "withdraw":
                if choice.made:
                    choice = await self.withdraw()
                else:
                    choice = replace(
                        choice, action="withdraw", detail=f"could not accept first: {choice.detail}"
                    )
        visited = await self.crawl(seed)
        await self.recorder.drain()
        observation = self.recorder.observation(host_of(self.origin or self.config.url))
        return replace(observation, pages=tuple(self.visits), banner=banner, choice=choice), visited


async def _run_phase(
    browser: Browser, config: SelftestConfig, phase: Phase, seed: list[str], origin: str | None
) -> tuple[PhaseObservation, list[str], str | None]:
    headers: dict[str, str] = {}
    if config.region:
        headers[config.region_header] = config.region
    if config.gpc:
        headers["Sec-GPC"] = "1"
    context = await browser.new_context(extra_http_headers=headers or None, service_workers="block")
    try:
        context.set_default_timeout(config.timeout * 1000)
        page = await context.new_page()
        run = _PhaseRun(config, phase, context, page, origin)
        await run.recorder.attach(context, gpc=config.gpc)
        observation, visited = await run.run(seed)
        return observation, visited, run.origin
    finally:
        await context.close()


async def crawl(config: SelftestConfig) -> Crawl:
    """Run every configured phase against ``config.url``."""
    check_url(config.url)
    executable = chromium_executable(config.chromium)
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError as exc:
        raise SelftestError(
            "Playwright for Python is not installed: pip install 'consentgate[selftest]'"
        ) from exc
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
            )
        except Error as exc:
            raise SelftestError(f"Chromium at {executable} did not start: {_first_line(exc)}") from exc
        try:
            first, *rest = config.phases
            observation, visited, origin = await _run_phase(browser, config, first, [config.url], None)
            # The other phases are independent (fresh contexts) and mostly wait for the network,
            # so they run side by side, over the pages the first phase found.
            seed = visited or [config.url]
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(_run_phase(browser, config, phase, seed, origin)) for phase in rest
                    ]
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None  # the others were cancelled because of it
            phases = [observation, *(task.result()[0] for task in tasks)]
            return Crawl(
                origin=origin or _origin(config.url),
                browser=f"Chromium {browser.version}",
                phases=tuple(phases),
            )
        finally:
            await browser.close()
