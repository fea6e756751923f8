"""Hand-curated corrections and additions for ``build_catalog.py``.

The two data sets give hosts (third-party-web) and cookie names (Open Cookie Database). What they
do not give, and what this file adds:

- stable ids for the services sites name most often (``google-analytics``, ``meta-pixel``, …);
- inline-script signatures: literal substrings of the snippets vendors ask sites to paste. They
  must be specific enough never to match first-party code, so call shapes and vendor host names
  only, never a bare word such as "analytics";
- corrections where a data set is wrong for our purpose (an overbroad host pattern, a tracker filed
  as "utility", a cookie the vendor's script sets on the site's own domain but that the Open Cookie
  Database lists under the vendor's domain);
- privacy-policy URLs, only where the address is certain. Everything else keeps the URL the Open
  Cookie Database gives, or none.
"""

from __future__ import annotations

from typing import TypedDict


class ServiceOverlay(TypedDict, total=False):
    entity: str  # the third-party-web entity this id stands for
    also_entities: list[str]  # further entities merged into this service
    name: str
    provider: str
    category: str  # consentgate category, overrides the mapped third-party-web one
    purposes: list[str]
    description: str
    privacy_url: str
    platforms: list[str]  # Open Cookie Database platforms whose cookies belong here
    add_hosts: list[str]
    drop_hosts: list[str]  # third-party-web patterns (as written there) that are too broad
    signatures: list[str]
    sale_share: bool


class ExtraCookie(TypedDict, total=False):
    name: str
    is_regex: bool
    lifetime: str
    description: str


GOOGLE_PRIVACY = "https://policies.google.com/privacy"
MICROSOFT_PRIVACY = "https://privacy.microsoft.com/privacystatement"

# Google Consent Mode's `gtag('consent', 'default', …)` must run *before* consent, so `gtag(` on
# its own is not a signature: only the commands that configure or send measurement are.
# Nor is `gtag('set', …)`: Consent Mode setups send `gtag('set', 'ads_data_redaction', true)` and
# `url_passthrough` with their default (Cookiebot's snippet does), and a default held back and run
# after the visitor's grant would deny again what was just granted. It only configures the tag.
_GTAG_MEASUREMENT = [
    f"gtag({q}{command}{q}" for command in ("config", "js", "event", "get") for q in ("'", '"')
]
_GTAG_ADS = [
    f"gtag({q}config{q},{space}{q}{prefix}-"
    for prefix in ("AW", "DC")
    for q in ("'", '"')
    for space in ("", " ")
]

