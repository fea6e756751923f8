"""The tracking snippets vendors tell sites to paste, as pasted: none may load or run without
consent (checked on a browser-faithful parse of the output), and each comes back byte for byte
when its category is granted. Uses the built-in policy and catalog."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.html.rules import Finding, Rules
from consentgate.policy.load import load_dict

from .kit import BODY, HEAD, deny_all, granting, live, run

GA4 = b"""<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABCDEF1234"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());

  gtag('config', 'G-ABCDEF1234');
</script>"""

GTM = b"""<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-ABC123');</script>
<!-- End Google Tag Manager -->
<!-- Google Tag Manager (noscript) -->
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC123"
height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<!-- End Google Tag Manager (noscript) -->"""

META_PIXEL = b"""<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s)
{if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '1234567890');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"
/></noscript>
<!-- End Meta Pixel Code -->"""

HOTJAR = b"""<!-- Hotjar Tracking Code -->
<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:1234567,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>"""

LINKEDIN = b"""<script type="text/javascript">
_linkedin_partner_id = "1234567";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script><script type="text/javascript">
(function(l) {
if (!l){window.lintrk = function(a,b){window.lintrk.q.push([a,b])};
window.lintrk.q=[]}
var s = document.getElementsByTagName("script")[0];
var b = document.createElement("script");
b.type = "text/javascript";b.async = true;
b.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";
s.parentNode.insertBefore(b, s);})(window.lintrk);
</script>
<noscript>
<img height="1" width="1" style="display:none;" alt="" src="https://px.ads.linkedin.com/collect/?pid=1234567&fmt=gif" />
</noscript>"""

TIKTOK = b"""<script>
!function (w, d, t) {
  w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie"],ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);ttq.instance=function(t){for(var e=ttq._i[t]||[],n=0;n<ttq.methods.length;n++)ttq.setAndDefer(e,ttq.methods[n]);return e},ttq.load=function(e,n){var i="https://analytics.tiktok.com/i18n/pixel/events.js";ttq._i=ttq._i||{},ttq._i[e]=[],ttq._i[e]._u=i,ttq._t=ttq._t||{},ttq._t[e]=+new Date,ttq._o=ttq._o||{},ttq._o[e]=n||{};var o=document.createElement("script");o.type="text/javascript",o.async=!0,o.src=i+"?sdkid="+e+"&lib="+t;var a=document.getElementsByTagName("script")[0];a.parentNode.insertBefore(o,a)};
  ttq.load('CABCDEFGHIJ');
  ttq.page();
}(window, document, 'ttq');
</script>"""

YOUTUBE = b"""<iframe width="560" height="315" src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="YouTube video player" frameborder="0" allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share" allowfullscreen></iframe>"""

VIMEO = b"""<iframe src="https://player.vimeo.com/video/76979871?h=8272103f6e" width="640" height="360" frameborder="0" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>"""

SNIPPETS = {
    "ga4": (GA4, [b"googletagmanager.com", b"gtag("]),
    "gtm": (GTM, [b"googletagmanager.com", b"gtm.start"]),
    "meta-pixel": (META_PIXEL, [b"facebook", b"fbq("]),
    "hotjar": (HOTJAR, [b"hotjar", b"_hjSettings"]),
    "linkedin-insight": (LINKEDIN, [b"licdn.com", b"linkedin", b"_linkedin"]),
    "tiktok-pixel": (TIKTOK, [b"tiktok", b"ttq"]),
    "youtube": (YOUTUBE, [b"youtube.com"]),
    "vimeo": (VIMEO, [b"vimeo.com"]),
}


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.compile(load_dict({}))


def page(snippet: bytes) -> bytes:
    return (
        b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Shop</title>\n'
        + snippet
        + (
            b'\n<script src="/static/app.js"></script></head>\n<body><h1>Welcome</h1>\n'
            + snippet
            + b"\n</body></html>\n"
        )
    )


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_snippet_neither_loads_nor_runs_without_consent(name: str, rules: Rules) -> None:
    snippet, markers = SNIPPETS[name]
    findings: list[Finding] = []
    out = run(page(snippet), deny_all, rules=rules, head=HEAD, body=BODY, findings=findings)
    still = [item for item in live(out, noscript=True) if any(m.decode() in item for m in markers)]
    assert still == []
    assert "/static/app.js" in live(out)  # the site's own script keeps running
    assert findings and all(f.action == "blocked" for f in findings)


