"""consentgate.ui.render: the banner, the preference centre, placeholders, the page state."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, replace
from importlib import resources

import pytest

from consentgate.policy.model import Category, Controller, Policy, Service
from consentgate.ui.locales import BUILTIN_LANGUAGES, LocaleError, builtin_table, message_keys
from consentgate.ui.mangle import mangle
from consentgate.ui.render import UI, UIConfigError, _squeeze, _strip_css, _strip_js, script_json
from consentgate.ui.theme import ThemeError

from .uikit import (
    choice,
    context,
    find_all,
    make_policy,
    no_choice,
    parents,
    parse,
    text_of,
)

NON_NECESSARY = ("preferences", "analytics", "marketing")


@pytest.fixture
def policy() -> Policy:
    return make_policy()


@pytest.fixture
def ui(policy: Policy) -> UI:
    return UI(policy)


@dataclass(frozen=True)
class FakeFinding:
    category: str
    service_id: str | None
    service_name: str
    host: str


def first_layer(ui: UI, policy: Policy, **kwargs: object) -> object:
    root = parse(ui.body(context(policy, **kwargs)))
    (layer,) = find_all(root, data_cg_layer="1")
    return root, layer


# -- first layer -------------------------------------------------------------------------------


def test_accept_and_reject_are_sibling_buttons_with_the_same_classes(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    (accept,) = find_all(layer, "button", data_cg_action="accept_all")
    (reject,) = find_all(layer, "button", data_cg_action="reject_all")
    (customise,) = find_all(layer, data_cg_action="customise")
    parent_of = parents(root)
    assert parent_of[accept] is parent_of[reject] is parent_of[customise]
    assert accept.get("class") == reject.get("class") == customise.get("class") == "cg-btn"
    assert accept.get("type") == reject.get("type") == "submit"
    assert (accept.get("name"), accept.get("value")) == ("action", "accept_all")
    assert (reject.get("name"), reject.get("value")) == ("action", "reject_all")


def test_accept_and_reject_submit_one_form_to_the_consent_endpoint(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    (form,) = find_all(layer, "form")
    assert (form.get("method"), form.get("action")) == ("post", "/_consentgate/consent")
    fields = {i.get("name"): i.get("value") for i in find_all(form, "input", type="hidden")}
    assert fields == {"csrf": "csrf-token", "next": "/page?a=1&b=2", "ui": "banner"}
    actions = [b.get("value") for b in find_all(form, "button")]
    assert actions == ["accept_all", "reject_all"]


def test_accept_is_offered_exactly_once_on_the_first_layer(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert len(find_all(layer, data_cg_action="accept_all")) == 1
    assert len(find_all(layer, data_cg_action="reject_all")) == 1


def test_reject_is_not_a_link_inside_a_paragraph(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    links = [text_of(a) for a in find_all(layer, "a")]
    assert "Reject all" not in links


def test_first_layer_is_a_labelled_dialog_that_is_not_modal(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert layer.get("role") == "dialog"
    assert "aria-modal" not in layer.attrib
    (title,) = find_all(root, id=layer.get("aria-labelledby"))
    assert text_of(title) == "Cookies on this site"
    assert title.get("tabindex") == "-1"  # the runtime moves focus here
    assert find_all(root, id=layer.get("aria-describedby"))


def test_first_layer_names_every_category_and_how_to_withdraw(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    text = text_of(layer)
    for category in policy.categories:
        label, description = category.text("en")
        assert f"{label}: {description}" in text
    assert builtin_table("en")["banner_withdraw"] in text


def test_first_layer_links_to_the_preference_centre_and_the_privacy_policy(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    hrefs = [a.get("href") for a in find_all(layer, "a")]
    assert "/_consentgate/preferences?lang=en&next=/page%3Fa%3D1%26b%3D2" in hrefs
    assert policy.controller.privacy_url in hrefs


def test_cookie_wall_makes_the_first_layer_modal(policy: Policy) -> None:
    ui = UI(replace(policy, cookie_wall=True))
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert layer.get("aria-modal") == "true"
    assert find_all(root, data_consentgate_backdrop=None)


def test_without_a_cookie_wall_nothing_covers_the_page(ui: UI, policy: Policy) -> None:
    assert not find_all(parse(ui.body(context(policy))), data_consentgate_backdrop=None)


def test_banner_position_comes_from_the_theme(policy: Policy) -> None:
    ui = UI(replace(policy, theme=replace(policy.theme, position="box")))
    root = parse(ui.body(context(policy)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert "cg-pos-box" in layer.get("class", "").split()


# -- second layer ------------------------------------------------------------------------------


def test_no_box_is_checked_on_first_view_except_necessary(ui: UI, policy: Policy) -> None:
    for markup in (ui.body(context(policy)), ui.preferences_page(context(policy))):
        boxes = find_all(parse(markup), "input", type="checkbox")
        checked = [b.get("value") for b in boxes if "checked" in b.attrib]
        assert checked == ["necessary"]
        (necessary,) = [b for b in boxes if b.get("value") == "necessary"]
        assert "disabled" in necessary.attrib


def test_a_stored_choice_checks_exactly_the_granted_categories(ui: UI, policy: Policy) -> None:
    ctx = context(policy, choice(policy, {"analytics"}))
    boxes = find_all(parse(ui.preferences_page(ctx)), "input", type="checkbox", name="category")
    assert {b.get("value") for b in boxes if "checked" in b.attrib} == {"necessary", "analytics"}


def test_centre_has_a_toggle_per_category_and_save_accept_reject(ui: UI, policy: Policy) -> None:
    root = parse(ui.preferences_page(context(policy)))
    (form,) = find_all(root, "form")
    values = [b.get("value") for b in find_all(form, "input", type="checkbox", name="category")]
    assert values == [c.id for c in policy.categories]
    buttons = find_all(form, "button")
    assert [b.get("value") for b in buttons] == ["save", "accept_all", "reject_all"]
    assert len({b.get("class") for b in buttons}) == 1


def test_centre_lists_policy_services_with_cookies_but_never_the_catalog(ui: UI, policy: Policy) -> None:
    root = parse(ui.preferences_page(context(policy)))
    listed = {s.get("data-consentgate-service") for s in find_all(root, data_consentgate_service=None)}
    assert listed == {"session", "matomo", "meta-pixel"}
    (matomo,) = find_all(root, data_consentgate_service="matomo")
    text = text_of(matomo)
    assert "InnoCraft" in text and "Counts page views." in text
    rows = [[text_of(td) for td in tr.findall("td")] for tr in matomo.iter("tr") if tr.findall("td")]
    assert rows == [["_pk_id", "13 months", "This site"], ["_pk_ses", "30 minutes", "This site"]]
    hrefs = [a.get("href") for a in find_all(matomo, "a")]
    assert hrefs == ["https://matomo.org/privacy-policy/"]
    (pixel,) = find_all(root, data_consentgate_service="meta-pixel")
    assert [text_of(td) for td in pixel.iter("td")] == ["_fbp", "3 months", "Third party"]


def test_centre_adds_the_services_the_page_met(ui: UI, policy: Policy) -> None:
    youtube = policy.service("youtube")
    root = parse(ui.body(context(policy, met_services=(youtube,))))
    (entry,) = find_all(root, data_consentgate_service="youtube")
    assert "Video player." in text_of(entry)
    assert not find_all(root, data_consentgate_service="hotjar")


def test_a_service_allowed_on_its_own_is_listed_so_it_can_be_taken_back(ui: UI, policy: Policy) -> None:
    ctx = context(policy, choice(policy, set(), services={"youtube"}))
    root = parse(ui.preferences_page(ctx))
    (entry,) = find_all(root, data_consentgate_service="youtube")
    (box,) = find_all(entry, "input", name="service", value="youtube")
    assert "checked" in box.attrib
    marketing = find_all(root, "input", name="category", value="marketing")[0]
    assert "checked" not in marketing.attrib


def test_centre_names_the_controller_and_shows_the_consent_id_and_date(ui: UI, policy: Policy) -> None:
    consent = choice(policy, {"analytics"})
    text = text_of(parse(ui.preferences_page(context(policy, consent))))
    assert "Example Ltd" in text and "1 Main Street" in text and "privacy@example.com" in text
    assert consent.consent_id in text
    assert "2026-09-21 14:13 UTC" in text  # 1_790_000_000


def test_centre_before_any_choice_says_so_instead_of_a_date(ui: UI, policy: Policy) -> None:
    consent = no_choice(policy)
    text = text_of(parse(ui.preferences_page(context(policy, consent))))
    assert "You have not made a choice yet." in text
    assert consent.consent_id not in text


def test_the_centre_records_reopen_once_a_choice_exists(ui: UI, policy: Policy) -> None:
    first = parse(ui.body(context(policy)))
    later = parse(ui.body(context(policy, choice(policy, set()))))
    assert find_all(first, "form", data_consentgate_form="preferences")
    assert find_all(later, "form", data_consentgate_form="reopen")


def test_preferences_page_is_a_whole_document_in_the_chosen_language(ui: UI, policy: Policy) -> None:
    page = ui.preferences_page(context(policy, locale="fr"))
    root = parse(page)
    assert root.get("lang") == "fr"
    assert page.startswith(b"<!DOCTYPE html>")
    assert b'<meta charset="utf-8">' in page
    assert [text_of(h) for h in root.iter("h1")] == ["Param\u00e8tres de confidentialit\u00e9"]
    (back,) = [a for a in root.iter("a") if text_of(a) == "Retour au site"]
    assert back.get("href") == "/page?a=1&b=2"
    assert not list(root.iter("script"))  # works without JavaScript


# -- after a choice ----------------------------------------------------------------------------


def test_after_a_choice_only_the_reopen_control_is_shown(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy, choice(policy, {"analytics"}))))
    assert not find_all(root, data_cg_layer="1")
    (reopen,) = find_all(root, data_cg_reopen=None)
    assert "hidden" not in reopen.attrib
    assert "data-consentgate-open" in reopen.attrib
    assert text_of(reopen) == "Privacy choices"
    assert reopen.get("href", "").startswith("/_consentgate/preferences?")


def test_reopen_control_waits_hidden_while_the_banner_is_shown(ui: UI, policy: Policy) -> None:
    (reopen,) = find_all(parse(ui.body(context(policy))), data_cg_reopen=None)
    assert "hidden" in reopen.attrib


def test_withdrawing_takes_two_controls_from_any_page(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy, choice(policy, set(NON_NECESSARY)))))
    (reopen,) = find_all(root, data_cg_reopen=None)
    (centre,) = find_all(root, "dialog", data_consentgate_centre=None)
    assert reopen.get("data-consentgate-open") == ""
    assert find_all(centre, "button", data_cg_action="reject_all")


def test_opt_out_regions_get_the_privacy_choices_link_and_gpc_status(ui: UI, policy: Policy) -> None:
    ctx = context(policy, choice(policy, set(NON_NECESSARY)), region_mode="opt_out", gpc_honoured=True)
    root = parse(ui.body(ctx))
    (reopen,) = find_all(root, data_cg_reopen=None)
    assert text_of(reopen).startswith("Your Privacy Choices")
    statuses = [text_of(e) for e in find_all(root, data_cg_gpc_status=None)]
    assert statuses and all(s == "Opt-out preference signal honored" for s in statuses)
    assert not find_all(root, data_cg_gpc_notice=None)


def test_opt_out_link_text_is_configurable(policy: Policy) -> None:
    custom = replace(policy, notice={"en": {"reopen_optout": "Do Not Sell or Share My Personal Information"}})
    ui = UI(custom)
    ctx = context(custom, choice(custom, set()), region_mode="opt_out")
    (reopen,) = find_all(parse(ui.body(ctx)), data_cg_reopen=None)
    assert text_of(reopen) == "Do Not Sell or Share My Personal Information"


def test_gpc_in_an_opt_in_region_shows_a_notice_on_the_banner(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy, gpc_honoured=True)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert find_all(layer, data_cg_gpc_notice=None)
    assert not find_all(root, data_cg_gpc_status=None)


def heading_levels(markup: bytes) -> list[int]:
    return [
        int(e.tag[1])
        for e in parse(markup).iter()
        if isinstance(e.tag, str) and re.fullmatch(r"h[1-6]", e.tag)
    ]


def test_headings_go_down_one_level_at_a_time_on_the_page_and_in_the_dialog(ui: UI, policy: Policy) -> None:
    # axe "heading-order": the no-JS page had h1 then h3 (services, "Who is responsible").
    ctx = context(policy, met_services=tuple(policy.services))
    page, body = heading_levels(ui.preferences_page(ctx)), heading_levels(ui.body(ctx))
    assert page[0] == 1 and 2 in page and 3 in page and 4 not in page  # title, categories, services
    assert body[0] == 2 and 4 in body and 1 not in body  # inside the site's page: banner, centre
    for levels in (page, body):
        assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(levels))


@pytest.mark.parametrize("render", ["body", "preferences_page"])
def test_each_category_section_has_a_heading_that_holds_its_switchs_label(
    ui: UI, policy: Policy, render: str
) -> None:
    # v.Nu: "Section lacks heading" when the section was named by its label alone.
    ctx = context(policy, met_services=tuple(policy.services))
    root = parse(getattr(ui, render)(ctx))
    sections = find_all(root, "section", **{"class": "cg-cat"})
    assert len(sections) == len(policy.categories)
    for section in sections:
        (box,) = find_all(section, "input", name="category")
        (label,) = [e for e in find_all(section, "label") if e.get("for") == box.get("id")]
        assert section.get("aria-labelledby") == label.get("id")
        heading = next(e for e in section.iter() if isinstance(e.tag, str) and re.fullmatch(r"h[1-6]", e.tag))
        assert list(heading) == [label]  # the first heading of the section: its name, nothing else
        services = [e for e in find_all(section, "div", **{"class": "cg-svc"})]
        for service in services:  # each service a level below its category
            (name,) = [e for e in service if isinstance(e.tag, str) and re.fullmatch(r"h[1-6]", e.tag)]
            assert int(name.tag[1]) == int(heading.tag[1]) + 1


# -- placeholders ------------------------------------------------------------------------------


def test_placeholder_names_the_service_and_grants_only_it(ui: UI, policy: Policy) -> None:
    consent = choice(policy, {"analytics"})
    finding = FakeFinding("marketing", "youtube", "YouTube", "www.youtube.com")
    markup = ui.placeholder(finding, context(policy, consent))
    assert markup.isascii()
    root = parse(markup)
    (box,) = find_all(root, data_consentgate_placeholder=None)
    assert box.get("data-consentgate-service") == "youtube"
    assert box.get("data-consentgate-category") == "marketing"
    assert "YouTube" in text_of(box) and "Video player." in text_of(box)
    (form,) = find_all(box, "form")
    assert (form.get("method"), form.get("action")) == ("post", "/_consentgate/consent")
    fields = [(i.get("name"), i.get("value")) for i in find_all(form, "input")]
    assert ("action", "save") in fields
    assert ("service", "youtube") in fields
    # Only its grant: the server adds it to the choice stored when the button is pressed (the
    # earlier grant of analytics survives there, tests/http/test_endpoints.py).
    assert [name for name, _ in fields if name in ("category", "service")] == ["service"]
    (button,) = find_all(form, "button")
    # Its accessible name says what it loads (a page may hold many); "Load content" is what shows.
    assert text_of(button) == "Load content (YouTube)"
    (hidden_part,) = find_all(button, "span", **{"class": "cg-vh"})
    assert text_of(hidden_part) == " (YouTube)"
    assert (box.get("role"), box.get("aria-label")) == ("group", "YouTube")


def test_placeholder_is_phrasing_content_but_for_its_form(ui: UI, policy: Policy) -> None:
    # It stands where its frame stood, a paragraph included (a <div> or <p> there would end the
    # paragraph); the rewriter moves its form, which holds hidden fields only once the button
    # names it (consentgate.html.placeholders), to where a form start tag ends no paragraph.
    finding = FakeFinding("marketing", "youtube", "YouTube", "www.youtube.com")
    (box,) = find_all(parse(ui.placeholder(finding, context(policy))), data_consentgate_placeholder=None)
    assert box.tag == "span"
    assert {e.tag for e in box.iter()} <= {"span", "button", "a", "form", "input"}
    (form,) = find_all(box, "form")
    assert {e.get("type") for e in find_all(form, "input")} == {"hidden"}


def test_placeholder_no_longer_depends_on_the_visitors_choice(ui: UI, policy: Policy) -> None:
    finding = FakeFinding("marketing", "youtube", "YouTube", "www.youtube.com")
    before = ui.placeholder(finding, context(policy))
    after = ui.placeholder(finding, context(policy, choice(policy, {"analytics", "preferences"})))
    assert before == after
    assert ui.cached_shapes()["placeholder"] == 1


def test_placeholder_for_an_unknown_host_grants_its_category(ui: UI, policy: Policy) -> None:
    finding = FakeFinding("marketing", None, "", "embed.example.net")
    root = parse(ui.placeholder(finding, context(policy)))
    (box,) = find_all(root, data_consentgate_placeholder=None)
    assert "embed.example.net" in text_of(box)
    assert "data-consentgate-service" not in box.attrib
    (grant,) = find_all(box, "input", data_consentgate_grant=None)
    assert (grant.get("name"), grant.get("value")) == ("category", "marketing")


def test_an_undeclared_hosts_placeholder_grants_the_category_unknown_hosts_count_as(
    ui: UI, policy: Policy
) -> None:
    # The rewriter names an undeclared host's frame "unknown" (unknown_third_party = "block"):
    # "Load content" grants what that counts as, marketing here, and says what that is.
    finding = FakeFinding("unknown", None, "", "booking.example-partner.net")
    root = parse(ui.placeholder(finding, context(policy)))
    (box,) = find_all(root, data_consentgate_placeholder=None)
    assert box.get("data-consentgate-category") == "marketing"
    (grant,) = find_all(box, "input", data_consentgate_grant=None)
    assert (grant.get("name"), grant.get("value")) == ("category", "marketing")
    assert "booking.example-partner.net" in text_of(box) and "Shows ads." in text_of(box)
    assert ui.unknown_category == "marketing"
    assert ui.state_json(context(policy))["unknown"] == "marketing"


def test_unknown_hosts_count_as_the_most_sensitive_optional_category(policy: Policy) -> None:
    without_marketing = replace(policy, categories=tuple(c for c in policy.categories if c.id != "marketing"))
    assert UI(without_marketing).unknown_category == "analytics"
    only_required = replace(policy, categories=tuple(c for c in policy.categories if c.required))
    assert UI(only_required).unknown_category is None


# -- escaping and encoding ---------------------------------------------------------------------


def hostile_policy() -> Policy:
    evil = "<script>alert(1)</script>"
    categories = tuple(
        replace(c, label={"en": evil}, description={"en": f'"{evil}\u2028'}) if c.id == "marketing" else c
        for c in make_policy().categories
    )
    services = (
        *make_policy().services,
        Service('x"><img src=x onerror=alert(2)>', evil, "marketing", provider=evil, description=evil),
    )
    return make_policy(
        categories=categories,
        services=services,
        controller=Controller(name=evil, address=evil, contact=evil, privacy_url="/privacy?a=1&b=<2>"),
    )


def test_policy_strings_are_shown_as_text_never_as_markup() -> None:
    policy = hostile_policy()
    ui = UI(policy)
    ctx = context(policy)
    finding = FakeFinding("marketing", 'x"><img src=x onerror=alert(2)>', "", "")
    for markup in (ui.body(ctx), ui.preferences_page(ctx), ui.placeholder(finding, ctx)):
        root = parse(markup)
        assert not list(root.iter("script"))
        assert not [img for img in root.iter("img") if img.get("onerror")]
        assert "<script>alert(1)</script>" in text_of(root)
    services = {
        e.get("data-consentgate-service")
        for e in find_all(parse(ui.body(ctx)), data_consentgate_service=None)
    }
    assert 'x"><img src=x onerror=alert(2)>' in services


def test_javascript_urls_in_catalog_entries_are_dropped(policy: Policy) -> None:
    odd = Service("odd", "Odd", "analytics", privacy_url="javascript:alert(1)", origin="catalog")
    ui = UI(replace(policy, services=(*policy.services, odd)))
    root = parse(ui.body(context(policy, met_services=(odd,))))
    assert not [a for a in root.iter("a") if "javascript" in a.get("href", "")]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", " "])
def test_an_unsafe_privacy_url_is_refused_at_start_up(policy: Policy, url: str) -> None:
    with pytest.raises(UIConfigError) as error:
        UI(replace(policy, controller=Controller(privacy_url=url)))
    assert error.value.key == "controller.privacy_url"


def test_an_unsafe_service_privacy_url_in_the_policy_is_refused(policy: Policy) -> None:
    bad = Service("bad", "Bad", "analytics", privacy_url="javascript:x")
    with pytest.raises(UIConfigError) as error:
        UI(replace(policy, services=(*policy.services, bad)))
    assert error.value.key == "services.bad.privacy_url"


@pytest.mark.parametrize("prefix", ["", "_consentgate", "/_consentgate/", "/a b", '/x"'])
def test_a_bad_prefix_is_refused(policy: Policy, prefix: str) -> None:
    with pytest.raises(UIConfigError) as error:
        UI(policy, prefix=prefix)
    assert error.value.key == "prefix"


def test_custom_prefix_is_used_for_every_url(policy: Policy) -> None:
    ui = UI(policy, prefix="/privacy-gate")
    head = ui.head(context(policy)).decode()
    body = ui.body(context(policy)).decode()
    assert "/_consentgate" not in head + body
    assert 'action="/privacy-gate/consent"' in body
    assert ui.state_json(context(policy))["prefix"] == "/privacy-gate"


def test_injected_snippets_are_ascii_in_every_language(policy: Policy) -> None:
    ui = UI(policy)
    for language in BUILTIN_LANGUAGES:
        ctx = context(policy, locale=language, met_services=(policy.service("youtube"),))
        finding = FakeFinding("marketing", "youtube", "YouTube", "youtube.com")
        for snippet in (ui.head(ctx), ui.body(ctx), ui.placeholder(finding, ctx)):
            assert snippet.isascii(), language


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_each_language_renders_its_own_texts(ui: UI, policy: Policy, language: str) -> None:
    texts = builtin_table(language)
    root = parse(ui.body(context(policy, locale=language)))
    (layer,) = find_all(root, data_cg_layer="1")
    assert layer.get("lang") == language
    content = text_of(layer)
    for key in ("banner_title", "banner_text", "banner_withdraw", "accept_all", "reject_all", "customise"):
        assert texts[key] in content, key
    assert texts["category_analytics"] in content  # standard categories are translated too
    page = ui.preferences_page(context(policy, locale=language)).decode("utf-8")
    assert texts["prefs_title"] in text_of(parse(page))


def test_an_unknown_locale_in_the_context_falls_back_to_the_default(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy, locale="xx-YY")))
    (layer,) = find_all(root, data_cg_layer="1")
    assert layer.get("lang") == "en"


def test_site_texts_replace_built_in_ones(policy: Policy) -> None:
    custom = replace(
        policy,
        notice={"de": {"reject_all": "Nur notwendige", "category_analytics": "Reichweite"}},
    )
    ui = UI(custom)
    content = text_of(parse(ui.body(context(custom, locale="de"))))
    assert "Nur notwendige" in content and "Alle ablehnen" not in content
    assert "Reichweite" in content
    assert ui.notice("de")["texts"]["reject_all"] == "Nur notwendige"


def test_site_category_translations_win_over_built_in_ones(policy: Policy) -> None:
    categories = tuple(
        replace(c, label={"en": "Statistics", "de": "Statistiken (Matomo)"}) if c.id == "analytics" else c
        for c in policy.categories
    )
    custom = replace(policy, categories=categories)
    ui = UI(custom)
    assert "Statistiken (Matomo)" in text_of(parse(ui.body(context(custom, locale="de"))))
    assert "Statistics" in text_of(parse(ui.body(context(custom, locale="en"))))


def test_an_unknown_message_key_is_refused_at_start_up(policy: Policy) -> None:
    with pytest.raises(LocaleError) as error:
        UI(replace(policy, notice={"en": {"reject_al": "No"}}))
    assert error.value.key == "notice.en.reject_al"
    assert "reject_all" in str(error.value)


def test_a_bad_theme_is_refused_at_start_up(policy: Policy) -> None:
    theme = replace(policy.theme, light={"button-fg": "#777777", "button-bg": "#888888"})
    with pytest.raises(ThemeError) as error:
        UI(replace(policy, theme=theme))
    assert error.value.key == "theme.light.button-fg"


def test_no_inline_style_attributes_anywhere(ui: UI, policy: Policy) -> None:
    ctx = context(policy)
    finding = FakeFinding("marketing", "youtube", "YouTube", "youtube.com")
    for markup in (ui.head(ctx), ui.body(ctx), ui.preferences_page(ctx), ui.placeholder(finding, ctx)):
        root = parse(markup)
        assert not [e for e in root.iter() if "style" in e.attrib]
        assert not list(root.iter("style"))


# -- head and page state -----------------------------------------------------------------------


def test_head_links_css_state_and_deferred_runtime_with_the_nonce(ui: UI, policy: Policy) -> None:
    head = ui.head(context(policy, extra_head='<script nonce="n0nce">window.cm=1</script>'))
    root = parse(head)
    (link,) = root.iter("link")
    assert link.get("href") == ui.asset_url("css")
    scripts = list(root.iter("script"))
    assert [s.get("id") or s.get("src") for s in scripts] == ["consentgate-state", None, ui.asset_url("js")]
    assert all(e.get("nonce") == "n0nce" for e in [link, *scripts])
    assert "defer" in scripts[-1].attrib
    assert scripts[0].get("type") == "application/json"


def test_head_without_a_nonce_has_no_nonce_attribute(ui: UI, policy: Policy) -> None:
    root = parse(ui.head(context(policy, nonce=None)))
    assert not [e for e in root.iter() if "nonce" in e.attrib]


def test_state_block_round_trips_and_cannot_end_the_script_element(ui: UI, policy: Policy) -> None:
    consent = replace(choice(policy, {"analytics"}), region="</script><!--\u2028&\u2029")
    ctx = context(policy, consent, csrf_token="</SCRIPT>")
    head = ui.head(ctx)
    assert head.lower().count(b"</script") == 2  # the state block's own end tag and the runtime's
    assert b"\xe2\x80\xa8" not in head and b"<!--" not in head
    (block,) = find_all(parse(head), "script", id="consentgate-state")
    assert json.loads(block.text or "") == ui.state_json(ctx)


def test_script_json_escapes_every_character_that_matters() -> None:
    encoded = script_json({"k": "<>&\u2028\u2029\u00e9"})
    assert re.fullmatch(r"[\x20-\x7e]+", encoded)
    for raw in "<>&":
        assert raw not in encoded
    assert json.loads(encoded) == {"k": "<>&\u2028\u2029\u00e9"}


def test_state_json_matches_the_interface(ui: UI, policy: Policy) -> None:
    consent = choice(policy, {"analytics"}, services={"youtube"}, denied_services={"matomo"})
    state = ui.state_json(context(policy, consent, region_mode="opt_in"))
    assert set(state) == {
        "v", "exists", "consentId", "categories", "services", "source", "issuedAt", "expiresAt",
        "gpc", "region", "mode", "prefix", "csrf", "locale", "nonce", "consentMode", "csp", "exempt",
        "unknown",
    }  # fmt: skip
    # The runtime reloads instead of activating in place under an enforcing consent CSP.
    assert state["csp"] == policy.csp
    assert state["v"] == 1 and state["exists"] is True
    assert state["consentId"] == consent.consent_id
    assert state["categories"] == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
    }
    assert state["services"] == {"youtube": True, "matomo": False}
    assert (state["issuedAt"], state["expiresAt"]) == (consent.issued_at, consent.expires_at)
    assert (state["csrf"], state["nonce"], state["locale"], state["mode"]) == (
        "csrf-token",
        "n0nce",
        "en",
        "opt_in",
    )


def test_consent_mode_values_follow_the_granted_categories(ui: UI, policy: Policy) -> None:
    state = ui.state_json(context(policy, choice(policy, {"analytics"})))
    assert state["consentMode"] == {
        "ad_storage": "denied",
        "ad_user_data": "denied",
        "ad_personalization": "denied",
        "analytics_storage": "granted",
        "functionality_storage": "denied",
        "personalization_storage": "denied",
        "security_storage": "granted",
    }


def test_consent_mode_values_are_absent_when_the_adapter_is_off(policy: Policy) -> None:
    off = replace(policy, consent_mode=replace(policy.consent_mode, mode="off"))
    assert UI(off).state_json(context(off))["consentMode"] is None


# -- assets ------------------------------------------------------------------------------------


def test_assets_are_served_under_their_content_hash(ui: UI) -> None:
    for kind, content_type in (("js", "text/javascript"), ("css", "text/css")):
        url = ui.asset_url(kind)
        name = url.rpartition("/")[2]
        assert url == f"/_consentgate/static/{name}"
        asset = ui.asset(name)
        assert asset is not None
        content, served_type = asset
        assert served_type.startswith(content_type)
        assert hashlib.sha256(content).hexdigest()[:16] in name
    assert ui.asset("runtime.js") == ui.asset(ui.asset_url("js").rpartition("/")[2])
    assert ui.asset("nope.js") is None
    assert ui.asset("../render.py") is None


def test_theme_values_reach_the_stylesheet_and_change_its_hash(policy: Policy) -> None:
    plain = UI(policy)
    themed = UI(replace(policy, theme=replace(policy.theme, light={"button-bg": "#000000"})))
    css = themed.asset(themed.asset_url("css").rpartition("/")[2])
    assert css is not None and b"--cg-button-bg:#000000" in css[0]
    assert themed.asset_url("css") != plain.asset_url("css")
    assert themed.asset_url("js") == plain.asset_url("js")


def test_runtime_and_stylesheet_together_stay_under_6_kb_gzipped(ui: UI) -> None:
    total = 0
    for kind in ("js", "css"):
        asset = ui.asset(ui.asset_url(kind).rpartition("/")[2])
        assert asset is not None
        total += len(gzip.compress(asset[0], compresslevel=6))
    assert total <= 6 * 1024, total


def test_the_served_stylesheet_drops_only_white_space_that_separates_nothing() -> None:
    source = resources.files("consentgate.ui").joinpath("static", "banner.css").read_text("utf-8")
    served = _strip_css(source)
    assert "\n" not in served and "/*" not in served and ";}" not in served
    # The same tokens in the same order: only comments, white space and a rule's last ";" went.
    without_comments = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    assert re.sub(r"\s+", "", served) == re.sub(r"\s+|;(?=\s*})", "", without_comments)
    # The spaces that mean something stay: descendant combinators, lists of values.
    assert ".cg p,.cg-p{margin:0 0 .5em}" in served
    assert re.search(r"@media \(max-width:[^)]+\),\(max-height:[^)]+\)\{", served)
    assert "calc(100vw - 2em)" in served and "min(44em,100% - 2em)" in served


def test_every_layer_states_its_own_direction(policy: Policy) -> None:
    """A page's own ``dir=rtl`` must not turn an English banner around, and a right-to-left
    language offered by the site gets ``dir=rtl`` on every layer."""
    hebrew = dict(builtin_table("en"))
    offered = replace(policy, languages=("en", "he"), notice={"he": {k: hebrew[k] for k in message_keys()}})
    ui = UI(offered)
    finding = FakeFinding("marketing", "youtube", "YouTube", "www.youtube.com")
    for locale, direction in (("en", "ltr"), ("he", "rtl")):
        ctx = context(offered, locale=locale)
        body = ui.body(ctx).decode()
        for layer in ("data-consentgate-banner", "data-cg-reopen", "data-consentgate-centre"):
            tag = re.search(r"<[^>]*\b" + layer + r"\b[^>]*>", body)
            assert tag is not None and f'dir="{direction}"' in tag.group(), (locale, layer)
        assert f'dir="{direction}"' in ui.placeholder(finding, ctx).decode()
        assert f'<html lang="{locale}" dir="{direction}">' in ui.preferences_page(ctx).decode()


_JS_LITERAL = r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|/(?![/*])(?:\\.|\[[^\]]*\]|[^/\\\n])+/[a-z]*"""