SERVICES: dict[str, ServiceOverlay] = {
    "google-analytics": {
        "entity": "Google Analytics",
        "provider": "Google",
        "privacy_url": GOOGLE_PRIVACY,
        "platforms": ["Google Analytics"],
        "signatures": [
            *_GTAG_MEASUREMENT,
            "ga('create'",
            'ga("create"',
            "ga('send'",
            'ga("send"',
            "GoogleAnalyticsObject",
            "google-analytics.com/analytics.js",
            "google-analytics.com/ga.js",
            "_gaq.push(",
            "urchinTracker(",
            "_uacct",
        ],
    },
    "google-tag-manager": {
        "entity": "Google Tag Manager",
        "provider": "Google",
        "privacy_url": GOOGLE_PRIVACY,
        "platforms": ["Google Tag Manager"],
        "signatures": [
            "googletagmanager.com/gtm.js",
            "googletagmanager.com/gtag/js",
            "'gtm.start'",
            '"gtm.start"',
        ],
    },
    "google-ads": {
        "entity": "Google/Doubleclick Ads",
        "name": "Google Ads / DoubleClick",
        "provider": "Google",
        "privacy_url": GOOGLE_PRIVACY,
        "platforms": ["Google Ads", "Google AdSense", "DoubleClick/Google Marketing"],
        "signatures": [
            *_GTAG_ADS,
            "adsbygoogle",
            "googletag.",
            "pagead2.googlesyndication.com",
            "securepubads.g.doubleclick.net",
            "googleads.g.doubleclick.net",
            "www.googleadservices.com",
            "www.googletagservices.com",
            "google_conversion_id",
        ],
    },
    "google-optimize": {
        "entity": "Google Optimize",
        "provider": "Google",
        "privacy_url": GOOGLE_PRIVACY,
        # The anti-flicker snippet hides the page until Optimize loads or 4 s pass: with Optimize
        # held back, it would hide every page for 4 s. It waits with Optimize.
        "signatures": ["'async-hide','dataLayer'", '"async-hide","dataLayer"'],
    },
    "kameleoon": {"entity": "Kameleoon", "signatures": ["kameleoonLoadingStyleSheet"]},  # the same, 1 s
    "meta-pixel": {
        "entity": "Facebook",
        "name": "Meta Pixel and Facebook plugins",
        "provider": "Meta Platforms",
        "platforms": ["Facebook"],
        "signatures": ["fbq(", "_fbq", "connect.facebook.net"],
    },
    "instagram": {
        "entity": "Instagram",
        "provider": "Meta Platforms",
        "platforms": ["Instagram"],
        "signatures": ["instagram.com/embed.js", "instgrm.Embeds"],
    },
    "youtube": {
        "entity": "YouTube",
        "provider": "Google",
        "privacy_url": GOOGLE_PRIVACY,
        "platforms": ["Youtube"],
        "signatures": ["youtube.com/iframe_api", "youtube.com/embed/", "youtube-nocookie.com/embed/"],
    },
    "vimeo": {
        "entity": "Vimeo",
        "privacy_url": "https://vimeo.com/privacy",
        "platforms": ["Vimeo"],
        "signatures": ["player.vimeo.com"],
    },
    "hotjar": {
        "entity": "Hotjar",
        "privacy_url": "https://www.hotjar.com/legal/policies/privacy/",
        "platforms": ["Hotjar"],
        "signatures": ["_hjSettings", "static.hotjar.com", "script.hotjar.com"],
    },
    "microsoft-clarity": {
        "entity": "Clarity",
        "name": "Microsoft Clarity",
        "provider": "Microsoft",
        # third-party-web files Clarity as "utility"; it records sessions (heatmaps, replays).
        "category": "analytics",
        "purposes": ["analytics"],
        "privacy_url": MICROSOFT_PRIVACY,
        "signatures": ["clarity.ms/tag", "function(c,l,a,r,i,t,y)"],
    },
    "bing-ads": {
        "entity": "Bing Ads",
        "name": "Microsoft Advertising (Bing UET)",
        "provider": "Microsoft",
        "privacy_url": MICROSOFT_PRIVACY,
        "platforms": ["Bing / Microsoft"],
        # Every Microsoft site and the Azure CDN are not advertising.
        "drop_hosts": ["*.microsoft.com", "*.msecnd.net"],
        "signatures": ["bat.bing.com", "window.uetq", "uetq.push("],
    },
    "linkedin-insight": {
        "entity": "LinkedIn Ads",
        "name": "LinkedIn Insight Tag",
        "provider": "LinkedIn",
        "privacy_url": "https://www.linkedin.com/legal/privacy-policy",
        "platforms": ["LinkedIn"],
        "signatures": ["_linkedin_partner_id", "_linkedin_data_partner_ids", "snap.licdn.com"],
    },
    "linkedin": {
        "entity": "LinkedIn",
        "name": "LinkedIn plugins",
        "provider": "LinkedIn",
        "privacy_url": "https://www.linkedin.com/legal/privacy-policy",
        "signatures": ["platform.linkedin.com/in.js"],
    },
    "tiktok-pixel": {
        "entity": "TikTok",
        "name": "TikTok Pixel and embeds",
        "provider": "TikTok",
        "platforms": ["TikTok"],
        "signatures": [
            "analytics.tiktok.com",
            "TiktokAnalyticsObject",
            "ttq.load(",
            "ttq.page(",
            "ttq.track(",
            "tiktok.com/embed.js",
        ],
    },
    "twitter": {
        "entity": "Twitter",
        "name": "X (Twitter) widgets",
        "provider": "X Corp.",
        "privacy_url": "https://x.com/en/privacy",
        "platforms": ["X"],
        "signatures": ["platform.twitter.com/widgets.js", "twttr.widgets"],
    },
    "twitter-ads": {
        "entity": "Twitter Online Conversion Tracking",
        "name": "X (Twitter) Ads pixel",
        "provider": "X Corp.",
        "privacy_url": "https://x.com/en/privacy",
        "signatures": ["twq(", "static.ads-twitter.com"],
    },
    "pinterest": {
        "entity": "Pinterest",
        "name": "Pinterest Tag and widgets",
        "privacy_url": "https://policy.pinterest.com/privacy-policy",
        "platforms": ["Pinterest"],
        "signatures": ["pintrk(", "s.pinimg.com/ct/", "assets.pinterest.com/js/pinit"],
    },
    "snapchat": {
        "entity": "Snapchat",
        "name": "Snap Pixel",
        "provider": "Snap Inc.",
        # third-party-web files it as "analytics"; the Snap Pixel is an advertising conversion tag.
        "category": "marketing",
        "purposes": ["advertising"],
        "platforms": ["Snapchat"],
        "signatures": ["snaptr(", "sc-static.net/scevent"],
    },
    "reddit-pixel": {
        "entity": "reddit",
        "name": "Reddit Pixel and embeds",
        "privacy_url": "https://www.reddit.com/policies/privacy-policy",
        "platforms": ["Reddit"],
        "signatures": ["rdt('init'", 'rdt("init"', "redditstatic.com/ads/pixel.js"],
    },
    "matomo": {
        "entity": "Matomo",
        "name": "Matomo",
        # Usually self-hosted: the site itself is the controller, so no vendor privacy URL.
        "platforms": ["Matomo"],
        "signatures": ["_paq.push(", "_mtm.push(", "matomo.js", "piwik.js"],
    },
    "piwik-pro": {
        "entity": "Piwik",
        "name": "Piwik PRO",
        "platforms": ["Piwik"],
        # third-party-web has only the old piwikpro.com; the tag manager and tracker are served
        # from <account>.containers.piwik.pro and <account>.piwik.pro today.
        "add_hosts": ["piwik.pro"],
        "signatures": [".containers.piwik.pro/", ".piwik.pro/ppms.js"],
    },
    "yandex-metrica": {
        "entity": "Yandex Metrica",
        "provider": "Yandex",
        "privacy_url": "https://yandex.com/legal/confidential/",
        "platforms": ["Yandex.Metrica"],
        "signatures": ["mc.yandex.ru/metrika", "mc.yandex.com/metrika", "mc.yandex.ru/watch", "yaCounter"],
    },
    "criteo": {
        "entity": "Criteo",
        "privacy_url": "https://www.criteo.com/privacy/",
        "signatures": ["static.criteo.net", "criteo_q"],
    },
    "taboola": {
        "entity": "Taboola",
        "privacy_url": "https://www.taboola.com/policies/privacy-policy",
        "platforms": ["Taboola"],
        "signatures": ["_tfa.push(", "cdn.taboola.com", "_taboola.push("],
    },
    "outbrain": {
        "entity": "Outbrain",
        "platforms": ["Outbrain"],
        "signatures": ["obApi(", "outbrain.com/outbrain.js", "widgets.outbrain.com", "amplify.outbrain.com"],
    },
    "quantcast": {
        "entity": "Quantcast",
        "privacy_url": "https://www.quantcast.com/privacy/",
        "platforms": ["Quantcast"],
        "signatures": ["_qevents", "_qoptions", "quantserve.com"],
    },
    "comscore": {
        "entity": "Scorecard Research",
        "name": "Comscore (Scorecard Research)",
        "provider": "Comscore",
        "also_entities": ["comScore"],
        "platforms": ["ComScore", "comScore"],
        "signatures": ["_comscore", "scorecardresearch.com", "COMSCORE.beacon("],
    },
    "chartbeat": {
        "entity": "Chartbeat",
        "privacy_url": "https://chartbeat.com/privacy",
        "platforms": ["Chartbeat"],
        "signatures": ["_sf_async_config", "_sf_startpt", "static.chartbeat.com"],
    },
    "new-relic": {
        "entity": "New Relic",
        "name": "New Relic Browser",
        # third-party-web files it as "utility". Real-user monitoring sends per-visit page timings
        # and session traces to a third party; no ePrivacy exemption covers that, so it is
        # measurement that waits for consent like any other.
        "category": "analytics",
        "purposes": ["performance monitoring"],
        "privacy_url": "https://newrelic.com/termsandconditions/privacy",
        "signatures": ["NREUM", "nr-data.net", "js-agent.newrelic.com"],
    },
    "intercom": {
        "entity": "Intercom",
        "privacy_url": "https://www.intercom.com/legal/privacy",
        "platforms": ["Intercom"],
        "signatures": ["widget.intercom.io", "intercomSettings", "Intercom('boot'", 'Intercom("boot"'],
    },
    "drift": {"entity": "Drift", "platforms": ["Drift"], "signatures": ["drift.load(", "js.driftt.com"]},
    "hubspot": {
        "entity": "Hubspot",
        "name": "HubSpot",
        "privacy_url": "https://legal.hubspot.com/privacy-policy",
        "platforms": ["Hubspot", "HubSpot"],
        # HubSpot CMS serves a site's own theme CSS, JS and images from these (file manager,
        # CMS assets): blocking them takes a HubSpot-hosted site's layout with them. The
        # tracking code is on hs-scripts.com, hs-analytics.net, hs-banner.com, hubspot.com...
        "drop_hosts": ["*.hubspot.net", "*.hsstatic.net"],
        "signatures": ["_hsq.push(", "js.hs-scripts.com", "js.hs-analytics.net", "hbspt.forms.create("],
    },
    "segment": {
        "entity": "Segment",
        "privacy_url": "https://www.twilio.com/legal/privacy",
        "signatures": ["cdn.segment.com", "analytics._writeKey"],
    },
    "mixpanel": {
        "entity": "Mixpanel",
        "privacy_url": "https://mixpanel.com/legal/privacy-policy",
        "signatures": ["mixpanel.init(", "cdn.mxpnl.com", "MIXPANEL_CUSTOM_LIB_URL"],
    },
    "amplitude": {
        "entity": "Amplitude Mobile Analytics",
        "name": "Amplitude",
        "privacy_url": "https://amplitude.com/privacy",
        "platforms": ["Amplitude"],
        "signatures": ["amplitude.getInstance(", "amplitude.init(", "cdn.amplitude.com"],
    },
    "heap": {
        "entity": "Heap",
        "platforms": ["Heap Analytics"],
        "add_hosts": ["heap-api.com"],  # the current snippet's host (cdn.us.heap-api.com)
        "signatures": ["heap.load(", "cdn.heapanalytics.com", "heap-api.com/config/"],
    },
    "fullstory": {
        "entity": "FullStory",
        "signatures": ["_fs_org", "_fs_namespace", "edge.fullstory.com"],
    },
    "mouseflow": {"entity": "Mouseflow", "signatures": ["_mfq", "cdn.mouseflow.com"]},
    "crazy-egg": {
        "entity": "Crazy Egg",
        "platforms": ["Crazy Egg"],
        "signatures": ["script.crazyegg.com"],
    },
    "optimizely": {
        "entity": "Optimizely",
        "platforms": ["Optimizely"],
        "signatures": ["cdn.optimizely.com", "optimizely.push("],
    },
    "vwo": {
        "entity": "VWO",
        "name": "VWO (Visual Website Optimizer)",
        "platforms": ["Visual Website Optimizer"],
        "signatures": ["_vwo_code", "dev.visualwebsiteoptimizer.com"],
    },
    "amazon-ads": {
        "entity": "Amazon Ads",
        "provider": "Amazon",
        # `renderImp`: the call of the snippet that renders a Transparent Ad Marketplace ad
        "signatures": ["apstag.init(", "apstag.fetchBids(", "apstag.renderImp(", "amazon-adsystem.com"],
    },
    "adobe-launch": {
        "entity": "Adobe Tag Manager",
        "name": "Adobe Experience Platform Launch",
        "provider": "Adobe",
        "privacy_url": "https://www.adobe.com/privacy/policy.html",
        # Audience Manager (a DMP) and Adobe Advertising get services of their own below.
        "drop_hosts": ["*.demdex.net", "*.everesttech.net"],
        "signatures": ["_satellite.", "assets.adobedtm.com"],
    },
    "adobe-analytics": {
        "entity": "Adobe Experience Cloud",
        "name": "Adobe Analytics",
        "provider": "Adobe",
        "privacy_url": "https://www.adobe.com/privacy/policy.html",
        "platforms": ["Adobe Analytics"],
        # AppMeasurement's report-suite variable and tracking call; `s_account` only after
        # `var ` so that `users_account` and the like never match. `s.eVar`: the page code
        # that fills Adobe's conversion variables (`s.eVar13=...`) and then calls `s.t()`.
        "signatures": ["var s_account", "s_code=s.t(", "s_gi(", "s.eVar"],
    },
    "adobe-audience-manager": {
        "name": "Adobe Audience Manager",
        "provider": "Adobe",
        "category": "marketing",
        "purposes": ["advertising"],
        "privacy_url": "https://www.adobe.com/privacy/policy.html",
        "platforms": ["Adobe Audience Manager"],
        "add_hosts": ["demdex.net"],
    },
    "adobe-advertising": {
        "name": "Adobe Advertising",
        "provider": "Adobe",
        "category": "marketing",
        "purposes": ["advertising"],
        "privacy_url": "https://www.adobe.com/privacy/policy.html",
        "platforms": ["Adobe Advertising"],
        "add_hosts": ["everesttech.net"],
    },
    "disqus": {
        "entity": "Disqus",
        "privacy_url": "https://help.disqus.com/en/articles/1717103-disqus-privacy-policy",
        "platforms": ["Disqus"],
        "signatures": ["disqus_config", "disqus_shortname", ".disqus.com/embed.js"],
    },
    "addthis": {"entity": "AddThis", "signatures": ["addthis_config", "s7.addthis.com"]},
    "sharethis": {
        "entity": "ShareThis",
        "privacy_url": "https://sharethis.com/privacy/",
        "platforms": ["ShareThis"],
        "signatures": [
            "platform-api.sharethis.com",
            "buttons.sharethis.com",
            "w.sharethis.com",
            "stLight.options(",
        ],
    },
    "baidu-analytics": {
        "entity": "Baidu Analytics",
        "platforms": ["Baidu"],
        "signatures": ["hm.baidu.com/hm.js"],
    },
    "tealium": {
        "entity": "Tealium",
        # Limelight's CDN and video hosts are not Tealium's tag manager.
        "drop_hosts": ["*.limelight.com", "*.llnwd.net", "*.delvenetworks.com"],
        "signatures": ["tags.tiqcdn.com", "/utag.js", "utag_data"],
    },
    "plausible": {
        "entity": "Plausible",
        "platforms": ["Plausible Analytics"],
        "signatures": ["plausible.io/js"],
    },
    "tawk-to": {
        "entity": "Tawk.to",
        "platforms": ["Tawk.to", "Tawk.to Chat"],
        "signatures": ["embed.tawk.to"],
    },
    "auto-link-maker": {"entity": "Auto Link Maker", "drop_hosts": ["*.apple.com"]},
    "fresh-relevance": {"entity": "Fresh Relevance", "drop_hosts": ["*.cloudfront.ne"]},
    "cloudflare-web-analytics": {
        # Not a third-party-web entity of its own (filed under "Cloudflare", utility): the beacon
        # Cloudflare injects measures page views.
        "name": "Cloudflare Web Analytics",
        "provider": "Cloudflare",
        "category": "analytics",
        "purposes": ["analytics"],
        "privacy_url": "https://www.cloudflare.com/privacypolicy/",
        "add_hosts": ["static.cloudflareinsights.com", "cloudflareinsights.com"],
        "signatures": ["static.cloudflareinsights.com"],
    },
    "azure-app-insights": {
        "name": "Azure Application Insights",
        "provider": "Microsoft",
        "category": "analytics",
        "purposes": ["performance monitoring"],
        "privacy_url": MICROSOFT_PRIVACY,
        "platforms": ["Microsoft Azure App Insights"],
        "add_hosts": ["js.monitor.azure.com", "dc.services.visualstudio.com"],
        "signatures": ["js.monitor.azure.com/scripts/b/ai."],
    },
    "krux": {
        "entity": "Salesforce",
        "name": "Salesforce Audience Studio (Krux)",
        # a data-management platform: audience building for advertising
        "category": "marketing",
        "purposes": ["advertising"],
        # `Krux.segments`: ad-targeting code handing the visitor's Krux segments to the ad server
        "signatures": ["Krux.q.push(", "Krux.segments", "cdn.krxd.net"],
    },
    "parsely": {
        "entity": "Parse.ly",
        "platforms": ["Parse.ly"],
        # d1z2jf7jlzjs58.cloudfront.net: the CDN the standard snippet loads p.js from over https
        "signatures": ['"parsely-cfg"', "'parsely-cfg'", "window.PARSELY", "d1z2jf7jlzjs58.cloudfront.net"],
    },
    "statcounter": {"entity": "StatCounter", "signatures": ["var sc_project", "statcounter.com/counter"]},
    "webtrekk": {
        "entity": "Webtrekk",
        "name": "Webtrekk (Mapp Intelligence)",
        "signatures": ["webtrekkConfig", "webtrekkPageConfig", "wt-safetag.com"],
    },
    "infonline": {
        "entity": "Infoline",
        "name": "INFOnline (IVW audience measurement)",
        "add_hosts": ["ivwbox.de"],
        "signatures": [
            "var iam_data",
            "iom.c(",
            "script.ioam.de",
            "IOMm('configure'",
            'IOMm("configure"',
            "IOMm('pageview'",
            'IOMm("pageview"',
            "/iomm/latest/",
        ],
    },
    # Native-advertising widgets that third-party-web files as "content".
    "revcontent": {"entity": "Revcontent", "category": "marketing", "purposes": ["advertising"]},
    "zergnet": {"entity": "ZergNet", "category": "marketing", "purposes": ["advertising"]},
    # Advertising and sharing networks absent from third-party-web.
    "baidu-ads": {
        "name": "Baidu ads",
        "provider": "Baidu",
        "category": "marketing",
        "purposes": ["advertising"],
        "add_hosts": ["pos.baidu.com", "cpro.baidu.com", "cpro.baidustatic.com"],
    },
    "alimama": {
        "name": "Alimama ads",
        "provider": "Alibaba",
        "category": "marketing",
        "purposes": ["advertising"],
        "add_hosts": ["alimama.com"],
    },
    "bshare": {
        "name": "bShare sharing buttons",
        "category": "marketing",
        "purposes": ["social media"],
        "add_hosts": ["bshare.cn"],
    },
    "the-moneytizer": {
        "name": "The Moneytizer",
        "category": "marketing",
        "purposes": ["advertising"],
        "add_hosts": ["themoneytizer.com"],
    },
    "marketo": {"entity": "Marketo", "platforms": ["Marketo"], "signatures": ["munchkin.marketo.net"]},
    # Embeds third-party-web files as "utility" or "content" (left out), though they set cookies
    # and follow visitors: the media a site embeds most often besides YouTube and Vimeo. Filed
    # like those two, as marketing.
    "google-maps": {
        "entity": "Google Maps",
        "provider": "Google",
        "category": "marketing",
        "purposes": ["maps"],
        "privacy_url": GOOGLE_PRIVACY,
        # The embed code Google Maps hands out is on www.google.com, a host reCAPTCHA and search
        # share: URLs on a host no service declares are read for signatures (rules.py).
        "signatures": ["google.com/maps/embed", "google.com/maps/d/embed", "maps.googleapis.com/maps/api/js"],
    },
    "spotify": {
        "entity": "Spotify",
        "category": "marketing",
        "purposes": ["audio"],
        "privacy_url": "https://www.spotify.com/legal/privacy-policy/",
        "signatures": ["open.spotify.com/embed"],
    },
    "soundcloud": {
        "entity": "SoundCloud",
        "category": "marketing",
        "purposes": ["audio"],
        "signatures": ["w.soundcloud.com/player"],
    },
    "dailymotion": {
        "entity": "Dailymotion",
        "category": "marketing",
        "purposes": ["video"],
        "signatures": ["dailymotion.com/embed/"],
    },
    "posthog": {
        "name": "PostHog",
        "provider": "PostHog",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["posthog.com"],
        "signatures": ["posthog.init(", "i.posthog.com"],
    },
    # Hosted analytics and session replay that third-party-web does not list (or lists under a
    # host the vendor no longer serves from): sites paste their tags as often as the big ones'.
    # "Cookieless" products still send each visit to a third party, so they wait for consent.
    "umami-cloud": {
        "name": "Umami Cloud",
        "provider": "Umami Software",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["umami.is", "umami.dev"],
        "signatures": ["cloud.umami.is/script.js", "analytics.umami.is/script.js"],
    },
    "simple-analytics": {
        "name": "Simple Analytics",
        "provider": "Simple Analytics",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["simpleanalyticscdn.com"],
        "signatures": ["simpleanalyticscdn.com/"],
    },
    "goatcounter": {
        "name": "GoatCounter",
        "provider": "GoatCounter",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["goatcounter.com", "gc.zgo.at"],
        "signatures": ["gc.zgo.at/count.js", ".goatcounter.com/count"],
    },
    "pirsch": {
        "name": "Pirsch Analytics",
        "provider": "Emvi Software",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["pirsch.io"],
        "signatures": ["api.pirsch.io/"],
    },
    "logrocket": {
        "name": "LogRocket",
        "provider": "LogRocket",
        "category": "analytics",
        "purposes": ["session replay"],
        "add_hosts": ["logrocket.io", "logrocket.com", "lr-ingest.io", "lr-ingest.com", "lr-in-prod.com"],
        "signatures": ["LogRocket.init(", "cdn.logrocket.io", "cdn.lr-ingest.io", "cdn.lr-in-prod.com"],
    },
    "datadog-rum": {
        "name": "Datadog Real User Monitoring",
        "provider": "Datadog",
        # Per-visit timings, errors and (with session replay) the page as the visitor saw it,
        # sent to a third party: measurement, like New Relic Browser above.
        "category": "analytics",
        "purposes": ["performance monitoring", "session replay"],
        "add_hosts": [
            "datadoghq-browser-agent.com",
            "browser-intake-datadoghq.com",
            "browser-intake-datadoghq.eu",
            "browser-intake-us3-datadoghq.com",
            "browser-intake-us5-datadoghq.com",
            "browser-intake-ap1-datadoghq.com",
        ],
        "signatures": ["DD_RUM.init(", "datadoghq-browser-agent.com/"],
    },
    "userpilot": {
        "name": "Userpilot",
        "provider": "Userpilot",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["userpilot.io"],
        "signatures": ["js.userpilot.io/"],
    },
    "rudderstack": {
        "platforms": ["Rudderstack"],
        "name": "RudderStack",
        "provider": "RudderStack",
        "category": "analytics",
        "purposes": ["analytics"],
        "add_hosts": ["rudderlabs.com", "rudderstack.com"],
        "signatures": ["rudderanalytics.load(", "cdn.rudderlabs.com/"],
    },
    "spotify-ad-analytics": {
        "entity": "Podsights",
        "name": "Spotify Ad Analytics (Podsights)",
        "provider": "Spotify",
        "category": "marketing",
        "purposes": ["advertising"],
        "add_hosts": ["pixel.byspotify.com", "pixel-static.spotify.com"],
        "signatures": ["pixel.byspotify.com/", "pdst.fm/"],
    },
    "nextdoor-ads": {
        "name": "Nextdoor Pixel",
        "provider": "Nextdoor",
        "category": "marketing",
        "purposes": ["advertising"],
        "add_hosts": ["ads.nextdoor.com"],
        "signatures": ["ndp('init'", 'ndp("init"', "ads.nextdoor.com/public/pixel"],
    },
    "vidyard": {
        "entity": "Vidyard",
        # third-party-web files it as "utility"; its player reports who watched what to the
        # site's sales tools (like the video embeds above).
        "category": "marketing",
        "purposes": ["video"],
        "signatures": ["play.vidyard.com/embed/"],
    },
    "tidio": {"entity": "Tidio Live Chat", "add_hosts": ["tidio.co"], "signatures": ["code.tidio.co/"]},
    # A sweep of ~150 vendors' documented snippets (2026-11): hosts third-party-web lacks or
    # files under a category that maps to nothing, loaders served from public CDNs (caught by
    # their signatures), embeds, chat and review widgets, and one consent platform the InMobi ad
    # entity's *.inmobi.com swallowed (consent platforms are not trackers: they load).
    "ahrefs-analytics": {
        "purposes": ["analytics"],
        "name": "Ahrefs Web Analytics",
        "provider": "Ahrefs Pte. Ltd.",
        "category": "analytics",
        "add_hosts": ["analytics.ahrefs.com"],
        "signatures": ["analytics.ahrefs.com/analytics.js"],
    },
    "kissmetrics": {
        "entity": "KISSmetrics",
        "add_hosts": ["kissmetrics.io"],
        "signatures": ["i.kissmetrics.io/i.js", "scripts.kissmetrics.io/"],
    },
    "snowplow": {
        "entity": "Snowplow",
        "signatures": ["GlobalSnowplowNamespace", "@snowplow/javascript-tracker"],
    },
    "chameleon": {
        "purposes": ["product tours", "analytics"],
        "entity": "Chameleon",
        "add_hosts": ["chameleon.io"],
        "signatures": ["fast.chameleon.io/"],
    },
    "mutiny": {
        "purposes": ["website personalisation"],
        "name": "Mutiny",
        "provider": "Mutiny Inc.",
        "category": "marketing",
        "add_hosts": ["mutinycdn.com"],
    },
    "gainsight-px": {
        "purposes": ["analytics"],
        "name": "Gainsight PX",
        "provider": "Gainsight, Inc.",
        "category": "analytics",
        "add_hosts": ["aptrinsic.com"],
        "signatures": ["web-sdk.aptrinsic.com/"],
    },
    "openreplay": {
        "purposes": ["session replay"],
        "name": "OpenReplay",
        "provider": "Asayer, Inc. (OpenReplay)",
        "category": "analytics",
        "add_hosts": ["static.openreplay.com", "api.openreplay.com"],
        "signatures": ["window.OpenReplay=", "static.openreplay.com/"],
    },
    "highlight": {
        "purposes": ["session replay", "error monitoring"],
        "name": "Highlight.io",
        "provider": "Highlight Inc.",
        "category": "analytics",
        "add_hosts": ["highlight.io", "highlight.run"],
        "signatures": ["unpkg.com/highlight.run", "npm/highlight.run"],
    },
    "algolia-insights": {
        "purposes": ["analytics"],
        "name": "Algolia Insights",
        "provider": "Algolia SAS",
        "category": "analytics",
        "add_hosts": ["insights.algolia.io"],
        "signatures": ["AlgoliaAnalyticsObject", "search-insights@"],
    },
    "6sense": {
        "purposes": ["visitor identification", "advertising"],
        "name": "6sense",
        "provider": "6sense Insights, Inc.",
        "category": "marketing",
        "add_hosts": ["6sc.co"],
        "signatures": ["window._6si", "j.6sc.co/"],
    },
    "leadfeeder": {
        "purposes": ["visitor identification"],
        "platforms": ["Leadfeeder"],
        "name": "Leadfeeder (Dealfront)",
        "provider": "Dealfront",
        "category": "marketing",
        "add_hosts": ["lfeeder.com"],
        "signatures": ["window.ldfdr", "sc.lfeeder.com/lftracker"],
    },
    "zoominfo": {
        "purposes": ["visitor identification"],
        "name": "ZoomInfo WebSights",
        "provider": "ZoomInfo Technologies",
        "category": "marketing",
        "add_hosts": ["ws.zoominfo.com", "js.zi-scripts.com", "ws-assets.zoominfo.com"],
    },
    "qualified": {
        "purposes": ["visitor identification", "live chat"],
        "name": "Qualified",
        "provider": "Qualified.com",
        "category": "marketing",
        "add_hosts": ["js.qualified.com"],
        "signatures": ["js.qualified.com/qualified.js"],
    },
    "brevo": {
        "purposes": ["email marketing"],
        "name": "Brevo (Sendinblue) tracker",
        "provider": "Sendinblue SAS (Brevo)",
        "category": "marketing",
        "add_hosts": ["sibautomation.com", "cdn.brevo.com"],
        "signatures": ["sibautomation.com/sa.js", "cdn.brevo.com/js/sdk-loader.js", "window.sendinblue = {}"],
    },
    "brevo-conversations": {
        "purposes": ["live chat"],
        "name": "Brevo Conversations",
        "provider": "Sendinblue SAS (Brevo)",
        "category": "preferences",
        "add_hosts": ["conversations-widget.brevo.com", "conversations-widget.sendinblue.com"],
        "signatures": ["BrevoConversationsID", "SibConversationsID"],
    },
    "omnisend": {
        "purposes": ["email marketing"],
        "name": "Omnisend",
        "provider": "Omnisend",
        "category": "marketing",
        "add_hosts": ["omnisnippet1.com"],
        "signatures": ["omnisnippet1.com/"],
    },
    "mailerlite": {
        "purposes": ["email marketing"],
        "name": "MailerLite",
        "provider": "MailerLite Limited",
        "category": "marketing",
        "add_hosts": ["assets.mailerlite.com", "static.mailerlite.com"],
        "signatures": ["mailerlite.com/js/universal.js"],
    },
    "optinmonster": {
        "purposes": ["pop-ups", "email marketing"],
        "entity": "OptinMonster",
        "add_hosts": ["omappapi.com"],
        "signatures": ["a.omappapi.com/app/js/api.min.js"],
    },
    "justuno": {
        "purposes": ["pop-ups", "email marketing"],
        "entity": "JustUno",
        "add_hosts": ["jst.ai"],
        "signatures": ["window.ju4_num"],
    },
    "sleeknote": {
        "purposes": ["pop-ups", "email marketing"],
        "platforms": ["Sleeknote"],
        "name": "Sleeknote",
        "provider": "Sleeknote ApS",
        "category": "marketing",
        "add_hosts": ["sleeknote.com"],
        "signatures": ["sleeknotecustomerscripts.sleeknote.com"],
    },
    "wisepops": {
        "purposes": ["pop-ups", "email marketing"],
        "entity": "WisePops",
        "category": "marketing",
        "add_hosts": ["wisepops.net"],
        "signatures": ["WisePopsObject"],
    },
    "partnerize": {
        "purposes": ["affiliate tracking"],
        "platforms": ["Partnerize"],
        "name": "Partnerize",
        "provider": "Partnerize",
        "category": "marketing",
        "add_hosts": ["prf.hn"],
        "signatures": ["prf.hn/conversion"],
    },
    "shareasale": {
        "purposes": ["affiliate tracking"],
        "name": "ShareASale",
        "provider": "ShareASale (Awin)",
        "category": "marketing",
        "add_hosts": ["shareasale.com"],
        "signatures": ["shareasale.com/sale.cfm"],
    },
    "tradetracker": {
        "purposes": ["affiliate tracking"],
        "name": "TradeTracker",
        "provider": "TradeTracker.com",
        "category": "marketing",
        "add_hosts": ["tradetracker.net"],
        "signatures": ["_TradeTrackerTagOptions"],
    },
    "cj-affiliate": {
        "purposes": ["affiliate tracking"],
        "entity": "CJ Affiliate",
        "add_hosts": ["mczbf.com"],
        "signatures": ["d.id='cjapitag'"],
    },
    "ezoic": {
        "purposes": ["advertising"],
        "entity": "Ezoic",
        "category": "marketing",
        "add_hosts": ["ezojs.com", "ezodn.com"],
        "signatures": ["ezstandalone.cmd"],
    },
    "raptive": {
        "purposes": ["advertising"],
        "name": "Raptive (AdThrive)",
        "provider": "Raptive",
        "category": "marketing",
        "add_hosts": ["adthrive.com"],
        "signatures": ["w.adthrive.host"],
    },
    "freestar": {
        "purposes": ["advertising"],
        "name": "Freestar",
        "provider": "Freestar",
        "category": "marketing",
        "add_hosts": ["pub.network"],
        "signatures": ["freestar.queue = freestar.queue"],
    },
    "permutive": {"entity": "Permutive", "add_hosts": ["permutive.app"], "signatures": ["permutive.addon("]},
    "ethicalads": {
        "purposes": ["advertising"],
        "name": "EthicalAds",
        "provider": "Read the Docs, Inc.",
        "category": "marketing",
        "add_hosts": ["ethicalads.io"],
    },
    "prebid": {
        "purposes": ["advertising"],
        "platforms": ["Prebid"],
        "name": "Prebid.js header bidding",
        "provider": "Prebid.org (and its bidders)",
        "category": "marketing",
        "signatures": ["pbjs.requestBids(", "pbjs.addAdUnits(", "npm/prebid.js@"],
    },
    "okendo": {
        "purposes": ["reviews"],
        "name": "Okendo Reviews",
        "provider": "Okendo",
        "category": "preferences",
        "add_hosts": ["okendo.io"],
    },
    "trusted-shops": {
        "purposes": ["reviews"],
        "entity": "Trusted Shops",
        "category": "preferences",
        "signatures": ["widgets.trustedshops.com/js/"],
    },
    "trustindex": {
        "purposes": ["reviews"],
        "name": "Trustindex",
        "provider": "Trustindex Kft.",
        "category": "preferences",
        "add_hosts": ["trustindex.io"],
    },
    "provenexpert": {
        "purposes": ["reviews"],
        "name": "ProvenExpert",
        "provider": "Expert Systems AG",
        "category": "preferences",
        "add_hosts": ["provenexpert.com"],
    },
    "google-customer-reviews": {
        "purposes": ["reviews", "advertising"],
        "name": "Google Customer Reviews",
        "provider": "Google",
        "category": "marketing",
        "signatures": ["gapi.load('surveyoptin'", 'gapi.load("surveyoptin"', "gapi.surveyoptin.render("],
    },
    "freshchat": {
        "entity": "Freshchat",
        "add_hosts": ["fw-cdn.com", "freshworks.com"],
        "signatures": ["window.fwSettings", "window.FreshworksWidget"],
    },
    "zoho-salesiq": {
        "purposes": ["live chat", "visitor tracking"],
        "name": "Zoho SalesIQ",
        "provider": "Zoho Corporation",
        "category": "preferences",
        "add_hosts": [
            "salesiq.zoho.com",
            "salesiq.zoho.eu",
            "salesiq.zoho.in",
            "salesiq.zoho.com.au",
            "salesiq.zohopublic.com",
            "salesiq.zohopublic.eu",
            "salesiq.zohopublic.in",
            "salesiq.zohopublic.com.au",
        ],
        "signatures": ["$zoho.salesiq"],
    },
    "gorgias": {
        "purposes": ["customer support"],
        "name": "Gorgias chat",
        "provider": "Gorgias",
        "category": "preferences",
        "add_hosts": ["gorgias.chat"],
    },
    "reamaze": {
        "purposes": ["customer support"],
        "name": "Re:amaze",
        "provider": "Re:amaze (GoDaddy)",
        "category": "preferences",
        "add_hosts": ["reamaze.com"],
    },
    "chatra": {
        "purposes": ["live chat"],
        "name": "Chatra",
        "provider": "Chatra",
        "category": "preferences",
        "add_hosts": ["chatra.io"],
        "signatures": ["w.ChatraID"],
    },
    "trengo": {
        "purposes": ["customer support"],
        "name": "Trengo",
        "provider": "Trengo B.V.",
        "category": "preferences",
        "add_hosts": ["widget.trengo.eu"],
    },
    "userlike": {
        "purposes": ["live chat"],
        "name": "Userlike",
        "provider": "Userlike UG",
        "category": "preferences",
        "add_hosts": ["userlike-cdn-widgets.s3-eu-west-1.amazonaws.com", "userlike.com"],
    },
    "getbutton": {
        "purposes": ["live chat"],
        "name": "GetButton (WhatsApp chat button)",
        "provider": "GetButton",
        "category": "preferences",
        "add_hosts": ["getbutton.io"],
        "signatures": ["WhWidgetSendButton"],
    },
    "kampyle": {
        "entity": "Kampyle",
        "name": "Medallia Digital (Kampyle)",
        "add_hosts": ["digital-cloud.medallia.com", "digital-cloud.medallia.eu"],
    },
    "loom": {
        "purposes": ["video"],
        "name": "Loom video",
        "provider": "Loom (Atlassian)",
        "category": "marketing",
        "add_hosts": ["loom.com"],
    },
    "mixcloud": {
        "purposes": ["audio"],
        "name": "Mixcloud",
        "provider": "Mixcloud Ltd",
        "category": "marketing",
        "add_hosts": ["mixcloud.com"],
    },
    "deezer": {
        "purposes": ["audio"],
        "name": "Deezer widget",
        "provider": "Deezer SA",
        "category": "marketing",
        "add_hosts": ["widget.deezer.com"],
    },
    "apple-media-embeds": {
        "purposes": ["audio"],
        "name": "Apple Podcasts and Music embeds",
        "provider": "Apple",
        "category": "marketing",
        "add_hosts": ["embed.podcasts.apple.com", "embed.music.apple.com"],
    },
    "threads": {
        "purposes": ["social media"],
        "name": "Threads embeds",
        "provider": "Meta Platforms Ireland",
        "category": "marketing",
        "add_hosts": ["threads.net", "threads.com"],
    },
    "bluesky": {
        "purposes": ["social media"],
        "name": "Bluesky embeds",
        "provider": "Bluesky Social PBC",
        "category": "marketing",
        "add_hosts": ["embed.bsky.app"],
    },
    "issuu": {"purposes": ["embedded content"], "entity": "issuu", "category": "marketing"},
    "giphy": {"purposes": ["embedded content"], "entity": "GIPHY", "category": "marketing"},
    "flickr-embed": {
        "purposes": ["embedded content"],
        "name": "Flickr embeds",
        "provider": "Flickr",
        "category": "marketing",
        "add_hosts": ["embedr.flickr.com"],
    },
    "google-workspace-embeds": {
        "purposes": ["forms", "calendar"],
        "name": "Google Forms and Calendar embeds",
        "provider": "Google",
        "category": "preferences",
        # The embed codes' URLs only: a script that links to a form (a feedback button) is not one.
        "signatures": ["/viewform?embedded=true", "calendar.google.com/calendar/embed"],
    },
    "google-translate": {
        "purposes": ["translation"],
        "name": "Google Translate widget",
        "provider": "Google",
        "category": "preferences",
        "add_hosts": ["translate.google.com", "translate.googleapis.com"],
        "signatures": ["google.translate.TranslateElement(", "translate_a/element.js"],
    },
    "typeform": {
        "purposes": ["forms"],
        "platforms": ["Typeform"],
        "name": "Typeform",
        "provider": "Typeform SL",
        "category": "preferences",
        "add_hosts": ["embed.typeform.com", "form.typeform.com"],
    },
    "jotform": {
        "purposes": ["forms"],
        "entity": "JotForm",
        "category": "preferences",
        "add_hosts": ["jotform.com", "jotfor.ms"],
    },
    "elfsight": {
        "purposes": ["website widgets"],
        "name": "Elfsight widgets",
        "provider": "Elfsight",
        "category": "preferences",
        "add_hosts": ["elfsight.com", "elfsightcdn.com"],
    },
    "powr": {"purposes": ["website widgets"], "entity": "POWr", "category": "preferences"},
    "onesignal": {
        "purposes": ["push notifications"],
        "entity": "OneSignal",
        "category": "marketing",
        "signatures": ["OneSignalDeferred.push(", "OneSignal.init("],
    },
    "pushengage": {
        "purposes": ["push notifications"],
        "name": "PushEngage",
        "provider": "PushEngage",
        "category": "marketing",
        "add_hosts": ["pushengage.com"],
        "signatures": ["PushEngage.push(['init'"],
    },
    "wonderpush": {
        "purposes": ["push notifications"],
        "name": "WonderPush",
        "provider": "WonderPush SAS",
        "category": "marketing",
        "add_hosts": ["wonderpush.com"],
        "signatures": ['WonderPush.push(["init"'],
    },
    "inmobi-choice": {
        "name": "InMobi Choice (consent platform)",
        "provider": "InMobi",
        "category": "necessary",
        "add_hosts": ["cmp.inmobi.com"],
        "purposes": ["consent management"],
        "description": "The consent management platform some sites still load beside ConsentGate; not a tracker.",
    },
    # Security and payment widgets: strictly necessary for the form or checkout they serve, so
    # they run without consent, and under unknown_third_party = "block" they are not unknown.
    "google-recaptcha": {
        "entity": "Google reCAPTCHA",
        "name": "Google reCAPTCHA",
        "provider": "Google",
        "category": "necessary",
        "purposes": ["security"],
        "privacy_url": GOOGLE_PRIVACY,
        "signatures": ["google.com/recaptcha/", "gstatic.com/recaptcha/"],
    },
    "hcaptcha": {
        "name": "hCaptcha",
        "provider": "Intuition Machines",
        "category": "necessary",
        "purposes": ["security"],
        "add_hosts": ["hcaptcha.com"],
    },
    "cloudflare-turnstile": {
        "name": "Cloudflare Turnstile",
        "provider": "Cloudflare",
        "category": "necessary",
        "purposes": ["security"],
        "add_hosts": ["challenges.cloudflare.com"],
    },
    # Crownpeak (Evidon)'s only host in third-party-web serves its consent notice (c.evidon.com),
    # a consent provider like the "Evidon CMP" entity, which is left out: not a tracker. Its
    # AdChoices pixels are on betrad.com (ghostery-enterprise).
    "evidon": {"entity": "Evidon", "drop_hosts": ["*.evidon.com"]},
    "stripe": {"entity": "Stripe", "category": "necessary", "purposes": ["payments", "fraud prevention"]},
    "paypal": {"entity": "PayPal", "category": "necessary", "purposes": ["payments"]},
}

