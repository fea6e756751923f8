"""Under a mount point (a Starlette ``Mount``, ``uvicorn --root-path``, ``FastAPI(root_path=...)``)
every URL the UI and the runtime use starts with ``scope["root_path"]``: assets, the forms'
action, the preference centre's link, the STATE block's ``prefix`` and the way back."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Mount, Route

from consentgate.audit.events import MemorySink
from consentgate.http.middleware import ConsentGate
from consentgate.policy.load import load_dict
from tests.http.http_harness import BROWSER, Recorder, receiver, scope

PAGE = (
    b"<!doctype html><html><head><title>Shop</title>"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></head><body>'
    b'<iframe src="https://www.youtube.com/embed/x"></iframe><h1>Hi</h1></body></html>'
)
NAVIGATE = {"accept": "text/html", "sec-fetch-dest": "document"}
_OUR_URL = re.compile(r'(?:href|src|action)="([^"]*_consentgate[^"]*)"')
_STATE = re.compile(r'<script type="application/json" id="consentgate-state"[^>]*>(.*?)</script>')


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


def gate(app: Any) -> ConsentGate:
    return ConsentGate(app, secret_keys=["k" * 32], policy=load_dict({}), audit=MemorySink())


def shop() -> Starlette:
    return Starlette(routes=[Route("/", page), Route("/item", page)])


def our_urls(body: str) -> list[str]:
    return [html.unescape(url) for url in _OUR_URL.findall(body)]


def state_of(body: str) -> dict[str, Any]:
    match = _STATE.search(body)
    assert match is not None
    state: dict[str, Any] = json.loads(match.group(1))
    return state


async def test_under_a_starlette_mount_the_ui_works_end_to_end() -> None:
    async def outer_home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("outer site")

    site = Starlette(routes=[Route("/", outer_home), Mount("/shop", app=gate(shop()))])
    transport = httpx.ASGITransport(app=site)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"user-agent": BROWSER}
    ) as http:
        first = await http.get("/shop/item", headers=NAVIGATE)
        body = first.text
        urls = our_urls(body)
        # stylesheet, runtime, banner form, placeholder form, centre form, preference links
        assert len(urls) >= 6 and all(url.startswith("/shop/_consentgate/") for url in urls), urls
        assert state_of(body)["prefix"] == "/shop/_consentgate"  # the runtime's endpoint() base
        for url in {url for url in urls if "/static/" in url or "/preferences" in url}:
            assert (await http.get(url)).status_code == 200, url
        centre = await http.get(next(url for url in urls if "/preferences" in url))
        assert all(url.startswith("/shop/_consentgate/") for url in our_urls(centre.text))
        assert (await http.get("/shop/_consentgate/state")).json()["prefix"] == "/shop/_consentgate"

        # Without JavaScript: the banner's form posts under the mount and comes back to the page.
        form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', body, re.S)
        assert form is not None
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
        saved = await http.post(
            html.unescape(form.group(1)),
            data={**{k: html.unescape(v) for k, v in fields.items()}, "action": "reject_all"},
            headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/shop/item"
        assert (await http.get("/")).text == "outer site"


async def test_under_a_server_root_path_every_ui_url_carries_it() -> None:
    # uvicorn --root-path /shop: path and raw_path include the mount point (harness scope).
    send = Recorder()
    await gate(shop())(scope("/item", root_path="/shop", headers=list(NAVIGATE.items())), receiver(), send)
    body = send.body.decode()
    urls = our_urls(body)
    assert urls and all(url.startswith("/shop/_consentgate/") for url in urls), urls
    assert state_of(body)["prefix"] == "/shop/_consentgate"
    assert 'name="next" value="/shop/item"' in body


async def test_a_root_path_below_which_the_server_gives_the_path_still_prefixes_the_urls() -> None:
    # FastAPI(root_path="/shop") behind a proxy that strips it: the path has no mount point.
    send = Recorder()
    request = {**scope("/item", headers=list(NAVIGATE.items())), "root_path": "/shop"}
    await gate(shop())(request, receiver(), send)
    body = send.body.decode()
    assert all(url.startswith("/shop/_consentgate/") for url in our_urls(body))
    assert 'name="next" value="/shop/item"' in body


async def test_pages_of_two_mount_points_never_share_cached_snippets() -> None:
    middleware = gate(shop())
    for root in ("", "/a", "", "/b/c", "/a"):
        send = Recorder()
        await middleware(scope("/item", root_path=root, headers=list(NAVIGATE.items())), receiver(), send)
        body = send.body.decode()
        assert all(url.startswith(f"{root}/_consentgate/") for url in our_urls(body)), (root, our_urls(body))
        assert state_of(body)["prefix"] == f"{root}/_consentgate"


async def test_a_root_path_never_makes_a_url_of_another_origin() -> None:
    send = Recorder()
    hostile = {**scope("/item", headers=list(NAVIGATE.items())), "root_path": '//evil.example/"><x'}
    await gate(shop())(hostile, receiver(), send)
    urls = our_urls(send.body.decode())
    assert urls and all(url.startswith("/evil.example/%22%3E%3Cx/_consentgate/") for url in urls), urls
