from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.policy.catalog import load_catalog
from consentgate.policy.durations import DAY, format_duration, parse_duration
from consentgate.policy.load import PolicyError, Problem, load_dict, load_file, load_text
from consentgate.policy.model import STANDARD_CATEGORIES, Policy, Service
from consentgate.policy.regions import rule_for


def problems(text: str) -> list[Problem]:
    with pytest.raises(PolicyError) as info:
        load_text(text, source="consentgate.toml")
    return list(info.value.problems)


def one_problem(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def catalog_tracker(category: str) -> Service:
    return next(s for s in load_catalog() if s.category == category and s.hosts)


def catalog_cookie(category: str) -> str:
    return next(c.name for s in load_catalog() if s.category == category for c in s.cookies if not c.is_regex)


# -- the default policy ---------------------------------------------------------------------------
def test_default_policy_has_the_four_standard_categories_in_order_with_english_texts() -> None:
    policy = load_dict({})
    assert tuple(c.id for c in policy.categories) == STANDARD_CATEGORIES
    for category in policy.categories:
        label, description = category.text("en")
        assert label and description and label != category.id
    assert policy.required_categories == {"necessary"}


def test_default_policy_holds_every_catalog_service_in_its_catalog_category() -> None:
    policy = load_dict({})
    catalog = load_catalog()
    assert len(catalog) > 0
    assert {(s.id, s.category) for s in policy.services} == {(s.id, s.category) for s in catalog}
    assert all(s.origin == "catalog" for s in policy.services)


def test_include_catalog_false_leaves_only_declared_services() -> None:
    policy = load_dict({"include_catalog": False, "services": {"matomo": {"category": "analytics"}}})
    assert [s.id for s in policy.services] == ["matomo"]


def test_policy_default_and_from_dict_use_the_loader() -> None:
    assert Policy.default() == load_dict({})
    assert Policy.from_dict({"version": "7"}).version == "7"


def test_standard_categories_grant_the_consent_mode_v2_mapping() -> None:
    policy = load_dict({})
    assert policy.category("analytics").consent_mode == ("analytics_storage",)
    assert set(policy.category("marketing").consent_mode) == {
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
    }
    assert policy.category("necessary").consent_mode == ("security_storage",)


# -- regions --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "mode"),
    [
        ("FR", "opt_in"),
        ("DE", "opt_in"),
        ("NO", "opt_in"),  # EEA, not EU
        ("CH", "opt_in"),
        ("GB", "opt_in"),
        ("US-CA", "opt_out"),
        ("US-CO", "opt_out"),
        ("US-TX", "opt_out"),
        ("US", "opt_out"),
    ],
)
def test_default_region_rules_follow_the_requirements_table(code: str, mode: str) -> None:
    assert load_dict({}).regions[code].mode == mode


def test_us_opt_out_keeps_the_choice_at_least_twelve_months() -> None:
    rule = load_dict({}).regions["US-CA"]
    assert rule.choice_lifetime_seconds >= 365 * DAY
    assert rule.choices_link_text == "Your Privacy Choices"


def test_unlisted_and_unknown_regions_fall_back_to_opt_in() -> None:
    policy = load_dict({})
    assert "BR" not in policy.regions
    assert policy.default_region_mode == "opt_in"


def test_opt_in_regions_keep_the_choice_for_choice_lifetime() -> None:
    policy = load_dict({"choice_lifetime": "12 months"})
    assert policy.regions["FR"].choice_lifetime_seconds == 360 * DAY


def test_gb_uses_the_statistics_exception_only_when_a_category_is_flagged() -> None:
    flagged = load_dict({"include_catalog": False, "categories": {"analytics": {"uk_statistics": True}}})
    assert flagged.regions["GB"].mode == "uk_statistics"
    assert flagged.regions["FR"].mode == "opt_in"


def test_region_groups_expand_and_a_country_beats_its_group_whatever_the_order() -> None:
    policy = load_text(
        """
        [regions]
        FR = "notice"
        EU = { mode = "opt_out", lifetime = "30 days" }
        """
    )
    assert policy.regions["FR"].mode == "notice"
    assert policy.regions["DE"].mode == "opt_out"
    assert policy.regions["DE"].choice_lifetime_seconds == 30 * DAY
    assert policy.regions["NO"].mode == "opt_in"  # EEA but not EU