def _js_tokens(js: str) -> list[str]:
    """String literals whole, names whole, every other byte on its own (no whitespace)."""
    return re.findall(_JS_LITERAL + r"|[\w$]+|\S", js)


def test_the_served_runtime_is_the_source_token_for_token(ui: UI) -> None:
    source = (resources.files("consentgate.ui") / "static" / "runtime.js").read_text("utf-8")
    served = ui.asset("runtime.js")
    assert served is not None
    code = "\n".join(
        line for line in source.split("*/", 1)[1].splitlines() if not line.strip().startswith("//")
    )
    # Local names are shortened (consentgate.ui.mangle), one new name for each, never a name
    # the source uses: otherwise token for token.
    renamed = mangle(_strip_js(source)).names
    assert len(set(renamed.values())) == len(renamed)
    source_tokens, served_tokens = _js_tokens(code), _js_tokens(served[0].decode())
    assert not set(renamed.values()) & set(source_tokens)
    assert len(source_tokens) == len(served_tokens)
    for k, (mine, theirs) in enumerate(zip(source_tokens, served_tokens, strict=True)):
        before, after = source_tokens[k - 1], source_tokens[k + 1 : k + 2]
        if before == "." and re.fullmatch(r"cg[A-Z]\w*", mine):
            assert theirs == renamed[mine] and theirs.startswith("_"), (k, mine)  # our own expando
        elif before == "." or (after == [":"] and before in "{,") or before in ("get", "set"):
            assert theirs == mine, (k, mine)  # a property or key keeps its name
        else:
            assert theirs == renamed.get(mine, mine), (k, mine)
    # What the page and other scripts see keeps its name.
    assert {"get", "state", "show", "hide", "on", "consentgate", "dispatchEvent"} <= set(served_tokens)
    # Every string and regex literal of the source, spaces included, is served verbatim.
    for literal in re.findall(r"(?<=[(,=:!&|?;{ ])" + _JS_LITERAL, code):
        assert literal in served[0].decode(), literal


