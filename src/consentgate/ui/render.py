"""What the visitor sees: the banner, the preference centre, embed placeholders, the page state.

Everything that does not depend on the request (templates, language tables, the themed
stylesheet, asset hashes, the notice archive) is built once in ``UI.__init__``. The snippets
for a page are rendered once per *shape* and then only filled in with the visitor's own strings
(``stencil.py``): a page costs microseconds, not a template render. The snippets
injected into the site's pages are ASCII bytes (other characters as numeric character
references, ``\\uXXXX`` inside JSON), so they are safe in any ASCII-compatible page charset, and
they carry the page's CSP nonce on every script and style element.

References:
- EDPB Cookie Banner Taskforce report (2023): reject on the first layer, no deceptive design
- CNIL recommendation 2020-092: refusing as easy as accepting, withdrawal always reachable
- WCAG 2.2 (labelled dialog, keyboard, focus visible, contrast), HTML "script data" escaping
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Literal, NamedTuple, NotRequired, Protocol, TypedDict, cast
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import escape

from consentgate.consent.state import Consent
from consentgate.html.placeholders import Detached, form_id_for, split_form
from consentgate.html.rules import UNKNOWN_CATEGORY, unknown_grant
from consentgate.policy.model import (
    CONSENT_MODE_TYPES,
    NECESSARY,
    BannerPosition,
    Category,
    Policy,
    RegionMode,
    Service,
)
from consentgate.ui.locales import Locales, text_direction
from consentgate.ui.mangle import mangle
from consentgate.ui.stencil import Marks, ShapeCache, Stencil, ascii_bytes
from consentgate.ui.theme import compile_theme

__all__ = [
    "UI",
    "FindingLike",
    "Notice",
    "RenderContext",
    "StateJSON",
    "UIConfigError",
    "script_json",
]

_TEMPLATES = ("body.html", "centre.html", "placeholder.html", "page.html", "_hidden.html")
_STATIC_CONTENT_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
}
_PREFIX = re.compile(r"^/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~\-]$")
# Templates are written with line breaks and indentation for people; none of it is meant to
# reach the page (every injected byte counts on every HTML response).
_LAYOUT_WHITESPACE = re.compile(r"\n\s*")
_LEADING_BLOCK_COMMENT = re.compile(r"\A/\*.*?\*/\s*", re.DOTALL)
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/\s*", re.DOTALL)
# Line breaks and the spaces next to ``{ } ; ,`` separate nothing in CSS (a space elsewhere may
# be a descendant combinator or separate values: it stays), nor does the ``;`` before ``}``.
_CSS_SPACE = re.compile(r"\s*([{};,])\s*|\n")
_CSS_LAST_SEMICOLON = re.compile(r";}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Fast paths for the per-page strings, which are mostly plain tokens and paths: strings that
# JSON, HTML escaping or URL quoting (with "/" safe) leave as they are.
_JSON_PLAIN = re.compile(r"[A-Za-z0-9 _.:/=+~-]*")
_HTML_SPECIAL = re.compile(r"[&<>\"']")
_URL_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")
_SERVICE_VIEW_CACHE_LIMIT = 4096
# How sensitive a category is, as the rewriter ranks them (other ids: 2, like analytics).
# The per-visitor strings of the snippets (see stencil.py): body and placeholder holes are
# HTML-escaped like Jinja does; ``next_q`` is the URL-quoted next URL inside the centre's link;
# the ``json_`` holes are whole JSON values of the STATE block.
_BODY_HOLES = ("csrf", "next", "next_q", "consent_id", "choice_date", "choice_iso")
_HEAD_HOLES = ("nonce_attr", "extra", "json_id", "json_csrf", "json_issued", "json_expires", "json_nonce")


class _PlaceholderShape(NamedTuple):
    """A placeholder's stencils: whole, and split into what stays in place and its form
    (None when the template holds no form)."""

    whole: Stencil
    inline: Stencil | None
    form: Stencil | None


class UIConfigError(ValueError):
    """A UI setting that cannot be rendered safely; ``key`` is the dotted policy key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class FindingLike(Protocol):
    """What ``placeholder`` reads from a ``consentgate.html.rules.Finding``."""

    @property
    def category(self) -> str: ...

    @property
    def service_id(self) -> str | None: ...

    @property
    def service_name(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderContext:
    """Everything about one request that changes what is rendered."""

    consent: Consent
    show_banner: bool
    # The app's mount point (``scope["root_path"]``): the browser reaches our endpoints under it.
    root_path: str = ""
    locale: str = "en"
    csrf_token: str = ""
    next_url: str = "/"
    nonce: str | None = None
    met_services: Sequence[Service] = ()
    region_mode: RegionMode = "opt_in"
    gpc_honoured: bool = False
    consent_mode_default: Mapping[str, str] | None = None
    extra_head: str = ""
    # From the visitor's region rule (RegionRule.banner / .choices_link_text), when it has one.
    banner_position: BannerPosition | None = None
    choices_link_text: str = ""
    # Services under the CNIL audience-measurement exemption for this visitor (France): listed
    # with a note and their objection switch (Decision.exempt).
    exempt_services: frozenset[str] = frozenset()


class StateJSON(TypedDict):
    v: int
    exists: bool
    consentId: str
    categories: dict[str, bool]
    services: dict[str, bool]
    source: str
    issuedAt: int
    expiresAt: int
    gpc: bool
    region: str
    mode: str
    prefix: str
    csrf: str
    locale: str
    nonce: str | None
    csp: str
    # Google Consent Mode values for the runtime's `update` after a choice (None when off).
    consentMode: dict[str, str] | None
    # Services running under the CNIL exemption unless the visitor objects (France only).
    exempt: list[str]
    # The category an unknown third party's content counts as (``UI.unknown_category``).
    unknown: str | None


class NoticeCookie(TypedDict):
    name: str
    pattern: bool
    domain: str | None
    lifetime: str
    lifetime_seconds: int | None
    description: str
    third_party: bool


class NoticeService(TypedDict):
    id: str
    name: str
    category: str
    provider: str
    purposes: list[str]
    description: str
    privacy_url: str
    cookies: list[NoticeCookie]
    # Only on a service that runs without consent in France (CNIL exemption): the archived notice
    # shows visitors were told; absent elsewhere, so other notices keep their hash.
    cnil_exempt_audience: NotRequired[bool]


class NoticeCategory(TypedDict):
    id: str
    label: str
    description: str
    required: bool


class Notice(TypedDict):
    locale: str
    policy_version: str
    fingerprint: str
    texts: dict[str, str]
    controller: dict[str, str]
    categories: list[NoticeCategory]
    services: list[NoticeService]
    # sha256 of the catalog entries the centre may list when a page uses them
    catalog: str
    theme: dict[str, object]


@dataclass(frozen=True)
class _CookieView:
    name: str
    lifetime: str
    party: str


@dataclass(frozen=True)
class _ServiceView:
    id: str
    name: str
    provider: str
    purpose: str
    privacy_url: str
    cookies: tuple[_CookieView, ...]
    # Under the CNIL exemption here: shown with its note and objection switch.
    exempt: bool = False


@dataclass(frozen=True)
class _CategoryView:
    id: str
    label: str
    text: str
    required: bool
    granted: bool
    services: tuple[_ServiceView, ...]
    # UK DUAA statistics exception in force: runs unless the visitor objects (PECR Sch. A1).
    runs_unless_refused: bool
    # Names of its services under the CNIL exemption here ("" when none).
    exempt_names: str = ""


def script_json(data: object) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``ensure_ascii`` already turns U+2028/U+2029 into escapes; ``<``, ``>`` and ``&`` become
    ``\\u003c``… so that ``</script>`` or ``<!--`` in a policy text cannot end the element.

    >>> script_json({"a": "</script>&\\u2028"})
    '{"a":"\\\\u003c/script\\\\u003e\\\\u0026\\\\u2028"}'
    """
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_ascii = ascii_bytes


def _html(value: str) -> bytes:
    """``value`` as Jinja's autoescape writes it, in ASCII."""
    if _HTML_SPECIAL.search(value) is None:
        return ascii_bytes(value)
    return ascii_bytes(str(escape(value)))


@functools.lru_cache(maxsize=1024)
def _quote_path(url: str) -> str:
    # Cached: the same few page URLs come back with every visitor.
    return quote(url, safe="/")


@functools.lru_cache(maxsize=64)
def _url_root(root_path: str) -> str:
    """A mount point as the start of our URLs: "" or "/a/b", percent-encoded (safe in an
    attribute, in JSON and in an unescaped f-string) and never "//host" (another origin)."""
    segments = root_path.strip("/")
    return "/" + quote(segments, safe="/") if segments else ""


@functools.lru_cache(maxsize=1024)
def _choice_times(issued_at: int) -> tuple[str, str]:
    """(ISO time, "YYYY-MM-DD HH:MM UTC") of a choice: a returning visitor's every page shows it."""
    # time.gmtime, not datetime.fromtimestamp: the same fields at a third of the cost.
    choice_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_at))
    day, _, clock = choice_iso.partition("T")
    return choice_iso, f"{day} {clock[:5]} UTC"