# Cookies whose Open Cookie Database platform is not the service that sets them.
COOKIE_SERVICE: dict[str, str] = {
    "_clck": "microsoft-clarity",
    "_clsk": "microsoft-clarity",
    "CLID": "microsoft-clarity",
    "SM": "microsoft-clarity",
    "_gcl_au": "google-ads",
    "_gcl_dc": "google-ads",
    "gcl": "google-ads",
    "ajs_anonymous_id": "segment",
    "ajs_user_id": "segment",
    "_mkto_trk": "marketo",
    "_kuid_": "krux",
}

# The Open Cookie Database lists these under the vendor's domain, but the vendor's script sets them
# on the site's own domain, so they do appear in the site's cookies.
FIRST_PARTY_COOKIES: frozenset[str] = frozenset(
    {
        "_fbp",
        "_fbc",
        "_uetsid",
        "_uetvid",
        "_clck",
        "_clsk",
        "_pin_unauth",
        "_pinterest_ct_ua",
        "_derived_epik",
        "_epik",
        "ttcsid",
        "__hstc",
        "__hssc",
        "__hssrc",
        "hubspotutk",
        "messagesUtk",
        "ajs_anonymous_id",
        "ajs_user_id",
        "_mkto_trk",
        "AMP_",
        "AMP_MKTG_",
        "AMP_TEST",
        "AMP_TLDTEST",
    }
)

