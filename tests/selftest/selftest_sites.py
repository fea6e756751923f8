"""Small local sites for the self-test: a clean one, a leaky one, and their "third parties".

Hosts: the sites run on 127.0.0.1; the tracker is served as ``localhost`` (another site for
the browser, since cookies and "same site" go by host, not port); an undeclared third party
runs on 127.0.0.2. Every server (``tests.browser_kit.serve``) binds port 0 and reports the port it got, so there is no race
for a free port; each starts and stops within a bounded time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]

PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

POLICY_DATA: dict[str, object] = {
    "include_catalog": False,
    "services": {
        "site": {
            "name": "The site",
            "category": "necessary",
            "justification": "session and the stored consent choice",
            "cookies": [{"name": "consent"}, {"name": "session"}],
        },
        "local-tracker": {
            "name": "Local tracker",
            "category": "marketing",
            "hosts": ["localhost"],
            "cookies": [{"name": "_tracker_id"}],
        },
        "google-analytics": {
            "name": "Google Analytics",
            "category": "analytics",
            "hosts": ["google-analytics.com"],
            "cookies": [{"pattern": "_ga(_.+)?"}],
        },
    },
}

POLICY_TOML = """\
include_catalog = false

[services.site]
name = "The site"
category = "necessary"
justification = "session and the stored consent choice"
cookies = [{ name = "consent" }, { name = "session" }]

[services.local-tracker]
name = "Local tracker"
category = "marketing"
hosts = ["localhost"]
cookies = [{ name = "_tracker_id" }]

[services.google-analytics]
name = "Google Analytics"
category = "analytics"
hosts = ["google-analytics.com"]
cookies = [{ pattern = "_ga(_.+)?" }]
"""


# -- the third parties ------------------------------------------------------------------------
def tracker_app() -> Starlette:
    async def tracker_js(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        storage = "localStorage.setItem('_tracker_id', '1');" if request.query_params.get("storage") else ""
        body = (
            "document.cookie = '_tracker_id=' + Math.random().toString(36).slice(2) "
            "+ '; path=/; max-age=31536000; samesite=lax';"
            f"{storage}"
            f"new Image().src = '{base}/pixel?p=' + encodeURIComponent(location.pathname);"
        )
        return Response(body, media_type="text/javascript")

    async def gtag_js(request: Request) -> Response:
        # What gtag.js does first when it runs: take over dataLayer.push.
        body = (
            "window.dataLayer = window.dataLayer || [];"
            "(function () { var layer = window.dataLayer; var original = layer.push;"
            " layer.push = function () { return original.apply(layer, arguments); }; })();"
        )
        return Response(body, media_type="text/javascript")

    async def pixel(request: Request) -> Response:
        return Response(PIXEL, media_type="image/gif")

    return Starlette(
        routes=[Route("/tracker.js", tracker_js), Route("/gtag/js", gtag_js), Route("/pixel", pixel)]
    )


def widget_app() -> Starlette:
    async def widget(request: Request) -> Response:
        return Response("window.widgetLoaded = true;", media_type="text/javascript")

    return Starlette(routes=[Route("/widget.js", widget)])


# -- the sites --------------------------------------------------------------------------------
async def _form(request: Request) -> dict[str, str]:
    # URL-encoded only; Starlette's form() needs python-multipart, which the project does not use.
    return dict(parse_qsl((await request.body()).decode()))


NAV = '<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/contact#form">Contact</a></nav>'


def _consent_default(granted: bool) -> str:
    value = "granted" if granted else "denied"
    return (
        "<script>window.dataLayer = window.dataLayer || [];"
        "function gtag(){dataLayer.push(arguments);}"
        f"gtag('consent', 'default', {{ad_storage: '{value}', ad_user_data: '{value}', "
        f"ad_personalization: '{value}', analytics_storage: '{value}', security_storage: 'granted'}});"
        "</script>"
    )


def _three_pages(page: Endpoint, consent: Endpoint) -> Starlette:
    """A site of three linked pages (one handler) and its consent endpoint."""
    pages = [Route(path, page) for path in ("/", "/about", "/contact")]
    return Starlette(routes=[*pages, Route("/consent", consent, methods=["POST"])])


def clean_site(tracker: str) -> Starlette:
    """consentgate-style markup: first-layer form buttons, a reopen control, cleanup on reject."""

    def choice_form(next_url: str) -> str:
        return (
            f'<form method="post" action="/consent"><input type="hidden" name="next" value="{next_url}">'
            '<button name="action" value="reject_all">Reject all</button> '
            '<button name="action" value="accept_all">Accept all</button></form>'
        )

    async def page(request: Request) -> Response:
        consent = request.cookies.get("consent")
        granted = consent == "accepted"
        head = _consent_default(granted)
        if granted:
            head += f'<script async src="{tracker}/gtag/js?id=G-CLEAN"></script>'
        body = f"<h1>{request.url.path}</h1>{NAV}<main><p>Clean content.</p></main>"
        if consent is None:
            body += (
                '<div role="dialog" aria-labelledby="cb-title" class="banner">'
                '<h2 id="cb-title">Cookies</h2><p>We would like to measure visits.</p>'
                f"{choice_form(request.url.path)}</div>"
            )
        else:
            body += (
                '<footer><button type="button" data-consentgate-open>Cookie settings</button>'
                f'<div id="prefs" hidden>{choice_form(request.url.path)}</div></footer>'
                "<script>document.querySelector('[data-consentgate-open]').onclick = () =>"
                " { document.getElementById('prefs').hidden = false; };</script>"
            )
        if granted:
            body += f'<script src="{tracker}/tracker.js"></script>'
        response = HTMLResponse(f"<!doctype html><html lang=en><head>{head}</head><body>{body}</body></html>")
        if "session" not in request.cookies:
            response.set_cookie("session", "s1", httponly=True, samesite="lax")
        return response

    async def consent(request: Request) -> Response:
        form = await _form(request)
        action = form.get("action")
        next_url = form.get("next") or "/"
        response = RedirectResponse(next_url if next_url.startswith("/") else "/", status_code=303)
        value = "accepted" if action == "accept_all" else "rejected"
        response.set_cookie("consent", value, max_age=183 * 86400, httponly=True, samesite="lax")
        if value == "rejected":
            response.delete_cookie("_tracker_id", path="/")
        return response

    return _three_pages(page, consent)


def leaky_site(tracker: str, widget: str) -> Starlette:
    """Everything wrong at once: trackers and _ga before consent, the Google tag before the
    Consent Mode default, reject hidden on the second layer, no way back to the choices."""

    async def page(request: Request) -> Response:
        consent = request.cookies.get("consent")
        head = f'<script src="{tracker}/gtag/js?id=G-LEAK"></script>{_consent_default(False)}'
        body = (
            f"<h1>{request.url.path}</h1>{NAV}<main><p>Leaky content.</p></main>"
            f'<script src="{tracker}/tracker.js?storage=1"></script>'
            f'<script src="{widget}/widget.js"></script>'
            "<script>document.cookie = 'mystery=1; path=/';</script>"
        )
        if consent is None:
            body += (
                '<div class="cookie-banner" role="dialog" aria-label="Cookies"><p>We use cookies.</p>'
                '<button id="acc">Accept all</button> <button id="more">Settings</button>'
                '<div id="layer2" hidden><label><input type="checkbox" checked> Statistics</label>'
                '<button id="rej">Reject all</button></div></div>'
                "<script>"
                "const choose = (v) => fetch('/consent',"
                " {method: 'POST', body: new URLSearchParams({choice: v})}).then(() => location.reload());"
                "document.getElementById('acc').onclick = () => choose('accepted');"
                "document.getElementById('rej').onclick = () => choose('rejected');"
                "document.getElementById('more').onclick = () => {"
                " document.getElementById('layer2').hidden = false; };"
                "</script>"
            )
        response = HTMLResponse(f"<!doctype html><html lang=en><head>{head}</head><body>{body}</body></html>")
        response.set_cookie("_ga", "GA1.1.123.456", max_age=63072000, samesite="lax")
        return response

    async def consent(request: Request) -> Response:
        form = await _form(request)
        response = Response(status_code=204)
        response.set_cookie("consent", form.get("choice", "rejected"), max_age=86400, samesite="lax")
        return response

    return _three_pages(page, consent)


@dataclass(frozen=True)
class Sites:
    clean: str
    leaky: str
    platform: str
    tracker: str
    widget: str


def signals_app(seen: list[dict[str, str]]) -> Starlette:
    """Records the privacy signals each request carried, and what the page's script saw."""

    def note(request: Request, **extra: str) -> None:
        seen.append(
            {
                "path": request.url.path,
                "sec_gpc": request.headers.get("sec-gpc", ""),
                "region": request.headers.get("x-test-region", ""),
                **extra,
            }
        )

    async def page(request: Request) -> Response:
        note(request)
        script = "<script>new Image().src = '/beacon?gpc=' + String(navigator.globalPrivacyControl);</script>"
        return HTMLResponse(f"<!doctype html><html><body><p>signals</p>{script}</body></html>")

    async def beacon(request: Request) -> Response:
        note(request, dom_gpc=request.query_params.get("gpc", ""))
        return Response(PIXEL, media_type="image/gif")

    return Starlette(routes=[Route("/", page), Route("/beacon", beacon)])


