"""Which element belongs to which category: site markup, then the host, then inline signatures.

Order of the rules (the first that speaks decides):

1. Explicit markup the site wrote for a consent tool: ``data-category`` (also CookieConsent v3,
   with ``data-service``), Klaro ``data-name`` + ``data-type``/``type="text/plain"``, Cookiebot
   ``data-cookieconsent``, OneTrust ``class="optanon-category-C000n"``.
2. The host of ``src``/``href``/``data`` against the policy and the catalog
   (``Policy.lookup.service_for_host``; subdomains match). Relative URLs, same-host URLs and the
   policy's first-party hosts are the site's own and never findings. The URL of active content
   on a host nobody declares is then read for signatures (a self-hosted ``matomo.js``, Google
   Maps' ``google.com/maps/embed``).
3. Inline-script signatures (``Policy.lookup.service_for_inline``); without one, a small inline
   script that names a known service's ``.js`` file is that service's (loader snippets).

A third-party script (or frame, embed, object, ping) on a host nobody knows follows
``policy.unknown_third_party``; unknown hosts of images, stylesheets and media do not, or every
CDN would count as a tracker.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Final, Literal

from consentgate.html.carrier import is_data_carrier
from consentgate.html.signatures import SignatureScanner
from consentgate.policy.lookup import normalise_host
from consentgate.policy.model import NECESSARY, Policy, Service, UnknownMode

__all__ = ["UNKNOWN_CATEGORY", "Action", "Finding", "Rule", "Rules", "Verdict", "host_of", "unknown_grant"]

Rule = Literal["markup", "host", "signature", "unknown"]
Action = Literal["blocked", "allowed", "reported"]

# Category of a third party nobody declared. With ``unknown_third_party = "block"`` it loads once
# the policy's most sensitive optional category is granted (``unknown_grant``).
UNKNOWN_CATEGORY = "unknown"

# Category names consent tools use, to the standard categories.
_SYNONYMS: Mapping[str, str] = {
    "necessary": "necessary",
    "essential": "necessary",
    "strictly-necessary": "necessary",
    "strictly_necessary": "necessary",
    "required": "necessary",
    "preferences": "preferences",
    "preference": "preferences",
    "functional": "preferences",
    "functionality": "preferences",
    "analytics": "analytics",
    "statistics": "analytics",
    "statistic": "analytics",
    "performance": "analytics",
    "measurement": "analytics",
    "marketing": "marketing",
    "advertising": "marketing",
    "ads": "marketing",
    "targeting": "marketing",
    "social": "marketing",
    "social-media": "marketing",
}
# OneTrust's default groups.
_ONETRUST: Mapping[str, str] = {
    "c0001": "necessary",
    "c0002": "analytics",
    "c0003": "preferences",
    "c0004": "marketing",
    "c0005": "marketing",
}
_ONETRUST_CLASS = re.compile(r"optanon-category((?:-[A-Za-z0-9]+)+)")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_URL_NOISE = re.compile(r"[\t\n\r]")  # the URL parser drops these anywhere
_ASCII_WS = " \t\n\f\r"
_SIMPLE_URL = re.compile(
    rb"[ \t\n\f\r]*+(?:[hH][tT][tT][pP][sS]?:)?//([a-zA-Z0-9.-]*+)(?=[/?#]|[ \t\n\f\r]*+$)"
)
_AUTHORITY_END = re.compile(r"[/\\?#]")
_HOST_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Finding:
    """One tracker-relevant element the rewriter met, and what it did with it."""

    tag: str
    category: str
    service_id: str | None
    service_name: str
    host: str
    rule: Rule
    line: int
    action: Action


@dataclass(frozen=True)
class Verdict:
    category: str
    service: Service | None
    host: str
    rule: Rule


def host_of(url: bytes, base_host: str | None) -> str | None:
    """Lower-case host of an ``http(s)`` or protocol-relative URL; ``base_host`` for relative
    ones; None for other schemes (``data:``, ``javascript:``, ``about:``) and empty URLs."""
    simple = _SIMPLE_URL.match(url)
    if simple is not None:  # the common shape, without character references or odd bytes
        return simple.group(1).decode("ascii").lower().rstrip(".") or None
    text = html.unescape(url.decode("latin-1")) if url.find(b"&") >= 0 else url.decode("latin-1")
    text = _URL_NOISE.sub("", text.strip(_ASCII_WS))
    if not text:
        return None
    scheme = _SCHEME.match(text)
    if scheme is not None:
        if scheme.group(1).lower() not in ("http", "https"):
            return None
        rest = text[scheme.end() :]
    elif text[:2] in ("//", "\\\\", "/\\", "\\/"):
        rest = text
    else:
        return base_host
    authority = _AUTHORITY_END.split(rest.lstrip("/\\"), maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0][1:].lower() or None
    return host.partition(":")[0].rstrip(".").lower() or None


class Rules:
    """The compiled classification rules of one policy.

    >>> from consentgate.policy.model import Category, Service
    >>> analytics = Category("analytics", {"en": "Analytics"}, {"en": ""})
    >>> ga = Service("ga", "Google Analytics", "analytics", hosts=("google-analytics.com",))
    >>> rules = Rules.compile(Policy(categories=(analytics,), services=(ga,)))
    >>> rules.classify_url(b"https://www.google-analytics.com/analytics.js", None, None).category
    'analytics'

    ``inline_cache``: how many inline-script verdicts to remember by content (0: none, and no
    memory of tag verdicts either: every tag is looked at afresh). The corpus's 80 sites
    together have ≈ 1,800 distinct inline scripts.
    """

    def __init__(self, policy: Policy, *, inline_cache: int = 4096) -> None:
        self.policy = policy
        self.lookup = policy.lookup
        self.unknown_third_party: UnknownMode = policy.unknown_third_party
        self.unknown_grant = unknown_grant(policy)
        self._categories = frozenset(c.id for c in policy.categories)
        self._services_by_name = {s.name.lower(): s for s in policy.services}
        self._host_verdicts: dict[str, Verdict | None] = {}
        self._url_hosts: dict[tuple[bytes, str | None], str | None] = {}
        self._tracker_hosts: dict[bytes, str | None] = {}
        signatures = {sig.encode("utf-8") for s in policy.services for sig in s.signatures if sig}
        self._signatures = SignatureScanner(sorted(signatures)) if signatures else None
        self._signature_rank = {
            sig: _SEVERITY.get(self.lookup.service_for_signature(sig).category, 2) for sig in signatures
        }
        # Sites serve the same inline scripts on every page: their verdicts, by content.
        self._inline_cache_size = inline_cache
        self._inline_verdicts: dict[tuple[int, int, bool, str | None], Verdict | None] = {}
        # The rewriter's decisions by tag bytes (consentgate.html.rewriter); with inline_cache=0
        # each rewriter keeps its own for one page.
        self.memo: dict[object, object] | None = {} if inline_cache else None

    @classmethod
    def compile(cls, policy: Policy) -> Rules:
        return cls(policy)

    @property
    def has_signatures(self) -> bool:
        return self._signatures is not None

    # -- rule 1: site markup -----------------------------------------------------------------
    def category_name(self, raw: str) -> str | None:
        key = raw.strip(_ASCII_WS).lower()
        if not key:
            return None
        if key in self._categories:
            return key
        return _SYNONYMS.get(key)

    def _service(self, key: str) -> Service | None:
        key = key.strip(_ASCII_WS)
        if self.policy.has_service(key):
            return self.policy.service(key)
        return self._services_by_name.get(key.lower())

    def classify_markup(self, attrs: Mapping[bytes, bytes], *, gated_script: bool = False) -> Verdict | None:
        """The category the site's own consent markup gives the element, if any.

        ``gated_script``: a ``<script type="text/plain">``, which only a consent tool writes; an
        unrecognised category or service there is still consent markup (and unknown). On other
        elements an unrecognised ``data-category`` is just data (``<a data-category="news">``).
        """
        service = None
        if b"data-service" in attrs:
            service = self._service(_text(attrs[b"data-service"]))
        category = None
        if b"data-category" in attrs:
            category = self.category_name(_text(attrs[b"data-category"]))
            if category is None and service is None and gated_script:
                return Verdict(UNKNOWN_CATEGORY, None, "", "markup")
        if category is None and b"data-cookieconsent" in attrs:
            category = _most_sensitive(
                self.category_name(v) for v in _text(attrs[b"data-cookieconsent"]).split(",")
            )
            if category is None and _text(attrs[b"data-cookieconsent"]).strip().lower() == "ignore":
                return None
        if category is None and b"optanon-category" in attrs.get(b"class", b""):
            m = _ONETRUST_CLASS.search(_text(attrs[b"class"]))
            if m is not None:
                category = _most_sensitive(_ONETRUST.get(g.lower()) for g in m.group(1).split("-")[1:])
        if (
            category is None
            and service is None
            and b"data-name" in attrs
            and (b"data-type" in attrs or _text(attrs.get(b"type", b"")).strip().lower() == "text/plain")
        ):
            service = self._service(_text(attrs[b"data-name"]))  # Klaro
            if service is None and gated_script:
                return Verdict(UNKNOWN_CATEGORY, None, "", "markup")
        if service is not None:
            return Verdict(category or service.category, service, "", "markup")
        if category is not None:
            return Verdict(category, None, "", "markup")
        return None

    # -- rule 2: hosts -----------------------------------------------------------------------
    def classify_url(
        self, url: bytes, base_host: str | None, page_host: str | None, *, unknown_counts: bool = True
    ) -> Verdict | None:
        """Verdict for a URL, or None when it is first party (or not a network URL)."""
        key = (url, base_host)
        host = self._url_hosts.get(key, _NO_HOST)
        if host is _NO_HOST:
            host = host_of(url, base_host)
            if len(self._url_hosts) >= _HOST_CACHE_SIZE:
                self._url_hosts.clear()
            self._url_hosts[key] = host
        if host is None or host == page_host:
            return None
        verdict = self._host_verdicts.get(host, _MISSING)
        if verdict is _MISSING:
            verdict = self._host_verdict(host)
            if len(self._host_verdicts) >= _HOST_CACHE_SIZE:
                self._host_verdicts.clear()  # bounded: hosts come from pages, not from us
            self._host_verdicts[host] = verdict
        if verdict is None:
            return None
        if verdict.rule == "unknown":
            if not unknown_counts:
                return None
            return self._url_signature(url, host) or verdict
        return verdict

    def _url_signature(self, url: bytes, host: str) -> Verdict | None:
        """A URL on a host no service declares that holds a catalog signature is that
        service's: a self-hosted tracker (``https://stats.example.org/matomo.js``), or an embed
        on a host shared with other products (``https://www.google.com/maps/embed?...``)."""
        scanner = self._signatures
        if scanner is None:
            return None
        found = scanner.first(url, self._signature_rank, _SEVERITY["marketing"])
        if found is None:
            return None
        service = self.lookup.service_for_signature(found)
        return Verdict(service.category, service, host, "signature")

    def tracker_host(self, raw: bytes) -> str | None:
        """The host of ``//raw`` when it belongs to a service the policy or the catalog knows
        (and is not first party): what makes an image, a stylesheet or a media element a
        tracker. Same answer as ``classify_url(b"//" + raw, None, None, unknown_counts=False)``."""
        found = self._tracker_hosts.get(raw, _NO_HOST)
        if found is _NO_HOST:
            verdict = self.classify_url(b"//" + raw, None, None, unknown_counts=False)
            found = verdict.host if verdict is not None else None
            if len(self._tracker_hosts) >= _HOST_CACHE_SIZE:
                self._tracker_hosts.clear()
            self._tracker_hosts[raw] = found
        return found

    @cached_property
    def known_host_pattern(self) -> bytes:
        """Regex source that matches ``//host`` (up to the byte after the host) in lower-cased
        bytes wherever :meth:`tracker_host` may know the host: its name, or a parent domain of
        it, is declared by a service (trailing dots allowed). A superset: first party and
        over-long hosts are the exact check's business. It starts with ``//``."""
        return _host_trie_pattern(tuple(sorted(self.known_host_domains)))

    @cached_property
    def known_host_domains(self) -> frozenset[bytes]:
        """The hosts :attr:`known_host_pattern` matches (and their subdomains), as bytes.

        One object per distinct set in the process: the tokenizer's scanners are cached by it,
        and comparing two equal sets of the catalog's 2,000 hosts costs 30 µs a page, where
        the same object compares at once (two middlewares, or a reloaded policy)."""
        domains = frozenset(
            normalise_host(h).encode("utf-8") for s in self.policy.services for h in s.hosts
        ) - {b""}
        if len(_DOMAIN_SETS) >= 64:
            _DOMAIN_SETS.clear()  # bounded: a policy reloaded with new hosts again and again
        return _DOMAIN_SETS.setdefault(domains, domains)

    def _host_verdict(self, host: str) -> Verdict | None:
        if self.lookup.is_first_party(host):
            return None
        service = self.lookup.service_for_host(host)
        if service is not None:
            return Verdict(service.category, service, host, "host")
        return Verdict(UNKNOWN_CATEGORY, None, host, "unknown")

    # -- rule 3: inline signatures -----------------------------------------------------------
    def classify_inline(
        self, script: bytes, *, whole: bool = True, page_host: str | None = None
    ) -> Verdict | None:
        """The most sensitive service whose signature the script contains (the earliest, then
        the longest signature among equally sensitive ones); without one, for a whole script
        (not a piece of a long one), the service whose code or pixel it loads from a host other
        than ``page_host`` (``_loaded_script``).

        Every occurrence counts, overlapping ones too (see consentgate.html.signatures).
        """
        scanner = self._signatures
        if scanner is None:
            verdict = self._loaded_script(script, page_host) if whole else None
            if verdict is not None and is_data_carrier(script):
                verdict = self.data_verdict(script, page_host)
            return verdict
        key = (len(script), hash(script), whole, page_host)
        verdict = self._inline_verdicts.get(key, _MISSING)
        if verdict is not _MISSING:
            return verdict
        found = scanner.first(script, self._signature_rank, _SEVERITY["marketing"])
        if found is None:
            verdict = self._loaded_script(script, page_host) if whole else None
        else:
            service = self.lookup.service_for_signature(found)
            verdict = Verdict(service.category, service, "", "signature")
        if verdict is not None and whole and is_data_carrier(script):
            verdict = self.data_verdict(script, page_host)  # a framework's data: see there
        if self._inline_cache_size:
            if len(self._inline_verdicts) >= self._inline_cache_size:
                self._inline_verdicts.clear()  # bounded; a site has few distinct scripts
            self._inline_verdicts[key] = verdict
        return verdict

    def data_verdict(self, data: bytes, page_host: str | None = None) -> Verdict | None:
        """What a framework's data (consentgate.html.carrier) holds that it may run: the service
        of a signature or catalogued host named anywhere but in a frame's, an image's or a
        link's markup. The framework hydrates those from the page the server sent, where they
        are blocked; a script's code or URL (``next/script`` props, React Helmet's head tags)
        it inserts and runs itself, so such data waits for consent like the script it holds."""
        hits: list[tuple[int, Verdict]] = []
        scanner = self._signatures
        if scanner is not None:
            for at, signature in scanner.occurrences(data):
                named = self.lookup.service_for_signature(signature)
                hits.append((at, Verdict(named.category, named, "", "signature")))
        for p in _SPELLINGS:
            if data.find(p.slashes) < 0:
                continue
            for m in p.slashed.finditer(data):
                host = self.tracker_host(m.group(1).lower().strip(b"."))
                service = (
                    self.lookup.service_for_host(host) if host is not None and host != page_host else None
                )
                if service is not None:
                    hits.append((m.start(), Verdict(service.category, service, host or "", "host")))
        for at, verdict in sorted(hits, key=lambda hit: hit[0]):
            if not _in_inert_markup(data, at):
                return verdict
        return None

    def _loaded_script(self, script: bytes, page_host: str | None) -> Verdict | None:
        """The most sensitive known service whose code or pixel a small inline script loads:
        the loader snippets vendors hand out do that, so every host the catalog knows counts,
        not only the vendors with a signature. A host counts when the script

        - names a JavaScript file on it (``s.src="https://client.crisp.chat/l.js"``); or
        - writes markup whose ``src`` is on it (``document.write('<iframe src="//…">')``); or
        - builds an element that loads something (``new Image``, or ``createElement`` beside a
          quoted ``script``/``iframe``/``img``) and names the host in a string, with ``//`` or
          without (``(secure ? "https://" : "http://") + "in-cdn.effectivemeasure.net/em.js"``).

        A first-party script that merely links to a vendor (a share button's
        ``twitter.com/intent/tweet`` on a ``createElement("a")``) is not held, nor one that
        loads from the page's own host, as for a ``src``. Only scripts up
        to ``_LOADER_MAX`` bytes: a loader snippet is small, and a site's own bundle that
        happens to name a vendor is not one (signatures still count there)."""
        if len(script) > _LOADER_MAX:
            return None
        hosts: list[bytes] = []
        # Each pattern starts with a literal (`//`, `\/\/` as a JSON encoder writes it, `src`),
        # which `re` skips to in C; the escaped and upper-case spellings only where present.
        spellings = [p for p in _SPELLINGS if script.find(p.slashes) >= 0]
        upper = script.find(b"SRC") >= 0
        for p in spellings:
            hosts += p.script_url.findall(script)
            hosts += p.src.findall(script)
            if upper:
                hosts += p.src_upper.findall(script)
        builds = _builds_loading_element(script)
        if builds or script.find(b"document.write") >= 0:
            hosts += _QUOTED_HOST.findall(script)
            for p in spellings:
                # Any URL; in markup written piece by piece ('<scr'+'ipt src="' + proto + ...),
                # any but a link's (a written share link loads nothing).
                hosts += [
                    m.group(1)
                    for m in p.slashed.finditer(script)
                    if builds or _LINK_BEFORE.search(script, max(0, m.start() - 16), m.start() + 1) is None
                ]
        if spellings and any(script.find(call) >= 0 for call in _REQUESTS):
            # A request the script sends itself: fetch(url), navigator.sendBeacon(url),
            # xhr.open("POST", url), import(url).
            hosts += _REQUEST_URL.findall(script)
        best: Verdict | None = None
        best_rank = -1
        for raw in hosts:
            host = self.tracker_host(raw.lower().strip(b"."))
            service = self.lookup.service_for_host(host) if host is not None and host != page_host else None
            if service is not None and _SEVERITY.get(service.category, 2) > best_rank:
                best_rank = _SEVERITY.get(service.category, 2)
                best = Verdict(service.category, service, host or "", "host")
        return best


# In a framework's data, the element a URL belongs to: markup in a string (`<iframe src=`, `<`
# escaped as \u003c or \x3c) or a React element (`["$","iframe",null,{"src":`, quotes escaped
# inside a streamed payload's string).
_ELEMENT_BEFORE = re.compile(
    rb"(?:<|\\u003[cC]|\\x3[cC])([A-Za-z][A-Za-z0-9-]*)|\\?\"\$\\?\",\\?\"([A-Za-z][A-Za-z0-9-]*)\\?\""
)
# Elements a framework hydrates from the server's markup (blocked there) rather than inserting
# anew: frames, images, media, links.
_INERT_ELEMENTS: Final = frozenset(
    {
        b"iframe",
        b"frame",
        b"img",
        b"image",
        b"picture",
        b"source",
        b"video",
        b"audio",
        b"embed",
        b"object",
        b"a",
    }
)
_ELEMENT_REACH: Final = 600


def _in_inert_markup(data: bytes, at: int) -> bool:
    """Is the URL or signature at ``at`` part of an element of ``_INERT_ELEMENTS`` (the last
    element named within ``_ELEMENT_REACH`` bytes before it, with no tag end in between)?"""
    start = max(0, at - _ELEMENT_REACH)
    last = None
    for match in _ELEMENT_BEFORE.finditer(data, start, at):
        last = match
    if last is None:
        return False
    name = (last.group(1) or last.group(2)).lower()
    if name not in _INERT_ELEMENTS:
        return False
    between = data[last.end() : at]
    return between.find(b">") < 0 and between.find(b"\\u003e") < 0 and between.find(b"\\u003E") < 0


def _builds_loading_element(script: bytes) -> bool:
    """Does the script make the browser load something it names (see ``_loaded_script``)?"""
    if script.find(b"new Image") >= 0:
        return True
    return script.find(b"createElement") >= 0 and _LOADING_ELEMENT.search(script) is not None


_MISSING = Verdict("", None, "", "unknown")  # cache sentinel
_LOADER_MAX = 16384
_URL_HOST = rb"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_HTTP = rb"(?:[hH][tT][tT][pP][sS]?:)?"
_EQ = rb"[\t\n\f\r ]*=[\t\n\f\r ]*\\?[\"']?"


@dataclass(frozen=True)
class _Spelling:
    """The URL patterns for one spelling of ``//`` in a script's strings; the host is group 1."""

    slashes: bytes
    script_url: re.Pattern[bytes]  # //host/path/file.js (or .mjs)
    src: re.Pattern[bytes]  # src="//host in markup a script writes
    src_upper: re.Pattern[bytes]
    slashed: re.Pattern[bytes]  # any //host


def _spelling(slashes: bytes) -> _Spelling:
    s = re.escape(slashes)
    slash = re.escape(slashes[: len(slashes) // 2])
    return _Spelling(
        slashes,
        re.compile(
            s
            + rb"([^/\\?#\"'`\t\n\f\r <>:@]++)(?::[0-9]*+)?"
            + slash
            # The path up to a quote, `?` or `#`, ending in .js or .mjs. Possessive, and never
            # across another `//`: a string of `//a/` runs would be read again from each one.
            + rb"[^\"'`\t\n\f\r <>?#/]*+(?:/(?!/|\\/)[^\"'`\t\n\f\r <>?#/]*+)*+"
            + rb"(?:(?<=\.[jJ][sS])|(?<=\.m[jJ][sS]))(?=[\"'`?#])"
        ),
        re.compile(rb"src" + _EQ + _HTTP + s + _URL_HOST),
        re.compile(rb"SRC" + _EQ + _HTTP + s + _URL_HOST),
        re.compile(s + _URL_HOST + rb"\.?(?=[/:?#\"'`\\]|$)"),
    )


_SPELLINGS = (_spelling(b"//"), _spelling(b"\\/\\/"))
# Before a URL: it is a link's (href="https:/ up to the URL's first slash).
_LINK_BEFORE = re.compile(rb"(?:href|HREF)" + _EQ + _HTTP + rb"\\?/?$")
# A string that starts with a host name (one dot at least; a path, port or the string's end after).
_QUOTED_HOST = re.compile(rb"[\"'`](\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?=[/:\"'`])")
# (each looked for with bytes.find: an alternation without a common first byte makes `re`
# try every position of a script)
_REQUESTS: Final = (b"fetch(", b"sendBeacon(", b".open(", b"import(")
_REQUEST_URL = re.compile(
    rb"(?:\bfetch|\.sendBeacon|\bimport|\.open[\t\n\f\r ]*\([\t\n\f\r ]*[\"'`][A-Za-z]{3,7}[\"'`][\t\n\f\r ]*,)"
    rb"[\t\n\f\r ]*\(?[\t\n\f\r ]*[\"'`]" + _HTTP + rb"(?://|\\/\\/)" + _URL_HOST
)
_LOADING_ELEMENT = re.compile(rb"[\"'](?:script|iframe|img|SCRIPT|IFRAME|IMG)[\"']")
_NO_HOST = "\x00"  # cache sentinel: no host is spelt so
_SEVERITY = {NECESSARY: 0, "preferences": 1, "analytics": 2, "marketing": 3}


def unknown_grant(policy: Policy) -> str | None:
    """The category whose grant lets a host no service claims load (policy
    ``unknown_third_party = "block"``): the most sensitive optional category, marketing in the
    standard four, or a category the policy names ``unknown``. "Accept all" grants it, and so
    does "Load content" on such a host's widget, as its placeholder says."""
    optional = [c.id for c in policy.categories if not c.required and c.id != NECESSARY]
    if UNKNOWN_CATEGORY in optional:
        return UNKNOWN_CATEGORY
    return max(optional, key=lambda c: _SEVERITY.get(c, 2), default=None)


def _most_sensitive(categories: Iterable[str | None]) -> str | None:
    found = [c for c in categories if c is not None]
    if not found:
        return None
    return max(found, key=lambda c: _SEVERITY.get(c, 2))


def _text(value: bytes) -> str:
    text = value.decode("latin-1")
    return html.unescape(text) if "&" in text else text


_DOMAIN_SETS: dict[frozenset[bytes], frozenset[bytes]] = {}


@lru_cache(maxsize=8)
def _host_trie_pattern(domains: tuple[bytes, ...]) -> bytes:
    """:attr:`Rules.known_host_pattern` for these (sorted) domains: built once per process for
    the catalog's 2,000 hosts, not once per middleware."""
    if not domains:
        return rb"(?!)"
    trie: dict[int, dict] = {}  # type: ignore[type-arg]
    for domain in domains:
        node = trie
        for byte in domain:
            node = node.setdefault(byte, {})
        node[-1] = {}

    def emit(node: dict) -> bytes:  # type: ignore[type-arg]
        branches = [re.escape(bytes([b])) + emit(child) for b, child in sorted(node.items()) if b >= 0]
        if -1 in node:
            branches.append(b"")  # an empty alternative, not `?`: `re` repeats are slow
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    host_byte = rb"[^/\\?#\"'\t\n\f\r >:@]"
    label = rb"[^./\\?#\"'\t\n\f\r >:@]*+"
    # The trie is tried at the host's start, then after each dot, label by label (a lazy
    # repeat of possessive labels): a greedy `host_byte*` then `\.` would back off one byte
    # at a time, and the 2,000-host trie would be tried at every dot on the way back.
    return rb"//(?:" + label + rb"\.)*?(?:" + emit(trie) + rb")\.*(?!" + host_byte + rb")"
