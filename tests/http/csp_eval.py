"""A tiny CSP Level 3 evaluator for tests: does a set of policies allow one load?

Enough of the spec for the merging proof: directive fallback (6.8.3), source-list matching of
URLs (6.7.2.5-6.7.2.8: '*', scheme-, host- (wildcard host and port, path) and 'self' sources),
nonces, 'unsafe-inline' switched off by a nonce, hash or 'strict-dynamic' (6.7.3.3),
'strict-dynamic' for scripts inserted by script, 'unsafe-eval', and several policies: a load
happens only when every *enforced* policy allows it (8.1); report-only policies never block.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

FALLBACK = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "img-src": ("img-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "font-src": ("font-src", "default-src"),
    "media-src": ("media-src", "default-src"),
}
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class Load:
    """One thing a page does. ``url`` None: inline code (``kind`` "inline" or "eval")."""

    name: str
    directive: str  # script-src-elem, script-src-attr, img-src, connect-src, frame-src, worker-src, ...
    url: str | None = None
    kind: str = "url"  # "url" | "inline" | "eval"
    nonce: str | None = None
    parser_inserted: bool = True


def parse(text: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for token in text.split(";"):
        parts = token.split()
        if parts and parts[0].lower() not in policy:
            policy[parts[0].lower()] = parts[1:]
    return policy


def policies_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[dict[str, list[str]]]:
    """The enforced policies in a response's headers (a comma separates policies in one line)."""
    found = []
    for key, value in headers:
        if key.lower() == b"content-security-policy":
            found += [parse(part) for part in value.decode("latin-1").split(",") if part.strip()]
    return found


def _effective(policy: dict[str, list[str]], directive: str) -> list[str] | None:
    for name in FALLBACK.get(directive, (directive, "default-src")):
        if name in policy:
            return policy[name]
    return None


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else DEFAULT_PORTS.get(scheme)


def _scheme_ok(source_scheme: str, url_scheme: str) -> bool:
    # 6.7.2.8: http matches http and https, ws matches ws/wss/http/https, and so on (upgrades).
    upgrades = {"http": {"http", "https"}, "ws": {"ws", "wss", "http", "https"}, "wss": {"wss", "https"}}
    return url_scheme in upgrades.get(source_scheme, {source_scheme})


def _host_source_matches(source: str, url: str, page: str) -> bool:
    page_scheme = urlsplit(page).scheme
    scheme = ""
    rest = source
    if "://" in source:
        scheme, _, rest = source.partition("://")
    host_port, slash, path = rest.partition("/")
    host, _, port_text = host_port.partition(":")
    parts = urlsplit(url)
    url_host = (parts.hostname or "").lower()
    url_port = _port(parts.scheme, parts.port)
    if scheme:
        if not _scheme_ok(scheme.lower(), parts.scheme):
            return False
    elif not _scheme_ok(page_scheme, parts.scheme):
        return False
    host = host.lower()
    if host.startswith("*."):
        if not url_host.endswith(host[1:]):
            return False
    elif host != "*" and host != url_host:
        return False
    if port_text == "*":
        pass
    elif port_text:
        if int(port_text) != url_port:
            return False
    else:
        default = DEFAULT_PORTS.get(scheme.lower() or parts.scheme)
        # A port-less source matches the default port, and 80 upgrading to 443 (6.7.2.9).
        if url_port != default and not (default == 80 and url_port == 443):
            return False
    if slash and path:
        wanted = "/" + path
        return parts.path.startswith(wanted) if wanted.endswith("/") else parts.path == wanted
    return True


def url_matches(sources: Sequence[str], url: str, page: str) -> bool:
    parts = urlsplit(url)
    page_parts = urlsplit(page)
    for raw in sources:
        source = raw.strip()
        lowered = source.lower()
        if lowered == "'none'":
            continue
        if lowered == "*":
            # '*' matches network schemes and the page's own scheme, never data:/blob:.
            if parts.scheme in ("http", "https", "ws", "wss") or parts.scheme == page_parts.scheme:
                return True
            continue
        if lowered == "'self'":
            same = (
                parts.hostname == page_parts.hostname
                and _scheme_ok(page_parts.scheme, parts.scheme)
                and (
                    _port(parts.scheme, parts.port) == _port(page_parts.scheme, page_parts.port)
                    or (page_parts.scheme == "http" and parts.scheme == "https" and parts.port is None)
                )
            )
            if same:
                return True
            continue
        if lowered.startswith("'"):
            continue  # keywords, nonces, hashes: not URL matches
        if lowered.endswith(":") and "/" not in lowered:
            if _scheme_ok(lowered[:-1], parts.scheme):
                return True
            continue
        if _host_source_matches(source, url, page):
            return True
    return False


def _keyword(sources: Sequence[str], keyword: str) -> bool:
    return keyword in (s.lower() for s in sources)


def _nonce_ok(sources: Sequence[str], nonce: str | None) -> bool:
    return nonce is not None and f"'nonce-{nonce}'" in sources


def allowed_by(policy: dict[str, list[str]], load: Load, page: str) -> bool:
    sources = _effective(policy, load.directive)
    if sources is None:
        return True
    script = load.directive.startswith("script-src") or load.directive == "worker-src"
    if load.kind == "eval":
        return _keyword(sources, "'unsafe-eval'")
    has_nonce_or_hash = any(
        s.lower().startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) for s in sources
    )
    strict_dynamic = script and _keyword(sources, "'strict-dynamic'")
    if load.kind == "inline":
        if load.directive != "script-src-attr" and _nonce_ok(sources, load.nonce):
            return True
        return _keyword(sources, "'unsafe-inline'") and not has_nonce_or_hash and not strict_dynamic
    assert load.url is not None
    if script and load.directive == "script-src-elem":
        if _nonce_ok(sources, load.nonce):
            return True
        if strict_dynamic:
            return not load.parser_inserted
    return url_matches(sources, load.url, page)


def allowed(policies: Sequence[dict[str, list[str]]], load: Load, page: str) -> bool:
    """Every enforced policy must allow the load."""
    return all(allowed_by(policy, load, page) for policy in policies)
