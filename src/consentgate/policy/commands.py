"""``consentgate check-policy FILE``: every mistake with its line, or a short summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from consentgate.policy.durations import format_duration
from consentgate.policy.load import PolicyError, load_file
from consentgate.policy.model import Policy
from consentgate.policy.toml_lines import KeyPath, key_lines, line_of


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "check-policy",
        help="validate a consentgate.toml and list every problem with its line",
        description="Validate a consentgate.toml. Exit status 0 when it is usable, 1 otherwise.",
    )
    parser.add_argument("file", help="path to the policy (TOML)")
    parser.set_defaults(func=check_policy)

    catalog = subparsers.add_parser(
        "catalog",
        help="look up the built-in tracker catalog: the service of a host, or services by name",
        description="Look up the built-in catalog (the ids `services.<id>.catalog` takes). "
        "QUERY is a host (www.googletagmanager.com), a URL, or words of an id or name; "
        "without QUERY, every service. Exit status 1 when nothing matches.",
    )
    catalog.add_argument("query", nargs="?", default="", help="host, URL, or part of an id or name")
    catalog.add_argument("--json", action="store_true", help="one JSON object per service, one per line")
    catalog.set_defaults(func=catalog_command)


def check_policy(args: argparse.Namespace) -> int:
    path: str = args.file
    try:
        policy = load_file(path)
    except PolicyError as exc:
        for problem in exc.problems:
            where = f"{path}:{problem.line}" if problem.line is not None else path
            key = f" {problem.key}:" if problem.key else ""
            print(f"{where}:{key} {problem.message}", file=sys.stderr)
        count = len(exc.problems)
        print(
            f"{path}: {count} problem{'s' if count != 1 else ''}; the policy was not loaded", file=sys.stderr
        )
        return 1
    refused = ui_problem(policy)
    if refused is not None:
        # What the middleware refuses at start-up beyond the loader's checks: the theme's
        # contrast and values, notice texts and languages the banner cannot be rendered in.
        key, message = refused
        lines = key_lines(Path(path).read_text(encoding="utf-8-sig"))
        # The key itself, else the nearest table it is in, else (texts for a language the
        # file never spells out) the language list.
        found = _key_path(key)
        candidates = [found[:n] for n in range(len(found), 0, -1)] + [("languages",)]
        line = next((n for c in candidates if (n := line_of(lines, c)) is not None), None)
        where = f"{path}:{line}" if line is not None else path
        print(f"{where}: {key}: {message}", file=sys.stderr)
        print(f"{path}: 1 problem; the middleware would refuse to start", file=sys.stderr)
        return 1
    for warning in policy_warnings(policy):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(summary(path, policy))
    return 0


def ui_problem(policy: Policy) -> tuple[str, str] | None:
    """The first setting the banner cannot be rendered with, as (dotted key, message): the UI
    is built as the middleware builds it at start-up."""
    from consentgate.ui.locales import LocaleError
    from consentgate.ui.render import UI, UIConfigError
    from consentgate.ui.theme import ThemeError

    try:
        UI(policy, cache_size=0)
    except (ThemeError, LocaleError, UIConfigError) as exc:
        return exc.key, str(exc).removeprefix(f"{exc.key}: ")
    return None


def _key_path(dotted: str) -> KeyPath:
    """``notice.en.banner_title`` or ``languages[1]`` as the path ``line_of`` looks up."""
    path: list[str | int] = []
    for part in dotted.split("."):
        name, _, index = part.partition("[")
        if name:
            path.append(name)
        if index.rstrip("]").isdigit():
            path.append(int(index.rstrip("]")))
    return tuple(path)


def summary(path: str, policy: Policy) -> str:
    declared = [s for s in policy.services if s.origin == "policy"]
    from_catalog = len(policy.services) - len(declared)
    categories = ", ".join(f"{c.id} ({len(policy.services_in(c.id))})" for c in policy.categories)
    return (
        f"{path}: OK (version {policy.version}, fingerprint {policy.fingerprint()})\n"
        f"  categories: {categories}\n"
        f"  services: {len(declared)} declared, {from_catalog} from the catalog\n"
        f"  regions: {len(policy.regions)} rules; anywhere else {policy.default_region_mode}\n"
        f"  choices kept {format_duration(policy.choice_lifetime_seconds)}; "
        f"audit kept {format_duration(policy.audit_retention_seconds)}"
    )


def policy_warnings(policy: Policy) -> list[str]:
    """Legal settings that a data protection officer should look at twice."""
    warnings: list[str] = []
    if policy.cookie_wall:
        warnings.append(
            "cookie_wall = true: most EU regulators hold that a cookie wall makes consent not free"
        )
    if policy.consent_mode.url_passthrough:
        warnings.append(
            "consent_mode.url_passthrough = true carries ad-click identifiers in URLs before consent"
        )
    if policy.consent_mode.mode == "advanced":
        warnings.append(
            'consent_mode.mode = "advanced" lets Google tags load and send cookieless pings before consent'
        )
    if policy.unknown_third_party == "allow":
        warnings.append('unknown_third_party = "allow" lets unlisted third parties run before consent')
    if not policy.gpc:
        warnings.append("gpc = false: US opt-out laws (e.g. California, Colorado) make GPC binding")
    if policy.cnil_exempt_services:
        warnings.append(
            f"cnil_exempt_audience ({', '.join(sorted(policy.cnil_exempt_services))}) runs before "
            "consent in France on the policy's word: keep the tool's self-assessment against the "
            "CNIL conditions on file, and cap the cookies its JavaScript writes in the tool itself "
            "(consentgate caps only Set-Cookie headers)"
        )
    warnings.extend(_first_party_shadows(policy))
    return warnings


def _first_party_shadows(policy: Policy) -> list[str]:
    """Services the policy asks consent for whose hosts ``first_party_hosts`` covers: the
    rewriter treats those hosts as the site's own and never blocks them by host."""
    own = policy.first_party_hosts
    if not own:
        return []
    required, exempt = policy.required_categories, policy.cnil_exempt_services
    found: list[str] = []
    for service in policy.services:
        if service.category in required or service.id in exempt:
            continue
        for host in service.hosts:
            covering = next((f for f in own if host == f or host.endswith("." + f)), None)
            if covering is not None:
                found.append(
                    f"services.{service.id}: host {host!r} is under first_party_hosts ({covering!r}), "
                    f"so the rewriter never blocks it: this {service.category} service runs before "
                    "consent wherever only its host identifies it (list your own hosts narrowly)"
                )
                break
    return found


