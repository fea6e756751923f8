"""Region codes (ISO 3166-1 / 3166-2), the EU and EEA groups and the built-in region rules.

The built-in rules follow the project's requirements note (sections 6-8 and its region table):
EU/EEA, Switzerland and the UK are opt-in, the UK switches to the statistics exception only when
a category is flagged for it, US states with universal opt-out laws (and the rest of the US) are
opt-out with a 13-month choice (no re-asking for at least 12 months after an opt-out), and every
other or unknown region gets ``default_region_mode`` (opt-in unless the site says otherwise).
"""

from __future__ import annotations

import re

from consentgate.policy.durations import DAY
from consentgate.policy.model import Policy, RegionRule

# Officially assigned ISO 3166-1 alpha-2 codes, plus XK (Kosovo), which CDNs report.
# fmt: off
COUNTRIES: frozenset[str] = frozenset((
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK",
    "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN",
    "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
    "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ",
    "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
    "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC",
    "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV",
    "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
    "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW", "XK",
))
# fmt: on

# fmt: off
EU: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)
# fmt: on
EEA: tuple[str, ...] = (*EU, "IS", "LI", "NO")
GROUPS: dict[str, tuple[str, ...]] = {"EEA": EEA, "EU": EU}

# States whose laws make a universal opt-out signal (GPC) binding (requirements note, §7 and
# the region table; the list there is marked "verify").
US_OPT_OUT_STATES: tuple[str, ...] = ("CA", "CO", "CT", "DE", "MD", "MN", "MT", "NE", "NH", "NJ", "OR", "TX")

# Where French law (Loi Informatique et Libertés art. 82, read by the CNIL) governs trackers: France
# and its overseas departments, regions and collectivities. The CNIL audience-measurement
# exemption (requirements CG-53) applies there only. Monaco has its own law and is not listed.
FRENCH_REGIONS: frozenset[str] = frozenset(
    ("FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF")
)

# Codes people write that ISO does not use.
COMMON_MISTAKES: dict[str, str] = {"UK": "GB", "EL": "GR"}

_SUBDIVISION = re.compile(r"^([A-Z]{2})-[A-Z0-9]{1,3}$")
# The subdivisions of the countries whose privacy laws are made by subdivision (US states,
# Canadian provinces): a made-up code there (`US-ZZ`) would silently never match a visitor.
# ISO 3166-2:US (states, DC, outlying areas) and ISO 3166-2:CA.
KNOWN_SUBDIVISIONS: dict[str, frozenset[str]] = {
    "US": frozenset(
        [
            "AL",
            "AK",
            "AZ",
            "AR",
            "CA",
            "CO",
            "CT",
            "DE",
            "FL",
            "GA",
            "HI",
            "ID",
            "IL",
            "IN",
            "IA",
            "KS",
            "KY",
            "LA",
            "ME",
            "MD",
            "MA",
            "MI",
            "MN",
            "MS",
            "MO",
            "MT",
            "NE",
            "NV",
            "NH",
            "NJ",
            "NM",
            "NY",
            "NC",
            "ND",
            "OH",
            "OK",
            "OR",
            "PA",
            "RI",
            "SC",
            "SD",
            "TN",
            "TX",
            "UT",
            "VT",
            "VA",
            "WA",
            "WV",
            "WI",
            "WY",
            "DC",
            "AS",
            "GU",
            "MP",
            "PR",
            "UM",
            "VI",
        ]
    ),
    "CA": frozenset(["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"]),
}

US_CHOICE_LIFETIME = 390 * DAY  # "13 months": an opt-out must not be re-asked for 12 months
US_CHOICES_LINK = "Your Privacy Choices"


def expand(code: str) -> tuple[str, ...]:
    """The codes ``code`` stands for; ValueError when it is not a known code or group."""
    if code in GROUPS:
        return GROUPS[code]
    if code in COUNTRIES:
        return (code,)
    match = _SUBDIVISION.match(code)
    if match and match.group(1) in COUNTRIES:
        known = KNOWN_SUBDIVISIONS.get(match.group(1))
        if known is not None and code[3:] not in known:
            raise ValueError(f"{code!r} is not an ISO 3166-2 subdivision of {match.group(1)}")
        return (code,)
    hint = COMMON_MISTAKES.get(code.upper())
    if hint:
        raise ValueError(f"{code!r} is not an ISO 3166 code; write {hint!r}")
    if code.upper() != code and (code.upper() in COUNTRIES or code.upper() in GROUPS):
        raise ValueError(f"region codes are upper case: write {code.upper()!r}")
    raise ValueError(
        f"{code!r} is not an ISO 3166-1 code (e.g. 'FR'), an ISO 3166-2 code (e.g. 'US-CA') "
        "or a group (EU, EEA)"
    )


def is_french(code: str) -> bool:
    """True for France, its overseas codes and their ISO 3166-2 subdivisions (``FR-75``, ``FR-GP``).

    >>> is_french("FR-75"), is_french("RE"), is_french("MC")
    (True, True, False)
    """
    return code.strip().upper().partition("-")[0] in FRENCH_REGIONS


def specificity(code: str) -> int:
    """Apply broader entries first so that narrower ones win whatever the file order."""
    if code == "EEA":
        return 0
    if code == "EU":
        return 1
    return 3 if "-" in code else 2


def default_rules(choice_lifetime_seconds: int, *, uk_statistics: bool) -> dict[str, RegionRule]:
    opt_in = RegionRule(mode="opt_in", choice_lifetime_seconds=choice_lifetime_seconds)
    rules: dict[str, RegionRule] = dict.fromkeys((*EEA, "CH"), opt_in)
    rules["GB"] = RegionRule(
        mode="uk_statistics" if uk_statistics else "opt_in",
        choice_lifetime_seconds=choice_lifetime_seconds,
    )
    opt_out = RegionRule(
        mode="opt_out",
        choice_lifetime_seconds=US_CHOICE_LIFETIME,
        choices_link_text=US_CHOICES_LINK,
    )
    rules["US"] = opt_out
    for state in US_OPT_OUT_STATES:
        rules[f"US-{state}"] = opt_out
    return rules


def rule_for(policy: Policy, region: str) -> RegionRule:
    """The rule for a resolved region code: exact code, then its country, then the default.

    >>> from consentgate.policy.load import load_dict
    >>> rule_for(load_dict({}), "US-WY").mode
    'opt_out'
    """
    code = region.strip().upper()
    rule = policy.regions.get(code) or policy.regions.get(code.partition("-")[0])
    if rule is not None:
        return rule
    return RegionRule(mode=policy.default_region_mode, choice_lifetime_seconds=policy.choice_lifetime_seconds)
