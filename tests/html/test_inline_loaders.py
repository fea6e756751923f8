"""Inline loader snippets of vendors the catalog knows by host only.

Most vendors hand out a snippet that creates a ``<script>`` element whose ``src`` is a file
on their host. The catalog has signatures for the best-known ones; for every other service it
has hosts. A whole inline script (up to 16 KiB) that names a JavaScript file on a known
service's host is that service's (rule "host"): blocked without consent, restored byte for
byte with it. Links that are not scripts, first-party hosts and large bundles do not count.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.rewriter import rewrite
from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict

from .kit import RULES, deny_all, granting, live_scripts, make_policy, run

CATALOG = Rules.compile(load_dict({}))
PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>x</p>%s</body></html>"

# Vendors' snippets as their docs give them; the catalog has no signature for these vendors.
CRISP = (
    b'<script type="text/javascript">window.$crisp=[];window.CRISP_WEBSITE_ID="0c8e4d5e";'
    b'(function(){d=document;s=d.createElement("script");s.src="https://client.crisp.chat/l.js";'
    b's.async=1;d.getElementsByTagName("head")[0].appendChild(s);})();</script>'
)
MAILCHIMP = (
    b'<script id="mcjs">!function(c,h,i,m,p){m=c.createElement(h),p=c.getElementsByTagName(h)[0],'
    b'm.async=1,m.src=i,p.parentNode.insertBefore(m,p)}(document,"script",'
    b'"https://chimpstatic.com/mcjs-connected/js/users/0a1b2c/3d4e5f.js");</script>'
)
# An old-style loader, protocol-relative, with a query string.
ZERGNET_WRITE = (
    b"<script>document.write('<scr'+'ipt src=\"//www.zergnet.com/zerg.js?id=16910\"></scr'+'ipt>');</script>"
)
# Markup written by a script, its src on the vendor's host (not a .js file).
FASTCLICK_WRITE = (
    b"<script>document.write('<iframe src=\\\"http://media.fastclick.net/w/get.media?sid=52741\\\"'"
    b" + ' width=300></iframe>');</script>"
)
# The same with the slashes escaped, as JSON encoders and some CMSes write them.
LIKE_WRITE = (
    b'<script language="JavaScript">document.write("<iframe src=\\"http:\\/\\/www.facebook.com\\/plugins'
    b'\\/like.php?href="+document.URL+"&layout=standard\\"></iframe>");</script>'
)
# Markup written piece by piece, the host starting a string of its own.
DOUBLECLICK_WRITE = (
    b"<script>var ehs_protocol=('https:'==document.location.protocol)?'https://':'http://';"
    b"document.write('<scr'+'ipt type=\"text/javascript\" src=\"'+ehs_protocol+'ad.doubleclick.net/N6913/adj/'"
    b"+ehs_site+';sz=1x1;ord='+ord+'?\"><\\/scr'+'ipt>');</script>"
)
# A counting pixel's URL in a variable, written as an <img> later (the German IVW counter).
IVW_WRITE = (
    b'<script>var IVW="http://glam.ivwbox.de/cgi-bin/ivw/CP/FAS_00_352856868";'
    b"document.write('<img src=\"'+IVW+'?r='+escape(document.referrer)+'&d='+(Math.random()*100000)"
    b'+\'" width="1" height="1" alt="szmtag" />\');</script>'
)
# The scheme chosen at run time, the host in a string of its own (old snippets do this).
EFFECTIVE_MEASURE = (
    b"<script>(function(){var em=document.createElement('script');em.type='text/javascript';"
    b'em.async=true;em.src=("https:"==document.location.protocol?"https://":"http://")'
    b'+"in-cdn.effectivemeasure.net/em.js";var s=document.getElementsByTagName("script")[0];'
    b"s.parentNode.insertBefore(em,s);})();</script>"
)
# A pixel fired from a script: new Image() with the host in a string.
PIXEL = (
    b'<script>(function(){var f=(location.protocol=="https:"?"https":"http")+"://";'
    b'new Image().src=f+"l.betrad.com/pub/p.gif?pid=285&r="+Math.random();})();</script>'
)
# A module script importing a vendor's ES module.
MODULE = b'<script type="module">import "https://client.crisp.chat/static/js/widget.mjs";</script>'
# Requests a script sends itself, to a vendor's collection endpoint.
BEACON = b'<script>navigator.sendBeacon("https://api-js.mixpanel.com/track/", JSON.stringify(e));</script>'
FETCH = b'<script>fetch("https://www.facebook.com/tr?id=1&ev=PageView", {mode: "no-cors"});</script>'
XHR = (
    b'<script>var x = new XMLHttpRequest(); x.open("GET", "https://px.ads.linkedin.com/collect?pid=1");'
    b"x.send();</script>"
)
DYNAMIC_IMPORT = (
    b"<script>import('https://t.contentsquare.net/uxa/abc').then(function(m){m.init()});</script>"
)


@pytest.mark.parametrize(
    ("snippet", "service", "host"),
    [
        (CRISP, "crisp", "client.crisp.chat"),
        (MAILCHIMP, "mailchimp", "chimpstatic.com"),
        (ZERGNET_WRITE, "zergnet", "www.zergnet.com"),
        (MODULE, "crisp", "client.crisp.chat"),
        (FASTCLICK_WRITE, "conversant", "media.fastclick.net"),
        (LIKE_WRITE, "meta-pixel", "www.facebook.com"),
        (DOUBLECLICK_WRITE, "google-ads", "ad.doubleclick.net"),
        (IVW_WRITE, "infonline", "glam.ivwbox.de"),
        (EFFECTIVE_MEASURE, "effective-measure", "in-cdn.effectivemeasure.net"),
        (PIXEL, "ghostery-enterprise", "l.betrad.com"),
        (BEACON, "mixpanel", "api-js.mixpanel.com"),
        (FETCH, "meta-pixel", "www.facebook.com"),
        (XHR, "linkedin-insight", "px.ads.linkedin.com"),
        (DYNAMIC_IMPORT, "contentsquare", "t.contentsquare.net"),
    ],
)
def test_a_loader_snippet_of_a_known_host_is_that_services_and_comes_back_exactly(
    snippet: bytes, service: str, host: str
) -> None:
    page = PAGE % snippet
    findings: list[Finding] = []
    out = run(page, deny_all, rules=CATALOG, findings=findings, chunks=[7, 64, 3])
    assert [(f.tag, f.service_id, f.host, f.rule, f.action) for f in findings] == [
        ("script", service, host, "host", "blocked")
    ]
    assert live_scripts(out) == []
    category = CATALOG.policy.service(service).category
    assert run(page, granting(category), rules=CATALOG) == page


@pytest.mark.parametrize(
    "script",
    [
        # A share button links to a vendor: no script of theirs is loaded.
        b'<script>document.getElementById("share").href="https://twitter.com/intent/tweet?url="'
        b"+encodeURIComponent(location.href);</script>",
        # The vendor's host in a comment-less string that is not a script file.
        b'<script>var help = "https://client.crisp.chat/docs/en/";</script>',
        # Share links built with createElement("a") and innerHTML: links load nothing.
        b'<script>var a=document.createElement("a");a.href="https://twitter.com/intent/tweet?u="+'
        b'encodeURIComponent(location.href);document.getElementById("s").appendChild(a);'
        b'document.getElementById("f").innerHTML=\'<a href="https://www.facebook.com/sharer.php">f</a>\';'
        b"</script>",
        # A share link written into the page: a link loads nothing.
        b"<script>document.write('<a href=\"https://www.facebook.com/sharer.php?u='"
        b"+encodeURIComponent(location.href)+'\">Share</a>');</script>",
        # An element the script builds, but the vendor only named in a message.
        b'<script>var i=new Image();i.alt="Follow us on twitter.com/example";</script>',
        # A request to the site's own API, and a share window: neither is a vendor's request.
        b"<script>fetch('/api/cart').then(function(r){return r.json()});"
        b"document.getElementById('s').onclick=function(){window.open('https://www.facebook.com/sharer.php?u=x','_blank')};"
        b"</script>",
        # The file name only, no host: nothing says whose it is.
        b'<script>var s = document.createElement("script"); s.src = "/js/l.js";</script>',
    ],
)
def test_scripts_that_name_a_vendor_without_loading_its_javascript_stay(script: bytes) -> None:
    page = PAGE % script
    assert run(page, deny_all, rules=CATALOG) == page


def test_a_first_party_bundle_that_names_a_vendor_file_is_not_a_loader() -> None:
    # Over 16 KiB of the site's own code: a loader snippet is small. Signatures still count in
    # a bundle of any size; this rule does not.
    bundle = b"<script>" + b"var a=1;" * 2500 + b'load("https://client.crisp.chat/l.js");</script>'
    page = PAGE % bundle
    assert run(page, deny_all, rules=CATALOG) == page


def test_a_long_script_streamed_in_pieces_is_not_judged_by_a_piece() -> None:
    # Longer than the buffer: classified on its first bytes, then scanned as it streams. A
    # vendor file named in a later piece is not a loader snippet.
    long_script = b"<script>" + b"x();" * 20000 + b'f("https://client.crisp.chat/l.js");</script>'
    page = PAGE % long_script
    assert run(page, deny_all, rules=CATALOG, chunks=[1000]) == page


def test_the_sites_own_hosts_never_count() -> None:
    rules = Rules.compile(make_policy(first_party=("www.google-analytics.com",)))
    script = b'<script>var s=document.createElement("script");s.src="https://www.google-analytics.com/x.js";</script>'
    page = PAGE % script
    assert run(page, deny_all, rules=rules) == page
    # The same on a host the site does not own is the service's.
    findings: list[Finding] = []
    run(page, deny_all, rules=RULES, findings=findings)
    assert [(f.service_id, f.rule) for f in findings] == [("ga", "host")]


def test_the_most_sensitive_service_named_decides() -> None:
    script = (
        b'<script>load("https://maps.example.org/api.js");load("https://connect.facebook.net/sdk.js");'
        b'load("https://cdn.example.net/lib.js");</script>'
    )
    findings: list[Finding] = []
    run(PAGE % script, deny_all, rules=RULES, findings=findings)
    assert [(f.service_id, f.category, f.host) for f in findings] == [
        ("meta", "marketing", "connect.facebook.net")
    ]


_FILLER = st.sampled_from([b"var a=1;", b"// https://example.org/\n", b'"//x.js";', b"f('/a.js');", b"\n"])


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(_FILLER, max_size=6),
    after=st.lists(_FILLER, max_size=6),
    quote=st.sampled_from([b'"', b"'", b"`"]),
    scheme=st.sampled_from([b"https:", b"http:", b""]),
    tail=st.sampled_from([b"", b"?v=1", b"#x"]),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_any_loader_shape_is_held_however_the_page_is_split(
    before: list[bytes], after: list[bytes], quote: bytes, scheme: bytes, tail: bytes, cuts: list[int]
) -> None:
    url = quote + scheme + b"//client.crisp.chat/l.js" + tail + quote
    script = b"<script>" + b"".join(before) + b"s.src=" + url + b";" + b"".join(after) + b"</script>"
    page = PAGE % script
    whole = run(page, deny_all, rules=CATALOG)
    assert run(page, deny_all, rules=CATALOG, chunks=cuts) == whole
    assert live_scripts(whole) == []
    assert run(page, granting("preferences"), rules=CATALOG, chunks=cuts) == page


def test_a_loader_of_the_pages_own_host_is_first_party() -> None:
    # As for a src: the site's own host is never a tracker, even one the catalog names.
    page = PAGE % CRISP
    assert rewrite(page, CATALOG, deny_all, page_host="client.crisp.chat") == page
    findings: list[Finding] = []
    rewrite(page, CATALOG, deny_all, page_host="www.example.org", on_finding=findings.append)
    assert [(f.service_id, f.rule) for f in findings] == [("crisp", "host")]