@pytest.mark.parametrize("name", sorted(SNIPPETS))
@pytest.mark.parametrize("chunk", [None, 1, 61])
def test_snippet_comes_back_byte_for_byte_when_its_category_is_granted(
    name: str, chunk: int | None, rules: Rules
) -> None:
    snippet, _ = SNIPPETS[name]
    findings: list[Finding] = []
    run(page(snippet), deny_all, rules=rules, findings=findings)
    categories = {f.category for f in findings}
    out = run(
        page(snippet),
        granting(*categories),
        rules=rules,
        head=HEAD,
        body=BODY,
        chunks=None if chunk is None else [chunk],
    )
    assert out == page(snippet).replace(b"<title>", HEAD + b"<title>").replace(b"</body>", BODY + b"</body>")


def test_snippet_stays_blocked_when_only_another_category_is_granted(rules: Rules) -> None:
    out = run(page(META_PIXEL), granting("analytics"), rules=rules)
    assert [item for item in live(out) if "facebook" in item or "fbq(" in item] == []


# -- the head snippet's place without a <meta charset> to wait for ------------------------------
_OPENING_PARTS = st.lists(
    st.sampled_from(
        [
            b"\n",
            b"  ",
            b"<!DOCTYPE html>",
            b"<!-- note -->",
            b"<!-->",
            b"<?xml version='1.0'?>",
            b"<html>",
            b'<HTML lang="en" data-x=">">',
            b"<head>",
            b"<head class=h>",
        ]
    ),
    max_size=6,
)
_NEXT_PARTS = st.sampled_from(
    [
        b"<title>t</title>",
        b'<meta name="viewport" content="width=device-width">',
        b"<script>var a = 1;</script>",
        b'<link rel="stylesheet" href="/s.css">',
        b"<base href='/x/'>",
        b"text first",
        b"</head><body><p>x</p>",
        b"<body>",
        b"<!x bogus>",
        b"</ x>",
        b"<html><head>",
        b"<head>",
        b"<tit",
        b"<",
        b"",
        b"<noscript><img src=x></noscript>",
        b'<meta charset="utf-8">',
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    _OPENING_PARTS.map(b"".join),
    _NEXT_PARTS,
    st.sampled_from([b"", b"<p>body</p></body></html>", b"<p>" + b"x" * 1100 + b"</p>"]),
    st.sampled_from([None, "utf-8"]),
    st.booleans(),
)
def test_the_quick_place_without_a_meta_charset_is_the_tag_by_tag_place(
    opening: bytes, first: bytes, rest: bytes, charset: str | None, bom: bool
) -> None:
    # `_first_in_head` places the head snippet without reading the page tag by tag; with it
    # turned off, the prologue reads tag by tag: both must give the same bytes, whole or cut.
    from unittest import mock

    from consentgate.html import rewriter

    page = (b"\xef\xbb\xbf" if bom else b"") + opening + first + rest
    quick = [run(page, head=HEAD, body=BODY, charset=charset, chunks=chunks) for chunks in (None, [7])]
    with mock.patch.object(rewriter, "_first_in_head", lambda data: -1):
        slow = [run(page, head=HEAD, body=BODY, charset=charset, chunks=chunks) for chunks in (None, [7])]
    assert quick == slow
    assert quick[0].count(HEAD) == 1


def test_a_page_without_a_meta_charset_gets_its_head_snippet_without_the_prologue() -> None:
    from unittest import mock

    from consentgate.html import rewriter

    page = b"<!doctype html><html><head>\n<title>t</title></head><body><p>x</p></body></html>"
    with mock.patch.object(rewriter, "Tokenizer", wraps=rewriter.Tokenizer) as made:
        out = run(page, head=HEAD, body=BODY)
    assert out.startswith(b"<!doctype html><html><head>\n" + HEAD + b"<title>")
    # one tokenizer, for the resources: none stepping through the prologue tag by tag
    assert made.call_count == 1 and made.call_args.args[0] is not None
