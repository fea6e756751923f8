"""Every key of ``consentgate.toml``, once: kind, default, documentation and an example.

The loader takes the allowed keys of each table from here (so an unknown key is refused with a
suggestion), and ``docs/configuration.md`` embeds ``render_reference()`` (a test keeps them
equal). Regenerate the doc block with ``python -m consentgate.policy.schema docs/configuration.md``.

Key paths use ``<name>`` for a segment the site chooses (a category id, a locale, a region code)
and ``[]`` for an array of tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Literal, get_args

from consentgate.policy.model import (
    CNIL_CONDITIONS,
    CONSENT_MODE_TYPES,
    BannerPosition,
    ConsentModeKind,
    CspMode,
    DntMode,
    RegionMode,
    SameSite,
    SecureMode,
    Theme,
    UnknownMode,
)

Kind = Literal[
    "string",
    "boolean",
    "integer",
    "duration",  # "13 months", "30 days", "2h" or an integer number of seconds
    "cookie_lifetime",  # a duration or "session"
    "enum",
    "strings",  # array of strings
    "text",  # a string (English) or a table locale -> string
    "table",  # a table whose keys are listed below it
    "tables",  # an array of tables
    "map",  # a table of free-form names -> strings
    "region",  # a mode string or a table
]

BEGIN_MARK = "<!-- BEGIN GENERATED: consentgate.policy.schema (do not edit by hand) -->"
END_MARK = "<!-- END GENERATED -->"


@dataclass(frozen=True)
class Key:
    path: str
    kind: Kind
    default: str  # as the docs show it; "" when there is none
    doc: str
    example: str  # a TOML value (or a table body for tables) that loads
    choices: tuple[str, ...] = ()

    @property
    def parent(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def type_text(self) -> str:
        if self.kind == "enum":
            return "one of " + ", ".join(f'`"{c}"`' for c in self.choices)
        return _TYPE_TEXT[self.kind]


_TYPE_TEXT: dict[str, str] = {
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "duration": 'duration (`"6 months"`, `"30 days"`, `"2h"` or seconds)',
    "cookie_lifetime": 'duration or `"session"`',
    "strings": "array of strings",
    "text": "string, or table of locale → string",
    "table": "table",
    "tables": "array of tables",
    "map": "table of name → string",
    "region": "mode string, or table (`mode`, `lifetime`, …)",
}


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _choices(literal: object) -> tuple[str, ...]:
    return tuple(str(arg) for arg in get_args(literal))


UNKNOWN_MODES = _choices(UnknownMode)
REGION_MODES = _choices(RegionMode)

# fmt: off
SCHEMA: tuple[Key, ...] = (
    # -- top level ---------------------------------------------------------------------------
    Key("version", "string", '"1"',
        "Your own label for this policy revision; recorded with every consent event.",
        '"2026-11"'),
    Key("include_catalog", "boolean", "true",
        "Add every service of the built-in tracker catalog in its catalog category, so known "
        "trackers are recognised without listing them.",
        "false"),
    Key("choice_lifetime", "duration", '"183 days"',
        "How long a choice (acceptance and refusal alike) is kept before the banner asks again, "
        "where a region rule sets no lifetime. CNIL: 6 months is good practice; browsers cap "
        "cookies at 400 days.",
        '"6 months"'),
    Key("unknown_third_party", "enum", '"report"',
        "What to do with a third-party script, frame or pixel that no service claims: let it "
        "run, block it, or let it run and report it. Blocked, it counts as the most sensitive "
        "optional category (marketing): \"Accept all\", or \"Load content\" on its placeholder, "
        "lets it load.",
        '"block"', UNKNOWN_MODES),
    Key("unknown_cookies", "enum", '"report"',
        "What to do with a `Set-Cookie` that no service claims.",
        '"block"', UNKNOWN_MODES),
    Key("first_party_hosts", "strings", "[]",
        "Hosts that belong to the site (subdomains included); never treated as third parties.",
        '["example.com", "cdn.example.net"]'),
    Key("default_region_mode", "enum", '"opt_in"',
        "The mode for a visitor whose region is unknown or has no rule. Opt-in is the strict, "
        "safe choice.",
        '"notice"', REGION_MODES),
    Key("gpc", "boolean", "true",
        "Honour the Global Privacy Control signal (`Sec-GPC: 1`): an opt-out of sale/sharing "
        "in opt-out regions, and a standing objection to marketing in opt-in regions.",
        "false"),
    Key("dnt", "enum", '"auto"',
        "`DNT: 1`: treat like GPC, ignore, or `auto` (like GPC in opt-in regions, logged only "
        "elsewhere).",
        '"ignore"', _choices(DntMode)),
    Key("csp", "enum", '"report-only"',
        "Content-Security-Policy that backs up the HTML rewriting.",
        '"enforce"', _choices(CspMode)),
    Key("languages", "strings", "[]",
        "Languages the banner offers (BCP 47 tags, e.g. `de`, `pt-BR`); empty means every "
        "built-in language.",
        '["en", "de", "fr"]'),
    Key("default_language", "string", '"en"',
        "Language used when the visitor's `Accept-Language` matches none of `languages` "
        "(default: `en`, or the first of `languages` when that lacks `en`).",
        '"de"'),
    Key("cookie_wall", "boolean", "false",
        "Block the page until a choice is made. Most EU regulators reject cookie walls; leave "
        "this off unless your lawyer says otherwise.",
        "true"),
    # -- [audit] -----------------------------------------------------------------------------
    Key("audit", "table", "", "The audit log of consent events.", 'retention = "5 years"'),
    Key("audit.retention", "duration", '"3 years"',
        "How long consent records are kept (GDPR art. 7(1) proof; CCPA needs ≥ 24 months): "
        "`consentgate audit purge --policy FILE` deletes by it.",
        '"5 years"'),
    # -- [cookie] ----------------------------------------------------------------------------
    Key("cookie", "table", "", "The consent cookie.", 'name = "cg"'),
    Key("cookie.name", "string", '"consentgate"',
        "Cookie name; gets the `__Host-` prefix when sent over HTTPS without `domain`.",
        '"site_consent"'),
    Key("cookie.secure", "enum", '"auto"',
        "`auto`: `Secure` (and the `__Host-` prefix) when the request is HTTPS.",
        '"always"', _choices(SecureMode)),
    Key("cookie.domain", "string", "(none)",
        "Share the choice across subdomains (`Domain=` attribute; drops the `__Host-` prefix).",
        '"example.com"'),
    Key("cookie.same_site", "enum", '"lax"',
        "`SameSite` attribute; `none` needs `secure` other than `never`.",
        '"strict"', _choices(SameSite)),
    # -- [controller] ------------------------------------------------------------------------
    Key("controller", "table", "",
        "The data controller named in the preference centre (GDPR art. 13(1)(a)).",
        'name = "Example Ltd"'),
    Key("controller.name", "string", '""', "Legal name.", '"Example Ltd"'),
    Key("controller.address", "string", '""', "Postal address.", '"1 Main Street, Dublin"'),
    Key("controller.contact", "string", '""', "E-mail or page for privacy requests.",
        '"privacy@example.com"'),
    Key("controller.privacy_url", "string", '"/privacy"', "Link to the privacy notice.",
        '"https://example.com/privacy"'),
    # -- [consent_mode] ----------------------------------------------------------------------
    Key("consent_mode", "table", "", "Google Consent Mode v2.", 'mode = "basic"'),
    Key("consent_mode.mode", "enum", '"off"',
        "`basic`: Google tags stay blocked until consent and get the consent state; "
        "`advanced`: tags load with everything denied (a risk decision in opt-in regions).",
        '"basic"', _choices(ConsentModeKind)),
    Key("consent_mode.wait_for_update_ms", "integer", "500",
        "`wait_for_update` sent with the default while no choice exists.", "800"),
    Key("consent_mode.url_passthrough", "boolean", "false",
        "Carry ad-click identifiers in URLs when ad storage is denied.", "true"),
    Key("consent_mode.ads_data_redaction", "boolean", "true",
        "Redact ads data while ad storage is denied.", "false"),
    # -- [theme] -----------------------------------------------------------------------------
    Key("theme", "table", "", "Banner look.", 'position = "box"'),
    Key("theme.position", "enum", '"bottom"', "Where the banner sits.", '"box"',
        _choices(BannerPosition)),
    Key("theme.radius", "string", '"8px"', "Corner radius (CSS length).", '"4px"'),
    Key("theme.font", "string", _toml_string(Theme().font), "CSS font stack (served first-party only).",
        '"Georgia, serif"'),
    Key("theme.light", "map", "{}",
        "Light palette: custom property name (without `--cg-`) → CSS colour.",
        '{ accent = "#0050b3", bg = "#ffffff" }'),
    Key("theme.dark", "map", "{}", "Dark palette, same names as `light`.",
        '{ accent = "#7fb2ff" }'),
    # -- [notice.<locale>] ---------------------------------------------------------------------
    Key("notice", "table", "",
        "Notice texts per locale, replacing the built-in UI strings.",
        'en = { banner_title = "Your privacy" }'),
    Key("notice.<locale>", "map", "{}",
        "Message key → text for one locale (e.g. `banner_title`, `banner_text`). The exact "
        "texts shown are hashed into each consent record.",
        '{ banner_title = "Ihre Privatsphäre" }'),
    # -- [categories.<id>] ---------------------------------------------------------------------
    Key("categories", "table", "",
        "Purpose categories. `necessary`, `preferences`, `analytics` and `marketing` always "
        "exist and come first; tables with those names change them, other names add categories "
        "(shown after the four, in file order).",
        'analytics = { uk_statistics = true }'),
    Key("categories.<id>", "table", "", "One category.", 'label = "Statistics"'),
    Key("categories.<id>.label", "text", "(built-in for the standard four)",
        "Name shown in the banner.", '{ en = "Statistics", de = "Statistik" }'),
    Key("categories.<id>.description", "text", "(built-in for the standard four)",
        "What the category is for, in plain words.",
        '"Counts visits so we can improve the site."'),
    Key("categories.<id>.required", "boolean", "false (true for `necessary`)",
        "Always on; the visitor cannot refuse it. Only strictly necessary storage qualifies.",
        "false"),
    Key("categories.<id>.uk_statistics", "boolean", "false",
        "UK only (PECR Sch. A1, DUAA 2025): first-party statistics may run before a choice in "
        "`uk_statistics` regions, with notice and an objection toggle. Refused on a category "
        "holding advertising services.",
        "true"),
    Key("categories.<id>.consent_mode", "strings", "(standard mapping)",
        "Google Consent Mode types this category grants: "
        + ", ".join(f"`{t}`" for t in CONSENT_MODE_TYPES) + ".",
        '["analytics_storage"]'),
    # -- [services.<id>] -----------------------------------------------------------------------
    Key("services", "table", "",
        "Services (vendors, tools) the site uses. A service named like a catalog entry, or "
        "with `catalog = \"id\"`, starts from the catalog entry; every key given overrides it.",
        '"google-analytics" = { catalog = "google-analytics" }'),
    Key("services.<id>", "table", "", "One service; `<id>` is what consent records name.",
        'name = "Matomo"\ncategory = "analytics"'),
    Key("services.<id>.catalog", "string", "(none)",
        "Start from this catalog entry (see `consentgate catalog`).", '"google-analytics"'),
    Key("services.<id>.name", "string", "(the id)", "Display name.", '"Matomo"'),
    Key("services.<id>.category", "string", "(required unless from the catalog)",
        "Category id the service belongs to.", '"analytics"'),
    Key("services.<id>.provider", "string", '""', "Company that runs it.",
        '"InnoCraft Ltd"'),
    Key("services.<id>.purposes", "strings", "[]", "What the data is used for.",
        '["audience measurement"]'),
    Key("services.<id>.description", "string", '""', "Shown in the preference centre.",
        '"Counts page views."'),
    Key("services.<id>.privacy_url", "string", '""', "Provider's privacy notice.",
        '"https://matomo.org/privacy-policy/"'),
    Key("services.<id>.hosts", "strings", "[]",
        "Hosts it loads from (subdomains match too).", '["matomo.example.com"]'),
    Key("services.<id>.signatures", "strings", "[]",
        "Literal substrings that identify its inline scripts.", '["_paq.push"]'),
    Key("services.<id>.justification", "string", '""',
        "Why the service is strictly necessary; required for every service in `necessary`.",
        '"Keeps the shopping cart between pages."'),
    Key("services.<id>.sale_share", "boolean", "false",
        "CCPA/CPRA sale, sharing or targeted advertising: blocked by a US opt-out or GPC.",
        "true"),
    Key("services.<id>.cnil_exempt_audience", "table", "(none)",
        "France only (CNIL audience-measurement exemption): the service runs before a choice for "
        "visitors in France and its overseas territories, listed in the banner with an objection "
        "switch; \"Reject all\" objects too. Every condition below must be asserted `true`. "
        "Refused on advertising categories, `sale_share` services, third-party hosts and "
        "third-party cookies; its cookies are capped at 13 months (393 days). See regions.md.",
        "{ " + ", ".join(f"{name} = true" for name, _ in CNIL_CONDITIONS) + " }"),
    *(Key(f"services.<id>.cnil_exempt_audience.{name}", "boolean", "(required)", meaning, "true")
      for name, meaning in CNIL_CONDITIONS),
    Key("services.<id>.cookies", "tables", "[]",
        "Cookies it sets (`[[services.<id>.cookies]]`).", '[{ name = "_pk_id" }]'),
    Key("services.<id>.cookies[].name", "string", "",
        "Literal cookie name (give `name` or `pattern`).", '"_pk_ses"'),
    Key("services.<id>.cookies[].pattern", "string", "",
        "Regular expression matching the whole cookie name.", '"_pk_id\\\\..*"'),
    Key("services.<id>.cookies[].domain", "string", "(none)", "Domain the cookie is set on.",
        '".example.com"'),
    Key("services.<id>.cookies[].path", "string", '"/"', "Cookie path.", '"/shop"'),
    Key("services.<id>.cookies[].lifetime", "cookie_lifetime", '"session"',
        "How long it lives.", '"13 months"'),
    Key("services.<id>.cookies[].description", "string", '""', "What it stores.",
        '"Visitor id"'),
    Key("services.<id>.cookies[].third_party", "boolean", "false",
        "Set by another site (in a frame or request), not by this one.", "true"),
    # -- [regions] -----------------------------------------------------------------------------
    Key("regions", "table", "(see below)",
        "Region code → rule. Codes are ISO 3166-1 (`FR`) or ISO 3166-2 (`US-CA`); the groups "
        "`EU` and `EEA` expand to their member states. A subdivision falls back to its country, "
        "then to `default_region_mode`. Your entries replace the built-in ones code by code.",
        '"US-CA" = "opt_out"'),
    Key("regions.<code>", "region", "",
        "A mode (`" + "`, `".join(REGION_MODES) + "`), or a table with the keys below.",
        '{ mode = "opt_out", lifetime = "13 months" }'),
    Key("regions.<code>.mode", "enum", "", "Consent model for the region.", '"opt_in"',
        REGION_MODES),
    Key("regions.<code>.lifetime", "duration", "(`choice_lifetime`)",
        "How long a choice made there is kept.", '"12 months"'),
    Key("regions.<code>.remember_reject", "boolean", "true",
        "Keep a refusal as long as an acceptance (do not re-ask after a refusal).", "false"),
    Key("regions.<code>.banner", "enum", "(`theme.position`)", "Banner position there.",
        '"center"', _choices(BannerPosition)),
    Key("regions.<code>.choices_link_text", "string", '""',
        "Text of the persistent opt-out link (US: \"Your Privacy Choices\").",
        '"Do Not Sell or Share My Personal Information"'),
)
# fmt: on


@cache
def keys_by_path() -> dict[str, Key]:
    return {key.path: key for key in SCHEMA}


@cache
def children(parent: str) -> dict[str, Key]:
    """Keys allowed directly inside the table ``parent`` ("" for the top level)."""
    return {key.name: key for key in SCHEMA if key.parent == parent and not _is_wild(key.name)}


@cache
def wildcard_child(parent: str) -> Key | None:
    """The ``<name>`` entry inside ``parent``, when the site chooses the names there."""
    for key in SCHEMA:
        if key.parent == parent and _is_wild(key.name):
            return key
    return None


def _is_wild(segment: str) -> bool:
    return segment.startswith("<") and segment.endswith(">")


# -- documentation ------------------------------------------------------------------------------
def _section_of(key: Key) -> str:
    head = key.path.split(".")[0]
    return "" if key.kind != "table" and "." not in key.path else head


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_reference() -> str:
    """The Markdown reference block embedded in docs/configuration.md."""
    lines: list[str] = [BEGIN_MARK, ""]
    sections: dict[str, list[Key]] = {}
    for key in SCHEMA:
        sections.setdefault(_section_of(key), []).append(key)
    for section, keys in sections.items():
        lines.append("### Top level" if section == "" else f"### `[{section}]`")
        lines.append("")
        lines.append("| key | type | default | meaning | example |")
        lines.append("| --- | --- | --- | --- | --- |")
        for key in keys:
            default = (
                f"`{key.default}`"
                if key.default.startswith(('"', "[", "{"))
                or (key.default in {"true", "false"} or key.default.isdigit())
                else key.default
            )
            example = _cell(" ".join(key.example.split("\n")))
            lines.append(
                f"| `{key.path}` | {key.type_text} | {default or '—'} | {_cell(key.doc)} | `{example}` |"
            )
        lines.append("")
    lines.append(END_MARK)
    return "\n".join(lines)


def replace_reference(document: str) -> str:
    start = document.index(BEGIN_MARK)
    end = document.index(END_MARK) + len(END_MARK)
    return document[:start] + render_reference() + document[end:]


if __name__ == "__main__":  # pragma: no cover - a maintenance command, checked by the doc test
    target = sys.argv[1]
    with open(target, encoding="utf-8") as handle:
        text = handle.read()
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(replace_reference(text))
