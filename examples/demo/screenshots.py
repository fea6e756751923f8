"""Take the documentation screenshots of the demo with a real Chromium.

    python examples/demo/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Starts ``consentgate demo`` on free ports in a scratch folder, fills its audit log with 30 days
of synthetic events (``seed_events.py``; marked as samples), walks one real visitor through the
banner, and saves:

- ``demo-first-visit.png``: the shop on a first visit, banner up, ad slot empty;
- ``demo-after-accept.png``: the same page after "Accept all", ad and tracking running;
- ``admin-dashboard.png``: the consent dashboard at ``/admin/consent``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOSTS = {"site": "127.0.0.1", "analytics": "127.0.0.2", "ads": "127.0.0.3", "video": "127.0.0.4"}
PASSWORD = secrets.token_urlsafe(12)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the consentgate demo")
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "docs" / "screenshots")
    parser.add_argument("--chromium", default=os.environ.get("CONSENTGATE_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "var"
        data_dir.mkdir()
        audit_key = secrets.token_urlsafe(48)
        (data_dir / "audit.key").write_text(audit_key + "\n", encoding="utf-8")
        seed = [sys.executable, str(HERE / "seed_events.py"), str(data_dir / "consent.db"), "--days", "30"]
        subprocess.run([*seed, "--per-day", "70", "--key", audit_key, "--seed", "2026"], check=True)

        ports = {name: free_port(host) for name, host in HOSTS.items()}
        site = f"http://127.0.0.1:{ports['site']}"
        argv_demo = [sys.executable, "-m", "consentgate.cli", "demo", "--data-dir", str(data_dir)]
        argv_demo += ["--admin-password", PASSWORD]
        for name, port in ports.items():
            argv_demo += [f"--{name}-port", str(port)]
        process = subprocess.Popen(argv_demo, cwd=scratch)
        try:
            wait_for(site + "/")
            shoot(args.chromium, site, args.out)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    print(f"screenshots written to {args.out}")
    return 0


def shoot(chromium: str, site: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        visitor = browser.new_context(viewport={"width": 1280, "height": 860})
        page = visitor.new_page()
        page.goto(site + "/shop", wait_until="networkidle")
        page.screenshot(path=str(out / "demo-first-visit.png"))
        page.locator("[data-consentgate-banner] [data-cg-action=accept_all]").click()
        page.locator("[data-pc-filled]").wait_for(timeout=10_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "demo-after-accept.png"))
        for path in ("/gear-finder", "/contact"):  # the server-set cookies, for the inventory
            page.goto(site + path, wait_until="networkidle")
        visitor.close()

        admin = browser.new_context(
            viewport={"width": 1360, "height": 900},
            device_scale_factor=1,
            http_credentials={"username": "admin", "password": PASSWORD},
        )
        dashboard = admin.new_page()
        time.sleep(0.5)  # let the audit writer flush the visitor's choice
        dashboard.goto(site + "/admin/consent/", wait_until="networkidle")
        dashboard.screenshot(path=str(out / "admin-dashboard.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
