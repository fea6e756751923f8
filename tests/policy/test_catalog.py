from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from consentgate.policy.catalog import (
    catalog_info,
    catalog_lookup,
    catalog_service,
    cookie_tracker_category,
    decode_service,
    encode_service,
    host_tracker_category,
    load_catalog,
    tracker_category_of,
)
from consentgate.policy.model import STANDARD_CATEGORIES

REPO = Path(__file__).resolve().parents[2]
CATALOG_JSON = REPO / "src" / "consentgate" / "policy" / "catalog.json"


def test_catalog_loads_more_than_a_thousand_tracker_services() -> None:
    services = load_catalog()
    trackers = [s for s in services if s.category != "necessary"]
    assert len(trackers) > 1000
    assert all(s.origin == "catalog" for s in services)
    assert {s.category for s in services} <= set(STANDARD_CATEGORIES)


def test_service_ids_are_unique_and_slug_shaped() -> None:
    ids = [s.id for s in load_catalog()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)


@pytest.mark.parametrize(
    ("service_id", "category"),
    [
        ("google-analytics", "analytics"),
        ("google-tag-manager", "analytics"),
        ("google-ads", "marketing"),
        ("meta-pixel", "marketing"),
        ("hotjar", "analytics"),
        ("linkedin-insight", "marketing"),
        ("tiktok-pixel", "marketing"),
        ("youtube", "marketing"),
        ("vimeo", "marketing"),
        ("twitter", "marketing"),
        ("pinterest", "marketing"),
        ("snapchat", "marketing"),
        ("microsoft-clarity", "analytics"),
        ("bing-ads", "marketing"),
        ("matomo", "analytics"),
        ("new-relic", "analytics"),
        ("intercom", "preferences"),
    ],
)
def test_popular_services_have_stable_ids_and_categories(service_id: str, category: str) -> None:
    assert catalog_service(service_id).category == category


def test_sale_share_marks_marketing_services_only() -> None:
    for service in load_catalog():
        assert service.sale_share == (service.category == "marketing"), service.id


def test_unknown_service_id_raises_key_error() -> None:
    with pytest.raises(KeyError):
        catalog_service("no-such-service")


def test_tracker_category_of_reports_only_analytics_and_marketing() -> None:
    assert tracker_category_of("google-analytics") == "analytics"
    assert tracker_category_of("meta-pixel") == "marketing"
    assert tracker_category_of("intercom") is None  # preferences
    assert tracker_category_of("laravel") is None  # necessary (Open Cookie Database)
    assert tracker_category_of("no-such-service") is None


@pytest.mark.parametrize(
    ("host", "category"),
    [
        ("www.google-analytics.com", "analytics"),
        ("region1.google-analytics.com", "analytics"),
        ("www.googletagmanager.com", "analytics"),
        ("connect.facebook.net", "marketing"),
        ("static.hotjar.com", "analytics"),
        ("www.youtube.com", "marketing"),
        ("youtube-nocookie.com", "marketing"),
        ("www.youtube-nocookie.com", "marketing"),
        ("player.vimeo.com", "marketing"),
        ("googleads.g.doubleclick.net", "marketing"),
        ("snap.licdn.com", "marketing"),
        ("bat.bing.com", "marketing"),
        ("WWW.Google-Analytics.COM.", "analytics"),
        ("cdn.jsdelivr.net", None),
        ("fonts.googleapis.com", None),
        ("fonts.gstatic.com", None),
        ("www.microsoft.com", None),  # pruned from "Bing Ads" as far too broad
        ("example.com", None),
        ("", None),
    ],
)
def test_host_tracker_category(host: str, category: str | None) -> None:
    assert host_tracker_category(host) == category


@pytest.mark.parametrize(
    ("cookie", "category"),
    [
        ("_ga", "analytics"),
        ("_ga_ABC123", "analytics"),
        ("_gid", "analytics"),
        ("_fbp", "marketing"),
        ("_fbc", "marketing"),
        ("_hjSessionUser_123", "analytics"),
        ("_gcl_au", "marketing"),
        ("_clck", "analytics"),
        ("__hstc", "marketing"),
        ("_pk_id.1.1fff", "analytics"),
        ("mp_0123456789abcdef0123456789abcdef_mixpanel", "analytics"),
    ],
)
def test_cookie_tracker_category(cookie: str, category: str) -> None:
    assert cookie_tracker_category(cookie) == category


