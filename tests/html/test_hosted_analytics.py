"""Snippets of hosted analytics, session-replay and ad-measurement tools that third-party-web
does not list, or lists under a host the vendor no longer serves from (the catalog overlay adds
them): with the built-in catalog and no consent none of them runs, each is filed under its
vendor, and with its category granted the page comes back byte for byte.

The snippets are the shapes the vendors' install pages give (ids replaced)."""

from __future__ import annotations

import pytest

from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict

from .kit import deny_all, granting, live, live_scripts, run

CATALOG = Rules.compile(load_dict({}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>x</p>%s</body></html>"

PIWIK_PRO = (
    b'<script type="text/javascript">\n(function(window, document, dataLayerName, id) {\n'
    b"window[dataLayerName]=window[dataLayerName]||[],window[dataLayerName].push({start:(new Date)"
    b".getTime(),event:\"stg.start\"});var scripts=document.getElementsByTagName('script')[0],"
    b"tags=document.createElement('script');\n"
    b'tags.async=!0,tags.src="https://acme.containers.piwik.pro/"+id+".js";'
    b"scripts.parentNode.insertBefore(tags,scripts);\n"
    b"})(window, document, 'dataLayer', '0a1b2c3d-4e5f');\n</script>"
)
UMAMI = b'<script defer src="https://cloud.umami.is/script.js" data-website-id="94db1cb1"></script>'
SIMPLE_ANALYTICS = (
    b'<script async defer src="https://scripts.simpleanalyticscdn.com/latest.js"></script>\n'
    b'<noscript><img src="https://queue.simpleanalyticscdn.com/noscript.gif" alt="" '
    b'referrerpolicy="no-referrer-when-downgrade" /></noscript>'
)
GOATCOUNTER = b'<script data-goatcounter="https://acme.goatcounter.com/count" async src="//gc.zgo.at/count.js"></script>'
PIRSCH = b'<script defer src="https://api.pirsch.io/pa.js" id="pianjs" data-code="abc123"></script>'
HEAP = (
    b'<script type="text/javascript">\n  window.heapReadyCb=window.heapReadyCb||[],'
    b"window.heap=window.heap||[],heap.load=function(e,t){window.heap.envId=e,"
    b"window.heap.clientConfig=t=t||{},window.heap.clientConfig.shouldFetchServerConfig=!1;"
    b'var a=document.createElement("script");a.type="text/javascript",a.async=!0,'
    b'a.src="https://cdn.us.heap-api.com/config/"+e+"/heap_config.js";'
    b'var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(a,r)};\n'
    b'  heap.load("1234567");\n</script>'
)
LOGROCKET = (
    b'<script src="https://cdn.lr-ingest.io/LogRocket.min.js" crossorigin="anonymous"></script>\n'
    b"<script>window.LogRocket && window.LogRocket.init('abc/app');</script>"
)
DATADOG_RUM = (
    b"<script>\n  (function(h,o,u,n,d) {\n     h=h[d]=h[d]||{q:[],onReady:function(c){h.q.push(c)}}\n"
    b"     d=o.createElement(u);d.async=1;d.src=n\n     n=o.getElementsByTagName(u)[0];"
    b"n.parentNode.insertBefore(d,n)\n  })(window,document,'script',"
    b"'https://www.datadoghq-browser-agent.com/eu1/v5/datadog-rum.js','DD_RUM')\n"
    b"  window.DD_RUM.onReady(function() {\n    window.DD_RUM.init({\n      clientToken: 'pub0',\n"
    b"      applicationId: 'app0',\n      site: 'datadoghq.eu',\n      sessionReplaySampleRate: 20,\n"
    b"    });\n  })\n</script>"
)
USERPILOT = (
    b'<script>window.userpilotSettings = {token: "NX-0a1b2c"}</script>\n'
    b'<script src="https://js.userpilot.io/sdk/latest.js"></script>'
)
RUDDERSTACK = (
    b"<script>\n  rudderanalytics=window.rudderanalytics=[];"
    b'for(var methods=["load","page","track"],i=0;i<methods.length;i++){var method=methods[i];'
    b"rudderanalytics[method]=function(a){return function(){rudderanalytics.push([a]"
    b".concat(Array.prototype.slice.call(arguments)))}}(method)}"
    b'rudderanalytics.load("WRITE_KEY","https://acme.dataplane.rudderstack.com"),'
    b"rudderanalytics.page();\n</script>\n"
    b'<script src="https://cdn.rudderlabs.com/v1.1/rudder-analytics.min.js"></script>'
)
SPOTIFY_PIXEL = (
    b"<script>\n(function(w, d){\n  var id='spdt-capture', n='script';\n"
    b"  if (!d.getElementById(id)) {\n    w.spdt =\n      w.spdt ||\n      function() {\n"
    b"        (w.spdt.q = w.spdt.q || []).push(arguments);\n      };\n"
    b"    var e = d.createElement(n); e.id = id; e.async=1;\n"
    b"    e.src = 'https://pixel.byspotify.com/ping.min.js';\n"
    b"    var s = d.getElementsByTagName(n)[0];\n    s.parentNode.insertBefore(e, s);\n  }\n"
    b"  w.spdt('conf', { key: 'abc' });\n  w.spdt('view');\n})(window, document);\n</script>"
)
NEXTDOOR = (
    b"<script type='text/javascript'>\n(function(win, doc, sdk_url){\n"
    b"  if(win.ndp) return;\n  var tr=win.ndp=function(){\n"
    b"    tr.handleRequest? tr.handleRequest.apply(tr, arguments):tr.queue.push(arguments);\n  };\n"
    b"  tr.queue = [];\n  var s='script';\n  var new_script_section=doc.createElement(s);\n"
    b"  new_script_section.async=!0;\n  new_script_section.src=sdk_url;\n"
    b"  var insert_pos=doc.getElementsByTagName(s)[0];\n"
    b"  insert_pos.parentNode.insertBefore(new_script_section, insert_pos);\n"
    b"})(window, document, 'https://ads.nextdoor.com/public/pixel/ndp.js');\n\n"
    b"ndp('init','abc-123', {})\nndp('track','PAGE_VIEW');\n</script>"
)
TIDIO = b'<script src="//code.tidio.co/abcdefghijklmnop.js" async></script>'
VIDYARD = (
    b'<script type="text/javascript" async src="https://play.vidyard.com/embed/v4.js"></script>\n'
    b'<img style="width: 100%; margin: auto; display: block;" class="vidyard-player-embed" '
    b'src="https://play.vidyard.com/abc.jpg" data-uuid="abc" data-v="4" data-type="inline" />'
)

SNIPPETS = [
    pytest.param(PIWIK_PRO, "piwik-pro", id="piwik-pro"),
    pytest.param(UMAMI, "umami-cloud", id="umami"),
    pytest.param(SIMPLE_ANALYTICS, "simple-analytics", id="simple-analytics"),
    pytest.param(GOATCOUNTER, "goatcounter", id="goatcounter"),
    pytest.param(PIRSCH, "pirsch", id="pirsch"),
    pytest.param(HEAP, "heap", id="heap-current-snippet"),
    pytest.param(LOGROCKET, "logrocket", id="logrocket"),
    pytest.param(DATADOG_RUM, "datadog-rum", id="datadog-rum"),
    pytest.param(USERPILOT, "userpilot", id="userpilot"),
    pytest.param(RUDDERSTACK, "rudderstack", id="rudderstack"),
    pytest.param(SPOTIFY_PIXEL, "spotify-ad-analytics", id="spotify-pixel"),
    pytest.param(NEXTDOOR, "nextdoor-ads", id="nextdoor-pixel"),
    pytest.param(TIDIO, "tidio", id="tidio-chat"),
    pytest.param(VIDYARD, "vidyard", id="vidyard-player"),
]


@pytest.mark.parametrize(("snippet", "service"), SNIPPETS)
def test_the_vendor_loads_nothing_without_consent_and_everything_with_it(
    snippet: bytes, service: str
) -> None:
    page = PAGE % snippet
    assert live(page, noscript=True), "the snippet must load something before rewriting"
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings, chunks=[5, 61, 2])
    # What may stay is configuration: an inline settings object that loads nothing.
    for left in live(out, noscript=True):
        assert left in live_scripts(out) and "://" not in left and ".src" not in left, left
    blocked = [f for f in findings if f.action == "blocked"]
    assert blocked, findings
    # Everything blocked is this vendor's.
    assert {f.service_id for f in blocked} == {service}
    category = CATALOG.policy.service(service).category
    assert category in ("analytics", "marketing", "preferences")
    assert run(page, granting(category), rules=CATALOG) == page