def test_region_table_form_sets_every_option() -> None:
    policy = load_dict(
        {
            "regions": {
                "US-VA": {
                    "mode": "opt_out",
                    "lifetime": "13 months",
                    "remember_reject": False,
                    "banner": "box",
                    "choices_link_text": "Do Not Sell",
                }
            }
        }
    )
    rule = policy.regions["US-VA"]
    assert (rule.mode, rule.choice_lifetime_seconds, rule.remember_reject, rule.banner) == (
        "opt_out",
        390 * DAY,
        False,
        "box",
    )
    assert rule.choices_link_text == "Do Not Sell"


@pytest.mark.parametrize(
    ("entry", "key", "fragment"),
    [
        ('UK = "opt_in"', "regions.UK", "write 'GB'"),
        ('fr = "opt_in"', "regions.fr", "write 'FR'"),
        ('QQ = "opt_in"', "regions.QQ", "not an ISO 3166-1 code"),
        ('FR = "opt-in"', "regions.FR.mode", "did you mean 'opt_in'"),
        ('"US-TX" = "uk_statistics"', "regions.US-TX", "GB only"),
        ('FR = { lifetime = "6 months" }', "regions.FR", "needs a mode"),
        ('FR = { mode = "opt_in", lifetime = "2 years" }', "regions.FR.lifetime", "400 days"),
        ('FR = { mode = "opt_in", banner = "top" }', "regions.FR.banner", "'bottom'"),
        ("FR = 3", "regions.FR", "expected a mode string or a table"),
    ],
)
def test_region_mistakes_name_the_key_and_line(entry: str, key: str, fragment: str) -> None:
    problem = one_problem(f"[regions]\n{entry}\n")
    assert problem.key == key
    assert problem.line == 2
    assert fragment in problem.message


# -- categories ---------------------------------------------------------------------------------
def test_category_labels_merge_per_locale_with_the_built_in_english() -> None:
    policy = load_text(
        """
        [categories.analytics]
        label = { de = "Statistik", fr = "Statistiques" }
        description = "Counts visits."
        """
    )
    category = policy.category("analytics")
    assert category.text("de")[0] == "Statistik"
    assert category.text("en") == ("Statistics", "Counts visits.")


def test_added_categories_follow_the_standard_four() -> None:
    policy = load_text(
        """
        [categories.social]
        label = "Social media"
        consent_mode = ["personalization_storage"]
        [categories.analytics]
        required = false
        """
    )
    assert [c.id for c in policy.categories] == [*STANDARD_CATEGORIES, "social"]
    assert policy.category("social").consent_mode == ("personalization_storage",)


def test_a_new_category_needs_a_label() -> None:
    problem = one_problem("[categories.social]\nrequired = false\n")
    assert problem.key == "categories.social.label"
    assert problem.line == 1


def test_necessary_cannot_be_made_optional() -> None:
    problem = one_problem("[categories.necessary]\nrequired = false\n")
    assert problem.key == "categories.necessary.required"
    assert problem.line == 2


def test_unknown_consent_mode_type_is_refused_with_a_suggestion() -> None:
    problem = one_problem('[categories.analytics]\nconsent_mode = ["analytics_storag"]\n')
    assert problem.key == "categories.analytics.consent_mode[0]"
    assert "analytics_storage" in problem.message


def test_uk_statistics_is_refused_on_marketing() -> None:
    problem = one_problem("include_catalog = false\n[categories.marketing]\nuk_statistics = true\n")
    assert problem.key == "categories.marketing.uk_statistics"
    assert problem.line == 3


def test_uk_statistics_is_refused_on_a_category_holding_a_sale_share_service() -> None:
    problem = one_problem(
        """include_catalog = false
[categories.analytics]
uk_statistics = true
[services.adstats]
category = "analytics"
sale_share = true
"""
    )
    assert problem.key == "categories.analytics.uk_statistics"
    assert "adstats" in problem.message