@pytest.mark.parametrize(
    "cookie", ["sessionid", "csrftoken", "PHPSESSID", "JSESSIONID", "token", "id", "c", "lang", "session"]
)
def test_application_cookies_are_not_trackers(cookie: str) -> None:
    assert cookie_tracker_category(cookie) is None


def test_third_party_cookies_are_listed_but_never_matched_by_name() -> None:
    # Instagram's `sessionid` lives on instagram.com: it is disclosed, but a Django site's own
    # `sessionid` must not be taken for it.
    instagram = catalog_service("instagram")
    listed = {c.name: c for c in instagram.cookies}
    assert listed["sessionid"].third_party
    assert catalog_lookup().service_for_cookie("sessionid") is None


def test_encode_decode_round_trip_keeps_every_field() -> None:
    for service in load_catalog():
        assert decode_service(json.loads(json.dumps(encode_service(service)))) == service


def test_decode_rejects_a_category_outside_the_standard_four() -> None:
    with pytest.raises(ValueError, match="category"):
        decode_service({"id": "x", "name": "X", "cat": "social"})


def test_catalog_file_is_compact() -> None:
    # Load time is measured in bench/, not asserted here (shared, noisy machines).
    assert CATALOG_JSON.stat().st_size < 2 * 1024 * 1024


def test_catalog_info_names_its_sources() -> None:
    info = catalog_info()
    assert "third-party-web" in info.generated_from
    assert "Open Cookie Database" in info.generated_from
    assert re.fullmatch(r"[0-9a-f]{12}", info.version)
    assert info.service_count == len(load_catalog())


@pytest.mark.corpus
def test_shipped_catalog_is_what_the_script_builds(shared_dir: Path, tmp_path: Path) -> None:
    datasets = shared_dir / "datasets"
    out_json, out_doc = tmp_path / "catalog.json", tmp_path / "catalog.md"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_catalog.py"),
            "--datasets",
            str(datasets),
            "--output",
            str(out_json),
            "--doc",
            str(out_doc),
        ],
        check=True,
        capture_output=True,
    )
    assert out_json.read_bytes() == CATALOG_JSON.read_bytes(), "rerun scripts/build_catalog.py"
    assert out_doc.read_bytes() == (REPO / "docs" / "catalog.md").read_bytes()


# -- the catalog against real pages -----------------------------------------------------------
def _inline_scripts(page: Path, encoding: str | None) -> dict[str, str]:
    import html5lib  # a dev dependency: never skipped

    document = html5lib.parse(
        page.read_bytes(), treebuilder="etree", namespaceHTMLElements=False, transport_encoding=encoding
    )
    scripts = {}
    for element in document.iter("script"):
        if element.get("src") is None:
            text = element.text or ""
            scripts[hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]] = text
    return scripts


@pytest.mark.corpus
def test_catalog_recognises_the_trackers_of_real_pages(shared_dir: Path) -> None:
    """The 120 captured pages of corpora/html: tier-js trackers found by host or inline signature."""
    html = shared_dir / "corpora" / "html"
    pages = json.loads((html / "EXPECT.json").read_text("utf-8"))["pages"]
    lookup = catalog_lookup()
    hosts_found = hosts_total = inline_found = inline_total = 0
    control_matches = []
    for name, page in pages.items():
        scripts = _inline_scripts(html / name, page.get("encoding"))
        if page["role"] != "trackers":
            control_matches += [
                (name, text[:60]) for text in scripts.values() if lookup.service_for_inline(text.encode())
            ]
            continue
        for tracker in page["trackers"]:
            if tracker["tier"] != "js":
                continue
            if tracker["kind"] == "inline-script":
                text = scripts.get(tracker["script_sha1"])
                if text is not None:
                    inline_total += 1
                    inline_found += lookup.service_for_inline(text.encode()) is not None
            elif tracker.get("domain", "(relative)") != "(relative)":
                hosts_total += 1
                service = lookup.service_for_host(tracker["domain"])
                hosts_found += service is not None and service.category != "necessary"
    assert control_matches == []
    # Inline misses are by design in part: a Consent Mode `gtag('consent', 'default', …)`
    # snippet must run before consent, and a CMP's own UI script is no tracker.
    assert inline_found / inline_total >= 0.95, (inline_found, inline_total)
    assert hosts_found / hosts_total >= 0.80, (hosts_found, hosts_total)
