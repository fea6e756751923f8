"""``make load``: the demo site bare and behind ConsentGate, under the same load, in one run.

    .venv/bin/python tests/load/run_load.py                 # three phases, ~1.5 minutes
    .venv/bin/python tests/load/run_load.py --seconds 10    # shorter
    .venv/bin/python tests/load/run_load.py --soak 600      # 10-minute soak, RSS plot

Phases (each its own uvicorn process on 127.0.0.1, SQLite audit store in a temporary folder):
1. ``bare``: the site without the middleware, page views and JSON API calls (7:3);
2. ``gated``: the same site and the same mix behind ConsentGate (the ratio of 2 to 1 is the
   middleware's cost);
3. ``gated+consent``: page views, API calls and consent choices (12:5:3, a third of the choices
   as no-JavaScript form posts). Afterwards every acknowledged choice (200 or 303) must be in
   the audit log exactly once, and ``consentgate audit verify`` must pass.

The soak runs phase 3 for the given seconds, samples the server's RSS every few seconds and
plots it (``docs/soak-memory.png``). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.load.harness import (  # noqa: E402
    MIX_BROWSE,
    MIX_CONSENT,
    PhaseFigures,
    Server,
    ServerOptions,
    Tally,
    compare,
    drive,
    figures,
    format_figures,
    read_audit,
    sample_rss,
    sqlite_url,
    verify_cli,
)


def _phase(
    name: str, options: ServerOptions, *, consent: bool, seconds: float, concurrency: int
) -> tuple[PhaseFigures, list[str], list[str]]:
    server = Server(options)
    server.start()
    try:
        rss_start = server.rss_kb()
        tally = asyncio.run(
            drive(
                server.port,
                mix=MIX_CONSENT if consent else MIX_BROWSE,
                seconds=seconds,
                concurrency=concurrency,
                gated=options.mode == "gated",
            )
        )
        rss_end = server.rss_kb()
    finally:
        code = server.stop()
    if code != 0:
        raise RuntimeError(f"{name}: server exited with {code}: {server.log_text()}")
    return figures(name, tally, rss_start, rss_end), tally.acknowledged, tally.mismatches


def check_audit(url: str, acknowledged: list[str], mismatches: list[str]) -> list[str]:
    """Problems found (empty: every acknowledged choice is in the log once, the chain verifies)."""
    problems = list(mismatches[:10])
    audit = asyncio.run(read_audit(url))
    missing, extra = compare(acknowledged, audit)
    if missing:
        problems.append(
            f"{sum(missing.values())} acknowledged choices missing from the log, e.g. {list(missing)[:3]}"
        )
    if extra:
        problems.append(f"{sum(extra.values())} logged choices never acknowledged, e.g. {list(extra)[:3]}")
    if audit.duplicate_event_ids or audit.duplicate_positions:
        problems.append(
            f"duplicates: {audit.duplicate_event_ids} event ids, {audit.duplicate_positions} positions"
        )
    code, output = verify_cli(url)
    print(f"audit: {audit.records} records in {audit.chains} chain(s); acknowledged {len(acknowledged)}; "
          f"consentgate audit verify -> {code}: {output.splitlines()[-1] if output else ''}")  # fmt: skip
    if code != 0:
        problems.append(f"consentgate audit verify failed ({code}): {output[-500:]}")
    return problems


def run_phases(seconds: float, concurrency: int, workdir: Path) -> tuple[list[PhaseFigures], list[str]]:
    rows: list[PhaseFigures] = []
    bare, _, _ = _phase(
        "bare", ServerOptions(mode="bare", log=workdir / "bare.log"), consent=False, seconds=seconds,
        concurrency=concurrency,
    )  # fmt: skip
    rows.append(bare)
    gated_options = ServerOptions(audit=sqlite_url(workdir / "browse.db"), log=workdir / "gated.log")
    gated, _, _ = _phase("gated", gated_options, consent=False, seconds=seconds, concurrency=concurrency)
    rows.append(gated)
    url = sqlite_url(workdir / "audit.db")
    options = ServerOptions(audit=url, spool=workdir / "spool", log=workdir / "consent.log")
    mixed, acknowledged, mismatches = _phase(
        "gated+consent", options, consent=True, seconds=seconds, concurrency=concurrency
    )
    rows.append(mixed)
    problems = check_audit(url, acknowledged, mismatches)
    problems += [f"{row.name}: {row.errors} errors" for row in rows if row.errors]
    return rows, problems


def soak(
    seconds: float, concurrency: int, workdir: Path, plot: Path, interval: float
) -> tuple[dict[str, object], list[str]]:
    url = sqlite_url(workdir / "soak.db")
    server = Server(ServerOptions(audit=url, spool=workdir / "spool", log=workdir / "soak.log"))
    server.start()
    samples: list[tuple[float, int]] = []
    database: list[tuple[float, int]] = []  # the audit store on disk (SQLite file + WAL), bytes
    finished: list[bool] = []

    async def watch_database() -> None:
        started = time.monotonic()
        while not finished:
            size = sum(path.stat().st_size for path in workdir.glob("soak.db*"))
            database.append((time.monotonic() - started, size))
            await asyncio.sleep(interval)

    async def main() -> Tally:
        sampler = sample_rss(server.pid, interval, samples, lambda: bool(finished))
        watcher = asyncio.create_task(watch_database())
        try:
            return await drive(
                server.port, mix=MIX_CONSENT, seconds=seconds, concurrency=concurrency, warmup=0.0
            )
        finally:
            finished.append(True)
            await sampler
            await watcher

    try:
        tally = asyncio.run(main())
    finally:
        code = server.stop()
    row = figures("soak", tally, samples[0][1] if samples else 0, samples[-1][1] if samples else 0)
    print(format_figures([row]))
    problems = check_audit(url, tally.acknowledged, tally.mismatches)
    if code != 0:
        problems.append(f"server exited with {code}")
    summary = _rss_summary(samples)
    summary["audit_db_mb"] = round(database[-1][1] / 2**20, 1) if database else 0
    summary.update(row.to_dict())
    _plot(samples, database, plot, row, summary)
    return summary, problems


def _rss_summary(samples: list[tuple[float, int]]) -> dict[str, object]:
    rss = [kb for _, kb in samples]
    half = samples[len(samples) // 2 :]
    slope = 0.0
    if len(half) > 2:
        # Least squares over the second half: steady-state growth, after caches have filled.
        xs = [t for t, _ in half]
        ys = [kb for _, kb in half]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return {
        "samples": len(samples),
        "rss_first_mb": round(rss[0] / 1024, 1) if rss else 0,
        "rss_min_mb": round(min(rss) / 1024, 1) if rss else 0,
        "rss_max_mb": round(max(rss) / 1024, 1) if rss else 0,
        "rss_last_mb": round(rss[-1] / 1024, 1) if rss else 0,
        "second_half_slope_kb_per_min": round(slope * 60, 1),
    }


def _plot(
    samples: list[tuple[float, int]],
    database: list[tuple[float, int]],
    path: Path,
    row: PhaseFigures,
    summary: dict[str, object],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.plot(
        [t / 60 for t, _ in samples], [kb / 1024 for _, kb in samples], color="#1f3b2d", linewidth=1.5,
        label="server RSS",
    )  # fmt: skip
    if database:
        # The SQLite store keeps up to 32 MB of pages in memory: RSS follows the file until then.
        ax.plot(
            [t / 60 for t, _ in database], [size / 2**20 for _, size in database], color="#b8621b",
            linewidth=1.0, linestyle="--", label="audit database on disk",
        )  # fmt: skip
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(
        f"consentgate soak: demo site behind ConsentGate, {row.rps:.0f} req/s, "
        f"{row.acknowledged} consent choices; slope {summary['second_half_slope_kb_per_min']} KB/min",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=25.0, help="measured seconds per phase (default 25)")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="run the soak instead of the phases")
    parser.add_argument("--interval", type=float, default=5.0, help="soak: seconds between RSS samples")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "soak-memory.png")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="consentgate-load-") as tmp:
        workdir = Path(tmp)
        if args.soak:
            summary, problems = soak(args.soak, args.concurrency, workdir, args.plot, args.interval)
            print(json.dumps({k: v for k, v in summary.items() if k != "per_class"}, indent=1))
            print(f"plot: {args.plot}")
            result: object = summary
        else:
            rows, problems = run_phases(args.seconds, args.concurrency, workdir)
            print(format_figures(rows))
            ratio = rows[1].rps / rows[0].rps
            print(f"gated/bare throughput ratio (same mix): {ratio:.2f}")
            result = {"phases": [row.to_dict() for row in rows], "ratio": round(ratio, 3)}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"{'FAILED' if problems else 'OK'} in {time.monotonic() - started:.0f}s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