def test_uk_statistics_is_refused_when_a_catalog_marketing_service_is_moved_into_it() -> None:
    marketing = catalog_tracker("marketing")
    problem = one_problem(
        f"""include_catalog = false
[categories.analytics]
uk_statistics = true
[services.{marketing.id}]
category = "analytics"
"""
    )
    assert problem.key == "categories.analytics.uk_statistics"
    assert marketing.id in problem.message


def test_uk_statistics_is_accepted_for_first_party_statistics() -> None:
    policy = load_dict(
        {
            "include_catalog": False,
            "categories": {"analytics": {"uk_statistics": True}},
            "services": {"own-stats": {"category": "analytics", "hosts": ["stats.example.com"]}},
        }
    )
    assert policy.category("analytics").uk_statistics


# -- services -------------------------------------------------------------------------------------
FULL_SERVICE = """
[services.matomo]
name = "Matomo"
category = "analytics"
provider = "InnoCraft"
purposes = ["audience measurement"]
description = "Counts page views."
privacy_url = "https://matomo.example/privacy"
hosts = ["Matomo.Example.com."]
signatures = ["_paq.push"]
sale_share = false

[[services.matomo.cookies]]
pattern = '_pk_id\\..*'
lifetime = "13 months"
third_party = false

[[services.matomo.cookies]]
name = "_pk_ses"
lifetime = "30 min"
domain = ".example.com"
path = "/shop"
description = "Session of the visit"

[[services.matomo.cookies]]
name = "_pk_ref"
lifetime = "1 year"

[[services.matomo.cookies]]
name = "_pk_cvar"

[[services.matomo.cookies]]
name = "_pk_hsr"
lifetime = "2h"

[[services.matomo.cookies]]
name = "_pk_testcookie"
lifetime = 60
"""


def test_a_declared_service_keeps_every_field() -> None:
    service = load_text(FULL_SERVICE).service("matomo")
    assert service.origin == "policy"
    assert (service.name, service.category, service.provider) == ("Matomo", "analytics", "InnoCraft")
    assert service.purposes == ("audience measurement",)
    assert service.hosts == ("matomo.example.com",)
    assert service.signatures == ("_paq.push",)
    lifetimes = [(c.name, c.is_regex, c.lifetime_seconds) for c in service.cookies]
    assert lifetimes == [
        (r"_pk_id\..*", True, 390 * DAY),
        ("_pk_ses", False, 1800),
        ("_pk_ref", False, 365 * DAY),
        ("_pk_cvar", False, None),
        ("_pk_hsr", False, 7200),
        ("_pk_testcookie", False, 60),
    ]
    assert service.cookies[0].matches("_pk_id.1.abcd")
    assert service.cookies[1].domain == ".example.com"
    assert service.cookies[1].path == "/shop"
    assert service.cookies[3].lifetime == "session"


def test_a_catalog_entry_is_pulled_and_overridden_field_by_field() -> None:
    base = catalog_tracker("analytics")
    policy = load_dict(
        {"services": {"stats": {"catalog": base.id, "provider": "Our reseller", "sale_share": True}}}
    )
    service = policy.service("stats")
    assert service.hosts == base.hosts
    assert service.category == base.category
    assert service.provider == "Our reseller"
    assert service.sale_share is True
    assert service.origin == "policy"
    # the catalog entry is not listed a second time under its own id
    assert not policy.has_service(base.id)


def test_a_service_named_like_a_catalog_entry_starts_from_it() -> None:
    base = catalog_tracker("marketing")
    service = load_dict({"services": {base.id: {"description": "Our ads"}}}).service(base.id)
    assert service.hosts == base.hosts
    assert service.description == "Our ads"
    assert service.origin == "policy"


def test_unknown_catalog_id_is_refused() -> None:
    problem = one_problem('[services.x]\ncatalog = "no-such-tracker-anywhere"\n')
    assert problem.key == "services.x.catalog"
    assert problem.line == 2


def test_service_in_an_unknown_category_gets_a_suggestion() -> None:
    problem = one_problem('[services.hotjar-own]\ncategory = "analytic"\n')
    assert problem.key == "services.hotjar-own.category"
    assert problem.line == 2
    assert "did you mean 'analytics'" in problem.message


def test_a_service_without_category_is_refused() -> None:
    problem = one_problem('[services.own]\nname = "Own"\n')
    assert problem.key == "services.own"


