"""A sweep of vendors' documented snippets (150 vendors, 2026-11): the shapes that ran without
consent before the catalog learned their current hosts, their loaders on public CDNs and their
call shapes. With the built-in catalog and no consent none of them loads or runs; with its
category granted the page comes back byte for byte. Consent platforms' own loaders and a site's
own Consent Mode default are not trackers: they stay as they are."""

from __future__ import annotations

import pytest

from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict

from .kit import deny_all, granting, live, live_scripts, run

CATALOG = Rules.compile(load_dict({}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>x</p>%s</body></html>"

# vendor: (snippet, the catalog service that holds it back)
VENDORS: dict[str, tuple[bytes, str]] = {
    "Kissmetrics": (
        b"<script type=\"text/javascript\">var _kmq = _kmq || [];\nvar _kmk = _kmk || '0123456789abcdef0123456789abcdef01234567';\nfunction _kms(u){\n  setTimeout(function(){\n    var d = document, f = d.getElementsByTagName('script')[0],\n    s = d.createElement('script');\n    s.type = 'text/javascript'; s.async = true; s.src = u;\n    f.parentNode.insertBefore(s, f);\n  }, 1);\n}\n_kms('//i.kissmetrics.io/i.js');\n_kms('//scripts.kissmetrics.io/' + _kmk + '.2.js');\n</script>",
        "kissmetrics",
    ),
    "Ahrefs Web Analytics": (
        b'<script src="https://analytics.ahrefs.com/analytics.js" data-key="AbCdEf0123456789" async></script>',
        "ahrefs-analytics",
    ),
    "Chameleon": (
        b'<script>\n!function(d,w){var t="SRkToKeN-0123456789",c="chmln",i=d.createElement("script");if(w[c]||(w[c]={}),!w[c].root){w[c].accountToken=t,w[c].location=w.location.href.toString(),w[c].now=new Date,w[c].fastUrl=\'https://fast.chameleon.io/\';var m="identify alias track clear set show on off custom help _data".split(" ");for(var s=0;s<m.length;s++){!function(){var t=w[c][m[s]+"_a"]=[];w[c][m[s]]=function(){t.push(arguments);};}();}i.src=w[c].fastUrl+"messo/"+t+"/messo.min.js",i.async=!0,d.head.appendChild(i);}}(document,window);\n</script>',
        "chameleon",
    ),
    "Gainsight PX": (
        b'<script type="text/javascript">\n  (function(n,t,a,e,co){var i="aptrinsic";n[i]=n[i]||function(){\n      (n[i].q=n[i].q||[]).push(arguments)},n[i].p=e;n[i].c=co;\n    var r=t.createElement("script");r.async=!0,r.src=a+"?a="+e;\n    var c=t.getElementsByTagName("script")[0];c.parentNode.insertBefore(r,c)\n  })(window,document,"https://web-sdk.aptrinsic.com/api/aptrinsic.js","AP-ABCDEFGHIJ-2");\n</script>',
        "gainsight-px",
    ),
    "6sense (tag)": (
        b'<script id="6senseWebTag" src="https://j.6sc.co/j/01234567-89ab-cdef-0123-456789abcdef.js"></script>',
        "6sense",
    ),
    "Leadfeeder / Dealfront": (
        b"<script>\n(function(ss,ex){ window.ldfdr=window.ldfdr||function(){(ldfdr._q=ldfdr._q||[]).push([].slice.call(arguments));}; (function(d,s){ fs=d.getElementsByTagName(s)[0]; function ce(src){ var cs=d.createElement(s); cs.src=src; cs.async=1; fs.parentNode.insertBefore(cs,fs); }; ce('https://sc.lfeeder.com/lftracker_v1_'+ss+(ex?'_'+ex:'')+'.js'); })(document,'script'); })('AbCdEfGhIjK0123');\n</script>",
        "leadfeeder",
    ),
    "Brevo tracker (sdk-loader)": (
        b'<script src="https://cdn.brevo.com/js/sdk-loader.js" async></script>\n<script>\n    window.Brevo = window.Brevo || [];\n    Brevo.push([\n        "init",\n        {\n        client_key: "0123456789abcdefghijklmn",\n        }\n    ]);\n</script>',
        "brevo",
    ),
    "Omnisend": (
        b'<script type="text/javascript">\n    window.omnisend = window.omnisend || [];\n    omnisend.push(["accountID", "0123456789abcdef01234567"]);\n    omnisend.push(["track", "$pageViewed"]);\n    !function(){var e=document.createElement("script");e.type="text/javascript",e.async=!0,e.src="https://omnisnippet1.com/inshop/launcher-v2.js";var t=document.getElementsByTagName("script")[0];t.parentNode.insertBefore(e,t)}();\n</script>',
        "omnisend",
    ),
    "Partnerize conversion pixel": (
        b'<img src="https://prf.hn/conversion/tracking_mode:image/campaign:1011l123/conversionref:ORDER1/currency:EUR/[category:default/sku:SKU1/value:10.00/quantity:1]" width="1" height="1">',
        "partnerize",
    ),
    "Prebid.js (docs CDN)": (
        b'<script async src="//cdn.jsdelivr.net/npm/prebid.js@latest/dist/not-for-prod/prebid.js"></script>',
        "prebid",
    ),
    "Ezoic standalone": (
        b'<script async src="//www.ezojs.com/ezoic/sa.min.js"></script>\n<script>\n    window.ezstandalone = window.ezstandalone || {};\n    ezstandalone.cmd = ezstandalone.cmd || [];\n    ezstandalone.cmd.push(function () { ezstandalone.showAds(101); });\n</script>',
        "ezoic",
    ),
    "Raptive / AdThrive": (
        b"<script data-no-optimize=\"1\" data-cfasync=\"false\">\n(function(w, d) {\n\tw.adthrive = w.adthrive || {};\n\tw.adthrive.cmd = w.adthrive.cmd || [];\n\tw.adthrive.plugin = 'adthrive-ads-manual';\n\tw.adthrive.host = 'ads.adthrive.com';\n\n\tvar s = d.createElement('script');\n\ts.async = true;\n\ts.referrerpolicy='no-referrer-when-downgrade';\n\ts.src = 'https://' + w.adthrive.host + '/sites/0123456789abcdef01234567/ads.min.js?referrer=' + w.encodeURIComponent(w.location.href) + '&cb=' + (Math.floor(Math.random() * 100) + 1);\n\tvar n = d.getElementsByTagName('script')[0];\n\tn.parentNode.insertBefore(s, n);\n})(window, document);\n</script>",
        "raptive",
    ),
    "Algolia Insights": (
        b"<script>\n  var ALGOLIA_INSIGHTS_SRC = \"https://cdn.jsdelivr.net/npm/search-insights@2.13.0/dist/search-insights.min.js\";\n\n  !function(e,a,t,n,s,i,c){e.AlgoliaAnalyticsObject=s,e[s]=e[s]||function(){\n  (e[s].queue=e[s].queue||[]).push(arguments)},e[s].version=(n.match(/@([^\\/]+)\\/?/) || [])[1],i=a.createElement(t),c=a.getElementsByTagName(t)[0],\n  i.async=1,i.src=n,c.parentNode.insertBefore(i,c)\n  }(window,document,\"script\",ALGOLIA_INSIGHTS_SRC,\"aa\");\n\n  aa('init', { appId: 'APPID', apiKey: 'SEARCH_API_KEY', useCookie: true });\n</script>",
        "algolia-insights",
    ),
    "Zoho SalesIQ": (
        b'<script>window.$zoho=window.$zoho || {};$zoho.salesiq=$zoho.salesiq||{ready:function(){}}</script>\n<script id="zsiqscript" src="https://salesiq.zohopublic.eu/widget?wc=siq0123456789abcdef" defer></script>',
        "zoho-salesiq",
    ),
    "Gorgias chat": (
        b'<script id="gorgias-chat-widget-install-v3" src="https://config.gorgias.chat/bundle-loader/01HABCDEFGHJKMNPQRSTVWXYZ0"></script>',
        "gorgias",
    ),
    "Loom": (
        b'<div style="position: relative; padding-bottom: 56.25%; height: 0;"><iframe src="https://www.loom.com/embed/0123456789abcdef0123456789abcdef?sid=01234567-89ab-cdef-0123-456789abcdef" frameborder="0" webkitallowfullscreen mozallowfullscreen allowfullscreen style="position: absolute; top: 0; left: 0; width: 100%; height: 100%;"></iframe></div>',
        "loom",
    ),
    "Bluesky embed": (
        b'<blockquote class="bluesky-embed" data-bluesky-uri="at://did:plc:abc123/app.bsky.feed.post/3kabc" data-bluesky-cid="bafyrei"><p lang="en">Post text</p>&mdash; Example (<a href="https://bsky.app/profile/did:plc:abc123?ref_src=embed">@example.bsky.social</a>)</blockquote><script async src="https://embed.bsky.app/static/embed.js" charset="utf-8"></script>',
        "bluesky",
    ),
    "Google Forms iframe": (
        b'<iframe src="https://docs.google.com/forms/d/e/1FAIpQLSabcdefghijklmnopqrstuvwxyz0123456789/viewform?embedded=true" width="640" height="1200" frameborder="0" marginheight="0" marginwidth="0">Loading\xe2\x80\xa6</iframe>',
        "google-workspace-embeds",
    ),
    "Google Translate widget": (
        b'<div id="google_translate_element"></div>\n<script type="text/javascript">\nfunction googleTranslateElementInit() {\n  new google.translate.TranslateElement({pageLanguage: \'en\'}, \'google_translate_element\');\n}\n</script>\n<script type="text/javascript" src="//translate.google.com/translate_a/element.js?cb=googleTranslateElementInit"></script>',
        "google-translate",
    ),
    "Typeform embed": (
        b'<div data-tf-live="01HABCDEFGHJKMNPQRSTVWXYZ0"></div><script src="//embed.typeform.com/next/embed.js"></script>',
        "typeform",
    ),
    "OneSignal": (
        b'<script src="https://cdn.onesignal.com/sdks/web/v16/OneSignalSDK.page.js" defer></script>\n<script>\n  window.OneSignalDeferred = window.OneSignalDeferred || [];\n  OneSignalDeferred.push(async function(OneSignal) {\n    await OneSignal.init({\n      appId: "01234567-89ab-cdef-0123-456789abcdef",\n    });\n  });\n</script>',
        "onesignal",
    ),
    "Kameleoon": (
        b'<script type="text/javascript">\n    var kameleoonLoadingTimeout = 1000;\n    window.kameleoonQueue = window.kameleoonQueue || [];\n    window.kameleoonStartLoadTime = new Date().getTime();\n    if (! document.getElementById("kameleoonLoadingStyleSheet") && ! window.kameleoonDisplayPageTimeOut) {\n        var kameleoonS = document.getElementsByTagName("script")[0];\n        var kameleoonCc = "* { visibility: hidden !important; background-image: none !important; }";\n        var kameleoonStn = document.createElement("style");\n        kameleoonStn.type = "text/css";\n        kameleoonStn.id = "kameleoonLoadingStyleSheet";\n        if (kameleoonStn.styleSheet) { kameleoonStn.styleSheet.cssText = kameleoonCc; } else { kameleoonStn.appendChild(document.createTextNode(kameleoonCc)); }\n        kameleoonS.parentNode.insertBefore(kameleoonStn, kameleoonS);\n        window.kameleoonDisplayPage = function(fromEngine) { if (!fromEngine) { window.kameleoonTimeout = true; } if (kameleoonStn.parentNode) { kameleoonStn.parentNode.removeChild(kameleoonStn); } };\n        window.kameleoonDisplayPageTimeOut = window.setTimeout(window.kameleoonDisplayPage, kameleoonLoadingTimeout);\n    }\n</script>\n<script type="text/javascript" src="//abcdefghij.kameleoon.eu/kameleoon.js" async="true" fetchpriority="high"></script>',
        "kameleoon",
    ),
    "Google Optimize (remnant)": (
        b"<style>.async-hide { opacity: 0 !important} </style>\n<script>(function(a,s,y,n,c,h,i,d,e){s.className+=' '+y;h.start=1*new Date;\nh.end=i=function(){s.className=s.className.replace(RegExp(' ?'+y),'')};\n(a[n]=a[n]||[]).hide=h;setTimeout(function(){i();h.end=null},c);h.timeout=c;\n})(window,document.documentElement,'async-hide','dataLayer',4000,\n{'OPT-ABCDEFG':true});</script>\n<script src=\"https://www.googleoptimize.com/optimize.js?id=OPT-ABCDEFG\"></script>",
        "google-optimize",
    ),
}
# Consent platforms' loaders and a site's own Consent Mode default (Cookiebot's documented one).
CONTROLS: dict[str, bytes] = {
    "CMP Cookiebot": b'<script id="Cookiebot" src="https://consent.cookiebot.com/uc.js" data-cbid="01234567-89ab-cdef-0123-456789abcdef" data-blockingmode="auto" type="text/javascript"></script>',
    "CMP OneTrust": b'<script src="https://cdn.cookielaw.org/scripttemplates/otSDKStub.js" type="text/javascript" charset="UTF-8" data-domain-script="01234567-89ab-cdef-0123-456789abcdef"></script>\n<script type="text/javascript">\nfunction OptanonWrapper() { }\n</script>',
    "CMP Usercentrics": b'<link rel="preconnect" href="//privacy-proxy.usercentrics.eu">\n<link rel="preload" href="//privacy-proxy.usercentrics.eu/latest/uc-block.bundle.js" as="script">\n<script type="application/javascript" src="https://privacy-proxy.usercentrics.eu/latest/uc-block.bundle.js"></script>\n<script id="usercentrics-cmp" src="https://web.cmp.usercentrics.eu/ui/loader.js" data-settings-id="AbCdEfGhI" async></script>',
    "CMP Didomi": b'<script type="text/javascript">window.gdprAppliesGlobally=true;(function(){function n(e){if(!window.frames[e]){if(document.body&&document.body.firstChild){var t=document.body;var r=document.createElement("iframe");r.style.display="none";r.name=e;r.title=e;t.insertBefore(r,t.firstChild)}else{setTimeout(function(){n(e)},5)}}}function e(r,a,o,c,s){function e(e,t,r,n){if(typeof r!=="function"){return}if(!window[a]){window[a]=[]}var i=false;if(s){i=s(e,n,r)}if(!i){window[a].push({command:e,version:t,callback:r,parameter:n})}}e.stub=true;e.stubVersion=2;function t(n){if(!window[r]||window[r].stub!==true){return}if(!n.data){return}var i=typeof n.data==="string";var e;try{e=i?JSON.parse(n.data):n.data}catch(t){return}if(e[o]){var a=e[o];window[r](a.command,a.version,function(e,t){var r={};r[c]={returnValue:e,success:t,callId:a.callId};n.source.postMessage(i?JSON.stringify(r):r,"*")},a.parameter)}}if(typeof window[r]!=="function"){window[r]=e;if(window.addEventListener){window.addEventListener("message",t,false)}else{window.attachEvent("onmessage",t)}}}e("__tcfapi","__tcfapiBuffer","__tcfapiCall","__tcfapiReturn");n("__tcfapiLocator");(function(e,t){var r=document.createElement("link");r.rel="preconnect";r.as="script";var n=document.createElement("link");n.rel="dns-prefetch";n.as="script";var i=document.createElement("script");i.id="spcloader";i.type="text/javascript";i["async"]=true;i.charset="utf-8";var a="https://sdk.privacy-center.org/"+e+"/loader.js?target_type=notice&target="+t;if(window.didomiConfig&&window.didomiConfig.user){var o=window.didomiConfig.user;var c=o.country;var s=o.region;if(c){a=a+"&country="+c;if(s){a=a+"&region="+s}}}r.href="https://sdk.privacy-center.org/";n.href="https://sdk.privacy-center.org/";i.src=a;var d=document.getElementsByTagName("script")[0];d.parentNode.insertBefore(r,d);d.parentNode.insertBefore(n,d);d.parentNode.insertBefore(i,d)})("01234567-89ab-cdef-0123-456789abcdef","AbCdEfGh")})();</script>',
    "CMP InMobi Choice (ex Quantcast Choice)": b"<script type=\"text/javascript\" async=true>\n(function() {\n  var host = window.location.hostname;\n  var element = document.createElement('script');\n  var firstScript = document.getElementsByTagName('script')[0];\n  var url = 'https://cmp.inmobi.com'\n    .concat('/choice/', 'AbCdEf01234', '/', host, '/choice.js?tag_version=V3');\n  var uspTries = 0;\n  var uspTriesLimit = 3;\n  element.async = true;\n  element.type = 'text/javascript';\n  element.src = url;\n  firstScript.parentNode.insertBefore(element, firstScript);\n})();\n</script>",
    "CMP Sourcepoint": b'<script>"use strict";function _typeof(t){return(_typeof="function"==typeof Symbol&&"symbol"==typeof Symbol.iterator?function(t){return typeof t}:function(t){return t&&"function"==typeof Symbol&&t.constructor===Symbol&&t!==Symbol.prototype?"symbol":typeof t})(t)}!function(){var t=function(){var t,e,o=[],n=window,r=n;for(;r;){try{if(r.frames.__tcfapiLocator){t=r;break}}catch(t){}if(r===n.top)break;r=r.parent}t||(function t(){var e=n.document,o=!!n.frames.__tcfapiLocator;if(!o)if(e.body){var r=e.createElement("iframe");r.style.cssText="display:none",r.name="__tcfapiLocator",e.body.appendChild(r)}else setTimeout(t,5);return!o}(),n.__tcfapi=function(){for(var t=arguments.length,n=new Array(t),r=0;r<t;r++)n[r]=arguments[r];if(!n.length)return o;"setGdprApplies"===n[0]?n.length>3&&2===parseInt(n[1],10)&&"boolean"==typeof n[3]&&(e=n[3],"function"==typeof n[2]&&n[2]("set",!0)):"ping"===n[0]?"function"==typeof n[2]&&n[2]({gdprApplies:e,cmpLoaded:!1,cmpStatus:"stub"}):o.push(n)})};t()}();</script>\n<script>window._sp_queue = []; window._sp_ = { config: { accountId: 1234, baseEndpoint: \'https://cdn.privacy-mgmt.com\', gdpr: { } } }</script>\n<script src=\'https://cdn.privacy-mgmt.com/unified/wrapperMessagingWithoutDetection.js\' async></script>',
    "Consent Mode default (gtag consent)": b"<script>\n  window.dataLayer = window.dataLayer || [];\n  function gtag(){dataLayer.push(arguments);}\n  gtag('consent', 'default', { 'ad_storage': 'denied', 'ad_user_data': 'denied', 'ad_personalization': 'denied', 'analytics_storage': 'denied', 'wait_for_update': 500 });\n  gtag('set', 'ads_data_redaction', true);\n</script>",
}


@pytest.mark.parametrize(("snippet", "service"), VENDORS.values(), ids=VENDORS)
def test_nothing_of_the_vendor_loads_or_runs_without_consent(snippet: bytes, service: str) -> None:
    page = PAGE % snippet
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings, chunks=[9, 100, 4])
    for left in live(out, noscript=True):
        # What may stay is configuration: an inline script that loads nothing.
        assert left in live_scripts(out) and "://" not in left and ".src" not in left, left
    blocked = {f.service_id for f in findings if f.action == "blocked"}
    assert service in blocked, findings
    category = CATALOG.policy.service(service).category
    granted = {CATALOG.policy.service(s).category for s in blocked if s}
    assert run(page, granting(*granted), rules=CATALOG) == page
    assert category in ("preferences", "analytics", "marketing")


@pytest.mark.parametrize("snippet", CONTROLS.values(), ids=CONTROLS)
def test_consent_platforms_and_a_consent_mode_default_are_left_alone(snippet: bytes) -> None:
    page = PAGE % snippet
    assert run(page, deny_all, rules=CATALOG) == page


@pytest.mark.parametrize(
    "script",
    [
        # A feedback button that opens a Google Form: a link, not an embed.
        b'<script>document.getElementById("fb").onclick=function(){'
        b'window.open("https://docs.google.com/forms/d/e/1FAIpQLSf/viewform")}</script>',
        # A site's own Consent Mode update after its own banner: configuration only.
        b"<script>gtag('set', 'url_passthrough', true);</script>",
    ],
    ids=["google-form-link", "gtag-set"],
)
def test_a_sites_own_script_that_only_names_a_vendor_stays(script: bytes) -> None:
    page = PAGE % script
    assert run(page, deny_all, rules=CATALOG) == page


def test_a_hubspot_hosted_sites_own_assets_stay_and_its_tracking_code_waits() -> None:
    # HubSpot CMS serves the site's theme and file-manager images from HubSpot's own hosts.
    assets = (
        b'<link rel="stylesheet" href="https://cdn2.hubspot.net/hub/123/hub_generated/template_assets/theme.min.css">'
        b'<link rel="stylesheet" href="https://static.hsstatic.net/BottomFunnelCMSContent/ex/cms.css">'
        b'<script src="https://static.hsstatic.net/jquery-libs/static-1.4/jquery/jquery-1.11.2.js"></script>'
        b'<img src="https://cdn2.hubspot.net/hubfs/123/logo.png" alt="Acme">'
    )
    page = PAGE % assets
    assert run(page, deny_all, rules=CATALOG) == page
    tracking = b'<script id="hs-script-loader" async defer src="//js.hs-scripts.com/123.js"></script>'
    out = run(PAGE % (assets + tracking), deny_all, rules=CATALOG)
    assert assets in out
    assert (
        b'data-consentgate-service="hubspot"' in out
        and b'data-consentgate-src="//js.hs-scripts.com/123.js"' in out
    )