@functools.lru_cache(maxsize=256)  # a returning visitor's pages of one second share them
def _head_holes(
    nonce: str | None, extra: str, consent_id: str, csrf: str, issued: int | None, expires: int | None
) -> Mapping[str, bytes]:
    return {
        "nonce_attr": _ascii(html.escape(nonce)) if nonce else b"",
        "extra": _ascii(extra),
        "json_id": _json_value(consent_id),
        "json_csrf": _json_value(csrf),
        "json_issued": _json_value(issued),
        "json_expires": _json_value(expires),
        "json_nonce": _json_value(nonce),
    }


def _json_value(value: str | int | None) -> bytes:
    """``script_json(value)`` as bytes, without json.dumps for the common plain tokens."""
    if value is None:
        return b"null"
    if type(value) is int:
        return str(value).encode()
    if type(value) is str and _JSON_PLAIN.fullmatch(value):
        return f'"{value}"'.encode()
    return script_json(value).encode()


class _VisitorStrings(NamedTuple):
    """The strings of one page that no other page shares (unescaped)."""

    csrf: str
    next_url: str
    next_quoted: str  # quote(next_url), for the preference centre's link
    consent_id: str  # "" before a choice
    choice_date: str  # "" before a choice
    choice_iso: str


def _safe_url(url: str) -> str | None:
    """``url`` if it is http(s) or site-relative; None for javascript:, data: and the like."""
    candidate = url.strip()
    if not candidate or any(ord(ch) < 0x20 for ch in candidate):
        return None
    try:
        scheme = urlsplit(candidate).scheme.lower()
    except ValueError:
        return None
    return candidate if scheme in ("", "http", "https") else None