def test_a_service_id_that_is_a_category_id_is_refused() -> None:
    problem = one_problem('[services.analytics]\ncategory = "analytics"\n')
    assert problem.key == "services.analytics"
    assert "category id" in problem.message


def test_one_cookie_declared_in_two_categories_is_refused() -> None:
    found = problems(
        """include_catalog = false
[services.a]
category = "analytics"
cookies = [{ name = "shared" }]
[services.b]
category = "marketing"
cookies = [{ name = "shared" }]
"""
    )
    assert [p.key for p in found] == ["services.b.cookies[0]"]
    assert found[0].line == 7


@pytest.mark.parametrize(
    ("cookie", "key", "fragment"),
    [
        ('{ pattern = "(" }', "services.s.cookies[0].pattern", "regular expression"),
        ('{ name = "a", pattern = "b" }', "services.s.cookies[0]", "exactly one"),
        ("{ }", "services.s.cookies[0]", "exactly one"),
        ('{ name = "a b" }', "services.s.cookies[0].name", "not a cookie name"),
        ('{ name = "a", lifetime = "forever" }', "services.s.cookies[0].lifetime", "not a duration"),
        ('{ name = "a", lifetime = "13 m" }', "services.s.cookies[0].lifetime", "ambiguous"),
        ('{ name = "a", lifetime = 0 }', "services.s.cookies[0].lifetime", "longer than zero"),
        ('{ name = "a", lifetime = true }', "services.s.cookies[0].lifetime", "got a boolean"),
        ('{ name = "a", secure = true }', "services.s.cookies[0].secure", "unknown key"),
    ],
)
def test_cookie_mistakes_name_the_key_and_line(cookie: str, key: str, fragment: str) -> None:
    problem = one_problem(f'[services.s]\ncategory = "analytics"\ncookies = [\n  {cookie},\n]\n')
    assert problem.key == key
    assert problem.line == 4
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("hosts", "fragment"),
    [('["https://x.example/a"]', "without scheme"), ('["not a host"]', "not a host name")],
)
def test_hosts_must_be_plain_host_names(hosts: str, fragment: str) -> None:
    problem = one_problem(f'[services.s]\ncategory = "analytics"\nhosts = {hosts}\n')
    assert problem.key == "services.s.hosts[0]"
    assert fragment in problem.message


def test_an_empty_signature_is_refused() -> None:
    problem = one_problem('[services.s]\ncategory = "analytics"\nsignatures = [" "]\n')
    assert problem.key == "services.s.signatures[0]"


# -- necessary ---------------------------------------------------------------------------------------
def test_a_necessary_service_needs_a_justification() -> None:
    problem = one_problem('[services.cart]\ncategory = "necessary"\n')
    assert problem.key == "services.cart.justification"
    assert problem.line == 1
    policy = load_dict(
        {"services": {"cart": {"category": "necessary", "justification": "Keeps the basket."}}}
    )
    assert policy.service("cart").justification == "Keeps the basket."


def test_a_catalog_tracker_cannot_be_moved_into_necessary() -> None:
    tracker = catalog_tracker("analytics")
    found = problems(f'[services.{tracker.id}]\ncategory = "necessary"\njustification = "we say so"\n')
    assert "services." + tracker.id + ".category" in [p.key for p in found]


def test_a_tracker_pulled_under_another_id_cannot_be_necessary() -> None:
    tracker = catalog_tracker("marketing")
    found = problems(
        f'[services.ours]\ncatalog = "{tracker.id}"\ncategory = "necessary"\njustification = "x"\n'
    )
    assert "services.ours.category" in [p.key for p in found]


def test_a_known_tracking_cookie_cannot_be_necessary() -> None:
    name = catalog_cookie("analytics")
    problem = one_problem(
        f"""include_catalog = false
[services.own]
category = "necessary"
justification = "session"
[[services.own.cookies]]
name = "{name}"
"""
    )
    assert problem.key == "services.own.cookies[0].name"
    assert problem.line == 6


def test_a_known_tracking_host_cannot_be_necessary() -> None:
    host = catalog_tracker("marketing").hosts[0]
    problem = one_problem(
        f'[services.own]\ncategory = "necessary"\njustification = "x"\nhosts = ["{host}"]\n'
    )
    assert problem.key == "services.own.hosts[0]"
    assert problem.line == 4


