"""The demo's three "third parties", each a separate origin served locally.

They behave like the real thing in the ways that matter for consent: scripts that write cookies
through ``document.cookie``, beacons to a collection endpoint, a tracking pixel, an embedded
player. Each records every hit it receives, so a test (or a curious visitor at ``/hits``) can see
whether anything reached it before consent.

- Trailstats Analytics: ``/ts.js`` (gtag-like queue ``tsLayer``), beacons to ``/collect``.
- Pinecone Ads: ``/pixel.js`` (Meta-pixel-like ``pcq``), ``/tr`` pixel, ``/slot.js`` ad slot.
- Trailcast Video: ``/embed/{video_id}`` player page for an iframe.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

# A 1x1 transparent GIF, the classic tracking pixel.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
NO_STORE = {"Cache-Control": "no-store"}
MAX_HITS = 1000  # per origin; the demo runs for hours at most


class HitLog:
    """What one origin has received, newest last (bounded, in memory)."""

    def __init__(self) -> None:
        self._hits: deque[dict[str, object]] = deque(maxlen=MAX_HITS)

    def record(self, request: Request, kind: str, **extra: object) -> None:
        self._hits.append(
            {
                "kind": kind,
                "ts": int(time.time() * 1000),
                "referer": request.headers.get("referer", ""),
                **extra,
            }
        )

    def list(self) -> list[dict[str, object]]:
        return list(self._hits)


def _hits_endpoint(log: HitLog) -> Callable[[Request], Response]:
    def hits(request: Request) -> Response:
        # Readable by the demo site's own pages and by tests; the data is the demo's own.
        return JSONResponse(log.list(), headers={**NO_STORE, "Access-Control-Allow-Origin": "*"})

    return hits


def _about_page(title: str, text: str) -> Callable[[Request], Response]:
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
        "color:#1d2420}code{background:#eee;padding:0 .3em;border-radius:3px}</style></head>"
        f"<body><h1>{escape(title)}</h1><p>{text}</p>"
        "<p>Part of the consentgate demo. <a href='/hits'>Hits received so far</a>.</p></body></html>"
    )

    def about(request: Request) -> Response:
        return HTMLResponse(page)

    return about


def _js(source: str) -> Response:
    return Response(source, media_type="text/javascript", headers=NO_STORE)


# ---------------------------------------------------------------------------------- analytics

_TRAILSTATS_JS = """\
/* Trailstats Analytics: a stand-in for gtag.js. Sets a first-party visitor cookie through
   document.cookie and sends one beacon per tstag('config', ...) and tstag('event', ...). */
(function () {
  var collect = %(collect)s;
  if (window.__trailstats) return;
  window.__trailstats = true;
  function visitorId() {
    var m = document.cookie.match(/(?:^|; )_ts_uid=([^;]+)/);
    if (m) return m[1];
    var id = Math.random().toString(36).slice(2) + "." + Date.now();
    document.cookie = "_ts_uid=" + id + "; path=/; max-age=63072000; SameSite=Lax";
    return id;
  }
  function send(kind, data) {
    var payload = JSON.stringify({kind: kind, page: location.pathname, uid: visitorId(),
                                  title: document.title, data: data || {}});
    if (navigator.sendBeacon && navigator.sendBeacon(collect, payload)) return;
    fetch(collect, {method: "POST", body: payload, mode: "no-cors", keepalive: true});
  }
  function handle(args) {
    if (args[0] === "config") send("pageview", {property: args[1]});
    else if (args[0] === "event") send("event", {name: args[1], params: args[2] || {}});
  }
  var layer = window.tsLayer = window.tsLayer || [];
  for (var i = 0; i < layer.length; i++) handle(layer[i]);
  layer.push = function () {
    for (var j = 0; j < arguments.length; j++) handle(arguments[j]);
    return Array.prototype.push.apply(layer, arguments);
  };
})();
"""


def create_analytics_app() -> Starlette:
    log = HitLog()

    def script(request: Request) -> Response:
        collect = str(request.url_for("collect"))
        return _js(_TRAILSTATS_JS % {"collect": json.dumps(collect)})

    async def collect(request: Request) -> Response:
        body = await request.body()
        try:
            data = json.loads(body[:8192]) if body else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        log.record(request, str(data.get("kind", "hit")), page=str(data.get("page", "")))
        return Response(status_code=204, headers=NO_STORE)

    return Starlette(
        routes=[
            Route(
                "/",
                _about_page(
                    "Trailstats Analytics",
                    "A stand-in analytics service: <code>/ts.js</code> sets the <code>_ts_uid</code> "
                    "cookie and sends beacons to <code>/collect</code>.",
                ),
            ),
            Route("/ts.js", script),
            Route("/collect", collect, methods=["POST", "GET"], name="collect"),
            Route("/hits", _hits_endpoint(log)),
        ]
    )


# ---------------------------------------------------------------------------------------- ads

_PIXEL_JS = """\
/* Pinecone Ads pixel: a stand-in for fbevents.js. Processes the pcq() queue, stores a
   browser id in the _pc_id cookie and fires one image request per event. */