def _strip_js(source: str) -> str:
    """Drop comments-only lines, indentation and the spaces no token needs, and join a line
    that ends in ``{ ; ,`` with the next: a third less on the wire, nothing renamed.

    Safe for runtime.js because it has no multi-line strings or template literals, ends its
    statements with ``;`` and writes no division: string and regex literals are kept whole
    (a ``/`` after ``( , = : ! & | ? ; {`` or ``return`` starts a regex), a space stays between
    two name characters and inside ``+ +``/``- -``, and a line break only goes where the line
    already ends a statement, a list item or opens a block (no automatic semicolon lost).
    """
    source = _LEADING_BLOCK_COMMENT.sub("", source)
    lines: list[str] = []
    for raw in source.splitlines():
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        line = _squeeze(line)
        if lines and lines[-1][-1] in "{;,":
            lines[-1] += line
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


_JS_TOKEN = re.compile(
    r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'"""
    r"|(?:(?<=[(,=:!&|?;{])|(?<=return))\s*/(?![/*])(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n])+/[a-z]*"
    r"|\s+"
)


def _squeeze(line: str) -> str:
    """One line of JavaScript without the spaces no token needs (see :func:`_strip_js`)."""
    out: list[str] = []
    pos = 0
    for m in _JS_TOKEN.finditer(line):
        out.append(line[pos : m.start()])
        token = m.group()
        if token.isspace():
            before, after = line[m.start() - 1 : m.start()], line[m.end() : m.end() + 1]
            if _NAME_CHAR.match(before + after) or before + after in ("++", "--", "+-", "-+"):
                out.append(" ")
        else:
            out.append(token.lstrip())  # (a regex literal's own leading spaces: never needed)
        pos = m.end()
    out.append(line[pos:])
    return "".join(out)


_NAME_CHAR = re.compile(r"[\w$]{2}\Z")


def _strip_css(source: str) -> str:
    """The stylesheet without comments and the white space no token needs: the runtime and
    the stylesheet share one byte budget (tests/ui/test_render.py). banner.css has no strings
    or ``url()`` with these characters, which this would change."""
    source = _CSS_SPACE.sub(lambda m: m.group(1) or "", _BLOCK_COMMENT.sub("", source))
    return _CSS_LAST_SEMICOLON.sub("}", source)


class _CompactLoader(jinja2.BaseLoader):
    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = resources.files("consentgate.ui").joinpath("templates", template)
        try:
            source = path.read_text("utf-8")
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(template) from None
        return _LAYOUT_WHITESPACE.sub("", source), None, lambda: True