# Cookies missing from the Open Cookie Database (or listed there as a prefix that is too short).
EXTRA_COOKIES: dict[str, list[ExtraCookie]] = {
    "mixpanel": [
        {
            "name": r"mp_[0-9a-f]+_mixpanel",
            "is_regex": True,
            "lifetime": "1 year",
            "description": "Mixpanel distinct id and super properties.",
        },
    ],
    "heap": [
        {"name": r"_hp2_id\..+", "is_regex": True, "lifetime": "13 months", "description": "Heap user id."},
        {
            "name": r"_hp2_ses_props\..+",
            "is_regex": True,
            "lifetime": "30 minutes",
            "description": "Heap session properties.",
        },
    ],
    "fullstory": [
        {"name": "fs_uid", "lifetime": "1 year", "description": "FullStory user and session id."},
        {"name": "fs_lua", "lifetime": "30 minutes", "description": "FullStory last user action."},
    ],
    "chartbeat": [
        {"name": "_cb_svref", "lifetime": "30 minutes", "description": "Chartbeat referrer."},
    ],
    "snapchat": [
        {"name": "_sctr", "lifetime": "1 year", "description": "Snap Pixel session tracking."},
    ],
    "google-analytics": [
        {
            "name": r"_gat_UA-[0-9]+-[0-9]+",
            "is_regex": True,
            "lifetime": "1 minute",
            "description": "Universal Analytics request throttling.",
        },
    ],
}