# -- types, unknown keys, all errors at once ---------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('gpc = "yes"', "gpc", "expected a boolean, got a string"),
        ("version = 2", "version", "expected a string, got an integer"),
        ("[consent_mode]\nwait_for_update_ms = true", "consent_mode.wait_for_update_ms", "integer"),
        ("[consent_mode]\nwait_for_update_ms = 99999", "consent_mode.wait_for_update_ms", "between"),
        ('languages = "en"', "languages", "array of strings"),
        ('languages = ["english"]', "languages[0]", "language tag"),
        ('default_language = "fr"\nlanguages = ["en"]', "default_language", "not in languages"),
        ('cookie = "x"', "cookie", "expected a table"),
        ('csp = "strict"', "csp", "'report-only'"),
        ('choice_lifetime = "2 years"', "choice_lifetime", "400 days"),
        ('dnt = "like-gpc"', "dnt", "did you mean 'like_gpc'"),
    ],
)
def test_wrong_values_name_the_key(text: str, key: str, fragment: str) -> None:
    problem = one_problem(text + "\n")
    assert problem.key == key
    assert problem.line == text.count("\n") + 1 or problem.line == 1
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('choise_lifetime = "6 months"', "choise_lifetime", "did you mean 'choice_lifetime'"),
        ('retention = "3 years"', "retention", "belongs in 'audit.retention'"),
        ('[services.s]\ncategory = "analytics"\nhost = ["a.example"]', "services.s.host", "'hosts'"),
        ("[cookie]\nsamesite = 'lax'", "cookie.samesite", "'same_site'"),
        ("[categories.analytics]\nlable = 'x'", "categories.analytics.lable", "'label'"),
    ],
)
def test_unknown_keys_are_refused_with_the_closest_known_key(text: str, key: str, fragment: str) -> None:
    problem = one_problem(text + "\n")
    assert problem.key == key
    assert problem.line == text.count("\n") + 1
    assert fragment in problem.message


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    with pytest.raises(PolicyError) as info:
        load_text(
            """gpc = 1
[services.a]
category = "analytic"
[regions]
UK = "opt_in"
""",
            source="site.toml",
        )
    error = info.value
    assert [(p.key, p.line) for p in error.problems] == [
        ("gpc", 1),
        ("services.a.category", 3),
        ("regions.UK", 5),
    ]
    assert (error.key, error.line) == ("gpc", 1)
    message = str(error)
    assert message.startswith("site.toml: 3 problems")
    assert "services.a.category (line 3): unknown category 'analytic'" in message


def test_a_single_problem_message_names_key_and_line() -> None:
    with pytest.raises(PolicyError, match=r"^x\.toml: gpc \(line 1\): expected a boolean"):
        load_text("gpc = 1\n", source="x.toml")


def test_problems_from_a_dict_have_no_line() -> None:
    with pytest.raises(PolicyError) as info:
        load_dict({"services": {"a": {"category": "nope"}}})
    assert (info.value.key, info.value.line) == ("services.a.category", None)
    assert str(info.value).startswith("services.a.category: unknown category")


def test_toml_syntax_errors_become_policy_errors_with_the_line() -> None:
    with pytest.raises(PolicyError) as info:
        load_text('version = "1"\n[services.a\ncategory = "x"\n', source="bad.toml")
    assert info.value.line == 2
    assert "not valid TOML" in str(info.value)


def test_duplicate_tables_are_a_toml_error_with_the_line() -> None:
    with pytest.raises(PolicyError) as info:
        load_text('[services.a]\ncategory = "analytics"\n[services.a]\nname = "A"\n')
    assert info.value.line == 3


