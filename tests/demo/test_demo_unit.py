"""The demo site through the middleware (httpx, in process), its third-party origins, and the
``consentgate demo`` command's parts."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from consentgate import cli
from consentgate.audit.events import MemorySink
from consentgate.demo import (
    Endpoint,
    bind_all,
    builtin_site,
    find_demo_dir,
    load_demo_package,
    resolve_key,
    run,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "examples" / "demo"
SITE = "http://127.0.0.1:8000"
KEY = "demo-unit-test-key-" + "x" * 32
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
PAGES = (
    "/",
    "/shop",
    "/articles/ridge-walks-for-short-days",
    "/gear-finder",
    "/contact",
    "/privacy",
    "/my-consent",
)


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    return load_demo_package(DEMO_DIR)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
async def http(demo: ModuleType, sink: MemorySink) -> AsyncIterator[httpx.AsyncClient]:
    app = demo.create_site(demo.Origins(), secret_keys=[KEY], audit=sink)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=SITE, headers={"User-Agent": CHROME}
    ) as client:
        yield client


async def accept(http: httpx.AsyncClient, *categories: str) -> dict[str, Any]:
    state = (await http.get("/_consentgate/state")).json()
    body: dict[str, Any] = {"csrf": state["csrf"]}
    body.update(
        {"action": "save", "categories": list(categories)} if categories else {"action": "accept_all"}
    )
    response = await http.post("/_consentgate/consent", json=body, headers={"Origin": SITE})
    assert response.status_code == 200, response.text
    saved: dict[str, Any] = response.json()["state"]
    return saved


def tag_with(html: str, needle: str, tag: str = "script") -> str:
    at = html.index(needle)
    start = html.rfind(f"<{tag}", 0, at)
    return html[start : html.index(">", at) + 1]


def set_cookie_names(response: httpx.Response) -> list[str]:
    return [value.split("=", 1)[0] for value in response.headers.get_list("set-cookie")]


# -- the site through the middleware ------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_renders_with_the_banner_on_a_first_visit(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert "Ridgeline" in response.text
    assert "data-consentgate-banner" in response.text
    assert response.text.count('id="consentgate-state"') == 1


async def test_an_unknown_page_is_a_404_page_of_the_site(http: httpx.AsyncClient) -> None:
    response = await http.get("/no/such/page")
    assert response.status_code == 404
    assert "Off the map" in response.text


async def test_analytics_loader_is_blocked_by_host_and_its_inline_queue_by_signature(
    http: httpx.AsyncClient,
) -> None:
    html = (await http.get("/")).text
    loader = tag_with(html, "127.0.0.2:8001/ts.js")
    assert 'type="text/plain"' in loader and 'data-consentgate-service="trailstats"' in loader
    assert ' src="' not in loader
    inline = tag_with(html, "window.tsLayer")
    assert 'type="text/plain"' in inline and 'data-consentgate-service="trailstats"' in inline


async def test_site_marked_preferences_script_stays_inert_without_consent(http: httpx.AsyncClient) -> None:
    html = (await http.get("/")).text
    script = tag_with(html, 'data-category="preferences"')
    assert "data-consentgate-blocked" in script and 'type="text/plain"' in script


async def test_shop_pixel_snippet_noscript_image_and_ad_slot_are_neutralised(http: httpx.AsyncClient) -> None:
    html = (await http.get("/shop")).text
    pixel = tag_with(html, "!function(f,b,e,v,n,t,s)")
    assert 'type="text/plain"' in pixel and 'data-consentgate-service="pinecone-ads"' in pixel
    image = tag_with(html, "127.0.0.3:8002/tr?", "img")
    assert "data-consentgate-src=" in image and ' src="' not in image
    slot = tag_with(html, "127.0.0.3:8002/slot.js")
    assert "data-consentgate-blocked" in slot and ' src="' not in slot


async def test_article_video_frame_is_replaced_by_a_placeholder_until_consent(
    http: httpx.AsyncClient,
) -> None:
    html = (await http.get("/articles/how-we-test-rain-shells")).text
    frame = tag_with(html, "127.0.0.4:8003/embed/shell-lab", "iframe")
    assert "data-consentgate-src=" in frame and ' src="' not in frame
    assert 'data-consentgate-placeholder data-consentgate-category="marketing"' in html


async def test_everything_runs_after_accept_all(http: httpx.AsyncClient, sink: MemorySink) -> None:
    saved = await accept(http)
    home = (await http.get("/")).text
    shop = (await http.get("/shop")).text
    article = (await http.get("/articles/ridge-walks-for-short-days")).text
    assert "data-consentgate-banner" not in home
    assert 'src="http://127.0.0.2:8001/ts.js' in home
    assert 'src="http://127.0.0.3:8002/slot.js' in shop
    assert 'src="http://127.0.0.4:8003/embed/ridge-day' in article
    assert "data-consentgate-blocked" not in tag_with(home, "window.tsLayer")
    assert [(e.action, e.consent_id) for e in sink.events] == [("accept_all", saved["consentId"])]


async def test_server_set_analytics_cookie_is_dropped_until_analytics_is_allowed(
    http: httpx.AsyncClient,
) -> None:
    before = await http.get("/gear-finder?activity=hiking")
    assert "_ts_sess" not in set_cookie_names(before)
    assert "Storm Shell" in before.text

    await accept(http, "preferences")
    still_refused = await http.get("/gear-finder")
    assert "_ts_sess" not in set_cookie_names(still_refused)

    await accept(http, "analytics")
    allowed = await http.get("/gear-finder")
    assert "_ts_sess" in set_cookie_names(allowed)
    again = await http.get("/gear-finder")
    assert '<strong class="ok">with</strong>' in again.text, "the browser now sends it back"


async def test_contact_form_works_with_its_necessary_session_cookie_before_any_choice(
    http: httpx.AsyncClient,
) -> None:
    form = await http.get("/contact")
    assert "ridgeline_session" in set_cookie_names(form)
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"token": token.group(1), "name": "Ada", "email": "ada@example.org", "message": "Hi"}
    sent = await http.post("/contact", data=data)
    assert sent.status_code == 303 and sent.headers["location"] == "/contact?sent=1"
    assert "Thank you" in (await http.get("/contact?sent=1")).text


async def test_contact_form_without_its_session_asks_again_instead_of_failing(demo: ModuleType) -> None:
    app = demo.create_site(demo.Origins(), secret_keys=[KEY], audit=MemorySink())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as client:
        data = {"token": "forged", "name": "Eve", "email": "eve@example.org", "message": "Hi"}
        response = await client.post("/contact", data=data)
    assert response.status_code == 400
    assert "session expired" in response.text


async def test_contact_form_with_empty_fields_is_refused_with_a_message(http: httpx.AsyncClient) -> None:
    form = await http.get("/contact")
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    response = await http.post(
        "/contact", data={"token": token.group(1), "name": "", "email": "", "message": ""}
    )
    assert response.status_code == 400
    assert "fill in every field" in response.text


async def test_consent_record_page_reads_the_state_the_middleware_put_in_the_scope(
    http: httpx.AsyncClient,
) -> None:
    before = (await http.get("/my-consent")).text
    assert "You have not made a choice yet" in before
    saved = await accept(http, "analytics")
    after = await http.get("/my-consent")
    assert saved["consentId"] in after.text
    assert after.headers["cache-control"] == "no-store"
    assert re.search(r"Trailstats Analytics.*?allowed", after.text, re.S)
    assert re.search(r"Pinecone Ads.*?blocked", after.text, re.S)


async def test_consent_record_page_without_the_middleware_says_so(demo: ModuleType) -> None:
    # The page must not crash when an app mounts it without ConsentGate in front.
    from starlette.applications import Starlette
    from starlette.routing import Route

    pages = demo.site._Pages(demo.Origins(), demo.load_policy())
    app = Starlette(routes=[Route("/my-consent", pages.my_consent)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as client:
        response = await client.get("/my-consent")
    assert "not behind consentgate" in response.text


async def test_privacy_notice_lists_every_declared_service_with_its_cookies(
    http: httpx.AsyncClient, demo: ModuleType
) -> None:
    html = (await http.get("/privacy")).text
    policy = demo.load_policy()
    for service in (s for s in policy.services if s.origin == "policy"):
        assert service.name in html
        for cookie in service.cookies:
            assert f"<code>{cookie.name}</code>" in html
    assert policy.fingerprint() in html


async def test_static_assets_are_served_first_party(http: httpx.AsyncClient) -> None:
    css = await http.get("/static/site.css")
    assert css.status_code == 200 and "--forest" in css.text


async def test_dashboard_is_mounted_outside_the_middleware_and_lifespan_reaches_the_site(
    demo: ModuleType,
) -> None:
    seen: list[str] = []

    async def admin(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": b"<html><body>admin</body></html>"})

    sink = _ManagedSink()
    app = demo.create_site(demo.Origins(), secret_keys=[KEY], audit=sink, admin=admin)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as client:
        response = await client.get("/admin/consent/", headers={"User-Agent": CHROME})
        home = await client.get("/", headers={"User-Agent": CHROME})
    assert response.text == "<html><body>admin</body></html>", "no banner on the admin page"
    assert seen and "data-consentgate-banner" in home.text

    await _run_lifespan(app)
    assert sink.calls == ["start", "stop"]


class _ManagedSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


async def _run_lifespan(app: Any) -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.startup.complete"
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(task, 5)


async def test_without_javascript_the_footers_cookie_settings_link_returns_to_the_page(
    http: httpx.AsyncClient, sink: MemorySink
) -> None:
    article = "/articles/ridge-walks-for-short-days"
    html = (await http.get(article)).text
    link = re.search(r'<a href="([^"]+)" data-consentgate-open>Cookie settings</a>', html)
    assert link is not None and "next=" not in link.group(1)  # the site's own plain link
    # A browser sends the page it came from: the preferences page takes it as the way back.
    page = (await http.get(link.group(1), headers={"Referer": SITE + article})).text
    assert f'<input type="hidden" name="next" value="{article}">' in page
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    saved = await http.post(
        "/_consentgate/consent",
        data={"action": "reject_all", "ui": "preferences", "csrf": token.group(1), "next": article},
        headers={"Origin": SITE},
    )
    assert saved.status_code == 303 and saved.headers["location"] == article
    assert [e.action for e in sink.events] == ["reject_all"]


async def test_provider_privacy_links_follow_the_ports_the_demo_runs_on(demo: ModuleType) -> None:
    origins = demo.Origins(analytics="http://127.0.0.2:9001", video="http://127.0.0.4:9003")
    app = demo.create_site(origins, secret_keys=[KEY], audit=MemorySink())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=SITE, headers={"User-Agent": CHROME}
    ) as client:
        html = (await client.get("/articles/how-we-test-rain-shells")).text
        prefs = (await client.get("/_consentgate/preferences")).text
    placeholder = html[html.index("data-consentgate-placeholder") :]
    assert 'href="http://127.0.0.4:9003/"' in placeholder  # Trailcast's privacy policy, --video-port
    assert "127.0.0.4:8003" not in placeholder
    assert 'href="http://127.0.0.2:9001/"' in prefs and "127.0.0.2:8001" not in prefs
    assert 'href="http://127.0.0.3:8002/"' in prefs  # the ads origin did not move


# -- the third-party origins --------------------------------------------------------------------


def third_party(app: Any, base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def test_analytics_origin_serves_a_script_that_sets_its_cookie_and_counts_beacons(
    demo: ModuleType,
) -> None:
    async with third_party(demo.create_analytics_app(), "http://127.0.0.2:8001") as client:
        script = await client.get("/ts.js?id=TS-1")
        assert script.headers["content-type"].startswith("text/javascript")
        assert '"http://127.0.0.2:8001/collect"' in script.text and "_ts_uid=" in script.text
        assert (await client.get("/hits")).json() == []
        beacon = await client.post("/collect", content=b'{"kind": "pageview", "page": "/shop"}')
        assert beacon.status_code == 204
        await client.post("/collect", content=b"not json")
        hits = (await client.get("/hits")).json()
    assert [(h["kind"], h["page"]) for h in hits] == [("pageview", "/shop"), ("hit", "")]


async def test_ads_origin_serves_pixel_slot_and_a_counted_tracking_image(demo: ModuleType) -> None:
    async with third_party(demo.create_ads_app(), "http://127.0.0.3:8002") as client:
        assert "pcq" in (await client.get("/pixel.js")).text
        slot = await client.get("/slot.js")
        assert "data-pc-slot" in slot.text and "_pc_id=" in slot.text
        gif = await client.get("/tr?id=PC&ev=PageView&noscript=1")
        assert gif.headers["content-type"] == "image/gif" and gif.content.startswith(b"GIF89a")
        assert "advertiser" in (await client.get("/click?slot=x")).text
        kinds = [h["kind"] for h in (await client.get("/hits")).json()]
    assert kinds == ["slot", "noscript", "click"]


async def test_video_origin_serves_a_player_page_that_sets_its_own_cookie(demo: ModuleType) -> None:
    async with third_party(demo.create_video_app(), "http://127.0.0.4:8003") as client:
        player = await client.get("/embed/ridge-day?title=<b>Ridge</b>")
        about = await client.get("/")
        hits = (await client.get("/hits")).json()
    assert "tc_visitor" in set_cookie_names(player)
    assert "&lt;b&gt;Ridge&lt;/b&gt; - Trailcast" in player.text
    assert "Trailcast Video" in about.text
    assert [h["kind"] for h in hits] == ["embed"]


# -- the command ----------------------------------------------------------------------------------


def test_a_generated_key_is_saved_privately_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secret.key"
    key, note = resolve_key(None, path, option="--secret-key", env="X")
    assert len(key) >= 32 and "generated" in note
    assert path.stat().st_mode & 0o777 == 0o600
    again, note = resolve_key(None, path, option="--secret-key", env="X")
    assert again == key and "read from" in note


def test_a_given_key_must_be_long_enough(tmp_path: Path) -> None:
    path = tmp_path / "k"
    assert resolve_key("s" * 32, path, option="--audit-key", env="X")[0] == "s" * 32
    with pytest.raises(ValueError, match="--audit-key"):
        resolve_key("short", path, option="--audit-key", env="X")
    assert not path.exists()


def test_the_demo_is_found_in_the_checkout_or_where_it_is_told(tmp_path: Path) -> None:
    assert find_demo_dir() == DEMO_DIR
    assert find_demo_dir(DEMO_DIR) == DEMO_DIR
    assert find_demo_dir(tmp_path) is None


def test_the_demo_command_is_registered_with_its_options() -> None:
    args = cli.build_parser().parse_args(["demo", "--site-port", "9000", "--host", "127.0.0.1"])
    assert args.func is run and args.site_port == 9000 and args.ads_port == 8002


def test_a_busy_port_is_reported_before_anything_starts(free_port: int) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        with pytest.raises(OSError, match=f"cannot listen on http://127.0.0.1:{free_port} for the site"):
            bind_all([Endpoint("site", builtin_site([KEY], None), "127.0.0.1", free_port)])


def test_a_busy_port_makes_the_command_fail_with_a_message(
    free_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        code = cli.main(["demo", "--site-port", str(free_port), "--data-dir", str(tmp_path)])
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err


def test_a_demo_dir_without_the_site_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--demo-dir", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert "no demo site" in capsys.readouterr().err


async def test_the_built_in_page_goes_through_the_middleware() -> None:
    app = builtin_site([KEY], None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE) as client:
        html = (await client.get("/", headers={"User-Agent": CHROME})).text
    assert "data-consentgate-banner" in html
    assert 'data-consentgate-src="https://www.googletagmanager.com/gtag/js' in html


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_command_serves_all_four_origins_and_stops_on_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = {"site": "127.0.0.1", "analytics": "127.0.0.2", "ads": "127.0.0.3", "video": "127.0.0.4"}
    ports = {name: _free_port(host) for name, host in hosts.items()}
    fetched: dict[str, int] = {}

    def visit_then_stop() -> None:
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                try:
                    fetched["site"] = httpx.get(f"http://127.0.0.1:{ports['site']}/", timeout=2).status_code
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            fetched["analytics"] = httpx.get(f"http://127.0.0.2:{ports['analytics']}/ts.js").status_code
            fetched["ads"] = httpx.get(f"http://127.0.0.3:{ports['ads']}/pixel.js").status_code
            fetched["video"] = httpx.get(f"http://127.0.0.4:{ports['video']}/embed/x").status_code
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=visit_then_stop)
    thread.start()
    argv = ["demo", "--data-dir", str(tmp_path / "var")]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    code = cli.main(argv)
    thread.join()
    out = capsys.readouterr().out
    assert code == 0
    assert fetched == {"site": 200, "analytics": 200, "ads": 200, "video": 200}
    assert f"http://127.0.0.1:{ports['site']}/" in out and "consentgate demo stopped" in out
    assert "generated one" in out and (tmp_path / "var" / "secret.key").is_file()
    assert (tmp_path / "var" / "consent.db").is_file()


def test_without_the_demo_folder_the_command_serves_the_built_in_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from consentgate import demo as demo_command

    monkeypatch.setattr(demo_command, "find_demo_dir", lambda explicit=None: None)
    port = _free_port("127.0.0.1")
    page: list[str] = []

    def visit_then_stop() -> None:
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline and not page:
                try:
                    page.append(httpx.get(f"http://127.0.0.1:{port}/", headers={"User-Agent": CHROME}).text)
                except httpx.TransportError:
                    time.sleep(0.1)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=visit_then_stop)
    thread.start()
    code = cli.main(["demo", "--site-port", str(port), "--data-dir", str(tmp_path)])
    thread.join()
    assert code == 0
    assert "examples/demo not found" in capsys.readouterr().out
    assert "consentgate is running" in page[0] and "data-consentgate-banner" in page[0]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--admin-password", "short"], "--admin-password"),
        (["--secret-key", "short"], "--secret-key"),
        (["--audit-key", "short"], "--audit-key"),
        (["--audit", "mysql://nope"], "--audit"),
    ],
)
def test_bad_options_stop_the_command_with_a_message_naming_them(
    option: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--data-dir", str(tmp_path), *option]) == 2
    assert message in capsys.readouterr().err


def test_loading_the_demo_twice_gives_the_same_package() -> None:
    first = load_demo_package(DEMO_DIR)
    assert load_demo_package(DEMO_DIR) is first


def test_a_broken_demo_folder_is_not_left_half_imported(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(RuntimeError, match="broken on purpose"):
        load_demo_package(tmp_path)
    assert load_demo_package(DEMO_DIR).__file__ == str(DEMO_DIR / "__init__.py")


def test_register_adds_a_demo_parser() -> None:
    parser = argparse.ArgumentParser()
    from consentgate import demo as demo_command

    demo_command.register(parser.add_subparsers())
    assert parser.parse_args(["demo"]).log_level == "warning"


# -- the admin ------------------------------------------------------------------------------------


async def test_admin_refuses_missing_wrong_and_malformed_credentials(
    demo: ModuleType, tmp_path: Path
) -> None:
    from consentgate.audit.stores import open_store

    store = open_store(f"sqlite:///{tmp_path}/audit.db")
    await store.migrate()
    admin = demo.create_admin(store, password="correct-horse-battery", key=None, policy=demo.load_policy())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=admin), base_url=SITE) as client:
            missing = await client.get("/")
            wrong = await client.get("/", auth=("admin", "wrong-password-123"))
            malformed = await client.get("/", headers={"Authorization": "Basic !!!"})
            right = await client.get("/", auth=("admin", "correct-horse-battery"))
            export = await client.get("/export?format=csv", auth=("admin", "correct-horse-battery"))
            api_without = await client.get("/export?format=csv")
    finally:
        await store.close()
    assert missing.status_code == wrong.status_code == malformed.status_code == api_without.status_code == 401
    assert missing.headers["www-authenticate"].startswith('Basic realm="consentgate admin"')
    assert right.status_code == 200 and "Consent overview" in right.text
    assert export.status_code == 200 and export.text.startswith("event_id,")


def test_admin_password_must_not_be_trivial(demo: ModuleType) -> None:
    with pytest.raises(ValueError, match="password"):
        demo.admin.BasicCredentials("admin", "short")
