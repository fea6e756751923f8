"""``consentgate.toml`` (or a plain dict) → ``Policy``, refusing every mistake at start-up.

All problems are collected before raising, so one run of ``consentgate check-policy`` shows
them all; each names its key path and, for files, its line.

>>> policy = load_dict({"categories": {"analytics": {"label": {"de": "Statistik"}}}})
>>> policy.category("analytics").text("de")[0]
'Statistik'
>>> try:
...     load_dict({"choice_lifetime": "6 monts"})
... except PolicyError as error:
...     print(error)
choice_lifetime: '6 monts': unknown unit 'monts'; use seconds, minutes, hours, days, weeks, months or years
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar, cast

from consentgate.domains import registrable_domain
from consentgate.policy import regions, schema
from consentgate.policy.catalog import (
    cookie_tracker_category,
    host_tracker_category,
    load_catalog,
    tracker_category_of,
)
from consentgate.policy.durations import DAY, parse_duration
from consentgate.policy.model import (
    CNIL_CONDITIONS,
    CONSENT_MODE_TYPES,
    NECESSARY,
    STANDARD_CATEGORIES,
    BannerPosition,
    Category,
    ConsentModeSettings,
    Controller,
    CookieSettings,
    CookieSpec,
    Policy,
    RegionMode,
    RegionRule,
    Service,
    Theme,
)
from consentgate.policy.toml_lines import KeyPath, key_lines, line_of

__all__ = ["PolicyError", "Problem", "load_dict", "load_file", "load_text"]

T = TypeVar("T")
L = TypeVar("L", bound=str)

# Browsers cap cookie lifetimes at 400 days (RFC 6265bis); a longer choice would silently end.
MAX_CHOICE_LIFETIME = 400 * DAY

STANDARD_TEXTS: dict[str, tuple[str, str]] = {
    "necessary": (
        "Strictly necessary",
        "Needed for the site to work: security, your session and remembering this choice. "
        "They cannot be switched off.",
    ),
    "preferences": (
        "Preferences",
        "Remember settings you choose, such as language or region, and enable features you ask for.",
    ),
    "analytics": (
        "Statistics",
        "Help us understand how the site is used, by counting visits and measuring performance.",
    ),
    "marketing": (
        "Marketing",
        "Used by us and advertising partners to show relevant ads and measure campaigns, "
        "possibly across other websites.",
    ),
}
# Google Consent Mode v2 types each standard category grants (requirements CG-73).
STANDARD_CONSENT_MODE: dict[str, tuple[str, ...]] = {
    "necessary": ("security_storage",),
    "preferences": ("functionality_storage", "personalization_storage"),
    "analytics": ("analytics_storage",),
    "marketing": ("ad_storage", "ad_user_data", "ad_personalization"),
}
TRACKING_CATEGORIES = frozenset({"analytics", "marketing"})
# A category that grants any of these is advertising, whatever its name.
AD_CONSENT_MODE_TYPES = frozenset({"ad_storage", "ad_user_data", "ad_personalization"})
CNIL_LONGEST_13_MONTHS = 397 * DAY  # 366 + 31: the longest span of 13 calendar months

_CATEGORY_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# What may follow Path= and Domain= in a Set-Cookie line we write: no ';' (a new attribute), no
# ',' (a folded second cookie), no whitespace or control bytes (a split header).
_COOKIE_PATH = re.compile(r"^/[\x21-\x2b\x2d-\x3a\x3c-\x7e]*$")
_COOKIE_DOMAIN = re.compile(
    r"^\.?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_CSS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
# Theme values end up inside a CSS declaration: nothing that could close it or the <style>.
_CSS_UNSAFE = re.compile(r"[;{}<>\\\"\n\r]")


@dataclass(frozen=True)
class Problem:
    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.key or "(top level)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy that cannot be used; ``problems`` lists every mistake found.

    ``key`` and ``line`` are those of the first problem.
    """

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        if not problems:
            raise ValueError("PolicyError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        self.key: str = self.problems[0].key
        self.line: int | None = self.problems[0].line
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return prefix + str(self.problems[0])
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"{prefix}{len(self.problems)} problems in the policy:\n{listed}"


# -- entry points ---------------------------------------------------------------------------------
def load_file(path: str | Path) -> Policy:
    """Read a ``consentgate.toml``; ``PolicyError`` names the key and line of every mistake."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError([Problem("", None, f"cannot read the policy: {exc}")], source=str(file)) from exc
    try:
        # (A byte order mark, which Windows editors write, is not part of the TOML.)
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8: byte 0x{raw[exc.start]:02x} (column {column}); save the file as UTF-8"
        raise PolicyError([Problem("", line, message)], source=str(file)) from exc
    return load_text(text, source=str(file))


def load_text(text: str, *, source: str | None = None) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        if match:
            message += f" (column {match.group(2)})"
        raise PolicyError([Problem("", line, f"not valid TOML: {message}")], source=source) from exc
    return _load(data, key_lines(text), source)


def load_dict(data: Mapping[str, object]) -> Policy:
    """Build a policy from parsed data; ``load_dict({})`` is the default policy."""
    return _load(data, {}, None)


def _load(data: Mapping[str, object], lines: Mapping[KeyPath, int], source: str | None) -> Policy:
    loader = _Loader(lines)
    policy = loader.policy(data)
    if loader.problems:
        # In file order, so the list reads top to bottom next to the file.
        problems = sorted(loader.problems, key=lambda p: p.line if p.line is not None else 0)
        raise PolicyError(problems, source=source)
    return policy


# -- helpers ----------------------------------------------------------------------------------
def dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            text += f".{shown}" if text else shown
    return text


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_MISSING = object()


class _Loader:
    def __init__(self, lines: Mapping[KeyPath, int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(dotted(path), line_of(self.lines, path), message))

    # -- typed access -------------------------------------------------------------------------
    def check_keys(self, table: Mapping[str, object], path: KeyPath, pattern: str) -> None:
        allowed = schema.children(pattern)
        for name in table:
            if name in allowed:
                continue
            elsewhere = [k.path for k in schema.SCHEMA if k.name == name and k.parent != pattern]
            hint = f"; it belongs in {elsewhere[0]!r}" if elsewhere else _suggest(name, allowed)
            where = f"[{pattern}]" if pattern else "the top level"
            self.error((*path, name), f"unknown key {name!r} in {where}{hint}")

    def table(self, parent: Mapping[str, object], path: KeyPath) -> Mapping[str, object]:
        value = parent.get(str(path[-1]), _MISSING)
        if value is _MISSING:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"expected a table, got {_type_name(value)}")
            return {}
        return value

    def value(self, table: Mapping[str, object], path: KeyPath, kind: type[T], default: T) -> T:
        value = table.get(str(path[-1]), _MISSING)
        if value is _MISSING:
            return default
        # bool is an int in Python; TOML keeps them apart and so do we.
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        expected = {str: "a string", bool: "a boolean", int: "an integer"}.get(kind, kind.__name__)
        self.error(path, f"expected {expected}, got {_type_name(value)}")
        return default

    def string(self, table: Mapping[str, object], path: KeyPath, default: str) -> str:
        return self.value(table, path, str, default)

    def boolean(self, table: Mapping[str, object], path: KeyPath, default: bool) -> bool:
        return self.value(table, path, bool, default)

    def choice(self, table: Mapping[str, object], path: KeyPath, default: L) -> L:
        """A string from the key's ``choices`` (which the schema takes from the model's Literal)."""
        value = self.string(table, path, default)
        choices = schema.keys_by_path()[self.pattern(path)].choices
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            self.error(path, f"{value!r} is not one of {listed}{_suggest(value, choices)}")
            return default
        return cast(L, value)

    def strings(self, table: Mapping[str, object], path: KeyPath) -> tuple[str, ...] | None:
        value = table.get(str(path[-1]), _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.error(path, f"expected an array of strings, got {_type_name(value)}")
            return None
        return tuple(str(item) for item in value)

    def duration(
        self, table: Mapping[str, object], path: KeyPath, default: int, *, cap: int | None = None
    ) -> int:
        value = table.get(str(path[-1]), _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                self.error(path, str(exc))
                return default
        else:
            self.error(path, f"expected a duration such as '6 months', got {_type_name(value)}")
            return default
        if seconds <= 0:
            self.error(path, "must be longer than zero")
            return default
        if cap is not None and seconds > cap:
            self.error(path, f"{value!r} is longer than {cap // DAY} days, the most browsers keep a cookie")
            return default
        return seconds

    def text(
        self, table: Mapping[str, object], path: KeyPath, default: Mapping[str, str]
    ) -> Mapping[str, str]:
        value = table.get(str(path[-1]), _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, str):
            return {**default, "en": value}
        if isinstance(value, Mapping):
            merged = dict(default)
            for locale, text in value.items():
                if not _LOCALE.match(locale):
                    self.error((*path, locale), f"{locale!r} is not a language tag such as 'de' or 'pt-BR'")
                elif not isinstance(text, str):
                    self.error((*path, locale), f"expected a string, got {_type_name(text)}")
                else:
                    merged[locale] = text
            return merged
        self.error(path, f"expected a string or a table of locale = text, got {_type_name(value)}")
        return default

    @staticmethod
    def pattern(path: KeyPath) -> str:
        """The schema path of a concrete key path: ("services", "x", "name") -> services.<id>.name."""
        parts: list[str] = []
        for part in path:
            if isinstance(part, int):
                parts[-1] += "[]"
                continue
            parent = ".".join(parts)
            if part not in schema.children(parent):
                wild = schema.wildcard_child(parent)
                if wild is not None:
                    parts.append(wild.name)
                    continue
            parts.append(part)
        return ".".join(parts)

    # -- the policy -------------------------------------------------------------------------------
    def policy(self, data: Mapping[str, object]) -> Policy:
        self.check_keys(data, (), "")
        defaults = Policy(categories=(), services=())
        choice_lifetime = self.duration(
            data, ("choice_lifetime",), defaults.choice_lifetime_seconds, cap=MAX_CHOICE_LIFETIME
        )
        categories = self.categories(data)
        first_party_hosts = self.hosts(data, ("first_party_hosts",))
        services = self.services(data, categories, first_party_hosts)
        languages = self.languages(data)
        fallback_language = defaults.default_language
        if languages and fallback_language not in languages:
            fallback_language = languages[0]
        default_language = self.string(data, ("default_language",), fallback_language)
        if not _LOCALE.match(default_language):
            self.error(("default_language",), f"{default_language!r} is not a language tag")
        elif languages and default_language not in languages:
            self.error(("default_language",), f"{default_language!r} is not in languages")
        uk_flagged = any(category.uk_statistics for category in categories)
        return Policy(
            categories=categories,
            services=services,
            version=self.string(data, ("version",), defaults.version),
            notice=self.notice(data),
            cookie=self.cookie_settings(data),
            choice_lifetime_seconds=choice_lifetime,
            unknown_third_party=self.choice(data, ("unknown_third_party",), defaults.unknown_third_party),
            unknown_cookies=self.choice(data, ("unknown_cookies",), defaults.unknown_cookies),
            first_party_hosts=first_party_hosts,
            controller=self.controller(data),
            regions=self.regions(data, choice_lifetime, uk_flagged),
            default_region_mode=self.choice(data, ("default_region_mode",), defaults.default_region_mode),
            gpc=self.boolean(data, ("gpc",), defaults.gpc),
            dnt=self.choice(data, ("dnt",), defaults.dnt),
            consent_mode=self.consent_mode(data),
            csp=self.choice(data, ("csp",), defaults.csp),
            theme=self.theme(data),
            languages=languages,
            default_language=default_language,
            cookie_wall=self.boolean(data, ("cookie_wall",), defaults.cookie_wall),
            audit_retention_seconds=self.audit_retention(data, defaults.audit_retention_seconds),
        )

    def audit_retention(self, data: Mapping[str, object], default: int) -> int:
        audit = self.table(data, ("audit",))
        self.check_keys(audit, ("audit",), "audit")
        return self.duration(audit, ("audit", "retention"), default)

    # -- categories ---------------------------------------------------------------------------
    def categories(self, data: Mapping[str, object]) -> tuple[Category, ...]:
        result: dict[str, Category] = {
            cid: Category(
                id=cid,
                label={"en": STANDARD_TEXTS[cid][0]},
                description={"en": STANDARD_TEXTS[cid][1]},
                required=cid == NECESSARY,
                consent_mode=STANDARD_CONSENT_MODE[cid],
            )
            for cid in STANDARD_CATEGORIES
        }
        table = self.table(data, ("categories",))
        for cid, body in table.items():
            path: KeyPath = ("categories", cid)
            if not _CATEGORY_ID.match(cid):
                self.error(path, f"{cid!r} is not a category id (lower-case letters, digits, '_', '-')")
                continue
            if not isinstance(body, Mapping):
                self.error(path, f"expected a table, got {_type_name(body)}")
                continue
            self.check_keys(body, path, "categories.<id>")
            base = result.get(cid)
            if base is None and "label" not in body:
                self.error((*path, "label"), "a new category needs a label")
            empty: Mapping[str, str] = {}
            required = self.boolean(body, (*path, "required"), base.required if base else False)
            if cid == NECESSARY and not required:
                self.error((*path, "required"), "the necessary category is always required")
                required = True
            uk_statistics = self.boolean(body, (*path, "uk_statistics"), False)
            if uk_statistics and (cid == NECESSARY or required):
                self.error(
                    (*path, "uk_statistics"), "a required category runs anyway; the flag means nothing here"
                )
                uk_statistics = False
            result[cid] = Category(
                id=cid,
                label=self.text(body, (*path, "label"), base.label if base else {"en": cid}),
                description=self.text(body, (*path, "description"), base.description if base else empty),
                required=required,
                uk_statistics=uk_statistics,
                consent_mode=self.consent_mode_types(body, (*path, "consent_mode"), base),
            )
        return tuple(result.values())

    def consent_mode_types(
        self, body: Mapping[str, object], path: KeyPath, base: Category | None
    ) -> tuple[str, ...]:
        types = self.strings(body, path)
        if types is None:
            return base.consent_mode if base else ()
        for index, kind in enumerate(types):
            if kind not in CONSENT_MODE_TYPES:
                self.error(
                    (*path, index), f"{kind!r} is not a Consent Mode type{_suggest(kind, CONSENT_MODE_TYPES)}"
                )
        return tuple(kind for kind in types if kind in CONSENT_MODE_TYPES)

    # -- services -----------------------------------------------------------------------------
    def services(
        self, data: Mapping[str, object], categories: tuple[Category, ...], first_party_hosts: tuple[str, ...]
    ) -> tuple[Service, ...]:
        category_ids = [c.id for c in categories]
        catalog = {service.id: service for service in load_catalog()}
        declared: dict[str, Service] = {}
        pulled: set[str] = set()
        table = self.table(data, ("services",))
        for sid, body in table.items():
            path: KeyPath = ("services", sid)
            if not _SERVICE_ID.match(sid):
                self.error(
                    path, f"{sid!r} is not a service id (letters, digits, '_', '.', ':', '-'; up to 64)"
                )
                continue
            if not isinstance(body, Mapping):
                self.error(path, f"expected a table, got {_type_name(body)}")
                continue
            if sid in category_ids:
                self.error(
                    path, f"{sid!r} is already a category id; consent records could not tell them apart"
                )
                continue
            self.check_keys(body, path, "services.<id>")
            service = self.service(sid, body, path, catalog)
            if service is None:
                continue
            declared[sid] = service
            pulled.add(str(body.get("catalog", sid)))
            if service.category not in category_ids:
                self.error(
                    (*path, "category"),
                    f"unknown category {service.category!r}{_suggest(service.category, category_ids)}",
                )
        self.check_clashes(declared)
        self.check_necessary(declared, table)
        self.check_cnil_exempt(declared, table, categories, first_party_hosts)
        include = self.boolean(data, ("include_catalog",), True)
        services = list(declared.values())
        if include:
            services += [entry for cid, entry in catalog.items() if cid not in pulled]
        self.check_uk_statistics(categories, services, data)
        return tuple(services)

    def service(
        self, sid: str, body: Mapping[str, object], path: KeyPath, catalog: Mapping[str, Service]
    ) -> Service | None:
        base: Service | None = catalog.get(sid)
        catalog_id = self.string(body, (*path, "catalog"), "")
        if catalog_id:
            base = catalog.get(catalog_id)
            if base is None:
                self.error(
                    (*path, "catalog"), f"no catalog entry {catalog_id!r}{_suggest(catalog_id, catalog)}"
                )
                return None
        if base is None and "category" not in body:
            self.error(path, 'a service needs a category (or catalog = "<catalog id>")')
            return None
        if base is None:
            base = Service(id=sid, name=sid, category="")
        cookies = self.cookies(body, path)
        hosts = self.hosts(body, (*path, "hosts")) if "hosts" in body else base.hosts
        signatures = self.strings(body, (*path, "signatures"))
        for index, signature in enumerate(signatures or ()):
            if not signature.strip():
                self.error((*path, "signatures", index), "an empty signature would match every script")
        purposes = self.strings(body, (*path, "purposes"))
        return replace(
            base,
            id=sid,
            name=self.string(body, (*path, "name"), base.name if base.name != base.id else sid),
            category=self.string(body, (*path, "category"), base.category),
            provider=self.string(body, (*path, "provider"), base.provider),
            purposes=base.purposes if purposes is None else purposes,
            description=self.string(body, (*path, "description"), base.description),
            privacy_url=self.string(body, (*path, "privacy_url"), base.privacy_url),
            cookies=base.cookies if cookies is None else cookies,
            hosts=hosts,
            signatures=base.signatures if signatures is None else signatures,
            justification=self.string(body, (*path, "justification"), base.justification),
            sale_share=self.boolean(body, (*path, "sale_share"), base.sale_share),
            cnil_exempt_audience=self.cnil_conditions(body, (*path, "cnil_exempt_audience")),
            # The site named it: its hosts and cookies are part of what visitors consent to.
            origin="policy",
        )

    def cnil_conditions(self, body: Mapping[str, object], path: KeyPath) -> bool:
        """The CNIL exemption holds only when the site asserts every condition, each ``true``."""
        value = body.get(str(path[-1]), _MISSING)
        if value is _MISSING or value is False:
            return False
        listed = ", ".join(name for name, _ in CNIL_CONDITIONS)
        if not isinstance(value, Mapping):
            self.error(path, f"expected a table asserting each CNIL condition = true ({listed})")
            return False
        before = len(self.problems)
        self.check_keys(value, path, "services.<id>.cnil_exempt_audience")
        for name, meaning in CNIL_CONDITIONS:
            asserted = self.value(value, (*path, name), bool, False)
            if name not in value:
                self.error(
                    (*path, name),
                    f"missing: the CNIL exemption needs every condition asserted true; {name} "
                    f"means: {meaning}",
                )
            elif not asserted and isinstance(value[name], bool):
                self.error(
                    (*path, name),
                    f"false: without this condition the exemption does not apply and the service "
                    f"needs consent (remove cnil_exempt_audience); {name} means: {meaning}",
                )
        return len(self.problems) == before

    def check_cnil_exempt(
        self,
        declared: Mapping[str, Service],
        table: Mapping[str, object],
        categories: Sequence[Category],
        first_party_hosts: Sequence[str],
    ) -> None:
        """What consentgate can verify of the exemption: first-party measurement, no advertising."""
        by_id = {category.id: category for category in categories}
        own_sites = {registrable_domain(host) for host in first_party_hosts}
        for service in declared.values():
            if not service.cnil_exempt_audience:
                continue
            path: KeyPath = ("services", service.id)
            flag: KeyPath = (*path, "cnil_exempt_audience")
            category = by_id.get(service.category)
            if category is not None and (
                category.id == "marketing" or AD_CONSENT_MODE_TYPES & set(category.consent_mode)
            ):
                self.error(
                    flag,
                    f"the CNIL exemption covers audience measurement, never advertising; category "
                    f"{category.id!r} is advertising (move the service to analytics)",
                )
            elif category is not None and (category.required or category.id == NECESSARY):
                self.error(flag, f"category {category.id!r} runs anyway; the flag means nothing there")
            if service.sale_share:
                self.error(
                    flag,
                    "a sale_share service passes data to third parties for their own purposes; "
                    "the CNIL exemption excludes that",
                )
            body = table.get(service.id)
            catalog_id = body.get("catalog") if isinstance(body, Mapping) else None
            known = {tracker_category_of(service.id)}
            if isinstance(catalog_id, str):
                known.add(tracker_category_of(catalog_id))
            if "marketing" in known:
                self.error(flag, f"the catalog knows {service.id!r} as advertising; it cannot be exempt")
            if service.hosts and not first_party_hosts:
                self.error(
                    (*path, "hosts"),
                    "the CNIL exemption is for first-party measurement: set first_party_hosts to "
                    "the site's own hosts so its hosts can be checked",
                )
            for index, host in enumerate(service.hosts if first_party_hosts else ()):
                if registrable_domain(host) not in own_sites:
                    self.error(
                        (*path, "hosts", index),
                        f"host {host!r} is not on the site's own domain ({', '.join(sorted(own_sites))}): "
                        "the CNIL exemption covers first-party measurement (e.g. a self-hosted "
                        "Matomo on stats.<your domain>), not a third party's host",
                    )
                elif any(host == own or host.endswith("." + own) for own in first_party_hosts):
                    self.error(
                        (*path, "hosts", index),
                        f"host {host!r} is covered by first_party_hosts, so it is never blocked: "
                        "outside France it would run without consent. List the site's own hosts "
                        "more narrowly in first_party_hosts (e.g. 'www.example.com')",
                    )
            for index, spec in enumerate(service.cookies):
                cookie_path: KeyPath = (*path, "cookies", index)
                if spec.third_party:
                    self.error(
                        (*cookie_path, "third_party"),
                        f"cookie {spec.name!r} is a third-party cookie; the CNIL exemption allows "
                        "first-party cookies only",
                    )
                if (
                    spec.domain
                    and first_party_hosts
                    and registrable_domain(spec.domain.lstrip(".")) not in own_sites
                ):
                    self.error(
                        (*cookie_path, "domain"),
                        f"cookie domain {spec.domain!r} is not the site's own; the CNIL exemption "
                        "allows first-party cookies only",
                    )
                # 13 calendar months last 393 to 397 days: "13 months" written any way passes.
                forever = spec.lifetime_seconds is None and spec.lifetime != "session"
                if forever or (spec.lifetime_seconds or 0) > CNIL_LONGEST_13_MONTHS:
                    self.error(
                        (*cookie_path, "lifetime"),
                        f"cookie {spec.name!r} lives {spec.lifetime}, longer than the 13 months the "
                        "CNIL exemption allows; declare the cookies the tool really sets "
                        "(cookies = [...]) with lifetimes of 13 months at most",
                    )

    def cookies(self, body: Mapping[str, object], path: KeyPath) -> tuple[CookieSpec, ...] | None:
        value = body.get("cookies", _MISSING)
        if value is _MISSING:
            return None
        path = (*path, "cookies")
        if not isinstance(value, list):
            self.error(path, f"expected an array of tables ([[...cookies]]), got {_type_name(value)}")
            return None
        specs: list[CookieSpec] = []
        for index, item in enumerate(value):
            item_path: KeyPath = (*path, index)
            if not isinstance(item, Mapping):
                self.error(item_path, f"expected a table, got {_type_name(item)}")
                continue
            self.check_keys(item, item_path, "services.<id>.cookies[]")
            spec = self.cookie_spec(item, item_path)
            if spec is not None:
                specs.append(spec)
        return tuple(specs)

    def cookie_spec(self, item: Mapping[str, object], path: KeyPath) -> CookieSpec | None:
        name = self.string(item, (*path, "name"), "")
        pattern = self.string(item, (*path, "pattern"), "")
        if bool(name) == bool(pattern):
            self.error(path, "give exactly one of name (a literal cookie name) or pattern (a regex)")
            return None
        if name and not _COOKIE_NAME.match(name):
            self.error((*path, "name"), f"{name!r} is not a cookie name (use pattern for a regex)")
            return None
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.error((*path, "pattern"), f"not a valid regular expression: {exc}")
                return None
        lifetime_path = (*path, "lifetime")
        raw_lifetime = item.get("lifetime", "session")
        lifetime_seconds: int | None = None
        lifetime = "session"
        if raw_lifetime != "session":
            lifetime_seconds = self.duration(item, lifetime_path, 0)
            lifetime = raw_lifetime if isinstance(raw_lifetime, str) else f"{lifetime_seconds} seconds"
        domain = self.string(item, (*path, "domain"), "").strip().lower()
        if domain and not _COOKIE_DOMAIN.match(domain):
            self.error((*path, "domain"), f"{domain!r} is not a host name (e.g. example.com or .example.com)")
            return None
        cookie_path = self.string(item, (*path, "path"), "/")
        if not _COOKIE_PATH.match(cookie_path):
            self.error(
                (*path, "path"),
                f"{cookie_path!r} is not a cookie path: it starts with '/' and has no ';', ',', space or control character",
            )
            return None
        return CookieSpec(
            name=name or pattern,
            is_regex=bool(pattern),
            domain=domain or None,
            path=cookie_path,
            lifetime=lifetime,
            lifetime_seconds=lifetime_seconds,
            description=self.string(item, (*path, "description"), ""),
            third_party=self.boolean(item, (*path, "third_party"), False),
        )

    def hosts(self, table: Mapping[str, object], path: KeyPath) -> tuple[str, ...]:
        hosts = self.strings(table, path) or ()
        result: list[str] = []
        for index, host in enumerate(hosts):
            normal = host.strip().lower().rstrip(".")
            if "/" in normal or ":" in normal:
                self.error((*path, index), f"{host!r}: give the host name only, without scheme, port or path")
            elif not _HOST.match(normal):
                self.error((*path, index), f"{host!r} is not a host name")
            else:
                result.append(normal)
        return tuple(result)

    def check_clashes(self, declared: Mapping[str, Service]) -> None:
        """The same cookie or host claimed for two categories makes blocking ambiguous."""
        cookie_owner: dict[str, Service] = {}
        host_owner: dict[str, Service] = {}
        for service in declared.values():
            for index, spec in enumerate(service.cookies):
                other = cookie_owner.setdefault(spec.name, service) if not spec.is_regex else service
                if other.category != service.category:
                    self.error(
                        ("services", service.id, "cookies", index),
                        f"cookie {spec.name!r} is also declared by {other.id!r} in category "
                        f"{other.category!r}; one cookie needs one category",
                    )
            for index, host in enumerate(service.hosts):
                other = host_owner.setdefault(host, service)
                if other.category != service.category:
                    self.error(
                        ("services", service.id, "hosts", index),
                        f"host {host!r} is also declared by {other.id!r} in category "
                        f"{other.category!r}; one host needs one category",
                    )

    def check_necessary(self, declared: Mapping[str, Service], table: Mapping[str, object]) -> None:
        for service in declared.values():
            if service.category != NECESSARY:
                continue
            path: KeyPath = ("services", service.id)
            body = table.get(service.id)
            catalog_id = body.get("catalog") if isinstance(body, Mapping) else None
            known = {tracker_category_of(service.id)}
            if isinstance(catalog_id, str):
                known.add(tracker_category_of(catalog_id))
            tracking = sorted(k for k in known if k in TRACKING_CATEGORIES)
            if tracking:
                self.error(
                    (*path, "category"),
                    f"the catalog knows {service.id!r} as {tracking[0]}; a tracker is never "
                    "strictly necessary and needs consent",
                )
            if not service.justification.strip():
                self.error(
                    (*path, "justification"),
                    "a service in necessary runs without consent: say why it is strictly "
                    'necessary (justification = "...")',
                )
            for index, spec in enumerate(service.cookies):
                kind = None if spec.is_regex else cookie_tracker_category(spec.name)
                if kind in TRACKING_CATEGORIES:
                    self.error(
                        (*path, "cookies", index, "name"),
                        f"cookie {spec.name!r} is a known {kind} cookie; it cannot be necessary",
                    )
            for index, host in enumerate(service.hosts):
                kind = host_tracker_category(host)
                if kind in TRACKING_CATEGORIES:
                    self.error(
                        (*path, "hosts", index),
                        f"host {host!r} is a known {kind} tracker; it cannot be necessary",
                    )

    def check_uk_statistics(
        self, categories: Sequence[Category], services: Sequence[Service], data: Mapping[str, object]
    ) -> None:
        for category in categories:
            if not category.uk_statistics:
                continue
            path: KeyPath = ("categories", category.id, "uk_statistics")
            if category.id == "marketing":
                self.error(path, "the UK statistics exception never covers marketing")
                continue
            advertising = sorted(
                s.id
                for s in services
                if s.category == category.id and (s.sale_share or tracker_category_of(s.id) == "marketing")
            )
            if advertising:
                shown = ", ".join(advertising[:5]) + (" …" if len(advertising) > 5 else "")
                self.error(
                    path,
                    "the UK statistics exception does not cover advertising or data a vendor "
                    f"uses for its own purposes; this category holds {shown} (move them, or "
                    "set include_catalog = false if they come from the catalog)",
                )

    # -- regions ------------------------------------------------------------------------------
    def regions(
        self, data: Mapping[str, object], choice_lifetime: int, uk_flagged: bool
    ) -> dict[str, RegionRule]:
        rules = regions.default_rules(choice_lifetime, uk_statistics=uk_flagged)
        table = self.table(data, ("regions",))
        entries: list[tuple[str, tuple[str, ...], RegionRule]] = []
        for code, value in table.items():
            path: KeyPath = ("regions", code)
            try:
                codes = regions.expand(code)
            except ValueError as exc:
                self.error(path, str(exc))
                continue
            rule = self.region_rule(value, path, choice_lifetime)
            if rule is None:
                continue
            if rule.mode == "uk_statistics" and any(c != "GB" and not c.startswith("GB-") for c in codes):
                self.error(path, "uk_statistics is UK law (PECR Sch. A1); use it for GB only")
                continue
            entries.append((code, codes, rule))
        for _, codes, rule in sorted(entries, key=lambda entry: regions.specificity(entry[0])):
            rules.update(dict.fromkeys(codes, rule))
        return rules

    def region_rule(self, value: object, path: KeyPath, choice_lifetime: int) -> RegionRule | None:
        if isinstance(value, str):
            value = {"mode": value}
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mode string or a table, got {_type_name(value)}")
            return None
        self.check_keys(value, path, "regions.<code>")
        if "mode" not in value:
            self.error(path, f"a region rule needs a mode ({', '.join(schema.REGION_MODES)})")
            return None
        before = len(self.problems)
        no_mode: RegionMode = "opt_in"
        no_banner: BannerPosition = "bottom"
        mode = self.choice(value, (*path, "mode"), no_mode)
        lifetime = self.duration(value, (*path, "lifetime"), choice_lifetime, cap=MAX_CHOICE_LIFETIME)
        remember_reject = self.boolean(value, (*path, "remember_reject"), True)
        banner = self.choice(value, (*path, "banner"), no_banner) if "banner" in value else None
        link = self.string(value, (*path, "choices_link_text"), "")
        if len(self.problems) > before:
            return None
        return RegionRule(
            mode=mode,
            choice_lifetime_seconds=lifetime,
            remember_reject=remember_reject,
            banner=banner,
            choices_link_text=link,
        )

    # -- the small tables -----------------------------------------------------------------------
    def cookie_settings(self, data: Mapping[str, object]) -> CookieSettings:
        table = self.table(data, ("cookie",))
        self.check_keys(table, ("cookie",), "cookie")
        defaults = CookieSettings()
        name = self.string(table, ("cookie", "name"), defaults.name)
        if not _COOKIE_NAME.match(name):
            self.error(("cookie", "name"), f"{name!r} is not a cookie name")
        elif name.lower().startswith(("__host-", "__secure-")):
            self.error(("cookie", "name"), "leave out the prefix: consentgate adds __Host- itself")
        domain = self.string(table, ("cookie", "domain"), "").strip().lower().lstrip(".")
        if domain and not _HOST.match(domain):
            self.error(("cookie", "domain"), f"{domain!r} is not a domain name")
        secure = self.choice(table, ("cookie", "secure"), defaults.secure)
        same_site = self.choice(table, ("cookie", "same_site"), defaults.same_site)
        if same_site == "none" and secure == "never":
            self.error(("cookie", "same_site"), "browsers drop SameSite=None cookies without Secure")
        return CookieSettings(name=name, secure=secure, domain=domain or None, same_site=same_site)

    def controller(self, data: Mapping[str, object]) -> Controller:
        table = self.table(data, ("controller",))
        self.check_keys(table, ("controller",), "controller")
        defaults = Controller()
        return Controller(
            name=self.string(table, ("controller", "name"), defaults.name),
            address=self.string(table, ("controller", "address"), defaults.address),
            contact=self.string(table, ("controller", "contact"), defaults.contact),
            privacy_url=self.string(table, ("controller", "privacy_url"), defaults.privacy_url),
        )

    def consent_mode(self, data: Mapping[str, object]) -> ConsentModeSettings:
        table = self.table(data, ("consent_mode",))
        self.check_keys(table, ("consent_mode",), "consent_mode")
        defaults = ConsentModeSettings()
        wait = self.value(table, ("consent_mode", "wait_for_update_ms"), int, defaults.wait_for_update_ms)
        if not 0 <= wait <= 10_000:
            self.error(("consent_mode", "wait_for_update_ms"), "must be between 0 and 10000 milliseconds")
            wait = defaults.wait_for_update_ms
        return ConsentModeSettings(
            mode=self.choice(table, ("consent_mode", "mode"), defaults.mode),
            wait_for_update_ms=wait,
            url_passthrough=self.boolean(
                table, ("consent_mode", "url_passthrough"), defaults.url_passthrough
            ),
            ads_data_redaction=self.boolean(
                table, ("consent_mode", "ads_data_redaction"), defaults.ads_data_redaction
            ),
        )

    def theme(self, data: Mapping[str, object]) -> Theme:
        table = self.table(data, ("theme",))
        self.check_keys(table, ("theme",), "theme")
        defaults = Theme()
        return Theme(
            position=self.choice(table, ("theme", "position"), defaults.position),
            radius=self.css_value(table, ("theme", "radius"), defaults.radius),
            font=self.css_value(table, ("theme", "font"), defaults.font),
            light=self.palette(table, ("theme", "light")),
            dark=self.palette(table, ("theme", "dark")),
        )

    def css_value(self, table: Mapping[str, object], path: KeyPath, default: str) -> str:
        value = self.string(table, path, default)
        if _CSS_UNSAFE.search(value):
            self.error(path, 'CSS values may not contain ; { } < > \\ " or line breaks')
            return default
        return value

    def palette(self, table: Mapping[str, object], path: KeyPath) -> dict[str, str]:
        palette = self.table(table, path)
        result: dict[str, str] = {}
        for name in palette:
            if not _CSS_NAME.match(name):
                self.error((*path, name), f"{name!r} is not a custom property name (a-z, 0-9, '-')")
                continue
            result[name] = self.css_value(palette, (*path, name), "")
        return result

    def notice(self, data: Mapping[str, object]) -> dict[str, dict[str, str]]:
        table = self.table(data, ("notice",))
        result: dict[str, dict[str, str]] = {}
        for locale in table:
            path: KeyPath = ("notice", locale)
            if not _LOCALE.match(locale):
                self.error(path, f"{locale!r} is not a language tag such as 'de' or 'pt-BR'")
                continue
            texts = self.table(table, path)
            result[locale] = {}
            for key in texts:
                text = self.string(texts, (*path, key), "")
                if text:
                    result[locale][key] = text
        return result

    def languages(self, data: Mapping[str, object]) -> tuple[str, ...]:
        languages = self.strings(data, ("languages",)) or ()
        for index, tag in enumerate(languages):
            if not _LOCALE.match(tag):
                self.error(("languages", index), f"{tag!r} is not a language tag such as 'de' or 'pt-BR'")
        return tuple(tag for tag in languages if _LOCALE.match(tag))