@pytest.mark.parametrize(
    ("line", "squeezed"),
    [
        ("var a = b + c, d = [1, 2];", "var a=b+c,d=[1,2];"),
        ("x = a + +b - -c;", "x=a+ +b- -c;"),
        ('s = "two  spaces " + \'and  here\' + "\\" ";', 's="two  spaces "+\'and  here\'+"\\" ";'),
        ("if (/a b|c d/i.test(t)) return / x /.test(u);", "if(/a b|c d/i.test(t))return/ x /.test(u);"),
        ('return typeof x === "string" && x in y;', 'return typeof x==="string"&&x in y;'),
        ('el.replace(/\\[/g, INERT + "[");', 'el.replace(/\\[/g,INERT+"[");'),
    ],
)
def test_squeezing_keeps_what_a_token_needs(line: str, squeezed: str) -> None:
    assert _squeeze(line) == squeezed


def test_lines_join_only_where_no_semicolon_is_inserted() -> None:
    js = "/* header */\nvar f = function () {\n  return 1;\n}\n// note\nvar g = [\n  1,\n  2\n];\nf()\ng();\n"
    # After `}` and `)` the break stays: there a semicolon may be what it stands for.
    assert _strip_js(js) == "var f=function(){return 1;}\nvar g=[\n1,2\n];f()\ng();\n"