def test_load_file_reads_a_file_and_reports_its_path(tmp_path: Path) -> None:
    path = tmp_path / "consentgate.toml"
    path.write_text('version = "2026-11"\n', encoding="utf-8")
    assert load_file(path).version == "2026-11"
    assert Policy.from_file(str(path)).version == "2026-11"
    path.write_text("gpc = 1\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=str(path)):
        load_file(path)


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_file(tmp_path / "absent.toml")


# -- smaller tables -------------------------------------------------------------------------------
def test_cookie_settings_are_checked() -> None:
    policy = load_dict({"cookie": {"name": "cg", "secure": "always", "domain": ".Example.com"}})
    assert (policy.cookie.name, policy.cookie.secure, policy.cookie.domain) == (
        "cg",
        "always",
        "example.com",
    )
    assert one_problem("[cookie]\nname = '__Host-cg'\n").key == "cookie.name"
    assert one_problem("[cookie]\nname = 'a;b'\n").key == "cookie.name"
    assert one_problem("[cookie]\ndomain = 'a b'\n").key == "cookie.domain"
    problem = one_problem("[cookie]\nsame_site = 'none'\nsecure = 'never'\n")
    assert problem.key == "cookie.same_site"


def test_theme_values_cannot_break_out_of_css() -> None:
    problem = one_problem("[theme.light]\naccent = 'red; } body { display: none'\n")
    assert problem.key == "theme.light.accent"
    assert one_problem("[theme.dark]\n'Bad Name' = 'red'\n").key == 'theme.dark."Bad Name"'
    assert one_problem("[theme]\nfont = '</style>'\n").key == "theme.font"


def test_notice_texts_are_kept_per_locale() -> None:
    policy = load_text('[notice.de]\nbanner_title = "Ihre Privatsphäre"\n[notice.en]\nbanner_title = "Hi"\n')
    assert policy.notice["de"]["banner_title"] == "Ihre Privatsphäre"
    assert one_problem("[notice.german]\nbanner_title = 'x'\n").key == "notice.german"
    assert one_problem("[notice.de]\nbanner_title = 3\n").key == "notice.de.banner_title"


def test_category_label_locales_are_checked() -> None:
    problem = one_problem("[categories.analytics]\nlabel = { deutsch_de = 'x' }\n")
    assert problem.key == "categories.analytics.label.deutsch_de"
    assert one_problem("[categories.analytics]\nlabel = 3\n").key == "categories.analytics.label"


def test_a_policy_error_needs_a_problem() -> None:
    with pytest.raises(ValueError):
        PolicyError([])


# -- durations ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("13 months", 390 * DAY),
        ("1 year", 365 * DAY),
        ("30 days", 30 * DAY),
        ("2h", 7200),
        ("90s", 90),
        ("3y", 3 * 365 * DAY),
        ("1 year 6 months", 545 * DAY),
        ("2 weeks", 14 * DAY),
        ("45 min", 2700),
    ],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "6", "6 monts", "13m", "months 6"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_format_in_the_largest_exact_unit() -> None:
    assert format_duration(390 * DAY) == "13 months"
    assert format_duration(365 * DAY) == "1 year"
    assert format_duration(3 * DAY) == "3 days"
    assert format_duration(7200) == "2 hours"
    assert format_duration(61) == "61 seconds"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[categories]\nAnalytics = { label = 'x' }", "categories.Analytics", "not a category id"),
        ("[categories]\nsocial = 1", "categories.social", "expected a table, got an integer"),
        ("[services]\n'bad id!' = { category = 'analytics' }", 'services."bad id!"', "not a service id"),
        ("[services]\nx = [1.5]", "services.x", "expected a table, got an array"),
        ("[services.x]\ncategory = 'analytics'\ncookies = 'a'", "services.x.cookies", "array of tables"),
        ("[services.x]\ncategory = 'analytics'\ncookies = ['a']", "services.x.cookies[0]", "got a string"),
        ("[categories.analytics]\nlabel = { de = 1.5 }", "categories.analytics.label.de", "got a number"),
        (
            "[categories.social]\nlabel = 'Social'\nrequired = true\nuk_statistics = true",
            "categories.social.uk_statistics",
            "required",
        ),
        ("[regions]\nFR = { mode = 'opt_in', colour = 'red' }", "regions.FR.colour", "unknown key"),
        ("default_language = 'english'", "default_language", "language tag"),
    ],
)
def test_structure_mistakes_name_the_key(text: str, key: str, fragment: str) -> None:
    problem = one_problem(text + "\n")
    assert problem.key == key
    assert fragment in problem.message