@cache
def _compiled_templates() -> dict[str, jinja2.Template]:
    """The templates, compiled once per process: they do not depend on the policy (what does is
    passed in when they render), and compiling them costs more than the rest of a UI."""
    env = jinja2.Environment(
        loader=_CompactLoader(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return {name: env.get_template(name) for name in _TEMPLATES}


@cache
def _static_sources() -> tuple[str, str]:
    """The served runtime (shortened) and the stylesheet without the theme, once per process."""
    static = resources.files("consentgate.ui").joinpath("static")
    runtime = mangle(_strip_js(static.joinpath("runtime.js").read_text("utf-8"))).code
    return runtime, _strip_css(static.joinpath("banner.css").read_text("utf-8"))


class UI:
    """Renders consentgate's banner, preference centre and placeholders for one policy.

    ``cache_size`` bounds the shapes kept per snippet (least recently used go first); 0 renders
    every snippet afresh, which is byte for byte the same output.

    >>> from consentgate.consent.state import Consent
    >>> policy = Policy(categories=(), services=())
    >>> ui = UI(policy)
    >>> ctx = RenderContext(consent=Consent.none(), show_banner=True, locale=ui.negotiate("de"))
    >>> b'data-cg-action="reject_all"' in ui.body(ctx)
    True
    """

    def __init__(self, policy: Policy, *, prefix: str = "/_consentgate", cache_size: int = 256) -> None:
        if not _PREFIX.match(prefix):
            raise UIConfigError("prefix", f"{prefix!r} must be a path like '/_consentgate'")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise UIConfigError("cache_size", f"must be a whole number of shapes >= 0, got {cache_size!r}")
        privacy_url = _safe_url(policy.controller.privacy_url)
        if privacy_url is None:
            raise UIConfigError(
                "controller.privacy_url",
                f"{policy.controller.privacy_url!r} must be an http(s) URL or a path on the site",
            )
        for service in policy.services:
            if service.origin == "policy" and service.privacy_url and _safe_url(service.privacy_url) is None:
                raise UIConfigError(
                    f"services.{service.id}.privacy_url",
                    f"{service.privacy_url!r} must be an http(s) URL or a path on the site",
                )
        self.policy = policy
        self.prefix = prefix
        # Content from a host no service claims (policy ``unknown_third_party = "block"``) counts
        # as the most sensitive optional category, marketing in the standard four: "Accept all"
        # loads it, and its placeholder's "Load content" grants that category, as it says.
        self.unknown_category: str | None = unknown_grant(policy)
        self._theme = compile_theme(policy.theme)
        self._locales = Locales(policy)
        self._privacy_url = privacy_url
        self._consent_url = f"{prefix}/consent"
        self._templates = _compiled_templates()
        self._assets: dict[str, tuple[bytes, str]] = {}
        self._asset_urls: dict[str, str] = {}
        self._load_assets()
        self._policy_services: tuple[Service, ...] = tuple(s for s in policy.services if s.origin == "policy")
        self._service_views: dict[tuple[str, Service], _ServiceView] = {}
        self._notices: dict[str, str] = {}
        self._notice_hashes: dict[str, str] = {}
        # Rendered once per shape, filled per page (cache_size 0: render every time).
        self._cached = cache_size > 0
        self._marks = Marks((*_BODY_HOLES, *_HEAD_HOLES, "form_id"))
        self._heads: ShapeCache[Stencil] = ShapeCache(cache_size)
        # With the services met that the key names by identity: kept alive, an id stays theirs.
        self._bodies: ShapeCache[tuple[tuple[Service, ...], Stencil]] = ShapeCache(cache_size)
        self._placeholders: ShapeCache[_PlaceholderShape] = ShapeCache(cache_size)
        catalog_hash = self._catalog_hash()
        for language in self._locales.available:
            canonical = json.dumps(
                self._build_notice(language, catalog_hash),
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
            )
            self._notices[language] = canonical
            self._notice_hashes[language] = hashlib.sha256(canonical.encode()).hexdigest()

    # -- languages --------------------------------------------------------------------------
    @property
    def languages(self) -> tuple[str, ...]:
        return self._locales.available

    def negotiate(self, accept_language: str | None, override: str | None = None) -> str:
        """The offered language for an ``Accept-Language`` header and an optional ``lang``."""
        return self._locales.negotiate(accept_language, override)

    def texts(self, locale: str) -> Mapping[str, str]:
        """Every message of ``locale`` as shown (built-in texts merged with the policy's)."""
        return self._locales.texts(locale)

    # -- assets -----------------------------------------------------------------------------
    def _load_assets(self) -> None:
        runtime, stylesheet = _static_sources()
        sources = {
            "js": ("runtime", runtime.encode()),
            # The theme's custom properties go into the same file: no inline style anywhere.
            "css": ("banner", (stylesheet + self._theme.css()).encode()),
        }
        for kind, (stem, content) in sources.items():
            digest = hashlib.sha256(content).hexdigest()[:16]
            hashed = f"{stem}.{digest}.{kind}"
            entry = (content, _STATIC_CONTENT_TYPES[kind])
            self._assets[hashed] = entry
            self._assets[f"{stem}.{kind}"] = entry
            self._asset_urls[kind] = f"{self.prefix}/static/{hashed}"

    def asset(self, name: str) -> tuple[bytes, str] | None:
        """(content, content type) for ``GET {prefix}/static/<name>``; None when unknown.

        The content-hashed names from ``asset_url`` never change meaning and may be cached as
        immutable; the plain names (``runtime.js``, ``banner.css``) are for debugging.
        """
        return self._assets.get(name)

    def asset_url(self, kind: Literal["js", "css"]) -> str:
        return self._asset_urls[kind]

    # -- page state -------------------------------------------------------------------------
    def state_json(self, ctx: RenderContext) -> StateJSON:
        """The STATE object of INTERFACES.md C, for the page block and the JSON endpoints."""
        consent = ctx.consent
        categories = {c.id: self._granted(c, consent) for c in self.policy.categories}
        services = dict.fromkeys(sorted(consent.services), True)
        services.update(dict.fromkeys(sorted(consent.denied_services), False))
        return {
            "v": 1,
            "exists": consent.exists,
            # No choice, no consent record yet: an id shown now would name nothing in the audit log.
            "consentId": consent.consent_id if consent.exists else "",
            "categories": categories,
            "services": services,
            "source": consent.source,
            "issuedAt": consent.issued_at,
            "expiresAt": consent.expires_at,
            "gpc": ctx.gpc_honoured or consent.gpc_applied,
            "region": consent.region,
            "mode": ctx.region_mode,
            "prefix": _url_root(ctx.root_path) + self.prefix,
            "csrf": ctx.csrf_token,
            "locale": self._language(ctx),
            "nonce": ctx.nonce,
            "csp": self.policy.csp,
            # The server's values (region, GPC) when the middleware computed them.
            "consentMode": (
                dict(ctx.consent_mode_default)
                if ctx.consent_mode_default is not None
                else self._consent_mode(categories)
            ),
            "exempt": sorted(ctx.exempt_services),
            "unknown": self.unknown_category,
        }

    def _consent_mode(self, granted: Mapping[str, bool]) -> dict[str, str] | None:
        if self.policy.consent_mode.mode == "off":
            return None
        values = dict.fromkeys(CONSENT_MODE_TYPES, "denied")
        values["security_storage"] = "granted"
        for category in self.policy.categories:
            if granted.get(category.id):
                for kind in category.consent_mode:
                    values[kind] = "granted"
        return values

    @staticmethod
    def _granted(category: Category, consent: Consent) -> bool:
        return category.required or category.id == NECESSARY or consent.allows(category.id)

    # -- snippets ---------------------------------------------------------------------------
    def head(self, ctx: RenderContext) -> bytes:
        """Stylesheet, STATE block, ``ctx.extra_head`` and the deferred runtime (ASCII)."""
        if not self._cached:
            return self._render_head(ctx)
        consent = ctx.consent
        default = ctx.consent_mode_default
        key = (
            self._language(ctx),
            *consent.shape,
            consent.source,
            consent.gpc_applied,
            consent.region,
            ctx.gpc_honoured,
            ctx.region_mode,
            bool(ctx.nonce),
            None if default is None else tuple(default.items()),
            ctx.exempt_services,
            ctx.root_path,
        )
        stencil = self._heads.get(key)
        if stencil is None:
            stencil = self._head_shape(ctx)
            self._heads.put(key, stencil)
        return stencil.fill(
            _head_holes(
                ctx.nonce,
                ctx.extra_head,
                consent.consent_id if consent.exists else "",
                ctx.csrf_token,
                consent.issued_at,
                consent.expires_at,
            )
        )

    def body(self, ctx: RenderContext) -> bytes:
        """The first layer (while ``show_banner``), the reopen control and the centre (ASCII)."""
        strings = self._visitor_strings(ctx)
        if not self._cached:
            return _ascii(self._templates["body.html"].render(self._page_vars(ctx, strings)))
        consent = ctx.consent
        met = tuple(ctx.met_services)
        key = (
            self._language(ctx),
            ctx.show_banner,
            ctx.region_mode,
            ctx.gpc_honoured,
            ctx.banner_position,
            ctx.choices_link_text,
            ctx.exempt_services,
            ctx.root_path,
            *consent.shape,
            bool(strings.consent_id),
            bool(strings.choice_date),
            # Identities, not values: hashing Service objects costs more than the whole page.
            tuple(map(id, met)),
        )
        entry = self._bodies.get(key)
        if entry is None:
            entry = (met, self._body_shape(ctx, strings))
            self._bodies.put(key, entry)
        return entry[1].fill(self._holes(strings))

    def preferences_page(self, ctx: RenderContext, *, error: str = "") -> bytes:
        """The full preference-centre page for ``GET {prefix}/preferences`` (UTF-8); with
        ``error``, the page a form posted without JavaScript gets when its choice was refused."""
        values = self._page_vars(ctx, self._visitor_strings(ctx))
        values["error"] = error
        values["css_url"] = _url_root(ctx.root_path) + self._asset_urls["css"]
        values["nonce"] = ctx.nonce
        return self._templates["page.html"].render(values).encode("utf-8")

    def placeholder(self, finding: FindingLike, ctx: RenderContext) -> bytes:
        """Stands in for a blocked iframe/embed/object: who, why, and "Load content" (ASCII).
        Phrasing content but for its form, which the rewriter moves out of it (see
        consentgate.html.placeholders): valid wherever the frame was, a paragraph included."""
        return self._placeholder(finding, ctx, None)

    def placeholders(self, ctx: RenderContext) -> Callable[[FindingLike], bytes | Detached]:
        """``placeholder`` bound to one page, its form split off already (the rewriter would
        otherwise split it on every page): the visitor's strings are escaped once, and an
        embed the page repeats is filled once. Never shared between pages (it holds the page's
        CSRF token)."""
        holes: dict[str, bytes] = {}
        filled: dict[tuple[str, str | None, str | None, str | None], bytes | Detached] = {}

        def placeholder(finding: FindingLike) -> bytes | Detached:
            key = (finding.category, finding.service_id, finding.service_name, finding.host)
            out = filled.get(key)
            if out is None:
                if not holes:
                    holes.update(csrf=_html(ctx.csrf_token), next=_html(ctx.next_url))
                out = filled[key] = self._detached(finding, ctx, holes)
            return out

        return placeholder

    def _placeholder(
        self, finding: FindingLike, ctx: RenderContext, holes: Mapping[str, bytes] | None
    ) -> bytes:
        if not self._cached:
            return _ascii(self._render_placeholder(finding, ctx, ctx.csrf_token, ctx.next_url))
        if holes is None:
            holes = {"csrf": _html(ctx.csrf_token), "next": _html(ctx.next_url)}
        return self._placeholder_shape(finding, ctx).whole.fill(holes)

    def _detached(
        self, finding: FindingLike, ctx: RenderContext, holes: Mapping[str, bytes]
    ) -> bytes | Detached:
        """The placeholder with its form apart, as consentgate.html.placeholders would split
        it, from stencils split once per shape."""
        if not self._cached:
            return self._placeholder(finding, ctx, holes)
        shape = self._placeholder_shape(finding, ctx)
        if shape.inline is None or shape.form is None:
            return shape.whole.fill(holes)
        values = {**holes, "form_id": b""}
        form_id = values["form_id"] = form_id_for(shape.form.fill(values))
        return Detached(shape.inline.fill(values), form_id, shape.form.fill(values))

    def _placeholder_shape(self, finding: FindingLike, ctx: RenderContext) -> _PlaceholderShape:
        # Not the visitor's choice: "Load content" posts its one grant, the server adds it.
        key = (
            self._language(ctx),
            finding.category,
            finding.service_id,
            finding.service_name,
            finding.host,
            ctx.root_path,
        )
        shape = self._placeholders.get(key)
        if shape is None:
            marks = self._marks
            text = self._render_placeholder(finding, ctx, marks["csrf"], marks["next"])
            split = split_form(ascii_bytes(text), marks["form_id"].encode("ascii"))
            inline = form = None
            if split is not None:
                inline, form = (marks.cut(part.decode("ascii")) for part in split)
            shape = _PlaceholderShape(marks.cut(text), inline, form)
            self._placeholders.put(key, shape)
        return shape

    def cached_shapes(self) -> dict[str, int]:
        """How many distinct shapes of each snippet are cached (for metrics and tests)."""
        return {"head": len(self._heads), "body": len(self._bodies), "placeholder": len(self._placeholders)}

    # -- shapes -----------------------------------------------------------------------------
    def _render_head(self, ctx: RenderContext) -> bytes:
        nonce = f' nonce="{html.escape(ctx.nonce)}"' if ctx.nonce else ""
        state = script_json(self.state_json(ctx))
        return _ascii(self._head_text(nonce, state, ctx.extra_head, _url_root(ctx.root_path)))

    def _head_text(self, nonce: str, state: str, extra_head: str, root: str) -> str:
        return (
            f'<link rel="stylesheet" href="{root}{self._asset_urls["css"]}"{nonce}>'
            f'<script type="application/json" id="consentgate-state"{nonce}>{state}</script>'
            f"{extra_head}"
            f'<script src="{root}{self._asset_urls["js"]}" defer{nonce}></script>'
        )

    def _head_shape(self, ctx: RenderContext) -> Stencil:
        marks = self._marks
        state: dict[str, object] = dict(self.state_json(ctx))
        holes = {
            "consentId": "json_id",
            "csrf": "json_csrf",
            "issuedAt": "json_issued",
            "expiresAt": "json_expires",
            "nonce": "json_nonce",
        }
        for field, hole in holes.items():
            state[field] = marks[hole]
        text = script_json(state)
        for hole in holes.values():
            # The hole stands for the whole JSON value, quotes included (it may be a number).
            text = text.replace(f'"{marks[hole]}"', marks[hole])
        nonce = f' nonce="{marks["nonce_attr"]}"' if ctx.nonce else ""
        return marks.cut(self._head_text(nonce, text, marks["extra"], _url_root(ctx.root_path)))

    def _body_shape(self, ctx: RenderContext, strings: _VisitorStrings) -> Stencil:
        marks = self._marks
        shaped = _VisitorStrings(
            csrf=marks["csrf"],
            next_url=marks["next"],
            next_quoted=marks["next_q"],
            consent_id=marks["consent_id"] if strings.consent_id else "",
            choice_date=marks["choice_date"] if strings.choice_date else "",
            choice_iso=marks["choice_iso"] if strings.choice_iso else "",
        )
        values = self._page_vars(ctx, shaped)
        return marks.cut(self._templates["body.html"].render(values))

    @staticmethod
    @functools.lru_cache(maxsize=256)  # a returning visitor's pages of one second share them
    def _holes(strings: _VisitorStrings) -> Mapping[str, bytes]:
        return {
            "csrf": _html(strings.csrf),
            "next": _html(strings.next_url),
            "next_q": _html(strings.next_quoted),
            "consent_id": _html(strings.consent_id),
            "choice_date": _html(strings.choice_date),
            "choice_iso": _html(strings.choice_iso),
        }

    @staticmethod
    def _visitor_strings(ctx: RenderContext) -> _VisitorStrings:
        consent = ctx.consent
        choice_iso = choice_date = ""
        if consent.exists and consent.issued_at:
            choice_iso, choice_date = _choice_times(consent.issued_at)
        next_url = ctx.next_url
        return _VisitorStrings(
            csrf=ctx.csrf_token,
            next_url=next_url,
            next_quoted=next_url if _URL_PLAIN.fullmatch(next_url) else _quote_path(next_url),
            consent_id=consent.consent_id if consent.exists else "",
            choice_date=choice_date,
            choice_iso=choice_iso,
        )

    def _render_placeholder(self, finding: FindingLike, ctx: RenderContext, csrf: str, next_url: str) -> str:
        language = self._language(ctx)
        texts = self._locales.texts(language)
        service = None
        if finding.service_id and self.policy.has_service(finding.service_id):
            service = self.policy.service(finding.service_id)
        category_id = finding.category
        if category_id == UNKNOWN_CATEGORY and self.unknown_category is not None:
            category_id = self.unknown_category  # what "Load content" grants for an unknown host
        category = self.policy.category(category_id) if self.policy.has_category(category_id) else None
        view = self._service_view(language, service) if service is not None else None
        purpose = view.purpose if view and view.purpose else ""
        if not purpose and category is not None:
            purpose = self._category_text(category, language)[1]
        name = (view.name if view else "") or finding.service_name or finding.host or category_id
        values = {
            "t": texts,
            "lang": language,
            "dir": text_direction(language),
            "consent_url": _url_root(ctx.root_path) + self._consent_url,
            "csrf": csrf,
            "next_url": next_url,
            "category": category_id,
            "service_id": finding.service_id or "",
            "name": name,
            "purpose": purpose,
            "privacy_url": view.privacy_url if view else "",
        }
        return self._templates["placeholder.html"].render(values)

    # -- notice archive ---------------------------------------------------------------------
    def notice(self, locale: str) -> Notice:
        """Exactly what a visitor reading ``locale`` is told: texts, categories, services.

        KeyError for a language the policy does not offer.
        """
        return cast(Notice, json.loads(self._notices[locale]))

    def notice_hash(self, locale: str) -> str:
        """sha256 (hex) of the canonical JSON of ``notice(locale)``."""
        return self._notice_hashes[locale]

    # -- internals --------------------------------------------------------------------------
    def _language(self, ctx: RenderContext) -> str:
        return ctx.locale if ctx.locale in self._notices else self._locales.default

    def _page_vars(self, ctx: RenderContext, strings: _VisitorStrings) -> dict[str, object]:
        language = self._language(ctx)
        texts = self._locales.texts(language)
        consent = ctx.consent
        opt_out = ctx.region_mode == "opt_out"
        controller = self.policy.controller
        contact_url = ""
        if _EMAIL.match(controller.contact):
            contact_url = f"mailto:{controller.contact}"
        elif controller.contact.startswith(("https://", "http://")):
            contact_url = _safe_url(controller.contact) or ""
        root = _url_root(ctx.root_path)
        return {
            "t": texts,
            "lang": language,
            "dir": text_direction(language),
            "show_banner": ctx.show_banner,
            "wall": self.policy.cookie_wall,
            "position": ctx.banner_position or self._theme.position,
            "categories": self._category_views(ctx, language),
            "granted_services": consent.services,
            "consent_url": f"{root}{self._consent_url}",
            "prefs_url": f"{root}{self.prefix}/preferences?lang={quote(language)}&next={strings.next_quoted}",
            "privacy_url": self._privacy_url,
            "csrf": strings.csrf,
            "next_url": strings.next_url,
            "gpc_notice": ctx.gpc_honoured and not opt_out,
            "gpc_status": ctx.gpc_honoured and opt_out,
            "reopen_text": ctx.choices_link_text or (texts["reopen_optout"] if opt_out else texts["reopen"]),
            "centre_intro": texts["optout_text"] if opt_out else texts["prefs_text"],
            # Opening the centre once a choice exists is the "reopen" layer of the audit record.
            "centre_layer": "reopen" if consent.exists else "preferences",
            "controller": {
                "name": controller.name,
                "address": controller.address,
                "contact": controller.contact,
                "contact_url": contact_url,
            },
            "consent_id": strings.consent_id,
            "choice_date": strings.choice_date,
            "choice_iso": strings.choice_iso,
        }

    def _category_views(self, ctx: RenderContext, language: str) -> list[_CategoryView]:
        # The centre lists what the site declared, what this page actually uses, and anything
        # the visitor allowed one by one (so that it can be taken back) - never the catalog.
        listed: dict[str, Service] = {s.id: s for s in self._policy_services}
        for service in ctx.met_services:
            listed.setdefault(service.id, service)
        for service_id in sorted(ctx.consent.services):
            if service_id not in listed and self.policy.has_service(service_id):
                listed[service_id] = self.policy.service(service_id)
        by_category: dict[str, list[_ServiceView]] = {}
        exempt = ctx.exempt_services
        for service in listed.values():
            view = self._service_view(language, service)
            if service.id in exempt:
                view = replace(view, exempt=True)
            by_category.setdefault(service.category, []).append(view)
        views = []
        for category in self.policy.categories:
            label, text = self._category_text(category, language)
            views.append(
                _CategoryView(
                    id=category.id,
                    label=label,
                    text=text,
                    required=category.required or category.id == NECESSARY,
                    granted=self._granted(category, ctx.consent),
                    services=tuple(by_category.get(category.id, ())),
                    runs_unless_refused=category.uk_statistics and ctx.region_mode == "uk_statistics",
                    exempt_names=", ".join(
                        view.name for view in by_category.get(category.id, ()) if view.exempt
                    ),
                )
            )
        return views

    def _category_text(self, category: Category, language: str) -> tuple[str, str]:
        texts = self._locales.texts(language)
        label_key, text_key = f"category_{category.id}", f"category_{category.id}_text"
        overrides = self.policy.notice.get(language, {})
        # The site's own words win; the built-in translations cover the standard four in the
        # languages the site did not translate itself.
        label = (
            overrides.get(label_key)
            or category.label.get(language)
            or (texts.get(label_key) if language != "en" else None)
            or category.label.get("en")
            or texts.get(label_key)
            or category.id
        )
        text = (
            overrides.get(text_key)
            or category.description.get(language)
            or (texts.get(text_key) if language != "en" else None)
            or category.description.get("en")
            or texts.get(text_key)
            or ""
        )
        return label, text

    def _service_view(self, language: str, service: Service) -> _ServiceView:
        key = (language, service)
        view = self._service_views.get(key)
        if view is not None:
            return view
        texts = self._locales.texts(language)
        cookies = tuple(
            _CookieView(
                name=cookie.name,
                lifetime=self._locales.duration(language, cookie),
                party=texts["third_party"] if cookie.third_party else texts["first_party"],
            )
            for cookie in service.cookies
        )
        view = _ServiceView(
            id=service.id,
            name=service.name or service.id,
            provider=service.provider,
            purpose=service.description or ", ".join(service.purposes),
            privacy_url=_safe_url(service.privacy_url) or "",
            cookies=cookies,
        )
        if len(self._service_views) >= _SERVICE_VIEW_CACHE_LIMIT:
            self._service_views.clear()
        self._service_views[key] = view
        return view

    def _build_notice(self, language: str, catalog_hash: str) -> Notice:
        texts = self._locales.texts(language)
        categories: list[NoticeCategory] = []
        for category in self.policy.categories:
            label, text = self._category_text(category, language)
            categories.append(
                {
                    "id": category.id,
                    "label": label,
                    "description": text,
                    "required": category.required or category.id == NECESSARY,
                }
            )
        return {
            "locale": language,
            "policy_version": self.policy.version,
            "fingerprint": self.policy.fingerprint(),
            "texts": dict(texts),
            "controller": {
                "name": self.policy.controller.name,
                "address": self.policy.controller.address,
                "contact": self.policy.controller.contact,
                "privacy_url": self._privacy_url,
            },
            "categories": categories,
            "services": [self._notice_service(language, s) for s in self._policy_services],
            "catalog": catalog_hash,
            "theme": self._theme.as_dict(),
        }

    def _notice_service(self, language: str, service: Service) -> NoticeService:
        entry = self._notice_service_fields(language, service)
        if service.cnil_exempt_audience:
            entry["cnil_exempt_audience"] = True
        return entry

    def _notice_service_fields(self, language: str, service: Service) -> NoticeService:
        return {
            "id": service.id,
            "name": service.name or service.id,
            "category": service.category,
            "provider": service.provider,
            "purposes": list(service.purposes),
            "description": service.description,
            "privacy_url": service.privacy_url,
            "cookies": [
                {
                    "name": cookie.name,
                    "pattern": cookie.is_regex,
                    "domain": cookie.domain,
                    "lifetime": self._locales.duration(language, cookie),
                    "lifetime_seconds": cookie.lifetime_seconds,
                    "description": cookie.description,
                    "third_party": cookie.third_party,
                }
                for cookie in service.cookies
            ],
        }

    def _catalog_hash(self) -> str:
        entries = [self._notice_service("en", s) for s in self.policy.services if s.origin == "catalog"]
        canonical = json.dumps(entries, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