def test_runtime_never_writes_the_consent_cookie(ui: UI) -> None:
    asset = ui.asset("runtime.js")
    assert asset is not None
    assert b"document.cookie" not in asset[0]
    assert b"localStorage" not in asset[0]


def test_every_button_shares_one_size_rule_in_the_stylesheet(ui: UI) -> None:
    asset = ui.asset("banner.css")
    assert asset is not None
    css = asset[0].decode()
    assert "accept" not in css and "reject" not in css
    # Nothing moves (no animation or transition to reduce), and focus is always visible.
    assert "animation" not in css and "transition" not in css and ":focus-visible" in css


# -- notice archive ----------------------------------------------------------------------------


def test_notice_holds_the_exact_texts_categories_services_and_cookies(ui: UI, policy: Policy) -> None:
    notice = ui.notice("en")
    assert notice["texts"] == dict(builtin_table("en"))
    assert [c["id"] for c in notice["categories"]] == [c.id for c in policy.categories]
    assert [s["id"] for s in notice["services"]] == ["session", "matomo", "meta-pixel"]
    (matomo,) = [s for s in notice["services"] if s["id"] == "matomo"]
    assert matomo["cookies"][0]["lifetime"] == "13 months"
    assert notice["controller"]["name"] == "Example Ltd"
    assert notice["fingerprint"] == policy.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", notice["catalog"])