(function () {
  var endpoint = %(endpoint)s;
  var pcq = window.pcq;
  if (!pcq || pcq.loaded) return;
  function browserId() {
    var m = document.cookie.match(/(?:^|; )_pc_id=([^;]+)/);
    if (m) return m[1];
    var id = "pc." + Date.now() + "." + Math.floor(Math.random() * 1e9);
    document.cookie = "_pc_id=" + id + "; path=/; max-age=7776000; SameSite=Lax";
    return id;
  }
  var pixel = null;
  function call(method, a, b) {
    if (method === "init") { pixel = a; return; }
    if (method !== "track") return;
    var img = new Image(1, 1);
    img.src = endpoint + "?id=" + encodeURIComponent(pixel || "") + "&ev=" + encodeURIComponent(a) +
      "&bid=" + encodeURIComponent(browserId()) + "&page=" + encodeURIComponent(location.pathname);
  }
  pcq.callMethod = function () { call.apply(null, arguments); };
  pcq.loaded = true;
  var queued = pcq.queue || [];
  pcq.queue = [];
  for (var i = 0; i < queued.length; i++) call.apply(null, queued[i]);
})();
"""

_SLOT_JS = """\
/* Pinecone Ads slot: fills every [data-pc-slot] element with a creative and counts an
   impression. Sets the same _pc_id cookie as the pixel. */
