from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.policy.catalog import catalog_lookup, catalog_service, load_catalog
from consentgate.policy.lookup import Lookup, normalise_host
from consentgate.policy.model import CookieSpec, Service


def site_service(service_id: str, category: str, **fields: object) -> Service:
    return Service(id=service_id, name=service_id, category=category, origin="policy", **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def catalog() -> Lookup:
    return catalog_lookup()


# -- hosts ------------------------------------------------------------------------------------
def test_host_matches_itself_and_every_subdomain() -> None:
    lookup = Lookup([site_service("stats", "analytics", hosts=("stats.example.net",))], [])
    assert lookup.service_for_host("stats.example.net") is not None
    assert lookup.service_for_host("eu.cdn.stats.example.net") is not None
    assert lookup.service_for_host("example.net") is None
    assert lookup.service_for_host("notstats.example.net") is None  # label boundary, not suffix


def test_the_most_specific_catalog_host_wins() -> None:
    broad = Service("broad", "Broad", "marketing", hosts=("example.com",), origin="catalog")
    narrow = Service("narrow", "Narrow", "analytics", hosts=("a.example.com",), origin="catalog")
    lookup = Lookup([broad, narrow], [])
    assert lookup.service_for_host("x.a.example.com") is narrow
    assert lookup.service_for_host("b.example.com") is broad


def test_host_lookup_ignores_case_trailing_dot_and_wildcard_prefix() -> None:
    lookup = Lookup([site_service("s", "analytics", hosts=("*.Tracker.Example",))], [])
    assert lookup.service_for_host("CDN.TRACKER.example.") is not None
    assert normalise_host(" *.Example.COM. ") == "example.com"


def test_policy_service_beats_catalog_for_the_same_host(catalog: Lookup) -> None:
    own = site_service("own-stats", "necessary", hosts=("google-analytics.com",))
    lookup = Lookup([*load_catalog(), own], [])
    assert lookup.service_for_host("www.google-analytics.com") is own
    assert catalog.service_for_host("www.google-analytics.com") is catalog_service("google-analytics")


def test_policy_parent_domain_beats_a_more_specific_catalog_host() -> None:
    # The site's declaration is final even when the catalog knows a deeper subdomain.
    catalog_entry = Service("ads", "Ads", "marketing", hosts=("ads.example.org",), origin="catalog")
    own = site_service("cdn", "preferences", hosts=("example.org",))
    assert Lookup([catalog_entry, own], []).service_for_host("ads.example.org") is own


def test_unknown_and_absurd_hosts_return_none(catalog: Lookup) -> None:
    assert catalog.service_for_host("") is None
    assert catalog.service_for_host(".") is None
    assert catalog.service_for_host("a." * 200 + "google-analytics.com") is None  # > 253 chars


def test_first_party_hosts_cover_their_subdomains() -> None:
    lookup = Lookup([], ["example.com", "Static.Example.NET"])
    assert lookup.is_first_party("example.com")
    assert lookup.is_first_party("www.example.com")
    assert lookup.is_first_party("img.static.example.net")
    assert not lookup.is_first_party("example.net")
    assert not lookup.is_first_party("badexample.com")
    assert not lookup.is_first_party("")


# -- cookies ----------------------------------------------------------------------------------
def test_exact_cookie_names_and_patterns(catalog: Lookup) -> None:
    assert catalog.service_for_cookie("_ga") is catalog_service("google-analytics")
    assert catalog.service_for_cookie("_ga_ABC123") is catalog_service("google-analytics")
    assert catalog.service_for_cookie("_fbp") is catalog_service("meta-pixel")
    assert catalog.service_for_cookie("_hjSessionUser_123") is catalog_service("hotjar")
    assert catalog.service_for_cookie("_GA") is None  # cookie names are case-sensitive


def test_policy_cookie_beats_catalog_cookie(catalog: Lookup) -> None:
    own = site_service("own", "necessary", cookies=(CookieSpec("_ga"),))
    lookup = Lookup([*load_catalog(), own], [])
    assert lookup.service_for_cookie("_ga") is own
    assert lookup.service_for_cookie("_gid") is catalog_service("google-analytics")


def test_policy_pattern_beats_catalog_exact_name() -> None:
    catalog_entry = Service("c", "C", "marketing", cookies=(CookieSpec("ab_1"),), origin="catalog")
    own = site_service("own", "preferences", cookies=(CookieSpec(r"ab_\d+", is_regex=True),))
    assert Lookup([catalog_entry, own], []).service_for_cookie("ab_1") is own


def test_policy_patterns_keep_their_own_groups_and_backreferences() -> None:
    own = site_service("own", "analytics", cookies=(CookieSpec(r"(x+)-\1", is_regex=True),))
    lookup = Lookup([own], [])
    assert lookup.service_for_cookie("xx-xx") is own
    assert lookup.service_for_cookie("xx-x") is None


def test_cookie_patterns_must_match_the_whole_name() -> None:
    own = site_service("own", "analytics", cookies=(CookieSpec(r"trk_\d+", is_regex=True),))
    catalog_entry = Service(
        "c", "C", "marketing", cookies=(CookieSpec("v_.*", is_regex=True),), origin="catalog"
    )
    lookup = Lookup([own, catalog_entry], [])
    assert lookup.service_for_cookie("trk_12") is own
    assert lookup.service_for_cookie("trk_12x") is None
    assert lookup.service_for_cookie("xv_1") is None
    assert lookup.service_for_cookie("v_1") is catalog_entry


def test_third_party_cookie_specs_are_not_indexed_by_name() -> None:
    spec = CookieSpec("id", domain="doubleclick.net", third_party=True)
    lookup = Lookup([site_service("ads", "marketing", cookies=(spec,))], [])
    assert lookup.service_for_cookie("id") is None


# -- inline signatures --------------------------------------------------------------------------
GTAG_SNIPPET = b"""
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-XXXXXXX');
"""
GTM_SNIPPET = b"""(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-XXXX');"""
META_PIXEL = b"""!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');fbq('init', '123');fbq('track', 'PageView');"""
HOTJAR = b"""(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
h._hjSettings={hjid:1234,hjsv:6};a=o.getElementsByTagName('head')[0];r=o.createElement('script');
r.async=1;r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;a.appendChild(r);
})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');"""
CLARITY = b"""(function(c,l,a,r,i,t,y){c[a]=c[a]||function(){(c[a].q=c[a].q||[]).push(arguments)};
t=l.createElement(r);t.async=1;t.src="https://www.clarity.ms/tag/"+i;
y=l.getElementsByTagName(r)[0];y.parentNode.insertBefore(t,y);
})(window, document, "clarity", "script", "abc");"""
MATOMO = b"""var _paq = window._paq = window._paq || [];_paq.push(['trackPageView']);
_paq.push(['enableLinkTracking']);(function() {var u="//stats.example.org/";
_paq.push(['setTrackerUrl', u+'matomo.php']);_paq.push(['setSiteId', '1']);})();"""
LINKEDIN = b"""_linkedin_partner_id = "123"; window._linkedin_data_partner_ids =
window._linkedin_data_partner_ids || []; window._linkedin_data_partner_ids.push(_linkedin_partner_id);"""
TIKTOK = b"""!function (w, d, t) { w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];
ttq.load('C123'); ttq.page(); }(window, document, 'ttq');"""
UA_SNIPPET = b"""(function(i,s,o,g,r,a,m){i['GoogleAnalyticsObject']=r;i[r]=i[r]||function(){
(i[r].q=i[r].q||[]).push(arguments)},i[r].l=1*new Date();})(window,document,'script',
'https://www.google-analytics.com/analytics.js','ga');
ga('create', 'UA-1-1', 'auto');ga('send', 'pageview');"""


@pytest.mark.parametrize(
    ("snippet", "service_id"),
    [
        (GTAG_SNIPPET, "google-analytics"),
        (GTM_SNIPPET, "google-tag-manager"),
        (META_PIXEL, "meta-pixel"),
        (HOTJAR, "hotjar"),
        (CLARITY, "microsoft-clarity"),
        (MATOMO, "matomo"),
        (LINKEDIN, "linkedin-insight"),
        (TIKTOK, "tiktok-pixel"),
        (UA_SNIPPET, "google-analytics"),
        (b"snaptr('init', 'abc'); snaptr('track', 'PAGE_VIEW');", "snapchat"),
        (b"twq('init','o1234'); twq('track','PageView');", "twitter-ads"),
        (b"pintrk('load', '2612'); pintrk('page');", "pinterest"),
        (b"(adsbygoogle = window.adsbygoogle || []).push({});", "google-ads"),
        (b"window.intercomSettings = {app_id: 'x'};", "intercom"),
        (b"var _hsq = window._hsq = window._hsq || []; _hsq.push(['setPath', '/']);", "hubspot"),
    ],
)
def test_signatures_found_in_real_snippet_shapes(catalog: Lookup, snippet: bytes, service_id: str) -> None:
    found = catalog.service_for_inline(snippet)
    assert found is not None and found.id == service_id


def test_consent_mode_default_snippet_is_not_a_tracker(catalog: Lookup) -> None:
    # Consent Mode's defaults must run before any choice; blocking them would defeat them.
    snippet = b"""window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}
gtag('consent', 'default', {'ad_storage': 'denied', 'analytics_storage': 'denied'});"""
    assert catalog.service_for_inline(snippet) is None


def test_first_party_code_does_not_match(catalog: Lookup) -> None:
    for script in [
        b"const analytics = new Analytics(); analytics.track('signup');",
        b"function trackEvent(name) { fetch('/api/analytics', {method: 'POST'}); }",
        b"var users_account = load(); var misc_project = 1;",
        b"window.app = {session: 'abc', tracking: false};",
    ]:
        assert catalog.service_for_inline(script) is None, script


def test_snippet_with_several_vendors_takes_the_most_sensitive_category(catalog: Lookup) -> None:
    both = b"gtag('js', new Date()); gtag('config', 'G-1'); gtag('config', 'AW-2');"
    found = catalog.service_for_inline(both)
    assert found is not None and found.category == "marketing"


def test_inline_signatures_regex_and_service_for_signature_agree(catalog: Lookup) -> None:
    assert catalog.inline_signatures is not None
    match = catalog.inline_signatures.search(META_PIXEL)
    assert match is not None
    assert catalog.service_for_signature(match.group()).id == "meta-pixel"
    with pytest.raises(KeyError):
        catalog.service_for_signature(b"not a signature")


def test_longer_signature_wins_at_the_same_position() -> None:
    short = site_service("short", "analytics", signatures=("track(",))
    long = site_service("long", "marketing", signatures=("track(ads",))
    lookup = Lookup([short, long], [])
    assert lookup.inline_signatures is not None
    match = lookup.inline_signatures.search(b"x.track(ads)")
    assert match is not None and match.group() == b"track(ads"


def test_policy_signature_beats_catalog_signature() -> None:
    catalog_entry = Service("c", "C", "marketing", signatures=("fbq(",), origin="catalog")
    own = site_service("own", "analytics", signatures=("fbq(",))
    found = Lookup([catalog_entry, own], []).service_for_inline(b"fbq('init')")
    assert found is own


def test_no_signatures_means_no_regex() -> None:
    lookup = Lookup([], [])
    assert lookup.inline_signatures is None
    assert lookup.service_for_inline(b"fbq('init')") is None


def test_catalog_signatures_are_not_bare_words() -> None:
    # A signature must carry a call shape, a host or an identifier nobody else uses.
    generic = re.compile(r"[a-z]{1,8}")  # `adsbygoogle` is fine, `tracker` is not
    for service in load_catalog():
        for signature in service.signatures:
            assert len(signature) >= 4 and not generic.fullmatch(signature), (service.id, signature)


# -- robustness -------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_host_strings_never_raise(host: str) -> None:
    lookup = catalog_lookup()
    lookup.service_for_host(host)
    lookup.is_first_party(host)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_cookie_names_never_raise(name: str) -> None:
    catalog_lookup().service_for_cookie(name)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_script_bytes_never_raise(script: bytes) -> None:
    catalog_lookup().service_for_inline(script)