def platform_site(tracker: str) -> Starlette:
    """Like many consent platforms: the choices reopen only through a JavaScript API, and the
    preferences offer toggles and "Save my choices" but no reject-all button."""

    async def page(request: Request) -> Response:
        granted = set(filter(None, request.cookies.get("consent", "").split(",")))
        chosen = "consent" in request.cookies
        toggles = "".join(
            f'<label><input type="checkbox" name="c" value="{c}"{" checked" * (c in granted)}> {c}</label>'
            for c in ("analytics", "marketing")
        )
        first_layer = (
            '<button name="all" value="1">Accept all</button> '
            '<button name="none" value="1">Reject all</button>'
        )
        body = (
            f"<h1>Platform</h1>{NAV}"
            f'<div id="prefs" role="dialog" aria-label="Privacy preferences"{" hidden" * chosen}>'
            f'<form method="post" action="/consent">{"" if chosen else first_layer}'
            f"{toggles}<button>Save my choices</button></form></div>"
            "<script>window.CookieConsent = {showPreferences() {"
            " document.getElementById('prefs').hidden = false; }};</script>"
        )
        if "marketing" in granted:
            body += f'<script src="{tracker}/tracker.js"></script>'
        return HTMLResponse(f"<!doctype html><html lang=en><body>{body}</body></html>")

    async def consent(request: Request) -> Response:
        fields = parse_qsl((await request.body()).decode())
        names = dict(fields)
        granted = [value for key, value in fields if key == "c"]
        if "all" in names:
            granted = ["analytics", "marketing"]
        if "none" in names:
            granted = []
        response = RedirectResponse("/", status_code=303)
        response.set_cookie("consent", ",".join(granted), max_age=86400, samesite="lax")
        if "marketing" not in granted:
            response.delete_cookie("_tracker_id", path="/")
        return response

    return Starlette(routes=[Route("/", page), Route("/consent", consent, methods=["POST"])])
