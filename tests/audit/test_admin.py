"""The admin app: nothing without a credential; exports, verify, stats, cookies, notices; the
visitor's receipt holds only their own events."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from consentgate.audit.admin import admin_app, receipt
from consentgate.audit.chain import Sealer
from consentgate.audit.export import export_paths, verify_export
from consentgate.audit.signing import key_id
from consentgate.audit.stores import open_store
from consentgate.audit.stores.base import CookieRow, Store

from .conftest import KEY, make_event

TOKEN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(f"sqlite:///{tmp_path}/audit.db")
    await store.open()
    sealer = Sealer(KEY)
    await store.write(sealer.seal(make_event(i, consent_id=("alice", "bob")[i % 2]) for i in range(10)))
    await store.put_notice("n" * 64, {"texts": {"en": {"title": "Cookies"}}}, 1)
    await store.record_cookies([CookieRow("_ga", "", "analytics", "google-analytics", 1, 2, 3)])
    yield store
    await store.close()


@pytest.fixture
async def client(sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = admin_app(sqlite_store, auth=TOKEN, key=KEY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as http:
        yield http


@pytest.mark.parametrize(
    "path", ["/events", "/export?format=csv", "/verify", "/heads", "/stats", "/cookies", "/notices/x"]
)
async def test_every_endpoint_needs_the_credential(client: httpx.AsyncClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0000000000"}, {"Authorization": TOKEN}):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "alice" not in response.text


async def test_a_callable_decides_access(sqlite_store: Store) -> None:
    async def only_admins(request: Request) -> bool:
        return request.headers.get("x-role") == "dpo"

    app = admin_app(sqlite_store, auth=only_admins)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as http:
        assert (await http.get("/events")).status_code == 401
        assert (await http.get("/events", headers={"x-role": "dpo"})).status_code == 200


async def test_recent_events_filter_and_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/events?consent_id=alice&limit=3", headers=AUTH)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    events = response.json()["events"]
    assert len(events) == 3 and {e["consent_id"] for e in events} == {"alice"}
    assert [e["ts"] for e in events] == sorted((e["ts"] for e in events), reverse=True)
    assert events[0]["ts_utc"].endswith("Z")


async def test_bad_parameters_are_a_400(client: httpx.AsyncClient) -> None:
    for path in ("/events?since=yesterday", "/events?limit=0", "/export?format=xml"):
        response = await client.get(path, headers=AUTH)
        assert response.status_code == 400, path
        assert "error" in response.json()


async def test_exports_stream_and_bundle_with_a_matching_manifest(client: httpx.AsyncClient) -> None:
    response = await client.get("/export?format=jsonl&consent_id=bob", headers=AUTH)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 5 and {line["consent_id"] for line in lines} == {"bob"}
    bundle = await client.get("/export?format=csv&bundle=zip", headers=AUTH)
    assert bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        names = archive.namelist()
        [export_name] = [n for n in names if n.endswith(".csv")]
        manifest = json.loads(archive.read(export_name + ".manifest.json"))
        assert manifest["sha256"] == hashlib.sha256(archive.read(export_name)).hexdigest()
        assert manifest["rows"] == 10
        assert "n" * 64 in json.loads(archive.read(export_name + ".notices.json"))["notices"]
        assert sorted(names) == sorted(
            [
                export_name,
                *(export_name + suffix for suffix in (".manifest.json", ".notices.json", ".signature.json")),
            ]
        )


async def test_a_bundle_is_signed_with_the_admins_key_and_checks_with_it_alone(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    bundle = await client.get("/export?format=jsonl&bundle=zip&consent_id=alice", headers=AUTH)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        archive.extractall(tmp_path)
        [export_name] = [n for n in archive.namelist() if n.endswith(".jsonl")]
    target = tmp_path / export_name
    check = verify_export(target, KEY)
    assert check.ok and check.rows == 5 and check.signed_by == key_id(KEY)
    manifest = export_paths(target).manifest
    manifest.write_bytes(manifest.read_bytes().replace(b'"consent_id": "alice"', b'"consent_id": "carol"'))
    assert verify_export(target, KEY).problems == (
        f"{export_name}.signature.json: the manifest was changed after it was signed (its SHA-256 differs)",
    )


async def test_a_bundle_from_an_admin_app_without_a_key_is_unsigned(
    sqlite_store: Store, tmp_path: Path
) -> None:
    app = admin_app(sqlite_store, auth=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as http:
        bundle = await http.get("/export?format=csv&bundle=zip", headers=AUTH)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        archive.extractall(tmp_path)
        names = archive.namelist()
    assert not any(name.endswith(".signature.json") for name in names)
    [export_name] = [n for n in names if n.endswith(".csv")]
    assert not verify_export(tmp_path / export_name, KEY).ok
    assert verify_export(tmp_path / export_name, KEY, allow_unsigned=True).unsigned


async def test_a_pasted_consent_id_with_white_space_still_finds_its_events(client: httpx.AsyncClient) -> None:
    response = await client.get("/events", params={"consent_id": " bob\n"}, headers=AUTH)
    assert response.json()["count"] == 5


async def test_a_csv_for_a_spreadsheet_has_a_bom_and_a_plain_stream_does_not(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    plain = await client.get("/export?format=csv", headers=AUTH)
    for_excel = await client.get("/export?format=csv&bom=1", headers=AUTH)
    assert plain.content.startswith(b"event_id,")
    assert for_excel.content == b"\xef\xbb\xbf" + plain.content
    bundle = await client.get("/export?format=csv&bundle=zip", headers=AUTH)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        archive.extractall(tmp_path)
        [export_name] = [n for n in archive.namelist() if n.endswith(".csv")]
    assert (tmp_path / export_name).read_bytes().startswith(b"\xef\xbb\xbfevent_id,")
    assert verify_export(tmp_path / export_name, KEY).ok


async def test_verify_heads_stats_cookies_and_notices(client: httpx.AsyncClient) -> None:
    verified = (await client.get("/verify", headers=AUTH)).json()
    assert verified["ok"] is True and verified["records"] == 10
    assert len((await client.get("/heads", headers=AUTH)).json()["chain_heads"]) == 1
    days = (await client.get("/stats", headers=AUTH)).json()["days"]
    assert sum(day["choices"] for day in days) == 10
    assert "consent_id" not in json.dumps(days)
    cookies = (await client.get("/cookies", headers=AUTH)).json()["cookies"]
    assert cookies[0]["name"] == "_ga" and cookies[0]["count"] == 3
    notice = await client.get("/notices/" + "n" * 64, headers=AUTH)
    assert notice.json()["doc"] == {"texts": {"en": {"title": "Cookies"}}}
    assert (await client.get("/notices/unknown", headers=AUTH)).status_code == 404


async def test_an_unavailable_store_is_a_503_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    app = admin_app(f"sqlite:///{blocker}/sub/audit.db", auth=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as http:
        response = await http.get("/events", headers=AUTH)
    assert response.status_code == 503 and "unavailable" in response.json()["error"]


async def test_a_receipt_holds_only_the_visitors_own_events(sqlite_store: Store) -> None:
    events = await receipt(sqlite_store, "alice")
    assert len(events) == 5 and {e["consent_id"] for e in events} == {"alice"}
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert await receipt(sqlite_store, "") == []
    assert await receipt(sqlite_store, "nobody") == []


def test_a_short_token_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="auth token"):
        admin_app(f"sqlite:///{tmp_path}/a.db", auth="short")