def test_notice_hash_is_the_sha256_of_the_canonical_notice(ui: UI) -> None:
    for language in ui.languages:
        canonical = json.dumps(ui.notice(language), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert ui.notice_hash(language) == hashlib.sha256(canonical.encode()).hexdigest()


def test_notice_hash_changes_with_a_text_and_nothing_else(policy: Policy) -> None:
    base = UI(policy)
    again = UI(make_policy())
    edited = UI(replace(policy, notice={"fr": {"reject_all": "Continuer sans accepter"}}))
    assert again.notice_hash("fr") == base.notice_hash("fr")
    assert edited.notice_hash("fr") != base.notice_hash("fr")
    assert edited.notice_hash("de") == base.notice_hash("de")


def test_notice_of_a_language_not_offered_is_a_key_error(policy: Policy) -> None:
    ui = UI(replace(policy, languages=("en", "de")))
    assert ui.languages == ("en", "de")
    with pytest.raises(KeyError):
        ui.notice("fr")


def test_notice_is_a_fresh_copy(ui: UI) -> None:
    ui.notice("en")["texts"]["reject_all"] = "changed"
    assert ui.notice("en")["texts"]["reject_all"] == "Reject all"


def test_a_category_added_by_the_site_is_rendered_with_its_own_words(policy: Policy) -> None:
    social = Category("social", {"en": "Social media"}, {"en": "Share buttons."})
    custom = replace(policy, categories=(*policy.categories, social))
    root = parse(UI(custom).body(context(custom, locale="de")))
    assert "Social media: Share buttons." in text_of(root)


def test_uk_statistics_exception_is_disclosed_where_it_applies(policy: Policy) -> None:
    categories = tuple(
        replace(c, uk_statistics=True) if c.id == "analytics" else c for c in policy.categories
    )
    uk = replace(policy, categories=categories)
    ui = UI(uk)
    consent = replace(no_choice(uk), categories=frozenset({"analytics"}), source="region_default")
    root = parse(ui.body(context(uk, consent, show_banner=True, region_mode="uk_statistics")))
    (layer,) = find_all(root, data_cg_layer="1")
    notes = find_all(root, data_cg_uk_statistics=None)
    assert len(notes) == 2  # first layer and centre, next to the analytics category only
    assert find_all(layer, data_cg_uk_statistics=None)
    (analytics,) = find_all(root, "input", name="category", value="analytics")
    assert "checked" in analytics.attrib  # runs until the visitor objects by unticking it
    elsewhere = parse(ui.body(context(uk, region_mode="opt_in")))
    assert not find_all(elsewhere, data_cg_uk_statistics=None)


def test_region_rule_position_and_link_text_override_the_defaults(ui: UI, policy: Policy) -> None:
    root = parse(ui.body(context(policy, banner_position="center")))
    (layer,) = find_all(root, data_cg_layer="1")
    assert "cg-pos-center" in layer.get("class", "").split()
    ctx = context(
        policy,
        choice(policy, set()),
        region_mode="opt_out",
        choices_link_text="Do Not Sell or Share My Personal Information",
    )
    (reopen,) = find_all(parse(ui.body(ctx)), data_cg_reopen=None)
    assert text_of(reopen) == "Do Not Sell or Share My Personal Information"


def test_extra_head_stays_ascii(ui: UI, policy: Policy) -> None:
    head = ui.head(context(policy, extra_head="<meta name=x content=\u00e9>"))
    assert head.isascii() and b"&#233;" in head


def test_state_has_no_consent_id_before_a_choice(ui: UI, policy: Policy) -> None:
    state = ui.state_json(context(policy))
    assert state["exists"] is False and state["consentId"] == ""