def catalog_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from consentgate.policy.catalog import catalog_info, catalog_lookup, encode_service, load_catalog

    out = out if out is not None else sys.stdout
    query = str(args.query).strip()
    try:
        host = urlsplit(query if "//" in query else f"//{query}").hostname or "" if query else ""
    except ValueError:  # not a URL ("[", a bracketed non-address): words only
        host = ""
    found = []
    by_host = catalog_lookup().service_for_host(host) if host and "." in host else None
    if by_host is not None:
        found.append(by_host)
    words = query.lower().split()
    for service in load_catalog():
        text = f"{service.id} {service.name} {service.provider}".lower()
        if service is not by_host and all(word in text for word in words):
            found.append(service)
    if not found:
        print(f"consentgate catalog: nothing matches {query!r}", file=sys.stderr)
        return 1
    if args.json:
        for service in found:
            print(json.dumps(encode_service(service), separators=(",", ":")), file=out)
        return 0
    if by_host is not None:
        print(f"{host} belongs to {by_host.id} ({by_host.category}): {by_host.name}", file=out)
    for service in found[1 if by_host is not None else 0 :]:
        hosts = ", ".join(service.hosts[:3]) + (", …" if len(service.hosts) > 3 else "")
        print(
            f"{service.id:32s} {service.category:12s} {service.name}" + (f"  [{hosts}]" if hosts else ""),
            file=out,
        )
    info = catalog_info()
    print(f"({len(found)} of {info.service_count} services; catalog {info.version})", file=sys.stderr)
    return 0