# Names too generic to attribute to a vendor on sight: a site's own cookie of that name would be
# mislabelled (and, for a tracker category, stripped). Left out of the catalog.
GENERIC_COOKIE_NAMES: frozenset[str] = frozenset(
    {
        "session",
        "sessionid",
        "session_id",
        "sid",
        "token",
        "auth_token",
        "login",
        "user",
        "userid",
        "user_id",
        "uid",
        "id",
        "lang",
        "language",
        "locale",
        "visitor_id",
        "consent",
        "autocomplete",
        "cookies_accepted",
        "mp_",
        "cookiePreferences",  # a consent tool's, filed under Google Tag Manager
    }
)

# Short or all-lower-case names that are nevertheless one vendor's own (the generic-name rule in
# build_catalog.py would otherwise leave them out).
DISTINCTIVE_COOKIE_NAMES: frozenset[str] = frozenset(
    {"demdex", "dextp", "mbox", "fpestid", "nmstat", "cftoken", "obsessionid-", "wistia"}
)

# Open Cookie Database platforms that share a name with a third-party-web tracker but whose cookies
# are mostly the platform's own application cookies (logins, CMS state), not the tracker's.
PLATFORMS_NOT_ATTACHED: frozenset[str] = frozenset({"Salesforce", "Oracle", "Piano"})