(function () {
  var origin = %(origin)s;
  if (!/(?:^|; )_pc_id=/.test(document.cookie)) {
    document.cookie = "_pc_id=pc." + Date.now() + "; path=/; max-age=7776000; SameSite=Lax";
  }
  var slots = document.querySelectorAll("[data-pc-slot]");
  for (var i = 0; i < slots.length; i++) {
    var slot = slots[i];
    if (slot.getAttribute("data-pc-filled")) continue;
    slot.setAttribute("data-pc-filled", "1");
    slot.innerHTML =
      '<a class="pc-creative" href="' + origin + '/click?slot=' +
      encodeURIComponent(slot.getAttribute("data-pc-slot")) + '" rel="sponsored noopener" ' +
      'style="display:block;padding:1.25rem;border-radius:10px;text-decoration:none;' +
      'background:linear-gradient(135deg,#ffcf70,#ff8a5c);color:#2a1606;font:600 1rem/1.3 system-ui">' +
      '<span style="display:block;font-size:.7rem;letter-spacing:.08em;text-transform:uppercase;' +
      'opacity:.8">Sponsored by Pinecone Ads</span>Summit Stoves &mdash; 20%% off all burners this week</a>';
    new Image(1, 1).src = origin + "/tr?ev=impression&slot=" +
      encodeURIComponent(slot.getAttribute("data-pc-slot"));
  }
})();
"""


def create_ads_app() -> Starlette:
    log = HitLog()

    def pixel_js(request: Request) -> Response:
        return _js(_PIXEL_JS % {"endpoint": json.dumps(str(request.url_for("track")))})

    def slot_js(request: Request) -> Response:
        origin = str(request.base_url).rstrip("/")
        log.record(request, "slot")
        return _js(_SLOT_JS % {"origin": json.dumps(origin)})

    def track(request: Request) -> Response:
        params = request.query_params
        log.record(
            request,
            "noscript" if params.get("noscript") else str(params.get("ev", "hit")),
            page=params.get("page", ""),
        )
        return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)

    def click(request: Request) -> Response:
        log.record(request, "click", slot=request.query_params.get("slot", ""))
        return HTMLResponse("<p>This is where the advertiser's page would be.</p>")

    return Starlette(
        routes=[
            Route(
                "/",
                _about_page(
                    "Pinecone Ads",
                    "A stand-in advertising network: the <code>/pixel.js</code> pixel, the "
                    "<code>/tr</code> image beacon and the <code>/slot.js</code> ad slot.",
                ),
            ),
            Route("/pixel.js", pixel_js),
            Route("/slot.js", slot_js),
            Route("/tr", track, name="track"),
            Route("/click", click),
            Route("/hits", _hits_endpoint(log)),
        ]
    )


# -------------------------------------------------------------------------------------- video

_PLAYER_PAGE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s - Trailcast</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  html,body{margin:0;height:100%%;font:15px/1.4 system-ui,sans-serif;color:#fff;background:#111}
  .player{position:relative;height:100%%;display:grid;place-items:center;overflow:hidden;
    background:radial-gradient(circle at 30%% 20%%,#4b6b5c,#15221c 70%%)}
  .ridge{position:absolute;inset:auto 0 0 0;height:55%%}
  button{position:relative;width:76px;height:76px;border-radius:50%%;border:0;cursor:pointer;
    background:rgba(255,255,255,.92);box-shadow:0 6px 24px rgba(0,0,0,.35)}
  button::after{content:"";position:absolute;left:31px;top:23px;border-style:solid;
    border-width:15px 0 15px 24px;border-color:transparent transparent transparent #15221c}
  .bar{position:absolute;left:0;right:0;bottom:0;display:flex;gap:.75rem;align-items:center;
    padding:.6rem .9rem;background:linear-gradient(transparent,rgba(0,0,0,.7))}
  .progress{flex:1;height:4px;background:rgba(255,255,255,.3);border-radius:2px}
  .progress i{display:block;height:100%%;width:0;background:#ff5a36;border-radius:2px;
    transition:width 8s linear}
  .playing .progress i{width:100%%}
  .brand{font-weight:700;letter-spacing:.02em}
</style></head>
<body><div class="player" id="player">
  <svg class="ridge" viewBox="0 0 400 120" preserveAspectRatio="none" aria-hidden="true">
    <path d="M0 120 L0 70 L60 40 L110 75 L170 20 L240 80 L300 45 L400 85 L400 120 Z" fill="#0c1511"/>
  </svg>
  <button type="button" aria-label="Play: %(title)s"
    onclick="document.getElementById('player').classList.add('playing')"></button>
  <div class="bar"><span>%(title)s</span><span class="progress"><i></i></span>
    <span class="brand">Trailcast</span></div>
</div></body></html>
"""


def create_video_app() -> Starlette:
    log = HitLog()

    def embed(request: Request) -> Response:
        video_id = request.path_params["video_id"]
        title = request.query_params.get("title", video_id.replace("-", " ").capitalize())
        log.record(request, "embed", video=video_id)
        response = HTMLResponse(_PLAYER_PAGE % {"title": escape(title[:120])}, headers=NO_STORE)
        # The player's own visitor cookie, on the video origin (a third-party cookie in the frame).
        response.set_cookie("tc_visitor", "tc." + str(int(time.time())), max_age=31536000)
        return response

    return Starlette(
        routes=[
            Route(
                "/",
                _about_page(
                    "Trailcast Video",
                    "A stand-in video host: <code>/embed/&lt;id&gt;</code> is the player page a "
                    "site embeds in an iframe.",
                ),
            ),
            Route("/embed/{video_id}", embed),
            Route("/hits", _hits_endpoint(log)),
        ]
    )
