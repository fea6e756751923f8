"""``consentgate scan FILE|-`` and ``consentgate rewrite FILE|-``: the HTML rewriter offline.

``scan`` prints, as JSON, every tracker-relevant element of a page (line, element, host,
category, service, rule, and what a visitor without consent gets). ``rewrite`` prints the page as
a visitor with the given consent receives it (no banner: the snippets come from the UI).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from consentgate.html.rewriter import HtmlRewriter, scan
from consentgate.html.rules import Rules
from consentgate.policy.load import PolicyError, load_dict, load_file
from consentgate.policy.model import NECESSARY, Policy

_CHUNK = 1 << 16


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    scan_parser = subparsers.add_parser(
        "scan",
        help="list the trackers an HTML page loads (JSON)",
        description="List every tracker-relevant element of an HTML page as JSON: line, element, "
        "host, category, service, the rule that matched, and the action without consent.",
    )
    _common(scan_parser)
    scan_parser.set_defaults(func=scan_command)

    rewrite_parser = subparsers.add_parser(
        "rewrite",
        help="print an HTML page as consentgate serves it for a given consent",
        description="Rewrite an HTML page the way the middleware does for a visitor who granted "
        "the given categories, and print it to standard output.",
    )
    _common(rewrite_parser)
    rewrite_parser.add_argument(
        "--grant",
        default="none",
        help='categories granted: "all", "none" (default) or a list such as analytics,marketing',
    )
    rewrite_parser.set_defaults(func=rewrite_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the HTML file, or - for standard input")
    parser.add_argument("--policy", help="a consentgate.toml (default: the built-in policy and catalog)")
    parser.add_argument("--host", help="the page's own host: absolute URLs to it are first party")


def _policy(args: argparse.Namespace) -> Policy | None:
    try:
        return load_file(args.policy) if args.policy else load_dict({})
    except (PolicyError, OSError) as exc:
        print(f"consentgate: {exc}", file=sys.stderr)
        return None


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def _cannot_open(command: str, path: str, exc: OSError) -> int:
    """Exit status 2 with the reason; a URL gets told how to read a live page."""
    if _URL.match(path) and not os.path.exists(path):
        print(
            f"consentgate: {command} reads a saved page (a file, or - for standard input), not a URL;"
            f" for a live page: curl -s {path} | consentgate {command} - --host {urlsplit(path).hostname or 'HOST'}",
            file=sys.stderr,
        )
    else:
        print(f"consentgate: {exc}", file=sys.stderr)
    return 2


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def scan_command(args: argparse.Namespace) -> int:
    policy = _policy(args)
    if policy is None:
        return 2
    try:
        data = _read(args.file)
    except OSError as exc:
        return _cannot_open("scan", args.file, exc)
    findings = scan(data, Rules.compile(policy), page_host=args.host)
    rows = [
        {
            "line": f.line,
            "element": f.tag,
            "host": f.host,
            "category": f.category,
            "service": f.service_id,
            "service_name": f.service_name,
            "rule": f.rule,
            "action": f.action,
        }
        for f in findings
    ]
    json.dump(rows, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def rewrite_command(args: argparse.Namespace) -> int:
    policy = _policy(args)
    if policy is None:
        return 2
    grant: str = args.grant.strip().lower()
    if grant == "all":
        granted = {c.id for c in policy.categories}
    elif grant in ("", "none"):
        granted = set()
    else:
        granted = {g.strip() for g in grant.split(",") if g.strip()}
        unknown = sorted(g for g in granted if not policy.has_category(g))
        if unknown:
            print(f"consentgate: --grant: unknown categories: {', '.join(unknown)}", file=sys.stderr)
            return 2
    granted.add(NECESSARY)

    def allows(service_id: str | None, category: str) -> bool:
        return category in granted

    rewriter = HtmlRewriter(Rules.compile(policy), allows, page_host=args.host)
    out = sys.stdout.buffer
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        return _cannot_open("rewrite", args.file, exc)
    with source:
        while chunk := source.read(_CHUNK):
            out.write(rewriter.feed(chunk))
    out.write(rewriter.close())
    out.flush()
    return 0


__all__ = ["register", "rewrite_command", "scan_command"]
