"""Fill a demo audit store with synthetic consent events, so the dashboard has weeks to show.

    python examples/demo/seed_events.py var/consent.db --days 30 --per-day 120

Every synthetic record carries ``detail = {"sample": "seed_events"}`` and its own hash chain,
so nobody can mistake it for a real visitor's choice. Never run this against a production log.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time
from collections.abc import Sequence

from consentgate.audit.chain import Sealer
from consentgate.audit.events import ConsentEvent
from consentgate.audit.stores import open_store

CATEGORIES = ("necessary", "preferences", "analytics", "marketing")
# region -> (weight, accept_all, reject_all) probabilities; the rest saves a partial choice
REGIONS: dict[str, tuple[int, float, float]] = {
    "FR": (22, 0.48, 0.38),
    "DE": (26, 0.55, 0.30),
    "GB": (14, 0.62, 0.22),
    "NL": (8, 0.50, 0.34),
    "ES": (9, 0.66, 0.20),
    "IT": (8, 0.63, 0.24),
    "US-CA": (7, 0.74, 0.08),
    "": (6, 0.52, 0.30),
}
BROWSERS = (
    ("Chrome 131", "Windows", "pc"),
    ("Safari 18", "iOS", "mobile"),
    ("Firefox 133", "Linux", "pc"),
    ("Chrome 131", "Android", "mobile"),
    ("Edge 131", "Windows", "pc"),
    ("Safari 18", "Mac OS X", "pc"),
)
PATHS = (
    "/",
    "/shop",
    "/articles/ridge-walks-for-short-days",
    "/articles/how-we-test-rain-shells",
    "/gear-finder",
)


def synthetic_events(days: int, per_day: int, *, now_ms: int, rng: random.Random) -> list[ConsentEvent]:
    events: list[ConsentEvent] = []
    regions = list(REGIONS)
    weights = [REGIONS[r][0] for r in regions]
    for day in range(days, 0, -1):
        # A slow upward trend plus weekday noise, like a real site after a banner redesign.
        trend = 1.0 + 0.25 * (days - day) / max(days, 1)
        count = max(1, int(per_day * trend * rng.uniform(0.75, 1.2)))
        start = now_ms - day * 86_400_000
        for _ in range(count):
            region = rng.choices(regions, weights)[0]
            _, p_accept, p_reject = REGIONS[region]
            draw = rng.random()
            gpc = region == "US-CA" and rng.random() < 0.12
            if gpc:
                action, granted = "gpc_optout", {"necessary", "preferences", "analytics"}
            elif draw < p_accept:
                action, granted = "accept_all", set(CATEGORIES)
            elif draw < p_accept + p_reject:
                action, granted = "reject_all", {"necessary"}
            else:
                granted = {"necessary", *rng.sample(CATEGORIES[1:], rng.choice((1, 1, 2)))}
                action = "save"
            browser, os_name, device = rng.choice(BROWSERS)
            ui = {
                "accept_all": "banner.accept_all",
                "reject_all": "banner.reject_all",
                "save": "preferences.save",
            }
            events.append(
                ConsentEvent(
                    consent_id=secrets.token_urlsafe(16),
                    action=action,  # type: ignore[arg-type]
                    categories={c: c in granted for c in CATEGORIES},
                    ts=start + rng.randrange(86_400_000),
                    policy_version="2026-11-demo",
                    locale=rng.choice(("en", "en", "de", "fr")),
                    ui_action=ui.get(action, ""),
                    region=region,
                    region_source="sample",
                    sec_gpc=gpc,
                    path=rng.choice(PATHS),
                    ua_browser=browser,
                    ua_os=os_name,
                    ua_device=device,
                    detail={"sample": "seed_events"},
                )
            )
            if action != "reject_all" and rng.random() < 0.02:
                events.append(
                    ConsentEvent(
                        consent_id=events[-1].consent_id,
                        action="withdraw",
                        categories={c: c == "necessary" for c in CATEGORIES},
                        ts=events[-1].ts + rng.randrange(1, 3_600_000),
                        policy_version="2026-11-demo",
                        ui_action="preferences.withdraw",
                        region=region,
                        region_source="sample",
                        detail={"sample": "seed_events"},
                    )
                )
    events.sort(key=lambda e: e.ts)
    return events


async def seed(url: str, days: int, per_day: int, key: bytes | None, seed_value: int | None) -> int:
    store = open_store(url)
    await store.migrate()
    await store.open()
    try:
        events = synthetic_events(
            days, per_day, now_ms=int(time.time() * 1000), rng=random.Random(seed_value)
        )
        sealer = Sealer(key)
        written = 0
        for start in range(0, len(events), 500):
            written += await store.write(sealer.seal(events[start : start + 500]))
        return written
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", help="audit store URL or path (e.g. var/consent.db)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=80)
    parser.add_argument("--key", help="audit chain key (as the site's audit_key), if the log is keyed")
    parser.add_argument("--seed", type=int, help="random seed, for a reproducible log")
    args = parser.parse_args(argv)
    key = args.key.encode() if args.key else None
    written = asyncio.run(seed(args.store, args.days, args.per_day, key, args.seed))
    print(f"wrote {written} synthetic events (detail.sample = 'seed_events') to {args.store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
