"""Shared test material for tests/html: a small policy, rewriting helpers, and a browser-faithful
(html5lib, scripting on) list of what a page still loads or runs."""

from __future__ import annotations

from collections.abc import Iterable

import html5lib

from consentgate.html.rewriter import HtmlRewriter
from consentgate.html.rules import Finding, Rules
from consentgate.policy.model import STANDARD_CATEGORIES, Category, Policy, Service, UnknownMode

HEAD = b'<script src="/_consentgate/static/runtime.js"></script>'
BODY = b'<div id="cg-banner">banner</div>'


def category(category_id: str) -> Category:
    return Category(category_id, {"en": category_id.title()}, {"en": ""}, required=category_id == "necessary")


def service(
    service_id: str, category_id: str, hosts: Iterable[str] = (), signatures: Iterable[str] = ()
) -> Service:
    return Service(
        service_id, service_id.upper(), category_id, hosts=tuple(hosts), signatures=tuple(signatures)
    )


SERVICES = (
    service(
        "ga",
        "analytics",
        ["google-analytics.com", "googletagmanager.com"],
        ["gtag(", "GoogleAnalyticsObject"],
    ),
    service("meta", "marketing", ["connect.facebook.net", "facebook.com"], ["fbq("]),
    service("youtube", "marketing", ["youtube.com", "youtube-nocookie.com"]),
    service("hotjar", "analytics", ["hotjar.com"], ["_hjSettings"]),
    service("maps", "preferences", ["maps.example.org"]),
    service("cdn", "necessary", ["cdn.example.net"]),
)


def make_policy(unknown: UnknownMode = "report", first_party: tuple[str, ...] = ()) -> Policy:
    return Policy(
        categories=tuple(category(c) for c in STANDARD_CATEGORIES),
        services=SERVICES,
        unknown_third_party=unknown,
        first_party_hosts=first_party,
    )


RULES = Rules.compile(make_policy())


def deny_all(service_id: str | None, category_id: str) -> bool:
    return category_id == "necessary"


def allow_all(service_id: str | None, category_id: str) -> bool:
    return True


def granting(*categories: str) -> object:
    granted = {"necessary", *categories}

    def allows(service_id: str | None, category_id: str) -> bool:
        return category_id in granted

    return allows


def run(
    data: bytes,
    allows: object = deny_all,
    *,
    rules: Rules = RULES,
    chunks: Iterable[int] | None = None,
    head: bytes = b"",
    body: bytes = b"",
    findings: list[Finding] | None = None,
    placeholder: bytes | None = None,
    max_buffer: int = 65536,
    charset: str | None = None,
) -> bytes:
    """Rewrite ``data``, fed in pieces of the given sizes (cycled), or whole."""
    rewriter = HtmlRewriter(
        rules,
        allows,  # type: ignore[arg-type]
        head_snippet=head,
        body_snippet=body,
        on_finding=findings.append if findings is not None else None,
        placeholder=(lambda finding: placeholder) if placeholder is not None else None,
        max_buffer=max_buffer,
        charset=charset,
    )
    out = []
    if chunks is None:
        out.append(rewriter.feed(data))
    else:
        sizes = list(chunks) or [len(data) or 1]
        i = k = 0
        while i < len(data):
            size = max(1, sizes[k % len(sizes)])
            out.append(rewriter.feed(data[i : i + size]))
            i += size
            k += 1
    out.append(rewriter.close())
    return b"".join(out)


_JS_TYPES = {
    "",
    "module",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
    "text/x-javascript",
}


def live(page: bytes, *, noscript: bool = False) -> list[str]:
    """What a browser with JavaScript on loads or runs: script URLs and inline texts, frame,
    image, embed, object and media URLs, preload-like link hrefs, pings. With ``noscript``,
    also what the <noscript> contents load for a browser without JavaScript."""
    found: list[str] = []
    walk(html5lib.parse(page, namespaceHTMLElements=False, scripting=True), found, noscript)
    return found


def live_scripts(page: bytes) -> list[str]:
    """The scripts a JavaScript browser runs: their src, or their text, in document order."""
    found: list[str] = []
    tree = html5lib.parse(page, namespaceHTMLElements=False, scripting=True)
    for el in tree.iter():
        if el.tag == "script" and (el.get("type") or "").strip().lower() in _JS_TYPES:
            found.append(el.get("src") if el.get("src") is not None else "".join(el.itertext()))
    return found


def walk(root: object, found: list[str], noscript: bool) -> None:
    for el in root.iter():  # type: ignore[attr-defined]
        tag = el.tag if isinstance(el.tag, str) else ""
        get = el.get
        if tag == "script":
            kind = (get("type") or "").strip().lower()
            if kind in _JS_TYPES:
                found.append(get("src") if get("src") is not None else "".join(el.itertext()))
        elif tag in ("iframe", "frame", "embed", "img", "source", "video", "audio"):
            for attr in ("src", "srcset"):
                if get(attr):
                    found.append(get(attr))
        elif tag == "object" and get("data"):
            found.append(get("data"))
        elif (
            tag == "link"
            and get("href")
            and set((get("rel") or "").lower().split())
            & {"preload", "prefetch", "preconnect", "dns-prefetch", "stylesheet", "modulepreload"}
        ):
            found.append(get("href"))
        elif tag == "a" and get("ping"):
            found.append(get("ping"))
        elif tag == "noscript" and noscript:
            text = "".join(el.itertext())
            fragment = html5lib.parseFragment(text, namespaceHTMLElements=False, scripting=False)
            walk(fragment, found, noscript)