def test_values_of_unusual_types_are_named() -> None:
    with pytest.raises(PolicyError, match="expected a boolean, got datetime"):
        load_text("gpc = 1979-05-27T07:32:00Z\n")


@pytest.mark.parametrize(
    ("region", "mode"),
    [
        ("FR", "opt_in"),
        ("fr", "opt_in"),
        ("FR-75", "opt_in"),
        ("GB", "opt_in"),
        ("CH", "opt_in"),
        ("US-CA", "opt_out"),
        ("US-CO", "opt_out"),
        ("US-TX", "opt_out"),
        ("US-WY", "opt_out"),
        ("BR", "opt_in"),
        ("", "opt_in"),
        ("XX", "opt_in"),
    ],
)
def test_rule_for_resolves_code_then_country_then_default(region: str, mode: str) -> None:
    assert rule_for(load_dict({}), region).mode == mode


def test_rule_for_unknown_regions_uses_default_mode_and_choice_lifetime() -> None:
    policy = load_dict({"default_region_mode": "notice", "choice_lifetime": "90 days"})
    rule = rule_for(policy, "BR")
    assert (rule.mode, rule.choice_lifetime_seconds) == ("notice", 90 * DAY)


# -- the CNIL audience-measurement exemption (CG-53) ------------------------------------------------
CNIL_CONDITIONS = (
    "first_party_only",
    "audience_only",
    "anonymous",
    "no_cross_site",
    "no_combination",
    "no_third_party_transfer",
    "geo_no_finer_than_city",
    "retention_max_25_months",
)


def cnil_policy(*, conditions: tuple[str, ...] = CNIL_CONDITIONS, service: str = "", top: str = "") -> str:
    """A self-hosted Matomo on the site's own domain, flagged; ``service`` adds or replaces keys."""
    asserted = "\n".join(f"{name} = true" for name in conditions)
    return f"""include_catalog = false
first_party_hosts = ["www.example.fr"]
{top}
[services.matomo]
category = "analytics"
hosts = ["stats.example.fr"]
signatures = ["_paq.push"]
{service}
[[services.matomo.cookies]]
pattern = "_pk_id\\\\..*"
lifetime = "13 months"

[services.matomo.cnil_exempt_audience]
{asserted}
"""


def test_a_self_hosted_audience_tool_with_every_condition_asserted_is_exempt() -> None:
    policy = load_text(cnil_policy())
    assert policy.service("matomo").cnil_exempt_audience
    assert policy.cnil_exempt_services == {"matomo"}
    # What runs without consent in France is part of the notice: flagging it lapses old choices.
    unflagged = load_text(cnil_policy().split("[services.matomo.cnil_exempt_audience]")[0])
    assert not unflagged.cnil_exempt_services
    assert unflagged.fingerprint() != policy.fingerprint()


@pytest.mark.parametrize("missing", CNIL_CONDITIONS)
def test_the_cnil_exemption_is_refused_when_a_condition_is_missing_naming_it(missing: str) -> None:
    text = cnil_policy(conditions=tuple(c for c in CNIL_CONDITIONS if c != missing))
    problem = one_problem(text)
    assert problem.key == f"services.matomo.cnil_exempt_audience.{missing}"
    assert problem.line == 13  # the [services.matomo.cnil_exempt_audience] table
    assert "missing" in problem.message


def test_the_cnil_exemption_is_refused_when_a_condition_is_false() -> None:
    text = cnil_policy().replace("no_cross_site = true", "no_cross_site = false")
    problem = one_problem(text)
    assert problem.key == "services.matomo.cnil_exempt_audience.no_cross_site"
    assert problem.line == text.splitlines().index("no_cross_site = false") + 1
    assert "needs consent" in problem.message


def test_the_cnil_exemption_is_a_table_of_conditions_not_a_bare_true() -> None:
    text = 'include_catalog = false\n[services.matomo]\ncategory = "analytics"\ncnil_exempt_audience = true\n'
    problem = one_problem(text)
    assert (problem.key, problem.line) == ("services.matomo.cnil_exempt_audience", 4)
    assert "first_party_only" in problem.message
    assert not load_text(text.replace("= true\n", "= false\n")).service("matomo").cnil_exempt_audience


