#!/usr/bin/env python3
"""Build ``src/consentgate/policy/catalog.json`` and ``docs/catalog.md``.

    python scripts/build_catalog.py --datasets ../shared/datasets

Inputs: ``third-party-web/entities.json`` (MIT) and ``open-cookie-database/open-cookie-database.csv``
(Apache-2.0) under ``--datasets``, plus the curated ``scripts/catalog_overlay.py``. The output
depends on nothing else (no clock, no network, sorted everywhere), so a rerun on the same inputs
writes the same bytes; the version string is a hash of the content.

Mapping (see docs/catalog.md for the reasons):
- third-party-web: ad, social, marketing, video -> marketing; analytics, tag-manager ->
  analytics; customer-success -> preferences; everything else (cdn, hosting, utility, content,
  consent-provider, other) is not a tracker and is left out.
- Open Cookie Database: Marketing -> marketing; Analytics -> analytics; Personalization ->
  preferences; Functional, Security, Necessary -> necessary.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from catalog_overlay import (  # noqa: E402
    COOKIE_SERVICE,
    DISTINCTIVE_COOKIE_NAMES,
    EXTRA_COOKIES,
    FIRST_PARTY_COOKIES,
    GENERIC_COOKIE_NAMES,
    PLATFORMS_NOT_ATTACHED,
    SERVICES,
)

from consentgate.policy.catalog import CATALOG_FORMAT, encode_service  # noqa: E402
from consentgate.policy.model import CookieSpec, Service  # noqa: E402

OUTPUT_JSON = ROOT / "src" / "consentgate" / "policy" / "catalog.json"
OUTPUT_DOC = ROOT / "docs" / "catalog.md"

TPW_CATEGORY = {
    "ad": "marketing",
    "social": "marketing",
    "marketing": "marketing",
    "video": "marketing",
    "analytics": "analytics",
    "tag-manager": "analytics",
    "customer-success": "preferences",
}
TPW_PURPOSE = {
    "ad": "advertising",
    "social": "social media",
    "marketing": "marketing",
    "video": "video",
    "analytics": "analytics",
    "tag-manager": "tag management",
    "customer-success": "customer support",
}
OCD_CATEGORY = {
    "Marketing": "marketing",
    "Analytics": "analytics",
    "Personalization": "preferences",
    "Functional": "necessary",
    "Security": "necessary",
    "Necessary": "necessary",
}
OCD_PURPOSE = {"marketing": "advertising", "analytics": "analytics", "preferences": "personalisation"}
CATEGORY_ORDER = ("marketing", "analytics", "preferences", "necessary")

_COOKIE_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 cookie-name (token)
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]")
_SESSION_WORDS = {"session", "sessions", "session cookie", "end of session (browser)", "seesion"}
_UNIT_SECONDS = {
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 2_629_746,  # 1/12 of a Gregorian year
    "year": 31_556_952,
}
_LIFETIME = re.compile(
    r"(\d+)\s*(second|sec|minute|min|hour|day|week|month|year)s?(?: after last activity)?", re.IGNORECASE
)


@dataclass
class Draft:
    """A service being assembled from the sources."""

    id: str
    name: str
    category: str
    provider: str = ""
    purposes: list[str] = field(default_factory=list)
    description: str = ""
    privacy_url: str = ""
    hosts: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    cookies: dict[tuple[str, bool], CookieSpec] = field(default_factory=dict)
    sale_share: bool | None = None
    justification: str = ""
    occurrences: int = 0
    ocd_privacy_urls: Counter[str] = field(default_factory=Counter)
    ocd_controllers: Counter[str] = field(default_factory=Counter)

    def add_cookie(self, cookie: CookieSpec) -> None:
        self.cookies.setdefault((cookie.name, cookie.is_regex), cookie)

    def freeze(self) -> Service:
        sale_share = self.category == "marketing" if self.sale_share is None else self.sale_share
        privacy_url = self.privacy_url or _most_common(self.ocd_privacy_urls)
        return Service(
            id=self.id,
            name=self.name,
            category=self.category,
            provider=self.provider or _most_common(self.ocd_controllers),
            purposes=tuple(self.purposes),
            description=self.description,
            privacy_url=privacy_url,
            cookies=tuple(sorted(self.cookies.values(), key=lambda c: (c.name.lower(), c.name))),
            hosts=tuple(sorted(set(self.hosts))),
            signatures=tuple(sorted(set(self.signatures))),
            justification=self.justification,
            sale_share=sale_share,
            origin="catalog",
        )


def _most_common(counter: Counter[str]) -> str:
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return ranked[0][0] if ranked else ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "service"


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def parse_lifetime(text: str) -> tuple[str, int | None]:
    cleaned = " ".join(text.split())
    lowered = cleaned.lower()
    if not cleaned or lowered in _SESSION_WORDS:
        return "session", None
    match = _LIFETIME.fullmatch(cleaned)
    if match is None:
        return cleaned, None
    count, unit = int(match.group(1)), match.group(2).lower()
    return cleaned, count * _UNIT_SECONDS[unit]


def host_of(pattern: str) -> str | None:
    host = pattern.strip().lower()
    if host.startswith("*."):
        host = host[2:]
    return host if _HOST.fullmatch(host) else None


def cookie_domain(raw: str) -> str | None:
    # "facebook.com (3rd party)", ".bing.com (3rd party) or .microsoft.com (3rd party)"
    first = raw.split(" or ")[0].replace("(3rd party)", "").strip().strip(".").lower()
    return first or None


def is_generic(name: str, prefix: bool) -> bool:
    """Too common to attribute on sight (see GENERIC_COOKIE_NAMES in the overlay)."""
    if name.lower() in GENERIC_COOKIE_NAMES:
        return True
    if name in DISTINCTIVE_COOKIE_NAMES:
        return False
    if prefix:
        return len(name) < 4 or bool(re.fullmatch(r"[a-z]+-", name))
    # `_ga` is distinctive, `sp`, `did` and `login` are not
    short = len(name) <= 2 or (len(name) == 3 and not name.startswith("_"))
    return short or bool(re.fullmatch(r"[a-z]{1,7}", name))


class Builder:
    def __init__(self, entities: list[dict[str, object]], cookies: list[dict[str, str]]) -> None:
        self.entities = entities
        self.cookie_rows = cookies
        self.drafts: dict[str, Draft] = {}
        self.entity_service: dict[str, str] = {}  # normalised entity name -> service id
        self.platform_service: dict[str, str] = {}  # OCD platform -> service id
        self.skipped: Counter[str] = Counter()
        self.generic: list[str] = []
        self.cookie_only_by_key: dict[tuple[str, str], str] = {}  # (platform, category) -> id
        self.platform_categories: dict[str, set[str]] = defaultdict(set)
        for row in cookies:
            category = OCD_CATEGORY.get(row["Category"].strip())
            if category is not None:
                self.platform_categories[row["Platform"].strip()].add(category)

    # -- third-party-web --------------------------------------------------------------------------
    def add_entities(self) -> None:
        claimed = {}
        for service_id, overlay in SERVICES.items():
            for entity in [overlay.get("entity"), *overlay.get("also_entities", [])]:
                if entity:
                    claimed[entity] = service_id
        by_name = {str(e["name"]): e for e in self.entities}
        missing = sorted(set(claimed) - set(by_name))
        if missing:
            raise SystemExit(f"overlay names unknown third-party-web entities: {missing}")

        ranked = sorted(self.entities, key=lambda e: (-_int(e.get("totalOccurrences")), str(e["name"])))
        for entity in ranked:
            name = str(entity["name"])
            service_id = claimed.get(name)
            overlay = SERVICES.get(service_id, {}) if service_id else {}
            tpw_category = str(entity["category"])
            category = overlay.get("category") or TPW_CATEGORY.get(tpw_category)
            if category is None:
                self.skipped["third-party-web entities that are not trackers"] += 1
                continue
            if service_id is None:
                service_id = self._free_id(slug(name), category)
            draft = self.drafts.get(service_id)
            if draft is None:
                draft = Draft(
                    id=service_id,
                    name=overlay.get("name", name),
                    category=category,
                    provider=overlay.get("provider", str(entity.get("company") or "")),
                    purposes=list(overlay.get("purposes", [TPW_PURPOSE.get(tpw_category, tpw_category)])),
                )
                self.drafts[service_id] = draft
            draft.occurrences += _int(entity.get("totalOccurrences"))
            dropped = set(overlay.get("drop_hosts", []))
            domains = entity.get("domains")
            for pattern in domains if isinstance(domains, list) else []:
                if pattern in dropped:
                    self.skipped["host patterns dropped by the overlay as too broad"] += 1
                    continue
                host = host_of(str(pattern))
                if host is None:
                    self.skipped["host patterns that are not host names"] += 1
                    continue
                draft.hosts.append(host)
            self.entity_service[norm(name)] = service_id

    def _free_id(self, base: str, category: str) -> str:
        for candidate in (base, f"{base}-{category}"):
            if candidate not in self.drafts and candidate not in SERVICES:
                return candidate
        number = 2
        while f"{base}-{number}" in self.drafts or f"{base}-{number}" in SERVICES:
            number += 1
        return f"{base}-{number}"

    # -- the overlay ------------------------------------------------------------------------------
    def apply_overlay(self) -> None:
        for service_id, overlay in SERVICES.items():
            draft = self.drafts.get(service_id)
            if draft is None:
                if "category" not in overlay:
                    # an entity the overlay only prunes, left with nothing to track
                    continue
                draft = Draft(
                    id=service_id,
                    name=overlay.get("name", service_id),
                    category=overlay["category"],
                    provider=overlay.get("provider", ""),
                    purposes=list(overlay.get("purposes", [])),
                )
                self.drafts[service_id] = draft
            draft.description = overlay.get("description", draft.description)
            draft.privacy_url = overlay.get("privacy_url", draft.privacy_url)
            draft.hosts.extend(h for h in (host_of(p) for p in overlay.get("add_hosts", [])) if h)
            draft.signatures.extend(overlay.get("signatures", []))
            if "sale_share" in overlay:
                draft.sale_share = overlay["sale_share"]
            for platform in overlay.get("platforms", []):
                self.platform_service[platform] = service_id
        # entities pruned down to no host at all are dropped again
        for service_id in [k for k, d in self.drafts.items() if not d.hosts and not d.signatures]:
            if service_id in SERVICES and "category" in SERVICES[service_id]:
                continue
            del self.drafts[service_id]
            self.skipped["third-party-web entities left without hosts by the overlay"] += 1

    # -- Open Cookie Database ---------------------------------------------------------------------
    def add_cookies(self) -> None:
        for row in sorted(
            self.cookie_rows, key=lambda r: (r["Platform"], r["Cookie / Data Key name"], r["ID"])
        ):
            spec = self._cookie_spec(row)
            if spec is None:
                continue
            draft = self._owner(row)
            if draft is None:
                continue
            draft.add_cookie(spec)
            url = row.get("User Privacy & GDPR Rights Portals", "").strip()
            if url.startswith("https://") and " " not in url:
                draft.ocd_privacy_urls[url] += 1
            controller = row.get("Data Controller", "").strip()
            if controller:
                draft.ocd_controllers[controller] += 1
        for service_id, extras in sorted(EXTRA_COOKIES.items()):
            draft = self.drafts[service_id]
            for extra in extras:
                lifetime, seconds = parse_lifetime(extra.get("lifetime", ""))
                draft.add_cookie(
                    CookieSpec(
                        name=extra["name"],
                        is_regex=extra.get("is_regex", False),
                        lifetime=lifetime,
                        lifetime_seconds=seconds,
                        description=extra.get("description", ""),
                    )
                )

    def _cookie_spec(self, row: dict[str, str]) -> CookieSpec | None:
        raw_name = row["Cookie / Data Key name"].strip()
        wildcard = row.get("Wildcard match", "0").strip() == "1"
        if not raw_name:
            self.skipped["cookie rows without a name"] += 1
            return None
        placeholder = "NNN" in raw_name
        if not _COOKIE_TOKEN.fullmatch(raw_name.replace("NNN", "")) or raw_name.endswith("_*"):
            self.skipped["cookie names that are not cookie-name tokens (storage keys, placeholders)"] += 1
            return None
        if placeholder:
            name = re.escape(raw_name).replace("NNN", "[0-9]+") + (".*" if wildcard else "")
            is_regex = True
        elif wildcard:
            name, is_regex = re.escape(raw_name) + ".*", True
        else:
            name, is_regex = raw_name, False
        domain = cookie_domain(row.get("Domain", ""))
        first_party = domain is None or raw_name in FIRST_PARTY_COOKIES
        # Third-party cookies are never matched by name (see lookup.py), so only first-party
        # names need to be distinctive.
        if first_party and is_generic(raw_name, wildcard):
            self.skipped["first-party cookie names too generic to attribute"] += 1
            self.generic.append(f"{raw_name} ({row['Platform']})")
            return None
        lifetime, seconds = parse_lifetime(row.get("Retention period", ""))
        return CookieSpec(
            name=name,
            is_regex=is_regex,
            domain=None if first_party else domain,
            lifetime=lifetime,
            lifetime_seconds=seconds,
            description=" ".join(row.get("Description", "").split()),
            third_party=not first_party,
        )

    def _owner(self, row: dict[str, str]) -> Draft | None:
        name = row["Cookie / Data Key name"].strip()
        platform = row["Platform"].strip()
        service_id = COOKIE_SERVICE.get(name) or self.platform_service.get(platform)
        if service_id is None and platform not in PLATFORMS_NOT_ATTACHED:
            service_id = self.entity_service.get(norm(platform))
        if service_id is not None and service_id in self.drafts:
            return self.drafts[service_id]
        category = OCD_CATEGORY.get(row["Category"].strip())
        if category is None:
            self.skipped["cookie rows with an unknown category"] += 1
            return None
        return self._cookie_only(platform, category)

    def _cookie_only(self, platform: str, category: str) -> Draft:
        label = platform or "Web application frameworks"  # rows without a platform: XSRF-TOKEN
        single = len(self.platform_categories[platform]) == 1
        service_id = slug(label) if single else f"{slug(label)}-{category}"
        key = (platform, category)
        known = self.cookie_only_by_key.get(key)
        if known is not None:
            return self.drafts[known]
        overlay = SERVICES.get(service_id)
        if overlay is not None and "entity" not in overlay:
            # A service the overlay adds under this platform's own name: its cookies belong to it.
            raise SystemExit(
                f"catalog_overlay: service {service_id!r} takes the id of the Open Cookie Database "
                f'platform {platform!r}: add "platforms": [{platform!r}] to it, or pick another id'
            )
        if service_id in self.drafts or service_id in SERVICES:
            # the id is taken by a host-based service of another vendor
            service_id = self._free_id(service_id, category)
        draft = Draft(
            id=service_id,
            name=label if single else f"{label} ({category})",
            category=category,
            purposes=[OCD_PURPOSE[category]] if category in OCD_PURPOSE else [],
        )
        if category == "necessary":
            draft.justification = "Listed as functional or security by the Open Cookie Database."
        self.cookie_only_by_key[key] = service_id
        self.drafts[service_id] = draft
        return draft

    # -- output -----------------------------------------------------------------------------------
    def services(self) -> list[Service]:
        drafts = [d for d in self.drafts.values() if d.hosts or d.cookies or d.signatures]
        drafts.sort(key=lambda d: (-d.occurrences, CATEGORY_ORDER.index(d.category), d.id))
        return [d.freeze() for d in drafts]


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest_version(path: Path, pattern: str) -> str:
    if not path.exists():
        return "unknown version"
    match = re.search(pattern, path.read_text("utf-8"))
    return match.group(1) if match else "unknown version"


def build(
    datasets: Path,
) -> tuple[dict[str, object], list[dict[str, object]], list[Service], Counter[str]]:
    tpw_file = datasets / "third-party-web" / "entities.json"
    ocd_file = datasets / "open-cookie-database" / "open-cookie-database.csv"
    overlay_file = ROOT / "scripts" / "catalog_overlay.py"
    entities = json.loads(tpw_file.read_text("utf-8"))
    with ocd_file.open(newline="", encoding="utf-8") as handle:
        cookies = list(csv.DictReader(handle))

    builder = Builder(entities, cookies)
    builder.add_entities()
    builder.apply_overlay()
    builder.add_cookies()
    services = builder.services()

    tpw_version = _manifest_version(tpw_file.parent / "MANIFEST.md", r"third-party-web` (\S+)")
    ocd_version = _manifest_version(ocd_file.parent / "MANIFEST.md", r"commit ([0-9a-f]{12})")
    generated_from = (
        f"third-party-web {tpw_version} entities.json (MIT, sha256 {_sha256(tpw_file)[:12]}); "
        f"Open Cookie Database {ocd_version} (Apache-2.0, sha256 {_sha256(ocd_file)[:12]}); "
        f"overlay scripts/catalog_overlay.py (sha256 {_sha256(overlay_file)[:12]})"
    )
    encoded = [encode_service(s) for s in services]
    content = json.dumps(encoded, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    document: dict[str, object] = {
        "format": CATALOG_FORMAT,
        "version": hashlib.sha256(content.encode("utf-8")).hexdigest()[:12],
        "generated_from": generated_from,
        "notice": "Derived from third-party-web (Copyright (c) 2019 Patrick Hulce, MIT licence) and "
        "the Open Cookie Database (jkwakman/Open-Cookie-Database, Apache-2.0). See NOTICE.",
        "services": encoded,
    }
    return document, encoded, services, builder.skipped


def write_json(document: dict[str, object], encoded: list[dict[str, object]], path: Path) -> None:
    # One service per line: compact, yet a diff between two builds stays readable.
    head = {k: v for k, v in document.items() if k != "services"}
    services = encoded
    lines = [json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1] + ',"services":[']
    lines += [
        json.dumps(s, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        + ("," if i < len(services) - 1 else "")
        for i, s in enumerate(services)
    ]
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_doc(
    document: dict[str, object], services: list[Service], skipped: Counter[str], path: Path
) -> None:
    by_category: dict[str, list[Service]] = defaultdict(list)
    for service in services:
        by_category[service.category].append(service)
    cookie_count = sum(len(s.cookies) for s in services)
    first_party = sum(1 for s in services for c in s.cookies if not c.third_party)
    out = [
        "# The tracker catalog",
        "",
        "Generated by `scripts/build_catalog.py` — do not edit by hand; rerun the script.",
        "",
        f"- Catalog version `{document['version']}` (a hash of the content).",
        f"- Built from: {document['generated_from']}.",
        f"- {len(services)} services: "
        + ", ".join(f"{len(by_category[c])} {c}" for c in CATEGORY_ORDER)
        + f"; {sum(len(s.hosts) for s in services)} host keys, {cookie_count} cookie entries "
        f"({first_party} matched by name in the site's own cookies), "
        f"{sum(len(s.signatures) for s in services)} inline-script signatures.",
        "",
        "## How the sources map to categories",
        "",
        "| source | source category | consentgate category |",
        "| --- | --- | --- |",
        "| third-party-web | ad, social, marketing, video | marketing (`sale_share`: yes) |",
        "| third-party-web | analytics, tag-manager | analytics |",
        "| third-party-web | customer-success | preferences |",
        "| third-party-web | cdn, hosting, utility, content, consent-provider, other "
        "| not a tracker: left out |",
        "| Open Cookie Database | Marketing | marketing (`sale_share`: yes) |",
        "| Open Cookie Database | Analytics | analytics |",
        "| Open Cookie Database | Personalization | preferences |",
        "| Open Cookie Database | Functional, Security, Necessary | necessary |",
        "",
        "Decisions the data sets leave open:",
        "",
        "- A cookie whose Open Cookie Database platform is a third-party-web tracker belongs to that "
        "tracker's service and takes its category (Hotjar's `_hjSessionUser_*` is analytics even "
        "though the database files it as functional: it only exists because Hotjar runs).",
        "- Other platforms become cookie-only services, one per platform and category.",
        "- A cookie listed on the vendor's own domain is kept for disclosure but is never matched "
        "by name: it cannot appear in the site's own `Set-Cookie`, and such names (`sessionid`, "
        "`token`, `c`) would mislabel the site's cookies. The overlay marks the exceptions the "
        "vendor's script sets on the site's domain (`_fbp`, `_clck`, `__hstc`, …).",
        '- Open Cookie Database *Functional* means "needed for the site to work" (session, CSRF, '
        "load-balancer and consent cookies), so it maps to necessary; filing it under preferences "
        "would strip every PHP, Java and Laravel session cookie before consent.",
        "- New Relic, Microsoft Clarity, Cloudflare Web Analytics and Azure Application Insights "
        "are measurement (third-party-web files the first three as utility): analytics. Snap "
        "Pixel is advertising (filed as analytics): marketing.",
        "- `sale_share` (CCPA/CPRA sale or sharing for cross-context behavioural advertising) is "
        "set for every marketing service and for nothing else.",
        "",
        "How well this recognises trackers on real pages (120 captured pages, corpora/html) is "
        "measured by `tests/policy/test_catalog.py::test_catalog_recognises_the_trackers_of_real_pages`.",
        "",
        "What was left out:",
        "",
    ]
    out += [f"- {count} {what}" for what, count in sorted(skipped.items())]
    for category in CATEGORY_ORDER:
        entries = by_category[category]
        out += [
            "",
            f"## {category} ({len(entries)})",
            "",
            "| id | name | hosts | cookies | signatures |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for s in sorted(entries, key=lambda s: s.id):
            out.append(
                f"| `{s.id}` | {_cell(s.name)} | {len(s.hosts)} | {len(s.cookies)} | {len(s.signatures)} |"
            )
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--output", type=Path, default=OUTPUT_JSON)
    parser.add_argument("--doc", type=Path, default=OUTPUT_DOC)
    args = parser.parse_args(argv)
    document, encoded, services, skipped = build(args.datasets)
    write_json(document, encoded, args.output)
    write_doc(document, services, skipped, args.doc)
    size = args.output.stat().st_size
    print(f"{args.output}: {len(services)} services, {size / 1024:.0f} KiB, version {document['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