def test_the_cnil_exemption_is_refused_on_marketing_naming_the_key() -> None:
    text = cnil_policy().replace('category = "analytics"', 'category = "marketing"')
    problem = one_problem(text)
    assert (problem.key, problem.line) == ("services.matomo.cnil_exempt_audience", 13)
    assert "advertising" in problem.message


def test_the_cnil_exemption_is_refused_on_a_category_that_grants_ad_storage() -> None:
    text = cnil_policy(
        top='[categories.audience]\nlabel = "Audience"\nconsent_mode = ["ad_storage"]'
    ).replace('category = "analytics"', 'category = "audience"')
    assert one_problem(text).key == "services.matomo.cnil_exempt_audience"


def test_the_cnil_exemption_is_refused_on_a_sale_share_service() -> None:
    problem = one_problem(cnil_policy(service="sale_share = true"))
    assert problem.key == "services.matomo.cnil_exempt_audience"
    assert "third parties" in problem.message


def test_the_cnil_exemption_is_refused_on_a_third_party_host_naming_it() -> None:
    text = cnil_policy().replace('"stats.example.fr"', '"cdn.matomo.cloud"')
    problem = one_problem(text)
    assert (problem.key, problem.line) == ("services.matomo.hosts[0]", 6)
    assert "first-party" in problem.message


def test_the_cnil_exemption_is_refused_on_a_host_first_party_hosts_covers() -> None:
    # The rewriter never blocks a first-party host: outside France it would run without consent.
    text = cnil_policy().replace('["www.example.fr"]', '["example.fr"]')
    problem = one_problem(text)
    assert problem.key == "services.matomo.hosts[0]"
    assert "outside France" in problem.message


def test_the_cnil_exemption_needs_first_party_hosts_to_check_the_hosts() -> None:
    problem = one_problem(cnil_policy().replace('first_party_hosts = ["www.example.fr"]', ""))
    assert problem.key == "services.matomo.hosts"


def test_the_cnil_exemption_is_refused_on_third_party_or_long_lived_cookies() -> None:
    found = problems(
        cnil_policy().replace('lifetime = "13 months"', 'lifetime = "2 years"\nthird_party = true')
    )
    assert {(p.key, p.line) for p in found} == {
        ("services.matomo.cookies[0].third_party", 12),
        ("services.matomo.cookies[0].lifetime", 11),
    }


def test_the_cnil_exemption_is_refused_on_a_service_the_catalog_knows_as_advertising() -> None:
    tracker = catalog_tracker("marketing")
    text = (
        'first_party_hosts = ["www.example.fr"]\n'
        f'[services.ads]\ncatalog = "{tracker.id}"\ncategory = "analytics"\nhosts = ["stats.example.fr"]\n'
        "[services.ads.cnil_exempt_audience]\n" + "\n".join(f"{c} = true" for c in CNIL_CONDITIONS)
    )
    assert any(
        p.key == "services.ads.cnil_exempt_audience" and "advertising" in p.message for p in problems(text)
    )


def test_check_policy_reminds_that_the_cnil_exemption_rests_on_the_sites_word() -> None:
    from consentgate.policy.commands import policy_warnings

    (warning,) = [w for w in policy_warnings(load_text(cnil_policy())) if "cnil" in w]
    assert "matomo" in warning and "self-assessment" in warning
    assert not [w for w in policy_warnings(load_dict({})) if "cnil" in w]


def test_check_policy_warns_when_first_party_hosts_cover_a_service_that_needs_consent() -> None:
    from consentgate.policy.commands import policy_warnings

    data = {
        "first_party_hosts": ["shop.example"],
        "services": {
            "stats": {"category": "analytics", "hosts": ["stats.shop.example"]},
            "cdn": {"category": "necessary", "hosts": ["cdn.shop.example"], "justification": "assets"},
            "ads": {"category": "marketing", "hosts": ["ads.example"]},
        },
    }
    warnings = [w for w in policy_warnings(load_dict(data)) if "first_party_hosts" in w]
    assert (
        len(warnings) == 1 and warnings[0].startswith("services.stats:") and "'shop.example'" in warnings[0]
    )
    narrow = {**data, "first_party_hosts": ["www.shop.example"]}
    assert not [w for w in policy_warnings(load_dict(narrow)) if "first_party_hosts" in w]
